#include "gateway/config/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <arpa/inet.h>

#include <toml.hpp>

#include "filters/text/html_to_text.hpp"
#include "gateway/audit/timezone.hpp"
#include "gateway/util/sha256.hpp"

namespace mugaika::gateway {
namespace {

constexpr std::string_view builtin_source = "(built-in)";

using Apply = std::function<std::string(Config&, const toml::value&)>; // "" when accepted

struct Setting {
    SettingInfo info;
    Apply apply;
};

std::string want_string(const toml::value& v, std::string& out) {
    if (!v.is_string()) {
        return "expected a string";
    }
    out = v.as_string().str;
    return {};
}

Apply string_setting(std::string Config::*member) {
    return [member](Config& c, const toml::value& v) { return want_string(v, c.*member); };
}

Apply bool_setting(std::function<void(Config&, bool)> set) {
    return [set](Config& c, const toml::value& v) -> std::string {
        if (!v.is_boolean()) {
            return "expected true or false";
        }
        set(c, v.as_boolean());
        return {};
    };
}

Apply integer_setting(std::int64_t min, std::int64_t max,
                      std::function<void(Config&, std::int64_t)> set) {
    return [=](Config& c, const toml::value& v) -> std::string {
        if (!v.is_integer()) {
            return "expected an integer";
        }
        const std::int64_t n = v.as_integer();
        if (n < min || n > max) {
            return "must be between " + std::to_string(min) + " and " + std::to_string(max);
        }
        set(c, n);
        return {};
    };
}

Apply size_setting(std::uint64_t min, std::function<void(Config&, std::uint64_t)> set) {
    return [=](Config& c, const toml::value& v) -> std::string {
        if (!v.is_string()) {
            return "expected a size string such as \"25MiB\"";
        }
        auto n = parse_size(v.as_string().str);
        if (!n) {
            return "not a size (use B, KiB, MiB, GiB, KB, MB, GB): \"" + v.as_string().str + "\"";
        }
        if (*n < min) {
            return "must be at least " + std::to_string(min) + " bytes";
        }
        set(c, *n);
        return {};
    };
}

Apply duration_setting(std::function<void(Config&, std::chrono::milliseconds)> set) {
    return [=](Config& c, const toml::value& v) -> std::string {
        if (!v.is_string()) {
            return "expected a duration string such as \"30s\"";
        }
        auto d = parse_duration(v.as_string().str);
        if (!d || d->count() <= 0) {
            return "not a positive duration (use ms, s, m, h): \"" + v.as_string().str + "\"";
        }
        set(c, *d);
        return {};
    };
}

Apply choice_setting(std::vector<std::string> allowed,
                     std::function<void(Config&, const std::string&)> set) {
    return [=](Config& c, const toml::value& v) -> std::string {
        if (!v.is_string()) {
            return "expected a string";
        }
        const std::string& s = v.as_string().str;
        if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed) {
                list += (list.empty() ? "" : ", ") + a;
            }
            return "must be one of " + list + ", not \"" + s + "\"";
        }
        set(c, s);
        return {};
    };
}

Apply list_setting(std::function<std::string(Config&, std::vector<std::string>)> set) {
    return [=](Config& c, const toml::value& v) -> std::string {
        if (!v.is_array()) {
            return "expected a list of strings, e.g. [\"a\", \"b\"]";
        }
        std::vector<std::string> items;
        for (const toml::value& item : v.as_array()) {
            if (!item.is_string() || item.as_string().str.empty()) {
                return "expected a list of non-empty strings";
            }
            items.push_back(item.as_string().str);
        }
        return set(c, std::move(items));
    };
}

/// "10.0.0.0/8", "192.0.2.1", "2001:db8::/32": an address with an optional prefix length.
bool valid_cidr(const std::string& s) {
    const auto slash = s.find('/');
    const std::string addr = s.substr(0, slash);
    const bool v6 = addr.find(':') != std::string::npos;
    unsigned char buf[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) {
        return false;
    }
    if (slash == std::string::npos) {
        return true;
    }
    const std::string bits = s.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 ||
        !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    return std::stoi(bits) <= (v6 ? 128 : 32);
}

/// "127.0.0.1:10025", "relay.example.jp:25": a host and a port 1-65535.
bool valid_host_port(const std::string& s) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size() ||
        s.size() - colon - 1 > 5) {
        return false;
    }
    const std::string port = s.substr(colon + 1);
    return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           std::stoi(port) > 0 && std::stoi(port) < 65536 &&
           std::none_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(colon),
                        [](char c) { return c == ' ' || c == '/'; });
}

Action message_action(const std::string& s) {
    return s == "reject" ? Action::Reject : Action::Tempfail;
}

