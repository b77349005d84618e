// The image engine: JPEG, PNG, GIF, BMP, TIFF and WebP are decoded and encoded again with libvips
// (BMP is decoded by bmp_decoder.cpp: libvips would hand it to ImageMagick). Nothing of the input
// survives but the pixels of its first frame: metadata, comments, text chunks, private chunks,
// trailing data and further frames are gone because the encoder writes a new file from pixels.
// See docs/cdr/images-archives-text.md.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <vips/vips.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/image/bmp_decoder.hpp"
#include "filters/cdr/image/image_scan.hpp"
#include "filters/core/cptr.hpp"

namespace mugaika::filters::cdr {
namespace {

using image::ImageFormat;
using image::ImageScan;

using ImagePtr = CPtr<VipsImage, g_object_unref>;
using GBuffer = CPtr<void, g_free>;

void drop_vips_log(const gchar* /*domain*/, GLogLevelFlags /*level*/, const gchar* /*message*/,
                   gpointer /*data*/) {}

/// libvips is set up once per process (vips_init is not reentrant). The settings are
/// process-wide: no operation cache (nothing is kept between files), one worker thread per
/// pipeline (the gateway runs helpers in parallel instead), every loader and saver blocked but
/// the ones this engine calls (no ImageMagick, poppler, OpenSlide or rsvg, nothing that runs a
/// program), and libvips' warnings silenced (engines do not log; failures are errors).
bool vips_ready() {
    static std::once_flag once;
    static bool ready = false;
    std::call_once(once, [] {
        if (vips_init("mugaika") != 0) {
            vips_error_clear();
            return;
        }
        g_log_set_handler("VIPS",
                          static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE |
                                                      G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG),
                          drop_vips_log, nullptr);
        vips_cache_set_max(0);
        vips_cache_set_max_mem(0);
        vips_cache_set_max_files(0);
        vips_concurrency_set(1);
        vips_block_untrusted_set(TRUE);
        vips_operation_block_set("VipsForeignLoad", TRUE);
        vips_operation_block_set("VipsForeignSave", TRUE);
        for (const char* op :
             {"VipsForeignLoadJpegBuffer", "VipsForeignLoadPngBuffer", "VipsForeignLoadNsgifBuffer",
              "VipsForeignLoadTiffBuffer", "VipsForeignLoadWebpBuffer", "VipsForeignSaveJpegBuffer",
              "VipsForeignSavePngBuffer", "VipsForeignSaveCgifBuffer",
              "VipsForeignSaveWebpBuffer"}) {
            vips_operation_block_set(op, FALSE);
        }
        ready = true;
    });
    return ready;
}

/// libvips' error text (shared by all threads; taken and cleared), one line, bounded.
std::string vips_detail() {
    const GBuffer copy(vips_error_buffer_copy());
    std::string s(copy ? static_cast<const char*>(copy.get()) : "");
    for (char& c : s) {
        if (c == '\n') {
            c = ' ';
        }
    }
    while (!s.empty() && s.back() == ' ') {
        s.pop_back();
    }
    if (s.size() > 240) {
        s.resize(240);
    }
    return s;
}

/// Opens `in` (borrowed for the life of the image) with the one loader for `format`. libvips
/// reads only the header here; pixels are decoded when the image is saved or averaged. Loads
/// stop at errors and truncation (fail_on=error) instead of padding a broken image with grey,
/// and never spill to a temporary file (memory=TRUE).
ImagePtr load(ImageFormat format, std::span<const std::byte> in, VipsAccess access) {
    // libvips takes a non-const pointer but does not write through it.
    void* buf = const_cast<std::byte*>(in.data());
    const std::size_t n = in.size();
    VipsImage* out = nullptr;
    int rc = -1;
    switch (format) {
    case ImageFormat::Jpeg:
        rc = vips_jpegload_buffer(buf, n, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access", access,
                                  "memory", TRUE, nullptr);
        break;
    case ImageFormat::Png:
        rc = vips_pngload_buffer(buf, n, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access", access,
                                 "memory", TRUE, nullptr);
        break;
    case ImageFormat::Gif:
        rc = vips_gifload_buffer(buf, n, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access", access,
                                 "memory", TRUE, nullptr);
        break;
    case ImageFormat::Tiff:
        rc = vips_tiffload_buffer(buf, n, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access", access,
                                  "memory", TRUE, nullptr);
        break;
    case ImageFormat::Webp:
        rc = vips_webpload_buffer(buf, n, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access", access,
                                  "memory", TRUE, nullptr);
        break;
    case ImageFormat::Bmp:
    case ImageFormat::Unknown:
        break;
    }
    if (rc != 0) {
        if (out != nullptr) {
            g_object_unref(out);
        }
        return nullptr;
    }
    return ImagePtr(out);
}

/// A view of `img` with every metadata field removed (the built-in header fields stay).
/// strip=TRUE alone is not enough: libvips 8.14's webpsave still writes EXIF and XMP chunks.
ImagePtr without_metadata(VipsImage* img) {
    VipsImage* copy = nullptr;
    if (vips_copy(img, &copy, nullptr) != 0) {
        return nullptr;
    }
    ImagePtr out(copy);
    const CPtr<gchar*, g_strfreev> fields(vips_image_get_fields(copy));
    for (gchar** f = fields.get(); f != nullptr && *f != nullptr; ++f) {
        (void)vips_image_remove(copy, *f); // FALSE for the built-in fields, which stay
    }
    return out;
}

/// Rewrites a RIFF WebP keeping only VP8X (metadata flags cleared), ALPH, VP8 and VP8L chunks.
/// libvips 8.14's webpsave ignores strip=TRUE and writes an EXIF chunk it makes itself (from the
/// resolution) even when the image has no metadata at all.
Result<std::string> strip_webp(std::string_view in) {
    auto le32 = [&](std::size_t at) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at])) |
               (static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + 1])) << 8U) |
               (static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + 2])) << 16U) |
               (static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + 3])) << 24U);
    };
    if (in.size() < 12 || in.substr(0, 4) != "RIFF" || in.substr(8, 4) != "WEBP") {
        return fail(ErrorCode::Internal, "cdr.image.vips_failed", "webpsave output");
    }
    std::string body;
    std::size_t p = 12;
    while (p + 8 <= in.size()) {
        const std::string_view type = in.substr(p, 4);
        const std::size_t len = le32(p + 4);
        const std::size_t padded = len + (len & 1U);
        if (padded > in.size() - p - 8) {
            return fail(ErrorCode::Internal, "cdr.image.vips_failed", "webpsave output");
        }
        if (type == "VP8X" || type == "ALPH" || type == "VP8 " || type == "VP8L") {
            const std::size_t at = body.size();
            body.append(in.substr(p, 8 + padded));
            if (type == "VP8X" && len >= 1) {
                body[at + 8] = static_cast<char>(static_cast<unsigned char>(body[at + 8]) &
                                                 ~0x2CU); // ICC, EXIF, XMP
            }
        }
        p += 8 + padded;
    }
    const auto size = static_cast<std::uint32_t>(body.size() + 4);
    std::string out = "RIFF";
    for (unsigned i = 0; i < 4; ++i) {
        out += static_cast<char>((size >> (8U * i)) & 0xFFU);
    }
    out += "WEBP";
    out += body;
    return out;
}

