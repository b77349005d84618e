#include "filters/cdr/pdf/pdf_flatten.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <mutex>

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>
#include <qpdf/Pl_Buffer.hh>
#include <qpdf/Pl_DCT.hh>
#include <qpdf/Pl_Flate.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFWriter.hh>

#include "filters/cdr/pdf/string_sink.hpp"

namespace mugaika::filters::cdr::pdf {
namespace {

using Obj = QPDFObjectHandle;

/// Compresses `rows` (packed RGB, `stride` bytes apart) through `first`, the head of a
/// pipeline ending in `sink`, and returns what reached the sink.
std::string encode(const poppler::image& img, Pipeline& first, Pl_Buffer& sink) {
    const auto* data = reinterpret_cast<const unsigned char*>(img.const_data());
    const auto stride = static_cast<std::size_t>(img.bytes_per_row());
    const auto row = static_cast<std::size_t>(img.width()) * 3U;
    for (int y = 0; y < img.height(); ++y) {
        first.write(data + static_cast<std::size_t>(y) * stride, row);
    }
    first.finish();
    std::unique_ptr<Buffer> b(sink.getBuffer());
    return {reinterpret_cast<const char*>(b->getBuffer()), b->getSize()};
}

struct Encoded {
    std::string data;
    const char* filter;
};

/// Flate keeps text sharp; photographs compress badly with it, so a page whose Flate stream
/// exceeds one byte per pixel is also tried as JPEG and the smaller wins.
Encoded encode_page(const poppler::image& img) {
    Pl_Buffer flate_sink("cdr flate sink");
    Pl_Flate flate("cdr deflate", &flate_sink, Pl_Flate::a_deflate);
    Encoded best{encode(img, flate, flate_sink), "/FlateDecode"};
    const auto pixels =
        static_cast<std::size_t>(img.width()) * static_cast<std::size_t>(img.height());
    if (best.data.size() > pixels) {
        Pl_Buffer dct_sink("cdr dct sink");
        Pl_DCT dct("cdr dct", &dct_sink, static_cast<JDIMENSION>(img.width()),
                   static_cast<JDIMENSION>(img.height()), 3, JCS_RGB);
        std::string jpeg = encode(img, dct, dct_sink);
        if (jpeg.size() < best.data.size()) {
            best = Encoded{std::move(jpeg), "/DCTDecode"};
        }
    }
    return best;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

void ignore_poppler_message(const std::string& /*msg*/, void* /*closure*/) {}

} // namespace

void quiet_poppler() {
    static std::once_flag once;
    std::call_once(once,
                   [] { poppler::set_debug_error_function(ignore_poppler_message, nullptr); });
}

Result<void> check_image_sizes(QPDF& doc, std::uint64_t max_pixels) {
    for (auto& o : doc.getAllObjects()) {
        if (!o.isStream()) {
            continue;
        }
        Obj d = o.getDict();
        if (!d.getKey("/Subtype").isNameAndEquals("/Image")) {
            continue;
        }
        long long w = 0;
        long long h = 0;
        if (!d.getKey("/Width").getValueAsInt(w) || !d.getKey("/Height").getValueAsInt(h) ||
            w < 0 || h < 0) {
            continue; // poppler refuses such an image without decoding it
        }
        if (w != 0 && static_cast<std::uint64_t>(h) > max_pixels / static_cast<std::uint64_t>(w)) {
            return fail(ErrorCode::LimitExceeded, "cdr.pdf.image_too_large",
                        "object " + std::to_string(o.getObjectID()) + ": " + std::to_string(w) +
                            "x" + std::to_string(h));
        }
    }
    return {};
}

Result<std::string> flatten(std::string_view pdf, std::size_t pages, const Options& options) {
    quiet_poppler();
    if (pdf.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return fail(ErrorCode::LimitExceeded, "cdr.output_too_large", "too large to render");
    }
    std::unique_ptr<poppler::document> src(
        poppler::document::load_from_raw_data(pdf.data(), static_cast<int>(pdf.size())));
    if (!src || src->is_locked() || src->pages() < 0 ||
        static_cast<std::size_t>(src->pages()) != pages) {
        return fail(ErrorCode::Internal, "cdr.pdf.render_failed", "poppler cannot open the file");
    }
    poppler::page_renderer renderer;
    renderer.set_render_hint(poppler::page_renderer::antialiasing);
    renderer.set_render_hint(poppler::page_renderer::text_antialiasing);
    renderer.set_image_format(poppler::image::format_rgb24);

    QPDF out;
    out.emptyPDF();
    QPDFPageDocumentHelper out_pages(out);
    const double dpi = options.flatten_dpi == 0 ? 150.0 : static_cast<double>(options.flatten_dpi);
    const auto max_pixels = static_cast<double>(std::max<std::uint64_t>(options.max_pixels, 1));
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < pages; ++i) {
        const std::string where = "page " + std::to_string(i + 1);
        std::unique_ptr<poppler::page> page(src->create_page(static_cast<int>(i)));
        if (!page) {
            return fail(ErrorCode::Internal, "cdr.pdf.render_failed", where);
        }
        const poppler::rectf box = page->page_rect(poppler::crop_box);
        const double w_in = std::abs(box.width()) / 72.0;
        const double h_in = std::abs(box.height()) / 72.0;
        if (!(w_in > 0.0) || !(h_in > 0.0) || !std::isfinite(w_in * h_in)) {
            return fail(ErrorCode::Malformed, "cdr.pdf.malformed", where + ": empty page box");
        }
        // Lower the resolution of a page that would exceed max_pixels (2 % margin for the
        // rounding of the image size).
        double page_dpi = dpi;
        const double pixels = (w_in * dpi) * (h_in * dpi);
        if (pixels > max_pixels * 0.98) {
            page_dpi = dpi * std::sqrt(max_pixels * 0.98 / pixels);
        }
        if ((w_in * page_dpi) < 1.0 || (h_in * page_dpi) < 1.0) {
            page_dpi = std::max(1.0 / w_in, 1.0 / h_in);
        }
        const poppler::image img = renderer.render_page(page.get(), page_dpi, page_dpi);
        if (!img.is_valid() || img.width() <= 0 || img.height() <= 0 ||
            img.format() != poppler::image::format_rgb24) {
            return fail(ErrorCode::Internal, "cdr.pdf.render_failed", where);
        }
        if (static_cast<double>(img.width()) * static_cast<double>(img.height()) > max_pixels) {
            return fail(ErrorCode::LimitExceeded, "cdr.pdf.page_too_large", where);
        }
        Encoded enc = encode_page(img);
        total += enc.data.size();
        if (total > options.max_output_size) {
            return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                        "flattened pages exceed max_output_size");
        }
        Obj image = out.newStream();
        image.replaceStreamData(enc.data, Obj::newName(enc.filter), Obj::newNull());
        Obj idict = image.getDict();
        idict.replaceKey("/Type", Obj::newName("/XObject"));
        idict.replaceKey("/Subtype", Obj::newName("/Image"));
        idict.replaceKey("/Width", Obj::newInteger(img.width()));
        idict.replaceKey("/Height", Obj::newInteger(img.height()));
        idict.replaceKey("/ColorSpace", Obj::newName("/DeviceRGB"));
        idict.replaceKey("/BitsPerComponent", Obj::newInteger(8));

