#include "gateway/quarantine/release.hpp"

#include <doctest/doctest.h>

#include <gmime/gmime.h>

#include "../test_support.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/mime/gref.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/quarantine/quarantine_views.hpp"
#include "gateway/util/encoding.hpp"

using namespace mugaika;
using namespace mugaika::gateway;

namespace {

/// Keeps what would have been sent; fails while `fail_with` is set.
class FakeSender final : public MailSender {
public:
    struct Sent {
        std::string from;
        std::string to;
        std::string message;
    };
    std::vector<Sent> sent;
    std::optional<filters::ErrorCode> fail_with;

    filters::Result<std::string> send(const std::string& from, const std::string& to,
                                      std::string_view message) override {
        if (fail_with) {
            return filters::fail(*fail_with, "release.smtp_failed", "451 4.3.0 try later");
        }
        sent.push_back({from, to, std::string(message)});
        return std::string("250 2.0.0 Ok: queued");
    }
};

const std::string pdf_bytes = "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

std::string mail_with_attachment(const std::string& payload, const std::string& subject) {
    return test::mail("From: sender@example.com\nSubject: " + subject +
                          "\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
                      "--b\nContent-Type: text/plain; charset=utf-8\n\nsee attached\n.\n"
                      "--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
                      "Content-Disposition: attachment;\n filename*=UTF-8''%E8%AB%8B%E6%B1%82"
                      "%E6%9B%B8.pdf\n\n" +
                          payload + "\n--b--\n");
}

struct Fixture {
    test::TempDir dir;
    std::shared_ptr<Config> cfg = test::shipped_config(dir.str());
    std::int64_t now = 1795219200000;
    std::unique_ptr<Gateway> gw;
    FakeSender sender;
    int ids = 0;

    explicit Fixture(bool antivirus = false) {
        g_mime_init();
        if (antivirus) {
            test::write_eicar_database(dir.path() / "clamav");
            cfg->av_enabled = true;
            cfg->av_database = (dir.path() / "clamav").string();
        }
        auto opts = test::fixed_options();
        opts.now_ms = [this] { return now; };
        gw = std::move(Gateway::open(cfg, opts).value());
    }

    Outcome receive(const std::string& m) {
        Envelope env;
        env.mail_from = "sender@example.com";
        env.rcpt_to = {"staff@city.example.lg.jp"};
        return gw->process(env, MessageSource{m, -1});
    }

    ReleaseDesk desk(std::shared_ptr<const Config> c = nullptr) {
        ReleaseDesk::Options o;
        o.now_ms = [this] { return now; };
        o.new_request_id = [this](std::int64_t) { return "RQ-TEST-" + std::to_string(++ids); };
        return ReleaseDesk(c ? c : cfg, gw->audit(), gw->quarantine(), sender, o);
    }

    ReleaseRequestInput all(const std::string& original, const std::string& who = "alice") {
        ReleaseRequestInput in;
        in.original = original;
        in.all = true;
        in.to = "staff@city.example.lg.jp";
        in.reason = "課長の依頼\nsecond line";
        in.requester = who;
        return in;
    }

    void chain_ok() {
        auto v = gw->audit().verify();
        REQUIRE(v);
        CHECK(v->ok);
        CHECK(v->problem == "");
    }
};

std::string base64(const std::string& s) {
    static constexpr char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(s[i]) << 16) |
                           (static_cast<unsigned char>(s[i + 1]) << 8) |
                           static_cast<unsigned char>(s[i + 2]);
        out += {tbl[(n >> 18) & 63], tbl[(n >> 12) & 63], tbl[(n >> 6) & 63], tbl[n & 63]};
    }
    if (i + 1 == s.size()) {
        const unsigned n = static_cast<unsigned char>(s[i]) << 16;
        out += {tbl[(n >> 18) & 63], tbl[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == s.size()) {
        const unsigned n =
            (static_cast<unsigned char>(s[i]) << 16) | (static_cast<unsigned char>(s[i + 1]) << 8);
        out += {tbl[(n >> 18) & 63], tbl[(n >> 12) & 63], tbl[(n >> 6) & 63], '='};
    }
    return out;
}

std::vector<AuditRow> rows_with_verdict(const Fixture& f, const std::string& verdict) {
    AuditQuery q;
    q.limit = 0;
    q.verdict = verdict;
    return f.gw->audit().query(q).value();
}

} // namespace

