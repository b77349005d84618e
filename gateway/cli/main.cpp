// mugaika: the command line of the sanitization gateway.
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <Poco/Net/SSLManager.h>
#include <fmt/format.h>
#include <gmime/gmime.h>

#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/audit_views.hpp"
#include "gateway/cli/json_out.hpp"
#include "gateway/config/config.hpp"
#include "gateway/console/console_server.hpp"
#include "gateway/console/users_file.hpp"
#include "gateway/log/log.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/pipeline/libraries.hpp"
#include "gateway/quarantine/purge.hpp"
#include "gateway/quarantine/quarantine_store.hpp"
#include "gateway/quarantine/quarantine_views.hpp"
#include "gateway/quarantine/release.hpp"
#include "gateway/quarantine/smtp_sender.hpp"

namespace {

using namespace mugaika::gateway;

constexpr int exit_ok = 0;
constexpr int exit_internal = 1;
constexpr int exit_usage = 2;
constexpr int exit_rejected = 3;
constexpr int exit_tempfail = 4;
constexpr int exit_held = 5; ///< accepted, nothing to deliver: quarantined or discarded

constexpr const char* main_help = R"(usage: mugaika [--config FILE] [--state-dir DIR] COMMAND [ARGS]

Sanitizes Internet mail into safe, readable text for the LGWAN side, keeps every original,
and records every step in a hash-chained audit trail.

commands:
  sanitize IN.eml [-o OUT.eml]     sanitize one mail (stdin/stdout when omitted)
  sanitize-file IN [-o OUT]        one file through type, antivirus, rules and CDR
  rules explain MAIL.eml           show the rule and action for every part, changing nothing
  config check [FILE]              report every problem in a config file
  quarantine list|show|export      the kept originals: list them, show one, write one back
  quarantine request|approve|...   release an original with a second person's approval
  quarantine purge                 remove originals past [quarantine] retention_days
  audit query [FILTERS]            list audit records
  audit verify                     check the hash chain of the audit trail
  serve                            the auditors' web console and JSON API ([console])
  console user add|passwd|remove|list   manage the console's users

global options:
  --config FILE     config file (default: the shipped defaults, config/mugaika.toml)
  --state-dir DIR   overrides [gateway] state_dir
  -v, --verbose     log one line per message (info); twice for debug
  --syslog          log to syslog (facility mail) instead of stderr
  --help            this text; `mugaika COMMAND --help` for a command
  --version         print the version

exit codes: 0 written, 3 rejected (refused) by policy, 4 temporary failure, 5 accepted but
nothing to deliver (quarantined or discarded by a rule), 2 usage or config error, 1 internal
error
)";

constexpr const char* sanitize_help =
    R"(usage: mugaika [--config FILE] [--state-dir DIR] sanitize [OPTIONS] [IN.eml] [-o OUT.eml]

Sanitizes one mail: keeps the original in the quarantine store, converts the body to plain text,
removes attachments as the rules say, writes the sanitized mail, and audits every step.

options:
  -o, --output FILE       where to write the sanitized mail (default: stdout)
  --direction DIR         inbound (Internet -> LGWAN, default) or outbound
  --from ADDR             envelope sender, for rules that match on it
  --rcpt ADDR             envelope recipient (repeatable)
  --json                  print the outcome as JSON on stdout (the mail then needs -o)

exit codes: 0 written, 3 rejected by policy, 4 temporary failure (retry later), 5 accepted but
nothing written (a rule quarantined or discarded the mail; the original is kept), 2 usage or
config error, 1 internal error
)";

constexpr const char* sanitize_file_help =
    R"(usage: mugaika [--config FILE] [--state-dir DIR] sanitize-file [OPTIONS] IN [-o OUT]

The file gateway: runs one file through the steps of a mail attachment (true type, ClamAV,
archive listing, the rules with role "attachment", CDR), keeps the original in the quarantine
store, audits every step, and writes the rebuilt file (action cdr), the converted text (text) or
the file itself (keep). A file the rules strip or reject is not written.

options:
  -o, --output FILE       where to write the result (default: stdout)
  --name NAME             the file's name for the rules (default: IN's name; needed for stdin)
  --direction DIR         inbound (default) or outbound
  --from ADDR, --rcpt ADDR   sender and recipients, for rules that match them
  --json                  print the outcome as JSON on stdout (the file then needs -o)

exit codes: 0 written, 3 refused by policy (stripped or rejected), 4 temporary failure, 5
quarantined or discarded, 2 usage or config error, 1 internal error
)";

constexpr const char* explain_help =
    R"(usage: mugaika [--config FILE] rules explain [--direction DIR] [--from ADDR] [--rcpt ADDR] [--json] MAIL.eml

Shows, for every part of MAIL.eml, its path, name, declared and detected types, size, role, and
the rule and action that apply. Nothing is written: no quarantine, no audit.
)";

constexpr const char* config_help = R"(usage: mugaika config check [FILE]

Validates FILE (default: --config, or the shipped defaults) and reports every problem as
FILE:LINE: SETTING: MESSAGE. Exit 0 when the file is valid, 2 otherwise.
)";

constexpr const char* quarantine_help =
    R"(usage: mugaika [--state-dir DIR] quarantine list [--format table|json] [--limit N] [--offset N]
       mugaika [--state-dir DIR] quarantine show ID
       mugaika [--state-dir DIR] quarantine export ID -o FILE

       mugaika [--state-dir DIR] quarantine request ID --part PATH|--all --to ADDR --reason TEXT [--as NAME]
       mugaika [--state-dir DIR] quarantine requests [--format table|json] [--all]
       mugaika [--state-dir DIR] quarantine approve REQ --as NAME [--reason TEXT]
       mugaika [--state-dir DIR] quarantine refuse REQ --as NAME --reason TEXT
       mugaika [--state-dir DIR] quarantine purge [--dry-run] [--now TIME] [--as NAME]

Every original is kept before any answer is given. `list` shows them newest first (time, id,
audit id, verdict, reason, size, sender, subject); `show` tells the story of one: envelope, parts
with names, declared and detected types, actions and sizes; `export` writes it byte for byte.
ID is the quarantine id (SHA-256) or the audit id shown in the notice.

Release: `request` files a request for the whole original (--all, byte for byte) or one part
(--part, a path shown by `show`) and prints its id; another person approves it (`approve`), and
it is delivered through [release] relay; or refuses it (`refuse`). `requests` lists pending ones
(--all: decided ones too). NAME defaults to the login user (SUDO_USER under sudo).
`purge` removes originals whose newest record is older than [quarantine] retention_days, except
those with a pending request, and audits what it removed.
exit codes: 0 done, 2 usage or unknown id, 3 refused by policy (same person, infected, not
pending), 4 temporary failure (relay down), 1 other errors
)";

