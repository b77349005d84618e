#pragma once
// Converting a legacy Office or RTF file to PDF with LibreOffice in a child process. Internal to
// filters/cdr (the office engine).

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "filters/core/result.hpp"

namespace mugaika::filters::cdr::office {

/// What a conversion produced.
struct Converted {
    std::string pdf;
    /// True when the child ran in a network namespace of its own (no interface but a down
    /// loopback); false when the kernel refused both unshare(CLONE_NEWNET) and
    /// unshare(CLONE_NEWUSER | CLONE_NEWNET) and it ran with the caller's network.
    bool network_isolated = false;
};

/// How to run the converter.
struct ConvertSettings {
    std::string soffice;  ///< the `soffice` executable
    std::string work_dir; ///< a private directory; a fresh subdirectory is made and removed
    std::uint64_t max_output = 64ULL << 20U;
    std::chrono::milliseconds time_limit{120'000};
};

/// Writes `in` as "document.<ext>" into a fresh directory under settings.work_dir and runs
/// `soffice --headless --convert-to pdf` on it with a private profile and HOME, its own process
/// group and, when permitted, its own network namespace; the process group is killed when the
/// time limit passes. Errors: Internal "cdr.office.convert_setup" (directory, fork), LimitExceeded
/// "cdr.office.convert_timeout" or "cdr.output_too_large", Malformed "cdr.office.convert_failed"
/// (LibreOffice produced no PDF). Not thread-safe with respect to other forks of the process.
[[nodiscard]] Result<Converted> convert_to_pdf(std::span<const std::byte> in, std::string_view ext,
                                               const ConvertSettings& settings);

} // namespace mugaika::filters::cdr::office
