#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "filters/core/result.hpp"

/// Charset detection and conversion to UTF-8 for mail text, with the Japanese traps handled:
/// Shift_JIS is read as CP932 (Windows-31J), ISO-2022-JP is decoded by our own code so that NEC and
/// IBM extension characters (①, ㈱, 髙) survive, and lying or missing labels are detected.
///
/// Every function here is thread-safe: iconv descriptors are opened per call and the only shared
/// state is an immutable table built on first use.
namespace mugaika::filters::text {

/// Result of decode_to_utf8.
struct Decoded {
    std::string utf8;            ///< always valid UTF-8
    std::string charset;         ///< canonical name actually used ("cp932", "iso-2022-jp", ...)
    bool label_mismatch = false; ///< the declared label was missing or contradicted by the bytes
    std::size_t replaced = 0;    ///< undecodable sequences, each replaced by U+FFFD
};

/// Canonical lower-case name for a charset label. Shift_JIS and its aliases become "cp932",
/// ISO-2022-JP variants "iso-2022-jp", EUC-JP variants "euc-jp", UTF-8 "utf-8", ASCII "us-ascii",
/// ISO-8859-1/Latin-1 "windows-1252" (what every mail client does). Surrounding whitespace and
/// quotes are ignored; an unknown label comes back lower-cased; an empty label gives "".
[[nodiscard]] std::string canonical_charset(std::string_view label);

/// True when `s` is strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

/// Guesses the charset of unlabelled bytes. Returns one of "us-ascii", "iso-2022-jp" (7-bit with
/// JIS escape sequences), "utf-8", "cp932" or "euc-jp"; the last three are chosen by scoring the
/// byte patterns, so short or non-Japanese 8-bit text may be guessed as cp932.
[[nodiscard]] std::string detect_charset(std::string_view bytes);

/// Decodes `bytes` labelled `declared` (any case, may be empty) into UTF-8.
/// A missing or unknown label uses detect_charset; a label contradicted by the bytes (8-bit bytes
/// under ISO-2022-JP, valid UTF-8 or EUC-JP under Shift_JIS, JIS escapes under UTF-8, ...) is
/// replaced by the detected charset; both set label_mismatch. Undecodable sequences become U+FFFD
/// and are counted, never dropped.
/// Fails with ErrorCode::LimitExceeded "charset.output_exceeded" when the UTF-8 output would
/// exceed `max_output` bytes, and with ErrorCode::Internal "charset.iconv_failed" when iconv
/// cannot even open a converter for a charset that glibc always has.
[[nodiscard]] Result<Decoded> decode_to_utf8(std::string_view bytes, std::string_view declared,
                                             std::size_t max_output);

/// Result of encode_iso2022jp.
struct Encoded {
    std::string bytes;        ///< ISO-2022-JP, ending in ASCII mode
    std::size_t replaced = 0; ///< characters that could not be encoded and became 〓 (U+3013)
};

/// Encodes UTF-8 text as ISO-2022-JP the way Windows and Outlook do (JIS X 0208 plus NEC row 13
/// and the NEC-selected IBM extensions, i.e. everything CP932 has outside its user-defined area).
/// Halfwidth katakana become fullwidth (voiced marks combined); JIS/Microsoft variant characters
/// (〜 U+301C, − U+2212, ¥, ...) are mapped to their CP932 forms. Anything else, each invalid
/// UTF-8 sequence and each ESC, SO or SI (which would switch the reader's character set) becomes
/// 〓 and is counted. Other ASCII, line ends included, passes unchanged. Never fails.
[[nodiscard]] Encoded encode_iso2022jp(std::string_view utf8);

/// Result of clean_text.
struct Cleaned {
    std::string text;        ///< valid UTF-8, LF line ends
    std::size_t removed = 0; ///< control, BOM and bidi characters removed
};

/// Removes C0/C1 control characters (except TAB and LF) and DEL, byte order marks (U+FEFF) and
/// bidi embedding/override/isolate controls (U+202A-202E, U+2066-2069), counting each removal;
/// turns CRLF and lone CR into LF (not counted). Invalid UTF-8 becomes U+FFFD (not counted).
[[nodiscard]] Cleaned clean_text(std::string_view utf8);

/// Replaces every invalid UTF-8 sequence (maximal subpart) in `s` by U+FFFD; adds the number of
/// replacements to `replaced`.
[[nodiscard]] std::string sanitize_utf8(std::string_view s, std::size_t& replaced);

} // namespace mugaika::filters::text
