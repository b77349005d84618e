#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

/// Text helpers for the audit store and its renderings. All functions are pure and thread-safe.
namespace mugaika::gateway::audit_text {

/// `s` as valid UTF-8: every invalid, overlong or surrogate sequence and every NUL byte becomes
/// U+FFFD. Valid input is returned unchanged.
[[nodiscard]] std::string to_valid_utf8(std::string_view s);

/// Columns a terminal uses for valid UTF-8 `s`: East Asian Wide and Fullwidth characters count 2,
/// combining marks and zero-width characters 0, everything else (including East Asian Ambiguous)
/// 1.
[[nodiscard]] std::size_t display_width(std::string_view s);

/// `s` made safe for one terminal line: C0/C1 controls and DEL become '?', tab and line breaks a
/// space, bidi embedding/override/isolate marks '?'; invalid UTF-8 becomes U+FFFD.
[[nodiscard]] std::string terminal_safe(std::string_view s);

/// Valid UTF-8 `s` cut at a character boundary to at most `width` columns; when cut, it ends with
/// "..." (the result, dots included, stays within `width`).
[[nodiscard]] std::string truncate_to_width(std::string_view s, std::size_t width);

/// `s` followed by spaces up to `width` display columns (unchanged if already wider).
[[nodiscard]] std::string pad_to_width(std::string_view s, std::size_t width);

/// key=value text for audit details: a value with spaces, quotes, '=' or nothing is quoted, with
/// backslash escapes. `detail_value` reads one value back ("" when the key is absent).
[[nodiscard]] std::string detail_pair(std::string_view key, std::string_view value);
[[nodiscard]] std::string detail_value(std::string_view detail, std::string_view key);

/// Text for HTML (element content and quoted attribute values alike): valid UTF-8, controls other
/// than tab and line breaks shown as U+FFFD, and & < > " ' as references.
[[nodiscard]] std::string html_escape(std::string_view raw);

/// Unix milliseconds as ISO 8601 in Asia/Tokyo: "2026-11-21T10:15:30+09:00", or with
/// `with_millis` "2026-11-21T10:15:30.123+09:00". Japan has kept UTC+9 without DST since 1951, so
/// a fixed offset is exact for every time this product records.
[[nodiscard]] std::string format_tokyo_time(std::int64_t unix_ms, bool with_millis);

} // namespace mugaika::gateway::audit_text
