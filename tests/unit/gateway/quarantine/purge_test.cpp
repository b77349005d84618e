#include "gateway/quarantine/purge.hpp"

#include <doctest/doctest.h>

#include <gmime/gmime.h>

#include "../test_support.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/quarantine/quarantine_views.hpp"
#include "gateway/quarantine/release.hpp"

using namespace mugaika;
using namespace mugaika::gateway;

namespace {

class NoSender final : public MailSender {
public:
    filters::Result<std::string> send(const std::string&, const std::string&,
                                      std::string_view) override {
        return std::string("250 ok");
    }
};

constexpr std::int64_t day = 86'400'000;
constexpr std::int64_t t0 = 1795219200000;

std::string purge_id(std::int64_t) {
    return "PG-TEST-1";
}

} // namespace

TEST_CASE("purge: removes expired originals only, keeps pending requests, audits each removal") {
    g_mime_init();
    test::TempDir dir;
    auto cfg = test::shipped_config(dir.str());
    std::int64_t now = t0;
    auto opts = test::fixed_options();
    opts.now_ms = [&now] { return now; };
    auto gw = Gateway::open(cfg, opts).value();
    Envelope env;
    const Outcome old_mail = gw->process(env, MessageSource{test::mail("Subject: old\n", "a\n")});
    const Outcome held = gw->process(env, MessageSource{test::mail("Subject: held\n", "b\n")});
    now = t0 + 50 * day;
    const Outcome recent = gw->process(env, MessageSource{test::mail("Subject: new\n", "c\n")});

    NoSender sender;
    ReleaseDesk::Options dopts;
    dopts.now_ms = [&now] { return now; };
    dopts.new_request_id = [](std::int64_t) { return std::string("RQ-TEST-1"); };
    ReleaseDesk desk(cfg, gw->audit(), gw->quarantine(), sender, dopts);
    now = t0; // the request is as old as the mail: only its pending state keeps the original
    ReleaseRequestInput in;
    in.original = held.audit_id;
    in.all = true;
    in.to = "a@example.jp";
    in.reason = "r";
    in.requester = "alice";
    REQUIRE(desk.request(in));

    PurgeOptions po;
    po.now_ms = t0 + 100 * day; // retention 90 days: t0 expired, t0 + 50 days not
    po.retention_days = 90;
    po.operator_name = "root";

    SUBCASE("a dry run removes and records nothing") {
        po.dry_run = true;
        auto r = purge_quarantine(gw->audit(), gw->quarantine(), po, purge_id);
        REQUIRE(r);
        REQUIRE(r->removed.size() == 1);
        CHECK(r->removed.front().quarantine_id == old_mail.quarantine_id);
        CHECK(r->audit_id.empty());
        CHECK(gw->quarantine().read(old_mail.quarantine_id));
    }
    SUBCASE("retention 0 keeps everything") {
        po.retention_days = 0;
        auto r = purge_quarantine(gw->audit(), gw->quarantine(), po, purge_id);
        REQUIRE(r);
        CHECK(r->removed.empty());
        CHECK(gw->quarantine().read(old_mail.quarantine_id));
    }
    SUBCASE("expired originals go, with one audit record") {
        auto r = purge_quarantine(gw->audit(), gw->quarantine(), po, purge_id);
        REQUIRE(r);
        REQUIRE(r->removed.size() == 1);
        CHECK(r->removed.front().quarantine_id == old_mail.quarantine_id);
        CHECK(r->removed.front().audit_id == old_mail.audit_id);
        CHECK(r->kept_for_release == std::vector<std::string>{held.quarantine_id});
        CHECK(r->audit_id == "PG-TEST-1");
        CHECK(gw->quarantine().read(old_mail.quarantine_id).error().what == "quarantine.not_found");
        CHECK(gw->quarantine().read(held.quarantine_id));
        CHECK(gw->quarantine().read(recent.quarantine_id));

        AuditQuery q;
        q.audit_id = "PG-TEST-1";
        auto rows = gw->audit().query(q).value();
        REQUIRE(rows.size() == 1);
        const AuditMessage& m = rows.front().msg;
        CHECK(m.verdict == "purged");
        REQUIRE(m.events.size() == 2);
        CHECK(detail_value(m.events[0].detail, "by") == "root");
        CHECK(m.events[1].sha256_before == old_mail.quarantine_id);
        CHECK(m.events[1].size == r->removed.front().size);
        CHECK(m.events[1].reason == "quarantine.purged");

        // The list still names the purged original, marked as gone.
        auto list = list_quarantine(gw->audit(), gw->quarantine(), 0, 0).value();
        REQUIRE(list.size() == 3);
        for (const auto& e : list) {
            CHECK(e.present == (e.quarantine_id != old_mail.quarantine_id));
        }
        // Nothing more is due; once the request is refused, its original expires too.
        auto again = purge_quarantine(gw->audit(), gw->quarantine(), po, purge_id);
        REQUIRE(again);
        CHECK(again->removed.empty());
        REQUIRE(desk.refuse("RQ-TEST-1", "bob", "no")->result == ReleaseResult::Done);
        po.now_ms += 1;
        auto last = purge_quarantine(gw->audit(), gw->quarantine(), po,
                                     [](std::int64_t) { return std::string("PG-TEST-2"); });
        REQUIRE(last);
        REQUIRE(last->removed.size() == 1);
        CHECK(last->removed.front().quarantine_id == held.quarantine_id);
    }
    auto v = gw->audit().verify();
    REQUIRE(v);
    CHECK(v->ok);
}
