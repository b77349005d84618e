#include "filters/av/scanner.hpp"

#include <utility>

namespace mugaika::filters::av {

// Names ClamAV gives to "could not look at everything", mapped to our reasons. They are
// heuristic alerts in ClamAV, but they are not findings about the content.
std::string_view incomplete_reason(std::string_view name) noexcept {
    if (name.starts_with("Heuristics.Limits.Exceeded.MaxScanTime")) {
        return "timeout";
    }
    if (name.starts_with("Heuristics.Limits.Exceeded.")) {
        return "limits.exceeded";
    }
    if (name.starts_with("Heuristics.Encrypted.")) {
        return "encrypted";
    }
    if (name.starts_with("Heuristics.Broken.")) {
        return "corrupted";
    }
    return {};
}

ScanResult verdict_of(std::vector<std::string> names, std::string reason) {
    ScanResult result;
    result.reason = std::move(reason);
    bool infected = false;
    for (const auto& n : names) {
        if (auto why = incomplete_reason(n); !why.empty()) {
            if (result.reason.empty()) {
                result.reason = why;
            }
        } else {
            infected = true;
        }
    }
    result.signatures = std::move(names);
    if (infected) {
        result.status = ScanStatus::Infected;
    } else if (!result.reason.empty()) {
        result.status = ScanStatus::Incomplete;
    }
    return result;
}

} // namespace mugaika::filters::av
