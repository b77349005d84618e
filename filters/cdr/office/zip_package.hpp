#pragma once
// Zip packages (OOXML, ODF) read into memory and written anew, under limits. Shared by the ooxml
// and odf engines; internal to filters/cdr.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::filters::cdr::office {

/// One member of a package, inflated.
struct ZipMember {
    std::string name; ///< UTF-8, validated: relative, no "..", no backslash, no NUL
    std::string data;
    bool stored = false; ///< written uncompressed (ODF's mimetype)
};

/// The error codes one engine reports for package-level failures (static strings).
struct ZipCodes {
    std::string_view not_zip;   ///< Malformed: not a zip, truncated, CRC error
    std::string_view encrypted; ///< Malformed: an encrypted member
    std::string_view bad_name;  ///< Malformed: traversal, absolute, duplicate, not UTF-8
    std::string_view too_large; ///< LimitExceeded: inflated bytes above the limit
    std::string_view too_many;  ///< LimitExceeded: more members than allowed
};

/// Limits for reading.
struct ZipLimits {
    std::uint64_t max_members = 10000;
    std::uint64_t max_expanded = 500ULL << 20U; ///< total inflated bytes, counted while reading
};

/// Reads every member of the zip in `in` (borrowed for the call), in central directory order.
/// Directory entries are skipped. Member sizes are counted while inflating (headers lie). Fails
/// with the codes in `codes`; never returns a partial package.
[[nodiscard]] Result<std::vector<ZipMember>>
read_zip(std::span<const std::byte> in, const ZipLimits& limits, const ZipCodes& codes);

/// Writes `members` in order into a new zip (deflate unless `stored`, a fixed time stamp, UTF-8
/// names). Error Internal `internal_code` when libzip fails.
[[nodiscard]] Result<std::string> write_zip(const std::vector<ZipMember>& members,
                                            std::string_view internal_code);

/// True when `name` is a safe relative member name (see ZipMember::name).
[[nodiscard]] bool safe_member_name(std::string_view name) noexcept;

/// True when `s` is valid UTF-8 (no overlongs, no surrogates).
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;

/// How the stored members were compressed in a zip just written: for checks of the output.
struct ZipEntryInfo {
    std::string name;
    bool stored = false;
};

/// Lists the entries of `in` (no inflation). Error Internal `code` when libzip cannot open it.
[[nodiscard]] Result<std::vector<ZipEntryInfo>> list_zip(std::string_view in,
                                                         std::string_view code);

} // namespace mugaika::filters::cdr::office
