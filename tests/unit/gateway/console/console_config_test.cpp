#include <doctest/doctest.h>

#include "gateway/config/config.hpp"

using namespace mugaika::gateway;

namespace {

std::vector<ConfigProblem> problems(const std::string& text) {
    auto cfg = load_config_text(text, "site.toml");
    return cfg ? std::vector<ConfigProblem>{} : cfg.error();
}

} // namespace

TEST_CASE("console config: the shipped defaults listen on loopback without TLS") {
    auto cfg = load_config_text(builtin_config_text(), "(built-in)");
    REQUIRE(cfg);
    CHECK((*cfg)->console_listen == "127.0.0.1:8025");
    CHECK((*cfg)->console_tls_cert.empty());
    CHECK((*cfg)->console_max_results == 500);
    CHECK((*cfg)->console_lang == "ja");
    CHECK((*cfg)->console_users() == (*cfg)->state_dir + "/console-users");
}

TEST_CASE("console config: plain HTTP is refused off loopback, with file and line") {
    auto p = problems("[gateway]\nstate_dir = \"/tmp/x\"\n[console]\nlisten = \"0.0.0.0:8025\"\n");
    REQUIRE(p.size() == 1);
    CHECK(to_string(p[0]).rfind("site.toml:4: [console] listen: \"0.0.0.0:8025\" is not a loopback",
                                0) == 0);
    CHECK(problems("[console]\nlisten = \"0.0.0.0:8025\"\ntls_cert = \"c.pem\"\ntls_key = "
                   "\"k.pem\"\n")
              .empty());
    for (const char* ok : {"127.0.0.1:8025", "127.1.2.3:1", "[::1]:8025", "localhost:8025"}) {
        CAPTURE(ok);
        CHECK(problems(std::string("[console]\nlisten = \"") + ok + "\"\n").empty());
    }
    CHECK_FALSE(is_loopback_listen("192.168.1.10:8025"));
    CHECK_FALSE(is_loopback_listen("[::]:8025"));
    CHECK_FALSE(is_loopback_listen("console.example.jp:8025"));
}

TEST_CASE("console config: certificate and key come together, values are checked") {
    auto p = problems("[console]\n\ntls_cert = \"c.pem\"\n");
    REQUIRE(p.size() == 1);
    CHECK(to_string(p[0]) == "site.toml:3: [console] tls_key: must be set together with tls_cert");
    CHECK(problems("[console]\nmax_results = 0\n").size() == 1);
    CHECK(problems("[console]\nlang = \"fr\"\n").size() == 1);
    CHECK(problems("[console]\nlisten = \"nohost\"\n").size() == 1);
    CHECK(problems("[console]\nlockout_failures = 0\n").size() == 1);
    auto cfg = load_config_text("[console]\nsession_idle_minutes = 5\nsession_max_hours = 2\n"
                                "lockout_failures = 7\nlockout_minutes = 3\n"
                                "users_file = \"/etc/mugaika/users\"\n",
                                "site.toml");
    REQUIRE(cfg);
    CHECK((*cfg)->console_session_idle == std::chrono::minutes(5));
    CHECK((*cfg)->console_session_max == std::chrono::hours(2));
    CHECK((*cfg)->console_lockout_failures == 7);
    CHECK((*cfg)->console_lockout == std::chrono::minutes(3));
    CHECK((*cfg)->console_users() == "/etc/mugaika/users");
}
