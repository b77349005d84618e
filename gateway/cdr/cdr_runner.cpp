#include "gateway/cdr/cdr_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include "gateway/util/fd_io.hpp"

#ifndef MUGAIKA_CDR_BUILD_PATH
#define MUGAIKA_CDR_BUILD_PATH ""
#endif

namespace mugaika::gateway {

using filters::Error;
using filters::ErrorCode;
using filters::fail;
namespace cdr = filters::cdr;
using Clock = std::chrono::steady_clock;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool address_sanitizer = true;
#else
constexpr bool address_sanitizer = false;
#endif
#else
constexpr bool address_sanitizer = false;
#endif

/// A descriptor closed at the end of the scope.
class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    ~Fd() { reset(); }
    void reset() noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = -1;
    }
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

/// Error codes travel as text from the helper; Error::what must point at static storage, so
/// the codes of the engines are interned (a small closed set; anything odd is refused).
std::string_view intern_code(const std::string& code) {
    static std::mutex mutex;
    static std::set<std::string, std::less<>> codes;
    const bool shaped =
        code.size() > 4 && code.size() <= 64 && code.rfind("cdr.", 0) == 0 &&
        code.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._") == std::string::npos;
    if (!shaped) {
        return "cdr.protocol";
    }
    const std::lock_guard lock(mutex);
    if (auto it = codes.find(code); it != codes.end()) {
        return *it;
    }
    if (codes.size() >= 1000) {
        return "cdr.protocol";
    }
    return *codes.insert(code).first;
}

ErrorCode code_of(const std::string& s) {
    for (ErrorCode c : {ErrorCode::Malformed, ErrorCode::LimitExceeded, ErrorCode::Unsupported,
                        ErrorCode::Transient, ErrorCode::Internal}) {
        if (filters::to_string(c) == s) {
            return c;
        }
    }
    return ErrorCode::Internal;
}

std::string stringify(const Poco::JSON::Object::Ptr& o) {
    std::ostringstream ss;
    Poco::JSON::Stringifier::stringify(o, ss, 0, -1, Poco::JSON_WRAP_STRINGS);
    return ss.str();
}

/// A private directory for one run: <root>/mugaika-cdr-<pid>-<random>.
std::string make_work_dir(const std::string& root) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    for (int attempt = 0; attempt < 8; ++attempt) {
        const std::string dir = root + "/mugaika-cdr-" + std::to_string(::getpid()) + "-" +
                                std::to_string(rng() % 1000000000000ULL);
        if (::mkdir(dir.c_str(), 0700) == 0) {
            return dir;
        }
        if (errno != EEXIST) {
            break;
        }
    }
    return {};
}

} // namespace

std::string cdr_helper_path(const std::string& configured) {
    if (!configured.empty()) {
        return configured;
    }
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto next_to = self.parent_path() / "mugaika-cdr";
        if (std::filesystem::exists(next_to, ec)) {
            return next_to.string();
        }
    }
    return MUGAIKA_CDR_BUILD_PATH;
}

namespace cdr_protocol {

std::string options_json(const cdr::Options& o) {
    Poco::JSON::Object::Ptr j = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    j->set("pdf_links", o.pdf_links);
    j->set("pdf_flatten", o.pdf_flatten);
    j->set("flatten_dpi", o.flatten_dpi);
    j->set("max_pixels", o.max_pixels);
    j->set("max_archive_depth", o.max_archive_depth);
    j->set("max_archive_members", o.max_archive_members);
    j->set("max_expanded_size", o.max_expanded_size);
    j->set("max_output_size", o.max_output_size);
    j->set("office_convert", o.office_convert);
    j->set("soffice", o.soffice);
    j->set("work_dir", o.work_dir);
    return stringify(j);
}

filters::Result<cdr::Options> parse_options(std::string_view json) {
    try {
        Poco::JSON::Parser parser;
        const auto j = parser.parse(std::string(json)).extract<Poco::JSON::Object::Ptr>();
        cdr::Options o;
        o.pdf_links = j->getValue<std::string>("pdf_links");
        o.pdf_flatten = j->getValue<bool>("pdf_flatten");
        o.flatten_dpi = j->getValue<unsigned>("flatten_dpi");
        o.max_pixels = j->getValue<std::uint64_t>("max_pixels");
        o.max_archive_depth = j->getValue<unsigned>("max_archive_depth");
        o.max_archive_members = j->getValue<std::uint64_t>("max_archive_members");
        o.max_expanded_size = j->getValue<std::uint64_t>("max_expanded_size");
        o.max_output_size = j->getValue<std::uint64_t>("max_output_size");
        o.office_convert = j->getValue<bool>("office_convert");
        o.soffice = j->getValue<std::string>("soffice");
        o.work_dir = j->getValue<std::string>("work_dir");
        return o;
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "cdr.protocol", std::string("options: ") + e.what());
    }
}

