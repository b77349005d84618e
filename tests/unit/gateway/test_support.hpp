#pragma once
// Shared helpers for the gateway tests: temporary state dirs, configs, sample files.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "gateway/audit/audit_store.hpp"
#include "gateway/config/config.hpp"
#include "gateway/pipeline/gateway.hpp"

namespace mugaika::test {

/// A temporary directory removed at the end of the scope.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                ("mugaika-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::string str() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

/// The shipped config, as a mutable copy, with the state dir set.
inline std::shared_ptr<gateway::Config> shipped_config(const std::string& state_dir) {
    auto cfg = gateway::load_config_text(gateway::builtin_config_text(), "(built-in)");
    if (!cfg) {
        throw std::runtime_error("the shipped config does not load");
    }
    auto copy = std::make_shared<gateway::Config>(**cfg);
    copy->state_dir = state_dir;
    copy->av_enabled = false; // the antivirus tests turn it on with a database of their own
    return copy;
}

/// The EICAR test file, assembled at run time so that no source file is itself a test virus.
inline std::string eicar() {
    return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!" +
           "$H+H*";
}

/// A ClamAV database directory holding one body signature for EICAR ("Mugaika.Test.EICAR").
inline void write_eicar_database(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    static constexpr char hex[] = "0123456789abcdef";
    std::string body;
    for (char c : std::string("EICAR-STANDARD-ANTIVIRUS-TEST-FILE")) {
        body += hex[static_cast<unsigned char>(c) >> 4];
        body += hex[static_cast<unsigned char>(c) & 15];
    }
    std::ofstream(dir / "mugaika-test.ndb") << "Mugaika.Test.EICAR:0:*:" << body << "\n";
}

/// Options with a fixed clock and predictable audit ids ("MG-TEST-000001", ...).
inline gateway::Gateway::Options fixed_options(std::string prefix = "MG-TEST-") {
    auto counter = std::make_shared<std::atomic<int>>(0);
    gateway::Gateway::Options o;
    o.now_ms = [] { return std::int64_t{1795219200000}; }; // 2026-11-21T00:00:00Z
    o.new_audit_id = [counter, prefix](std::int64_t) {
        const int n = ++*counter;
        std::string digits = std::to_string(n);
        return prefix + std::string(6 - std::min<std::size_t>(6, digits.size()), '0') + digits;
    };
    return o;
}

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::filesystem::path source_dir() {
    return MUGAIKA_SOURCE_DIR;
}

/// Builds a message from header lines and a body, with CRLF line ends.
inline std::string mail(const std::string& headers, const std::string& body) {
    std::string out;
    auto crlf = [](const std::string& s) {
        std::string r;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
                r += '\r';
            }
            r += s[i];
        }
        return r;
    };
    out = crlf(headers);
    if (out.size() < 2 || out.substr(out.size() - 2) != "\r\n") {
        out += "\r\n";
    }
    out += "\r\n" + crlf(body);
    return out;
}

/// The gateway of a test fixture, opened on first use with fixed_options().
inline gateway::Gateway& open_once(std::unique_ptr<gateway::Gateway>& gw,
                                   const std::shared_ptr<gateway::Config>& cfg) {
    if (!gw) {
        auto g = gateway::Gateway::open(cfg, fixed_options());
        REQUIRE_MESSAGE(g, (g ? std::string() : std::string(g.error().what)));
        gw = std::move(*g);
    }
    return *gw;
}

/// Processes one message from sender@example.com to staff@city.example.lg.jp unless `env`
/// names a sender.
inline gateway::Outcome run_mail(gateway::Gateway& gw, const std::string& message,
                                 gateway::Envelope env = {}) {
    if (env.mail_from.empty()) {
        env.mail_from = "sender@example.com";
        env.rcpt_to = {"staff@city.example.lg.jp"};
    }
    return gw.process(env, gateway::MessageSource{message, -1});
}

/// Every audit row, newest first.
inline std::vector<gateway::AuditRow> all_rows(gateway::Gateway& gw) {
    gateway::AuditQuery q;
    q.limit = 0;
    auto r = gw.audit().query(q);
    REQUIRE(r);
    return *r;
}

} // namespace mugaika::test
