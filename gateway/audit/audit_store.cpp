#include "gateway/audit/audit_store.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include <Poco/AutoPtr.h>
#include <Poco/Data/PostgreSQL/PostgreSQLException.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/SQLite/SessionImpl.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#pragma GCC diagnostic pop

#include "gateway/audit/audit_chain.hpp"
#include "gateway/audit/audit_text.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;
using filters::Result;
using Poco::Data::Session;
using Poco::Data::Statement;
using Poco::Data::Keywords::into;
using Poco::Data::Keywords::now;
using Poco::Data::Keywords::use;
using Poco::Data::Keywords::useRef;

// ---------------------------------------------------------------------------------------------
// Schema and migrations. Each migration runs once, in order, inside the transaction that records
// it in schema_version. Never edit a released migration: add the next one (docs/audit.md).

constexpr std::array migration_1{
    std::string_view{R"sql(
CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY,
    audit_id        TEXT    NOT NULL UNIQUE,
    time_unix_ms    INTEGER NOT NULL,
    direction       TEXT    NOT NULL,
    client_addr     TEXT    NOT NULL,
    helo            TEXT    NOT NULL,
    queue_id        TEXT    NOT NULL,
    mail_from       TEXT    NOT NULL,
    rcpt_to         TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    from_header     TEXT    NOT NULL,
    size_in         INTEGER NOT NULL,
    size_out        INTEGER NOT NULL,
    sha256_in       TEXT    NOT NULL,
    sha256_out      TEXT    NOT NULL,
    verdict         TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    ruleset_version TEXT    NOT NULL,
    quarantine_id   TEXT    NOT NULL,
    duration_us     INTEGER NOT NULL,
    event_count     INTEGER NOT NULL,
    prev_hash       TEXT    NOT NULL,
    row_hash        TEXT    NOT NULL
))sql"},
    std::string_view{R"sql(
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    message_seq   INTEGER NOT NULL REFERENCES messages(seq),
    idx           INTEGER NOT NULL,
    part_path     TEXT    NOT NULL,
    filename      TEXT    NOT NULL,
    declared_type TEXT    NOT NULL,
    detected_type TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    sha256_before TEXT    NOT NULL,
    sha256_after  TEXT    NOT NULL,
    filter        TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    detail        TEXT    NOT NULL,
    duration_us   INTEGER NOT NULL,
    prev_hash     TEXT    NOT NULL,
    row_hash      TEXT    NOT NULL,
    UNIQUE (message_seq, idx)
))sql"},
    std::string_view{"CREATE INDEX messages_time ON messages(time_unix_ms)"},
    std::string_view{"CREATE INDEX messages_message_id ON messages(message_id)"},
    std::string_view{"CREATE INDEX messages_mail_from ON messages(mail_from COLLATE NOCASE)"},
    std::string_view{"CREATE INDEX messages_sha256_in ON messages(sha256_in)"},
    std::string_view{"CREATE INDEX messages_sha256_out ON messages(sha256_out)"},
    std::string_view{"CREATE INDEX messages_quarantine_id ON messages(quarantine_id)"},
    std::string_view{"CREATE INDEX events_sha256_before ON events(sha256_before)"},
    std::string_view{"CREATE INDEX events_sha256_after ON events(sha256_after)"},
    std::string_view{"CREATE INDEX events_rule ON events(rule)"},
};

// Version 2: the indexes behind `audit query --filter` and the lookup of retention checkpoints
// and reports by verdict. Same SQL in both dialects.
constexpr std::array migration_2{
    std::string_view{"CREATE INDEX events_filter ON events(filter)"},
    std::string_view{"CREATE INDEX messages_verdict ON messages(verdict)"},
};

/// A migration, written once in SQLite's dialect; postgresql_ddl() derives PostgreSQL's.
struct Migration {
    int version;
    std::string_view description;
    std::span<const std::string_view> statements;
};

constexpr std::array migrations{
    Migration{1, "messages and events, hash-chained", migration_1},
    Migration{2, "indexes on events.filter and messages.verdict", migration_2},
};
static_assert(migrations.back().version == audit_schema_version,
              "audit_schema_version must name the last migration");

constexpr std::string_view message_columns =
    "seq, audit_id, time_unix_ms, direction, client_addr, helo, queue_id, mail_from, rcpt_to, "
    "message_id, subject, from_header, size_in, size_out, sha256_in, sha256_out, verdict, "
    "action, reason, ruleset_version, quarantine_id, duration_us, event_count, prev_hash, "
    "row_hash";

constexpr std::string_view event_columns =
    "seq, message_seq, idx, part_path, filename, declared_type, detected_type, size, "
    "sha256_before, sha256_after, filter, action, rule, reason, detail, duration_us, prev_hash, "
    "row_hash";

// ---------------------------------------------------------------------------------------------
// Errors

ErrorCode classify(const Poco::Exception& e) {
    namespace sq = Poco::Data::SQLite;
    namespace pg = Poco::Data::PostgreSQL;
    if (dynamic_cast<const sq::DBLockedException*>(&e) != nullptr ||
        dynamic_cast<const sq::TableLockedException*>(&e) != nullptr ||
        dynamic_cast<const sq::IOErrorException*>(&e) != nullptr ||
        dynamic_cast<const sq::DatabaseFullException*>(&e) != nullptr ||
        dynamic_cast<const sq::NoMemoryException*>(&e) != nullptr ||
        dynamic_cast<const sq::LockProtocolException*>(&e) != nullptr ||
        // The server is unreachable, restarting or dropped the connection: try again later.
        dynamic_cast<const pg::ConnectionException*>(&e) != nullptr) {
        return ErrorCode::Transient;
    }
    return ErrorCode::Internal;
}

// ---------------------------------------------------------------------------------------------
// Dialects. The SQL below is written with `?` placeholders (SQLite's); PostgreSQL's connector
// wants `$1, $2, ...`. No statement here has a `?` inside a string literal.

enum class Dialect : std::uint8_t { SQLite, PostgreSQL };

std::string sql_for(Dialect d, std::string_view sql) {
    if (d == Dialect::SQLite) {
        return std::string(sql);
    }
    std::string out;
    out.reserve(sql.size() + 16);
    int n = 0;
    for (const char c : sql) {
        if (c == '?') {
            out += '$' + std::to_string(++n);
        } else {
            out += c;
        }
    }
    return out;
}

/// A migration statement in PostgreSQL's dialect: 64-bit integer columns (SQLite's INTEGER is
/// 64-bit already), and lower() where SQLite has the NOCASE collation.
std::string postgresql_ddl(std::string_view sqlite_sql) {
    std::string out(sqlite_sql);
    const auto replace_all = [&out](std::string_view from, std::string_view to) {
        for (std::size_t pos = out.find(from); pos != std::string::npos;
             pos = out.find(from, pos + to.size())) {
            out.replace(pos, from.size(), to);
        }
    };
    replace_all("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY");
    replace_all("INTEGER NOT NULL", "BIGINT  NOT NULL");
    replace_all("(mail_from COLLATE NOCASE)", "(lower(mail_from))");
    return out;
}

