#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "filters/core/result.hpp"

namespace mugaika::milter {

/// The bytes of one message as they arrive: in memory up to a bound, then in an unlinked file
/// under the spool directory (gone with the last descriptor, so nothing is left behind when the
/// message is done or the process dies). Per-thread: one per message.
class Spool {
public:
    Spool(std::string dir, std::size_t memory_limit) noexcept
        : dir_(std::move(dir)), memory_limit_(memory_limit) {}
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;
    ~Spool();

    /// Appends bytes. Error "spool.write_failed" (Transient) when the file cannot be written.
    [[nodiscard]] filters::Result<void> append(std::string_view data);

    /// The whole message: a view into memory or into a read-only mapping of the file. Valid until
    /// the next append() or the destructor. Error "spool.map_failed" (Transient).
    [[nodiscard]] filters::Result<std::string_view> view();

    /// The spool file's descriptor, or -1 while the message is in memory.
    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    void unmap() noexcept;

    std::string dir_;
    std::size_t memory_limit_ = 0;
    std::string memory_;
    int fd_ = -1;
    std::size_t size_ = 0;
    void* map_ = nullptr;
    std::size_t map_size_ = 0;
};

} // namespace mugaika::milter