TEST_CASE("release: request, same-person denial, approval by another person, then final") {
    Fixture f;
    const std::string m = mail_with_attachment(base64(pdf_bytes), "invoice");
    const Outcome o = f.receive(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    auto desk = f.desk();

    auto rq = desk.request(f.all(o.audit_id));
    REQUIRE(rq);
    CHECK(rq->id == "RQ-TEST-1");
    CHECK(rq->state == ReleaseState::Pending);
    CHECK(rq->quarantine_id == o.quarantine_id);
    CHECK(rq->original_audit_id == o.audit_id);
    CHECK(rq->reason == "課長の依頼 second line"); // one line in the audit trail

    auto pending = desk.requests(false);
    REQUIRE(pending);
    REQUIRE(pending->size() == 1);
    CHECK(pending->front().requester == "alice");
    CHECK(pending->front().to == "staff@city.example.lg.jp");

    SUBCASE("the requester cannot approve; the attempt is audited and the request stays pending") {
        auto self = desk.approve(rq->id, "alice", "");
        REQUIRE(self);
        CHECK(self->result == ReleaseResult::Refused);
        CHECK(self->code == "release.same_person");
        CHECK(f.sender.sent.empty());
        CHECK(rows_with_verdict(f, "release_denied").size() == 1);
        CHECK(desk.find(rq->id)->state == ReleaseState::Pending);

        auto ok = desk.approve(rq->id, "bob", "確認済み");
        REQUIRE(ok);
        CHECK(ok->result == ReleaseResult::Delivered);
        CHECK(ok->code == "release.delivered");
        REQUIRE(f.sender.sent.size() == 1);
        const auto& sent = f.sender.sent.front();
        CHECK(sent.from == f.cfg->release_from);
        CHECK(sent.to == "staff@city.example.lg.jp");
        // The original byte for byte after one prepended field.
        const std::string header =
            "X-Mugaika-Released: request=RQ-TEST-1; audit=" + o.audit_id + "; approved-by=bob\r\n";
        CHECK(sent.message == header + m);

        auto done = desk.find(rq->id);
        REQUIRE(done);
        CHECK(done->state == ReleaseState::Released);
        CHECK(done->decided_by == "bob");
        CHECK(done->decision_note == "確認済み");
        CHECK(done->attempts_failed == 1);
        const auto released = rows_with_verdict(f, "released");
        REQUIRE(released.size() == 1);
        CHECK(released.front().msg.audit_id == "RQ-TEST-1.3");
        CHECK(released.front().msg.message_id == "RQ-TEST-1");
        CHECK(released.front().msg.sha256_out == sha256_hex(sent.message));
        CHECK(detail_value(released.front().msg.events.front().detail, "approver") == "bob");
        CHECK(detail_value(released.front().msg.events.front().detail, "requester") == "alice");

        // Decided: neither approved again nor refused, and nothing is written for that.
        auto again = desk.approve(rq->id, "carol", "");
        REQUIRE(again);
        CHECK(again->code == "release.not_pending");
        CHECK(again->audit_id.empty());
        CHECK(desk.refuse(rq->id, "carol", "too late")->code == "release.not_pending");
        CHECK(f.sender.sent.size() == 1);
        CHECK(desk.requests(false)->empty());
        CHECK(desk.requests(true)->size() == 1);
    }
    SUBCASE("a refusal is final") {
        auto no = desk.refuse(rq->id, "bob", "業務上不要");
        REQUIRE(no);
        CHECK(no->result == ReleaseResult::Done);
        auto r = desk.find(rq->id);
        CHECK(r->state == ReleaseState::Refused);
        CHECK(r->decided_by == "bob");
        CHECK(r->decision_note == "業務上不要");
        CHECK(desk.approve(rq->id, "bob", "")->code == "release.not_pending");
        CHECK(f.sender.sent.empty());
    }
    SUBCASE("allow_self_approval lets the requester approve") {
        auto c = std::make_shared<Config>(*f.cfg);
        c->release_allow_self_approval = true;
        auto small_site = f.desk(c);
        auto ok = small_site.approve(rq->id, "alice", "");
        REQUIRE(ok);
        CHECK(ok->result == ReleaseResult::Delivered);
        CHECK(f.sender.sent.size() == 1);
    }
    SUBCASE("a failed delivery is audited and the request can be approved again") {
        f.sender.fail_with = filters::ErrorCode::Transient;
        auto failed = desk.approve(rq->id, "bob", "");
        REQUIRE(failed);
        CHECK(failed->result == ReleaseResult::Failed);
        CHECK(failed->failure == filters::ErrorCode::Transient);
        CHECK(failed->detail.find("451 4.3.0") != std::string::npos);
        const auto rows = rows_with_verdict(f, "release_failed");
        REQUIRE(rows.size() == 1);
        CHECK(detail_value(rows.front().msg.events.front().detail, "smtp").find("451") == 0);
        CHECK(desk.find(rq->id)->state == ReleaseState::Pending);
        f.sender.fail_with.reset();
        CHECK(desk.approve(rq->id, "bob", "")->result == ReleaseResult::Delivered);
    }
    // The mail itself stays the listed record of its original.
    auto list = list_quarantine(f.gw->audit(), f.gw->quarantine(), 0, 0);
    REQUIRE(list);
    REQUIRE(list->size() == 1);
    CHECK(list->front().audit_id == o.audit_id);
    CHECK(render_quarantine_show(quarantine_records(f.gw->audit(), o.audit_id).value(),
                                 f.gw->quarantine())
              .find("RQ-TEST-1") == std::string::npos); // shown by quarantine id only
    CHECK(render_quarantine_show(quarantine_records(f.gw->audit(), o.quarantine_id).value(),
                                 f.gw->quarantine())
              .find("release    RQ-TEST-1 ") != std::string::npos);
    f.chain_ok();
}

TEST_CASE("release: bad requests are refused before anything is written") {
    Fixture f;
    const Outcome o = f.receive(mail_with_attachment(base64(pdf_bytes), "x"));
    auto desk = f.desk();
    auto unknown = desk.request(f.all("MG-NOPE"));
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().what == "quarantine.not_found");
    auto in = f.all(o.audit_id);
    in.all = false;
    in.part = "7";
    auto no_part = desk.request(in);
    REQUIRE_FALSE(no_part);
    CHECK(no_part.error().what == "release.no_such_part");
    in = f.all(o.audit_id);
    in.to = "not an address";
    CHECK(desk.request(in).error().what == "release.bad_request");
    CHECK(desk.approve("RQ-NOPE", "bob", "").error().what == "release.not_found");
    CHECK(desk.requests(true)->empty());
    f.chain_ok();
}

