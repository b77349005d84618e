// Placeholder until the pdf engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class PdfEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "pdf"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.pdf.not_available",
                    "the pdf engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_pdf_engine() {
    return std::make_unique<PdfEngine>();
}

} // namespace mugaika::filters::cdr
