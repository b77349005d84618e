#include "gateway/audit/audit_views.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#pragma GCC diagnostic pop

#include "../test_support.hpp"

using namespace mugaika::gateway;

namespace {

constexpr std::int64_t nov21_10h = 1795222800000LL; // 2026-11-21T10:00:00+09:00
constexpr std::int64_t nov1_0h = 1793458800000LL;   // 2026-11-01T00:00:00+09:00
constexpr std::int64_t dec1_0h = 1796050800000LL;   // 2026-12-01T00:00:00+09:00
const std::string qid1(64, 'a');

std::unique_ptr<AuditStore> open_store(const mugaika::test::TempDir& dir) {
    auto store = AuditStore::open_sqlite((dir.path() / "audit.db").string());
    REQUIRE_MESSAGE(store.has_value(),
                    (store ? "" : std::string(store.error().what) + ": " + store.error().detail));
    return std::move(*store);
}

void record(AuditStore& store, const AuditMessage& m) {
    const auto r = store.record(m);
    REQUIRE_MESSAGE(r.has_value(),
                    (r ? "" : std::string(r.error().what) + ": " + r.error().detail));
}

std::vector<AuditRow> all_rows(const AuditStore& store) {
    AuditQuery q;
    q.limit = 0;
    auto rows = store.query(q);
    REQUIRE(rows.has_value());
    return *rows;
}

AuditEvent ev(std::string part, std::string filter, std::string action, std::string reason,
              std::string detail = {}) {
    AuditEvent e;
    e.part_path = std::move(part);
    e.filter = std::move(filter);
    e.action = std::move(action);
    e.reason = std::move(reason);
    e.detail = std::move(detail);
    return e;
}

AuditMessage mail(std::string id, std::int64_t time, std::string verdict) {
    AuditMessage m;
    m.audit_id = std::move(id);
    m.time_unix_ms = time;
    m.direction = "inbound";
    m.client_addr = "192.0.2.10";
    m.helo = "mx.example.com";
    m.queue_id = "4Xk2P1";
    m.mail_from = "sender@example.com";
    m.rcpt_to = {"tanaka@city.example.lg.jp", "suzuki@city.example.lg.jp"};
    m.message_id = "<" + m.audit_id + "@example.com>";
    m.subject = "【至急】会議資料の送付について";
    m.from_header = "山田 太郎 <sender@example.com>";
    m.size_in = 10000;
    m.size_out = 2000;
    m.sha256_in = std::string(64, 'b');
    m.verdict = std::move(verdict);
    m.action = "deliver";
    m.reason = "rebuilt";
    m.ruleset_version = "rules-2026-11";
    m.duration_us = 12345;
    return m;
}

/// The mail of the story: a body, a PDF rebuilt by CDR, an infected zip, and message steps.
AuditMessage story_mail() {
    AuditMessage m = mail("MG-20261121-00000001", nov21_10h, "sanitized");
    m.quarantine_id = qid1;
    m.sha256_in = qid1;
    m.sha256_out = std::string(64, 'c');
    m.events.push_back(ev("", "quarantine", "keep", "quarantine.kept"));
    m.events.push_back(
        ev("", "av", "none", "av.message_infected", "signatures=Eicar-Test-Signature"));
    AuditEvent body = ev("1", "text.html", "text", "html.converted", "scripts_removed=1");
    body.declared_type = "text/html";
    body.detected_type = "text/html";
    m.events.push_back(body);
    AuditEvent pdf = ev("2", "cdr.pdf", "cdr", "cdr.rebuilt",
                        "engine=pdf out_type=application/pdf out_size=1234 removed=3 "
                        "objects=\"javascript@/OpenAction,embedded_file@/Names/a.exe,launch\" "
                        "urls=https://evil.example/x,http://b.example/");
    pdf.filename = "請求書.pdf";
    pdf.declared_type = "application/pdf";
    pdf.detected_type = "application/pdf";
    pdf.size = 54321;
    pdf.sha256_before = std::string(64, 'd');
    pdf.sha256_after = std::string(64, 'e');
    pdf.rule = "attach-pdf-cdr";
    m.events.push_back(pdf);
    AuditEvent zip = ev("3", "attachment", "strip", "av.infected",
                        "av=infected signatures=Eicar-Test-Signature av_reason=x archive=zip");
    zip.filename = "virus.zip";
    zip.detected_type = "application/zip";
    zip.rule = "attach-av";
    m.events.push_back(zip);
    AuditEvent member = ev("3", "archive", "none", "archive.member", "depth=1");
    member.filename = "eicar.com";
    member.size = 68;
    m.events.push_back(member);
    return m;
}

AuditMessage release_row(std::string id, std::int64_t time, std::string verdict,
                         std::string detail) {
    AuditMessage m;
    m.audit_id = id;
    m.message_id = id.substr(0, id.find('.'));
    m.time_unix_ms = time;
    m.verdict = std::move(verdict);
    m.action = "none";
    m.reason = "release.requested";
    m.quarantine_id = qid1;
    m.sha256_in = qid1;
    m.rcpt_to = {"tanaka@city.example.lg.jp"};
    m.subject = "【至急】会議資料の送付について";
    AuditEvent e = ev("2", "release", "none", m.reason, std::move(detail));
    e.filename = "請求書.pdf";
    m.events.push_back(e);
    return m;
}

/// A store holding the story mail, a release request and its approval, a purge, a config row,
/// and other mails around the month's edges.
void fill(AuditStore& store) {
    record(store, story_mail());
    record(store,
           release_row("RQ-20261121-120000-abcdef01", nov21_10h + 3600000, "release_requested",
                       "original=MG-20261121-00000001 requester=sato "
                       "to=tanaka@city.example.lg.jp part=2 reason=\"needed for the "
                       "meeting\""));
    record(store, release_row("RQ-20261121-120000-abcdef01.2", nov21_10h + 7200000, "released",
                              "request=RQ-20261121-120000-abcdef01 original=MG-20261121-00000001 "
                              "requester=sato approver=suzuki to=tanaka@city.example.lg.jp "
                              "part=2"));
    AuditMessage purge;
    purge.audit_id = "PG-20261125-030000-12345678";
    purge.time_unix_ms = nov21_10h + 4LL * 86400000;
    purge.verdict = "purged";
    purge.action = "purge";
    purge.reason = "quarantine.purged";
    purge.events.push_back(ev("", "quarantine", "none", "quarantine.purge_run",
                              "by=admin retention_days=1 cutoff=2026-11-24T03:00:00+09:00 "
                              "removed=1"));
    AuditEvent gone = ev("", "quarantine", "none", "quarantine.purged",
                         "audit=MG-20261121-00000001 newest=2026-11-21T12:00:00+09:00");
    gone.sha256_before = qid1;
    purge.events.push_back(gone);
    record(store, purge);

    AuditMessage config;
    config.audit_id = "CF-20261121-00000001";
    config.time_unix_ms = nov21_10h + 1000;
    config.verdict = "config_loaded";
    record(store, config);

    // First instant of the month, in a hostile shape.
    AuditMessage first = mail("MG-20261101-00000002", nov1_0h, "rejected");
    first.mail_from = "Sender@EXAMPLE.com";
    first.rcpt_to = {"a@Other.example.jp"};
    first.subject = "=cmd|' /C calc'!A0 <script>alert('x')</script>";
    first.from_header = "\"Evil, Inc.\" <evil@example.net>\r\nBcc: x";
    AuditEvent office = ev("2", "attachment", "strip", "cdr.convert_failed",
                           "cdr_engine=office cdr_error=cdr.convert_failed cdr_detail=\"exit 1\"");
    office.detected_type = "application/msword";
    office.rule = "attach-office-cdr";
    first.events.push_back(office);
    record(store, first);
    // First instant of the next month: not in the November report.
    record(store, mail("MG-20261201-00000003", dec1_0h, "sanitized"));
    // A mail whose verdict says mail although its id does not.
    AuditMessage legacy = mail("LEGACY-1", nov21_10h + 60000, "passed");
    legacy.direction = "outbound";
    record(store, legacy);
}

/// RFC 4180 records (quoted fields may hold CR, LF, commas and doubled quotes).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows(1);
    std::string cellv;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                cellv += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cellv += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            rows.back().push_back(cellv);
            cellv.clear();
        } else if (c == '\r') {
            REQUIRE(i + 1 < text.size());
            REQUIRE(text[i + 1] == '\n'); // CRLF, never a bare CR outside quotes
            rows.back().push_back(cellv);
            cellv.clear();
            rows.emplace_back();
            ++i;
        } else {
            REQUIRE(c != '\n'); // never a bare LF outside quotes
            cellv += c;
        }
    }
    REQUIRE_FALSE(quoted);
    REQUIRE(cellv.empty());
    REQUIRE(rows.back().empty()); // the text ends with CRLF
    rows.pop_back();
    return rows;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

