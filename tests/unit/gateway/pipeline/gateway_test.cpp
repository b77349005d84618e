#include "gateway/pipeline/gateway.hpp"

#include <doctest/doctest.h>

#include <gmime/gmime.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "../test_support.hpp"
#include "filters/text/charset.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/quarantine/quarantine_store.hpp"
#include "gateway/util/encoding.hpp"

using namespace mugaika;
using namespace mugaika::gateway;
using test::mail;
using test::TempDir;

namespace {

struct GmimeOnce {
    GmimeOnce() { g_mime_init(); }
};
const GmimeOnce gmime_once;

struct Fixture {
    TempDir dir;
    std::shared_ptr<Config> cfg = test::shipped_config(dir.str());
    std::unique_ptr<Gateway> gw;

    Gateway& gateway() { return test::open_once(gw, cfg); }
    Outcome run(const std::string& message, Envelope env = {}) {
        return test::run_mail(gateway(), message, std::move(env));
    }
    std::vector<AuditRow> rows() { return test::all_rows(gateway()); }
};

/// The decoded text of the single text/plain body of a sanitized message.
std::string body_text(const std::string& message) {
    GMimeStream* stream = g_mime_stream_mem_new_with_buffer(message.data(), message.size());
    GMimeParser* parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage* msg = g_mime_parser_construct_message(parser, nullptr);
    std::string out;
    if (msg != nullptr) {
        GMimeObject* part = g_mime_message_get_mime_part(msg);
        if (GMIME_IS_MULTIPART(part)) {
            part = g_mime_multipart_get_part(GMIME_MULTIPART(part), 0);
        }
        if (GMIME_IS_PART(part)) {
            GMimeStream* mem = g_mime_stream_mem_new();
            g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(part)), mem);
            GByteArray* a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
            out.assign(reinterpret_cast<const char*>(a->data), a->len);
            g_object_unref(mem);
        }
        g_object_unref(msg);
    }
    g_object_unref(parser);
    g_object_unref(stream);
    return out;
}

const std::string html_mail = mail("From: a@example.com\n"
                                   "To: b@city.example.lg.jp\n"
                                   "Subject: hello\n"
                                   "Message-ID: <m1@example.com>\n"
                                   "MIME-Version: 1.0\n"
                                   "Content-Type: text/html; charset=utf-8\n",
                                   "<p>会議のご案内</p><script>alert(1)</script>"
                                   "<a href=\"https://example.com/x\">詳細</a>\n");

} // namespace

TEST_CASE("gateway: an HTML mail becomes plain text with a notice, headers kept") {
    Fixture f;
    Outcome o = f.run(html_mail);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.audited);
    CHECK(o.output.find("Subject: hello\r\n") != std::string::npos);
    CHECK(o.output.find("Message-ID: <m1@example.com>\r\n") != std::string::npos);
    CHECK(o.output.find("X-Mugaika-Sanitized: audit=MG-TEST-000001") != std::string::npos);
    CHECK(o.output.find("Content-Type: text/plain; charset=UTF-8") != std::string::npos);
    CHECK(o.output.find("text/html") == std::string::npos);
    const std::string text = body_text(o.output);
    CHECK(filters::text::is_valid_utf8(text));
    CHECK(text.find("会議のご案内") != std::string::npos);
    CHECK(text.find("詳細 <https://example.com/x>") != std::string::npos);
    CHECK(text.find("alert") == std::string::npos);
    CHECK(text.find("無害化通知") != std::string::npos);
    CHECK(text.find("MG-TEST-000001") != std::string::npos);
    REQUIRE(o.parts.size() == 1);
    CHECK(o.parts[0].action == Action::Text);
    CHECK(o.parts[0].rule == "inbound-body-text");
    CHECK(o.parts[0].detail.find("scripts=1") != std::string::npos);
    CHECK(o.parts[0].detail.find("links=1") != std::string::npos);
}

TEST_CASE("gateway: the original is kept before the answer and exported byte for byte") {
    Fixture f;
    Outcome o = f.run(html_mail);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.quarantine_id == sha256_hex(html_mail));
    auto back = f.gateway().quarantine().read(o.quarantine_id);
    REQUIRE(back);
    CHECK(*back == html_mail);
}

