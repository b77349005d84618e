#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mugaika::filters {

using Bytes = std::vector<std::byte>;

/// Views a string's storage as bytes (no copy; valid while s lives).
[[nodiscard]] inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
/// Views bytes as characters (no copy; valid while b lives).
[[nodiscard]] inline std::string_view as_chars(std::span<const std::byte> b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// One MIME leaf as a step sees it. Borrowed: every view is valid only during the call.
struct PartView {
    std::string_view path;            ///< "1.2.1"
    std::string_view declared_type;   ///< "text/html", lower-case
    std::string_view filename;        ///< decoded UTF-8, may be empty
    std::string_view charset;         ///< declared charset label, lower-case, may be empty
    std::span<const std::byte> bytes; ///< decoded (transfer encoding removed) content
};

/// What a step found about the content.
enum class Verdict : std::uint8_t {
    Clean,     ///< nothing to report
    Converted, ///< the content was rewritten into a safer form
    Unsafe,    ///< active or misleading content found
    Infected,  ///< antivirus signature matched
    Encrypted, ///< content cannot be inspected
    Mismatch,  ///< declared and detected type differ
};

/// A short finding for the audit trail: a stable dotted code and a short detail (no content).
struct AuditNote {
    std::string_view code; ///< static, e.g. "html.script_removed"
    std::string detail;    ///< e.g. "count=3"
};

/// The result of one step over one part.
struct StepOutput {
    Verdict verdict = Verdict::Clean;
    std::optional<Bytes> replacement; ///< set only when the step rebuilt the content
    std::vector<AuditNote> notes;
};

} // namespace mugaika::filters
