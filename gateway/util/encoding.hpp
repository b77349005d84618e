#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mugaika::gateway {

/// Lower-case hex SHA-256 of data (OpenSSL through Poco::Crypto). Thread-safe.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// Base64 with CRLF line breaks every 76 characters (RFC 2045). Thread-safe.
[[nodiscard]] std::string base64_encode_lines(std::string_view data);

/// Quoted-printable (RFC 2045) of text with LF line ends; output lines end in CRLF. Thread-safe.
[[nodiscard]] std::string quoted_printable_encode(std::string_view text);

/// Converts LF (and lone CR) line ends to CRLF.
[[nodiscard]] std::string to_crlf(std::string_view text);

/// "12,345" — thousands separated, for notices.
[[nodiscard]] std::string group_thousands(std::uint64_t n);

/// ISO 8601 time in UTC with milliseconds: "2026-11-21T23:54:14.123Z".
[[nodiscard]] std::string iso8601_utc(std::int64_t unix_ms);

/// RFC 5322 date in UTC: "Sat, 21 Nov 2026 23:54:14 +0000".
[[nodiscard]] std::string rfc5322_date(std::int64_t unix_ms);

} // namespace mugaika::gateway