TEST_CASE("gateway: every attachment is removed and listed with name, type, size and hash") {
    Fixture f;
    // Without the CDR rule, as a site that strips every attachment has it.
    std::erase_if(f.cfg->rules, [](const Rule& r) { return r.id == "inbound-attachment-cdr"; });
    const std::string m =
        mail("From: a@example.com\nSubject: x\nMIME-Version: 1.0\n"
             "Content-Type: multipart/mixed; boundary=\"b\"\n",
             "--b\nContent-Type: text/plain; charset=us-ascii\n\nsee attached\n"
             "--b\nContent-Type: application/pdf\n"
             "Content-Disposition: attachment; "
             "filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf\n"
             "Content-Transfer-Encoding: base64\n\n"
             "JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\n"
             "--b--\n");
    Outcome o = f.run(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    REQUIRE(o.parts.size() == 2);
    CHECK(o.parts[1].filename == "請求書.pdf");
    CHECK(o.parts[1].action == Action::Strip);
    CHECK(o.parts[1].detected_type == "application/pdf");
    CHECK(o.parts[1].rule == "inbound-attachment-strip");
    const std::string text = body_text(o.output);
    CHECK(text.find("see attached") != std::string::npos);
    CHECK(text.find("請求書.pdf (application/pdf, 54 bytes)") != std::string::npos);
    CHECK(text.find(o.parts[1].sha256) != std::string::npos);
    CHECK(o.output.find("JVBERi0") == std::string::npos);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    bool stripped_event = false;
    for (const auto& ev : rows[0].msg.events) {
        if (ev.filename == "請求書.pdf") {
            stripped_event = ev.action == "strip" && ev.sha256_before == o.parts[1].sha256;
        }
    }
    CHECK(stripped_event);
}

TEST_CASE("gateway: each limit refuses the mail with its own code, keeps it, and audits it") {
    Fixture f;
    std::string m = html_mail;
    std::string code;
    Disposition expected = Disposition::Reject;
    SUBCASE("message size") {
        f.cfg->max_message_size = 100;
        code = "mime.message_too_large";
    }
    SUBCASE("MIME depth") {
        f.cfg->mime.max_depth = 3;
        std::string entity = "Content-Type: text/plain\n\nx\n";
        for (int i = 6; i >= 1; --i) {
            const std::string b = "b" + std::to_string(i);
            entity = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\n\n--" + b + "\n" +
                     entity + "--" + b + "--\n";
        }
        const auto split = entity.find("\n\n");
        m = mail("Subject: deep\nMIME-Version: 1.0\n" + entity.substr(0, split + 1),
                 entity.substr(split + 2));
        code = "mime.depth_exceeded";
    }
    SUBCASE("part count") {
        f.cfg->mime.max_parts = 5;
        std::string body;
        for (int i = 0; i < 10; ++i) {
            body += "--b\nContent-Type: text/plain\n\npart " + std::to_string(i) + "\n";
        }
        body += "--b--\n";
        m = mail(
            "Subject: many\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
            body);
        code = "mime.parts_exceeded";
    }
    SUBCASE("header size") {
        f.cfg->mime.max_header_size = 1000;
        m = mail("Subject: x\nX-Big: " + std::string(5000, 'a') + "\n", "body\n");
        code = "mime.header_too_large";
    }
    SUBCASE("decoded part size") {
        f.cfg->max_part_size = 10;
        code = "mime.part_too_large";
    }
    SUBCASE("sanitized output size") {
        f.cfg->max_output_size = 1024; // the notice alone is longer
        m = mail("Subject: x\nContent-Type: text/plain\n", "short\n");
        code = "rebuild.output_too_large";
    }
    SUBCASE("time budget, tempfail by default") {
        f.cfg->time_budget = std::chrono::milliseconds(0);
        code = "budget.time_exceeded";
        expected = Disposition::Tempfail;
    }
    SUBCASE("on_limit = tempfail") {
        f.cfg->max_message_size = 100;
        f.cfg->on_limit = Action::Tempfail;
        code = "mime.message_too_large";
        expected = Disposition::Tempfail;
    }
    Outcome o = f.run(m);
    CAPTURE(o.reason);
    CHECK(o.disposition == expected);
    CHECK(o.reason == code);
    CHECK(o.output.empty());
    CHECK(o.smtp_reply.find(o.audit_id) != std::string::npos);
    CHECK(o.smtp_reply.rfind(expected == Disposition::Reject ? "5.7.1" : "4.7.1", 0) == 0);
    auto kept = f.gateway().quarantine().read(o.quarantine_id);
    REQUIRE(kept);
    CHECK(*kept == m);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].msg.reason == code);
    CHECK(rows[0].msg.verdict == (expected == Disposition::Reject ? "rejected" : "tempfail"));
}

TEST_CASE("gateway: a reject rule refuses the whole mail and names the rule") {
    Fixture f;
    Rule r;
    r.id = "reject-exe";
    r.extensions = {"exe"};
    r.action = Action::Reject;
    f.cfg->rules.insert(f.cfg->rules.begin(), r);
    const std::string m =
        mail("Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
             "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/pdf\n"
             "Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\n\nMZ\x90\n--b--\n");
    Outcome o = f.run(m);
    CHECK(o.disposition == Disposition::Reject);
    CHECK(o.rule == "reject-exe");
    CHECK(o.reason == "rule.reject");
    CHECK(f.rows().at(0).msg.verdict == "rejected");
}

TEST_CASE("gateway: a store that cannot keep the original tempfails and delivers nothing") {
    Fixture f;
    f.gateway();
    // A file where the quarantine directory should be: every write fails, even as root.
    std::filesystem::remove_all(f.dir.path() / "quarantine");
    std::ofstream(f.dir.path() / "quarantine") << "not a directory";
    Outcome o = f.run(html_mail);
    CHECK(o.disposition == Disposition::Tempfail);
    CHECK(o.reason == "quarantine.write_failed");
    CHECK(o.output.empty());
    CHECK(f.rows().at(0).msg.verdict == "tempfail");
}

TEST_CASE("gateway: X-Mugaika headers from the sender never reach the recipient") {
    Fixture f;
    const std::string m = mail("Subject: x\nX-Mugaika-Sanitized: audit=forged\nX-Mugaika-CDR: pdf\n"
                               "Content-Type: text/plain\n",
                               "hello\n");
    Outcome o = f.run(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.output.find("forged") == std::string::npos);
    CHECK(o.output.find("X-Mugaika-CDR") == std::string::npos);
}