const std::vector<Setting>& table() {
    static const std::vector<Setting> t = {
        {{"gateway", "state_dir", "string", R"("/var/lib/mugaika")",
          "Directory for the audit database and the quarantine store"},
         string_setting(&Config::state_dir)},
        {{"gateway", "default_direction", "inbound|outbound", R"("inbound")",
          "Direction of mail when the caller does not say"},
         choice_setting({"inbound", "outbound"},
                        [](Config& c, const std::string& s) { c.default_direction = s; })},
        {{"limits", "max_message_size", "size", R"("50MiB")", "Largest message accepted"},
         size_setting(1024, [](Config& c, std::uint64_t n) { c.max_message_size = n; })},
        {{"limits", "max_part_size", "size", R"("25MiB")", "Largest decoded part"},
         size_setting(1, [](Config& c, std::uint64_t n) { c.max_part_size = n; })},
        {{"limits", "max_output_size", "size", R"("64MiB")", "Largest sanitized message"},
         size_setting(1024, [](Config& c, std::uint64_t n) { c.max_output_size = n; })},
        {{"limits", "max_mime_depth", "integer", "32", "Deepest nesting of multiparts"},
         integer_setting(
             1, 1000,
             [](Config& c, std::int64_t n) { c.mime.max_depth = static_cast<std::size_t>(n); })},
        {{"limits", "max_parts", "integer", "1000", "Most MIME entities in one message"},
         integer_setting(
             1, 1000000,
             [](Config& c, std::int64_t n) { c.mime.max_parts = static_cast<std::size_t>(n); })},
        {{"limits", "max_header_size", "size", R"("64KiB")", "Longest single header field"},
         size_setting(256,
                      [](Config& c, std::uint64_t n) {
                          c.mime.max_header_size = static_cast<std::size_t>(n);
                      })},
        {{"limits", "time_budget", "duration", R"("30s")", "Time allowed for one message"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.time_budget = d; })},
        {{"limits", "on_limit", "reject|tempfail", R"("reject")",
          "Answer when a size, depth, count or header limit is exceeded"},
         choice_setting({"reject", "tempfail"},
                        [](Config& c, const std::string& s) { c.on_limit = message_action(s); })},
        {{"limits", "on_timeout", "reject|tempfail", R"("tempfail")",
          "Answer when the time budget runs out"},
         choice_setting({"reject", "tempfail"},
                        [](Config& c, const std::string& s) { c.on_timeout = message_action(s); })},
        {{"limits", "on_error", "reject|tempfail", R"("tempfail")",
          "Answer when a step fails (internal error, storage failure)"},
         choice_setting({"reject", "tempfail"},
                        [](Config& c, const std::string& s) { c.on_error = message_action(s); })},
        {{"limits", "on_unsafe_mime", "sanitize|reject|tempfail", R"("sanitize")",
          "Answer when GMime reports a critical parser problem"},
         choice_setting({"sanitize", "reject", "tempfail"},
                        [](Config& c, const std::string& s) {
                            c.on_unsafe_mime = s == "sanitize" ? Action::Text : message_action(s);
                        })},
        {{"text", "prefer", "html|plain", R"("html")",
          "Which alternative of multipart/alternative becomes the text"},
         choice_setting({"html", "plain"},
                        [](Config& c, const std::string& s) { c.prefer_html = s == "html"; })},
        {{"text", "defang_links", "bool", "false", "Write links as hxxps:// so they are not live"},
         bool_setting([](Config& c, bool b) { c.defang_links = b; })},
        {{"text", "output_charset", "utf-8|iso-2022-jp", R"("utf-8")",
          "Charset of the sanitized text"},
         choice_setting({"utf-8", "iso-2022-jp"},
                        [](Config& c, const std::string& s) { c.output_charset = s; })},
        {{"text", "transfer_encoding", "base64|quoted-printable|8bit", R"("base64")",
          "Transfer encoding of UTF-8 output (ISO-2022-JP is always 7bit)"},
         choice_setting({"base64", "quoted-printable", "8bit"},
                        [](Config& c, const std::string& s) { c.transfer_encoding = s; })},
        {{"text", "html_max_depth", "integer", "256",
          "HTML nesting kept as structure; deeper content is flattened and reported"},
         integer_setting(
             8, static_cast<std::int64_t>(filters::text::html_max_depth_limit),
             [](Config& c, std::int64_t n) { c.html_max_depth = static_cast<std::size_t>(n); })},
        {{"notice", "enabled", "bool", "true", "Add the notice to every sanitized mail"},
         bool_setting([](Config& c, bool b) { c.notice.enabled = b; })},
        {{"notice", "position", "top|bottom", R"("top")", "Where the notice stands"},
         choice_setting({"top", "bottom"},
                        [](Config& c, const std::string& s) { c.notice.position = s; })},
        {{"notice", "subject_tag", "string", R"("")",
          "Prepended to the Subject, e.g. \"[無害化] \""},
         [](Config& c, const toml::value& v) { return want_string(v, c.notice.subject_tag); }},
        {{"notice", "contact", "string", R"("システム管理者 / the system administrator")",
          "Who users ask for an original"},
         [](Config& c, const toml::value& v) { return want_string(v, c.notice.contact); }},
        {{"notice", "template", "string", "",
          "Notice text; placeholders {changes} {audit_id} {contact}"},
         [](Config& c, const toml::value& v) -> std::string {
             std::string err = want_string(v, c.notice.template_text);
             if (err.empty() && c.notice.template_text.find("{audit_id}") == std::string::npos) {
                 return "must contain {audit_id} so that users can ask for the original";
             }
             return err;
         }},
        {{"antivirus", "enabled", "bool", "true",
          "Scan every part and the whole message with ClamAV"},
         bool_setting([](Config& c, bool b) { c.av_enabled = b; })},
        {{"antivirus", "mode", "libclamav|clamd", R"("libclamav")",
          "Scan with libclamav in process, or with a running clamd over its unix socket"},
         choice_setting({"libclamav", "clamd"},
                        [](Config& c, const std::string& s) {
                            c.av_mode = s == "clamd" ? AvMode::Clamd : AvMode::Libclamav;
                        })},
        {{"antivirus", "clamd_socket", "string", R"("/run/clamav/clamd.ctl")",
          "clamd's LocalSocket (mode clamd)"},
         [](Config& c, const toml::value& v) -> std::string {
             if (auto e = want_string(v, c.av_clamd_socket); !e.empty()) {
                 return e;
             }
             // sockaddr_un holds 108 bytes with the terminating NUL.
             if (c.av_clamd_socket.empty() || c.av_clamd_socket.front() != '/' ||
                 c.av_clamd_socket.size() >= 108) {
                 return "expected an absolute path under 108 bytes, not \"" + c.av_clamd_socket +
                        "\"";
             }
             return {};
         }},
        {{"antivirus", "clamd_timeout", "duration", R"("60s")",
          "Longest exchange with clamd for one scan: connect, send, verdict (mode clamd)"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.av_clamd_timeout = d; })},
        {{"antivirus", "database", "string", R"("/var/lib/clamav")",
          "ClamAV signature directory (.cvd/.cld/.hdb/.ndb/.ldb ...; mode libclamav)"},
         string_setting(&Config::av_database)},
        {{"antivirus", "max_scan_size", "size", R"("100MiB")",
          "Bytes scanned per input, all archive layers together (mode clamd: largest input sent)"},
         size_setting(1, [](Config& c, std::uint64_t n) { c.av_max_scan_size = n; })},
        {{"antivirus", "max_file_size", "size", R"("25MiB")",
          "Largest single file or archive member scanned (mode libclamav)"},
         size_setting(1, [](Config& c, std::uint64_t n) { c.av_max_file_size = n; })},
        {{"antivirus", "max_recursion", "integer", "16",
          "Deepest archive nesting scanned (mode libclamav)"},
         integer_setting(
             1, 64,
             [](Config& c, std::int64_t n) { c.av_max_recursion = static_cast<unsigned>(n); })},
        {{"antivirus", "max_files", "integer", "10000",
          "Most archive members scanned per input (mode libclamav)"},
         integer_setting(
             1, 1000000,
             [](Config& c, std::int64_t n) { c.av_max_files = static_cast<unsigned>(n); })},
        {{"antivirus", "max_scan_time", "duration", R"("30s")",
          "Time allowed for one scan (mode libclamav)"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.av_max_scan_time = d; })},
        {{"antivirus", "check_interval", "duration", R"("60s")",
          "How often the database directory is checked for changes (freshclam); clamd: retries"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.av_check_interval = d; })},
        {{"archive", "max_depth", "integer", "4",
          "Deepest archive nesting listed (an archive in an archive is depth 2)"},
         integer_setting(
             1, 32,
             [](Config& c, std::int64_t n) { c.archive.max_depth = static_cast<std::size_t>(n); })},
        {{"archive", "max_members", "integer", "10000", "Most entries listed per attachment"},
         integer_setting(1, 1000000,
                         [](Config& c, std::int64_t n) {
                             c.archive.max_members = static_cast<std::size_t>(n);
                         })},
        {{"archive", "max_expanded_size", "size", R"("500MiB")",
          "Most bytes inflated per attachment, all levels together"},
         size_setting(1024, [](Config& c, std::uint64_t n) { c.archive.max_total_size = n; })},
        {{"archive", "max_member_size", "size", R"("100MiB")", "Most bytes inflated per member"},
         size_setting(1024, [](Config& c, std::uint64_t n) { c.archive.max_member_size = n; })},
        {{"archive", "max_ratio", "integer", "100",
          "Most inflated bytes per compressed byte, once 1 MiB has been inflated"},
         integer_setting(
             2, 100000,
             [](Config& c, std::int64_t n) { c.archive.max_ratio = static_cast<double>(n); })},
        {{"archive", "encrypted_notice", "string",
          R"("パスワード付きの圧縮ファイルは中身を検査できないため受け取れません。送信者に別の方法での送付を依頼してください。 / Password-protected archives cannot be checked and are not accepted; please ask the sender to share the file another way.")",
          "What the notice says about a removed password-protected archive"},
         [](Config& c, const toml::value& v) {
             return want_string(v, c.archive_encrypted_notice);
         }},
        {{"cdr", "helper", "string", R"("")",
          "The mugaika-cdr helper; empty: next to the running program"},
         string_setting(&Config::cdr_helper)},
        {{"cdr", "time_limit", "duration", R"("10s")", "Time for one rebuild of a file up to 1 MB"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.cdr_time_limit = d; })},
        {{"cdr", "time_per_mb", "duration", R"("2s")", "Time added per further MB of input"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.cdr_time_per_mb = d; })},
        {{"cdr", "max_time", "duration", R"("120s")", "Most time for one rebuild"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.cdr_max_time = d; })},
        {{"cdr", "memory_limit", "size", R"("2GiB")", "Address space of the helper process"},
         size_setting(64ULL << 20U, [](Config& c, std::uint64_t n) { c.cdr_memory_limit = n; })},
        {{"cdr", "on_failure", "strip|reject|tempfail", R"("strip")",
          "What happens to a part whose rebuild fails"},
         choice_setting({"strip", "reject", "tempfail"},
                        [](Config& c, const std::string& s) {
                            c.cdr_on_failure = s == "strip"    ? Action::Strip
                                               : s == "reject" ? Action::Reject
                                                               : Action::Tempfail;
                        })},
        {{"cdr", "pdf_links", "text|remove", R"("text")",
          "PDF links: removed and listed as text, or removed"},
         choice_setting({"text", "remove"},
                        [](Config& c, const std::string& s) { c.cdr.pdf_links = s; })},
        {{"cdr", "pdf_flatten", "bool", "false", "Render PDF pages to images (image-only PDF)"},
         bool_setting([](Config& c, bool b) { c.cdr.pdf_flatten = b; })},
        {{"cdr", "flatten_dpi", "integer", "150", "Resolution of flattened PDF pages"},
         integer_setting(
             36, 600,
             [](Config& c, std::int64_t n) { c.cdr.flatten_dpi = static_cast<unsigned>(n); })},
        {{"cdr", "max_pixels", "integer", "100000000",
          "Most pixels of one image (or rendered page) decoded"},
         integer_setting(
             1, 1000000000000,
             [](Config& c, std::int64_t n) { c.cdr.max_pixels = static_cast<std::uint64_t>(n); })},
        {{"cdr", "office_convert", "bool", "false",
          "Convert legacy Office and RTF to PDF with LibreOffice"},
         bool_setting([](Config& c, bool b) { c.cdr.office_convert = b; })},
        {{"cdr", "soffice", "string", R"("/usr/bin/soffice")", "The LibreOffice program"},
         [](Config& c, const toml::value& v) { return want_string(v, c.cdr.soffice); }},
        {{"milter", "listen", "string", R"("unix:/run/mugaika/milter.sock")",
          "Where mugaika-milter listens: unix:PATH or inet:PORT@HOST"},
         [](Config& c, const toml::value& v) -> std::string {
             if (auto e = want_string(v, c.milter_listen); !e.empty()) {
                 return e;
             }
             const std::string& l = c.milter_listen;
             const bool unix_ok = (l.rfind("unix:/", 0) == 0 || l.rfind("local:/", 0) == 0) &&
                                  l.size() - l.find(':') - 1 < 108;
             bool inet_ok = false;
             if (l.rfind("inet:", 0) == 0 || l.rfind("inet6:", 0) == 0) {
                 const std::string rest = l.substr(l.find(':') + 1);
                 const std::string port = rest.substr(0, rest.find('@'));
                 inet_ok = !port.empty() && port.size() <= 5 &&
                           std::all_of(port.begin(), port.end(),
                                       [](char ch) { return ch >= '0' && ch <= '9'; }) &&
                           std::stoi(port) > 0 && std::stoi(port) < 65536;
             }
             if (!unix_ok && !inet_ok) {
                 return "expected \"unix:/absolute/path\" (under 108 bytes) or "
                        "\"inet:PORT@HOST\", not \"" +
                        l + "\"";
             }
             return {};
         }},
        {{"milter", "socket_mode", "string", R"("0660")",
          "Permissions of a unix listen socket, octal"},
         [](Config& c, const toml::value& v) -> std::string {
             std::string m;
             if (auto e = want_string(v, m); !e.empty()) {
                 return e;
             }
             if (m.empty() || m.size() > 4 ||
                 !std::all_of(m.begin(), m.end(), [](char ch) { return ch >= '0' && ch <= '7'; })) {
                 return "expected an octal mode such as \"0660\"";
             }
             c.milter_socket_mode = static_cast<unsigned>(std::stoul(m, nullptr, 8));
             return {};
         }},
        {{"milter", "socket_group", "string", R"("")",
          "Group that owns a unix listen socket (e.g. postfix); empty: unchanged"},
         string_setting(&Config::milter_socket_group)},
        {{"milter", "user", "string", R"("")",
          "User the milter runs as after binding (started as root); empty: unchanged"},
         string_setting(&Config::milter_user)},
        {{"milter", "inbound_daemons", "list", "[]",
          "Postfix {daemon_name} values whose mail is inbound (Internet -> LGWAN)"},
         list_setting([](Config& c, std::vector<std::string> v) {
             c.inbound_daemons = std::move(v);
             return std::string();
         })},
        {{"milter", "outbound_daemons", "list", "[]",
          "Postfix {daemon_name} values whose mail is outbound (LGWAN -> Internet)"},
         list_setting([](Config& c, std::vector<std::string> v) {
             c.outbound_daemons = std::move(v);
             return std::string();
         })},
        {{"milter", "outbound_networks", "list", "[]",
          "Client networks (CIDR) whose mail is outbound when no daemon name decides"},
         list_setting([](Config& c, std::vector<std::string> v) -> std::string {
             for (const auto& n : v) {
                 if (!valid_cidr(n)) {
                     return "not an address or network: \"" + n + "\"";
                 }
             }
             c.outbound_networks = std::move(v);
             return {};
         })},
        {{"milter", "spool_memory", "size", R"("4MiB")",
          "Message bytes held in memory before the rest goes to a spool file"},
         size_setting(0, [](Config& c, std::uint64_t n) { c.spool_memory = n; })},
        {{"milter", "timeout", "duration", R"("300s")",
          "How long the milter waits for the MTA on an open connection"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.milter_timeout = d; })},
        {{"milter", "shutdown_grace", "duration", R"("60s")",
          "How long SIGTERM waits for messages in flight before exiting"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.shutdown_grace = d; })},
        {{"audit", "backend", "sqlite|postgresql", R"("sqlite")",
          "Where the audit trail is stored: one SQLite file, or a PostgreSQL database shared by "
          "several gateways"},
         choice_setting({"sqlite", "postgresql"},
                        [](Config& c, const std::string& s) { c.audit_backend = s; })},
        {{"audit", "path", "string", R"("")", "SQLite audit database; empty: <state_dir>/audit.db"},
         string_setting(&Config::audit_path)},
        {{"audit", "connection", "string", R"("")",
          "PostgreSQL connection string (libpq keywords), for backend = \"postgresql\""},
         string_setting(&Config::audit_connection)},
        {{"audit", "retention_days", "integer", "0",
          "Days audit records are kept (`mugaika audit purge`); 0: forever"},
         integer_setting(
             0, 36500,
             [](Config& c, std::int64_t n) { c.audit_retention_days = static_cast<unsigned>(n); })},
        {{"audit", "timezone", "string", R"("Asia/Tokyo")",
          "Time zone in which audit times are shown and read (IANA name or +HH:MM)"},
         [](Config& c, const toml::value& v) -> std::string {
             if (auto e = want_string(v, c.audit_timezone); !e.empty()) {
                 return e;
             }
             auto tz = TimeZone::load(c.audit_timezone);
             return tz ? std::string() : tz.error().detail;
         }},
        {{"quarantine", "retention_days", "integer", "90",
          "Days an original is kept after its newest audit record; 0: forever"},
         integer_setting(
             0, 36500,
             [](Config& c, std::int64_t n) { c.retention_days = static_cast<unsigned>(n); })},
        {{"release", "relay", "string", R"("127.0.0.1:10025")",
          "SMTP listener (host:port) without the milter that delivers released originals"},
         [](Config& c, const toml::value& v) -> std::string {
             if (auto e = want_string(v, c.release_relay); !e.empty()) {
                 return e;
             }
             return valid_host_port(c.release_relay)
                        ? std::string()
                        : "expected \"HOST:PORT\", not \"" + c.release_relay + "\"";
         }},
        {{"release", "from", "string", R"("mugaika@localhost")",
          "Envelope sender and From of release mails"},
         [](Config& c, const toml::value& v) -> std::string {
             if (auto e = want_string(v, c.release_from); !e.empty()) {
                 return e;
             }
             return valid_mailbox(c.release_from)
                        ? std::string()
                        : "expected an address such as \"mugaika@example.jp\"";
         }},
        {{"release", "timeout", "duration", R"("60s")", "Time allowed for each step of a delivery"},
         duration_setting([](Config& c, std::chrono::milliseconds d) { c.release_timeout = d; })},
        {{"release", "allow_self_approval", "bool", "false",
          "Whether the requester may approve their own release request"},
         bool_setting([](Config& c, bool b) { c.release_allow_self_approval = b; })},
        {{"release", "allow_infected", "bool", "false",
          "Whether an original with an infected part may be released"},
         bool_setting([](Config& c, bool b) { c.release_allow_infected = b; })},
        {{"console", "listen", "string", R"("127.0.0.1:8025")",
          "Address (HOST:PORT) of `mugaika serve`; not loopback only with TLS"},
         [](Config& c, const toml::value& v) -> std::string {
             if (auto e = want_string(v, c.console_listen); !e.empty()) {
                 return e;
             }
             return valid_host_port(c.console_listen)
                        ? std::string()
                        : "expected \"HOST:PORT\", not \"" + c.console_listen + "\"";
         }},
        {{"console", "tls_cert", "string", R"("")",
          "PEM certificate for HTTPS; empty together with tls_key: plain HTTP (loopback only)"},
         string_setting(&Config::console_tls_cert)},
        {{"console", "tls_key", "string", R"("")", "PEM private key of tls_cert"},
         string_setting(&Config::console_tls_key)},
        {{"console", "users_file", "string", R"("")",
          "Console users (name:role:hash); empty: <state_dir>/console-users"},
         string_setting(&Config::console_users_file)},
        {{"console", "session_idle_minutes", "integer", "30",
          "Minutes without a request after which a console session ends"},
         integer_setting(
             1, 1440,
             [](Config& c, std::int64_t n) { c.console_session_idle = std::chrono::minutes(n); })},
        {{"console", "session_max_hours", "integer", "8",
          "Hours after login after which a console session ends even when in use"},
         integer_setting(
             1, 168,
             [](Config& c, std::int64_t n) { c.console_session_max = std::chrono::hours(n); })},
        {{"console", "lockout_failures", "integer", "5",
          "Failed logins per user name or client address that lock logins"},
         integer_setting(1, 100,
                         [](Config& c, std::int64_t n) {
                             c.console_lockout_failures = static_cast<unsigned>(n);
                         })},
        {{"console", "lockout_minutes", "integer", "15",
          "Minutes a lockout lasts, and the window in which failures count"},
         integer_setting(
             1, 1440,
             [](Config& c, std::int64_t n) { c.console_lockout = std::chrono::minutes(n); })},
        {{"console", "max_results", "integer", "500",
          "Largest page of audit records one console or API request may ask for"},
         integer_setting(1, 10000,
                         [](Config& c, std::int64_t n) {
                             c.console_max_results = static_cast<std::size_t>(n);
                         })},
        {{"console", "lang", "ja|en", R"("ja")", "Language of the console by default"},
         choice_setting({"ja", "en"}, [](Config& c, const std::string& s) { c.console_lang = s; })},
    };
    return t;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.hex();
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

