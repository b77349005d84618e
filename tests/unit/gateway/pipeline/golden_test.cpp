// Golden tests: every mail in samples/mail/ is sanitized and compared byte for byte with the
// expected output beside it (NAME.expected.eml when delivered, NAME.expected.refused holding
// "reject CODE" or "tempfail CODE" otherwise). MUGAIKA_UPDATE_GOLDEN=1 rewrites them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmime/gmime.h>

#include "../test_support.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/pipeline/gateway.hpp"

using namespace mugaika;
using namespace mugaika::gateway;

namespace {

std::vector<std::filesystem::path> sample_mails() {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(test::source_dir() / "samples/mail")) {
        const std::string name = e.path().filename().string();
        if (e.path().extension() == ".eml" && name.find(".expected.") == std::string::npos) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

void write_file(const std::filesystem::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
}

} // namespace

TEST_CASE("golden: every sample mail sanitizes to its expected output, byte for byte") {
    g_mime_init();
    const bool update = std::getenv("MUGAIKA_UPDATE_GOLDEN") != nullptr;
    const auto mails = sample_mails();
    REQUIRE(mails.size() >= 30);
    test::TempDir dir;
    auto cfg = test::shipped_config(dir.str());
    // The shipped config scans with ClamAV: the goldens are made with a test database (EICAR
    // only), as the end-to-end tests and the demo use it.
    test::write_eicar_database(dir.path() / "clamav");
    cfg->av_enabled = true;
    cfg->av_database = (dir.path() / "clamav").string();
    auto gw = Gateway::open(cfg, test::fixed_options("MG-GOLDEN-"));
    REQUIRE(gw);
    std::size_t compared = 0;
    for (const auto& path : mails) {
        const std::string name = path.filename().string();
        CAPTURE(name);
        const std::string input = test::read_file(path);
        Envelope env;
        env.mail_from = "sender@example.com";
        env.rcpt_to = {"staff@city.example.lg.jp"};
        if (name.find("outbound") != std::string::npos) {
            env.direction = "outbound";
            env.mail_from = "staff@city.example.lg.jp";
            env.rcpt_to = {"partner@example.com"};
        }
        Outcome o = (*gw)->process(env, MessageSource{input, -1});
        CHECK(o.audited);
        CHECK(o.quarantine_id.size() == 64);
        const std::string stem = path.stem().string();
        const auto eml = path.parent_path() / (stem + ".expected.eml");
        const auto refused = path.parent_path() / (stem + ".expected.refused");
        if (update) {
            std::error_code ec;
            std::filesystem::remove(eml, ec);
            std::filesystem::remove(refused, ec);
            if (o.disposition == Disposition::Deliver) {
                write_file(eml, o.output);
            } else {
                write_file(refused, std::string(to_string(o.disposition)) + " " + o.reason + "\n");
            }
        }
        if (o.disposition == Disposition::Deliver) {
            REQUIRE_MESSAGE(std::filesystem::exists(eml), "missing " << eml);
            CHECK_MESSAGE(test::read_file(eml) == o.output, "output differs from " << eml);
            CHECK_FALSE(std::filesystem::exists(refused));
        } else {
            REQUIRE_MESSAGE(std::filesystem::exists(refused), "missing " << refused);
            CHECK(test::read_file(refused) ==
                  std::string(to_string(o.disposition)) + " " + o.reason + "\n");
            CHECK(o.output.empty());
        }
        ++compared;
    }
    CHECK(compared == mails.size());
    auto v = (*gw)->audit().verify();
    REQUIRE(v);
    CHECK(v->ok);
}