constexpr const char* audit_help =
    R"(usage: mugaika [--state-dir DIR] audit query [FILTERS] [--format table|json|csv] [--zone ZONE]
       mugaika [--state-dir DIR] audit show AUDIT-ID [--format text|json] [--zone ZONE]
       mugaika [--state-dir DIR] audit report --month YYYY-MM [--format html|csv|json]
               [--lang ja|en] [--zone ZONE] [-o FILE]
       mugaika [--state-dir DIR] audit verify [--seal SEAL]...
       mugaika [--state-dir DIR] audit seal
       mugaika [--state-dir DIR] audit purge [--dry-run] [--now TIME] [--as NAME]
       mugaika [--config FILE] audit migrate [--from SQLITE_FILE] [--to CONNINFO]

query filters:
  --since TIME, --until TIME   ISO 8601 ("2026-11-21" or "2026-11-21T09:00:00+09:00") or unix ms
  --sender ADDR|DOMAIN, --recipient ADDR|DOMAIN, --message-id ID, --audit-id ID
  --verdict V, --action A, --rule ID, --filter NAME, --filename TEXT, --sha256 HEX,
  --direction DIR, --limit N (default 100), --offset N
verify: recomputes the whole hash chain; exit 0 only when it is whole. With --seal (repeatable),
  also proves that each sealed row is unchanged and that nothing after it was cut off.
seal: verifies the chain, then prints its head as a seal to be written down outside the system.
purge: removes records older than [audit] retention_days through a checkpoint row; the rest of
  the chain still verifies. Run it daily.
migrate: copies the SQLite trail (default: this config's database) into an empty PostgreSQL
  database (default: [audit] connection), seq and hashes unchanged, then verifies the copy.
show: the story of one mail: envelope, hashes, every part and step (removed objects, URLs),
  then its release requests, decisions and purges. Exit 2 for an unknown id.
report: monthly statistics of the local month; html (one self-contained, printable file),
  csv (Excel: UTF-8 with BOM) or json. Default html in Japanese on stdout.
--zone: an IANA zone ("Asia/Tokyo", "Europe/Berlin"), "UTC" or "+09:00" for the times shown
  and for --since/--until without an offset (default: [audit] timezone, Asia/Tokyo).
  --format csv writes UTF-8 with a BOM and CRLF, one line per event, for Excel.
)";

struct Global {
    std::optional<std::string> config_file;
    std::optional<std::string> state_dir;
};

[[noreturn]] void usage_error(const std::string& msg) {
    std::cerr << "mugaika: " << msg << " (see mugaika --help)\n";
    std::exit(exit_usage);
}

bool is_help(const std::string& a) {
    return a == "--help" || a == "-h";
}

/// The value of --format: "table" or "json".
std::string table_or_json(const std::string& v) {
    if (v != "table" && v != "json") {
        usage_error("--format must be table or json");
    }
    return v;
}

/// The value of a counting option (--limit, --offset): a whole number.
std::size_t count_of(const std::string& option, const std::string& v) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') {
        usage_error(option + " needs a number");
    }
    return static_cast<std::size_t>(n);
}

std::string default_state_dir(const std::string& configured) {
    // A user who cannot write the shipped state dir gets a private one.
    std::error_code ec;
    std::filesystem::create_directories(configured, ec);
    if (!ec && ::access(configured.c_str(), W_OK) == 0) {
        return configured;
    }
    const char* xdg = std::getenv("XDG_STATE_HOME");
    if (xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/mugaika";
    }
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr ? home : "/tmp") + "/.local/state/mugaika";
}

/// Loads the config named by --config (or the built-in one) and applies --state-dir; with
/// resolve_state, a user who cannot write the default state dir gets a private one.
std::shared_ptr<const Config> load(const Global& g, bool resolve_state = true) {
    auto cfg = g.config_file ? load_config_file(*g.config_file)
                             : load_config_text(builtin_config_text(), "(built-in)");
    if (!cfg) {
        for (const auto& p : cfg.error()) {
            std::cerr << "mugaika: config: " << to_string(p) << "\n";
        }
        std::exit(exit_usage);
    }
    auto copy = std::make_shared<Config>(**cfg);
    if (g.state_dir) {
        copy->state_dir = *g.state_dir;
    } else if (!g.config_file && resolve_state) {
        copy->state_dir = default_state_dir(copy->state_dir);
    }
    return copy;
}

/// Opens the stores; the ClamAV engine is loaded only for commands that scan (sanitize): reading
/// the audit trail or the quarantine must work without a signature database.
std::unique_ptr<Gateway> open_gateway(const Global& g, bool scanning = false) {
    auto cfg = load(g);
    if (!scanning) {
        auto copy = std::make_shared<Config>(*cfg);
        copy->av_enabled = false;
        cfg = copy;
    }
    auto gw = Gateway::open(cfg);
    if (!gw) {
        std::cerr << "mugaika: cannot start: " << gw.error().what << ": " << gw.error().detail
                  << "\n";
        if (gw.error().what.rfind("av.", 0) == 0) {
            if (cfg->av_mode == AvMode::Clamd) {
                std::cerr << "mugaika: the antivirus needs a running clamd at [antivirus] "
                             "clamd_socket, or [antivirus] enabled = false\n";
            } else {
                std::cerr << "mugaika: the antivirus needs a ClamAV database in [antivirus] "
                             "database (freshclam), or [antivirus] enabled = false\n";
            }
        }
        std::exit(exit_internal);
    }
    if (scanning) {
        // Mail is processed under this config: the policy load is audited first.
        if (auto rec = record_config_load((*gw)->audit(), *cfg, "cli", ""); !rec) {
            std::cerr << "mugaika: cannot audit the config load: " << rec.error().what << ": "
                      << rec.error().detail << "\n";
            std::exit(exit_internal);
        }
    }
    return std::move(*gw);
}

/// An input mail: the bytes and, for a regular file, an open descriptor GMime may read.
struct Input {
    std::string bytes;
    int fd = -1;
    Input() = default;
    Input(const Input&) = delete;
    Input& operator=(const Input&) = delete;
    ~Input() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

std::unique_ptr<Input> read_input(const std::optional<std::string>& path) {
    auto in = std::make_unique<Input>();
    if (!path || *path == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        in->bytes = ss.str();
        return in;
    }
    in->fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
        std::cerr << "mugaika: cannot read " << *path << ": " << std::strerror(errno) << "\n";
        std::exit(exit_usage);
    }
    struct stat st {};
    if (::fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        std::cerr << "mugaika: not a regular file: " << *path << "\n";
        std::exit(exit_usage);
    }
    in->bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t off = 0;
    while (off < in->bytes.size()) {
        const ssize_t n = ::pread(in->fd, in->bytes.data() + off, in->bytes.size() - off,
                                  static_cast<off_t>(off));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            std::cerr << "mugaika: cannot read " << *path << "\n";
            std::exit(exit_internal);
        }
        off += static_cast<std::size_t>(n);
    }
    return in;
}

