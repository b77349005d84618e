#include "filters/cdr/image/image_scan.hpp"

#include <algorithm>
#include <string_view>

namespace mugaika::filters::cdr::image {
namespace {

/// Bounds-checked reads over the input; every accessor answers 0 past the end, and `ok` tells
/// whether a range is inside.
class Reader {
public:
    explicit Reader(std::span<const std::byte> b) noexcept : b_(b) {}

    [[nodiscard]] std::size_t size() const noexcept { return b_.size(); }
    [[nodiscard]] bool ok(std::size_t at, std::size_t n) const noexcept {
        return at <= b_.size() && n <= b_.size() - at;
    }
    [[nodiscard]] unsigned u8(std::size_t at) const noexcept {
        return at < b_.size() ? static_cast<unsigned>(b_[at]) : 0U;
    }
    [[nodiscard]] std::uint32_t be16(std::size_t at) const noexcept {
        return (u8(at) << 8U) | u8(at + 1);
    }
    [[nodiscard]] std::uint32_t be32(std::size_t at) const noexcept {
        return (be16(at) << 16U) | be16(at + 2);
    }
    [[nodiscard]] std::uint32_t le16(std::size_t at) const noexcept {
        return u8(at) | (u8(at + 1) << 8U);
    }
    [[nodiscard]] std::uint32_t le32(std::size_t at) const noexcept {
        return le16(at) | (le16(at + 2) << 16U);
    }
    /// The bytes [at, at+n) as text, or "" when out of range.
    [[nodiscard]] std::string_view text(std::size_t at, std::size_t n) const noexcept {
        if (!ok(at, n)) {
            return {};
        }
        return {reinterpret_cast<const char*>(b_.data() + at), n};
    }
    [[nodiscard]] bool starts(std::size_t at, std::string_view s) const noexcept {
        return text(at, s.size()) == s;
    }

private:
    std::span<const std::byte> b_;
};

void note(ImageScan& s, std::string kind) {
    if (std::find(s.metadata.begin(), s.metadata.end(), kind) == s.metadata.end()) {
        s.metadata.push_back(std::move(kind));
    }
}

void scan_jpeg(const Reader& r, ImageScan& s) {
    std::size_t p = 2; // after SOI
    while (r.ok(p, 2)) {
        if (r.u8(p) != 0xFF) {
            return; // not a marker: broken
        }
        while (r.u8(p + 1) == 0xFF && r.ok(p + 1, 2)) {
            ++p; // fill bytes
        }
        const unsigned m = r.u8(p + 1);
        p += 2;
        if (m == 0xD9) {
            s.end = p;
            return;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            continue;
        }
        const std::size_t len = r.be16(p);
        if (len < 2 || !r.ok(p, len)) {
            return;
        }
        const std::size_t body = p + 2;
        if (m == 0xE1 && r.starts(body, std::string_view("Exif\0", 5))) {
            note(s, "EXIF");
        } else if (m == 0xE1 && (r.starts(body, "http://ns.adobe.com/xap/1.0/") ||
                                 r.starts(body, "http://ns.adobe.com/xmp/extension/"))) {
            note(s, "XMP");
        } else if (m == 0xED) {
            note(s, "IPTC");
        } else if (m == 0xE2 && r.starts(body, "ICC_PROFILE")) {
            note(s, "ICC profile");
        } else if (m == 0xFE) {
            note(s, "comment");
        } else if (m >= 0xE0 && m <= 0xEF) {
            // JFIF (APP0) and Adobe (APP14) describe the coding; the encoder writes what it needs.
            const bool coding = (m == 0xE0 && r.starts(body, std::string_view("JFIF\0", 5))) ||
                                (m == 0xEE && r.starts(body, "Adobe"));
            if (!coding) {
                note(s, "application segment");
            }
        }
        p += len;
        if (m == 0xDA) {
            // Entropy-coded data up to the next marker that is not a stuffed 0xFF00 or a restart.
            while (r.ok(p, 2)) {
                if (r.u8(p) == 0xFF) {
                    const unsigned next = r.u8(p + 1);
                    if (next != 0x00 && !(next >= 0xD0 && next <= 0xD7) && next != 0xFF) {
                        break;
                    }
                }
                ++p;
            }
        }
    }
}

void scan_png(const Reader& r, ImageScan& s) {
    std::size_t p = 8;
    while (r.ok(p, 12)) {
        const std::size_t len = r.be32(p);
        const std::string_view type = r.text(p + 4, 4);
        if (!r.ok(p + 8, len) || !r.ok(p + 8 + len, 4)) {
            return;
        }
        const std::size_t body = p + 8;
        const bool letters = std::all_of(type.begin(), type.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        });
        if (!letters) {
            return;
        }
        if (type == "IEND") {
            s.end = p + 12 + len;
            return;
        }
        if (type == "tEXt" || type == "zTXt") {
            note(s, "text chunk");
        } else if (type == "iTXt") {
            note(s, r.starts(body, std::string_view("XML:com.adobe.xmp\0", 18)) ? "XMP"
                                                                                : "text chunk");
        } else if (type == "eXIf") {
            note(s, "EXIF");
        } else if (type == "iCCP") {
            note(s, "ICC profile");
        } else if (type == "tIME") {
            note(s, "time chunk");
        } else if (type == "acTL") {
            s.frames = std::max<std::uint64_t>(1, r.be32(body));
        } else {
            static constexpr std::string_view rendering[] = {
                "IHDR", "PLTE", "IDAT", "tRNS", "gAMA", "cHRM", "sRGB", "sBIT", "bKGD",
                "hIST", "pHYs", "sPLT", "fcTL", "fdAT", "cICP", "mDCv", "cLLi"};
            if (std::find(std::begin(rendering), std::end(rendering), type) ==
                std::end(rendering)) {
                note(s, "private chunk");
            }
        }
        p += 12 + len;
    }
}

/// Skips GIF data sub-blocks from `p`; returns the offset after the terminator or npos.
std::size_t skip_sub_blocks(const Reader& r, std::size_t p) {
    while (r.ok(p, 1)) {
        const std::size_t n = r.u8(p);
        if (n == 0) {
            return p + 1;
        }
        p += 1 + n;
    }
    return ImageScan::npos;
}

void scan_gif(const Reader& r, ImageScan& s) {
    if (!r.ok(0, 13)) {
        return;
    }
    std::size_t p = 13;
    if ((r.u8(10) & 0x80U) != 0) {
        p += 3U * (1U << ((r.u8(10) & 0x07U) + 1U));
    }
    std::uint64_t frames = 0;
    while (r.ok(p, 1)) {
        const unsigned b = r.u8(p);
        if (b == 0x3B) {
            s.end = p + 1;
            s.frames = std::max<std::uint64_t>(1, frames);
            return;
        }
        if (b == 0x21) {
            const unsigned label = r.u8(p + 1);
            if (label == 0xFE) {
                note(s, "comment");
            } else if (label == 0x01) {
                note(s, "plain text extension");
            } else if (label == 0xFF) {
                const std::string_view id = r.text(p + 3, 11);
                if (id == "XMP DataXMP") {
                    note(s, "XMP");
                } else if (id == "ICCRGBG1012") {
                    note(s, "ICC profile");
                } else if (id != "NETSCAPE2.0" && id != "ANIMEXTS1.0") {
                    note(s, "application extension");
                }
            }
            p = skip_sub_blocks(r, p + 2);
        } else if (b == 0x2C) {
            if (!r.ok(p, 10)) {
                return;
            }
            ++frames;
            const unsigned flags = r.u8(p + 9);
            p += 10;
            if ((flags & 0x80U) != 0) {
                p += 3U * (1U << ((flags & 0x07U) + 1U));
            }
            p = skip_sub_blocks(r, p + 1); // after the LZW minimum code size
        } else {
            return;
        }
    }
}

void scan_webp(const Reader& r, ImageScan& s) {
    const std::size_t riff = r.le32(4);
    const std::size_t total = 8 + riff + (riff & 1U);
    if (riff < 4 || !r.ok(0, total)) {
        return;
    }
    std::size_t p = 12;
    std::uint64_t frames = 0;
    bool first_image = true;
    while (p + 8 <= total) {
        const std::string_view type = r.text(p, 4);
        const std::size_t len = r.le32(p + 4);
        if (len > total - p - 8) {
            return;
        }
        if (type == "EXIF") {
            note(s, "EXIF");
        } else if (type == "XMP ") {
            note(s, "XMP");
        } else if (type == "ICCP") {
            note(s, "ICC profile");
        } else if (type == "ANMF") {
            ++frames;
            if (first_image && r.ok(p + 8 + 16, 8)) {
                s.lossless = r.text(p + 8 + 16, 4) == "VP8L";
                first_image = false;
            }
        } else if (type == "VP8L" || type == "VP8 ") {
            if (first_image) {
                s.lossless = type == "VP8L";
                first_image = false;
            }
        } else if (type != "VP8X" && type != "ANIM" && type != "ALPH") {
            note(s, "private chunk");
        }
        p += 8 + len + (len & 1U);
    }
    s.frames = std::max<std::uint64_t>(1, frames);
    s.end = total;
}

void scan_bmp(const Reader& r, ImageScan& s) {
    const std::size_t offset = r.le32(10);
    const std::size_t header = r.le32(14);
    if (header >= 108 && r.ok(14, 108)) {
        const std::uint32_t cs = r.le32(14 + 56);
        if (cs == 0x4D424544U /* 'MBED' */ || cs == 0x4C494E4BU /* 'LINK' */) {
            note(s, "ICC profile");
        }
    }
    std::size_t data = 0;
    if (header == 12) {
        const std::size_t w = r.le16(18);
        const std::size_t h = r.le16(20);
        data = ((w * r.le16(24) + 31) / 32) * 4 * h;
    } else {
        const std::uint32_t compression = r.le32(30);
        const auto w = static_cast<std::int32_t>(r.le32(18));
        const auto h = static_cast<std::int32_t>(r.le32(22));
        if (w <= 0 || h == 0) {
            return;
        }
        const std::size_t uh =
            h < 0 ? 0U - static_cast<std::size_t>(h) : static_cast<std::size_t>(h);
        if (compression == 0 || compression == 3 || compression == 6) {
            data = ((static_cast<std::size_t>(w) * r.le16(28) + 31) / 32) * 4 * uh;
        } else {
            data = r.le32(34);
        }
    }
    if (r.ok(offset, data)) {
        s.end = offset + data;
    }
}

void scan_tiff(const Reader& r, ImageScan& s) {
    const bool le = r.u8(0) == 'I';
    auto u16 = [&](std::size_t at) { return le ? r.le16(at) : r.be16(at); };
    auto u32 = [&](std::size_t at) { return le ? r.le32(at) : r.be32(at); };
    if (u16(2) != 42) {
        return; // BigTIFF: the decoder reads it; the walk only knows classic TIFF
    }
    std::size_t ifd = u32(4);
    std::uint64_t dirs = 0;
    // Directories form a list the file controls: follow at most 10000 (and stop at loops,
    // which always come back to a smaller or equal offset in practice: a monotone check).
    std::size_t last = 0;
    while (ifd != 0 && ifd > last && r.ok(ifd, 2) && dirs < 10000) {
        const std::size_t count = u16(ifd);
        if (!r.ok(ifd + 2, count * 12 + 4)) {
            break;
        }
        ++dirs;
        if (dirs == 1) {
            for (std::size_t i = 0; i < count; ++i) {
                const std::uint32_t tag = u16(ifd + 2 + i * 12);
                switch (tag) {
                case 270:   // ImageDescription
                case 305:   // Software
                case 306:   // DateTime
                case 315:   // Artist
                case 316:   // HostComputer
                case 33432: // Copyright
                    note(s, "text tags");
                    break;
                case 34665:
                    note(s, "EXIF");
                    break;
                case 34853:
                    note(s, "GPS");
                    break;
                case 700:
                    note(s, "XMP");
                    break;
                case 33723:
                case 34377:
                    note(s, "IPTC");
                    break;
                case 34675:
                    note(s, "ICC profile");
                    break;
                default:
                    break;
                }
            }
        }
        last = ifd;
        ifd = u32(ifd + 2 + count * 12);
    }
    s.frames = std::max<std::uint64_t>(1, dirs);
}

} // namespace

