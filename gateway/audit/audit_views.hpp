#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filters/core/result.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/timezone.hpp"

/// What auditors read: the CSV of a query, the story of one mail (`mugaika audit show`), and the
/// monthly report (`mugaika audit report`). Pure renderings over AuditStore reads; the CLI and the
/// console (`mugaika serve`) both use them. See docs/audit.md.
namespace mugaika::gateway {

/// `mugaika audit query --format csv`: UTF-8 with a BOM (Excel opens Japanese intact), CRLF line
/// ends, RFC 4180 quoting, one line per event (message columns repeated; a message without events
/// gets one line). Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR first)
/// are prefixed with an apostrophe. Times in `tz`.
/// Columns: the message (seq, audit_id, time, ..., row_hash) then the event (event_idx,
/// part_path, ..., event_duration_us); docs/audit.md "CSV" lists them.
[[nodiscard]] std::string render_csv(const std::vector<AuditRow>& rows, const TimeZone& tz);

/// One CSV text cell as render_csv writes it: valid UTF-8, an apostrophe before a formula-like
/// start, RFC 4180 quotes when it holds a comma, a quote or a line break.
[[nodiscard]] std::string csv_cell(std::string_view text);

/// The `key=value` pairs of an event's `detail`, in order. Values written `key="..."` are
/// unquoted (`\"` and `\\` unescaped); a word without '=' gives an empty value. Never fails:
/// text that does not follow the format yields what could be read.
[[nodiscard]] std::vector<std::pair<std::string, std::string>>
parse_event_detail(std::string_view detail);

/// Table rendering with times in `tz` (render_table in audit_store.hpp uses Asia/Tokyo).
[[nodiscard]] std::string render_table(const std::vector<AuditRow>& rows, const TimeZone& tz);
/// JSON rendering with "time" in `tz`.
[[nodiscard]] std::string render_json(const std::vector<AuditRow>& rows, const TimeZone& tz);

/// The whole story of one mail: its own record, then every other record that names the same
/// original (quarantine_id / sha256_in) or the same Message-ID: release requests and decisions,
/// purges, other deliveries of the same original. In seq order.
struct AuditStory {
    AuditRow mail;                   ///< the record asked for
    std::vector<AuditRow> related{}; ///< release, purge and other rows about the same original
};

/// Reads the record with this audit id, then the records that share its original (sha256 =
/// quarantine_id, else sha256_in) or its Message-ID, at most 1000 of each. Fails with
/// "audit.not_found" (ErrorCode::Malformed) when no row has this audit id, or
/// "audit.query_failed".
[[nodiscard]] filters::Result<AuditStory> load_story(const AuditStore& store,
                                                     const std::string& audit_id);

/// `mugaika audit show ID`: envelope, headers, sizes and hashes in/out, then each part and each
/// step in order with hashes, removed objects and URLs (from the CDR event details), then the
/// related records (quarantine, release requests and decisions, purges). Terminal-safe text.
[[nodiscard]] std::string render_story_text(const AuditStory& story, const TimeZone& tz);
/// The same as one JSON object: {"mail": {...row as in render_json...}, "related": [...],
/// "removed": [{"part","kind","location"}...], "urls": [{"part","url"}...]}.
[[nodiscard]] std::string render_story_json(const AuditStory& story, const TimeZone& tz);

/// Monthly statistics, days and times in `tz`.
struct MonthReport {
    int year = 0;
    int month = 0;
    std::string zone{};
    std::int64_t since_ms = 0; ///< local midnight of the 1st
    std::int64_t until_ms = 0; ///< local midnight of the 1st of the next month
    std::string since_text{};  ///< since_ms in ISO 8601 in the zone ("2026-11-01T00:00:00+09:00")
    std::string until_text{};  ///< until_ms likewise
    std::int64_t messages = 0; ///< mail records (not release/purge/config/console rows)
    std::int64_t bytes_in = 0;
    std::int64_t bytes_out = 0;
    /// per day of the month (index 0 = day 1): mail records by verdict
    std::vector<std::map<std::string, std::int64_t>> by_day{};
    std::map<std::string, std::int64_t> by_verdict{};
    std::map<std::string, std::int64_t> by_direction{};
    std::map<std::string, std::int64_t> by_action{};        ///< event actions over parts
    std::map<std::string, std::int64_t> by_detected_type{}; ///< parts' detected types
    std::map<std::string, std::int64_t> by_rule{};
    std::map<std::string, std::int64_t> by_av_signature{};
    /// per CDR engine: {"rebuilt": n, "failed": n}; failures also by reason in cdr_failures
    std::map<std::string, std::map<std::string, std::int64_t>> by_cdr_engine{};
    std::map<std::string, std::int64_t> cdr_failures{};
    std::vector<std::pair<std::string, std::int64_t>> top_senders{};           ///< at most 20
    std::vector<std::pair<std::string, std::int64_t>> top_recipient_domains{}; ///< at most 20
    std::map<std::string, std::int64_t> releases{}; ///< release rows by verdict
    std::int64_t purged_originals = 0;
};

/// Reads every record of the month (year, month as civil month in `tz`), 1000 rows per query.
/// Fails with "audit.bad_month" (ErrorCode::Malformed) for a month outside 1..12 or a year
/// outside 1970..9999, or "audit.query_failed".
[[nodiscard]] filters::Result<MonthReport> build_month_report(const AuditStore& store, int year,
                                                              int month, const TimeZone& tz);

/// One self-contained HTML file (inline CSS and SVG charts, no script, no external resource) that
/// prints well on A4; `lang` "ja" or "en" for the labels.
[[nodiscard]] std::string render_report_html(const MonthReport& r, const std::string& lang);
/// CSV (UTF-8 with BOM, CRLF): `section,key,count` lines.
[[nodiscard]] std::string render_report_csv(const MonthReport& r);
/// JSON object with the MonthReport fields.
[[nodiscard]] std::string render_report_json(const MonthReport& r);

} // namespace mugaika::gateway