int line_of(const toml::value& v) {
    return static_cast<int>(v.location().line());
}

std::string string_list(const toml::value& v, std::vector<std::string>& out, bool lowercase) {
    auto add = [&](const toml::value& item) -> std::string {
        if (!item.is_string() || item.as_string().str.empty()) {
            return "expected non-empty strings";
        }
        out.push_back(lowercase ? lower(item.as_string().str) : item.as_string().str);
        return {};
    };
    if (v.is_array()) {
        for (const toml::value& item : v.as_array()) {
            if (auto e = add(item); !e.empty()) {
                return e;
            }
        }
        return {};
    }
    return add(v);
}

void parse_rules(const toml::value& rules, const std::string& file, Config& cfg,
                 std::vector<ConfigProblem>& problems) {
    if (!rules.is_array()) {
        problems.push_back({file, line_of(rules), "rules", "expected [[rules]] tables"});
        return;
    }
    std::set<std::string> ids;
    std::size_t index = 0;
    std::string canonical;
    for (const toml::value& item : rules.as_array()) {
        ++index;
        const std::string where = "rules[" + std::to_string(index) + "]";
        if (!item.is_table()) {
            problems.push_back({file, line_of(item), where, "expected a table"});
            continue;
        }
        Rule r;
        r.line = line_of(item);
        bool has_action = false;
        for (const auto& [key, v] : item.as_table()) {
            std::string err;
            if (key == "id") {
                err = want_string(v, r.id);
            } else if (key == "description") {
                err = want_string(v, r.description);
            } else if (key == "direction") {
                err = want_string(v, r.direction);
                if (err.empty() && r.direction != "inbound" && r.direction != "outbound" &&
                    r.direction != "any") {
                    err = "must be inbound, outbound or any";
                }
                if (r.direction == "any") {
                    r.direction.clear();
                }
            } else if (key == "role") {
                std::string s;
                err = want_string(v, s);
                if (s == "body") {
                    r.role = Role::Body;
                } else if (s == "attachment") {
                    r.role = Role::Attachment;
                } else if (s == "any") {
                    r.role = Role::Any;
                } else if (err.empty()) {
                    err = "must be body, attachment or any";
                }
            } else if (key == "sender") {
                err = string_list(v, r.senders, true);
            } else if (key == "recipient") {
                err = string_list(v, r.recipients, true);
            } else if (key == "declared_type") {
                err = string_list(v, r.declared_types, true);
            } else if (key == "detected_type") {
                err = string_list(v, r.detected_types, true);
            } else if (key == "extension") {
                err = string_list(v, r.extensions, true);
                for (auto& e : r.extensions) {
                    if (!e.empty() && e.front() == '.') {
                        e.erase(0, 1);
                    }
                }
            } else if (key == "cdr") {
                if (!v.is_boolean()) {
                    err = "expected true or false";
                } else {
                    r.cdr = v.as_boolean();
                }
            } else if (key == "mismatch" || key == "name_trick" || key == "encrypted") {
                if (!v.is_boolean()) {
                    err = "expected true or false";
                } else {
                    (key == "mismatch"     ? r.mismatch
                     : key == "name_trick" ? r.name_trick
                                           : r.encrypted) = v.as_boolean();
                }
            } else if (key == "archive") {
                err = string_list(v, r.archive, true);
                for (const auto& a : r.archive) {
                    if (err.empty() && a != "none" && a != "listed" && a != "encrypted" &&
                        a != "limit_exceeded" && a != "corrupt") {
                        err = "must be none, listed, encrypted, limit_exceeded or corrupt, not \"" +
                              a + "\"";
                    }
                }
            } else if (key == "contains") {
                std::vector<std::string> names;
                err = string_list(v, names, true);
                for (const auto& n : names) {
                    const auto bit = content_bit(n);
                    if (err.empty() && !bit) {
                        err = "must name one of " + content_names_all() + ", not \"" + n + "\"";
                    }
                    r.contains |= bit.value_or(0);
                }
            } else if (key == "av") {
                err = string_list(v, r.av, true);
                for (const auto& a : r.av) {
                    if (err.empty() && a != "clean" && a != "infected" && a != "incomplete" &&
                        a != "unscanned") {
                        err = "must be clean, infected, incomplete or unscanned, not \"" + a + "\"";
                    }
                }
            } else if (key == "min_size" || key == "max_size") {
                std::string s;
                err = want_string(v, s);
                auto n = parse_size(s);
                if (err.empty() && !n) {
                    err = "not a size: \"" + s + "\"";
                }
                (key == "min_size" ? r.min_size : r.max_size) = n;
            } else if (key == "action") {
                has_action = true; // a bad value is reported once, below
                std::string s;
                err = want_string(v, s);
                auto a = parse_action(s);
                if (err.empty() && !a) {
                    err = "must be text, keep, cdr, strip, reject, quarantine or discard, not \"" +
                          s + "\"";
                }
                if (a) {
                    r.action = *a;
                }
            } else {
                err = "unknown rule field";
            }
            if (!err.empty()) {
                problems.push_back({file, line_of(v), where + "." + key, err});
            }
        }
        if (r.id.empty()) {
            problems.push_back({file, r.line, where + ".id", "every rule needs an id"});
        } else if (!ids.insert(r.id).second) {
            problems.push_back({file, r.line, where + ".id", "duplicate rule id \"" + r.id + "\""});
        }
        if (!has_action) {
            problems.push_back({file, r.line, where + ".action", "every rule needs an action"});
        }
        canonical += toml::format(item) + "\n";
        cfg.rules.push_back(std::move(r));
    }
    cfg.ruleset_version = sha256_hex(canonical).substr(0, 12);
}

} // namespace

