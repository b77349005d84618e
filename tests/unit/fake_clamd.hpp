#pragma once
// A clamd stand-in for protocol tests: a unix socket served by one thread, one connection at a
// time, each handled by a function the test gives. It is not a scanner: the verdicts of a real
// clamd are tested end to end (tests/e2e/test_clamd.py).

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mugaika::test {

/// What a client sent after `zINSTREAM\0`.
struct InstreamRequest {
    std::string data; ///< the chunks put together
    std::vector<std::uint32_t>
        chunks;              ///< the length of every chunk, in order (terminator excluded)
    bool terminated = false; ///< the zero-length chunk arrived
};

/// One accepted connection of FakeClamd; reads with a 5 s limit so that no test can hang.
class FakeConnection {
public:
    FakeConnection(int fd, std::function<void(std::string)> record)
        : fd_(fd), record_(std::move(record)) {}

    /// Reads up to and excluding the NUL of a z-command ("zPING", "zINSTREAM"), and records it
    /// for FakeClamd::commands(). "" at EOF.
    std::string command() {
        std::string out;
        char c = 0;
        while (read_exact(&c, 1)) {
            if (c == '\0') {
                record_(out);
                return out;
            }
            out += c;
        }
        return {};
    }

    /// Reads the chunks of an INSTREAM request up to the zero-length one, or up to `limit`
    /// bytes of data (then stops reading, as clamd does at its StreamMaxLength).
    InstreamRequest instream(std::size_t limit = SIZE_MAX) {
        InstreamRequest r;
        for (;;) {
            unsigned char len[4];
            if (!read_exact(len, 4)) {
                return r;
            }
            const std::uint32_t n = (std::uint32_t{len[0]} << 24U) |
                                    (std::uint32_t{len[1]} << 16U) | (std::uint32_t{len[2]} << 8U) |
                                    std::uint32_t{len[3]};
            if (n == 0) {
                r.terminated = true;
                return r;
            }
            r.chunks.push_back(n);
            const std::size_t start = r.data.size();
            r.data.resize(start + n);
            if (!read_exact(r.data.data() + start, n)) {
                r.data.resize(start);
                return r;
            }
            if (r.data.size() > limit) {
                return r;
            }
        }
    }

    /// Sends `text` as it is (include the "\0" terminator yourself).
    void send(std::string_view text) const {
        while (!text.empty()) {
            const ssize_t n = ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return;
            }
            text.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// Waits until the client closes its side (or 5 s pass), reading and dropping what comes.
    void wait_closed() {
        char buf[4096];
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0) {
                return;
            }
            if (::recv(fd_, buf, sizeof buf, 0) <= 0) {
                return;
            }
        }
    }

private:
    bool read_exact(void* out, std::size_t n) {
        auto* p = static_cast<char*>(out);
        while (n > 0) {
            pollfd pfd{fd_, POLLIN, 0};
            if (::poll(&pfd, 1, 5000) <= 0) {
                return false;
            }
            const ssize_t got = ::recv(fd_, p, n, 0);
            if (got <= 0) {
                return false;
            }
            p += got;
            n -= static_cast<std::size_t>(got);
        }
        return true;
    }
    int fd_;
    std::function<void(std::string)> record_;
};

/// A unix socket at `path` answered by `handler`, one connection after the other, on a thread.
/// stop() (or the destructor) closes the socket: later connects fail as with a clamd that is down.
class FakeClamd {
public:
    using Handler = std::function<void(FakeConnection&)>;

    FakeClamd(std::filesystem::path path, Handler handler)
        : path_(std::move(path)), handler_(std::move(handler)) {
        std::filesystem::remove(path_);
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string p = path_.string();
        if (listen_fd_ < 0 || p.size() >= sizeof(addr.sun_path)) {
            throw std::runtime_error("fake clamd: no socket");
        }
        std::memcpy(addr.sun_path, p.data(), p.size());
        if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listen_fd_, 16) != 0) {
            throw std::runtime_error("fake clamd: cannot listen on " + p);
        }
        thread_ = std::thread([this] { serve(); });
    }
    FakeClamd(const FakeClamd&) = delete;
    FakeClamd& operator=(const FakeClamd&) = delete;
    ~FakeClamd() { stop(); }

    /// Stops accepting and removes the socket file; waits for the connection in hand.
    void stop() {
        if (listen_fd_ >= 0) {
            ::shutdown(listen_fd_, SHUT_RDWR); // wakes accept()
            if (thread_.joinable()) {
                thread_.join();
            }
            ::close(listen_fd_);
            listen_fd_ = -1;
            std::error_code ec;
            std::filesystem::remove(path_, ec);
        }
    }

    /// Connections accepted so far.
    [[nodiscard]] int connections() const { return connections_.load(); }

    /// The commands read so far, in order ("zPING", "zVERSION", "zINSTREAM", ...).
    [[nodiscard]] std::vector<std::string> commands() const {
        const std::lock_guard lock(mutex_);
        return commands_;
    }

private:
    void serve() {
        for (;;) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return;
            }
            ++connections_;
            FakeConnection c(fd, [this](std::string cmd) {
                const std::lock_guard lock(mutex_);
                commands_.push_back(std::move(cmd));
            });
            try {
                handler_(c);
            } catch (...) { // a test handler's failure shows as the client's error
            }
            ::close(fd);
        }
    }

    std::filesystem::path path_;
    Handler handler_;
    int listen_fd_ = -1;
    std::atomic<int> connections_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> commands_;
    std::thread thread_;
};

/// A handler that behaves like a healthy clamd: PONG, a version, and for INSTREAM the reply
/// `verdict(data)` ("stream: OK", "stream: NAME FOUND", ...) with its NUL.
inline FakeClamd::Handler
well_behaved_clamd(std::function<std::string(const std::string&)> verdict) {
    return [verdict = std::move(verdict)](FakeConnection& c) {
        const std::string cmd = c.command();
        std::string reply;
        if (cmd == "zPING") {
            reply = "PONG";
        } else if (cmd == "zVERSION") {
            reply = "ClamAV 1.4.6/1/Thu Jan  1 00:00:00 2026";
        } else if (cmd == "zINSTREAM") {
            reply = verdict(c.instream().data);
        } else {
            return;
        }
        c.send(reply + std::string(1, '\0'));
    };
}

} // namespace mugaika::test