        const double w_pt = img.width() * 72.0 / page_dpi;
        const double h_pt = img.height() * 72.0 / page_dpi;
        Obj content =
            out.newStream("q " + number(w_pt) + " 0 0 " + number(h_pt) + " 0 0 cm /Im0 Do Q\n");
        Obj xobjects = Obj::newDictionary();
        xobjects.replaceKey("/Im0", image);
        Obj resources = Obj::newDictionary();
        resources.replaceKey("/XObject", xobjects);
        Obj dict = Obj::newDictionary();
        dict.replaceKey("/Type", Obj::newName("/Page"));
        dict.replaceKey("/MediaBox", Obj::newArray(std::vector<Obj>{
                                         Obj::newInteger(0), Obj::newInteger(0),
                                         Obj::parse(number(w_pt)), Obj::parse(number(h_pt))}));
        dict.replaceKey("/Resources", resources);
        dict.replaceKey("/Contents", content);
        out_pages.addPage(QPDFPageObjectHelper(out.makeIndirectObject(dict)), false);
    }
    std::string bytes;
    bytes.reserve(total + 4096 * pages);
    StringSink sink(bytes);
    QPDFWriter writer(out);
    writer.setOutputPipeline(&sink);
    writer.setDecodeLevel(qpdf_dl_none);
    writer.setCompressStreams(true);
    writer.setObjectStreamMode(qpdf_o_disable);
    writer.setDeterministicID(true);
    writer.write();
    return bytes;
}

bool image_only(QPDF& doc) {
    for (auto& page : QPDFPageDocumentHelper(doc).getAllPages()) {
        Obj res = page.getObjectHandle().getKey("/Resources");
        if (!res.isDictionary()) {
            return false;
        }
        for (const auto& key : res.getKeys()) {
            if (key != "/XObject") {
                return false;
            }
        }
        for (auto& [name, x] : res.getKey("/XObject").getDictAsMap()) {
            if (!x.isStream() || !x.getDict().getKey("/Subtype").isNameAndEquals("/Image")) {
                return false;
            }
        }
    }
    return true;
}

} // namespace mugaika::filters::cdr::pdf