TEST_CASE("gateway: outbound mail passes unchanged but audited when the rules keep every part") {
    Fixture f;
    Envelope env;
    env.direction = "outbound";
    env.mail_from = "staff@city.example.lg.jp";
    env.rcpt_to = {"someone@example.com"};
    const std::string m = mail("Subject: out\nX-Mugaika-Sanitized: audit=forged\n", "text\n");
    Outcome o = f.run(m, env);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.reason == "passed");
    CHECK(o.output.find("X-Mugaika-Sanitized: audit=MG-TEST-000001; mode=pass") == 0);
    CHECK(o.output.find("forged") == std::string::npos);
    CHECK(o.output.find("Subject: out\r\n\r\ntext\r\n") != std::string::npos);
    CHECK(f.rows().at(0).msg.direction == "outbound");
}

TEST_CASE("gateway: ISO-2022-JP output holds Japanese and marks what it cannot hold") {
    Fixture f;
    f.cfg->output_charset = "iso-2022-jp";
    f.cfg->notice.enabled = false;
    const std::string m = mail("Subject: x\nContent-Type: text/plain; charset=utf-8\n",
                               "会議①の件 \xF0\x9F\x98\x80\n");
    Outcome o = f.run(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.output.find("charset=ISO-2022-JP") != std::string::npos);
    const std::string raw = body_text(o.output);
    for (char c : raw) {
        CHECK(static_cast<unsigned char>(c) < 0x80);
    }
    auto back = filters::text::decode_to_utf8(raw, "iso-2022-jp", 1 << 20);
    REQUIRE(back);
    CHECK(back->utf8.find("会議①の件 〓") != std::string::npos);
    CHECK(f.rows().at(0).msg.events.back().detail.find("unencodable=1") != std::string::npos);
}

TEST_CASE("gateway: links can be defanged and a subject tag added") {
    Fixture f;
    f.cfg->defang_links = true;
    f.cfg->notice.subject_tag = "[無害化] ";
    Outcome o = f.run(html_mail);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(body_text(o.output).find("hxxps://example.com/x") != std::string::npos);
    CHECK(o.output.find("Subject: =?UTF-8?B?") != std::string::npos);
    CHECK(o.output.find("Subject: hello") == std::string::npos);
}