const std::vector<SettingInfo>& settings_table() {
    static const std::vector<SettingInfo> infos = [] {
        std::vector<SettingInfo> v;
        for (const Setting& s : table()) {
            v.push_back(s.info);
        }
        return v;
    }();
    return infos;
}

std::string Config::audit_db() const {
    return audit_path.empty() ? state_dir + "/audit.db" : audit_path;
}

std::string Config::quarantine_dir() const {
    return state_dir + "/quarantine";
}

std::string Config::console_users() const {
    return console_users_file.empty() ? state_dir + "/console-users" : console_users_file;
}

bool is_loopback_listen(std::string_view host_port) {
    const auto colon = host_port.rfind(':');
    std::string host(
        host_port.substr(0, colon == std::string_view::npos ? host_port.size() : colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host == "localhost") {
        return true;
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
        return buf[0] == 127;
    }
    if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
        static constexpr unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return std::equal(std::begin(buf), std::end(buf), std::begin(loop6));
    }
    return false;
}

tl::expected<std::shared_ptr<const Config>, std::vector<ConfigProblem>>
load_config_text(std::string_view text, const std::string& source) {
    std::vector<ConfigProblem> problems;
    auto cfg = std::make_shared<Config>();
    cfg->source = source;
    cfg->sha256 = sha256_hex(text);

    toml::value root;
    try {
        std::istringstream in{std::string(text)};
        root = toml::parse(in, source);
    } catch (const toml::syntax_error& e) {
        problems.push_back({source, static_cast<int>(e.location().line()), "(syntax)", e.what()});
        return tl::unexpected(std::move(problems));
    } catch (const std::exception& e) {
        problems.push_back({source, 0, "(syntax)", e.what()});
        return tl::unexpected(std::move(problems));
    }

    // Defaults first, from the same table, so that a file may leave any setting out.
    for (const Setting& s : table()) {
        if (s.info.default_toml.empty()) {
            continue;
        }
        try {
            std::istringstream in("v = " + std::string(s.info.default_toml));
            toml::value d = toml::parse(in, "(default)");
            if (auto err = s.apply(*cfg, d.at("v")); !err.empty()) {
                problems.push_back({"(default)", 0, std::string(s.info.key), err});
            }
        } catch (const std::exception& e) {
            problems.push_back({"(default)", 0, std::string(s.info.key), e.what()});
        }
    }

    if (!root.is_table()) {
        problems.push_back({source, 0, "(file)", "not a TOML table"});
        return tl::unexpected(std::move(problems));
    }
    std::map<std::string, int> console_lines; // key -> line, for the checks across settings
    for (const auto& [section, body] : root.as_table()) {
        if (section == "rules") {
            parse_rules(body, source, *cfg, problems);
            continue;
        }
        if (!body.is_table()) {
            problems.push_back({source, line_of(body), section, "unknown top-level setting"});
            continue;
        }
        for (const auto& [key, v] : body.as_table()) {
            const std::string name = "[" + section + "] " + key;
            auto it = std::find_if(table().begin(), table().end(), [&](const Setting& s) {
                return s.info.section == section && s.info.key == key;
            });
            if (it == table().end()) {
                problems.push_back({source, line_of(v), name, "unknown setting"});
                continue;
            }
            if (auto err = it->apply(*cfg, v); !err.empty()) {
                problems.push_back({source, line_of(v), name, err});
            }
            if (section == "console") {
                console_lines[key] = line_of(v);
            }
        }
    }
    // [console]: TLS is all or nothing, and only loopback may do without it.
    if (cfg->console_tls_cert.empty() != cfg->console_tls_key.empty()) {
        const std::string missing = cfg->console_tls_cert.empty() ? "tls_cert" : "tls_key";
        const std::string given = cfg->console_tls_cert.empty() ? "tls_key" : "tls_cert";
        problems.push_back({source, console_lines[given], "[console] " + missing,
                            "must be set together with " + given});
    } else if (cfg->console_tls_cert.empty() && valid_host_port(cfg->console_listen) &&
               !is_loopback_listen(cfg->console_listen)) {
        problems.push_back({source, console_lines["listen"], "[console] listen",
                            "\"" + cfg->console_listen +
                                "\" is not a loopback address: set tls_cert and tls_key (plain "
                                "HTTP only on 127.0.0.1, ::1 or localhost)"});
    }
    if (cfg->notice.template_text.empty() && source != builtin_source) {
        // A site file may leave the notice out: the shipped template applies.
        if (auto builtin = load_config_text(builtin_config_text(), std::string(builtin_source))) {
            cfg->notice.template_text = (*builtin)->notice.template_text;
        }
    }
    if (cfg->notice.template_text.empty()) {
        problems.push_back({source, 0, "[notice] template", "the notice template is missing"});
    }
    if (cfg->state_dir.empty()) {
        problems.push_back({source, 0, "[gateway] state_dir", "must not be empty"});
    }
    if (cfg->audit_backend == "postgresql" && cfg->audit_connection.empty()) {
        problems.push_back({source, 0, "[audit] connection",
                            "backend = \"postgresql\" needs a connection string"});
    }
    if (cfg->audit_retention_days != 0 &&
        (cfg->retention_days == 0 || cfg->audit_retention_days < cfg->retention_days)) {
        // An original must never outlive the record that explains it.
        problems.push_back({source, 0, "[audit] retention_days",
                            "must be 0 or at least [quarantine] retention_days (" +
                                std::to_string(cfg->retention_days) +
                                "; 0 there means originals are kept forever)"});
    }
    if (cfg->ruleset_version.empty()) {
        cfg->ruleset_version = sha256_hex("").substr(0, 12);
    }
    if (!problems.empty()) {
        // TOML tables are unordered: report in file order.
        std::stable_sort(
            problems.begin(), problems.end(),
            [](const ConfigProblem& a, const ConfigProblem& b) { return a.line < b.line; });
        return tl::unexpected(std::move(problems));
    }
    return std::shared_ptr<const Config>(std::move(cfg));
}

