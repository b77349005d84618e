// Placeholder until the ooxml engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class OoxmlEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "ooxml"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.ooxml.not_available",
                    "the ooxml engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_ooxml_engine() {
    return std::make_unique<OoxmlEngine>();
}

} // namespace mugaika::filters::cdr