bool write_output(const std::optional<std::string>& path, std::string_view data) {
    if (!path || *path == "-") {
        std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
        std::cout.flush();
        return static_cast<bool>(std::cout);
    }
    // Only a regular file (or a new one) is replaced through a temporary file and rename; a
    // device, FIFO or socket (`-o /dev/null`, `-o /dev/stdout`) is written in place: renaming
    // over it would replace the device node itself.
    struct stat st {};
    if (::stat(path->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            return false;
        }
        std::ofstream out(*path, std::ios::binary);
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
        out.flush();
        return static_cast<bool>(out);
    }
    const std::string tmp = *path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
        if (!out) {
            return false;
        }
    }
    return std::rename(tmp.c_str(), path->c_str()) == 0;
}

struct EnvelopeArgs {
    Envelope env;
    bool json = false;
    std::optional<std::string> input;
    std::optional<std::string> output;
};

EnvelopeArgs parse_envelope_args(const std::vector<std::string>& args, bool allow_output) {
    EnvelopeArgs a;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& s = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                usage_error(s + " needs a value");
            }
            return args[++i];
        };
        if (s == "--direction") {
            a.env.direction = value();
            if (a.env.direction != "inbound" && a.env.direction != "outbound") {
                usage_error("--direction must be inbound or outbound");
            }
        } else if (s == "--from") {
            a.env.mail_from = value();
        } else if (s == "--rcpt") {
            a.env.rcpt_to.push_back(value());
        } else if (s == "--json") {
            a.json = true;
        } else if (allow_output && (s == "-o" || s == "--output")) {
            a.output = value();
        } else if (s.size() > 1 && s.front() == '-') {
            usage_error("unknown option " + s);
        } else if (!a.input) {
            a.input = s;
        } else {
            usage_error("more than one input file");
        }
    }
    return a;
}

/// The exit code of an outcome, with the reason on stderr: as an MTA would see the answer.
int exit_for(const Outcome& o) {
    switch (o.disposition) {
    case Disposition::Deliver:
        return exit_ok;
    case Disposition::Reject:
        std::cerr << "mugaika: rejected: " << o.smtp_reply << "\n";
        return exit_rejected;
    case Disposition::Tempfail:
        std::cerr << "mugaika: temporary failure: " << o.smtp_reply << "\n";
        return exit_tempfail;
    case Disposition::Quarantine:
        std::cerr << "mugaika: quarantined: nothing written; the original waits for an admin's "
                     "release ("
                  << o.reason << "; audit " << o.audit_id << ")\n";
        return exit_held;
    case Disposition::Discard:
        std::cerr << "mugaika: discarded: nothing written (" << o.reason << "; audit " << o.audit_id
                  << ")\n";
        return exit_held;
    }
    return exit_internal;
}

int cmd_sanitize(const Global& g, const std::vector<std::string>& args) {
    for (const auto& a : args) {
        if (is_help(a)) {
            std::cout << sanitize_help;
            return exit_ok;
        }
    }
    EnvelopeArgs a = parse_envelope_args(args, true);
    if (a.json && !a.output) {
        usage_error("--json prints the outcome on stdout: give the mail a file with -o");
    }
    auto in = read_input(a.input);
    auto gw = open_gateway(g, true);
    Outcome o = gw->process(a.env, MessageSource{in->bytes, in->fd});
    if (o.disposition == Disposition::Deliver && !write_output(a.output, o.output)) {
        std::cerr << "mugaika: cannot write the sanitized mail\n";
        return exit_internal;
    }
    if (a.json) {
        std::cout << outcome_json(o) << "\n";
    }
    return exit_for(o);
}

int cmd_sanitize_file(const Global& g, const std::vector<std::string>& args) {
    std::vector<std::string> rest;
    std::optional<std::string> name;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (is_help(args[i])) {
            std::cout << sanitize_file_help;
            return exit_ok;
        }
        if (args[i] == "--name") {
            if (i + 1 >= args.size()) {
                usage_error("--name needs a value");
            }
            name = args[++i];
        } else {
            rest.push_back(args[i]);
        }
    }
    EnvelopeArgs a = parse_envelope_args(rest, true);
    if (!a.input) {
        usage_error("sanitize-file needs a file (or - with --name)");
    }
    if (a.json && !a.output) {
        usage_error("--json prints the outcome on stdout: give the file a name with -o");
    }
    if (!name) {
        if (*a.input == "-") {
            usage_error("a file read from stdin needs --name (the rules match its extension)");
        }
        name = std::filesystem::path(*a.input).filename().string();
    }
    auto in = read_input(a.input);
    auto gw = open_gateway(g, true);
    Outcome o = gw->process_file(a.env, FileSource{in->bytes, *name});
    if (o.disposition == Disposition::Deliver && !write_output(a.output, o.output)) {
        std::cerr << "mugaika: cannot write the sanitized file\n";
        return exit_internal;
    }
    if (a.json) {
        std::cout << outcome_json(o) << "\n";
    } else if (o.disposition == Disposition::Deliver && o.output_filename != *name) {
        std::cerr << "mugaika: rebuilt as " << o.output_filename << "\n";
    }
    return exit_for(o);
}

int cmd_rules(const Global& g, const std::vector<std::string>& args) {
    if (args.empty() || is_help(args.front())) {
        std::cout << explain_help;
        return args.empty() ? exit_usage : exit_ok;
    }
    if (args.front() != "explain") {
        usage_error("unknown rules command " + args.front());
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& s : rest) {
        if (is_help(s)) {
            std::cout << explain_help;
            return exit_ok;
        }
    }
    EnvelopeArgs a = parse_envelope_args(rest, false);
    if (!a.input) {
        usage_error("rules explain needs a mail file");
    }
    auto in = read_input(a.input);
    auto cfg = load(g, false);
    // explain writes nothing: the gateway is opened on a private temporary state dir.
    auto copy = std::make_shared<Config>(*cfg);
    const std::string tmp = std::filesystem::temp_directory_path().string() + "/mugaika-explain-" +
                            std::to_string(::getpid());
    copy->state_dir = tmp;
    copy->audit_path.clear();
    copy->av_enabled = false; // explain classifies; it does not scan
    auto gw = Gateway::open(copy);
    if (!gw) {
        std::cerr << "mugaika: " << gw.error().what << "\n";
        return exit_internal;
    }
    auto parts = (*gw)->explain(a.env, MessageSource{in->bytes, in->fd});
    gw->reset();
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    if (!parts) {
        std::cerr << "mugaika: the mail cannot be classified: " << parts.error().what << " "
                  << parts.error().detail << "\n";
        return exit_rejected;
    }
    if (a.json) {
        std::cout << parts_json(*parts, cfg->ruleset_version) << "\n";
    } else {
        std::cout << parts_table(*parts, cfg->ruleset_version);
    }
    return exit_ok;
}