/// Encodes `img` as `format` (Jpeg, Png, Gif or Webp) without any metadata.
Result<std::string> save(VipsImage* in, ImageFormat format, bool lossless) {
    const ImagePtr bare = without_metadata(in);
    if (!bare) {
        return fail(ErrorCode::Internal, "cdr.image.vips_failed", vips_detail());
    }
    VipsImage* img = bare.get();
    void* raw = nullptr;
    std::size_t n = 0;
    int rc = -1;
    switch (format) {
    case ImageFormat::Jpeg:
        // No optimize_coding: it makes libjpeg buffer every coefficient of the image (about
        // 6 bytes per pixel) for a file about 10% smaller.
        rc = vips_jpegsave_buffer(img, &raw, &n, "Q", 90, "strip", TRUE, nullptr);
        break;
    case ImageFormat::Png:
        rc = vips_pngsave_buffer(img, &raw, &n, "strip", TRUE, "compression", 6, nullptr);
        break;
    case ImageFormat::Gif:
        rc = vips_gifsave_buffer(img, &raw, &n, "strip", TRUE, nullptr);
        break;
    case ImageFormat::Webp:
        rc = vips_webpsave_buffer(img, &raw, &n, "strip", TRUE, "lossless", lossless ? TRUE : FALSE,
                                  "Q", 90, nullptr);
        break;
    default:
        break;
    }
    const GBuffer owned(raw);
    if (rc != 0 || raw == nullptr) {
        // Decoding happens here (loads are lazy), so a truncated or corrupt input fails now.
        return fail(ErrorCode::Malformed, "cdr.image.malformed", vips_detail());
    }
    std::string out(static_cast<const char*>(raw), n);
    if (format == ImageFormat::Webp) {
        return strip_webp(out);
    }
    return out;
}

