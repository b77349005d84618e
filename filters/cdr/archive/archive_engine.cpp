// Placeholder until the archive engine lands: every file of this kind is refused (and stripped by
// the caller), never passed through.
#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

class ArchiveEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "archive"; }
    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> /*in*/,
                                         std::string_view /*filename*/,
                                         const Options& /*options*/) const override {
        return fail(ErrorCode::Unsupported, "cdr.archive.not_available",
                    "the archive engine is not built yet");
    }
};

} // namespace

std::unique_ptr<Engine> make_archive_engine() {
    return std::make_unique<ArchiveEngine>();
}

} // namespace mugaika::filters::cdr
