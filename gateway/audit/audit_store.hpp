#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::gateway {

/// The newest audit schema this build knows; `AuditStore::open_sqlite` migrates older databases up
/// to it and refuses newer ones (docs/audit.md lists the migrations).
inline constexpr int audit_schema_version = 2;

/// One step over one part (or over the whole message when `part_path` is empty). Plain value.
/// Text fields are stored as valid UTF-8: invalid sequences and NUL bytes become U+FFFD.
struct AuditEvent {
    std::string part_path{}; ///< "1.2", or "" for message-level steps
    std::string filename{};
    std::string declared_type{};
    std::string detected_type{};
    std::uint64_t size = 0;      ///< bytes; at most INT64_MAX (SQLite integers are signed)
    std::string sha256_before{}; ///< lower-case hex, "" if none
    std::string sha256_after{};  ///< lower-case hex, "" if none
    std::string filter{};        ///< "mime", "text.html", "text.plain", "attachment", "limits", ...
    std::string action{};        ///< "text", "keep", "strip", "reject", "tempfail", "none"
    std::string rule{};          ///< rule id that decided, "" if none
    std::string reason{};        ///< stable dotted code, e.g. "html.script_removed"
    std::string detail{};        ///< short key=value text, never content
    std::int64_t duration_us = 0;

    friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

/// One processed message with its step events. Plain value.
struct AuditMessage {
    /// Caller-provided unique id ("MG-20261121-xxxxxxxx"); UNIQUE in the store.
    std::string audit_id{};
    std::int64_t time_unix_ms = 0;
    std::string direction{}; ///< "inbound" | "outbound"
    std::string client_addr{};
    std::string helo{};
    std::string queue_id{};
    std::string mail_from{};
    std::vector<std::string> rcpt_to{};
    std::string message_id{};  ///< as in the header, usually with angle brackets
    std::string subject{};     ///< decoded UTF-8
    std::string from_header{}; ///< decoded UTF-8
    std::uint64_t size_in = 0;
    std::uint64_t size_out = 0;
    std::string sha256_in{};
    std::string sha256_out{};
    std::string verdict{}; ///< "sanitized", "rejected", "tempfail", "discarded"
    std::string action{};  ///< final action
    std::string reason{};  ///< main reason code
    std::string ruleset_version{};
    std::string quarantine_id{}; ///< sha256 of the kept original
    std::int64_t duration_us = 0;
    std::vector<AuditEvent> events{}; ///< in step order; kept in this order by the store

