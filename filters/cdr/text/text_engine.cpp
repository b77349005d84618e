// Placeholder until the text engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class TextEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "text"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.text.not_available",
                    "the text engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_text_engine() {
    return std::make_unique<TextEngine>();
}

} // namespace mugaika::filters::cdr