Poco::Dynamic::Var parse_json(const std::string& text) {
    Poco::JSON::Parser parser;
    return parser.parse(text);
}

} // namespace

TEST_CASE("audit csv: BOM, CRLF, RFC 4180 quoting, Japanese intact, formulas neutralised") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    const auto rows = all_rows(*store);
    const std::string csv = render_csv(rows, TimeZone::tokyo());
    REQUIRE(csv.rfind("\xEF\xBB\xBF", 0) == 0);
    const auto records = parse_csv(csv.substr(3));
    REQUIRE(records.size() > 2);
    const auto& header = records.front();
    CHECK(header.size() == 37);
    CHECK(header[0] == "seq");
    CHECK(header[11] == "subject");
    for (const auto& rec : records) {
        CHECK(rec.size() == header.size());
    }
    std::size_t subject_col = 11;
    std::size_t from_col = 10;
    std::size_t filename_col = 25;
    std::size_t time_col = 2;
    bool japanese = false;
    bool formula = false;
    bool pdf = false;
    std::size_t config_lines = 0;
    for (std::size_t i = 1; i < records.size(); ++i) {
        const auto& rec = records[i];
        japanese |= rec[subject_col] == "【至急】会議資料の送付について";
        pdf |= rec[filename_col] == "請求書.pdf";
        if (rec[1] == "MG-20261101-00000002") {
            CHECK(rec[subject_col] == "'=cmd|' /C calc'!A0 <script>alert('x')</script>");
            CHECK(rec[from_col] == "\"Evil, Inc.\" <evil@example.net>\r\nBcc: x");
            CHECK(rec[time_col] == "2026-11-01T00:00:00.000+09:00");
        }
        if (rec[1] == "CF-20261121-00000001") {
            ++config_lines; // a row without events still gets one line
            CHECK(rec[23].empty());
        }
        for (const auto& c : rec) {
            formula |= !c.empty() && (c[0] == '=' || c[0] == '+' || c[0] == '@');
        }
    }
    CHECK(japanese);
    CHECK(pdf);
    CHECK_FALSE(formula);
    CHECK(config_lines == 1);

    SUBCASE("cells") {
        CHECK(csv_cell("plain") == "plain");
        CHECK(csv_cell("a,b") == "\"a,b\"");
        CHECK(csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
        CHECK(csv_cell("two\nlines") == "\"two\nlines\"");
        CHECK(csv_cell("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"");
        CHECK(csv_cell("+81 3") == "'+81 3");
        CHECK(csv_cell("-1") == "'-1");
        CHECK(csv_cell("@SUM(A1)") == "'@SUM(A1)");
        CHECK(csv_cell("\tx") == "'\tx");
        CHECK(csv_cell("\rx") == "\"'\rx\"");
        CHECK(csv_cell("＝1+1") == "'＝1+1");
        CHECK(csv_cell("請求書") == "請求書");
        CHECK(csv_cell(std::string("a\xff", 2)) == "a\xEF\xBF\xBD");
    }
}

TEST_CASE("audit views: the Tokyo renderings equal the TimeZone ones with Asia/Tokyo") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    const auto rows = all_rows(*store);
    CHECK(render_table(rows) == render_table(rows, TimeZone::tokyo()));
    CHECK(render_json(rows) == render_json(rows, TimeZone::tokyo()));
    auto utc = TimeZone::load("UTC");
    REQUIRE(utc.has_value());
    const std::string table = render_table(rows, *utc);
    CHECK(contains(table, "2026-11-21T01:00:00+00:00"));
    CHECK(contains(render_json(rows, *utc), "\"2026-11-21T01:00:00.000+00:00\""));
    CHECK(contains(render_csv(rows, *utc), "2026-11-21T01:00:00.000+00:00"));
}

TEST_CASE("audit views: parse_event_detail reads the pipeline's key=value details") {
    using KV = std::vector<std::pair<std::string, std::string>>;
    CHECK(parse_event_detail("") == KV{});
    CHECK(parse_event_detail("a=1 b=two") == KV{{"a", "1"}, {"b", "two"}});
    CHECK(parse_event_detail("objects=\"js@/A,uri@/B c\" urls=http://x/,https://y/") ==
          KV{{"objects", "js@/A,uri@/B c"}, {"urls", "http://x/,https://y/"}});
    CHECK(parse_event_detail("reason=\"say \\\"no\\\" \\\\ ok\" x=1") ==
          KV{{"reason", "say \"no\" \\ ok"}, {"x", "1"}});
    // cdr_detail is quoted without escaping: an inner quote does not end it.
    CHECK(parse_event_detail("cdr_detail=\"bad \"x\" here\" n=2") ==
          KV{{"cdr_detail", "bad \"x\" here"}, {"n", "2"}});
    CHECK(parse_event_detail("word k=v") == KV{{"word", ""}, {"k", "v"}});
    CHECK(parse_event_detail("k=\"unterminated") == KV{{"k", "unterminated"}});
}

TEST_CASE("audit story: one mail with its parts, removed objects, URLs and related records") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    auto story = load_story(*store, "MG-20261121-00000001");
    REQUIRE(story.has_value());
    CHECK(story->mail.msg.audit_id == "MG-20261121-00000001");
    REQUIRE(story->related.size() == 3);
    CHECK(story->related[0].msg.audit_id == "RQ-20261121-120000-abcdef01");
    CHECK(story->related[1].msg.audit_id == "RQ-20261121-120000-abcdef01.2");
    CHECK(story->related[2].msg.audit_id == "PG-20261125-030000-12345678");
    CHECK(story->related[0].seq < story->related[1].seq);

    const std::string text = render_story_text(*story, TimeZone::tokyo());
    for (const char* want : {"Audit record MG-20261121-00000001",
                             "2026-11-21T10:00:00.000+09:00 (Asia/Tokyo)",
                             "192.0.2.10",
                             "mx.example.com",
                             "4Xk2P1",
                             "sender@example.com",
                             "tanaka@city.example.lg.jp",
                             "suzuki@city.example.lg.jp",
                             "<MG-20261121-00000001@example.com>",
                             "【至急】会議資料の送付について",
                             "10000 bytes",
                             "2000 bytes",
                             "sanitized",
                             "rules-2026-11",
                             "Part 2  \"請求書.pdf\"",
                             "cdr.pdf -> cdr",
                             "attach-pdf-cdr",
                             "declared application/pdf, detected application/pdf",
                             "54321 bytes",
                             "removed       javascript at /OpenAction",
                             "removed       embedded_file at /Names/a.exe",
                             "removed       launch",
                             "url           https://evil.example/x",
                             "url           http://b.example/",
                             "virus         Eicar-Test-Signature",
                             "member eicar.com",
                             "Related records",
                             "release_requested",
                             "requester=sato",
                             "approver=suzuki",
                             "to=tanaka@city.example.lg.jp",
                             "by=admin"}) {
        CAPTURE(std::string(want));
        CHECK(contains(text, want));
    }
    CHECK(contains(text, std::string(64, 'd')));
    CHECK(contains(text, std::string(64, 'e')));
    // Message steps come before the parts; parts in order.
    CHECK(text.find("Message steps") < text.find("Part 1"));
    CHECK(text.find("Part 1") < text.find("Part 2"));
    CHECK(text.find("Part 2") < text.find("Part 3"));

    const std::string json = render_story_json(*story, TimeZone::tokyo());
    const auto root = parse_json(json).extract<Poco::JSON::Object::Ptr>();
    CHECK(root->getObject("mail")->getValue<std::string>("audit_id") == "MG-20261121-00000001");
    CHECK(root->getArray("related")->size() == 3);
    const auto removed = root->getArray("removed");
    REQUIRE(removed->size() == 3);
    CHECK(removed->getObject(0)->getValue<std::string>("part") == "2");
    CHECK(removed->getObject(0)->getValue<std::string>("kind") == "javascript");
    CHECK(removed->getObject(0)->getValue<std::string>("location") == "/OpenAction");
    CHECK(removed->getObject(2)->getValue<std::string>("location").empty());
    const auto urls = root->getArray("urls");
    REQUIRE(urls->size() == 2);
    CHECK(urls->getObject(0)->getValue<std::string>("url") == "https://evil.example/x");
    CHECK(contains(json, "請求書.pdf")); // UTF-8 unescaped
}

