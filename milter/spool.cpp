#include "milter/spool.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "gateway/util/fd_io.hpp"

namespace mugaika::milter {
namespace {

using gateway::write_all;

using filters::ErrorCode;
using filters::fail;

int open_unlinked(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        return fd;
    }
    std::string templ = dir + "/msg-XXXXXX";
    fd = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd >= 0) {
        ::unlink(templ.c_str());
    }
    return fd;
}

} // namespace

Spool::~Spool() {
    unmap();
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void Spool::unmap() noexcept {
    if (map_ != nullptr) {
        ::munmap(map_, map_size_);
        map_ = nullptr;
        map_size_ = 0;
    }
}

filters::Result<void> Spool::append(std::string_view data) {
    unmap();
    if (fd_ < 0 && memory_.size() + data.size() <= memory_limit_) {
        memory_.append(data);
        size_ += data.size();
        return {};
    }
    if (fd_ < 0) {
        fd_ = open_unlinked(dir_);
        if (fd_ < 0) {
            return fail(ErrorCode::Transient, "spool.write_failed",
                        dir_ + ": " + std::strerror(errno));
        }
        if (!write_all(fd_, memory_)) {
            return fail(ErrorCode::Transient, "spool.write_failed", std::strerror(errno));
        }
        std::string().swap(memory_);
    }
    if (!write_all(fd_, data)) {
        return fail(ErrorCode::Transient, "spool.write_failed", std::strerror(errno));
    }
    size_ += data.size();
    return {};
}

filters::Result<std::string_view> Spool::view() {
    if (fd_ < 0) {
        return std::string_view(memory_);
    }
    if (size_ == 0) {
        return std::string_view();
    }
    if (map_ == nullptr) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
        if (p == MAP_FAILED) {
            return fail(ErrorCode::Transient, "spool.map_failed", std::strerror(errno));
        }
        map_ = p;
        map_size_ = size_;
    }
    return std::string_view(static_cast<const char*>(map_), size_);
}

} // namespace mugaika::milter