int cmd_config(const Global& g, const std::vector<std::string>& args) {
    if (args.empty() || is_help(args.front())) {
        std::cout << config_help;
        return args.empty() ? exit_usage : exit_ok;
    }
    if (args.front() != "check") {
        usage_error("unknown config command " + args.front());
    }
    std::optional<std::string> file = g.config_file;
    if (args.size() > 1) {
        if (is_help(args[1])) {
            std::cout << config_help;
            return exit_ok;
        }
        file = args[1];
    }
    auto cfg =
        file ? load_config_file(*file) : load_config_text(builtin_config_text(), "(built-in)");
    if (!cfg) {
        for (const auto& p : cfg.error()) {
            std::cout << to_string(p) << "\n";
        }
        std::cout << cfg.error().size() << " problem" << (cfg.error().size() == 1 ? "" : "s")
                  << " found\n";
        return exit_usage;
    }
    std::cout << (file ? *file : std::string("(built-in)")) << ": ok (" << (*cfg)->rules.size()
              << " rules, rule set " << (*cfg)->ruleset_version << ")\n";
    return exit_ok;
}

int cmd_quarantine_list(const Global& g, const std::vector<std::string>& args) {
    std::string format = "table";
    std::size_t limit = 50;
    std::size_t offset = 0;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& s = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                usage_error(s + " needs a value");
            }
            return args[++i];
        };
        if (s == "--format") {
            format = table_or_json(value());
        } else if (s == "--json") {
            format = "json";
        } else if (s == "--limit" || s == "--offset") {
            (s == "--limit" ? limit : offset) = count_of(s, value());
        } else {
            usage_error("unknown quarantine list option " + s);
        }
    }
    auto gw = open_gateway(g);
    auto entries = list_quarantine(gw->audit(), gw->quarantine(), limit, offset);
    if (!entries) {
        std::cerr << "mugaika: " << entries.error().what << ": " << entries.error().detail << "\n";
        return exit_internal;
    }
    std::cout << (format == "json" ? render_quarantine_json(*entries) + "\n"
                                   : render_quarantine_table(*entries));
    return exit_ok;
}

int cmd_quarantine_show(const Global& g, const std::vector<std::string>& args) {
    if (args.size() != 2) {
        usage_error("quarantine show needs one ID");
    }
    auto gw = open_gateway(g);
    auto rows = quarantine_records(gw->audit(), args[1]);
    if (!rows) {
        std::cerr << "mugaika: " << rows.error().what << ": " << rows.error().detail << "\n";
        return rows.error().code == mugaika::filters::ErrorCode::Malformed ? exit_usage
                                                                           : exit_internal;
    }
    std::cout << render_quarantine_show(*rows, gw->quarantine());
    return exit_ok;
}

std::optional<std::int64_t> parse_time(const std::string& s);

/// The person running the command: the user sudo was called by, else the login user.
std::string login_name() {
    const char* sudo = std::getenv("SUDO_USER");
    if (sudo != nullptr && *sudo != '\0') {
        return sudo;
    }
    const passwd* pw = ::getpwuid(::getuid());
    return pw != nullptr ? pw->pw_name : std::to_string(::getuid());
}

int exit_for(const mugaika::filters::Error& e) {
    std::cerr << "mugaika: " << e.what << ": " << e.detail << "\n";
    switch (e.code) {
    case mugaika::filters::ErrorCode::Malformed:
        return exit_usage;
    case mugaika::filters::ErrorCode::Transient:
        return exit_tempfail;
    default:
        return exit_internal;
    }
}

/// request, requests, approve, refuse, purge: options are "--name value" pairs or flags.
int cmd_quarantine_release(const Global& g, const std::vector<std::string>& args) {
    const std::string& cmd = args.front();
    std::map<std::string, std::string> opt;
    std::vector<std::string> ids;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& s = args[i];
        if (s == "--all" || s == "--dry-run") {
            opt[s] = "1";
        } else if (s == "--part" || s == "--to" || s == "--reason" || s == "--as" ||
                   s == "--format" || s == "--now") {
            if (i + 1 >= args.size()) {
                usage_error(s + " needs a value");
            }
            opt[s] = args[++i];
        } else if (s.size() > 1 && s.front() == '-') {
            usage_error("unknown quarantine " + cmd + " option " + s);
        } else {
            ids.push_back(s);
        }
    }
    const bool wants_id = cmd != "requests" && cmd != "purge";
    if (ids.size() != (wants_id ? 1U : 0U)) {
        usage_error("quarantine " + cmd + (wants_id ? " needs one ID" : " takes no ID"));
    }
    auto gw = open_gateway(g);
    auto cfg = gw->config();
    if (cmd == "purge") {
        PurgeOptions po;
        po.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
        if (opt.count("--now") != 0) {
            auto t = parse_time(opt["--now"]);
            if (!t) {
                usage_error("--now needs an ISO 8601 time or unix milliseconds");
            }
            po.now_ms = *t;
        }
        po.retention_days = cfg->retention_days;
        po.dry_run = opt.count("--dry-run") != 0;
        po.operator_name = opt.count("--as") != 0 ? opt["--as"] : login_name();
        if (po.retention_days == 0) {
            std::cout << "[quarantine] retention_days = 0: originals are kept forever\n";
            return exit_ok;
        }
        auto report = purge_quarantine(gw->audit(), gw->quarantine(), po, [](std::int64_t ms) {
            return "PG" + make_audit_id(ms).substr(2);
        });
        if (!report) {
            return exit_for(report.error());
        }
        std::cout << render_purge_report(*report, po.dry_run);
        return exit_ok;
    }
    SmtpSender sender(cfg->release_relay, cfg->release_timeout);
    ReleaseDesk desk(cfg, gw->audit(), gw->quarantine(), sender, {});
    if (cmd == "requests") {
        auto list = desk.requests(opt.count("--all") != 0);
        if (!list) {
            return exit_for(list.error());
        }
        std::cout << (table_or_json(opt.count("--format") != 0 ? opt["--format"] : "table") ==
                              "json"
                          ? render_requests_json(*list) + "\n"
                          : render_requests_table(*list));
        return exit_ok;
    }
    if (cmd == "request") {
        ReleaseRequestInput in;
        in.original = ids.front();
        in.all = opt.count("--all") != 0;
        in.part = opt["--part"];
        in.to = opt["--to"];
        in.reason = opt["--reason"];
        in.requester = opt.count("--as") != 0 ? opt["--as"] : login_name();
        if (in.all == !in.part.empty() || in.to.empty() || in.reason.empty()) {
            usage_error("quarantine request needs --part PATH or --all, --to and --reason");
        }
        auto rq = desk.request(in);
        if (!rq) {
            return exit_for(rq.error());
        }
        std::cout << rq->id << "\n";
        return exit_ok;
    }
    if (opt["--as"].empty() || (cmd == "refuse" && opt["--reason"].empty())) {
        usage_error("quarantine " + cmd + " needs --as NAME" +
                    (cmd == "refuse" ? " and --reason TEXT" : ""));
    }
    auto out = cmd == "approve" ? desk.approve(ids.front(), opt["--as"], opt["--reason"])
                                : desk.refuse(ids.front(), opt["--as"], opt["--reason"]);
    if (!out) {
        return exit_for(out.error());
    }
    switch (out->result) {
    case ReleaseResult::Delivered:
        std::cout << "released " << ids.front() << " (audit " << out->audit_id
                  << "): " << out->detail << "\n";
        return exit_ok;
    case ReleaseResult::Done:
        std::cout << "refused " << ids.front() << " (audit " << out->audit_id << ")\n";
        return exit_ok;
    case ReleaseResult::Refused:
        std::cerr << "mugaika: release refused: " << out->code << ": " << out->detail << "\n";
        return exit_rejected;
    case ReleaseResult::Failed:
        std::cerr << "mugaika: release failed: " << out->code << ": " << out->detail
                  << " (the request stays pending)\n";
        return out->failure == mugaika::filters::ErrorCode::Transient ? exit_tempfail
                                                                      : exit_internal;
    }
    return exit_internal;
}