TEST_CASE("audit story: stored text cannot drive the terminal") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    AuditMessage m = mail("MG-20261121-00000009", nov21_10h, "sanitized");
    m.subject = "hi\x1b]0;owned\x07\x1b[31m red \xE2\x80\xAE txt";
    m.from_header = "a\r\nb";
    AuditEvent e = ev("1", "attachment", "strip", "attachment.stripped", "x=\"\x1b[2J\"");
    e.filename = "a\x9b"
                 "b.exe";
    m.events.push_back(e);
    record(*store, m);
    auto story = load_story(*store, m.audit_id);
    REQUIRE(story.has_value());
    CHECK(story->related.empty());
    const std::string text = render_story_text(*story, TimeZone::tokyo());
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\x07') == std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
    CHECK(text.find("\xE2\x80\xAE") == std::string::npos);
    CHECK(text.find("\xC2\x9B") == std::string::npos);
    CHECK(contains(text, "(none)"));
}

TEST_CASE("audit story: an unknown audit id is audit.not_found") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    for (const char* id : {"MG-00000000-nothing", ""}) {
        auto story = load_story(*store, id);
        REQUIRE_FALSE(story.has_value());
        CHECK(story.error().what == "audit.not_found");
        CHECK(story.error().code == mugaika::filters::ErrorCode::Malformed);
    }
}