std::string report_json(const filters::Result<cdr::Output>& r) {
    Poco::JSON::Object::Ptr j = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    j->set("ok", r.has_value());
    if (!r) {
        j->set("code", std::string(r.error().what));
        j->set("class", std::string(filters::to_string(r.error().code)));
        j->set("detail", r.error().detail);
        return stringify(j);
    }
    j->set("filename", r->filename);
    j->set("content_type", r->content_type);
    j->set("size", r->bytes.size());
    Poco::JSON::Array::Ptr removed = new Poco::JSON::Array;
    for (const cdr::Removed& x : r->removed) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("kind", x.kind);
        o->set("location", x.location);
        o->set("url", x.url);
        removed->add(o);
    }
    j->set("removed", removed);
    return stringify(j);
}

filters::Result<cdr::Output> parse_report(std::string_view json) {
    try {
        Poco::JSON::Parser parser;
        const auto j = parser.parse(std::string(json)).extract<Poco::JSON::Object::Ptr>();
        if (!j->getValue<bool>("ok")) {
            return tl::unexpected(Error{code_of(j->getValue<std::string>("class")),
                                        intern_code(j->getValue<std::string>("code")),
                                        j->getValue<std::string>("detail")});
        }
        cdr::Output out;
        out.filename = j->getValue<std::string>("filename");
        out.content_type = j->getValue<std::string>("content_type");
        const auto removed = j->getArray("removed");
        for (std::size_t i = 0; removed && i < removed->size(); ++i) {
            const auto o = removed->getObject(static_cast<unsigned>(i));
            out.removed.push_back(cdr::Removed{o->getValue<std::string>("kind"),
                                               o->getValue<std::string>("location"),
                                               o->getValue<std::string>("url")});
        }
        return out;
    } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, "cdr.protocol", std::string("report: ") + e.what());
    }
}

} // namespace cdr_protocol