TEST_CASE("release: an infected original is refused (audited) unless allow_infected") {
    Fixture f(true);
    const std::string m = mail_with_attachment(base64(test::eicar()), "virus");
    const Outcome o = f.receive(m);
    REQUIRE(o.disposition == Disposition::Reject);
    REQUIRE(o.reason == "av.infected");
    auto desk = f.desk();
    auto rq = desk.request(f.all(o.quarantine_id));
    REQUIRE(rq);
    auto refused = desk.approve(rq->id, "bob", "");
    REQUIRE(refused);
    CHECK(refused->result == ReleaseResult::Refused);
    CHECK(refused->code == "release.infected");
    CHECK(f.sender.sent.empty());
    const auto rows = rows_with_verdict(f, "release_refused");
    REQUIRE(rows.size() == 1);
    CHECK(rows.front().msg.reason == "release.infected");
    CHECK(desk.find(rq->id)->state == ReleaseState::Refused);

    auto c = std::make_shared<Config>(*f.cfg);
    c->release_allow_infected = true;
    auto lab = f.desk(c);
    auto rq2 = lab.request(f.all(o.audit_id, "carol"));
    REQUIRE(rq2);
    auto ok = lab.approve(rq2->id, "bob", "for analysis");
    REQUIRE(ok);
    CHECK(ok->result == ReleaseResult::Delivered);
    CHECK(f.sender.sent.size() == 1);
    f.chain_ok();
}

