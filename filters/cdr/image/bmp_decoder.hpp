#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::filters::cdr::image {

/// Pixels decoded from a BMP: rows top to bottom, `bands` bytes per pixel (3 = RGB, 4 = RGBA).
struct BmpPixels {
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    unsigned bands = 3;
    std::vector<std::uint8_t> data;
};

/// Width and height from a BMP header, without touching the pixels. Error
/// "cdr.image.malformed" (Malformed) for a header that is not a BMP this decoder reads.
[[nodiscard]] Result<BmpPixels> read_bmp_header(std::span<const std::byte> in);

/// Decodes a Windows BMP: OS/2 (12-byte) and Windows (40, 52, 56, 108, 124-byte) headers,
/// 1/4/8-bit palettes, 16/32-bit with or without bit fields, 24-bit; bottom-up or top-down.
/// libvips has no BMP reader of its own (it would hand BMP to ImageMagick), hence this one.
/// Errors: "cdr.image.too_large" (LimitExceeded) when width x height exceeds `max_pixels`,
/// checked before any allocation; "cdr.image.bmp_unsupported" (Unsupported) for RLE, JPEG or
/// PNG compression; "cdr.image.truncated" (Malformed) when the pixel array is cut;
/// "cdr.image.malformed" (Malformed) for an impossible header. Thread-safe (pure).
[[nodiscard]] Result<BmpPixels> decode_bmp(std::span<const std::byte> in, std::uint64_t max_pixels);

} // namespace mugaika::filters::cdr::image