int cmd_quarantine(const Global& g, const std::vector<std::string>& args) {
    if (args.empty() || is_help(args.front())) {
        std::cout << quarantine_help;
        return args.empty() ? exit_usage : exit_ok;
    }
    for (const auto& a : args) {
        if (is_help(a)) {
            std::cout << quarantine_help;
            return exit_ok;
        }
    }
    if (args.front() == "list") {
        return cmd_quarantine_list(g, args);
    }
    if (args.front() == "show") {
        return cmd_quarantine_show(g, args);
    }
    if (args.front() == "request" || args.front() == "requests" || args.front() == "approve" ||
        args.front() == "refuse" || args.front() == "purge") {
        return cmd_quarantine_release(g, args);
    }
    if (args.front() != "export") {
        usage_error("unknown quarantine command " + args.front());
    }
    std::optional<std::string> id;
    std::optional<std::string> output;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (is_help(args[i])) {
            std::cout << quarantine_help;
            return exit_ok;
        }
        if (args[i] == "-o" || args[i] == "--output") {
            if (i + 1 >= args.size()) {
                usage_error("-o needs a file");
            }
            output = args[++i];
        } else if (!id) {
            id = args[i];
        } else {
            usage_error("unexpected argument " + args[i]);
        }
    }
    if (!id) {
        usage_error("quarantine export needs an ID");
    }
    auto gw = open_gateway(g);
    std::string qid = *id;
    if (!is_sha256_hex(qid)) {
        auto rows = quarantine_records(gw->audit(), qid);
        if (!rows) {
            std::cerr << "mugaika: no kept original for " << qid << "\n";
            return exit_usage;
        }
        qid = rows->front().msg.quarantine_id;
    }
    auto data = gw->quarantine().read(qid);
    if (!data) {
        std::cerr << "mugaika: " << data.error().what << ": " << data.error().detail << "\n";
        return data.error().code == mugaika::filters::ErrorCode::Malformed ? exit_usage
                                                                           : exit_internal;
    }
    if (!write_output(output, *data)) {
        std::cerr << "mugaika: cannot write the original\n";
        return exit_internal;
    }
    return exit_ok;
}

std::optional<std::int64_t> parse_time(const std::string& s) {
    if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
        return std::stoll(s);
    }
    return parse_iso8601_ms(s);
}

/// The time zone of --zone, else [audit] timezone; an unknown name is a usage error.
TimeZone audit_zone(const Gateway& gw, const std::optional<std::string>& option) {
    const std::string name = option ? *option : gw.config()->audit_timezone;
    if (name.empty() || name == "Asia/Tokyo") {
        return TimeZone::tokyo(); // no file needed for the default
    }
    auto tz = TimeZone::load(name);
    if (!tz) {
        usage_error("unknown time zone " + name + " (" + tz.error().detail + ")");
    }
    return *tz;
}

void print_verify_result(const VerifyReport& r) {
    if (r.ok) {
        std::cout << "audit chain ok: " << r.rows_checked << " rows, head seq " << r.head_seq
                  << " hash " << r.head_hash << "\n";
        if (r.start_seq > 1) {
            std::cout << "retained from seq " << r.start_seq << " (rows before it removed by "
                      << "retention; checkpoint at seq " << r.checkpoint_seq << ")\n";
        }
        if (r.seals_checked > 0) {
            std::cout << "seals matched: " << r.seals_checked << "\n";
        }
        return;
    }
    std::cout << "audit chain BROKEN at seq " << r.first_bad_seq << ": " << r.problem << " ("
              << r.rows_checked << " rows checked)\n";
}

/// `audit verify [--seal S]...` and `audit seal`.
int cmd_audit_verify(Gateway& gw, const std::vector<std::string>& args) {
    const bool sealing = args.front() == "seal";
    std::vector<AuditSeal> seals;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (!sealing && args[i] == "--seal" && i + 1 < args.size()) {
            auto seal = AuditSeal::parse(args[++i]);
            if (!seal) {
                usage_error(seal.error().detail);
            }
            seals.push_back(*seal);
        } else {
            usage_error("unknown audit " + args.front() + " option " + args[i]);
        }
    }
    // The head is read before the walk: a seal names a row the walk has verified.
    std::optional<AuditSeal> head;
    if (sealing) {
        auto h = gw.audit().head();
        if (!h) {
            std::cerr << "mugaika: " << h.error().what << ": " << h.error().detail << "\n";
            return exit_internal;
        }
        head = *h;
        if (head->seq == 0) {
            std::cerr << "mugaika: the audit trail is empty: nothing to seal\n";
            return exit_internal;
        }
        seals.push_back(*head); // the walk must reach it with this hash
    }
    auto r = gw.audit().verify(seals);
    if (!r) {
        std::cerr << "mugaika: " << r.error().what << ": " << r.error().detail << "\n";
        return exit_internal;
    }
    if (!sealing) {
        print_verify_result(*r);
        return r->ok ? exit_ok : exit_rejected;
    }
    if (!r->ok) {
        print_verify_result(*r);
        std::cerr << "mugaika: a broken chain is not sealed\n";
        return exit_rejected;
    }
    std::cout << head->text() << "\n"
              << "head seq " << head->seq << ", hash " << head->hash << ", sealed at "
              << audit_zone(gw, std::nullopt).format(head->time_unix_ms) << " after verifying "
              << r->rows_checked << " rows\n"
              << "Write the first line down outside this system; later: mugaika audit verify "
                 "--seal "
              << head->text() << "\n";
    return exit_ok;
}