    friend bool operator==(const AuditMessage&, const AuditMessage&) = default;
};

/// Filters for `AuditStore::query`; empty strings and unset optionals do not filter. All set
/// filters must match (AND). Semantics per field are in docs/audit.md.
struct AuditQuery {
    std::optional<std::int64_t> since_ms{}; ///< time_unix_ms >= since_ms
    std::optional<std::int64_t> until_ms{}; ///< time_unix_ms <  until_ms
    std::string sender{};     ///< envelope MAIL FROM: "a@b.jp" exact (ASCII case-insensitive), or a
                              ///< domain "b.jp" / "@b.jp" (the part after the last '@')
    std::string recipient{};  ///< any RCPT TO, same forms as `sender`
    std::string message_id{}; ///< exact, with or without the angle brackets
    std::string audit_id{};   ///< exact
    std::string verdict{};    ///< exact
    std::string action{};     ///< the message's final action or any event's action
    std::string rule{};       ///< any event's rule id, exact
    std::string filename{};   ///< substring of any event's filename (case-sensitive)
    std::string sha256{};     ///< sha256_in/out, quarantine_id or any event's before/after hash
    std::string direction{};  ///< exact
    std::string filter{};     ///< any event's filter ("av", "cdr.pdf", "text.html", ...), exact
    std::size_t limit = 100;  ///< 0 = no limit
    std::size_t offset = 0;
};

/// One message as stored, with its events, its chain position and its row hash.
struct AuditRow {
    AuditMessage msg;
    std::int64_t seq = 0;
    std::string row_hash{};
};

/// Outcome of `AuditStore::verify`. `ok == false` with a `problem` is a finding, not an error.
struct VerifyReport {
    bool ok = true;
    std::int64_t rows_checked = 0;  ///< rows (messages + events) that passed
    std::int64_t first_bad_seq = 0; ///< 0 when ok
    /// "" when ok; otherwise one of "hash mismatch", "prev_hash mismatch", "gap: seq N missing",
    /// "duplicate: seq N", "invalid: seq N", "event out of place", "event count mismatch"
    std::string problem{};
    std::string head_hash{}; ///< row_hash of the last good row (64 zeros for an empty store)
    std::int64_t head_seq = 0;
    /// The first seq of the retained chain: 1, or the row after a retention checkpoint's
    /// `through_seq` when old rows were removed (`checkpoint_seq` is then that checkpoint row).
    std::int64_t start_seq = 1;
    std::int64_t checkpoint_seq = 0;
    std::int64_t seals_checked = 0; ///< seals given to verify() that matched the chain
};

/// A chain head written down outside the system (`mugaika audit seal`). Its text form is
/// `mugaika-seal:v1:SEQ:HASH:UNIX_MS`; verify() with seals proves that the row at SEQ still has
/// HASH (nothing up to it was rewritten) and that the chain reaches at least SEQ (nothing after
/// it was cut off).
struct AuditSeal {
    std::int64_t seq = 0;
    std::string hash{};
    std::int64_t time_unix_ms = 0;

    [[nodiscard]] std::string text() const;
    /// Accepts the full text form, or "SEQ:HASH". Fails with "audit.bad_seal" (Malformed).
    [[nodiscard]] static filters::Result<AuditSeal> parse(std::string_view text);
};

/// What apply_retention() removed (or would remove, for a dry run).
struct RetentionReport {
    std::int64_t removed_messages = 0; ///< message rows (mail and other records)
    std::int64_t removed_rows = 0;     ///< message and event rows
    std::int64_t through_seq = 0;      ///< last removed seq; 0 when nothing was removed
    std::string through_hash{};        ///< its row_hash
    std::string checkpoint_id{};       ///< audit_id of the checkpoint row written ("" if none)
};

/// Where the trail is stored.
enum class AuditBackend : std::uint8_t { SQLite, PostgreSQL };

/// Tunables for the SQLite store.
struct AuditStoreOptions {
    /// How long a writer (or reader) waits for another connection's lock before failing.
    std::chrono::milliseconds busy_timeout{5000};
};

/// The hash-chained audit trail in SQLite (WAL, synchronous=FULL). See docs/audit.md.
///
/// Thread-safe. Writes go through one connection guarded by a mutex; every `query` and `verify`
/// opens its own read-only connection, so long reads never block writers (WAL). Several processes
/// may share one database file: writers serialize on the chain head inside BEGIN IMMEDIATE.
class AuditStore {
public:
    /// Opens (creating the file if needed, never its directory) and migrates the database at
    /// `path`. Fails with "audit.open_failed" (unreadable, not a database, WAL unavailable, ...)
    /// or "audit.schema_too_new" (ErrorCode::Unsupported) when the database was written by a
    /// newer build.
    [[nodiscard]] static filters::Result<std::unique_ptr<AuditStore>>
    open_sqlite(const std::string& path, const AuditStoreOptions& options = {});

    /// Connects to PostgreSQL (libpq connection string, e.g. "host=db1 dbname=mugaika
    /// user=mugaika") and migrates the same schema there. Several processes and hosts may write
    /// at once: each record() takes a transaction-scoped advisory lock before it reads the chain
    /// head. Errors as open_sqlite; an unreachable server is ErrorCode::Transient.
    [[nodiscard]] static filters::Result<std::unique_ptr<AuditStore>>
    open_postgresql(const std::string& conninfo, const AuditStoreOptions& options = {});

