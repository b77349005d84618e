// Placeholder until the office engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class OfficeEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "office"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.office.not_available",
                    "the office engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_office_engine() {
    return std::make_unique<OfficeEngine>();
}

} // namespace mugaika::filters::cdr