TEST_CASE("release: a part is sent as a new mail that GMime reads back with its name and bytes") {
    Fixture f;
    const Outcome o = f.receive(mail_with_attachment(base64(pdf_bytes), "請求書"));
    auto desk = f.desk();
    auto in = f.all(o.audit_id);
    in.all = false;
    in.part = "2";
    auto rq = desk.request(in);
    REQUIRE(rq);
    CHECK(rq->filename == "請求書.pdf");
    CHECK(rq->size == pdf_bytes.size());
    REQUIRE(desk.approve(rq->id, "bob", "")->result == ReleaseResult::Delivered);
    REQUIRE(f.sender.sent.size() == 1);
    const std::string& raw = f.sender.sent.front().message;
    CHECK(raw.find("\r\n\r\n") != std::string::npos);
    CHECK(raw.find("filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf") != std::string::npos);

    GRef<GMimeStream> stream =
        GRef<GMimeStream>::adopt(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
    GRef<GMimeParser> parser =
        GRef<GMimeParser>::adopt(g_mime_parser_new_with_stream(stream.get()));
    GRef<GMimeMessage> msg =
        GRef<GMimeMessage>::adopt(g_mime_parser_construct_message(parser.get(), nullptr));
    REQUIRE(msg);
    const char* released = g_mime_object_get_header(GMIME_OBJECT(msg.get()), "X-Mugaika-Released");
    REQUIRE(released != nullptr);
    CHECK(std::string(released) ==
          "request=" + rq->id + "; audit=" + o.audit_id + "; approved-by=bob");
    GMimeObject* top = g_mime_message_get_mime_part(msg.get());
    REQUIRE(GMIME_IS_MULTIPART(top));
    REQUIRE(g_mime_multipart_get_count(GMIME_MULTIPART(top)) == 2);
    GMimeObject* text = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
    REQUIRE(GMIME_IS_TEXT_PART(text));
    char* body = g_mime_text_part_get_text(GMIME_TEXT_PART(text));
    const std::string body_text = body;
    g_free(body);
    CHECK(body_text.find(o.audit_id) != std::string::npos);
    CHECK(body_text.find("承認を受けて") != std::string::npos);
    CHECK(body_text.find("released, with approval") != std::string::npos);

    GMimeObject* att = g_mime_multipart_get_part(GMIME_MULTIPART(top), 1);
    REQUIRE(GMIME_IS_PART(att));
    CHECK(std::string(g_mime_part_get_filename(GMIME_PART(att))) == "請求書.pdf");
    GMimeContentType* ct = g_mime_object_get_content_type(att);
    char* mime_type = g_mime_content_type_get_mime_type(ct); // newly allocated
    CHECK(std::string(mime_type) == "application/pdf");
    g_free(mime_type);
    GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(att));
    GRef<GMimeStream> out = GRef<GMimeStream>::adopt(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, out.get());
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    CHECK(std::string(reinterpret_cast<const char*>(bytes->data), bytes->len) == pdf_bytes);
    f.chain_ok();
}

TEST_CASE("release: detail pairs quote what needs quoting and read back exactly") {
    const std::string d = detail_pair("a", "x") + " " + detail_pair("reason", "say \"hi\" a=b \\") +
                          " " + detail_pair("empty", "") + " " + detail_pair("z", "日本語");
    CHECK(d == "a=x reason=\"say \\\"hi\\\" a=b \\\\\" empty=\"\" z=日本語");
    CHECK(detail_value(d, "a") == "x");
    CHECK(detail_value(d, "reason") == "say \"hi\" a=b \\");
    CHECK(detail_value(d, "empty") == "");
    CHECK(detail_value(d, "z") == "日本語");
    CHECK(detail_value(d, "missing") == "");
    CHECK(one_line("a\r\nb\tc\x01") == "a  b c?");
}