    ~AuditStore();
    AuditStore(const AuditStore&) = delete;
    AuditStore& operator=(const AuditStore&) = delete;
    AuditStore(AuditStore&&) = delete;
    AuditStore& operator=(AuditStore&&) = delete;

    /// Appends the message row and one row per event, chained, in one transaction: either all rows
    /// are durable when this returns, or none were written. Fails with "audit.write_failed":
    /// ErrorCode::Transient when the database was busy past the timeout or an I/O error or full
    /// disk occurred, ErrorCode::Malformed for a size above INT64_MAX, ErrorCode::Internal
    /// otherwise (e.g. a duplicate audit_id).
    [[nodiscard]] filters::Result<void> record(const AuditMessage& m);

    /// Like record() for several messages in one transaction (bulk loads, benchmarks).
    [[nodiscard]] filters::Result<void> record_all(std::span<const AuditMessage> ms);

    /// Messages matching `q`, newest first (time_unix_ms, then seq), each with its events in order.
    /// Fails with "audit.query_failed".
    [[nodiscard]] filters::Result<std::vector<AuditRow>> query(const AuditQuery& q) const;

    /// Recomputes the whole chain on one consistent snapshot. A broken chain is reported in the
    /// VerifyReport; only a failure to read is an error ("audit.query_failed").
    [[nodiscard]] filters::Result<VerifyReport> verify() const;

    /// verify(), and every seal must match: the chain reaches the sealed seq and that row still
    /// has the sealed hash. A seal older than a retention checkpoint can only be checked when it
    /// names the checkpoint's `through_seq`; otherwise it is reported as a problem.
    [[nodiscard]] filters::Result<VerifyReport> verify(const std::vector<AuditSeal>& seals) const;

    /// The current chain head (not verified; see verify()), with the current time.
    [[nodiscard]] filters::Result<AuditSeal> head() const;

    /// Removes the oldest rows: every message (with its events) before the first message whose
    /// time is at or after `cutoff_ms`, then appends a checkpoint row (verdict "checkpoint",
    /// reason "audit.retention") that records the last removed seq and its hash, so that the
    /// remaining chain still verifies. `checkpoint_id` is that row's audit id (the caller's, as
    /// for record(): "CP-…"). One transaction. `dry_run` only counts.
    [[nodiscard]] filters::Result<RetentionReport>
    apply_retention(std::int64_t cutoff_ms, const std::string& by, std::int64_t now_ms,
                    const std::string& checkpoint_id, bool dry_run);

    /// Copies every row of this store, byte for byte (seq, hashes and all), into `target`, which
    /// must be empty ("audit.migrate_target_not_empty"). One transaction in the target.
    /// Returns the number of rows copied. The caller verifies the target afterwards.
    [[nodiscard]] filters::Result<std::int64_t> copy_into(AuditStore& target) const;

    [[nodiscard]] AuditBackend backend() const noexcept;

    /// The schema version of the open database (== audit_schema_version after open).
    [[nodiscard]] int schema_version() const;

private:
    struct Impl;
    explicit AuditStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_{};
};

/// Human table for `mugaika audit query`: time (Asia/Tokyo, ISO 8601 with +09:00), audit id,
/// verdict, envelope sender, subject (truncated by display width; full-width characters count 2),
/// then one indented line per event. Control and bidi characters are replaced so stored text cannot
/// drive the terminal. Ends with a newline.
[[nodiscard]] std::string render_table(const std::vector<AuditRow>& rows);

/// One JSON array (Poco::JSON), one object per message with an "events" array; UTF-8 is written
/// unescaped, invalid sequences become U+FFFD. Field names are those of AuditMessage/AuditEvent
/// plus "seq", "row_hash" and "time" (ISO 8601, +09:00). Ends with a newline.
[[nodiscard]] std::string render_json(const std::vector<AuditRow>& rows);

} // namespace mugaika::gateway