/// Key of the transaction-scoped advisory lock that serializes appends in PostgreSQL (any
/// constant shared by every writer; "mugaika" in ASCII, truncated).
constexpr std::string_view pg_append_lock = "SELECT pg_advisory_xact_lock(7887331985828939)";

// ---------------------------------------------------------------------------------------------
// Sessions

/// Poco retries a failing sqlite3_open_v2 until its "login timeout" (default 60 s) runs out;
/// opening a local file either works at once or not at all, so give it the minimum.
constexpr std::size_t open_retry_seconds = 1;
/// libpq connect timeout when the connection string sets none.
constexpr std::size_t pg_connect_seconds = 10;

Session open_session(const std::string& uri) {
    return Session(Poco::AutoPtr<Poco::Data::SessionImpl>(
        new Poco::Data::SQLite::SessionImpl(uri, open_retry_seconds)));
}

Session open_pg_session(const std::string& conninfo) {
    Session s(Poco::AutoPtr<Poco::Data::SessionImpl>(
        new Poco::Data::PostgreSQL::SessionImpl(conninfo, pg_connect_seconds)));
    // NOTICEs (e.g. "relation already exists, skipping") would go to stderr.
    s << "SET client_min_messages = warning", now;
    return s;
}

/// A read-only SQLite URI for `path`; '%', '?' and '#' are the characters URI parsing would
/// otherwise interpret.
std::string read_only_uri(const std::string& path) {
    std::string uri = "file:";
    for (const char c : path) {
        switch (c) {
        case '%':
            uri += "%25";
            break;
        case '?':
            uri += "%3f";
            break;
        case '#':
            uri += "%23";
            break;
        default:
            uri += c;
        }
    }
    return uri + "?mode=ro";
}

void set_busy_timeout(Session& s, std::chrono::milliseconds timeout) {
    s << "PRAGMA busy_timeout = " + std::to_string(std::max<std::int64_t>(0, timeout.count())), now;
}

void rollback_quietly(Session& s) noexcept {
    try {
        s << "ROLLBACK", now;
    } catch (...) { // NOLINT(bugprone-empty-catch): the transaction may already be gone
    }
}

/// Starts the transaction that appends: no other writer, in this process or another (or, for
/// PostgreSQL, on another host), can append between our read of the head and our commit.
void begin_append(Session& s, Dialect d) {
    if (d == Dialect::SQLite) {
        s << "BEGIN IMMEDIATE", now; // takes SQLite's write lock at once
        return;
    }
    s << "BEGIN", now;
    s << std::string(pg_append_lock), now;
}

/// Starts a read transaction on one consistent snapshot.
void begin_snapshot(Session& s, Dialect d) {
    if (d == Dialect::SQLite) {
        s << "BEGIN", now;
    } else {
        s << "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", now;
    }
}

// ---------------------------------------------------------------------------------------------
// Column buffers for bulk extraction (one vector per column, in *_columns order).

struct MessageColumns {
    std::vector<Poco::Int64> seq, time_unix_ms, size_in, size_out, duration_us, event_count;
    std::vector<std::string> audit_id, direction, client_addr, helo, queue_id, mail_from, rcpt_to,
        message_id, subject, from_header, sha256_in, sha256_out, verdict, action, reason,
        ruleset_version, quarantine_id, prev_hash, row_hash;

    void extract_into(Statement& st) {
        st.addExtract(into(seq));
        st.addExtract(into(audit_id));
        st.addExtract(into(time_unix_ms));
        st.addExtract(into(direction));
        st.addExtract(into(client_addr));
        st.addExtract(into(helo));
        st.addExtract(into(queue_id));
        st.addExtract(into(mail_from));
        st.addExtract(into(rcpt_to));
        st.addExtract(into(message_id));
        st.addExtract(into(subject));
        st.addExtract(into(from_header));
        st.addExtract(into(size_in));
        st.addExtract(into(size_out));
        st.addExtract(into(sha256_in));
        st.addExtract(into(sha256_out));
        st.addExtract(into(verdict));
        st.addExtract(into(action));
        st.addExtract(into(reason));
        st.addExtract(into(ruleset_version));
        st.addExtract(into(quarantine_id));
        st.addExtract(into(duration_us));
        st.addExtract(into(event_count));
        st.addExtract(into(prev_hash));
        st.addExtract(into(row_hash));
    }

    [[nodiscard]] std::size_t rows() const { return seq.size(); }

    /// Row `i` without rcpt_to and events.
    [[nodiscard]] AuditMessage message(std::size_t i) const {
        AuditMessage m;
        m.audit_id = audit_id[i];
        m.time_unix_ms = time_unix_ms[i];
        m.direction = direction[i];
        m.client_addr = client_addr[i];
        m.helo = helo[i];
        m.queue_id = queue_id[i];
        m.mail_from = mail_from[i];
        m.message_id = message_id[i];
        m.subject = subject[i];
        m.from_header = from_header[i];
        m.size_in = static_cast<std::uint64_t>(size_in[i]);
        m.size_out = static_cast<std::uint64_t>(size_out[i]);
        m.sha256_in = sha256_in[i];
        m.sha256_out = sha256_out[i];
        m.verdict = verdict[i];
        m.action = action[i];
        m.reason = reason[i];
        m.ruleset_version = ruleset_version[i];
        m.quarantine_id = quarantine_id[i];
        m.duration_us = duration_us[i];
        return m;
    }
};

struct EventColumns {
    std::vector<Poco::Int64> seq, message_seq, idx, size, duration_us;
    std::vector<std::string> part_path, filename, declared_type, detected_type, sha256_before,
        sha256_after, filter, action, rule, reason, detail, prev_hash, row_hash;

    void extract_into(Statement& st) {
        st.addExtract(into(seq));
        st.addExtract(into(message_seq));
        st.addExtract(into(idx));
        st.addExtract(into(part_path));
        st.addExtract(into(filename));
        st.addExtract(into(declared_type));
        st.addExtract(into(detected_type));
        st.addExtract(into(size));
        st.addExtract(into(sha256_before));
        st.addExtract(into(sha256_after));
        st.addExtract(into(filter));
        st.addExtract(into(action));
        st.addExtract(into(rule));
        st.addExtract(into(reason));
        st.addExtract(into(detail));
        st.addExtract(into(duration_us));
        st.addExtract(into(prev_hash));
        st.addExtract(into(row_hash));
    }

    [[nodiscard]] std::size_t rows() const { return seq.size(); }

    [[nodiscard]] AuditEvent event(std::size_t i) const {
        AuditEvent e;
        e.part_path = part_path[i];
        e.filename = filename[i];
        e.declared_type = declared_type[i];
        e.detected_type = detected_type[i];
        e.size = static_cast<std::uint64_t>(size[i]);
        e.sha256_before = sha256_before[i];
        e.sha256_after = sha256_after[i];
        e.filter = filter[i];
        e.action = action[i];
        e.rule = rule[i];
        e.reason = reason[i];
        e.detail = detail[i];
        e.duration_us = duration_us[i];
        return e;
    }
};

// ---------------------------------------------------------------------------------------------
// Writing

void normalize(AuditEvent& e) {
    for (std::string* s :
         {&e.part_path, &e.filename, &e.declared_type, &e.detected_type, &e.sha256_before,
          &e.sha256_after, &e.filter, &e.action, &e.rule, &e.reason, &e.detail}) {
        *s = audit_text::to_valid_utf8(*s);
    }
}