tl::expected<std::shared_ptr<const Config>, std::vector<ConfigProblem>>
load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return tl::unexpected(std::vector<ConfigProblem>{{path, 0, "(file)", "cannot be read"}});
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return load_config_text(ss.str(), path);
}

std::string to_string(const ConfigProblem& p) {
    std::string out = p.file;
    if (p.line > 0) {
        out += ":" + std::to_string(p.line);
    }
    out += ": " + p.setting + ": " + p.message;
    return out;
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || ptr == s.data()) {
        return std::nullopt;
    }
    std::string_view unit(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr));
    while (!unit.empty() && unit.front() == ' ') {
        unit.remove_prefix(1);
    }
    static const std::pair<std::string_view, std::uint64_t> units[] = {
        {"B", 1},     {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
        {"KB", 1000}, {"MB", 1000000},     {"GB", 1000000000},
    };
    for (const auto& [name, mult] : units) {
        if (unit == name) {
            if (n > UINT64_MAX / mult) {
                return std::nullopt;
            }
            return n * mult;
        }
    }
    return std::nullopt;
}

bool valid_mailbox(std::string_view s) noexcept {
    const auto at = s.rfind('@');
    return at != std::string_view::npos && at > 0 && at + 1 < s.size() &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '"' && c != ',';
           });
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
    std::int64_t n = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || ptr == s.data() || n < 0) {
        return std::nullopt;
    }
    std::string_view unit(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr));
    if (unit == "ms") {
        return std::chrono::milliseconds(n);
    }
    if (unit == "s") {
        return std::chrono::milliseconds(n * 1000);
    }
    if (unit == "m") {
        return std::chrono::milliseconds(n * 60000);
    }
    if (unit == "h") {
        return std::chrono::milliseconds(n * 3600000);
    }
    return std::nullopt;
}

} // namespace mugaika::gateway
