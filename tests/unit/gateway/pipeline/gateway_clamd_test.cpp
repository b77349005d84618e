// The gateway with [antivirus] mode = "clamd", against a fake clamd on a unix socket: the
// verdicts reach the rules and the audit as in process, and a clamd that is down fails closed.
// The real clamd is tested end to end (tests/e2e/test_clamd.py).
#include <doctest/doctest.h>

#include <gmime/gmime.h>

#include <algorithm>
#include <memory>
#include <string>

#include "../test_support.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/quarantine/quarantine_store.hpp"
#include "tests/unit/fake_clamd.hpp"

using namespace mugaika;
using namespace mugaika::gateway;
using test::FakeClamd;
using test::mail;
using test::TempDir;

namespace {

struct GmimeInit {
    GmimeInit() { g_mime_init(); }
};
const GmimeInit gmime_init;

/// What the fake clamd answers: the EICAR body signature, by the name clamd would report.
std::string clamd_verdict(const std::string& data) {
    return data.find("EICAR-STANDARD-ANTIVIRUS-TEST-FILE") != std::string::npos
               ? "stream: Mugaika.Test.EICAR.UNOFFICIAL FOUND"
               : "stream: OK";
}

struct ClamdFixture {
    TempDir dir;
    std::shared_ptr<Config> cfg = test::shipped_config(dir.str());
    std::unique_ptr<FakeClamd> clamd =
        std::make_unique<FakeClamd>(socket(), test::well_behaved_clamd(clamd_verdict));
    std::unique_ptr<Gateway> gw;

    ClamdFixture() {
        cfg->av_enabled = true;
        cfg->av_mode = AvMode::Clamd;
        cfg->av_clamd_socket = socket();
        cfg->av_clamd_timeout = std::chrono::seconds(5);
        cfg->av_database = (dir.path() / "no-database-needed").string();
    }
    [[nodiscard]] std::string socket() const { return (dir.path() / "clamd.sock").string(); }
    Gateway& gateway() { return test::open_once(gw, cfg); }
    Outcome run(const std::string& message) { return test::run_mail(gateway(), message); }
    std::vector<AuditRow> rows() { return test::all_rows(gateway()); }
};

const std::string infected_mail =
    mail("Subject: invoice\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n",
         "--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/pdf\n"
         "Content-Disposition: attachment; filename=\"invoice.pdf\"\n\n" +
             test::eicar() + "\n--b--\n");

} // namespace

TEST_CASE("gateway clamd: an infected part refuses the mail with clamd's name, as in process") {
    ClamdFixture f;
    Outcome o = f.run(infected_mail);
    CHECK(o.disposition == Disposition::Reject);
    CHECK(o.reason == "av.infected");
    CHECK(o.rule == "av-infected-reject");
    REQUIRE(o.parts.size() == 2);
    CHECK(o.parts[0].av == "clean");
    CHECK(o.parts[1].av == "infected");
    CHECK(o.parts[1].signatures == "Mugaika.Test.EICAR.UNOFFICIAL");
    // PING and VERSION at open, then the whole message and each part over INSTREAM.
    CHECK(f.clamd->commands() ==
          std::vector<std::string>{"zPING", "zVERSION", "zINSTREAM", "zINSTREAM", "zINSTREAM"});
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].msg.verdict == "rejected");
    const auto& events = rows[0].msg.events;
    const auto message_scan = std::find_if(events.begin(), events.end(), [](const auto& ev) {
        return ev.reason == "av.message_infected";
    });
    REQUIRE(message_scan != events.end());
    CHECK(message_scan->detail.find("av_mode=clamd") != std::string::npos);
    CHECK(message_scan->detail.find("Mugaika.Test.EICAR.UNOFFICIAL") != std::string::npos);
}

TEST_CASE("gateway clamd: a clean mail is delivered, scanned by clamd") {
    ClamdFixture f;
    Outcome o = f.run(mail("Subject: hello\nContent-Type: text/plain\n", "nothing to see\n"));
    CHECK(o.disposition == Disposition::Deliver);
    REQUIRE(o.parts.size() == 1);
    CHECK(o.parts[0].av == "clean");
}

TEST_CASE("gateway clamd: without a clamd that answers the gateway does not start") {
    ClamdFixture f;
    f.clamd->stop();
    auto g = Gateway::open(f.cfg, test::fixed_options());
    REQUIRE_FALSE(g);
    CHECK(g.error().what == "av.unavailable");
    CHECK(g.error().detail.find(f.socket()) != std::string::npos);
}

TEST_CASE("gateway clamd: a clamd that went down fails closed: tempfail, original kept, audited") {
    ClamdFixture f;
    (void)f.gateway();
    f.clamd->stop();
    Outcome o = f.run(infected_mail);
    CHECK(o.disposition == Disposition::Tempfail);
    CHECK(o.reason == "av.unavailable");
    CHECK(o.output.empty());
    CHECK(o.smtp_reply.rfind("4.7.1 ", 0) == 0);
    CHECK(o.audited);
    REQUIRE_FALSE(o.quarantine_id.empty());
    auto kept = f.gateway().quarantine().read(o.quarantine_id);
    REQUIRE(kept);
    CHECK(*kept == infected_mail);
    const auto rows = f.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].msg.verdict == "tempfail");
    CHECK(rows[0].msg.reason == "av.unavailable");
}

TEST_CASE("gateway clamd: a reload to a clamd that does not answer keeps the running scanner "
          "and is retried") {
    ClamdFixture f;
    (void)f.gateway();
    auto moved = std::make_shared<Config>(*f.cfg);
    moved->av_clamd_socket = (f.dir.path() / "other.sock").string();
    auto swapped = f.gateway().replace_config(moved);
    REQUIRE_FALSE(swapped);
    CHECK(swapped.error().what == "av.unavailable");
    // Still scanning with the first clamd.
    CHECK(f.run(infected_mail).reason == "av.infected");
    const auto first_scans = f.clamd->commands().size();

    FakeClamd other(moved->av_clamd_socket, test::well_behaved_clamd(clamd_verdict));
    REQUIRE(f.gateway().refresh_antivirus(false)); // what the watcher does at its next check
    CHECK(f.run(infected_mail).reason == "av.infected");
    CHECK(f.clamd->commands().size() == first_scans);
    CHECK(other.commands() ==
          std::vector<std::string>{"zPING", "zVERSION", "zINSTREAM", "zINSTREAM", "zINSTREAM"});
}