TEST_CASE("audit report: counts mail of the local month only, by day, verdict and step") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    auto r = build_month_report(*store, 2026, 11, TimeZone::tokyo());
    REQUIRE(r.has_value());
    CHECK(r->since_ms == nov1_0h);
    CHECK(r->until_ms == dec1_0h);
    CHECK(r->since_text == "2026-11-01T00:00:00+09:00");
    CHECK(r->zone == "Asia/Tokyo");
    // story mail, first-instant mail and the legacy "passed" row; not config/release/purge rows,
    // not the first instant of December.
    CHECK(r->messages == 3);
    CHECK(r->bytes_in == 30000);
    REQUIRE(r->by_day.size() == 30);
    CHECK(r->by_day[0].at("rejected") == 1);
    CHECK(r->by_day[20].at("sanitized") == 1);
    CHECK(r->by_day[20].at("passed") == 1);
    CHECK(r->by_verdict.size() == 3);
    CHECK(r->by_verdict.count("config_loaded") == 0);
    CHECK(r->by_direction.at("inbound") == 2);
    CHECK(r->by_direction.at("outbound") == 1);
    CHECK(r->by_action.at("cdr") == 1);
    CHECK(r->by_action.at("strip") == 2);
    CHECK(r->by_action.at("text") == 1);
    CHECK(r->by_action.count("none") == 0); // archive members are not parts
    CHECK(r->by_detected_type.at("application/pdf") == 1);
    CHECK(r->by_rule.at("attach-av") == 1);
    // Found in the message and in a part of the same mail: one mail.
    CHECK(r->by_av_signature.at("Eicar-Test-Signature") == 1);
    CHECK(r->by_cdr_engine.at("pdf").at("rebuilt") == 1);
    CHECK(r->by_cdr_engine.at("office").at("failed") == 1);
    CHECK(r->cdr_failures.at("cdr.convert_failed") == 1);
    REQUIRE_FALSE(r->top_senders.empty());
    CHECK(r->top_senders.front() == std::pair<std::string, std::int64_t>{"sender@example.com", 3});
    CHECK(r->top_recipient_domains.front().first == "city.example.lg.jp");
    CHECK(r->top_recipient_domains.front().second == 2);
    CHECK(r->releases.at("release_requested") == 1);
    CHECK(r->releases.at("released") == 1);
    CHECK(r->purged_originals == 1);

    auto dec = build_month_report(*store, 2026, 12, TimeZone::tokyo());
    REQUIRE(dec.has_value());
    CHECK(dec->messages == 1);
    CHECK(dec->by_day.size() == 31);
    CHECK(dec->by_day[0].at("sanitized") == 1);

    // In UTC, November 1 00:00 JST is still October.
    auto utc = TimeZone::load("UTC");
    REQUIRE(utc.has_value());
    auto nov_utc = build_month_report(*store, 2026, 11, *utc);
    REQUIRE(nov_utc.has_value());
    CHECK(nov_utc->messages == 3); // loses the Nov 1 mail, gains the Dec 1 00:00 JST one
    CHECK(nov_utc->by_day[29].at("sanitized") == 1);

    auto bad = build_month_report(*store, 2026, 13, TimeZone::tokyo());
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().what == "audit.bad_month");
}