filters::Result<cdr::Output> run_cdr(std::string_view engine, std::string_view bytes,
                                     std::string_view filename, const cdr::Options& options,
                                     const CdrLimits& limits) {
    const std::string helper = cdr_helper_path(limits.helper);
    if (helper.empty() || ::access(helper.c_str(), X_OK) != 0) {
        return fail(ErrorCode::Internal, "cdr.helper_unavailable",
                    helper.empty() ? std::string("mugaika-cdr not found") : helper);
    }
    // Input and output travel in anonymous memory files: no path another process could open.
    Fd in(::memfd_create("mugaika-cdr-in", MFD_CLOEXEC));
    Fd out(::memfd_create("mugaika-cdr-out", MFD_CLOEXEC));
    std::array<int, 2> pipe_fds{-1, -1};
    if (in.get() < 0 || out.get() < 0 || ::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
        return fail(ErrorCode::Transient, "cdr.helper_unavailable",
                    std::string("memfd/pipe: ") + std::strerror(errno));
    }
    Fd report_r(pipe_fds[0]);
    Fd report_w(pipe_fds[1]);
    if (auto w = write_all(in.get(), bytes); !w) {
        return fail(ErrorCode::Transient, "cdr.helper_unavailable", "writing the input failed");
    }
    ::lseek(in.get(), 0, SEEK_SET);

    cdr::Options opts = options;
    const std::string work = make_work_dir(limits.work_root);
    if (work.empty()) {
        return fail(ErrorCode::Transient, "cdr.helper_unavailable",
                    "cannot make a work directory under " + limits.work_root);
    }
    struct RemoveDir {
        std::string dir;
        ~RemoveDir() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } remove_work{work};
    opts.work_dir = work;

    // Everything the child needs is prepared before fork: between fork and exec only
    // async-signal-safe calls are allowed in a multithreaded process.
    const std::string engine_arg(engine);
    const std::string name_arg(filename);
    const std::string options_arg = cdr_protocol::options_json(opts);
    std::vector<char*> argv{
        const_cast<char*>(helper.c_str()), const_cast<char*>(engine_arg.c_str()),
        const_cast<char*>(name_arg.c_str()), const_cast<char*>(options_arg.c_str()), nullptr};
    const std::string tmpdir = "TMPDIR=" + work;
    const std::string home = "HOME=" + work;
    std::vector<char*> envp{const_cast<char*>("PATH=/usr/bin:/bin"),
                            const_cast<char*>("LANG=C.UTF-8"), const_cast<char*>(tmpdir.c_str()),
                            const_cast<char*>(home.c_str()), nullptr};
    const auto seconds = static_cast<rlim_t>(
        std::chrono::duration_cast<std::chrono::seconds>(limits.time_limit).count() + 1);
    const rlimit cpu{seconds, seconds + 1};
    const rlimit as{static_cast<rlim_t>(limits.memory_limit),
                    static_cast<rlim_t>(limits.memory_limit)};
    const bool limit_memory = limits.memory_limit != 0 && !address_sanitizer;
    const rlimit no_core{0, 0};

    const auto t0 = Clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) {
        return fail(ErrorCode::Transient, "cdr.helper_unavailable",
                    std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Child: fd 0 = input, 1 = report, 3 = output; nothing else stays open.
        if (::dup2(in.get(), 0) < 0 || ::dup2(report_w.get(), 1) < 0 || ::dup2(out.get(), 3) < 0) {
            ::_exit(126);
        }
        ::close_range(4, ~0U, 0);
        // The milter's worker blocks every signal in all its threads; the helper (and the
        // LibreOffice it may start) must get SIGXCPU, SIGTERM and SIGPIPE as usual.
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::setrlimit(RLIMIT_CPU, &cpu);
        ::setrlimit(RLIMIT_CORE, &no_core);
        if (limit_memory) {
            ::setrlimit(RLIMIT_AS, &as);
        }
        ::execve(helper.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    report_w.reset();

    // Read the report until the helper closes it or the time is up.
    std::string report;
    bool timed_out = false;
    const auto deadline = t0 + limits.time_limit;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{report_r.get(), POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
        if (r < 0 && errno != EINTR) {
            break;
        }
        if (r <= 0) {
            continue;
        }
        std::array<char, 65536> buf{};
        const ssize_t n = ::read(report_r.get(), buf.data(), buf.size());
        if (n > 0) {
            if (report.size() < (16U << 20U)) {
                report.append(buf.data(), static_cast<std::size_t>(n));
            }
            continue;
        }
        if (n == 0 || errno != EINTR) {
            break; // EOF: the helper is done (or died)
        }
    }
    if (timed_out) {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    // The helper closed its report: it exits at once. A helper that closed stdout and goes on
    // running is killed at the deadline.
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, timed_out ? 0 : WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            break;
        }
        if (w == 0) {
            if (Clock::now() >= deadline) {
                timed_out = true;
                ::kill(pid, SIGKILL);
                continue;
            }
            ::usleep(2000);
        }
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    if (timed_out) {
        return fail(ErrorCode::LimitExceeded, "cdr.timeout",
                    "engine=" + engine_arg +
                        " limit_ms=" + std::to_string(limits.time_limit.count()));
    }
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL) {
            return fail(ErrorCode::LimitExceeded, "cdr.timeout",
                        "engine=" + engine_arg + " signal=" + std::to_string(sig));
        }
        return fail(ErrorCode::Internal, "cdr.crashed",
                    "engine=" + engine_arg + " signal=" + std::to_string(sig) +
                        " ms=" + std::to_string(ms.count()));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (code == 127 || code == 126) {
            return fail(ErrorCode::Internal, "cdr.helper_unavailable",
                        helper + " could not be started");
        }
        return fail(ErrorCode::Internal, "cdr.crashed",
                    "engine=" + engine_arg + " exit=" + std::to_string(code));
    }
    auto parsed = cdr_protocol::parse_report(report);
    if (!parsed) {
        return parsed;
    }
    struct stat st {};
    if (::fstat(out.get(), &st) != 0) {
        return fail(ErrorCode::Internal, "cdr.protocol", "output unreadable");
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > options.max_output_size) {
        return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                    "size=" + std::to_string(size));
    }
    parsed->bytes.resize(size);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n =
            ::pread(out.get(), parsed->bytes.data() + done, size - done, static_cast<off_t>(done));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return fail(ErrorCode::Internal, "cdr.protocol", "output short read");
        }
        done += static_cast<std::size_t>(n);
    }
    return parsed;
}

} // namespace mugaika::gateway