TEST_CASE("gateway: a forwarded message is rendered as a quoted section with its headers") {
    Fixture f;
    const std::string m =
        mail("Subject: fw\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"o\"\n",
             "--o\nContent-Type: text/plain\n\nplease see below\n"
             "--o\nContent-Type: message/rfc822\n\n"
             "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\nSubject: inner\n"
             "Date: Fri, 20 Nov 2026 10:00:00 +0900\n"
             "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"i\"\n\n"
             "--i\nContent-Type: text/html\n\n<p>inner <b>text</b></p>\n"
             "--i\nContent-Type: application/zip\nContent-Disposition: attachment; "
             "filename=a.zip\n\nPK\n"
             "--i--\n"
             "--o--\n");
    Outcome o = f.run(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    const std::string text = body_text(o.output);
    CHECK(text.find("please see below") != std::string::npos);
    CHECK(text.find("> From: 山田 <yamada@example.jp>") != std::string::npos);
    CHECK(text.find("> Subject: inner") != std::string::npos);
    CHECK(text.find("> inner text") != std::string::npos);
    CHECK(text.find("a.zip") != std::string::npos);
    bool zip_stripped = false;
    for (const auto& p : o.parts) {
        if (p.filename == "a.zip") {
            zip_stripped = p.action == Action::Strip && p.path == "2.2";
        }
    }
    CHECK(zip_stripped);
}

TEST_CASE("gateway: multipart/alternative yields one text, HTML by default, plain on request") {
    Fixture f;
    const std::string m = mail(
        "Subject: alt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"a\"\n",
        "--a\nContent-Type: text/plain\n\nplain version\n"
        "--a\nContent-Type: text/html\n\n<p>html version</p>\n--a--\n");
    SUBCASE("html") {
        const std::string text = body_text(f.run(m).output);
        CHECK(text.find("html version") != std::string::npos);
        CHECK(text.find("plain version") == std::string::npos);
    }
    SUBCASE("plain") {
        f.cfg->prefer_html = false;
        Outcome o = f.run(m);
        const std::string text = body_text(o.output);
        CHECK(text.find("plain version") != std::string::npos);
        CHECK(text.find("html version") == std::string::npos);
        REQUIRE(o.parts.size() == 2);
        CHECK(o.parts[1].reason == "alternative.not_chosen");
    }
}

TEST_CASE("gateway: inline images of multipart/related are removed with a note") {
    Fixture f;
    const std::string m = mail(
        "Subject: rel\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=\"r\"\n",
        "--r\nContent-Type: text/html\n\n<p>logo <img src=\"cid:logo\" alt=\"ロゴ\"></p>\n"
        "--r\nContent-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
        "iVBORw0KGgo=\n--r--\n");
    Outcome o = f.run(m);
    const std::string text = body_text(o.output);
    CHECK(text.find("[image: ロゴ]") != std::string::npos);
    CHECK(text.find("本文中の画像 1 件を削除しました") != std::string::npos);
    REQUIRE(o.parts.size() == 2);
    CHECK(o.parts[1].reason == "related.inline_removed");
}

TEST_CASE("gateway: explain names the rule of every part and writes nothing") {
    Fixture f;
    const std::string m =
        mail("Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
             "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n"
             "Content-Disposition: attachment; filename=\"a.exe\"\n\nMZ\n--b--\n");
    auto parts = f.gateway().explain(Envelope{}, MessageSource{m, -1});
    REQUIRE(parts);
    REQUIRE(parts->size() == 2);
    CHECK((*parts)[0].role == Role::Body);
    CHECK((*parts)[0].rule == "inbound-body-text");
    CHECK((*parts)[1].rule == "inbound-attachment-strip");
    CHECK((*parts)[1].filename == "a.exe");
    CHECK((*parts)[1].av == "unscanned");
    CHECK(f.rows().empty());
}

TEST_CASE("gateway: messages processed from several threads keep a whole audit chain") {
    Fixture f;
    f.gateway();
    std::vector<std::thread> threads;
    std::atomic<int> delivered{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                const std::string m =
                    mail("Subject: t" + std::to_string(t) + "\nContent-Type: text/plain\n",
                         "body " + std::to_string(t) + "-" + std::to_string(i) + "\n");
                if (f.gateway().process(Envelope{}, MessageSource{m, -1}).disposition ==
                    Disposition::Deliver) {
                    ++delivered;
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    CHECK(delivered == 40);
    auto v = f.gateway().audit().verify();
    REQUIRE(v);
    CHECK(v->ok);
}

TEST_CASE("gateway: Japanese headers in any encoding reach the recipient as UTF-8 words") {
    Fixture f;
    // A Shift_JIS Subject mislabelled as ISO-2022-JP, a raw 8-bit CP932 display name, and a
    // UTF-8 word split inside a character.
    const std::string m =
        mail("From: \x8e\x52\x93\x63 <yamada@example.jp>\n"
             "To: =?UTF-8?B?5bGx?= =?UTF-8?B?55Sw?= <a@example.jp>, b@example.jp\n"
             "Subject: =?ISO-2022-JP?B?iMCRUw==?=\n"
             "X-Other: keep =?UTF-8?B?5bGx?=\n"
             "Content-Type: text/plain\n",
             "body\n");
    Outcome o = f.run(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.output.find("From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\r\n") != std::string::npos);
    CHECK(o.output.find("To: =?UTF-8?B?5bGx55Sw?= <a@example.jp>,\r\n b@example.jp\r\n") !=
          std::string::npos);
    CHECK(o.output.find("Subject: =?UTF-8?B?5a6J5YWo?=\r\n") != std::string::npos);
    CHECK(o.output.find("X-Other: keep =?UTF-8?B?5bGx?=\r\n") != std::string::npos);
    for (char c : o.output.substr(0, o.output.find("\r\n\r\n"))) {
        CHECK(static_cast<unsigned char>(c) < 0x80);
    }
}

TEST_CASE("gateway: outbound multipart mail with alternatives and attachments passes unchanged") {
    Fixture f;
    Envelope env;
    env.direction = "outbound";
    env.mail_from = "staff@city.example.lg.jp";
    env.rcpt_to = {"partner@example.com"};
    const std::string m = mail(
        "Subject: out\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n",
        "--m\nContent-Type: multipart/alternative; boundary=\"a\"\n\n"
        "--a\nContent-Type: text/plain\n\nplain\n--a\nContent-Type: "
        "text/html\n\n<p>html</p>\n--a--\n"
        "--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\n"
        "%PDF-1.4\n--m--\n");
    Outcome o = f.run(m, env);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.reason == "passed");
    CHECK(o.output.substr(o.output.find("\r\n") + 2) == m);
    CHECK(f.rows().at(0).msg.verdict == "passed");
}

TEST_CASE("gateway: a message with no body and empty parts is sanitized, not failed") {
    Fixture f;
    for (const std::string& m :
         {mail("Subject: empty\n", ""),
          mail("Subject: e\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
               "--b\nContent-Type: text/plain; charset=utf-8\n\n--b\nContent-Type: text/html\n\n"
               "--b--\n")}) {
        Outcome o = f.run(m);
        CHECK(o.disposition == Disposition::Deliver);
        CHECK(o.audited);
    }
}

namespace {
struct AvFixture : Fixture {
    AvFixture() {
        test::write_eicar_database(dir.path() / "clamav");
        cfg->av_enabled = true;
        cfg->av_database = (dir.path() / "clamav").string();
    }
};
} // namespace

TEST_CASE("gateway: a virus in an attachment refuses the mail, names the signature, keeps it") {
    AvFixture f;
    const std::string m =
        mail("Subject: invoice\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
             "--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/pdf\n"
             "Content-Disposition: attachment; filename=\"invoice.pdf\"\n\n" +
                 test::eicar() + "\n--b--\n");
    Outcome o = f.run(m);
    CHECK(o.disposition == Disposition::Reject);
    CHECK(o.reason == "av.infected");
    CHECK(o.rule == "av-infected-reject");
    CHECK(o.smtp_reply.find("av.infected") != std::string::npos);
    REQUIRE(o.parts.size() == 2);
    CHECK(o.parts[0].av == "clean");
    CHECK(o.parts[1].av == "infected");
    CHECK(o.parts[1].signatures.find("Mugaika.Test.EICAR") != std::string::npos);
    CHECK(f.gateway().quarantine().read(o.quarantine_id).value() == m);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].msg.verdict == "rejected");
    bool message_scan = false;
    for (const auto& ev : rows[0].msg.events) {
        message_scan = message_scan || ev.reason == "av.message_infected";
    }
    CHECK(message_scan);
}

TEST_CASE("gateway: a site rule may strip the infected part and deliver with a notice") {
    AvFixture f;
    Rule strip;
    strip.id = "av-strip";
    strip.av = {"infected"};
    strip.role = Role::Attachment;
    strip.action = Action::Strip;
    f.cfg->rules.insert(f.cfg->rules.begin(), strip);
    const std::string m =
        mail("Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
             "--b\nContent-Type: text/plain\n\nhello\n--b\nContent-Type: application/octet-stream\n"
             "Content-Disposition: attachment; filename=\"eicar.com\"\n\n" +
                 test::eicar() + "\n--b--\n");
    Outcome o = f.run(m);
    REQUIRE(o.disposition == Disposition::Deliver);
    CHECK(o.parts[1].reason == "av.infected");
    const std::string text = body_text(o.output);
    CHECK(text.find("eicar.com") != std::string::npos);
    CHECK(text.find("virus found: Mugaika.Test.EICAR") != std::string::npos);
    CHECK(o.output.find("EICAR-STANDARD") == std::string::npos);
}

