#include "filters/cdr/office/soffice.hpp"

#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mugaika::filters::cdr::office {
namespace {

/// Removes the conversion directory on every path out.
struct DirGuard {
    std::filesystem::path dir;
    DirGuard() = default;
    DirGuard(const DirGuard&) = delete;
    DirGuard& operator=(const DirGuard&) = delete;
    ~DirGuard() {
        if (!dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    }
};

/// A path as a file:// URL (LibreOffice's -env:UserInstallation wants one).
std::string file_url(const std::string& path) {
    static constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out = "file://";
    for (const char c : path) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
            c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4U];
            out += hex[u & 15U];
        }
    }
    return out;
}

/// Runs in the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void run_child(const char* exe, char* const* argv, char* const* envp, int status_fd,
                            const char* log_path) {
    (void)setpgid(0, 0);
    char isolated = 1;
    if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
        isolated = 0;
    }
    (void)!write(status_fd, &isolated, 1);
    const int null_fd = open("/dev/null", O_RDONLY);
    const int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null_fd >= 0) {
        dup2(null_fd, 0);
    }
    if (log_fd >= 0) {
        dup2(log_fd, 1);
        dup2(log_fd, 2);
    }
    closefrom(3); // status_fd is close-on-exec: the parent sees EOF at exec
    execve(exe, argv, envp);
    _exit(127);
}

} // namespace

Result<Converted> convert_to_pdf(std::span<const std::byte> in, std::string_view ext,
                                 const ConvertSettings& settings) {
    if (settings.work_dir.empty()) {
        return fail(ErrorCode::Internal, "cdr.office.convert_setup", "no work_dir");
    }
    std::string tmpl = settings.work_dir + "/office-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
        return fail(ErrorCode::Internal, "cdr.office.convert_setup", "mkdtemp failed");
    }
    DirGuard guard;
    guard.dir = tmpl;
    const std::string dir = tmpl;
    for (const char* sub : {"/profile", "/home", "/tmp", "/out"}) {
        if (mkdir((dir + sub).c_str(), 0700) != 0) {
            return fail(ErrorCode::Internal, "cdr.office.convert_setup", "mkdir failed");
        }
    }
    const std::string input = dir + "/document." + std::string(ext);
    {
        std::ofstream f(input, std::ios::binary);
        f.write(reinterpret_cast<const char*>(in.data()), static_cast<std::streamsize>(in.size()));
        if (!f) {
            return fail(ErrorCode::Internal, "cdr.office.convert_setup", "cannot write input");
        }
    }

    // Everything the child needs is built before fork.
    std::vector<std::string> args{settings.soffice,
                                  "-env:UserInstallation=" + file_url(dir + "/profile"),
                                  "--headless",
                                  "--invisible",
                                  "--norestore",
                                  "--nolockcheck",
                                  "--nodefault",
                                  "--nologo",
                                  "--convert-to",
                                  "pdf",
                                  "--outdir",
                                  dir + "/out",
                                  input};
    std::vector<std::string> env{"HOME=" + dir + "/home", "TMPDIR=" + dir + "/tmp",
                                 "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "SAL_USE_VCLPLUGIN=svp"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    const std::string log_path = dir + "/soffice.log";

    std::array<int, 2> status_pipe{-1, -1};
    if (pipe2(status_pipe.data(), O_CLOEXEC) != 0) {
        return fail(ErrorCode::Internal, "cdr.office.convert_setup", "pipe failed");
    }
    const pid_t pid = fork();
    if (pid < 0) {
        close(status_pipe[0]);
        close(status_pipe[1]);
        return fail(ErrorCode::Internal, "cdr.office.convert_setup", "fork failed");
    }
    if (pid == 0) {
        run_child(argv[0], argv.data(), envp.data(), status_pipe[1], log_path.c_str());
    }
    close(status_pipe[1]);
    (void)setpgid(pid, pid); // also from here, so kill(-pid) works whoever runs first
    char isolated = 0;
    while (read(status_pipe[0], &isolated, 1) < 0 && errno == EINTR) {
    }
    close(status_pipe[0]);

    const auto deadline = std::chrono::steady_clock::now() + settings.time_limit;
    int status = 0;
    bool timed_out = false;
    for (;;) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(-pid, SIGKILL); // anything LibreOffice left behind in its group
    if (timed_out) {
        return fail(ErrorCode::LimitExceeded, "cdr.office.convert_timeout",
                    std::to_string(settings.time_limit.count()) + "ms");
    }
    const std::filesystem::path pdf_path = dir + "/out/document.pdf";
    std::error_code ec;
    const auto size = std::filesystem::file_size(pdf_path, ec);
    if (ec || size == 0) {
        return fail(ErrorCode::Malformed, "cdr.office.convert_failed",
                    WIFEXITED(status) ? "exit=" + std::to_string(WEXITSTATUS(status))
                                      : std::string("killed by a signal"));
    }
    if (size > settings.max_output) {
        return fail(ErrorCode::LimitExceeded, "cdr.output_too_large", std::to_string(size));
    }
    Converted out;
    out.network_isolated = isolated == 1;
    out.pdf.resize(static_cast<std::size_t>(size));
    std::ifstream f(pdf_path, std::ios::binary);
    f.read(out.pdf.data(), static_cast<std::streamsize>(size));
    if (!f) {
        return fail(ErrorCode::Internal, "cdr.office.convert_setup", "cannot read the PDF");
    }
    return out;
}

} // namespace mugaika::filters::cdr::office