TEST_CASE("audit report: pages through more than one query's worth of rows") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    for (int i = 0; i < 1003; ++i) {
        AuditMessage m = mail("MG-20261110-" + std::to_string(100000 + i),
                              nov1_0h + 9LL * 86400000 + i * 1000LL, "sanitized");
        m.events.clear();
        record(*store, m);
    }
    auto r = build_month_report(*store, 2026, 11, TimeZone::tokyo());
    REQUIRE(r.has_value());
    CHECK(r->messages == 1003);
    CHECK(r->by_day[9].at("sanitized") == 1003);
}

TEST_CASE("audit report: a DST month in New York has 23- and 25-hour days") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    // 2026-11-01T23:30-05:00 (local Nov 1), 2026-11-02T00:30-05:00 (local Nov 2).
    record(*store, mail("MG-A", 1793593800000LL, "sanitized"));
    record(*store, mail("MG-B", 1793597400000LL, "passed"));
    auto ny = TimeZone::load("America/New_York");
    REQUIRE(ny.has_value());
    auto r = build_month_report(*store, 2026, 11, *ny);
    REQUIRE(r.has_value());
    CHECK(r->by_day[0].at("sanitized") == 1);
    CHECK(r->by_day[1].at("passed") == 1);
    CHECK(r->since_text == "2026-11-01T00:00:00-04:00");
    CHECK(r->until_text == "2026-12-01T00:00:00-05:00");
}