/// The message as it will be stored: every text field valid UTF-8 without NUL (SQLite's TEXT
/// extraction stops at NUL, so a NUL would make the stored row differ from the hashed one).
AuditMessage normalized(const AuditMessage& in) {
    AuditMessage m = in;
    for (std::string* s :
         {&m.audit_id, &m.direction, &m.client_addr, &m.helo, &m.queue_id, &m.mail_from,
          &m.message_id, &m.subject, &m.from_header, &m.sha256_in, &m.sha256_out, &m.verdict,
          &m.action, &m.reason, &m.ruleset_version, &m.quarantine_id}) {
        *s = audit_text::to_valid_utf8(*s);
    }
    for (auto& r : m.rcpt_to) {
        r = audit_text::to_valid_utf8(r);
    }
    for (auto& e : m.events) {
        normalize(e);
    }
    return m;
}

struct ChainHead {
    Poco::Int64 seq = 0;
    std::string hash{audit_genesis_hash};
};

ChainHead read_head(Session& s) {
    std::vector<Poco::Int64> seqs;
    std::vector<std::string> hashes;
    s << "SELECT seq, row_hash FROM messages WHERE seq = (SELECT max(seq) FROM messages) "
         "UNION ALL "
         "SELECT seq, row_hash FROM events WHERE seq = (SELECT max(seq) FROM events) "
         "ORDER BY 1 DESC LIMIT 1",
        into(seqs), into(hashes), now;
    if (seqs.empty()) {
        return {};
    }
    return {seqs.front(), hashes.front()};
}

