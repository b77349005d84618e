#include "gateway/quarantine/quarantine_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "gateway/util/encoding.hpp"
#include "gateway/util/fd_io.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;

class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept {
        int f = fd_;
        fd_ = -1;
        return f;
    }

private:
    int fd_;
};

bool fsync_dir(const std::string& dir) {
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return d.get() >= 0 && ::fsync(d.get()) == 0;
}

std::string errno_text() {
    return std::strerror(errno);
}

} // namespace

bool is_sha256_hex(std::string_view s) noexcept {
    if (s.size() != 64) {
        return false;
    }
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string QuarantineStore::path_of(const std::string& id) const {
    return dir_ + "/" + id.substr(0, 2) + "/" + id + ".eml";
}

filters::Result<std::string> QuarantineStore::keep(std::string_view bytes,
                                                   const std::string& sha256) const {
    if (!is_sha256_hex(sha256)) {
        return fail(ErrorCode::Internal, "quarantine.write_failed", "bad id");
    }
    const std::string sub = dir_ + "/" + sha256.substr(0, 2);
    const std::string final_path = path_of(sha256);
    std::error_code ec;
    std::filesystem::create_directories(sub, ec);
    if (ec) {
        return fail(ErrorCode::Transient, "quarantine.write_failed",
                    "mkdir " + sub + ": " + ec.message());
    }
    ::chmod(dir_.c_str(), 0700);
    struct stat st {};
    if (::stat(final_path.c_str(), &st) == 0 &&
        static_cast<std::size_t>(st.st_size) == bytes.size()) {
        // Same content already kept, unless the file was damaged: then it is written anew.
        if (auto existing = read(sha256); existing) {
            return sha256;
        }
    }
    // Seeded once per thread: std::random_device opens the kernel's source on every construction.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::string tmp =
        sub + "/.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rng());
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        return fail(ErrorCode::Transient, "quarantine.write_failed", tmp + ": " + errno_text());
    }
    if (!write_all(fd.get(), bytes) || ::fsync(fd.get()) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        return fail(ErrorCode::Transient, "quarantine.write_failed", tmp + ": " + why);
    }
    if (::close(fd.release()) != 0 || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
        const std::string why = errno_text();
        ::unlink(tmp.c_str());
        return fail(ErrorCode::Transient, "quarantine.write_failed", final_path + ": " + why);
    }
    if (!fsync_dir(sub)) {
        return fail(ErrorCode::Transient, "quarantine.write_failed", sub + ": " + errno_text());
    }
    return sha256;
}

filters::Result<std::string> QuarantineStore::read(const std::string& id) const {
    if (!is_sha256_hex(id)) {
        return fail(ErrorCode::Malformed, "quarantine.not_found", "not a quarantine id: " + id);
    }
    const std::string path = path_of(id);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return fail(ErrorCode::Malformed, "quarantine.not_found", id);
        }
        return fail(ErrorCode::Transient, "quarantine.read_failed", path + ": " + errno_text());
    }
    std::string data;
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0) {
        data.reserve(static_cast<std::size_t>(st.st_size));
    }
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(ErrorCode::Transient, "quarantine.read_failed", path + ": " + errno_text());
        }
        if (n == 0) {
            break;
        }
        data.append(buf, static_cast<std::size_t>(n));
    }
    if (sha256_hex(data) != id) {
        return fail(ErrorCode::Internal, "quarantine.corrupt", path);
    }
    return data;
}

} // namespace mugaika::gateway