TEST_CASE("gateway: without its signature database the antivirus gateway does not start") {
    Fixture f;
    f.cfg->av_enabled = true;
    f.cfg->av_database = (f.dir.path() / "no-such-db").string();
    auto g = Gateway::open(f.cfg, test::fixed_options());
    REQUIRE_FALSE(g);
    CHECK(g.error().what == "av.database_missing");
}

TEST_CASE("gateway: a changed signature database is picked up without a restart") {
    AvFixture f;
    const std::string m = mail("Subject: x\nContent-Type: text/plain\n", "MUGAIKA-SECOND-SIG\n");
    CHECK(f.run(m).parts.at(0).av == "clean");
    std::string body;
    for (char c : std::string("MUGAIKA-SECOND-SIG")) {
        static constexpr char hex[] = "0123456789abcdef";
        body += hex[static_cast<unsigned char>(c) >> 4];
        body += hex[static_cast<unsigned char>(c) & 15];
    }
    std::ofstream(f.dir.path() / "clamav" / "second.ndb")
        << "Mugaika.Test.Second:0:*:" << body << "\n";
    REQUIRE(f.gateway().refresh_antivirus(false));
    Outcome o = f.run(m);
    CHECK(o.parts.at(0).av == "infected");
    CHECK(o.disposition == Disposition::Reject);
}

TEST_CASE(
    "gateway: disguised types and misleading names are flagged for the rules and the notice") {
    Fixture f;
    Rule r;
    r.id = "reject-disguised";
    r.mismatch = true;
    r.action = Action::Reject;
    const std::string exe_as_pdf = mail(
        "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
        "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename=\"invoice.pdf\"\nContent-Transfer-Encoding: "
        "base64\n\nTVqQAAMAAAAEAAAA//"
        "8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA4f"
        "ug4AtAnNIbgBTM0hVGhpcyBwcm9ncmFtIGNhbm5vdCBiZSBydW4gaW4gRE9TIG1vZGUuDQ0KJAAAAAAAAABQRQAATA"
        "EDAA==\n"
        "--b--\n");
    SUBCASE("default rules: stripped, and the notice says why") {
        Outcome o = f.run(exe_as_pdf);
        REQUIRE(o.disposition == Disposition::Deliver);
        REQUIRE(o.parts.size() == 2);
        CHECK(o.parts[1].mismatch);
        CHECK(body_text(o.output).find("disguised type") != std::string::npos);
    }
    SUBCASE("a rule on mismatch rejects it") {
        f.cfg->rules.insert(f.cfg->rules.begin(), r);
        Outcome o = f.run(exe_as_pdf);
        CHECK(o.disposition == Disposition::Reject);
        CHECK(o.rule == "reject-disguised");
    }
    SUBCASE("a right-to-left override in a name is shown, not obeyed") {
        const std::string m = mail(
            "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
            "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n"
            "Content-Disposition: attachment; "
            "filename*=UTF-8''invoice_%E2%80%AEfdp.exe\n\nMZ\n--b--\n");
        Outcome o = f.run(m);
        REQUIRE(o.parts.size() == 2);
        CHECK(o.parts[1].name_tricks.find("name.bidi_control") != std::string::npos);
        const std::string text = body_text(o.output);
        CHECK(text.find("\xE2\x80\xAE") == std::string::npos);
        CHECK(text.find("[U+202E]") != std::string::npos);
    }
}

namespace {
std::string sample(const std::string& name) {
    return test::read_file(test::source_dir() / "samples/mail" / name);
}
} // namespace

TEST_CASE("gateway: a password-protected zip is stripped with the PPAP notice and its listing") {
    Fixture f;
    Outcome o = f.run(sample("43-ppap-encrypted-zip.eml"));
    REQUIRE(o.disposition == Disposition::Deliver);
    REQUIRE(o.parts.size() == 2);
    const PartReport& zip = o.parts[1];
    CHECK(zip.action == Action::Strip);
    CHECK(zip.rule == "archive-encrypted-strip");
    CHECK(zip.reason == "archive.encrypted");
    CHECK(zip.archive == "encrypted");
    CHECK(zip.archive_format == "zip");
    CHECK(zip.encrypted);
    CHECK(zip.archive_members == 2);
    const std::string text = body_text(o.output);
    CHECK(text.find("password-protected archive: " + f.cfg->archive_encrypted_notice) !=
          std::string::npos);
    CHECK(text.find("内容 / contents: 見積書.xlsx, 説明.txt") != std::string::npos);
    // The auditor sees every member, and the part's verdict in its detail.
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    std::vector<std::string> members;
    for (const AuditEvent& ev : rows[0].msg.events) {
        if (ev.reason == "archive.member") {
            CHECK(ev.part_path == "2");
            CHECK(ev.detail.find("encrypted=1") != std::string::npos);
            members.push_back(ev.filename);
        }
        if (ev.part_path == "2" && ev.filter == "attachment") {
            CHECK(ev.detail.find("archive_status=encrypted") != std::string::npos);
            CHECK(ev.detail.find("encrypted=1") != std::string::npos);
        }
    }
    CHECK(members == std::vector<std::string>{"見積書.xlsx", "説明.txt"});
}