/// The output format for an input format: the same where libvips writes it, PNG for BMP and
/// TIFF (TIFF can carry anything in its directories; BMP is better served as PNG anyway).
ImageFormat output_format(ImageFormat in) noexcept {
    switch (in) {
    case ImageFormat::Jpeg:
    case ImageFormat::Png:
    case ImageFormat::Gif:
    case ImageFormat::Webp:
        return in;
    default:
        return ImageFormat::Png;
    }
}

std::string_view content_type_of(ImageFormat f) noexcept {
    switch (f) {
    case ImageFormat::Jpeg:
        return "image/jpeg";
    case ImageFormat::Gif:
        return "image/gif";
    case ImageFormat::Webp:
        return "image/webp";
    default:
        return "image/png";
    }
}

std::string lower_extension(std::string_view filename) {
    const std::size_t slash = filename.find_last_of("/\\");
    const std::string_view base =
        slash == std::string_view::npos ? filename : filename.substr(slash + 1);
    const std::size_t dot = base.rfind('.');
    if (dot == std::string_view::npos || dot == 0) {
        return {};
    }
    std::string ext(base.substr(dot + 1));
    for (char& c : ext) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return ext;
}

bool extension_fits(std::string_view ext, ImageFormat f) noexcept {
    switch (f) {
    case ImageFormat::Jpeg:
        return ext == "jpg" || ext == "jpeg" || ext == "jpe" || ext == "jfif";
    case ImageFormat::Png:
        return ext == "png";
    case ImageFormat::Gif:
        return ext == "gif";
    case ImageFormat::Webp:
        return ext == "webp";
    default:
        return false;
    }
}

std::string_view canonical_extension(ImageFormat f) noexcept {
    switch (f) {
    case ImageFormat::Jpeg:
        return "jpg";
    case ImageFormat::Gif:
        return "gif";
    case ImageFormat::Webp:
        return "webp";
    default:
        return "png";
    }
}

/// `filename` with its extension replaced by `ext` (or `ext` appended when it has none).
std::string with_extension(std::string_view filename, std::string_view ext) {
    const std::size_t slash = filename.find_last_of("/\\");
    const std::size_t start = slash == std::string_view::npos ? 0 : slash + 1;
    const std::size_t dot = filename.rfind('.');
    std::string out(filename);
    if (dot != std::string_view::npos && dot > start) {
        out.resize(dot);
    }
    if (out.empty() || out.size() == start) {
        out += "image";
    }
    out += '.';
    out += ext;
    return out;
}