TEST_CASE("audit report html: self-contained, printable, escaped, in Japanese or English") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    auto r = build_month_report(*store, 2026, 11, TimeZone::tokyo());
    REQUIRE(r.has_value());
    // A sender that is markup.
    r->top_senders.emplace_back("<script>alert(1)</script>@x.jp", 1);
    r->by_rule["<img src=x onerror=alert(1)>"] = 1;
    const std::string ja = render_report_html(*r, "ja");
    CHECK(ja.rfind("<!doctype html>", 0) == 0);
    CHECK(contains(ja, "<html lang=\"ja\">"));
    CHECK(contains(ja, "<meta charset=\"utf-8\">"));
    CHECK(contains(ja, "@page"));
    CHECK(contains(ja, "A4"));
    CHECK(contains(ja, "@media print"));
    CHECK(contains(ja, "<svg"));
    CHECK(contains(ja, "月次監査報告 2026-11"));
    CHECK(contains(ja, "処理したメール"));
    CHECK(contains(ja, "Eicar-Test-Signature"));
    CHECK(contains(ja, "2026-11-01T00:00:00+09:00"));
    CHECK(contains(ja, "&lt;script&gt;alert(1)&lt;/script&gt;@x.jp"));
    CHECK(contains(ja, "&lt;img src=x onerror=alert(1)&gt;"));
    for (const std::string& h : {ja, render_report_html(*r, "en")}) {
        CHECK_FALSE(contains(h, "<script"));
        CHECK_FALSE(contains(h, "<img"));
        CHECK_FALSE(contains(h, "http://"));
        CHECK_FALSE(contains(h, "https://"));
        CHECK_FALSE(contains(h, "url("));
        CHECK_FALSE(contains(h, "@import"));
    }
    const std::string en = render_report_html(*r, "en");
    CHECK(contains(en, "<html lang=\"en\">"));
    CHECK(contains(en, "Monthly audit report 2026-11"));
    CHECK(contains(en, "Mails processed"));
    CHECK_FALSE(contains(en, "処理したメール"));
}