/// `audit purge [--dry-run] [--now TIME] [--as NAME]`: [audit] retention_days.
int cmd_audit_purge(Gateway& gw, const std::vector<std::string>& args) {
    bool dry_run = false;
    std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    std::string by = login_name();
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& s = args[i];
        if (s == "--dry-run") {
            dry_run = true;
        } else if ((s == "--now" || s == "--as") && i + 1 < args.size()) {
            const std::string v = args[++i];
            if (s == "--as") {
                by = v;
                continue;
            }
            auto t = parse_time(v);
            if (!t) {
                usage_error("--now needs an ISO 8601 time or unix milliseconds");
            }
            now_ms = *t;
        } else {
            usage_error("unknown audit purge option " + s);
        }
    }
    const auto cfg = gw.config();
    if (cfg->audit_retention_days == 0) {
        std::cout << "[audit] retention_days = 0: audit records are kept forever\n";
        return exit_ok;
    }
    constexpr std::int64_t day_ms = 86'400'000;
    const std::int64_t cutoff =
        now_ms - static_cast<std::int64_t>(cfg->audit_retention_days) * day_ms;
    auto r = gw.audit().apply_retention(cutoff, by.empty() ? "-" : by, now_ms,
                                        "CP" + make_audit_id(now_ms).substr(2), dry_run);
    if (!r) {
        std::cerr << "mugaika: " << r.error().what << ": " << r.error().detail << "\n";
        return exit_internal;
    }
    const std::string cutoff_text = audit_zone(gw, std::nullopt).format(cutoff);
    if (r->removed_rows == 0) {
        std::cout << "nothing older than " << cutoff_text << "\n";
        return exit_ok;
    }
    std::cout << (dry_run ? "would remove " : "removed ") << r->removed_messages << " records ("
              << r->removed_rows << " rows, seq 1.." << r->through_seq << ") older than "
              << cutoff_text;
    if (!dry_run) {
        std::cout << "; checkpoint " << r->checkpoint_id;
    }
    std::cout << "\n";
    return exit_ok;
}

/// `audit migrate [--from SQLITE_FILE] [--to CONNINFO]`.
int cmd_audit_migrate(const Global& g, const std::vector<std::string>& args) {
    std::string from;
    std::string to;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if ((args[i] == "--from" || args[i] == "--to") && i + 1 < args.size()) {
            (args[i] == "--from" ? from : to) = args[i + 1];
            ++i;
        } else {
            usage_error("unknown audit migrate option " + args[i]);
        }
    }
    const auto cfg = load(g);
    if (from.empty()) {
        from = cfg->audit_db();
    }
    if (to.empty()) {
        to = cfg->audit_connection;
    }
    if (to.empty()) {
        usage_error("audit migrate needs --to CONNINFO or [audit] connection");
    }
    if (!std::filesystem::exists(from)) {
        std::cerr << "mugaika: no SQLite audit database at " << from << "\n";
        return exit_internal;
    }
    auto src = AuditStore::open_sqlite(from);
    if (!src) {
        std::cerr << "mugaika: " << src.error().what << ": " << src.error().detail << "\n";
        return exit_internal;
    }
    auto source_check = (*src)->verify();
    if (!source_check || !source_check->ok) {
        std::cerr << "mugaika: the source chain does not verify"
                  << (source_check ? ": seq " + std::to_string(source_check->first_bad_seq) + " " +
                                         source_check->problem
                                   : ": " + source_check.error().detail)
                  << "; nothing copied\n";
        return exit_rejected;
    }
    auto dst = AuditStore::open_postgresql(to);
    if (!dst) {
        std::cerr << "mugaika: " << dst.error().what << ": " << dst.error().detail << "\n";
        return exit_internal;
    }
    auto copied = (*src)->copy_into(**dst);
    if (!copied) {
        std::cerr << "mugaika: " << copied.error().what << ": " << copied.error().detail << "\n";
        return copied.error().what == "audit.migrate_target_not_empty" ? exit_rejected
                                                                       : exit_internal;
    }
    auto check = (*dst)->verify();
    if (!check) {
        std::cerr << "mugaika: " << check.error().what << ": " << check.error().detail << "\n";
        return exit_internal;
    }
    std::cout << "copied " << *copied << " rows from " << from << " into PostgreSQL\n";
    print_verify_result(*check);
    if (check->ok && check->head_hash != source_check->head_hash) {
        std::cout << "head differs from the source's\n";
        return exit_rejected;
    }
    return check->ok ? exit_ok : exit_rejected;
}

/// `audit query [FILTERS] [--format table|json|csv] [--zone ZONE]`.
int cmd_audit_query(Gateway& gw, const std::vector<std::string>& args) {
    AuditQuery q;
    std::string format = "table";
    std::optional<std::string> zone;
    std::optional<std::string> since;
    std::optional<std::string> until;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& s = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                usage_error(s + " needs a value");
            }
            return args[++i];
        };
        if (s == "--format") {
            format = value();
            if (format != "table" && format != "json" && format != "csv") {
                usage_error("--format must be table, json or csv");
            }
        } else if (s == "--json") {
            format = "json";
        } else if (s == "--zone") {
            zone = value();
        } else if (s == "--since") {
            since = value();
        } else if (s == "--until") {
            until = value();
        } else if (s == "--sender") {
            q.sender = value();
        } else if (s == "--recipient") {
            q.recipient = value();
        } else if (s == "--message-id") {
            q.message_id = value();
        } else if (s == "--audit-id") {
            q.audit_id = value();
        } else if (s == "--verdict") {
            q.verdict = value();
        } else if (s == "--action") {
            q.action = value();
        } else if (s == "--rule") {
            q.rule = value();
        } else if (s == "--filename") {
            q.filename = value();
        } else if (s == "--filter") {
            q.filter = value();
        } else if (s == "--sha256") {
            q.sha256 = value();
        } else if (s == "--direction") {
            q.direction = value();
        } else if (s == "--limit" || s == "--offset") {
            (s == "--limit" ? q.limit : q.offset) = count_of(s, value());
        } else {
            usage_error("unknown audit query option " + s);
        }
    }
    const TimeZone tz = audit_zone(gw, zone);
    // Times without an offset are local in the zone shown.
    for (auto [text, field, option] :
         {std::tuple{&since, &q.since_ms, "--since"}, std::tuple{&until, &q.until_ms, "--until"}}) {
        if (*text) {
            *field = tz.parse(**text);
            if (!*field) {
                usage_error(std::string(option) + " needs an ISO 8601 time or unix milliseconds");
            }
        }
    }
    auto rows = gw.audit().query(q);
    if (!rows) {
        std::cerr << "mugaika: " << rows.error().what << ": " << rows.error().detail << "\n";
        return exit_internal;
    }
    if (format == "csv") {
        std::cout << render_csv(*rows, tz);
    } else if (format == "json") {
        std::cout << render_json(*rows, tz) << "\n";
    } else {
        std::cout << render_table(*rows, tz);
    }
    return exit_ok;
}

