// Placeholder until the image engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class ImageEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "image"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.image.not_available",
                    "the image engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_image_engine() {
    return std::make_unique<ImageEngine>();
}

} // namespace mugaika::filters::cdr