TEST_CASE("gateway: an archive bomb is stripped once a limit is hit, with the limit named") {
    Fixture f;
    Outcome o = f.run(sample("42-archive-bomb.eml"));
    REQUIRE(o.disposition == Disposition::Deliver);
    const PartReport& zip = o.parts.at(1);
    CHECK(zip.rule == "archive-bomb-strip");
    CHECK(zip.archive == "limit_exceeded");
    CHECK(zip.reason == "archive.ratio_exceeded");
    // Listing stopped at the ratio: nowhere near the 128 MiB the headers promise.
    CHECK(zip.archive_expanded <= 100 * zip.size + (1U << 20U) + (64U << 10U));
    CHECK(body_text(o.output).find("suspected archive bomb") != std::string::npos);

    SUBCASE("a smaller size limit names itself") {
        auto cfg = std::make_shared<Config>(*f.cfg);
        cfg->archive.max_ratio = 100000;
        cfg->archive.max_total_size = 4U << 20U;
        REQUIRE(f.gateway().replace_config(cfg));
        Outcome o2 = f.run(sample("42-archive-bomb.eml"));
        CHECK(o2.parts.at(1).reason == "archive.size_exceeded");
        CHECK(o2.parts.at(1).archive_expanded <= (4U << 20U) + 1);
    }
}

TEST_CASE("gateway: an archive holding a program, a script and a macro document is named so") {
    Fixture f;
    Outcome o = f.run(sample("44-zip-with-program-and-macro.eml"));
    REQUIRE(o.disposition == Disposition::Deliver);
    const PartReport& zip = o.parts.at(1);
    CHECK(zip.rule == "archive-active-content-strip");
    CHECK(zip.archive == "listed");
    for (const char* kind : {"executable", "script", "macro"}) {
        CAPTURE(kind);
        CHECK((zip.contains & content_bit(kind).value()) != 0);
    }
    const std::string text = body_text(o.output);
    CHECK(
        text.find("実行ファイル / program, スクリプト / script, マクロ付き文書 / macro document") !=
        std::string::npos);
    CHECK(text.find("内容 / contents: setup.exe, run.bat, 入力様式.docm\n") != std::string::npos);

    SUBCASE("explain shows the same verdicts without writing anything") {
        Envelope env;
        const std::string m = sample("44-zip-with-program-and-macro.eml");
        auto parts = f.gateway().explain(env, MessageSource{m, -1});
        REQUIRE(parts);
        CHECK(parts->at(1).rule == "archive-active-content-strip");
        CHECK(parts->at(1).contains == zip.contains);
    }
}

TEST_CASE("gateway: a quarantine rule holds the whole mail and a discard rule drops it") {
    Fixture f;
    Rule hold;
    hold.id = "hold-ppap";
    hold.encrypted = true;
    hold.action = Action::Quarantine;
    Rule drop;
    drop.id = "drop-programs";
    drop.contains = content_bit("executable").value();
    drop.action = Action::Discard;
    f.cfg->rules.insert(f.cfg->rules.begin(), {hold, drop});

    Outcome held = f.run(sample("43-ppap-encrypted-zip.eml"));
    CHECK(held.disposition == Disposition::Quarantine);
    CHECK(held.reason == "rule.quarantine");
    CHECK(held.rule == "hold-ppap");
    CHECK(held.output.empty());
    CHECK(held.audited);
    // The original is kept for the release.
    auto kept = f.gateway().quarantine().read(held.quarantine_id);
    REQUIRE(kept);
    CHECK(*kept == sample("43-ppap-encrypted-zip.eml"));

    Outcome dropped = f.run(sample("44-zip-with-program-and-macro.eml"));
    CHECK(dropped.disposition == Disposition::Discard);
    CHECK(dropped.reason == "rule.discard");
    CHECK(dropped.rule == "drop-programs");
    CHECK(dropped.output.empty());

    // Across parts: reject wins over quarantine, quarantine over discard.
    auto cfg = std::make_shared<Config>(*f.cfg);
    for (auto [ext, action] : {std::pair<const char*, Action>{"scr", Action::Reject},
                               {"exe", Action::Quarantine},
                               {"bat", Action::Discard}}) {
        Rule r;
        r.id = std::string("by-") + ext;
        r.extensions = {ext};
        r.action = action;
        cfg->rules.insert(cfg->rules.begin(), r);
    }
    REQUIRE(f.gateway().replace_config(cfg));
    auto with = [](std::initializer_list<const char*> names) {
        std::string body = "--b\nContent-Type: text/plain\n\nhi\n";
        for (const char* n : names) {
            body += std::string("--b\nContent-Type: application/octet-stream\n"
                                "Content-Disposition: attachment; filename=\"") +
                    n + "\"\n\nMZ\n";
        }
        return mail(
            "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
            body + "--b--\n");
    };
    CHECK(f.run(with({"a.bat"})).disposition == Disposition::Discard);
    const Outcome both = f.run(with({"a.bat", "b.exe"}));
    CHECK(both.disposition == Disposition::Quarantine);
    CHECK(both.rule == "by-exe");
    const Outcome all = f.run(with({"a.bat", "b.exe", "c.scr"}));
    CHECK(all.disposition == Disposition::Reject);
    CHECK(all.rule == "by-scr");

    std::map<std::string, std::string> verdicts;
    for (const AuditRow& r : f.rows()) {
        verdicts[r.msg.audit_id] = r.msg.verdict;
    }
    CHECK(verdicts[held.audit_id] == "quarantined");
    CHECK(verdicts[dropped.audit_id] == "discarded");
    auto verified = f.gateway().audit().verify();
    REQUIRE(verified);
    CHECK(verified->ok);
}