TEST_CASE("audit report csv and json: the same numbers") {
    mugaika::test::TempDir dir;
    auto store = open_store(dir);
    fill(*store);
    auto r = build_month_report(*store, 2026, 11, TimeZone::tokyo());
    REQUIRE(r.has_value());
    const std::string csv = render_report_csv(*r);
    REQUIRE(csv.rfind("\xEF\xBB\xBFsection,key,count\r\n", 0) == 0);
    const auto records = parse_csv(csv.substr(3));
    for (const auto& rec : records) {
        CHECK(rec.size() == 3);
    }
    auto has = [&](const std::string& s, const std::string& k, const std::string& n) {
        for (const auto& rec : records) {
            if (rec[0] == s && rec[1] == k && rec[2] == n) {
                return true;
            }
        }
        return false;
    };
    CHECK(has("summary", "messages", "3"));
    CHECK(has("verdict", "sanitized", "1"));
    CHECK(has("day", "2026-11-01 rejected", "1"));
    CHECK(has("cdr_engine", "pdf rebuilt", "1"));
    CHECK(has("av_signature", "Eicar-Test-Signature", "1"));
    CHECK(has("top_sender", "sender@example.com", "3"));
    CHECK(has("release", "released", "1"));
    CHECK(has("summary", "purged_originals", "1"));

    const auto o = parse_json(render_report_json(*r)).extract<Poco::JSON::Object::Ptr>();
    CHECK(o->getValue<int>("year") == 2026);
    CHECK(o->getValue<std::int64_t>("messages") == 3);
    CHECK(o->getArray("by_day")->size() == 30);
    CHECK(o->getObject("by_verdict")->getValue<std::int64_t>("rejected") == 1);
    CHECK(o->getObject("by_cdr_engine")->getObject("office")->getValue<std::int64_t>("failed") ==
          1);
    CHECK(o->getArray("top_senders")->getObject(0)->getValue<std::string>("key") ==
          "sender@example.com");
    CHECK(o->getValue<std::int64_t>("purged_originals") == 1);
}