/// `audit show AUDIT-ID [--format text|json] [--zone ZONE]`.
int cmd_audit_show(Gateway& gw, const std::vector<std::string>& args) {
    std::string format = "text";
    std::optional<std::string> zone;
    std::optional<std::string> id;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& s = args[i];
        if ((s == "--format" || s == "--zone") && i + 1 < args.size()) {
            (s == "--format" ? format : zone.emplace()) = args[++i];
        } else if (s == "--json") {
            format = "json";
        } else if (!s.empty() && s.front() != '-' && !id) {
            id = s;
        } else {
            usage_error("unknown audit show option " + s);
        }
    }
    if (!id) {
        usage_error("audit show needs one AUDIT-ID");
    }
    if (format != "text" && format != "json") {
        usage_error("--format must be text or json");
    }
    const TimeZone tz = audit_zone(gw, zone);
    auto story = load_story(gw.audit(), *id);
    if (!story) {
        std::cerr << "mugaika: " << story.error().what << ": " << story.error().detail << "\n";
        return story.error().code == mugaika::filters::ErrorCode::Malformed ? exit_usage
                                                                            : exit_internal;
    }
    std::cout << (format == "json" ? render_story_json(*story, tz) : render_story_text(*story, tz));
    return exit_ok;
}

/// `audit report --month YYYY-MM [--format html|csv|json] [--lang ja|en] [--zone Z] [-o FILE]`.
int cmd_audit_report(Gateway& gw, const std::vector<std::string>& args) {
    std::string format = "html";
    std::string lang = "ja";
    std::optional<std::string> zone;
    std::optional<std::string> month;
    std::optional<std::string> output;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& s = args[i];
        if (i + 1 >= args.size()) {
            usage_error("unknown audit report option " + s);
        }
        const std::string v = args[++i];
        if (s == "--format") {
            format = v;
        } else if (s == "--lang") {
            lang = v;
        } else if (s == "--zone") {
            zone = v;
        } else if (s == "--month") {
            month = v;
        } else if (s == "-o" || s == "--output") {
            output = v;
        } else {
            usage_error("unknown audit report option " + s);
        }
    }
    if (format != "html" && format != "csv" && format != "json") {
        usage_error("--format must be html, csv or json");
    }
    if (lang != "ja" && lang != "en") {
        usage_error("--lang must be ja or en");
    }
    int year = 0;
    int mon = 0;
    const bool month_ok = month && month->size() == 7 && (*month)[4] == '-' &&
                          std::all_of(month->begin(), month->end(), [](char c) {
                              return c == '-' || std::isdigit(static_cast<unsigned char>(c)) != 0;
                          });
    if (month_ok) {
        year = std::stoi(month->substr(0, 4));
        mon = std::stoi(month->substr(5, 2));
    }
    if (!month_ok || mon < 1 || mon > 12 || year < 1970) {
        usage_error("audit report needs --month YYYY-MM");
    }
    const TimeZone tz = audit_zone(gw, zone);
    auto r = build_month_report(gw.audit(), year, mon, tz);
    if (!r) {
        std::cerr << "mugaika: " << r.error().what << ": " << r.error().detail << "\n";
        return exit_internal;
    }
    const std::string text = format == "html"  ? render_report_html(*r, lang)
                             : format == "csv" ? render_report_csv(*r)
                                               : render_report_json(*r);
    if (!write_output(output, text)) {
        std::cerr << "mugaika: cannot write " << output.value_or("the report") << "\n";
        return exit_internal;
    }
    return exit_ok;
}

int cmd_audit(const Global& g, const std::vector<std::string>& args) {
    if (args.empty() || is_help(args.front())) {
        std::cout << audit_help;
        return args.empty() ? exit_usage : exit_ok;
    }
    for (const auto& s : args) {
        if (is_help(s)) {
            std::cout << audit_help;
            return exit_ok;
        }
    }
    if (args.front() == "migrate") {
        return cmd_audit_migrate(g, args);
    }
    auto gw = open_gateway(g);
    if (args.front() == "verify" || args.front() == "seal") {
        return cmd_audit_verify(*gw, args);
    }
    if (args.front() == "purge") {
        return cmd_audit_purge(*gw, args);
    }
    if (args.front() == "show") {
        return cmd_audit_show(*gw, args);
    }
    if (args.front() == "report") {
        return cmd_audit_report(*gw, args);
    }
    if (args.front() != "query") {
        usage_error("unknown audit command " + args.front());
    }
    return cmd_audit_query(*gw, args);
}

constexpr const char* serve_help = R"(usage: mugaika [--config FILE] [--state-dir DIR] serve

Runs the auditors' web console and JSON API ([console] listen; HTTPS with [console] tls_cert and
tls_key) in the foreground until SIGTERM or SIGINT. Users come from [console] users_file (see
`mugaika console user`). Every login and every access is written to the audit trail.
See docs/console.md.

exit codes: 0 stopped by a signal, 2 config or users file problem, 1 cannot listen or other error
)";

constexpr const char* console_help =
    R"(usage: mugaika [--config FILE] [--state-dir DIR] console user add NAME --role auditor|admin
       mugaika ... console user passwd NAME
       mugaika ... console user remove NAME
       mugaika ... console user list

Manages the users of `mugaika serve` in [console] users_file (default <state_dir>/console-users;
written with mode 0600). The password is read from the terminal without echo (twice), or as one
line from stdin when stdin is not a terminal. Passwords are stored as Argon2id hashes (libsodium).
Roles: auditor (reads the audit trail), admin (also approves and refuses releases).
)";

int cmd_serve(const Global& g, const std::vector<std::string>& args) {
    for (const auto& a : args) {
        if (is_help(a)) {
            std::cout << serve_help;
            return exit_ok;
        }
        usage_error("serve takes no arguments: " + a);
    }
    // Signals are taken by sigwait below: block them before any thread starts.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto gw = open_gateway(g);
    Poco::Net::initializeSSL();
    auto server = console::ConsoleServer::start(gw->config(), *gw);
    if (!server) {
        std::cerr << "mugaika: cannot serve: " << server.error().what << ": "
                  << server.error().detail << "\n";
        Poco::Net::uninitializeSSL();
        return server.error().code == mugaika::filters::ErrorCode::Malformed ? exit_usage
                                                                             : exit_internal;
    }
    std::cout << "mugaika: console listening on " << (*server)->url() << std::endl;
    mugaika::log::info("console: listening on {}", (*server)->url());
    int sig = 0;
    sigwait(&set, &sig);
    std::cout << "mugaika: console stopping (signal " << sig << ")" << std::endl;
    (*server)->stop();
    server->reset();
    Poco::Net::uninitializeSSL();
    return exit_ok;
}