namespace {
/// A CDR helper stand-in (see cdr_runner_test.cpp): answers with `report` and writes `output`.
std::string fake_cdr_helper(const TempDir& dir, const std::string& output,
                            const std::string& report) {
    const auto path = dir.path() / "fake-cdr.sh";
    std::ofstream(path) << "#!/bin/bash\ncat >/dev/null\nprintf '%s' '" << output << "' >&3\necho '"
                        << report << "'\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path.string();
}

const std::string mail_with_csv =
    mail("Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
         "--b\nContent-Type: text/plain\n\nsee the list\n--b\nContent-Type: text/csv\n"
         "Content-Disposition: attachment; filename=\"list.csv\"\n\na,b\n1,2\n--b--\n");
} // namespace

TEST_CASE("gateway: a rebuilt attachment is attached, marked, listed in the notice and audited") {
    Fixture f;
    const std::string rebuilt = "a,b\\n1,2\\n";
    f.cfg->cdr_helper = fake_cdr_helper(
        f.dir, "a,b\n1,2\n",
        R"({"ok":true,"filename":"list.csv","content_type":"text/csv","size":8,"removed":[)"
        R"({"kind":"text.control_chars","location":"line 2","url":""},)"
        R"({"kind":"pdf.uri","location":"page 1","url":"https://example.com/x"}]})");
    Outcome o = f.run(mail_with_csv);
    REQUIRE(o.disposition == Disposition::Deliver);
    const PartReport& csv = o.parts.at(1);
    CHECK(csv.action == Action::Cdr);
    CHECK(csv.rule == "inbound-attachment-cdr");
    CHECK(csv.cdr_engine == "text");
    CHECK(csv.reason == "cdr.rebuilt");
    // The rebuilt part carries its mark; the body's notice lists it with what was removed.
    CHECK(o.output.find("X-Mugaika-CDR: text; audit=" + o.audit_id + "\r\n") != std::string::npos);
    CHECK(o.output.find("filename=\"list.csv\"") != std::string::npos);
    const std::string text = body_text(o.output);
    CHECK(text.find("rebuilt without their active content (CDR)") != std::string::npos);
    CHECK(text.find("list.csv (text, 8 bytes)") != std::string::npos);
    CHECK(text.find("制御文字 / control characters 1") != std::string::npos);
    CHECK(text.find("link target, as text: https://example.com/x") != std::string::npos);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    bool found = false;
    for (const AuditEvent& ev : rows[0].msg.events) {
        if (ev.filter == "cdr.text") {
            found = true;
            CHECK(ev.part_path == "2");
            CHECK(ev.action == "cdr");
            CHECK(ev.sha256_before == csv.sha256);
            CHECK(ev.sha256_after == sha256_hex("a,b\n1,2\n"));
            CHECK(ev.detail.find("objects=\"text.control_chars@line 2,pdf.uri@page 1\"") !=
                  std::string::npos);
            CHECK(ev.detail.find("urls=https://example.com/x") != std::string::npos);
        }
    }
    CHECK(found);
    (void)rebuilt;
}

TEST_CASE("gateway: a failed or doubtful rebuild never passes the original") {
    Fixture f;
    SUBCASE("the engine refuses: stripped with its reason") {
        f.cfg->cdr_helper = fake_cdr_helper(
            f.dir, "",
            R"({"ok":false,"code":"cdr.text.unreadable","class":"malformed","detail":"x"})");
        Outcome o = f.run(mail_with_csv);
        REQUIRE(o.disposition == Disposition::Deliver);
        CHECK(o.parts.at(1).action == Action::Strip);
        CHECK(o.parts.at(1).reason == "cdr.text.unreadable");
        CHECK(body_text(o.output).find("could not be rebuilt: cdr.text.unreadable") !=
              std::string::npos);
        CHECK(o.output.find("X-Mugaika-CDR") == std::string::npos);
    }
    SUBCASE("on_failure = reject refuses the mail") {
        f.cfg->cdr_on_failure = Action::Reject;
        f.cfg->cdr_helper = fake_cdr_helper(
            f.dir, "",
            R"({"ok":false,"code":"cdr.text.unreadable","class":"malformed","detail":"x"})");
        Outcome o = f.run(mail_with_csv);
        CHECK(o.disposition == Disposition::Reject);
        CHECK(o.parts.at(1).reason == "cdr.text.unreadable");
    }
    SUBCASE("output named like a program is rejected") {
        f.cfg->cdr_helper = fake_cdr_helper(
            f.dir, "a,b\n",
            R"({"ok":true,"filename":"list.exe","content_type":"text/plain","size":4,"removed":[]})");
        Outcome o = f.run(mail_with_csv);
        REQUIRE(o.disposition == Disposition::Deliver);
        CHECK(o.parts.at(1).reason == "cdr.output_rejected");
        CHECK(o.output.find("list.exe") == std::string::npos);
    }
    SUBCASE("output whose bytes are not what the engine says is rejected") {
        f.cfg->cdr_helper = fake_cdr_helper(
            f.dir, "GIF89a\x01\x01\x01\x01\x80\x01\x01",
            R"({"ok":true,"filename":"list.csv","content_type":"text/csv","size":3,"removed":[]})");
        Outcome o = f.run(mail_with_csv);
        CHECK(o.parts.at(1).reason == "cdr.output_rejected");
    }
    SUBCASE("a helper that cannot start is a temporary failure, the original kept") {
        f.cfg->cdr_helper = (f.dir.path() / "no-helper").string();
        Outcome o = f.run(mail_with_csv);
        CHECK(o.disposition == Disposition::Tempfail);
        CHECK(o.reason == "cdr.helper_unavailable");
        CHECK(f.gateway().quarantine().read(o.quarantine_id).has_value());
    }
}

TEST_CASE("gateway: the file gateway runs one file as an attachment and writes the result") {
    Fixture f;
    const std::string csv = "a,b\r\n1,2\r\n";
    SUBCASE("rebuilt by CDR, the original kept, audited as part 1") {
        f.cfg->cdr_helper = fake_cdr_helper(
            f.dir, "a,b\n1,2\n",
            R"({"ok":true,"filename":"list.csv","content_type":"text/csv","size":8,"removed":[]})");
        Outcome o = f.gateway().process_file(Envelope{}, FileSource{csv, "list.csv"});
        REQUIRE(o.disposition == Disposition::Deliver);
        CHECK(o.reason == "sanitized");
        CHECK(o.output == "a,b\n1,2\n");
        CHECK(o.output_filename == "list.csv");
        CHECK(o.sha256_out == sha256_hex(o.output));
        auto kept = f.gateway().quarantine().read(o.quarantine_id);
        REQUIRE(kept);
        CHECK(*kept == csv);
        const auto rows = f.rows();
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].msg.subject == "(file) list.csv");
        CHECK(rows[0].msg.verdict == "sanitized");
        bool cdr_event = false;
        for (const AuditEvent& ev : rows[0].msg.events) {
            cdr_event = cdr_event || (ev.filter == "cdr.text" && ev.part_path == "1" &&
                                      ev.filename == "list.csv");
        }
        CHECK(cdr_event);
    }
    SUBCASE("stripped by the rules: refused, nothing written") {
        Outcome o = f.gateway().process_file(Envelope{}, FileSource{"MZ\x90\x00\x03", "tool.exe"});
        CHECK(o.disposition == Disposition::Reject);
        CHECK(o.output.empty());
        CHECK(o.rule == "inbound-attachment-strip");
    }
    SUBCASE("kept by the rules (outbound): the file itself") {
        Envelope env;
        env.direction = "outbound";
        Outcome o = f.gateway().process_file(env, FileSource{csv, "list.csv"});
        REQUIRE(o.disposition == Disposition::Deliver);
        CHECK(o.reason == "passed");
        CHECK(o.output == csv);
    }
    SUBCASE("larger than max_part_size: refused as a limit") {
        f.cfg->max_part_size = 4;
        Outcome o = f.gateway().process_file(Envelope{}, FileSource{csv, "list.csv"});
        CHECK(o.disposition == Disposition::Reject);
        CHECK(o.reason == "mime.part_too_large");
    }
}

