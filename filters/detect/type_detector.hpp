#pragma once

#include <span>
#include <string>

#include <magic.h>

#include "filters/core/cptr.hpp"
#include "filters/core/result.hpp"

namespace mugaika::filters::detect {

/// Bytes libmagic sees first.
inline constexpr std::size_t detect_prefix_bytes = 64 * 1024;
/// Largest buffer given whole to libmagic when the prefix is inconclusive.
inline constexpr std::size_t detect_full_scan_max = 16 * 1024 * 1024;

using MagicPtr = CPtr<magic_set, magic_close>;

/// Whether the first 8 KiB look like text in any charset mail uses: no NUL, few control
/// characters (ESC, SO and SI count as text for ISO-2022-JP). libmagic's own text analysis costs
/// about 1 ms per 4 KiB of Japanese text; callers that only need "text or not" ask this first.
/// Thread-safe (pure).
[[nodiscard]] bool looks_textual(std::span<const std::byte> bytes) noexcept;

/// The true type of some bytes, from libmagic's compiled default database.
/// Per-thread: a magic_t must not be shared; make one per thread.
class TypeDetector {
public:
    /// Opens and loads libmagic's database. Error "detect.magic_unavailable" (Internal).
    [[nodiscard]] static Result<TypeDetector> create();

    /// MIME type such as "application/pdf" (lower-case, no parameters). An empty input is
    /// "application/x-empty". Error "detect.failed" (Internal) when libmagic fails.
    /// libmagic sees the first `detect_prefix_bytes`; formats whose directory may lie anywhere
    /// (OLE2 compound files) and inconclusive answers are looked at again on the whole buffer, up
    /// to `detect_full_scan_max` bytes. libmagic's text analysis allocates four bytes per input
    /// byte, so an unbounded call would cost 4x a part's size in memory.
    [[nodiscard]] Result<std::string> mime_type(std::span<const std::byte> bytes) const;

private:
    [[nodiscard]] Result<std::string> scan(std::span<const std::byte> bytes) const;
    explicit TypeDetector(MagicPtr m) noexcept : magic_(std::move(m)) {}
    MagicPtr magic_;
};

} // namespace mugaika::filters::detect
