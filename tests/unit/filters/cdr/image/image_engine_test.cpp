#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>
#include <vips/vips.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/image/bmp_decoder.hpp"
#include "filters/cdr/image/image_scan.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;

namespace {

std::string sample(const std::string& name) {
    std::ifstream f(std::string(MUGAIKA_SOURCE_DIR) + "/samples/files/image/" + name,
                    std::ios::binary);
    REQUIRE_MESSAGE(f.good(), name);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

Result<Output> rebuild(const std::string& in, std::string_view name, const Options& o = {}) {
    return rebuild_with("image", bytes_of(in), name, o);
}

std::string why(const Result<Output>& r) {
    return r ? std::string() : std::string(r.error().what) + ": " + r.error().detail;
}

bool has(const Output& out, std::string_view kind, std::string_view location) {
    return std::any_of(out.removed.begin(), out.removed.end(),
                       [&](const Removed& r) { return r.kind == kind && r.location == location; });
}

std::size_t count_kind(const Output& out, std::string_view kind) {
    return static_cast<std::size_t>(std::count_if(
        out.removed.begin(), out.removed.end(), [&](const Removed& r) { return r.kind == kind; }));
}

/// Opens a rebuilt file with libvips (initialised by the engine's first call) and decodes all
/// of it; returns width x height, or 0x0 when it does not decode.
struct Opened {
    int width = 0;
    int height = 0;
    int pages = 0;
    bool metadata = false;
};
Opened open_with_vips(const std::string& out) {
    // The engine initialises libvips; make sure it has run once.
    const std::string seed = sample("bitmap.bmp");
    REQUIRE(rebuild(seed, "seed.bmp"));
    VipsImage* img = vips_image_new_from_buffer(out.data(), out.size(), "", "fail_on",
                                                VIPS_FAIL_ON_ERROR, nullptr);
    Opened o;
    if (img == nullptr) {
        vips_error_clear();
        return o;
    }
    double avg = 0;
    if (vips_avg(img, &avg, nullptr) == 0) {
        o.width = vips_image_get_width(img);
        o.height = vips_image_get_height(img);
        o.pages = vips_image_get_n_pages(img);
        o.metadata = vips_image_get_typeof(img, VIPS_META_EXIF_NAME) != 0 ||
                     vips_image_get_typeof(img, VIPS_META_XMP_NAME) != 0 ||
                     vips_image_get_typeof(img, VIPS_META_IPTC_NAME) != 0 ||
                     vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0;
    } else {
        vips_error_clear();
    }
    g_object_unref(img);
    return o;
}

/// The rebuilt file carries no metadata and nothing after its image data, by our own walk.
void check_clean(const Output& out, image::ImageFormat format) {
    const image::ImageScan s = image::scan_image(bytes_of(out.bytes));
    CHECK(s.format == format);
    CHECK(s.metadata.empty());
    CHECK(s.end == out.bytes.size());
    CHECK(s.frames == 1);
}

bool contains(const std::string& hay, std::string_view needle) {
    return hay.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("cdr.image: EXIF, XMP, IPTC and the comment of a JPEG are removed") {
    const std::string in = sample("photo-metadata.jpg");
    auto r = rebuild(in, "photo.jpg");
    REQUIRE_MESSAGE(r, r.error().detail);
    CHECK(r->filename == "photo.jpg");
    CHECK(r->content_type == "image/jpeg");
    for (const char* kind : {"EXIF", "XMP", "IPTC", "comment"}) {
        CHECK_MESSAGE(has(*r, "image.metadata", kind), kind);
    }
    CHECK(count_kind(*r, "image.trailing_data") == 0);
    check_clean(*r, image::ImageFormat::Jpeg);
    for (const char* secret :
         {"MugaikaCam", "secret author", "confidential caption", "secret comment", "Exif"}) {
        CHECK_MESSAGE(!contains(r->bytes, secret), secret);
    }
    const Opened o = open_with_vips(r->bytes);
    CHECK(o.width == 64);
    CHECK(o.height == 48);
    CHECK_FALSE(o.metadata);
}

TEST_CASE("cdr.image: a zip appended to a JPEG does not survive") {
    const std::string in = sample("jpeg-trailing-zip.jpg");
    auto r = rebuild(in, "cat.jpeg");
    REQUIRE_MESSAGE(r, why(r));
    const image::ImageScan s = image::scan_image(bytes_of(in));
    REQUIRE(s.end != image::ImageScan::npos);
    const std::string size = std::to_string(in.size() - s.end);
    CHECK(has(*r, "image.trailing_data", size + " bytes after the image data"));
    CHECK_FALSE(contains(r->bytes, "PK\x03\x04"));
    CHECK_FALSE(contains(r->bytes, "run.bat"));
    CHECK(r->filename == "cat.jpeg");
    check_clean(*r, image::ImageFormat::Jpeg);
    CHECK(open_with_vips(r->bytes).width == 32);
}

TEST_CASE("cdr.image: PNG text, XMP, eXIf, time and private chunks are removed") {
    const std::string in = sample("png-text-exif.png");
    auto r = rebuild(in, "chart.png");
    REQUIRE_MESSAGE(r, why(r));
    for (const char* kind : {"text chunk", "XMP", "EXIF", "time chunk", "private chunk"}) {
        CHECK_MESSAGE(has(*r, "image.metadata", kind), kind);
    }
    check_clean(*r, image::ImageFormat::Png);
    for (const char* secret : {"secret", "tEXt", "zTXt", "iTXt", "eXIf", "tIME", "prVt"}) {
        CHECK_MESSAGE(!contains(r->bytes, secret), secret);
    }
    const Opened o = open_with_vips(r->bytes);
    CHECK(o.width == 48);
    CHECK(o.height == 32);
    CHECK_FALSE(o.metadata);
}

TEST_CASE("cdr.image: a PNG claiming 100000x100000 is refused before decoding") {
    const std::string in = sample("png-bomb-header.png");
    CHECK(in.size() < 1024);
    auto r = rebuild(in, "bomb.png");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::LimitExceeded);
    CHECK(r.error().what == "cdr.image.too_large");
    CHECK(r.error().detail == "100000x100000");
}

TEST_CASE("cdr.image: the pixel limit is width x height, inclusive") {
    const std::string in = sample("png-text-exif.png"); // 48 x 32 = 1536 pixels
    Options o;
    o.max_pixels = 1536;
    CHECK(rebuild(in, "a.png", o));
    o.max_pixels = 1535;
    auto r = rebuild(in, "a.png", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().what == "cdr.image.too_large");
    const std::string bmp = sample("bitmap.bmp"); // 33 x 17
    o.max_pixels = 33 * 17 - 1;
    auto b = rebuild(bmp, "a.bmp", o);
    REQUIRE_FALSE(b);
    CHECK(b.error().what == "cdr.image.too_large");
}

TEST_CASE("cdr.image: the comment of a GIF is removed and the GIF stays a GIF") {
    auto r = rebuild(sample("gif-comment.gif"), "anim.gif");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "image.metadata", "comment"));
    CHECK(r->content_type == "image/gif");
    CHECK_FALSE(contains(r->bytes, "secret GIF comment"));
    check_clean(*r, image::ImageFormat::Gif);
    const Opened o = open_with_vips(r->bytes);
    CHECK(o.width == 40);
    CHECK(o.height == 24);
}