/// A password from the terminal (no echo, twice) or one line of stdin.
std::optional<std::string> read_password() {
    std::string pw;
    if (::isatty(STDIN_FILENO) == 0) {
        if (!std::getline(std::cin, pw)) {
            return std::nullopt;
        }
        if (!pw.empty() && pw.back() == '\r') {
            pw.pop_back();
        }
        return pw;
    }
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    std::string again;
    std::cerr << "Password: " << std::flush;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    const bool ok1 = static_cast<bool>(std::getline(std::cin, pw));
    std::cerr << "\nRepeat password: " << std::flush;
    const bool ok2 = ok1 && static_cast<bool>(std::getline(std::cin, again));
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::cerr << "\n";
    if (!ok2) {
        return std::nullopt;
    }
    if (pw != again) {
        std::cerr << "mugaika: the passwords differ\n";
        return std::nullopt;
    }
    return pw;
}

int cmd_console(const Global& g, const std::vector<std::string>& args) {
    if (args.empty() || is_help(args.front())) {
        std::cout << console_help;
        return args.empty() ? exit_usage : exit_ok;
    }
    for (const auto& a : args) {
        if (is_help(a)) {
            std::cout << console_help;
            return exit_ok;
        }
    }
    if (args.front() != "user" || args.size() < 2) {
        usage_error("unknown console command; use console user add|passwd|remove|list");
    }
    const std::string& cmd = args[1];
    std::vector<std::string> names;
    std::string role;
    for (std::size_t i = 2; i < args.size(); ++i) {
        if (args[i] == "--role") {
            if (i + 1 >= args.size()) {
                usage_error("--role needs auditor or admin");
            }
            role = args[++i];
        } else if (args[i].size() > 1 && args[i].front() == '-') {
            usage_error("unknown console user option " + args[i]);
        } else {
            names.push_back(args[i]);
        }
    }
    const bool wants_name = cmd != "list";
    if (names.size() != (wants_name ? 1U : 0U)) {
        usage_error("console user " + cmd + (wants_name ? " needs one NAME" : " takes no NAME"));
    }
    if (cmd != "add" && !role.empty()) {
        usage_error("--role belongs to console user add");
    }
    auto cfg = load(g);
    const std::string path = cfg->console_users();
    auto file =
        cmd == "add" ? console::UsersFile::load_or_empty(path) : console::UsersFile::load(path);
    if (!file) {
        return exit_for(file.error());
    }
    if (cmd == "list") {
        for (const auto& u : file->users()) {
            std::cout << u.name << " " << console::to_string(u.role)
                      << (console::needs_rehash(u.hash) ? " (hash parameters outdated)" : "")
                      << "\n";
        }
        return exit_ok;
    }
    const std::string& name = names.front();
    if (cmd == "remove") {
        if (!file->remove(name)) {
            std::cerr << "mugaika: no console user " << name << "\n";
            return exit_usage;
        }
    } else if (cmd == "add" || cmd == "passwd") {
        std::optional<console::ConsoleRole> r;
        if (cmd == "add") {
            r = console::parse_role(role);
            if (!r) {
                usage_error("console user add needs --role auditor or --role admin");
            }
            if (!console::valid_user_name(name)) {
                usage_error("a user name is 1-64 characters of A-Z a-z 0-9 . _ @ -");
            }
            if (file->find(name) != nullptr) {
                std::cerr << "mugaika: console user " << name
                          << " exists (use console user passwd)\n";
                return exit_usage;
            }
        } else {
            const auto* u = file->find(name);
            if (u == nullptr) {
                std::cerr << "mugaika: no console user " << name << "\n";
                return exit_usage;
            }
            r = u->role;
        }
        auto pw = read_password();
        if (!pw || pw->size() < 8) {
            std::cerr << "mugaika: a password of at least 8 characters is needed\n";
            return exit_usage;
        }
        auto hash = console::hash_password(*pw);
        if (!hash) {
            return exit_for(hash.error());
        }
        file->put({name, *r, *hash}, true);
    } else {
        usage_error("unknown console user command " + cmd);
    }
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (auto w = file->save(path); !w) {
        return exit_for(w.error());
    }
    std::cout << "console user " << name << ": "
              << (cmd == "add"      ? "added"
                  : cmd == "passwd" ? "password changed"
                                    : "removed")
              << "\n";
    return exit_ok;
}

int run(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    Global g;
    int verbosity = 0;
    bool syslog = false;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& s = args[i];
        if (s == "-v" || s == "--verbose") {
            ++verbosity;
        } else if (s == "-vv") {
            verbosity += 2;
        } else if (s == "--syslog") {
            syslog = true;
        } else if (s == "--config" || s == "--state-dir") {
            if (i + 1 >= args.size()) {
                usage_error(s + " needs a value");
            }
            (s == "--config" ? g.config_file : g.state_dir) = args[++i];
        } else if (is_help(s)) {
            std::cout << main_help;
            return exit_ok;
        } else if (s == "--version") {
            std::cout << "mugaika " MUGAIKA_VERSION "\n";
            return exit_ok;
        } else if (!s.empty() && s.front() == '-') {
            usage_error("unknown option " + s);
        } else {
            break;
        }
    }
    mugaika::log::configure(syslog ? mugaika::log::Sink::Syslog : mugaika::log::Sink::Stderr,
                            // Without -v the command's own one-line messages say it all.
                            verbosity >= 2   ? mugaika::log::Level::Debug
                            : verbosity == 1 ? mugaika::log::Level::Info
                                             : mugaika::log::Level::Critical);
    if (i >= args.size()) {
        std::cerr << main_help;
        return exit_usage;
    }
    const std::string cmd = args[i];
    std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
    if (cmd == "sanitize") {
        return cmd_sanitize(g, rest);
    }
    if (cmd == "sanitize-file") {
        return cmd_sanitize_file(g, rest);
    }
    if (cmd == "rules") {
        return cmd_rules(g, rest);
    }
    if (cmd == "config") {
        return cmd_config(g, rest);
    }
    if (cmd == "quarantine") {
        return cmd_quarantine(g, rest);
    }
    if (cmd == "audit") {
        return cmd_audit(g, rest);
    }
    if (cmd == "serve") {
        return cmd_serve(g, rest);
    }
    if (cmd == "console") {
        return cmd_console(g, rest);
    }
    usage_error("unknown command " + cmd);
}

} // namespace

int main(int argc, char** argv) {
    mugaika::gateway::init_libraries();
    int rc = exit_internal;
    try {
        rc = run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "mugaika: internal error: " << e.what() << "\n";
        rc = exit_internal;
    }
    mugaika::gateway::shutdown_libraries();
    return rc;
}