/// Inserts the chained rows after `head`; the caller holds the append transaction. Returns the
/// new head.
ChainHead write_rows(Session& s, Dialect d, const AuditMessage& m, const std::string& rcpt_json,
                     const ChainHead& head) {
    Poco::Int64 seq = head.seq + 1;
    Poco::Int64 time_unix_ms = m.time_unix_ms;
    auto size_in = static_cast<Poco::Int64>(m.size_in);
    auto size_out = static_cast<Poco::Int64>(m.size_out);
    Poco::Int64 duration_us = m.duration_us;
    auto event_count = static_cast<Poco::Int64>(m.events.size());
    std::string prev_hash = head.hash;
    std::string row_hash = audit_message_row_hash(m, rcpt_json, seq, event_count, prev_hash);

    s << sql_for(d, "INSERT INTO messages (" + std::string(message_columns) +
                        ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        use(seq), useRef(m.audit_id), use(time_unix_ms), useRef(m.direction), useRef(m.client_addr),
        useRef(m.helo), useRef(m.queue_id), useRef(m.mail_from), useRef(rcpt_json),
        useRef(m.message_id), useRef(m.subject), useRef(m.from_header), use(size_in), use(size_out),
        useRef(m.sha256_in), useRef(m.sha256_out), useRef(m.verdict), useRef(m.action),
        useRef(m.reason), useRef(m.ruleset_version), useRef(m.quarantine_id), use(duration_us),
        use(event_count), use(prev_hash), use(row_hash), now;

    if (m.events.empty()) {
        return {seq, row_hash};
    }
    // One prepared statement, re-executed with the bound buffers refilled per event.
    Poco::Int64 message_seq = seq;
    AuditEvent cur;
    Poco::Int64 idx = 0;
    Poco::Int64 size = 0;
    Poco::Int64 ev_duration = 0;
    Statement ins(s);
    ins << sql_for(d, "INSERT INTO events (" + std::string(event_columns) +
                          ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        use(seq), use(message_seq), use(idx), use(cur.part_path), use(cur.filename),
        use(cur.declared_type), use(cur.detected_type), use(size), use(cur.sha256_before),
        use(cur.sha256_after), use(cur.filter), use(cur.action), use(cur.rule), use(cur.reason),
        use(cur.detail), use(ev_duration), use(prev_hash), use(row_hash);
    for (std::size_t i = 0; i < m.events.size(); ++i) {
        cur = m.events[i];
        prev_hash = row_hash;
        ++seq;
        idx = static_cast<Poco::Int64>(i);
        size = static_cast<Poco::Int64>(cur.size);
        ev_duration = cur.duration_us;
        row_hash = audit_event_row_hash(cur, seq, message_seq, idx, prev_hash);
        ins.execute();
    }
    return {seq, row_hash};
}

// ---------------------------------------------------------------------------------------------
// Query building

/// A sender/recipient filter: an address, or a domain (after the last '@').
struct AddressFilter {
    bool domain = false;
    std::string value;
};

AddressFilter parse_address_filter(std::string_view f) {
    while (!f.empty() && f.front() == ' ') {
        f.remove_prefix(1);
    }
    while (!f.empty() && f.back() == ' ') {
        f.remove_suffix(1);
    }
    if (f.size() >= 2 && f.front() == '<' && f.back() == '>') {
        f = f.substr(1, f.size() - 2);
    }
    if (!f.empty() && f.front() == '@') {
        return {true, std::string(f.substr(1))};
    }
    if (f.find('@') != std::string_view::npos) {
        return {false, std::string(f)};
    }
    return {true, std::string(f)};
}

std::string like_escape(std::string_view s) {
    std::string out;
    for (const char c : s) {
        if (c == '%' || c == '_' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

/// Collects SQL conditions and their parameters; parameters live in deques so the references
/// Poco binds stay valid until execution.
class QueryBuilder {
public:
    explicit QueryBuilder(Dialect d) : d_(d) {}

    [[nodiscard]] Dialect dialect() const { return d_; }

    void text(std::string v) {
        order_.emplace_back(true, texts_.size());
        texts_.push_back(std::move(v));
    }
    void integer(Poco::Int64 v) {
        order_.emplace_back(false, ints_.size());
        ints_.push_back(v);
    }

    void where(std::string_view clause) {
        sql_ += " AND ";
        sql_ += clause;
    }
    /// Address or domain match against `column_expr`, tolerating stored angle brackets.
    void address(std::string_view column_expr, const AddressFilter& f) {
        std::string c(column_expr);
        if (f.domain && d_ == Dialect::PostgreSQL) {
            // SQLite's LIKE ignores ASCII case, PostgreSQL's does not: lower both sides.
            where("(lower(" + c + ") LIKE lower(?) ESCAPE '\\' OR lower(" + c +
                  ") LIKE lower(?) ESCAPE '\\')");
            text("%@" + like_escape(f.value));
            text("%@" + like_escape(f.value) + ">");
        } else if (f.domain) {
            where("(" + c + " LIKE ? ESCAPE '\\' OR " + c + " LIKE ? ESCAPE '\\')");
            text("%@" + like_escape(f.value));
            text("%@" + like_escape(f.value) + ">");
        } else if (d_ == Dialect::SQLite) {
            where("(" + c + " = ? COLLATE NOCASE OR " + c + " = ? COLLATE NOCASE)");
            text(f.value);
            text("<" + f.value + ">");
        } else {
            // lower() on both sides; messages_mail_from is an index on lower(mail_from).
            where("(lower(" + c + ") = lower(?) OR lower(" + c + ") = lower(?))");
            text(f.value);
            text("<" + f.value + ">");
        }
    }

    std::string& sql() { return sql_; }
    [[nodiscard]] std::string final_sql() const { return sql_for(d_, sql_); }

    void bind(Statement& st) {
        for (const auto& [is_text, i] : order_) {
            if (is_text) {
                st.addBind(use(texts_[i]));
            } else {
                st.addBind(use(ints_[i]));
            }
        }
    }

private:
    Dialect d_;
    std::string sql_;
    std::vector<std::pair<bool, std::size_t>> order_;
    std::deque<std::string> texts_;
    std::deque<Poco::Int64> ints_;
};

std::string lower_ascii(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

void build_where(QueryBuilder& b, const AuditQuery& q) {
    if (q.since_ms) {
        b.where("m.time_unix_ms >= ?");
        b.integer(*q.since_ms);
    }
    if (q.until_ms) {
        b.where("m.time_unix_ms < ?");
        b.integer(*q.until_ms);
    }
    if (!q.sender.empty()) {
        b.address("m.mail_from", parse_address_filter(q.sender));
    }
    if (!q.recipient.empty()) {
        const auto f = parse_address_filter(q.recipient);
        if (b.dialect() == Dialect::PostgreSQL) {
            // rcpt_to is a JSON array in a TEXT column (hashed byte for byte).
            const std::string each = "EXISTS (SELECT 1 FROM json_array_elements_text(CAST("
                                     "m.rcpt_to AS json)) AS r(value) WHERE ";
            if (f.domain) {
                b.where(each + "lower(r.value) LIKE lower(?) ESCAPE '\\' OR lower(r.value) LIKE "
                               "lower(?) ESCAPE '\\')");
                b.text("%@" + like_escape(f.value));
                b.text("%@" + like_escape(f.value) + ">");
            } else {
                b.where(each + "lower(r.value) = lower(?) OR lower(r.value) = lower(?))");
                b.text(f.value);
                b.text("<" + f.value + ">");
            }
        } else if (f.domain) {
            b.where("EXISTS (SELECT 1 FROM json_each(m.rcpt_to) r WHERE r.value LIKE ? ESCAPE "
                    "'\\' OR r.value LIKE ? ESCAPE '\\')");
            b.text("%@" + like_escape(f.value));
            b.text("%@" + like_escape(f.value) + ">");
        } else {
            b.where("EXISTS (SELECT 1 FROM json_each(m.rcpt_to) r WHERE r.value = ? COLLATE "
                    "NOCASE OR r.value = ? COLLATE NOCASE)");
            b.text(f.value);
            b.text("<" + f.value + ">");
        }
    }
    if (!q.message_id.empty()) {
        std::string_view id = q.message_id;
        if (id.size() >= 2 && id.front() == '<' && id.back() == '>') {
            id = id.substr(1, id.size() - 2);
        }
        b.where("(m.message_id = ? OR m.message_id = ?)");
        b.text(std::string(id));
        b.text("<" + std::string(id) + ">");
    }
    if (!q.audit_id.empty()) {
        b.where("m.audit_id = ?");
        b.text(q.audit_id);
    }
    if (!q.verdict.empty()) {
        b.where("m.verdict = ?");
        b.text(q.verdict);
    }
    if (!q.direction.empty()) {
        b.where("m.direction = ?");
        b.text(q.direction);
    }
    if (!q.action.empty()) {
        b.where("(m.action = ? OR m.seq IN (SELECT message_seq FROM events WHERE action = ?))");
        b.text(q.action);
        b.text(q.action);
    }
    if (!q.rule.empty()) {
        b.where("m.seq IN (SELECT message_seq FROM events WHERE rule = ?)");
        b.text(q.rule);
    }
    if (!q.filter.empty()) {
        b.where("m.seq IN (SELECT message_seq FROM events WHERE filter = ?)");
        b.text(q.filter);
    }
    if (!q.filename.empty()) {
        b.where(b.dialect() == Dialect::SQLite
                    ? "m.seq IN (SELECT message_seq FROM events WHERE instr(filename, ?) > 0)"
                    : "m.seq IN (SELECT message_seq FROM events WHERE strpos(filename, ?) > 0)");
        b.text(q.filename);
    }
    if (!q.sha256.empty()) {
        const std::string h = lower_ascii(q.sha256);
        b.where("m.seq IN (SELECT seq FROM messages WHERE sha256_in = ? "
                "UNION ALL SELECT seq FROM messages WHERE sha256_out = ? "
                "UNION ALL SELECT seq FROM messages WHERE quarantine_id = ? "
                "UNION ALL SELECT message_seq FROM events WHERE sha256_before = ? "
                "UNION ALL SELECT message_seq FROM events WHERE sha256_after = ?)");
        for (int i = 0; i < 5; ++i) {
            b.text(h);
        }
    }
}

Poco::Int64 clamp_to_int64(std::size_t v) {
    constexpr auto max = static_cast<std::size_t>(std::numeric_limits<Poco::Int64>::max());
    return static_cast<Poco::Int64>(std::min(v, max));
}

// ---------------------------------------------------------------------------------------------
// Verification

/// Walks rows in seq order and stops at the first problem.
class ChainWalker {
public:
    /// Starts at `start_seq`, whose prev_hash must be `start_hash` (seq 1 and the genesis hash,
    /// or the row after a retention checkpoint). `seals`: seq -> hash that those rows must have.
    ChainWalker(VerifyReport& r, Poco::Int64 start_seq, std::string start_hash,
                std::map<Poco::Int64, std::string> seals)
        : r_(r), expected_(start_seq), seals_(std::move(seals)) {
        r_.head_hash = std::move(start_hash);
        r_.start_seq = start_seq;
    }

    [[nodiscard]] bool failed() const { return !r_.ok; }

    void message(const MessageColumns& c, std::size_t i) {
        const Poco::Int64 seq = c.seq[i];
        if (!common(seq, c.prev_hash[i])) {
            return;
        }
        const AuditMessage m = c.message(i);
        const std::string h =
            audit_message_row_hash(m, c.rcpt_to[i], seq, c.event_count[i], c.prev_hash[i]);
        if (h != c.row_hash[i]) {
            return bad(seq, "hash mismatch");
        }
        if (!events_complete()) {
            return;
        }
        msg_seq_ = seq;
        msg_events_ = c.event_count[i];
        seen_events_ = 0;
        good(seq, c.row_hash[i]);
    }

    void event(const EventColumns& c, std::size_t i) {
        const Poco::Int64 seq = c.seq[i];
        if (!common(seq, c.prev_hash[i])) {
            return;
        }
        const std::string h =
            audit_event_row_hash(c.event(i), seq, c.message_seq[i], c.idx[i], c.prev_hash[i]);
        if (h != c.row_hash[i]) {
            return bad(seq, "hash mismatch");
        }
        if (msg_seq_ == 0 || c.message_seq[i] != msg_seq_ || c.idx[i] != seen_events_ ||
            seen_events_ >= msg_events_) {
            return bad(seq, "event out of place");
        }
        ++seen_events_;
        good(seq, c.row_hash[i]);
    }

    void duplicate(Poco::Int64 seq) { bad(seq, "duplicate: seq " + std::to_string(seq)); }

    void invalid(Poco::Int64 seq) { bad(seq, "invalid: seq " + std::to_string(seq)); }

    /// After all rows with seq <= `last` were walked, the chain must have reached `last`; this
    /// also keeps a forged row with a huge seq from making the walk over empty windows endless.
    void reached(Poco::Int64 last) {
        if (r_.ok && expected_ <= last) {
            bad(expected_, "gap: seq " + std::to_string(expected_) + " missing");
        }
    }

    void finish() {
        if (r_.ok) {
            (void)events_complete();
        }
        if (r_.ok && !seals_.empty()) {
            // Every seal at or below the head was checked in good(); one beyond it means rows
            // after the sealed head were cut off.
            const auto& [seq, hash] = *seals_.begin();
            bad(seq, "seal: seq " + std::to_string(seq) + " is beyond the head " +
                         std::to_string(r_.head_seq) + ": rows were cut off");
        }
    }

private:
    bool common(Poco::Int64 seq, const std::string& prev_hash) {
        if (seq != expected_) {
            if (seq < expected_) {
                bad(seq, "duplicate: seq " + std::to_string(seq));
            } else {
                bad(expected_, "gap: seq " + std::to_string(expected_) + " missing");
            }
            return false;
        }
        if (prev_hash != r_.head_hash) {
            bad(seq, "prev_hash mismatch");
            return false;
        }
        return true;
    }

    bool events_complete() {
        if (msg_seq_ != 0 && seen_events_ != msg_events_) {
            bad(msg_seq_, "event count mismatch");
            return false;
        }
        return true;
    }

    void good(Poco::Int64 seq, const std::string& hash) {
        if (const auto it = seals_.find(seq); it != seals_.end()) {
            if (it->second != hash) {
                return bad(seq, "seal: seq " + std::to_string(seq) +
                                    " has another hash than the seal: the chain was rewritten");
            }
            ++r_.seals_checked;
            seals_.erase(it);
        }
        ++r_.rows_checked;
        r_.head_seq = seq;
        r_.head_hash = hash;
        expected_ = seq + 1;
    }

    void bad(Poco::Int64 seq, std::string problem) {
        r_.ok = false;
        r_.first_bad_seq = seq;
        r_.problem = std::move(problem);
    }

    VerifyReport& r_;
    Poco::Int64 expected_ = 1;
    std::map<Poco::Int64, std::string> seals_;
    Poco::Int64 msg_seq_ = 0;
    Poco::Int64 msg_events_ = 0;
    Poco::Int64 seen_events_ = 0;
};

constexpr Poco::Int64 verify_window = 4096;

std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<Poco::Int64> to_int64(const std::string& s) {
    if (s.empty() || s.size() > 18 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    return std::stoll(s);
}

bool is_hex64(std::string_view h) {
    return h.size() == 64 && std::all_of(h.begin(), h.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

/// Migrates `s` to audit_schema_version inside one append transaction. Returns the version.
filters::Result<int> migrate(Session& s, Dialect d, const std::string& where) {
    begin_append(s, d);
    Poco::Int64 version = 0;
    try {
        constexpr std::string_view create_versions =
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
            "applied_unix_ms INTEGER NOT NULL, description TEXT NOT NULL)";
        s << (d == Dialect::SQLite ? std::string(create_versions)
                                   : postgresql_ddl(create_versions)),
            now;
        s << "SELECT coalesce(max(version), 0) FROM schema_version", into(version), now;
        if (version > audit_schema_version) {
            rollback_quietly(s);
            return fail(ErrorCode::Unsupported, "audit.schema_too_new",
                        where + ": schema version " + std::to_string(version) +
                            " is newer than this build supports (" +
                            std::to_string(audit_schema_version) + "); upgrade mugaika");
        }
        for (const Migration& mig : migrations) {
            if (mig.version <= version) {
                continue;
            }
            for (const std::string_view sql : mig.statements) {
                s << (d == Dialect::SQLite ? std::string(sql) : postgresql_ddl(sql)), now;
            }
            Poco::Int64 v = mig.version;
            Poco::Int64 applied = now_unix_ms();
            std::string description(mig.description);
            s << sql_for(d, "INSERT INTO schema_version (version, applied_unix_ms, description) "
                            "VALUES (?, ?, ?)"),
                use(v), use(applied), use(description), now;
            version = v;
        }
        s << "COMMIT", now;
    } catch (...) {
        rollback_quietly(s);
        throw;
    }
    return static_cast<int>(version);
}

/// Reads the message and event rows with lo < seq <= hi, in seq order.
void read_window(Session& s, Dialect d, Poco::Int64 lo, Poco::Int64 hi, MessageColumns& mc,
                 EventColumns& ec) {
    Statement mst(s);
    mst << sql_for(d, "SELECT " + std::string(message_columns) +
                          " FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq"),
        use(lo), use(hi);
    mc.extract_into(mst);
    mst.execute();
    Statement est(s);
    est << sql_for(d, "SELECT " + std::string(event_columns) +
                          " FROM events WHERE seq > ? AND seq <= ? ORDER BY seq"),
        use(lo), use(hi);
    ec.extract_into(est);
    est.execute();
}

/// The smallest and largest seq over both tables (1 and 0 for an empty store).
std::pair<Poco::Int64, Poco::Int64> seq_range(Session& s, Dialect d) {
    Poco::Int64 min_seq = 0;
    Poco::Int64 max_seq = 0;
    const char* least = d == Dialect::SQLite ? "min" : "least";
    const char* greatest = d == Dialect::SQLite ? "max" : "greatest";
    s << std::string("SELECT ") + least +
             "(coalesce((SELECT min(seq) FROM messages), 1), "
             "coalesce((SELECT min(seq) FROM events), 1)), " +
             greatest +
             "(coalesce((SELECT max(seq) FROM messages), 0), "
             "coalesce((SELECT max(seq) FROM events), 0))",
        into(min_seq), into(max_seq), now;
    return {min_seq, max_seq};
}

/// The row_hash of the row with this seq ("" if there is none).
std::string hash_of(Session& s, Dialect d, Poco::Int64 seq) {
    std::vector<std::string> hashes;
    s << sql_for(d, "SELECT row_hash FROM messages WHERE seq = ? "
                    "UNION ALL SELECT row_hash FROM events WHERE seq = ?"),
        into(hashes), use(seq), use(seq), now;
    return hashes.empty() ? std::string() : hashes.front();
}

} // namespace

// -------------------------------------------------------------------------------------------------

struct AuditStore::Impl {
    Impl(Dialect d, std::string t, AuditStoreOptions opts, int ver, Session w)
        : dialect(d), target(std::move(t)), options(opts), version(ver), writer(std::move(w)) {}

    /// A new connection for one read (SQLite: read-only; WAL lets it run beside the writer).
    [[nodiscard]] Session reader() const {
        if (dialect == Dialect::SQLite) {
            Session s = open_session(read_only_uri(target));
            set_busy_timeout(s, options.busy_timeout);
            return s;
        }
        return open_pg_session(target);
    }

    /// The writer, reconnected first when the server dropped the last one. Caller holds the
    /// write mutex.
    Session& live_writer() {
        if (dialect == Dialect::PostgreSQL && writer_broken) {
            writer = open_pg_session(target);
            writer_broken = false;
        }
        return writer;
    }

    Dialect dialect;
    std::string target; ///< SQLite path or PostgreSQL connection string
    AuditStoreOptions options;
    int version = 0;
    std::mutex write_mutex; // guards writer and writer_broken
    Session writer;
    bool writer_broken = false;
};

AuditStore::AuditStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditStore::~AuditStore() = default;

int AuditStore::schema_version() const {
    return impl_->version;
}

AuditBackend AuditStore::backend() const noexcept {
    return impl_->dialect == Dialect::SQLite ? AuditBackend::SQLite : AuditBackend::PostgreSQL;
}

Result<std::unique_ptr<AuditStore>> AuditStore::open_sqlite(const std::string& path,
                                                            const AuditStoreOptions& options) {
    try {
        const auto dir = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
            return fail(ErrorCode::Internal, "audit.open_failed",
                        "path=" + path + ": directory does not exist");
        }
        Session s = open_session(path);
        set_busy_timeout(s, options.busy_timeout);
        std::string mode;
        s << "PRAGMA journal_mode = WAL", into(mode), now;
        if (lower_ascii(mode) != "wal") {
            return fail(ErrorCode::Internal, "audit.open_failed",
                        "path=" + path + ": journal_mode=WAL not available (got " + mode + ")");
        }
        // FULL: a committed record survives power loss, not just a process crash.
        s << "PRAGMA synchronous = FULL", now;
        s << "PRAGMA foreign_keys = ON", now;
        auto version = migrate(s, Dialect::SQLite, "path=" + path);
        if (!version) {
            return tl::unexpected(version.error());
        }
        auto impl = std::make_unique<Impl>(Dialect::SQLite, path, options, *version, std::move(s));
        return std::unique_ptr<AuditStore>(new AuditStore(std::move(impl)));
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.open_failed", "path=" + path + ": " + e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.open_failed", "path=" + path + ": " + e.what());
    }
}

namespace {
/// The connection string without a password, for messages.
std::string conninfo_for_log(const std::string& conninfo) {
    std::string out;
    std::size_t pos = 0;
    while (pos < conninfo.size()) {
        std::size_t end = conninfo.find(' ', pos);
        if (end == std::string::npos) {
            end = conninfo.size();
        }
        const std::string token = conninfo.substr(pos, end - pos);
        if (!token.empty()) {
            out += out.empty() ? "" : " ";
            out += token.rfind("password=", 0) == 0 ? std::string("password=***") : token;
        }
        pos = end + 1;
    }
    return out;
}
} // namespace

Result<std::unique_ptr<AuditStore>> AuditStore::open_postgresql(const std::string& conninfo,
                                                                const AuditStoreOptions& options) {
    const std::string where = "postgresql=\"" + conninfo_for_log(conninfo) + "\"";
    try {
        Session s = open_pg_session(conninfo);
        // The same durability as SQLite's synchronous=FULL: COMMIT returns after the WAL flush
        // on the server (PostgreSQL's default; set here so a server default cannot weaken it).
        s << "SET synchronous_commit = on", now;
        auto version = migrate(s, Dialect::PostgreSQL, where);
        if (!version) {
            return tl::unexpected(version.error());
        }
        auto impl =
            std::make_unique<Impl>(Dialect::PostgreSQL, conninfo, options, *version, std::move(s));
        return std::unique_ptr<AuditStore>(new AuditStore(std::move(impl)));
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.open_failed", where + ": " + e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.open_failed", where + ": " + e.what());
    }
}

Result<void> AuditStore::record(const AuditMessage& in) {
    return record_all(std::span<const AuditMessage>(&in, 1));
}

Result<void> AuditStore::record_all(std::span<const AuditMessage> ms) {
    constexpr auto max_size = static_cast<std::uint64_t>(std::numeric_limits<Poco::Int64>::max());
    const std::string first_id = ms.empty() ? std::string() : ms.front().audit_id;
    for (const AuditMessage& in : ms) {
        const bool sizes_ok = in.size_in <= max_size && in.size_out <= max_size &&
                              std::all_of(in.events.begin(), in.events.end(),
                                          [](const AuditEvent& e) { return e.size <= max_size; });
        if (!sizes_ok) {
            return fail(ErrorCode::Malformed, "audit.write_failed",
                        "audit_id=" + in.audit_id + ": size above INT64_MAX");
        }
    }
    if (ms.empty()) {
        return {};
    }
    const Dialect d = impl_->dialect;
    try {
        std::vector<std::pair<AuditMessage, std::string>> rows;
        rows.reserve(ms.size());
        for (const AuditMessage& in : ms) {
            AuditMessage m = normalized(in);
            std::string rcpt_json = audit_rcpt_to_json(m.rcpt_to);
            rows.emplace_back(std::move(m), std::move(rcpt_json));
        }
        const std::lock_guard lock(impl_->write_mutex);
        try {
            Session& s = impl_->live_writer();
            begin_append(s, d);
            try {
                ChainHead head = read_head(s);
                for (const auto& [m, rcpt_json] : rows) {
                    head = write_rows(s, d, m, rcpt_json, head);
                }
                s << "COMMIT", now;
            } catch (...) {
                rollback_quietly(s);
                throw;
            }
        } catch (const Poco::Exception& e) {
            if (d == Dialect::PostgreSQL) {
                // Whatever failed, the next append starts on a fresh connection: a server that
                // restarted leaves this one dead, and libpq does not reconnect by itself.
                const bool lost =
                    !impl_->writer.isConnected() ||
                    dynamic_cast<const Poco::Data::PostgreSQL::ConnectionException*>(&e) != nullptr;
                impl_->writer_broken = true;
                if (lost) {
                    return fail(ErrorCode::Transient, "audit.write_failed",
                                "audit_id=" + first_id + ": connection lost: " + e.displayText());
                }
            }
            throw;
        }
        return {};
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.write_failed",
                    "audit_id=" + first_id + ": " + e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.write_failed",
                    "audit_id=" + first_id + ": " + e.what());
    }
}

Result<std::vector<AuditRow>> AuditStore::query(const AuditQuery& q) const {
    const Dialect d = impl_->dialect;
    try {
        Session s = impl_->reader();
        // One snapshot for the messages and their events.
        begin_snapshot(s, d);
        QueryBuilder b(d);
        b.sql() = "SELECT " + std::string(message_columns) + " FROM messages m WHERE 1 = 1";
        build_where(b, q);
        if (q.limit == 0) {
            b.sql() += d == Dialect::SQLite
                           ? " ORDER BY m.time_unix_ms DESC, m.seq DESC LIMIT -1 OFFSET ?"
                           : " ORDER BY m.time_unix_ms DESC, m.seq DESC LIMIT ALL OFFSET ?";
        } else {
            b.sql() += " ORDER BY m.time_unix_ms DESC, m.seq DESC LIMIT ? OFFSET ?";
            b.integer(clamp_to_int64(q.limit));
        }
        b.integer(clamp_to_int64(q.offset));

        MessageColumns mc;
        Statement st(s);
        st << b.final_sql();
        b.bind(st);
        mc.extract_into(st);
        st.execute();

        std::vector<AuditRow> rows;
        rows.reserve(mc.rows());
        std::map<Poco::Int64, std::size_t> by_seq;
        for (std::size_t i = 0; i < mc.rows(); ++i) {
            AuditRow row;
            row.msg = mc.message(i);
            row.seq = mc.seq[i];
            row.row_hash = mc.row_hash[i];
            auto rcpts = audit_rcpt_to_parse(mc.rcpt_to[i]);
            // A tampered rcpt_to still shows (verify reports the tampering).
            row.msg.rcpt_to = rcpts ? std::move(*rcpts) : std::vector<std::string>{mc.rcpt_to[i]};
            by_seq.emplace(row.seq, rows.size());
            rows.push_back(std::move(row));
        }
        if (!rows.empty()) {
            std::string seqs;
            for (const auto& r : rows) {
                seqs += (seqs.empty() ? "" : ",") + std::to_string(r.seq);
            }
            seqs = d == Dialect::SQLite ? "[" + seqs + "]" : "{" + seqs + "}";
            EventColumns ec;
            Statement est(s);
            est << sql_for(d, "SELECT " + std::string(event_columns) +
                                  (d == Dialect::SQLite
                                       ? " FROM events WHERE message_seq IN "
                                         "(SELECT value FROM json_each(?)) "
                                       : " FROM events WHERE message_seq = ANY(CAST(? AS "
                                         "bigint[])) ") +
                                  "ORDER BY message_seq, idx"),
                use(seqs);
            ec.extract_into(est);
            est.execute();
            for (std::size_t i = 0; i < ec.rows(); ++i) {
                const auto it = by_seq.find(ec.message_seq[i]);
                if (it != by_seq.end()) {
                    rows[it->second].msg.events.push_back(ec.event(i));
                }
            }
        }
        rollback_quietly(s);
        return rows;
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.query_failed", e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.query_failed", e.what());
    }
}

Result<VerifyReport> AuditStore::verify() const {
    return verify(std::vector<AuditSeal>{});
}

Result<VerifyReport> AuditStore::verify(const std::vector<AuditSeal>& seals) const {
    const Dialect d = impl_->dialect;
    try {
        Session s = impl_->reader();
        begin_snapshot(s, d); // one snapshot: writers may go on appending meanwhile
        const auto [min_seq, max_seq] = seq_range(s, d);

        VerifyReport report;
        // Where the retained chain starts: seq 1, or right after the newest retention checkpoint
        // whose through_seq is the row before the first one still stored.
        Poco::Int64 start_seq = 1;
        std::string start_hash(audit_genesis_hash);
        if (min_seq > 1) {
            std::vector<Poco::Int64> cp_seqs;
            std::vector<std::string> details;
            s << "SELECT m.seq, e.detail FROM messages m JOIN events e ON e.message_seq = m.seq "
                 "WHERE m.verdict = 'checkpoint' AND m.reason = 'audit.retention' "
                 "AND e.filter = 'audit' ORDER BY m.seq DESC",
                into(cp_seqs), into(details), now;
            for (std::size_t i = 0; i < cp_seqs.size(); ++i) {
                const auto through = to_int64(audit_text::detail_value(details[i], "through_seq"));
                const std::string hash = audit_text::detail_value(details[i], "through_hash");
                if (through && *through == min_seq - 1 && is_hex64(hash) && cp_seqs[i] > *through) {
                    start_seq = min_seq;
                    start_hash = hash;
                    report.checkpoint_seq = cp_seqs[i];
                    break;
                }
            }
        }

        // Seals before the retained chain can be checked only against the checkpoint itself.
        std::map<Poco::Int64, std::string> pending;
        std::int64_t early_checked = 0;
        std::optional<std::pair<Poco::Int64, std::string>> early_problem;
        for (const AuditSeal& seal : seals) {
            if (seal.seq >= start_seq) {
                pending.emplace(seal.seq, seal.hash);
            } else if (seal.seq == start_seq - 1 && start_seq > 1) {
                if (seal.hash == start_hash) {
                    ++early_checked;
                } else if (!early_problem) {
                    early_problem.emplace(seal.seq, "seal: seq " + std::to_string(seal.seq) +
                                                        " has another hash than the retention "
                                                        "checkpoint records");
                }
            } else if (!early_problem && seal.seq >= 1) {
                early_problem.emplace(seal.seq, "seal: seq " + std::to_string(seal.seq) +
                                                    " was removed by retention (rows up to " +
                                                    std::to_string(start_seq - 1) +
                                                    "); check a newer seal");
            }
        }

        ChainWalker walker(report, start_seq, start_hash, std::move(pending));
        if (min_seq < 1) {
            walker.invalid(min_seq); // a row outside the chain that query() would still show
        }
        for (Poco::Int64 lo = start_seq - 1; lo < max_seq && !walker.failed();
             lo += verify_window) {
            Poco::Int64 hi = std::min(max_seq, lo + verify_window);
            MessageColumns mc;
            EventColumns ec;
            read_window(s, d, lo, hi, mc, ec);
            std::size_t i = 0;
            std::size_t j = 0;
            while ((i < mc.rows() || j < ec.rows()) && !walker.failed()) {
                if (j >= ec.rows() || (i < mc.rows() && mc.seq[i] < ec.seq[j])) {
                    walker.message(mc, i++);
                } else if (i >= mc.rows() || ec.seq[j] < mc.seq[i]) {
                    walker.event(ec, j++);
                } else {
                    walker.duplicate(mc.seq[i]);
                }
            }
            walker.reached(hi);
        }
        walker.finish();
        rollback_quietly(s);
        report.seals_checked += early_checked;
        if (report.ok && early_problem) {
            report.ok = false;
            report.first_bad_seq = early_problem->first;
            report.problem = early_problem->second;
        }
        return report;
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.query_failed", e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.query_failed", e.what());
    }
}

Result<AuditSeal> AuditStore::head() const {
    try {
        Session s = impl_->reader();
        const ChainHead h = read_head(s);
        return AuditSeal{h.seq, h.hash, now_unix_ms()};
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.query_failed", e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.query_failed", e.what());
    }
}

Result<RetentionReport> AuditStore::apply_retention(std::int64_t cutoff_ms, const std::string& by,
                                                    std::int64_t now_ms,
                                                    const std::string& checkpoint_id,
                                                    bool dry_run) {
    const Dialect d = impl_->dialect;
    try {
        const std::lock_guard lock(impl_->write_mutex);
        Session& s = impl_->live_writer();
        begin_append(s, d);
        try {
            RetentionReport r;
            const ChainHead head = read_head(s);
            Poco::Int64 cutoff = cutoff_ms;
            Poco::Int64 first_kept = 0;
            s << sql_for(d, "SELECT coalesce(min(seq), 0) FROM messages WHERE time_unix_ms >= ?"),
                into(first_kept), use(cutoff), now;
            // Only whole messages, and only a prefix of the chain: everything before the first
            // message that is still inside the retention period.
            Poco::Int64 through = first_kept == 0 ? head.seq : first_kept - 1;
            const auto [min_seq, max_seq] = seq_range(s, d);
            (void)max_seq;
            if (through < min_seq) {
                rollback_quietly(s);
                return r;
            }
            s << sql_for(d, "SELECT count(*) FROM messages WHERE seq <= ?"),
                into(r.removed_messages), use(through), now;
            Poco::Int64 events = 0;
            s << sql_for(d, "SELECT count(*) FROM events WHERE seq <= ?"), into(events),
                use(through), now;
            r.removed_rows = r.removed_messages + events;
            r.through_seq = through;
            r.through_hash = hash_of(s, d, through);
            if (dry_run) {
                rollback_quietly(s);
                return r;
            }
            s << sql_for(d, "DELETE FROM events WHERE seq <= ?"), use(through), now;
            s << sql_for(d, "DELETE FROM messages WHERE seq <= ?"), use(through), now;

            AuditMessage cp;
            cp.audit_id = checkpoint_id;
            cp.time_unix_ms = now_ms;
            cp.verdict = "checkpoint";
            cp.action = "none";
            cp.reason = "audit.retention";
            cp.size_in = static_cast<std::uint64_t>(r.removed_rows);
            AuditEvent e;
            e.filter = "audit";
            e.action = "none";
            e.reason = "audit.retention";
            e.detail = "through_seq=" + std::to_string(through) +
                       " through_hash=" + r.through_hash +
                       " removed_messages=" + std::to_string(r.removed_messages) +
                       " removed_rows=" + std::to_string(r.removed_rows) +
                       " cutoff_unix_ms=" + std::to_string(cutoff_ms) + " " +
                       audit_text::detail_pair("by", by);
            cp.events.push_back(std::move(e));
            const AuditMessage m = normalized(cp);
            (void)write_rows(s, d, m, audit_rcpt_to_json(m.rcpt_to), head);
            s << "COMMIT", now;
            r.checkpoint_id = cp.audit_id;
            return r;
        } catch (...) {
            rollback_quietly(s);
            throw;
        }
    } catch (const Poco::Exception& e) {
        if (d == Dialect::PostgreSQL) {
            const std::lock_guard lock(impl_->write_mutex);
            impl_->writer_broken = true;
        }
        return fail(classify(e), "audit.write_failed", "retention: " + e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.write_failed",
                    std::string("retention: ") + e.what());
    }
}

Result<std::int64_t> AuditStore::copy_into(AuditStore& target) const {
    const Dialect sd = impl_->dialect;
    const Dialect td = target.impl_->dialect;
    try {
        Session src = impl_->reader();
        begin_snapshot(src, sd);
        const auto [min_seq, max_seq] = seq_range(src, sd);

        const std::lock_guard lock(target.impl_->write_mutex);
        Session& t = target.impl_->live_writer();
        begin_append(t, td);
        try {
            Poco::Int64 existing = 0;
            t << "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM events)",
                into(existing), now;
            if (existing != 0) {
                rollback_quietly(t);
                rollback_quietly(src);
                return fail(ErrorCode::Malformed, "audit.migrate_target_not_empty",
                            "the target already holds " + std::to_string(existing) + " rows");
            }
            std::int64_t copied = 0;
            for (Poco::Int64 lo = min_seq - 1; lo < max_seq; lo += verify_window) {
                const Poco::Int64 hi = std::min(max_seq, lo + verify_window);
                MessageColumns mc;
                EventColumns ec;
                read_window(src, sd, lo, hi, mc, ec);
                for (std::size_t i = 0; i < mc.rows(); ++i) {
                    t << sql_for(td, "INSERT INTO messages (" + std::string(message_columns) +
                                         ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                                         "?,?)"),
                        use(mc.seq[i]), use(mc.audit_id[i]), use(mc.time_unix_ms[i]),
                        use(mc.direction[i]), use(mc.client_addr[i]), use(mc.helo[i]),
                        use(mc.queue_id[i]), use(mc.mail_from[i]), use(mc.rcpt_to[i]),
                        use(mc.message_id[i]), use(mc.subject[i]), use(mc.from_header[i]),
                        use(mc.size_in[i]), use(mc.size_out[i]), use(mc.sha256_in[i]),
                        use(mc.sha256_out[i]), use(mc.verdict[i]), use(mc.action[i]),
                        use(mc.reason[i]), use(mc.ruleset_version[i]), use(mc.quarantine_id[i]),
                        use(mc.duration_us[i]), use(mc.event_count[i]), use(mc.prev_hash[i]),
                        use(mc.row_hash[i]), now;
                }
                for (std::size_t i = 0; i < ec.rows(); ++i) {
                    t << sql_for(td, "INSERT INTO events (" + std::string(event_columns) +
                                         ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
                        use(ec.seq[i]), use(ec.message_seq[i]), use(ec.idx[i]),
                        use(ec.part_path[i]), use(ec.filename[i]), use(ec.declared_type[i]),
                        use(ec.detected_type[i]), use(ec.size[i]), use(ec.sha256_before[i]),
                        use(ec.sha256_after[i]), use(ec.filter[i]), use(ec.action[i]),
                        use(ec.rule[i]), use(ec.reason[i]), use(ec.detail[i]),
                        use(ec.duration_us[i]), use(ec.prev_hash[i]), use(ec.row_hash[i]), now;
                }
                copied += static_cast<std::int64_t>(mc.rows() + ec.rows());
            }
            t << "COMMIT", now;
            rollback_quietly(src);
            return copied;
        } catch (...) {
            rollback_quietly(t);
            throw;
        }
    } catch (const Poco::Exception& e) {
        return fail(classify(e), "audit.migrate_failed", e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "audit.migrate_failed", e.what());
    }
}

std::string AuditSeal::text() const {
    return "mugaika-seal:v1:" + std::to_string(seq) + ":" + hash + ":" +
           std::to_string(time_unix_ms);
}

Result<AuditSeal> AuditSeal::parse(std::string_view text) {
    std::string_view t = text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
        t.remove_suffix(1);
    }
    constexpr std::string_view prefix = "mugaika-seal:v1:";
    const bool full = t.substr(0, prefix.size()) == prefix;
    if (full) {
        t.remove_prefix(prefix.size());
    }
    std::vector<std::string> parts;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t c = t.find(':', pos);
        parts.emplace_back(t.substr(pos, c == std::string_view::npos ? c : c - pos));
        if (c == std::string_view::npos) {
            break;
        }
        pos = c + 1;
    }
    const std::size_t want = full ? 3 : 2;
    AuditSeal seal;
    const auto seq = parts.size() == want ? to_int64(parts[0]) : std::nullopt;
    const std::string hash = parts.size() == want ? lower_ascii(parts[1]) : std::string();
    const auto time =
        full && parts.size() == want ? to_int64(parts[2]) : std::optional<Poco::Int64>(0);
    if (!seq || *seq < 1 || !is_hex64(hash) || !time) {
        return fail(ErrorCode::Malformed, "audit.bad_seal",
                    "a seal is mugaika-seal:v1:SEQ:HASH:UNIX_MS or SEQ:HASH, got \"" +
                        std::string(text.substr(0, 200)) + "\"");
    }
    seal.seq = *seq;
    seal.hash = hash;
    seal.time_unix_ms = *time;
    return seal;
}

} // namespace mugaika::gateway
