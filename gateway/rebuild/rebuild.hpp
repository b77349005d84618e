#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"
#include "gateway/config/config.hpp"
#include "gateway/mime/mime_tree.hpp"

namespace mugaika::gateway {

/// A part attached to the rebuilt message, re-encoded in base64: passed through unchanged
/// (action keep) or rebuilt by a CDR engine (action cdr, `cdr_engine` set).
struct KeptPart {
    std::string content_type; ///< "application/pdf"
    std::string filename;     ///< UTF-8, may be empty
    std::string_view bytes;   ///< decoded content; valid during rebuild_message()
    std::string cdr_engine;   ///< "pdf", ...: the part carries X-Mugaika-CDR: ENGINE; audit=ID
};

/// Everything the rebuilt message is made of.
struct RebuildInput {
    const std::vector<RawHeader>* headers = nullptr; ///< the original top-level headers
    std::string_view text;                           ///< UTF-8 body, LF line ends
    std::vector<KeptPart> kept;
    std::string audit_id;
    std::string ruleset_version;
};

/// The rebuilt message and what encoding it cost.
struct RebuiltMessage {
    std::string bytes;                 ///< CRLF line ends
    std::size_t unencodable = 0;       ///< characters ISO-2022-JP could not hold (shown as 〓)
    std::size_t headers_reencoded = 0; ///< headers with raw 8-bit bytes rewritten as RFC 2047
};

/// Writes a new message: original headers minus Content-*, MIME-Version and any X-Mugaika-*
/// (which only this gateway may set), the optional subject tag, X-Mugaika-Sanitized, and a
/// text/plain body (multipart/mixed when parts are kept). Error "rebuild.output_too_large".
[[nodiscard]] filters::Result<RebuiltMessage> rebuild_message(const Config& config,
                                                              const RebuildInput& in);

/// The original message with X-Mugaika-* headers removed and X-Mugaika-Sanitized added on top
/// (every part was kept by the rules).
[[nodiscard]] std::string passthrough_message(std::string_view original,
                                              const std::vector<RawHeader>& headers,
                                              const std::string& audit_id,
                                              const std::string& ruleset_version);

/// The value of X-Mugaika-Sanitized.
[[nodiscard]] std::string sanitized_header_value(const std::string& audit_id,
                                                 const std::string& ruleset_version,
                                                 std::string_view mode);

/// A raw header value without its leading white space and final line break, folds kept as CRLF.
[[nodiscard]] std::string clean_raw_value(std::string_view raw);

} // namespace mugaika::gateway
