#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"

namespace mugaika::gateway {

/// A part listed in the notice.
struct RemovedItem {
    std::string path;
    std::string filename;
    std::string detected_type;
    std::uint64_t size = 0;
    std::string sha256;
    std::string note; ///< why, when it matters to the reader (virus name, disguised type)
};

/// An attachment rebuilt by a CDR engine.
struct RebuiltItem {
    std::string filename;     ///< as shown (safe for display)
    std::string new_filename; ///< when the engine changed it (".docm" -> ".docx"), else ""
    std::string engine;
    std::uint64_t size = 0;                     ///< of the rebuilt file
    std::vector<filters::cdr::Removed> removed; ///< what the engine removed
};

/// Totals of what the HTML conversion removed, for the notice.
struct NoticeCounts {
    std::size_t links = 0, scripts = 0, forms = 0, remote_images = 0, images = 0, iframes = 0,
                objects = 0, hidden = 0, mismatched_links = 0;
};

/// Everything the notice tells.
struct NoticeFacts {
    std::string audit_id;
    bool html_converted = false;
    bool charset_fixed = false;
    NoticeCounts html_counts;
    std::size_t inline_removed = 0;
    std::vector<RemovedItem> removed;
    std::vector<RemovedItem> kept;
    std::vector<RebuiltItem> rebuilt;
};

/// The notice text (UTF-8, LF): the config's template with {changes}, {audit_id} and {contact}
/// filled in. Thread-safe (pure).
[[nodiscard]] std::string render_notice(const Config& config, const NoticeFacts& facts);

} // namespace mugaika::gateway
