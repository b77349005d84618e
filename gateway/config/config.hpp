#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/archive/archive_inspector.hpp"
#include "filters/cdr/cdr.hpp"
#include "filters/core/result.hpp"
#include "gateway/mime/mime_limits.hpp"
#include "gateway/rules/rules.hpp"

namespace mugaika::gateway {

/// The notice added to every sanitized mail.
struct NoticeConfig {
    bool enabled = true;
    std::string position = "top"; ///< "top" or "bottom" of the text body
    std::string subject_tag;      ///< prepended to the Subject when not empty
    std::string contact;          ///< who to ask for an original
    std::string template_text;    ///< with {placeholders}, see config/mugaika.toml
};

/// How the antivirus scans (`[antivirus] mode`).
enum class AvMode : std::uint8_t {
    Libclamav, ///< libclamav in process: the engine is loaded from `database`
    Clamd,     ///< a running clamd, over its unix socket (INSTREAM)
};

/// One immutable configuration snapshot. Shared as std::shared_ptr<const Config>.
struct Config {
    std::string source; ///< file path or "(built-in)"
    std::string sha256; ///< of the file's bytes
    // [gateway]
    std::string state_dir;
    std::string default_direction = "inbound";
    // [limits]
    std::uint64_t max_message_size = 0;
    std::uint64_t max_part_size = 0;
    std::uint64_t max_output_size = 0;
    MimeLimits mime;
    std::chrono::milliseconds time_budget{0};
    Action on_limit = Action::Reject;
    Action on_timeout = Action::Tempfail;
    Action on_error = Action::Tempfail;
    Action on_unsafe_mime = Action::Text;
    // [text]
    bool prefer_html = true;
    bool defang_links = false;
    std::string output_charset = "utf-8";
    std::string transfer_encoding = "base64";
    std::size_t html_max_depth = 256;
    // [notice]
    NoticeConfig notice;
    // [antivirus]
    bool av_enabled = true;
    AvMode av_mode = AvMode::Libclamav;
    std::string av_clamd_socket;                   ///< clamd's LocalSocket (mode clamd)
    std::chrono::milliseconds av_clamd_timeout{0}; ///< one exchange with clamd (mode clamd)
    std::string av_database;
    std::uint64_t av_max_scan_size = 0;
    std::uint64_t av_max_file_size = 0;
    unsigned av_max_recursion = 16;
    unsigned av_max_files = 10000;
    std::chrono::milliseconds av_max_scan_time{0};
    std::chrono::milliseconds av_check_interval{0};
    // [archive]
    filters::archive::ArchiveLimits archive;
    std::string archive_encrypted_notice;
    // [cdr]
    std::string cdr_helper; ///< empty: mugaika-cdr next to the running program
    std::chrono::milliseconds cdr_time_limit{10000};
    std::chrono::milliseconds cdr_time_per_mb{2000};
    std::chrono::milliseconds cdr_max_time{120000};
    std::uint64_t cdr_memory_limit = 2ULL << 30U;
    Action cdr_on_failure = Action::Strip;
    filters::cdr::Options cdr; ///< engine options; the archive limits come from [archive]
    // [milter]
    std::string milter_listen;
    unsigned milter_socket_mode = 0660;
    std::string milter_socket_group;
    std::string milter_user;
    std::vector<std::string> inbound_daemons;   ///< {daemon_name} values served as inbound
    std::vector<std::string> outbound_daemons;  ///< {daemon_name} values served as outbound
    std::vector<std::string> outbound_networks; ///< client networks (CIDR) treated as outbound
    std::uint64_t spool_memory = 0;             ///< bytes held in memory before a spool file
    std::chrono::milliseconds milter_timeout{0};
    std::chrono::milliseconds shutdown_grace{0};
    // [audit]
    std::string audit_backend = "sqlite"; ///< "sqlite" | "postgresql"
    std::string audit_path;               ///< empty: <state_dir>/audit.db
    std::string audit_connection;         ///< libpq connection string (postgresql)
    unsigned audit_retention_days = 0;    ///< 0: forever
    std::string audit_timezone = "Asia/Tokyo";
    // [quarantine]
    unsigned retention_days = 90; ///< 0: originals are kept forever
    // [release]
    std::string release_relay; ///< "host:port" of an SMTP listener without the milter
    std::string release_from;  ///< envelope sender and From of release mails
    std::chrono::milliseconds release_timeout{0};
    bool release_allow_self_approval = false;
    bool release_allow_infected = false;
    // [console]
    std::string console_listen;     ///< "HOST:PORT" of `mugaika serve`
    std::string console_tls_cert;   ///< PEM certificate; empty together with the key: plain HTTP
    std::string console_tls_key;    ///< PEM private key
    std::string console_users_file; ///< empty: <state_dir>/console-users
    std::chrono::minutes console_session_idle{30};
    std::chrono::hours console_session_max{8};
    unsigned console_lockout_failures = 5;
    std::chrono::minutes console_lockout{15};
    std::size_t console_max_results = 500;
    std::string console_lang = "ja"; ///< "ja" or "en"
    // [[rules]]
    std::vector<Rule> rules;
    std::string ruleset_version; ///< first 12 hex digits of the rules' canonical SHA-256

    [[nodiscard]] std::string audit_db() const;
    [[nodiscard]] std::string quarantine_dir() const;
    [[nodiscard]] std::string console_users() const;
};

/// One problem found in a config file.
struct ConfigProblem {
    std::string file;
    int line = 0;
    std::string setting; ///< "[limits] max_parts" or "rules[2].action"
    std::string message;
};

/// The declaration of one setting: the single place its name, type, default and meaning live.
struct SettingInfo {
    std::string_view section;
    std::string_view key;
    std::string_view type;         ///< "string", "bool", "integer", "size", "duration", or "a|b|c"
    std::string_view default_toml; ///< the default as it is written in TOML
    std::string_view description;
};

/// Every setting, in the order of the shipped file.
[[nodiscard]] const std::vector<SettingInfo>& settings_table();

/// The shipped config/mugaika.toml, compiled in; what applies when no file is given.
[[nodiscard]] std::string_view builtin_config_text();

/// Parses and validates a config. All problems are returned, none is skipped.
[[nodiscard]] tl::expected<std::shared_ptr<const Config>, std::vector<ConfigProblem>>
load_config_text(std::string_view text, const std::string& source);

/// Reads a config file and validates it (see load_config_text).
[[nodiscard]] tl::expected<std::shared_ptr<const Config>, std::vector<ConfigProblem>>
load_config_file(const std::string& path);

/// "file:line: setting: message".
[[nodiscard]] std::string to_string(const ConfigProblem& p);

/// Parses "25MiB", "64KiB", "1GiB", "512B", "10MB" (decimal) into bytes.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view s);
/// Parses "30s", "500ms", "2m", "1h" into milliseconds.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
/// Whether the host of "HOST:PORT" ("127.0.0.1:8025", "[::1]:8025", "localhost:8025") is a
/// loopback address: 127.0.0.0/8, ::1 or the name localhost.
[[nodiscard]] bool is_loopback_listen(std::string_view host_port);
/// Whether s is a bare address "local@domain": printable ASCII, no spaces, quotes, commas or <>.
[[nodiscard]] bool valid_mailbox(std::string_view s) noexcept;

} // namespace mugaika::gateway
