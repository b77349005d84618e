#include "gateway/quarantine/quarantine_views.hpp"

#include <doctest/doctest.h>

#include <gmime/gmime.h>

#include "../test_support.hpp"
#include "gateway/pipeline/gateway.hpp"

using namespace mugaika;
using namespace mugaika::gateway;

TEST_CASE("quarantine views: every kept original is listed newest first and shown by either id") {
    g_mime_init();
    test::TempDir dir;
    auto cfg = test::shipped_config(dir.str());
    auto gw = Gateway::open(cfg, test::fixed_options());
    REQUIRE(gw);
    const std::string a =
        test::mail("Subject: =?UTF-8?B?6KuL5rGC5pu4?=\nContent-Type: multipart/mixed; "
                   "boundary=\"b\"\nMIME-Version: 1.0\n",
                   "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: "
                   "application/octet-stream\nContent-Disposition: attachment; "
                   "filename=\"a.dat\"\n\n\x01\x02\x03 no engine rebuilds this\n--b--\n");
    const std::string b = test::mail("Subject: second\n", "body\n");
    Envelope env;
    env.mail_from = "x@example.com";
    env.rcpt_to = {"y@city.example.lg.jp"};
    const Outcome oa = (*gw)->process(env, MessageSource{a, -1});
    const Outcome ob = (*gw)->process(env, MessageSource{b, -1});
    // The same original again: listed once.
    (void)(*gw)->process(env, MessageSource{b, -1});

    auto list = list_quarantine((*gw)->audit(), (*gw)->quarantine(), 0, 0);
    REQUIRE(list);
    REQUIRE(list->size() == 2);
    CHECK(list->at(1).quarantine_id == oa.quarantine_id);
    CHECK(list->at(1).subject == "請求書");
    CHECK(list->at(1).present);
    CHECK(list->at(0).quarantine_id == ob.quarantine_id);
    const std::string table = render_quarantine_table(*list);
    CHECK(table.find("請求書") != std::string::npos);
    CHECK(render_quarantine_json(*list).find(oa.quarantine_id) != std::string::npos);

    auto paged = list_quarantine((*gw)->audit(), (*gw)->quarantine(), 1, 1);
    REQUIRE(paged);
    REQUIRE(paged->size() == 1);
    CHECK(paged->at(0).quarantine_id == oa.quarantine_id);

    for (const std::string& id : {oa.quarantine_id, oa.audit_id}) {
        auto rows = quarantine_records((*gw)->audit(), id);
        REQUIRE(rows);
        const std::string shown = render_quarantine_show(*rows, (*gw)->quarantine());
        CHECK(shown.find("a.dat") != std::string::npos);
        CHECK(shown.find("attachment.stripped") != std::string::npos);
        CHECK(shown.find("x@example.com") != std::string::npos);
    }
    auto missing = quarantine_records((*gw)->audit(), std::string(64, 'f'));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().what == "quarantine.not_found");
}
