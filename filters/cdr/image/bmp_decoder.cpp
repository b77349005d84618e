#include "filters/cdr/image/bmp_decoder.hpp"

#include <bit>
#include <cstddef>

namespace mugaika::filters::cdr::image {
namespace {

[[nodiscard]] unsigned u8(std::span<const std::byte> b, std::size_t at) noexcept {
    return at < b.size() ? static_cast<unsigned>(b[at]) : 0U;
}
[[nodiscard]] std::uint32_t le16(std::span<const std::byte> b, std::size_t at) noexcept {
    return u8(b, at) | (u8(b, at + 1) << 8U);
}
[[nodiscard]] std::uint32_t le32(std::span<const std::byte> b, std::size_t at) noexcept {
    return le16(b, at) | (le16(b, at + 2) << 16U);
}

/// Extracts the channel selected by `mask` from `v`, scaled to 8 bits.
[[nodiscard]] std::uint8_t channel(std::uint32_t v, std::uint32_t mask) noexcept {
    if (mask == 0) {
        return 0;
    }
    const int shift = std::countr_zero(mask);
    const int bits = std::popcount(mask);
    const std::uint32_t x = (v & mask) >> static_cast<unsigned>(shift);
    if (bits >= 8) {
        return static_cast<std::uint8_t>(x >> static_cast<unsigned>(bits - 8));
    }
    const std::uint32_t max = (1U << static_cast<unsigned>(bits)) - 1U;
    return static_cast<std::uint8_t>((x * 255U + max / 2U) / max);
}

struct Header {
    std::uint32_t header_size = 0;
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    bool top_down = false;
    unsigned bpp = 0;
    std::uint32_t compression = 0;
    std::uint32_t colours = 0;
    std::uint32_t masks[4] = {0, 0, 0, 0}; // r, g, b, a
    std::size_t palette_at = 0;
    unsigned palette_entry = 4;
    std::size_t pixels_at = 0;
};

Result<Header> parse(std::span<const std::byte> in) {
    if (in.size() < 26 || u8(in, 0) != 'B' || u8(in, 1) != 'M') {
        return fail(ErrorCode::Malformed, "cdr.image.malformed", "not a bmp header");
    }
    Header h;
    h.pixels_at = le32(in, 10);
    h.header_size = le32(in, 14);
    if (h.header_size == 12) {
        h.width = le16(in, 18);
        h.height = le16(in, 20);
        h.bpp = le16(in, 24);
        h.palette_entry = 3;
    } else if (h.header_size >= 40 && h.header_size <= 124) {
        if (in.size() < 14 + static_cast<std::size_t>(h.header_size)) {
            return fail(ErrorCode::Malformed, "cdr.image.truncated", "bmp header");
        }
        const auto w = static_cast<std::int32_t>(le32(in, 18));
        const auto ht = static_cast<std::int32_t>(le32(in, 22));
        if (w <= 0 || ht == 0 || ht == INT32_MIN) {
            return fail(ErrorCode::Malformed, "cdr.image.malformed", "bmp dimensions");
        }
        h.width = static_cast<std::uint32_t>(w);
        h.top_down = ht < 0;
        h.height = static_cast<std::uint32_t>(ht < 0 ? -ht : ht);
        h.bpp = le16(in, 28);
        h.compression = le32(in, 30);
        h.colours = le32(in, 46);
        if (h.compression == 3 || h.compression == 6) {
            // Masks follow a 40-byte header, or are part of a larger one.
            const std::size_t at = 54;
            h.masks[0] = le32(in, at);
            h.masks[1] = le32(in, at + 4);
            h.masks[2] = le32(in, at + 8);
            if (h.compression == 6 || h.header_size >= 56) {
                h.masks[3] = le32(in, at + 12);
            }
        }
    } else {
        return fail(ErrorCode::Malformed, "cdr.image.malformed", "bmp header size");
    }
    h.palette_at = 14 + static_cast<std::size_t>(h.header_size);
    if (h.header_size == 40 && (h.compression == 3 || h.compression == 6)) {
        h.palette_at += h.compression == 6 ? 16 : 12;
    }
    if (h.width == 0 || h.height == 0) {
        return fail(ErrorCode::Malformed, "cdr.image.malformed", "bmp dimensions");
    }
    return h;
}

} // namespace

Result<BmpPixels> read_bmp_header(std::span<const std::byte> in) {
    auto h = parse(in);
    if (!h) {
        return tl::unexpected(h.error());
    }
    BmpPixels p;
    p.width = h->width;
    p.height = h->height;
    return p;
}

Result<BmpPixels> decode_bmp(std::span<const std::byte> in, std::uint64_t max_pixels) {
    auto parsed = parse(in);
    if (!parsed) {
        return tl::unexpected(parsed.error());
    }
    Header& h = *parsed;
    const std::uint64_t pixels = std::uint64_t{h.width} * h.height;
    if (pixels > max_pixels) {
        return fail(ErrorCode::LimitExceeded, "cdr.image.too_large",
                    std::to_string(h.width) + "x" + std::to_string(h.height));
    }
    if (h.compression != 0 && h.compression != 3 && h.compression != 6) {
        return fail(ErrorCode::Unsupported, "cdr.image.bmp_unsupported",
                    "compression " + std::to_string(h.compression));
    }
    const bool palette = h.bpp == 1 || h.bpp == 4 || h.bpp == 8;
    if (!palette && h.bpp != 16 && h.bpp != 24 && h.bpp != 32) {
        return fail(ErrorCode::Malformed, "cdr.image.malformed", "bmp bit depth");
    }
    if (h.compression != 0 && h.bpp != 16 && h.bpp != 32) {
        return fail(ErrorCode::Malformed, "cdr.image.malformed", "bit fields need 16 or 32 bits");
    }
    if (h.compression == 0 && h.bpp == 16) {
        h.masks[0] = 0x7C00;
        h.masks[1] = 0x03E0;
        h.masks[2] = 0x001F;
    } else if (h.compression == 0 && h.bpp == 32) {
        h.masks[0] = 0x00FF0000;
        h.masks[1] = 0x0000FF00;
        h.masks[2] = 0x000000FF; // the fourth byte of BI_RGB is unused, not alpha
    }
    std::uint32_t palette_size = 0;
    if (palette) {
        palette_size = h.colours == 0 ? (1U << h.bpp) : h.colours;
        if (palette_size > 256) {
            return fail(ErrorCode::Malformed, "cdr.image.malformed", "bmp palette size");
        }
        if (h.palette_at + std::size_t{palette_size} * h.palette_entry > in.size()) {
            return fail(ErrorCode::Malformed, "cdr.image.truncated", "bmp palette");
        }
    }
    const std::size_t stride = ((std::size_t{h.width} * h.bpp + 31) / 32) * 4;
    if (h.pixels_at > in.size() || stride * h.height > in.size() - h.pixels_at) {
        return fail(ErrorCode::Malformed, "cdr.image.truncated", "bmp pixel array");
    }
    BmpPixels out;
    out.width = h.width;
    out.height = h.height;
    out.bands = h.masks[3] != 0 ? 4 : 3;
    out.data.resize(static_cast<std::size_t>(pixels) * out.bands);
    std::uint8_t* dst = out.data.data();
    for (std::uint32_t y = 0; y < h.height; ++y) {
        const std::uint32_t src_row = h.top_down ? y : h.height - 1 - y;
        const std::size_t row = h.pixels_at + stride * src_row;
        for (std::uint32_t x = 0; x < h.width; ++x) {
            std::uint8_t px[4] = {0, 0, 0, 255};
            if (palette) {
                const std::size_t bit = std::size_t{x} * h.bpp;
                const unsigned byte = u8(in, row + bit / 8);
                const unsigned shift = 8U - h.bpp - static_cast<unsigned>(bit % 8);
                const unsigned index = (byte >> shift) & ((1U << h.bpp) - 1U);
                if (index >= palette_size) {
                    return fail(ErrorCode::Malformed, "cdr.image.malformed", "bmp palette index");
                }
                const std::size_t e = h.palette_at + std::size_t{index} * h.palette_entry;
                px[0] = static_cast<std::uint8_t>(u8(in, e + 2));
                px[1] = static_cast<std::uint8_t>(u8(in, e + 1));
                px[2] = static_cast<std::uint8_t>(u8(in, e));
            } else if (h.bpp == 24) {
                const std::size_t e = row + std::size_t{x} * 3;
                px[0] = static_cast<std::uint8_t>(u8(in, e + 2));
                px[1] = static_cast<std::uint8_t>(u8(in, e + 1));
                px[2] = static_cast<std::uint8_t>(u8(in, e));
            } else {
                const std::uint32_t v = h.bpp == 16 ? le16(in, row + std::size_t{x} * 2)
                                                    : le32(in, row + std::size_t{x} * 4);
                px[0] = channel(v, h.masks[0]);
                px[1] = channel(v, h.masks[1]);
                px[2] = channel(v, h.masks[2]);
                if (h.masks[3] != 0) {
                    px[3] = channel(v, h.masks[3]);
                }
            }
            for (unsigned c = 0; c < out.bands; ++c) {
                *dst++ = px[c];
            }
        }
    }
    return out;
}

} // namespace mugaika::filters::cdr::image
