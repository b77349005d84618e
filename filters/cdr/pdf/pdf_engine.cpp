// The PDF engine: qpdf opens the file (recovering a damaged cross-reference table), the
// cleaning pass removes active content, embedded files and external references, QPDFWriter
// writes a new file holding only what is reachable from the trailer, and the new file is
// opened again and checked. With pdf_flatten, the cleaned file is then rendered page by page
// by poppler and replaced by an image-only PDF. See docs/cdr/pdf.md.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFWriter.hh>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/pdf/bounded_decode.hpp"
#include "filters/cdr/pdf/pdf_flatten.hpp"
#include "filters/cdr/pdf/pdf_sanitize.hpp"
#include "filters/cdr/pdf/string_sink.hpp"

namespace mugaika::filters::cdr {
namespace {

using pdf::DecodeBudget;

/// Most entries in the cross-reference table, checked as soon as qpdf has read it and before
/// any object is parsed. qpdf 11.3 spends about 160 bytes per entry; a million covers any real
/// document.
constexpr std::size_t max_objects = 1'000'000;
/// Bytes of cross-reference stream data decoded while opening (the only decoding qpdf does
/// then): 16 bytes per allowed entry (an entry takes 5 to 13 bytes in practice).
constexpr std::uint64_t open_decode_budget = max_objects * 16;
/// Decoded bytes of object streams while cleaning, writing and checking: 16 MiB plus four times
/// the input (object streams of real files inflate 3 to 5 times and are a part of the file).
constexpr std::uint64_t min_decode_budget = 16ULL << 20U;
constexpr std::uint64_t decode_ratio = 4;
/// "%PDF-" must start in the first 1024 bytes, as readers require.
constexpr std::size_t header_window = 1024;

std::uint64_t decode_budget(std::size_t input, const Options& options) {
    return std::min<std::uint64_t>(options.max_expanded_size,
                                   std::max(min_decode_budget, decode_ratio * input));
}

tl::unexpected<Error> decode_limit() {
    return fail(ErrorCode::LimitExceeded, "cdr.pdf.decode_limit",
                "object or cross-reference streams inflate beyond the budget");
}

/// The number of pages; 0 when the page tree holds something that is not a page dictionary
/// (qpdf turns an object it cannot parse into null).
std::size_t page_count(QPDF& doc) {
    auto pages = QPDFPageDocumentHelper(doc).getAllPages();
    for (auto& p : pages) {
        if (!p.getObjectHandle().isDictionary()) {
            return 0;
        }
    }
    return pages.size();
}

std::string write_clean(QPDF& doc, std::size_t expected_size) {
    std::string out;
    out.reserve(expected_size);
    pdf::StringSink sink(out);
    QPDFWriter writer(doc);
    writer.setOutputPipeline(&sink);
    writer.setPreserveEncryption(false);
    // Streams are copied as they are, never decoded: a stream bomb stays a few compressed
    // bytes. Unfiltered streams are deflated.
    writer.setDecodeLevel(qpdf_dl_none);
    writer.setCompressStreams(true);
    // Every object at top level and a classic xref table: what any reader and the antivirus
    // re-scan read most easily.
    writer.setObjectStreamMode(qpdf_o_disable);
    writer.setLinearization(false);
    writer.setDeterministicID(true);
    writer.write();
    return out;
}

/// Opens a file this engine wrote and checks it: no warning, not encrypted, `pages` pages,
/// nothing that sanitize() removes, and (flattened) images only.
Result<void> verify(const std::string& bytes, std::size_t pages, bool flattened,
                    const Options& options) {
    DecodeBudget budget(decode_budget(bytes.size(), options));
    QPDF check;
    check.setSuppressWarnings(true);
    check.setAttemptRecovery(false);
    check.processMemoryFile("rebuilt", bytes.data(), bytes.size());
    if (check.isEncrypted()) {
        return fail(ErrorCode::Internal, "cdr.pdf.verify_failed", "output is encrypted");
    }
    if (page_count(check) != pages) {
        return fail(ErrorCode::Internal, "cdr.pdf.verify_failed", "page count changed");
    }
    if (std::string left = pdf::find_forbidden(check); !left.empty()) {
        return fail(ErrorCode::Internal, "cdr.pdf.verify_failed", "left in output: " + left);
    }
    if (flattened && !pdf::image_only(check)) {
        return fail(ErrorCode::Internal, "cdr.pdf.verify_failed", "flattened page draws more");
    }
    if (budget.exceeded()) {
        return decode_limit();
    }
    if (check.anyWarnings()) {
        return fail(ErrorCode::Internal, "cdr.pdf.verify_failed", "output reads with warnings");
    }
    return {};
}

bool mentions(std::span<const std::byte> in, std::string_view what) {
    const auto* p = reinterpret_cast<const char*>(in.data());
    return std::string_view(p, in.size()).find(what) != std::string_view::npos;
}

class PdfEngine final : public Engine {
public:
    PdfEngine() {
        pdf::install_bounded_decoders();
        pdf::quiet_poppler();
    }

