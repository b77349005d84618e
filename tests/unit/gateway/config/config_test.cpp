#include "gateway/config/config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "../test_support.hpp"

using namespace mugaika::gateway;
using mugaika::test::read_file;
using mugaika::test::source_dir;

namespace {

/// "section.key" -> value text, for every `key = value` line of a TOML file outside [[rules]].
std::map<std::string, std::string> shipped_settings(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    std::string section;
    bool in_multiline = false;
    while (std::getline(in, line)) {
        if (in_multiline) {
            if (line.find("\"\"\"") != std::string::npos) {
                in_multiline = false;
            }
            continue;
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        if (line[0] == '[') {
            section = line.substr(0, 2) == "[[" ? "rules" : line.substr(1, line.find(']') - 1);
            continue;
        }
        if (section == "rules") {
            continue;
        }
        const auto eq = line.find(" = ");
        if (eq == std::string::npos) {
            continue;
        }
        std::string value = line.substr(eq + 3);
        if (value.rfind("\"\"\"", 0) == 0) {
            in_multiline = true;
            value = "\"\"\"";
        }
        out[section + "." + line.substr(0, eq)] = value;
    }
    return out;
}

} // namespace

TEST_CASE("config: the shipped file and the settings table agree on every setting and default") {
    const std::string text = read_file(source_dir() / "config/mugaika.toml");
    const auto shipped = shipped_settings(text);
    std::size_t declared = 0;
    for (const SettingInfo& s : settings_table()) {
        const std::string name = std::string(s.section) + "." + std::string(s.key);
        CAPTURE(name);
        auto it = shipped.find(name);
        REQUIRE_MESSAGE(it != shipped.end(), "setting missing from config/mugaika.toml");
        if (!s.default_toml.empty()) {
            CHECK(it->second == s.default_toml);
        }
        CHECK_FALSE(s.description.empty());
        // Every setting is documented by a comment line right above it.
        const auto pos = text.find("\n" + std::string(s.key) + " = ");
        REQUIRE(pos != std::string::npos);
        const auto prev_line_start = text.rfind('\n', pos - 1);
        CHECK(text.substr(prev_line_start + 1, 1) == "#");
        ++declared;
    }
    CHECK(declared == shipped.size());
}

TEST_CASE("config: the compiled-in defaults are the shipped file byte for byte") {
    CHECK(builtin_config_text() == read_file(source_dir() / "config/mugaika.toml"));
    auto cfg = load_config_text(builtin_config_text(), "(built-in)");
    REQUIRE(cfg);
    CHECK((*cfg)->rules.size() == 11);
    CHECK((*cfg)->mime.max_depth == 32);
    CHECK((*cfg)->max_message_size == 50ULL * 1024 * 1024);
    CHECK((*cfg)->time_budget == std::chrono::seconds(30));
    CHECK((*cfg)->ruleset_version.size() == 12);
}

TEST_CASE("config: every problem is reported with its file, line and setting") {
    const std::string text = "[limits]\n"
                             "max_parts = \"many\"\n"
                             "max_message_size = \"12 parsecs\"\n"
                             "[text]\n"
                             "prefer = \"rtf\"\n"
                             "colour = \"blue\"\n"
                             "[[rules]]\n"
                             "id = \"a\"\n"
                             "action = \"explode\"\n"
                             "[[rules]]\n"
                             "id = \"a\"\n"
                             "action = \"strip\"\n"
                             "role = \"footer\"\n";
    auto cfg = load_config_text(text, "site.toml");
    REQUIRE_FALSE(cfg);
    const auto& problems = cfg.error();
    CHECK(problems.size() == 7);
    std::string all;
    for (const auto& p : problems) {
        all += to_string(p) + "\n";
        CHECK(p.file == "site.toml");
    }
    CAPTURE(all);
    CHECK(all.find("site.toml:2: [limits] max_parts: expected an integer") != std::string::npos);
    CHECK(all.find("site.toml:3: [limits] max_message_size") != std::string::npos);
    CHECK(all.find("site.toml:5: [text] prefer: must be one of html, plain") != std::string::npos);
    CHECK(all.find("site.toml:6: [text] colour: unknown setting") != std::string::npos);
    CHECK(all.find("site.toml:9: rules[1].action: must be text, keep, cdr, strip, reject, "
                   "quarantine or discard") != std::string::npos);
    CHECK(all.find("rules[2].role") != std::string::npos);
    CHECK(problems.front().line == 2); // in file order
    CHECK(all.find("duplicate rule id") != std::string::npos);
}

TEST_CASE("config: archive rule fields and [archive] limits are read and checked") {
    auto ok = load_config_text("[archive]\nmax_depth = 2\nmax_expanded_size = \"10MiB\"\n"
                               "max_ratio = 50\n"
                               "[[rules]]\nid = \"hold-ppap\"\nencrypted = true\n"
                               "action = \"quarantine\"\n"
                               "[[rules]]\nid = \"drop\"\narchive = [\"limit_exceeded\"]\n"
                               "contains = [\"executable\", \"macro\"]\naction = \"discard\"\n",
                               "site.toml");
    REQUIRE(ok);
    CHECK((*ok)->archive.max_depth == 2);
    CHECK((*ok)->archive.max_total_size == 10ULL << 20);
    CHECK((*ok)->archive.max_ratio == doctest::Approx(50.0));
    REQUIRE((*ok)->rules.size() == 2);
    CHECK((*ok)->rules[0].action == Action::Quarantine);
    CHECK((*ok)->rules[0].encrypted == true);
    CHECK((*ok)->rules[1].action == Action::Discard);
    CHECK((*ok)->rules[1].archive == std::vector<std::string>{"limit_exceeded"});
    CHECK(content_names((*ok)->rules[1].contains) == "executable,macro");

    auto bad = load_config_text("[archive]\nmax_depth = 0\n"
                                "[[rules]]\nid = \"x\"\narchive = \"bomb\"\n"
                                "contains = [\"virus\"]\nencrypted = \"yes\"\naction = \"strip\"\n",
                                "site.toml");
    REQUIRE_FALSE(bad);
    std::string all;
    for (const auto& p : bad.error()) {
        all += to_string(p) + "\n";
    }
    CAPTURE(all);
    CHECK(bad.error().size() == 4);
    CHECK(all.find("site.toml:2: [archive] max_depth") != std::string::npos);
    CHECK(all.find("site.toml:5: rules[1].archive: must be none, listed, encrypted, "
                   "limit_exceeded or corrupt, not \"bomb\"") != std::string::npos);
    CHECK(all.find("site.toml:6: rules[1].contains: must name one of") != std::string::npos);
    CHECK(all.find("site.toml:7: rules[1].encrypted: expected true or false") != std::string::npos);
}

TEST_CASE("config: a syntax error names the line") {
    auto cfg = load_config_text("[limits]\nmax_parts = = 3\n", "bad.toml");
    REQUIRE_FALSE(cfg);
    REQUIRE(cfg.error().size() == 1);
    CHECK(cfg.error()[0].line == 2);
}

TEST_CASE("config: a site file may leave settings and the notice out") {
    auto cfg = load_config_text("[gateway]\nstate_dir = \"/tmp/x\"\n", "min.toml");
    REQUIRE(cfg);
    CHECK((*cfg)->state_dir == "/tmp/x");
    CHECK((*cfg)->notice.template_text.find("{audit_id}") != std::string::npos);
    CHECK((*cfg)->rules.empty());
}

TEST_CASE("config: the notice template must name the audit id") {
    auto cfg = load_config_text("[notice]\ntemplate = \"removed\"\n", "n.toml");
    REQUIRE_FALSE(cfg);
    CHECK(cfg.error()[0].setting == "[notice] template");
}

TEST_CASE("config: sizes and durations carry units") {
    CHECK(parse_size("25MiB") == 25ULL << 20);
    CHECK(parse_size("64KiB") == 64ULL << 10);
    CHECK(parse_size("1GiB") == 1ULL << 30);
    CHECK(parse_size("10MB") == 10000000ULL);
    CHECK(parse_size("512B") == 512ULL);
    CHECK_FALSE(parse_size("512"));
    CHECK_FALSE(parse_size("MiB"));
    CHECK_FALSE(parse_size("99999999999999999999GiB"));
    CHECK(parse_duration("30s") == std::chrono::seconds(30));
    CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
    CHECK(parse_duration("2m") == std::chrono::minutes(2));
    CHECK_FALSE(parse_duration("30"));
    CHECK_FALSE(parse_duration("-3s"));
}

TEST_CASE("config: the milter's listen address is checked when the file is read") {
    for (const char* bad :
         {"unix:relative.sock", "inet:notaport@127.0.0.1", "inet:70000", "tcp:25", ""}) {
        CAPTURE(bad);
        auto cfg = load_config_text(std::string("[milter]\nlisten = \"") + bad + "\"\n", "l.toml");
        REQUIRE_FALSE(cfg);
        CHECK(cfg.error()[0].setting == "[milter] listen");
        CHECK(cfg.error()[0].line == 2);
    }
    for (const char* good : {"unix:/run/mugaika/milter.sock", "inet:8891@127.0.0.1", "inet:8891"}) {
        CAPTURE(good);
        CHECK(load_config_text(std::string("[milter]\nlisten = \"") + good + "\"\n", "l.toml"));
    }
    auto lists = load_config_text("[milter]\noutbound_networks = [\"10.0.0.0/8\", \"300.1.1.1\"]\n",
                                  "n.toml");
    REQUIRE_FALSE(lists);
    CHECK(lists.error()[0].message.find("300.1.1.1") != std::string::npos);
}

TEST_CASE("config: [quarantine] and [release] settings are validated") {
    auto ok = load_config_text("[quarantine]\nretention_days = 0\n[release]\n"
                               "relay = \"relay.example.jp:25\"\nfrom = \"gw@example.jp\"\n"
                               "allow_self_approval = true\n",
                               "site.toml");
    REQUIRE(ok);
    CHECK((*ok)->retention_days == 0);
    CHECK((*ok)->release_relay == "relay.example.jp:25");
    CHECK((*ok)->release_allow_self_approval);
    CHECK_FALSE((*ok)->release_allow_infected);
    CHECK((*ok)->release_timeout == std::chrono::seconds(60));
    auto bad = load_config_text("[quarantine]\nretention_days = -1\n[release]\n"
                                "relay = \"127.0.0.1\"\nfrom = \"<gw@example.jp>\"\n",
                                "site.toml");
    REQUIRE_FALSE(bad);
    REQUIRE(bad.error().size() == 3);
    CHECK(bad.error()[0].setting == "[quarantine] retention_days");
    CHECK(bad.error()[1].setting == "[release] relay");
    CHECK(bad.error()[2].setting == "[release] from");
}

TEST_CASE("config: the antivirus mode defaults to libclamav; clamd's socket and timeout are read") {
    auto shipped = load_config_text(builtin_config_text(), "(built-in)");
    REQUIRE(shipped);
    CHECK((*shipped)->av_mode == AvMode::Libclamav);
    CHECK((*shipped)->av_clamd_socket == "/run/clamav/clamd.ctl");
    CHECK((*shipped)->av_clamd_timeout == std::chrono::seconds(60));

    auto clamd = load_config_text("[antivirus]\nmode = \"clamd\"\nclamd_socket = "
                                  "\"/tmp/c/clamd.sock\"\nclamd_timeout = \"5s\"\n",
                                  "c.toml");
    REQUIRE(clamd);
    CHECK((*clamd)->av_mode == AvMode::Clamd);
    CHECK((*clamd)->av_clamd_socket == "/tmp/c/clamd.sock");
    CHECK((*clamd)->av_clamd_timeout == std::chrono::seconds(5));

    const std::string too_long = "/" + std::string(107, 's');
    for (const std::string& bad :
         {std::string("mode = \"daemon\""), std::string("clamd_socket = \"relative/clamd.ctl\""),
          std::string("clamd_socket = \"") + too_long + "\"", std::string("clamd_socket = \"\""),
          std::string("clamd_timeout = \"0s\"")}) {
        CAPTURE(bad);
        auto cfg = load_config_text("[antivirus]\n" + bad + "\n", "a.toml");
        REQUIRE_FALSE(cfg);
        CHECK(cfg.error()[0].setting.rfind("[antivirus] ", 0) == 0);
        CHECK(cfg.error()[0].line == 2);
    }
}

TEST_CASE("config: [audit] backend, retention and time zone are read and checked") {
    auto ok = load_config_text("[audit]\nbackend = \"postgresql\"\n"
                               "connection = \"host=db1 dbname=mugaika user=mugaika\"\n"
                               "retention_days = 1825\ntimezone = \"UTC\"\n",
                               "site.toml");
    REQUIRE(ok);
    CHECK((*ok)->audit_backend == "postgresql");
    CHECK((*ok)->audit_connection == "host=db1 dbname=mugaika user=mugaika");
    CHECK((*ok)->audit_retention_days == 1825);
    CHECK((*ok)->audit_timezone == "UTC");
    auto shipped = load_config_text(builtin_config_text(), "(built-in)");
    REQUIRE(shipped);
    CHECK((*shipped)->audit_backend == "sqlite");
    CHECK((*shipped)->audit_retention_days == 0);
    CHECK((*shipped)->audit_timezone == "Asia/Tokyo");

    // PostgreSQL without a connection string; audit records that would go before the originals
    // they explain; an unknown backend.
    auto no_conn = load_config_text("[audit]\nbackend = \"postgresql\"\n", "site.toml");
    REQUIRE_FALSE(no_conn);
    CHECK(no_conn.error()[0].setting == "[audit] connection");
    auto short_retention = load_config_text(
        "[audit]\nretention_days = 30\n[quarantine]\nretention_days = 90\n", "site.toml");
    REQUIRE_FALSE(short_retention);
    CHECK(short_retention.error()[0].setting == "[audit] retention_days");
    auto forever_originals = load_config_text(
        "[audit]\nretention_days = 400\n[quarantine]\nretention_days = 0\n", "site.toml");
    REQUIRE_FALSE(forever_originals);
    auto bad_backend = load_config_text("[audit]\nbackend = \"mysql\"\n", "site.toml");
    REQUIRE_FALSE(bad_backend);
    CHECK(bad_backend.error()[0].setting == "[audit] backend");
}
