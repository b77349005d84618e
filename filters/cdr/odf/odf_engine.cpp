// Placeholder until the odf engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class OdfEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "odf"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.odf.not_available",
                    "the odf engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_odf_engine() {
    return std::make_unique<OdfEngine>();
}

} // namespace mugaika::filters::cdr
