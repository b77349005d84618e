#pragma once
// Runs a CDR engine in the `mugaika-cdr` helper process: the engines parse hostile files with
// large libraries (qpdf, libzip, an image library, LibreOffice), so each rebuild gets a process
// of its own with a time limit, a memory limit and no inherited descriptors. A helper that runs
// too long is killed; one that crashes or runs out of memory is an error; neither can take the
// gateway down or leave anything running.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "filters/cdr/cdr.hpp"
#include "filters/core/result.hpp"

namespace mugaika::gateway {

/// Where and how the helper runs.
struct CdrLimits {
    /// The helper executable; "" = cdr_helper_path("").
    std::string helper;
    /// Wall-clock time for one rebuild; the helper is killed (SIGKILL) when it passes.
    std::chrono::milliseconds time_limit{30000};
    /// Address-space limit of the helper (RLIMIT_AS), bytes; 0 = none. Not applied in builds
    /// with AddressSanitizer, which reserves terabytes of address space.
    std::uint64_t memory_limit = 2ULL << 30U;
    /// A directory under which a private work directory is made for each run (removed after).
    std::string work_root = "/tmp";
};

/// The helper executable to use: `configured` when not empty; else `mugaika-cdr` next to the
/// running program, then in the build tree this binary was built in. Never fails: the path may
/// not exist, which run_cdr reports.
[[nodiscard]] std::string cdr_helper_path(const std::string& configured);

/// Rebuilds `bytes` with `engine` in a helper process. The engine's own errors come back as
/// they are ("cdr.pdf.encrypted", ...). Errors of the run: "cdr.timeout" (LimitExceeded: killed
/// at the time limit), "cdr.out_of_memory" (LimitExceeded), "cdr.crashed" (Internal: killed by
/// a signal or an unexpected exit), "cdr.helper_unavailable" (Internal: cannot be started),
/// "cdr.output_too_large" (LimitExceeded), "cdr.protocol" (Internal: a report that cannot be
/// read). Thread-safe: every call has its own process and descriptors.
[[nodiscard]] filters::Result<filters::cdr::Output>
run_cdr(std::string_view engine, std::string_view bytes, std::string_view filename,
        const filters::cdr::Options& options, const CdrLimits& limits);

/// The protocol between run_cdr and the helper, shared by both sides.
namespace cdr_protocol {
/// Options as one JSON object (argv[3] of the helper).
[[nodiscard]] std::string options_json(const filters::cdr::Options& o);
[[nodiscard]] filters::Result<filters::cdr::Options> parse_options(std::string_view json);
/// The helper's report on stdout: the Output without its bytes (they go to descriptor 3), or
/// the Error.
[[nodiscard]] std::string report_json(const filters::Result<filters::cdr::Output>& r);
/// Reads a report; the bytes of a successful Output are left empty.
[[nodiscard]] filters::Result<filters::cdr::Output> parse_report(std::string_view json);
} // namespace cdr_protocol

} // namespace mugaika::gateway