TEST_CASE("cdr.image: an animated GIF keeps its first frame only") {
    auto r = rebuild(sample("gif-animated.gif"), "anim.gif");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "image.frames_dropped", "frames 2-3"));
    check_clean(*r, image::ImageFormat::Gif);
    const Opened o = open_with_vips(r->bytes);
    CHECK(o.pages == 1);
    CHECK(o.height == 24);
}

TEST_CASE("cdr.image: BMP becomes PNG with the same pixels") {
    const std::string in = sample("bitmap.bmp");
    auto r = rebuild(in, "scan.BMP");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(r->filename == "scan.png");
    CHECK(r->content_type == "image/png");
    CHECK(has(*r, "image.converted", "bmp -> png"));
    check_clean(*r, image::ImageFormat::Png);
    // Pixel (0, 0) of the pattern is (0, 0, 40); (32, 16) is (255, 255, 40): compare.
    VipsImage* img = nullptr;
    REQUIRE(open_with_vips(r->bytes).width == 33);
    img = vips_image_new_from_buffer(r->bytes.data(), r->bytes.size(), "", nullptr);
    REQUIRE(img != nullptr);
    double* px = nullptr;
    int n = 0;
    REQUIRE(vips_getpoint(img, &px, &n, 32, 16, nullptr) == 0);
    REQUIRE(n == 3);
    CHECK(px[0] == 255);
    CHECK(px[1] == 255);
    CHECK(px[2] == 40);
    g_free(px);
    REQUIRE(vips_getpoint(img, &px, &n, 0, 0, nullptr) == 0);
    CHECK(px[0] == 0);
    CHECK(px[1] == 0);
    CHECK(px[2] == 40);
    g_free(px);
    g_object_unref(img);
}

