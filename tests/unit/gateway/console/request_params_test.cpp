#include "gateway/console/request_params.hpp"

#include <doctest/doctest.h>

#include "gateway/console/console_pages.hpp"

using namespace mugaika::gateway;
using namespace mugaika::gateway::console;

TEST_CASE("console params: search filters map onto AuditQuery") {
    auto r = parse_search({{"sender", "a@b.jp"},
                           {"since", "2026-11-01"},
                           {"until", "2026-11-02T09:00+09:00"},
                           {"limit", "20"},
                           {"offset", "40"},
                           {"filename", "請求書"},
                           {"direction", "inbound"},
                           {"verdict", ""}},
                          500);
    REQUIRE(r.value);
    const AuditQuery& q = r.value->query;
    CHECK(q.sender == "a@b.jp");
    CHECK(q.filename == "請求書");
    CHECK(q.direction == "inbound");
    CHECK(q.verdict.empty()); // empty values do not filter
    CHECK(q.limit == 20);
    CHECK(q.offset == 40);
    CHECK(*q.since_ms == 1'793'458'800'000); // 2026-11-01T00:00+09:00
    CHECK(*q.until_ms == 1'793'577'600'000);
    CHECK(r.value->any_filter);
    auto d = parse_search({}, 30);
    REQUIRE(d.value);
    CHECK(d.value->query.limit == 30); // the default page, capped by max_results
    CHECK_FALSE(d.value->any_filter);
}

TEST_CASE("console params: every bad parameter is a 400 message naming it") {
    struct Case {
        Params params;
        std::string says;
    };
    for (const Case& c : {
             Case{{{"colour", "blue"}}, "unknown parameter \"colour\""},
             Case{{{"sender", "a"}, {"sender", "b"}}, "sender given twice"},
             Case{{{"since", "2026-13-45"}}, "since: not a time"},
             Case{{{"until", "yesterday"}}, "until: not a time"},
             Case{{{"limit", "501"}}, "limit: must be a number from 1 to 500"},
             Case{{{"limit", "0"}}, "limit"},
             Case{{{"limit", "-1"}}, "limit"},
             Case{{{"limit", "1e3"}}, "limit"},
             Case{{{"offset", "x"}}, "offset"},
             Case{{{"offset", "99999999999999"}}, "offset"},
             Case{{{"sha256", "abc"}}, "sha256: must be 64 hexadecimal digits"},
             Case{{{"direction", "sideways"}}, "direction: must be inbound or outbound"},
             Case{{{"zone", "Mars/Olympus"}}, "zone: unknown time zone"},
             Case{{{"zone", "../../etc/passwd"}}, "zone: unknown time zone"},
             Case{{{"sender", std::string(513, 'a')}}, "sender: longer than 512 bytes"},
             Case{{{"since", "2026-11-02"}, {"until", "2026-11-01"}}, "since must be before"},
         }) {
        auto r = parse_search(c.params, 500);
        CAPTURE(c.says);
        REQUIRE_FALSE(r.value);
        CHECK(r.error.find(c.says) != std::string::npos);
    }
    CHECK(parse_search({{"lang", "en"}}, 500, {"lang"}).value);
    CHECK_FALSE(parse_search({{"lang", "en"}}, 500).value);
}

TEST_CASE("console params: the report month is YYYY-MM") {
    auto ok = parse_month({{"month", "2026-02"}, {"zone", "UTC"}});
    REQUIRE(ok.value);
    CHECK(ok.value->year == 2026);
    CHECK(ok.value->month == 2);
    CHECK(ok.value->zone.name() == "UTC");
    for (const char* bad :
         {"", "2026-13", "2026-00", "2026-1", "26-01", "2026/01", "1969-12", "2026-01-01"}) {
        CAPTURE(bad);
        auto r = parse_month({{"month", bad}});
        CHECK_FALSE(r.value);
        CHECK(r.error.rfind("month:", 0) == 0);
    }
    CHECK(parse_month({}).error == "month: required, as YYYY-MM");
    CHECK_FALSE(parse_month({{"month", "2026-01"}, {"x", "1"}}).value);
}

TEST_CASE("console params: the audit text quotes values and leaves empty ones out") {
    CHECK(params_for_audit({{"sender", "a@b.jp"}, {"limit", "50"}, {"rule", ""}}) ==
          "sender=a@b.jp limit=50");
    CHECK(params_for_audit({{"filename", "請求 書\"x"}}) == "filename=\"請求 書\\\"x\"");
    CHECK(params_for_audit({{"x", "line\nbreak"}}) == "x=\"line break\"");
    CHECK(params_for_audit({{"a", std::string(2000, 'a')}}).size() <= 1003);
}

TEST_CASE("console pages: stored text is escaped in HTML and JSON") {
    CHECK(html_escape("<script>alert('x')</script>&\"") ==
          "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
    CHECK(html_escape("請求書") == "請求書");
    CHECK(html_escape(std::string("a\xff"
                                  "b",
                                  3)) == "a\xEF\xBF\xBD"
                                         "b");
    CHECK(json_quote("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\u000a\\u0001\"");
    AuditRow row;
    row.msg.audit_id = "MG-1";
    row.msg.subject = "<script>alert(1)</script>";
    row.msg.mail_from = "\"><img src=x onerror=alert(1)>@x.jp";
    PageContext ctx;
    ctx.user = "alice";
    ctx.csrf = "t";
    std::vector<AuditRow> rows{row};
    const std::string html =
        search_page(ctx, {{"sender", "<b>"}}, &rows, 0, 50, std::nullopt, TimeZone::tokyo(), "");
    CHECK(html.find("<script>") == std::string::npos);
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("<b>") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    CHECK(html.find("検索") != std::string::npos);
    ctx.lang = "en";
    CHECK(search_page(ctx, {}, nullptr, 0, 50, std::nullopt, TimeZone::tokyo(), "")
              .find(">Search<") != std::string::npos);
}

TEST_CASE("console pages: only admins get decision forms") {
    ReleaseRequest rq;
    rq.id = "RQ-20261122-000000-00000000";
    rq.original_audit_id = "MG-1";
    PageContext ctx;
    ctx.user = "alice";
    ctx.csrf = "token123";
    ctx.role = ConsoleRole::Auditor;
    const std::string ro = releases_page(ctx, {rq}, TimeZone::tokyo(), "");
    CHECK(ro.find("/approve") == std::string::npos);
    ctx.role = ConsoleRole::Admin;
    const std::string rw = releases_page(ctx, {rq}, TimeZone::tokyo(), "");
    CHECK(rw.find("action=\"/releases/RQ-20261122-000000-00000000/approve\"") != std::string::npos);
    CHECK(rw.find("name=\"csrf\" value=\"token123\"") != std::string::npos);
}