TEST_CASE("gateway: the notice offers link targets only, defanged when the site asks") {
    Fixture f;
    f.cfg->defang_links = true;
    f.cfg->cdr_helper = fake_cdr_helper(
        f.dir, "a,b\n1,2\n",
        R"({"ok":true,"filename":"list.csv","content_type":"text/csv","size":8,"removed":[)"
        R"({"kind":"ooxml.hyperlink","location":"word/document.xml","url":"https://example.com/a"},)"
        R"({"kind":"ooxml.attached_template","location":"word/settings.xml",)"
        R"("url":"http://attacker.example/t.dotm"}]})");
    Outcome o = f.run(mail_with_csv);
    REQUIRE(o.disposition == Disposition::Deliver);
    const std::string text = body_text(o.output);
    CHECK(text.find("link target, as text: hxxps://example.com/a") != std::string::npos);
    CHECK(text.find("https://example.com/a") == std::string::npos);
    // The template is removed and audited, but its address is not offered to the reader.
    CHECK(text.find("attacker.example") == std::string::npos);
    CHECK(text.find("外部テンプレート / external templates 1") != std::string::npos);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    bool audited = false;
    for (const AuditEvent& ev : rows[0].msg.events) {
        audited = audited || ev.detail.find("http://attacker.example/t.dotm") != std::string::npos;
    }
    CHECK(audited);
}

TEST_CASE("gateway: a config load is audited with the file's hash and the rule set version") {
    Fixture f;
    auto& gw = f.gateway();
    const auto cfg = gw.config();
    auto id = record_config_load(gw.audit(), *cfg, "milter.reload", "SIGHUP");
    REQUIRE_MESSAGE(id, (id ? std::string() : id.error().detail));
    CHECK(id->rfind("CF-", 0) == 0);
    Outcome o = f.run(html_mail);
    REQUIRE(o.audited);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 2);
    // The test clock puts the mail in the past: the load is the newest row.
    const auto& load = rows[0].msg;
    CHECK(load.audit_id == *id);
    CHECK(load.verdict == "config_loaded");
    CHECK(load.reason == "config.loaded");
    CHECK(load.sha256_in == cfg->sha256);
    CHECK(load.ruleset_version == cfg->ruleset_version);
    REQUIRE(load.events.size() == 1);
    CHECK(load.events[0].filter == "config");
    CHECK(load.events[0].filename == cfg->source);
    CHECK(load.events[0].detail.find("trigger=milter.reload by=SIGHUP ") == 0);
    CHECK(load.events[0].detail.find("ruleset=" + cfg->ruleset_version) != std::string::npos);
    // The mail names the same rule set version, which is how an auditor ties it to the load.
    CHECK(rows[1].msg.ruleset_version == cfg->ruleset_version);
}