TEST_CASE("cdr.image: TIFF becomes PNG and its text tags are gone") {
    auto r = rebuild(sample("scan.tif"), "scan.tiff");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(r->filename == "scan.png");
    CHECK(has(*r, "image.converted", "tiff -> png"));
    CHECK(has(*r, "image.metadata", "text tags"));
    CHECK_FALSE(contains(r->bytes, "secret"));
    check_clean(*r, image::ImageFormat::Png);
    CHECK(open_with_vips(r->bytes).width == 40);
}

TEST_CASE("cdr.image: WebP EXIF and XMP are removed, lossless stays lossless") {
    auto r = rebuild(sample("webp-metadata.webp"), "a.webp");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "image.metadata", "EXIF"));
    CHECK(has(*r, "image.metadata", "XMP"));
    CHECK(r->content_type == "image/webp");
    const image::ImageScan s = image::scan_image(bytes_of(r->bytes));
    CHECK(s.lossless);
    check_clean(*r, image::ImageFormat::Webp);
    CHECK_FALSE(contains(r->bytes, "MugaikaCam"));
    CHECK(open_with_vips(r->bytes).width == 40);
}

TEST_CASE("cdr.image: an animated WebP keeps its first frame only") {
    auto r = rebuild(sample("webp-animated.webp"), "a.webp");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "image.frames_dropped", "frames 2-3"));
    check_clean(*r, image::ImageFormat::Webp);
    const Opened o = open_with_vips(r->bytes);
    CHECK(o.pages == 1);
    CHECK(o.height == 24);
}

TEST_CASE("cdr.image: truncated, garbage and unknown inputs are errors, never passed through") {
    struct Case {
        const char* name;
        std::string bytes;
    };
    const std::string photo = sample("photo-metadata.jpg");
    const Case cases[] = {
        {"truncated.jpg", sample("truncated.jpg")},
        {"truncated.png", sample("truncated.png")},
        {"garbage.png", sample("garbage.png")},
        {"cut-header.jpg", photo.substr(0, 30)},
        {"bmp-cut.bmp", sample("bitmap.bmp").substr(0, 300)},
        {"webp-cut.webp", sample("webp-metadata.webp").substr(0, 60)},
        {"gif-cut.gif", sample("gif-comment.gif").substr(0, 900)},
        {"tiff-cut.tif", sample("scan.tif").substr(0, 400)},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        auto r = rebuild(c.bytes, c.name);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::Malformed);
    }
    auto u = rebuild(std::string("plain text, not an image"), "x.png");
    REQUIRE_FALSE(u);
    CHECK(u.error().what == "cdr.image.unrecognised");
}

TEST_CASE("cdr.image: an embedded ICC profile is converted to sRGB, then dropped") {
    // Build a JPEG carrying libvips' own sRGB profile.
    REQUIRE(rebuild(sample("bitmap.bmp"), "seed.bmp"));
    VipsBlob* profile = nullptr;
    REQUIRE(vips_profile_load("srgb", &profile, nullptr) == 0);
    VipsImage* black = nullptr;
    REQUIRE(vips_black(&black, 16, 16, "bands", 3, nullptr) == 0);
    VipsImage* img = nullptr;
    REQUIRE(vips_cast_uchar(black, &img, nullptr) == 0);
    g_object_unref(black);
    std::size_t len = 0;
    const void* data = vips_blob_get(profile, &len);
    vips_image_set_blob_copy(img, VIPS_META_ICC_NAME, data, len);
    vips_area_unref(reinterpret_cast<VipsArea*>(profile));
    void* buf = nullptr;
    std::size_t n = 0;
    REQUIRE(vips_jpegsave_buffer(img, &buf, &n, nullptr) == 0);
    g_object_unref(img);
    const std::string in(static_cast<const char*>(buf), n);
    g_free(buf);
    const auto found = image::scan_image(bytes_of(in)).metadata;
    CHECK(std::find(found.begin(), found.end(), "ICC profile") != found.end());
    auto r = rebuild(in, "icc.jpg");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "image.metadata", "ICC profile"));
    CHECK(has(*r, "image.converted", "icc profile -> srgb"));
    check_clean(*r, image::ImageFormat::Jpeg);
}