/// Metadata kinds libvips attached to an image (what its loaders understood).
std::vector<std::string> vips_metadata(VipsImage* img) {
    std::vector<std::string> kinds;
    auto has = [&](const char* name) { return vips_image_get_typeof(img, name) != 0; };
    if (has(VIPS_META_EXIF_NAME)) {
        kinds.emplace_back("EXIF");
    }
    if (has(VIPS_META_XMP_NAME)) {
        kinds.emplace_back("XMP");
    }
    if (has(VIPS_META_IPTC_NAME)) {
        kinds.emplace_back("IPTC");
    }
    if (has(VIPS_META_ICC_NAME)) {
        kinds.emplace_back("ICC profile");
    }
    if (has(VIPS_META_IMAGEDESCRIPTION)) {
        kinds.emplace_back("text tags");
    }
    if (has("gif-comment")) {
        kinds.emplace_back("comment");
    }
    const CPtr<gchar*, g_strfreev> fields(vips_image_get_fields(img));
    for (gchar** f = fields.get(); f != nullptr && *f != nullptr; ++f) {
        if (std::string_view(*f).starts_with("png-comment-")) {
            kinds.emplace_back("text chunk");
            break;
        }
    }
    return kinds;
}

int orientation_of(VipsImage* img) {
    int o = 1;
    if (vips_image_get_typeof(img, VIPS_META_ORIENTATION) != 0 &&
        vips_image_get_int(img, VIPS_META_ORIENTATION, &o) != 0) {
        vips_error_clear();
        o = 1;
    }
    return o;
}

/// Re-opens the output: same size, one frame, fully decodable, no metadata seen by libvips or
/// by our own structure walk, nothing after the image data.
Result<void> verify(const std::string& out, ImageFormat format, int width, int height) {
    const auto bytes = std::as_bytes(std::span(out.data(), out.size()));
    const ImageScan s = image::scan_image(bytes);
    if (s.format != format || !s.metadata.empty() || s.end != out.size() || s.frames != 1) {
        return fail(ErrorCode::Internal, "cdr.image.verify_failed",
                    "structure of the rebuilt file");
    }
    const ImagePtr img = load(format, bytes, VIPS_ACCESS_SEQUENTIAL);
    if (!img) {
        return fail(ErrorCode::Internal, "cdr.image.verify_failed", vips_detail());
    }
    if (vips_image_get_width(img.get()) != width || vips_image_get_height(img.get()) != height ||
        vips_image_get_n_pages(img.get()) != 1 || !vips_metadata(img.get()).empty()) {
        return fail(ErrorCode::Internal, "cdr.image.verify_failed", "size or metadata");
    }
    double avg = 0;
    if (vips_avg(img.get(), &avg, nullptr) != 0) {
        return fail(ErrorCode::Internal, "cdr.image.verify_failed", vips_detail());
    }
    return {};
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
    for (const auto& x : v) {
        if (x == s) {
            return;
        }
    }
    v.push_back(s);
}

class ImageEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "image"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        const ImageScan scan = image::scan_image(in);
        if (scan.format == ImageFormat::Unknown) {
            return fail(ErrorCode::Malformed, "cdr.image.unrecognised",
                        "not a jpeg, png, gif, bmp, tiff or webp signature");
        }
        if (!vips_ready()) {
            return fail(ErrorCode::Internal, "cdr.image.vips_init", vips_detail());
        }
        Output result;
        std::vector<std::string> metadata = scan.metadata;
        ImagePtr img;
        std::uint64_t frames = scan.frames;
        if (scan.format == ImageFormat::Bmp) {
            auto px = image::decode_bmp(in, options.max_pixels);
            if (!px) {
                return tl::unexpected(px.error());
            }
            img.reset(vips_image_new_from_memory_copy(
                px->data.data(), px->data.size(), static_cast<int>(px->width),
                static_cast<int>(px->height), static_cast<int>(px->bands), VIPS_FORMAT_UCHAR));
            if (!img) {
                return fail(ErrorCode::Internal, "cdr.image.vips_failed", vips_detail());
            }
        } else {
            img = load(scan.format, in, VIPS_ACCESS_SEQUENTIAL);
            if (!img) {
                return fail(ErrorCode::Malformed, "cdr.image.malformed", vips_detail());
            }
            // The header is all libvips has read: check the pixel count before any decoding.
            const std::uint64_t w = static_cast<std::uint64_t>(vips_image_get_width(img.get()));
            const std::uint64_t h = static_cast<std::uint64_t>(vips_image_get_height(img.get()));
            if (w * h > options.max_pixels) {
                return fail(ErrorCode::LimitExceeded, "cdr.image.too_large",
                            std::to_string(w) + "x" + std::to_string(h));
            }
            const int pages = vips_image_get_n_pages(img.get());
            if (pages > 1) {
                frames = std::max<std::uint64_t>(frames, static_cast<std::uint64_t>(pages));
            }
            for (const std::string& k : vips_metadata(img.get())) {
                add_unique(metadata, k);
            }
            // Dropping EXIF drops the orientation a viewer would apply: apply it to the pixels.
            if (const int o = orientation_of(img.get()); o >= 2 && o <= 8) {
                img = load(scan.format, in, VIPS_ACCESS_RANDOM);
                VipsImage* rotated = nullptr;
                if (!img || vips_autorot(img.get(), &rotated, nullptr) != 0) {
                    return fail(ErrorCode::Malformed, "cdr.image.malformed", vips_detail());
                }
                img.reset(rotated);
                result.removed.push_back(
                    {"image.converted", "orientation " + std::to_string(o) + " applied", ""});
            }
            // Colours are converted to sRGB while the profile is known; then it is dropped with
            // the rest. A profile lcms cannot read is dropped without conversion.
            if (vips_image_get_typeof(img.get(), VIPS_META_ICC_NAME) != 0) {
                VipsImage* srgb = nullptr;
                const int depth = vips_image_get_format(img.get()) == VIPS_FORMAT_USHORT ? 16 : 8;
                if (vips_icc_transform(img.get(), &srgb, "srgb", "embedded", TRUE, "depth", depth,
                                       nullptr) == 0) {
                    img.reset(srgb);
                    result.removed.push_back({"image.converted", "icc profile -> srgb", ""});
                } else {
                    vips_error_clear();
                }
            }
        }
        const int width = vips_image_get_width(img.get());
        const int height = vips_image_get_height(img.get());
        const ImageFormat out_format = output_format(scan.format);
        auto bytes = save(img.get(), out_format, scan.lossless);
        img.reset();
        if (!bytes) {
            return tl::unexpected(bytes.error());
        }
        if (bytes->size() > options.max_output_size) {
            return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                        "size=" + std::to_string(bytes->size()));
        }
        if (auto ok = verify(*bytes, out_format, width, height); !ok) {
            return tl::unexpected(ok.error());
        }

        for (const std::string& k : metadata) {
            result.removed.push_back({"image.metadata", k, ""});
        }
        if (scan.end != ImageScan::npos && scan.end < in.size()) {
            result.removed.push_back(
                {"image.trailing_data",
                 std::to_string(in.size() - scan.end) + " bytes after the image data", ""});
        }
        if (frames > 1) {
            result.removed.push_back(
                {"image.frames_dropped", "frames 2-" + std::to_string(frames), ""});
        }
        const std::string ext = lower_extension(filename);
        result.filename = std::string(filename);
        if (out_format != scan.format) {
            result.removed.push_back({"image.converted",
                                      std::string(image::to_string(scan.format)) + " -> " +
                                          std::string(image::to_string(out_format)),
                                      ""});
        }
        if (!extension_fits(ext, out_format)) {
            result.filename = with_extension(filename, canonical_extension(out_format));
        }
        result.bytes = std::move(*bytes);
        result.content_type = std::string(content_type_of(out_format));
        return result;
    }
};

} // namespace

std::unique_ptr<Engine> make_image_engine() {
    return std::make_unique<ImageEngine>();
}

} // namespace mugaika::filters::cdr
