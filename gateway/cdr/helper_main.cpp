// mugaika-cdr: runs one CDR engine on one file, in a process of its own (see cdr_runner.hpp).
//
//   mugaika-cdr ENGINE FILENAME OPTIONS_JSON   < input (fd 0)   3> output   > report (JSON)
//
// Started by the gateway only. Exit 0 with a report whether the engine succeeded or refused
// the file; any other exit, or a signal, is a crash the gateway reports as cdr.crashed.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "filters/cdr/cdr.hpp"
#include "gateway/cdr/cdr_runner.hpp"
#include "gateway/util/fd_io.hpp"

namespace {

using mugaika::filters::ErrorCode;
using mugaika::filters::fail;
namespace cdr = mugaika::filters::cdr;
namespace protocol = mugaika::gateway::cdr_protocol;

bool read_all(int fd, std::string& out) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
        out.reserve(static_cast<std::size_t>(st.st_size));
    }
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

/// Writes the report and ends the process at once. The helper lives for one file: the kernel
/// takes its memory back, and skipping the libraries' exit-time destructors (libvips, poppler,
/// fontconfig) makes it faster and keeps their process-lifetime caches out of leak checkers.
[[noreturn]] void report(const mugaika::filters::Result<cdr::Output>& r) {
    const std::string json = protocol::report_json(r);
    std::_Exit(mugaika::gateway::write_all(1, json) ? 0 : 2);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: mugaika-cdr ENGINE FILENAME OPTIONS_JSON (run by mugaika)\n");
        return 2;
    }
    try {
        auto options = protocol::parse_options(argv[3]);
        if (!options) {
            report(tl::unexpected(options.error()));
        }
        std::string input;
        if (!read_all(0, input)) {
            report(fail(ErrorCode::Internal, "cdr.protocol", "input unreadable"));
        }
        auto out =
            cdr::rebuild_with(argv[1],
                              std::span<const std::byte>(
                                  reinterpret_cast<const std::byte*>(input.data()), input.size()),
                              argv[2], *options);
        if (out && out->bytes.size() > options->max_output_size) {
            report(fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                        "size=" + std::to_string(out->bytes.size())));
        }
        if (out && !mugaika::gateway::write_all(3, out->bytes)) {
            report(fail(ErrorCode::Internal, "cdr.protocol", "output not written"));
        }
        report(out);
    } catch (const std::bad_alloc&) {
        report(fail(ErrorCode::LimitExceeded, "cdr.out_of_memory", argv[1]));
    } catch (const std::exception& e) {
        report(fail(ErrorCode::Internal, "cdr.crashed", e.what()));
    }
}