TEST_CASE("cdr.image: EXIF orientation is applied to the pixels before EXIF is dropped") {
    REQUIRE(rebuild(sample("bitmap.bmp"), "seed.bmp"));
    VipsImage* black = nullptr;
    REQUIRE(vips_black(&black, 20, 10, "bands", 3, nullptr) == 0);
    VipsImage* img = nullptr;
    REQUIRE(vips_cast_uchar(black, &img, nullptr) == 0);
    g_object_unref(black);
    vips_image_set_int(img, VIPS_META_ORIENTATION, 6); // rotate 90 degrees to display
    void* buf = nullptr;
    std::size_t n = 0;
    REQUIRE(vips_jpegsave_buffer(img, &buf, &n, nullptr) == 0);
    g_object_unref(img);
    const std::string in(static_cast<const char*>(buf), n);
    g_free(buf);
    auto r = rebuild(in, "rotated.jpg");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "image.converted", "orientation 6 applied"));
    CHECK(has(*r, "image.metadata", "EXIF"));
    const Opened o = open_with_vips(r->bytes);
    CHECK(o.width == 10);
    CHECK(o.height == 20);
}

TEST_CASE("cdr.image: a PNG named .jpg comes back as .png") {
    auto r = rebuild(sample("png-text-exif.png"), "photo.jpg");
    REQUIRE_MESSAGE(r, why(r));
    CHECK(r->filename == "photo.png");
    CHECK(r->content_type == "image/png");
}

TEST_CASE("cdr.image: the BMP decoder reads palettes, bit fields and top-down rows") {
    auto bmp = [](int width, int height, unsigned bpp, std::uint32_t compression,
                  const std::string& extra, const std::string& rows) {
        std::string h(54, '\0');
        auto put32 = [&](std::size_t at, std::uint32_t v) {
            for (int i = 0; i < 4; ++i) {
                h[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
            }
        };
        h[0] = 'B';
        h[1] = 'M';
        put32(10, static_cast<std::uint32_t>(54 + extra.size()));
        put32(14, 40);
        put32(18, static_cast<std::uint32_t>(width));
        put32(22, static_cast<std::uint32_t>(height));
        h[26] = 1;
        h[28] = static_cast<char>(bpp);
        put32(30, compression);
        std::string out = h + extra + rows;
        put32(2, static_cast<std::uint32_t>(out.size()));
        return h + extra + rows;
    };
    SUBCASE("1-bit palette, top-down") {
        const std::string palette = std::string("\0\0\0\0", 4) + std::string("\xff\xff\xff\0", 4);
        const std::string rows = std::string("\x80\0\0\0", 4) + std::string("\x40\0\0\0", 4);
        const std::string f = bmp(2, -2, 1, 0, palette, rows);
        auto p = image::decode_bmp(bytes_of(f), 100);
        REQUIRE(p);
        CHECK(p->width == 2);
        CHECK(p->height == 2);
        CHECK(p->data == std::vector<std::uint8_t>{255, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255});
    }
    SUBCASE("32-bit with an alpha mask") {
        std::string masks;
        for (std::uint32_t m : {0x00FF0000U, 0x0000FF00U, 0x000000FFU, 0xFF000000U}) {
            for (int i = 0; i < 4; ++i) {
                masks += static_cast<char>((m >> (8 * i)) & 0xFF);
            }
        }
        const std::string rows("\x10\x20\x30\x80", 4);
        const std::string f = bmp(1, 1, 32, 6, masks, rows);
        auto p = image::decode_bmp(bytes_of(f), 100);
        REQUIRE(p);
        CHECK(p->bands == 4);
        CHECK(p->data == std::vector<std::uint8_t>{0x30, 0x20, 0x10, 0x80});
    }
    SUBCASE("RLE is refused, a palette index out of range is malformed") {
        const std::string rle = bmp(1, 1, 8, 1, std::string(1024, '\0'), std::string(4, '\0'));
        auto r = image::decode_bmp(bytes_of(rle), 100);
        REQUIRE_FALSE(r);
        CHECK(r.error().what == "cdr.image.bmp_unsupported");
        std::string small_palette =
            bmp(1, 1, 8, 0, std::string(8, '\0'), std::string("\x05\0\0\0", 4));
        small_palette[46] = 2; // two colours
        auto m = image::decode_bmp(bytes_of(small_palette), 100);
        REQUIRE_FALSE(m);
        CHECK(m.error().what == "cdr.image.malformed");
    }
    SUBCASE("a huge header is refused before allocating") {
        const std::string f = bmp(100000, 100000, 24, 0, "", "");
        auto r = image::decode_bmp(bytes_of(f), 100'000'000);
        REQUIRE_FALSE(r);
        CHECK(r.error().what == "cdr.image.too_large");
    }
}