    [[nodiscard]] std::string_view name() const noexcept override { return "pdf"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        try {
            return run(in, filename, options);
        } catch (const std::bad_alloc&) {
            return fail(ErrorCode::LimitExceeded, "cdr.pdf.out_of_memory");
        } catch (const QPDFExc&) {
            return fail(ErrorCode::Malformed, "cdr.pdf.malformed", "qpdf cannot read the file");
        } catch (const std::exception&) {
            return fail(ErrorCode::Internal, "cdr.pdf.library", "qpdf failed");
        }
    }

private:
    static Result<Output> run(std::span<const std::byte> in, std::string_view filename,
                              const Options& options) {
        if (options.pdf_links != "text" && options.pdf_links != "remove") {
            return fail(ErrorCode::Unsupported, "cdr.pdf.bad_option",
                        "pdf_links must be \"text\" or \"remove\"");
        }
        const auto* data = reinterpret_cast<const char*>(in.data());
        if (std::string_view(data, std::min(in.size(), header_window)).find("%PDF-") ==
            std::string_view::npos) {
            return fail(ErrorCode::Malformed, "cdr.pdf.malformed", "no %PDF- header");
        }

        Output out;
        QPDF doc;
        doc.setSuppressWarnings(true);
        {
            DecodeBudget budget(open_decode_budget);
            try {
                doc.processMemoryFile("input", data, in.size());
            } catch (const QPDFExc& e) {
                if (budget.exceeded()) {
                    return fail(ErrorCode::LimitExceeded, "cdr.pdf.too_many_objects",
                                "cross-reference streams too large");
                }
                if (e.getErrorCode() == qpdf_e_password ||
                    (e.getErrorCode() == qpdf_e_unsupported && mentions(in, "/Encrypt"))) {
                    return fail(ErrorCode::Malformed, "cdr.pdf.encrypted",
                                "a password is needed to open the file");
                }
                return fail(ErrorCode::Malformed, "cdr.pdf.malformed", "qpdf cannot read the file");
            }
            if (budget.exceeded()) {
                return fail(ErrorCode::LimitExceeded, "cdr.pdf.too_many_objects",
                            "cross-reference streams too large");
            }
        }
        if (doc.getXRefTable().size() > max_objects) {
            return fail(ErrorCode::LimitExceeded, "cdr.pdf.too_many_objects",
                        std::to_string(doc.getXRefTable().size()) + " objects");
        }

        DecodeBudget budget(decode_budget(in.size(), options));
        const std::size_t pages = page_count(doc);
        if (budget.exceeded()) {
            return decode_limit();
        }
        if (pages == 0) {
            return fail(ErrorCode::Malformed, "cdr.pdf.malformed", "no pages, or a broken page");
        }
        if (doc.isEncrypted()) {
            out.removed.push_back(Removed{"pdf.encryption", "document", ""});
        }
        pdf::sanitize(doc, options.pdf_links == "text", out.removed);
        std::string bytes = write_clean(doc, in.size() + in.size() / 8 + 4096);
        if (budget.exceeded()) {
            return decode_limit();
        }
        if (doc.anyWarnings()) {
            out.removed.push_back(Removed{"pdf.repaired", "file structure", ""});
        }
        if (bytes.size() > options.max_output_size) {
            return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                        std::to_string(bytes.size()) + " bytes");
        }
        if (auto ok = verify(bytes, pages, false, options); !ok) {
            return tl::unexpected(ok.error());
        }

        if (options.pdf_flatten) {
            {
                DecodeBudget check_budget(decode_budget(bytes.size(), options));
                QPDF clean;
                clean.setSuppressWarnings(true);
                clean.processMemoryFile("rebuilt", bytes.data(), bytes.size());
                if (auto ok = pdf::check_image_sizes(clean, options.max_pixels); !ok) {
                    return tl::unexpected(ok.error());
                }
            }
            auto flat = pdf::flatten(bytes, pages, options);
            if (!flat) {
                return tl::unexpected(flat.error());
            }
            bytes = std::move(*flat);
            if (auto ok = verify(bytes, pages, true, options); !ok) {
                return tl::unexpected(ok.error());
            }
            out.removed.push_back(Removed{"pdf.flattened", "all pages", ""});
        }

        out.bytes = std::move(bytes);
        out.filename = std::string(filename);
        out.content_type = "application/pdf";
        return out;
    }
};

} // namespace

std::unique_ptr<Engine> make_pdf_engine() {
    return std::make_unique<PdfEngine>();
}

} // namespace mugaika::filters::cdr
