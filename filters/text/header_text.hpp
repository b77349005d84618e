#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

/// Reading and writing the human-readable parts of mail headers: unstructured text (Subject,
/// display names) with RFC 2047 encoded words, and parameters of structured values (file names)
/// with RFC 2231 and the RFC 2047-in-quotes that Outlook and Thunderbird send. Charsets go through
/// decode_to_utf8, so CP932 and ISO-2022-JP with NEC/IBM extensions decode right.
///
/// All functions are thread-safe, take their input by view (only read during the call) and return
/// owned strings.
namespace mugaika::filters::text {

/// Decodes a raw, possibly folded header value into UTF-8 text on one line.
/// Unfolds line breaks; decodes RFC 2047 encoded words (B and Q, any case, any charset
/// decode_to_utf8 handles, also when glued to other text); drops whitespace between adjacent
/// encoded words and, when they share a charset, joins their bytes before conversion, so a
/// character or ISO-2022-JP escape sequence split across words decodes right. Raw 8-bit bytes and
/// bare ISO-2022-JP outside encoded words are detected and decoded. A malformed encoded word stays
/// as literal text. Undecodable bytes become U+FFFD. The result is valid UTF-8 without control
/// characters (TAB and line breaks become spaces) and without bidi overrides. Never fails.
[[nodiscard]] std::string decode_header_text(std::string_view raw);

/// Returns the parameter `name` (case-insensitive) of a structured header value such as
/// `attachment; filename="a.pdf"` (the value after "Content-Disposition:"), decoded to UTF-8 like
/// decode_header_text, except that bidi, invisible and control characters are kept (line breaks
/// become spaces): a file name is returned as received, for the file-name checks to flag and
/// for the audit to record. Handles RFC 2231 (`name*=charset'lang'%XX`, continuations `name*0*=`,
/// `name*1=` mixed, in any order, the charset applied to the joined bytes), RFC 2047 inside
/// quoted or unquoted values, quoted-pairs (raw Shift_JIS whose second byte is a backslash is kept
/// intact), raw 8-bit values (charset detected) and comments. An RFC 2231 form wins over a plain
/// one. std::nullopt when the parameter is absent.
[[nodiscard]] std::optional<std::string> header_param(std::string_view raw_value,
                                                      std::string_view name);

/// Encodes UTF-8 text as a header value: printable ASCII without "=?" is returned as is;
/// anything else becomes RFC 2047 "=?UTF-8?B?...?=" words of at most 75 characters, never
/// splitting a UTF-8 character, joined by CRLF SP so that no line exceeds 78 characters when the
/// header name plus ": " takes `name_len` characters (at least one character is always put on the
/// first line, so a name_len above 58 may make the first line longer). Control characters and bidi
/// overrides are removed, line breaks and TAB become spaces, invalid UTF-8 becomes U+FFFD.
[[nodiscard]] std::string encode_header_text(std::string_view utf8, std::size_t name_len);

} // namespace mugaika::filters::text