std::string_view to_string(ImageFormat f) noexcept {
    switch (f) {
    case ImageFormat::Jpeg:
        return "jpeg";
    case ImageFormat::Png:
        return "png";
    case ImageFormat::Gif:
        return "gif";
    case ImageFormat::Bmp:
        return "bmp";
    case ImageFormat::Tiff:
        return "tiff";
    case ImageFormat::Webp:
        return "webp";
    case ImageFormat::Unknown:
        break;
    }
    return "unknown";
}

ImageFormat sniff_format(std::span<const std::byte> bytes) noexcept {
    const Reader r(bytes);
    if (r.ok(0, 3) && r.u8(0) == 0xFF && r.u8(1) == 0xD8 && r.u8(2) == 0xFF) {
        return ImageFormat::Jpeg;
    }
    if (r.starts(0, "\x89PNG\r\n\x1a\n")) {
        return ImageFormat::Png;
    }
    if (r.starts(0, "GIF87a") || r.starts(0, "GIF89a")) {
        return ImageFormat::Gif;
    }
    if (r.starts(0, "BM") && r.ok(0, 26)) {
        return ImageFormat::Bmp;
    }
    if (r.starts(0, std::string_view("II*\0", 4)) || r.starts(0, std::string_view("MM\0*", 4)) ||
        r.starts(0, std::string_view("II+\0", 4)) || r.starts(0, std::string_view("MM\0+", 4))) {
        return ImageFormat::Tiff;
    }
    if (r.starts(0, "RIFF") && r.starts(8, "WEBP")) {
        return ImageFormat::Webp;
    }
    return ImageFormat::Unknown;
}

ImageScan scan_image(std::span<const std::byte> bytes) {
    ImageScan s;
    s.format = sniff_format(bytes);
    const Reader r(bytes);
    switch (s.format) {
    case ImageFormat::Jpeg:
        scan_jpeg(r, s);
        break;
    case ImageFormat::Png:
        scan_png(r, s);
        break;
    case ImageFormat::Gif:
        scan_gif(r, s);
        break;
    case ImageFormat::Bmp:
        scan_bmp(r, s);
        break;
    case ImageFormat::Tiff:
        scan_tiff(r, s);
        break;
    case ImageFormat::Webp:
        scan_webp(r, s);
        break;
    case ImageFormat::Unknown:
        break;
    }
    return s;
}

} // namespace mugaika::filters::cdr::image
