#include "filters/av/clamd_scanner.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace mugaika::filters::av {

namespace {

using Clock = std::chrono::steady_clock;

/// Longest reply read from clamd; a verdict line is far shorter.
constexpr std::size_t max_reply = 4096;
/// What clamd answers when a stream passes its StreamMaxLength.
constexpr std::string_view size_limit_reply = "size limit exceeded";

/// An owned socket descriptor, closed at scope exit.
class Socket {
public:
    explicit Socket(int fd) noexcept : fd_(fd) {}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket& operator=(Socket&&) = delete;
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    int fd_ = -1;
};

/// One exchange with clamd: the socket path (for messages) and the deadline of the exchange.
struct Exchange {
    const ClamdOptions& options;
    Clock::time_point deadline;
};

Error unavailable(const Exchange& ex, std::string why) {
    return Error{ErrorCode::Transient, "av.unavailable",
                 "clamd at " + ex.options.socket_path + ": " + std::move(why)};
}

Error timed_out(const Exchange& ex, std::string_view during) {
    return unavailable(ex, "no answer within " + std::to_string(ex.options.timeout.count()) +
                               " ms (" + std::string(during) + ")");
}

std::string errno_text(int err) {
    return std::strerror(err); // NOLINT(concurrency-mt-unsafe): glibc's is thread-safe
}

/// Waits until `fd` is ready for `events` or the deadline passes. POLLHUP and POLLERR count as
/// ready: the next read or write reports them.
Result<void> wait_ready(const Exchange& ex, int fd, short events, std::string_view during) {
    for (;;) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(ex.deadline - Clock::now()).count();
        if (left <= 0) {
            return tl::unexpected(timed_out(ex, during));
        }
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
        if (n > 0) {
            return {};
        }
        if (n < 0 && errno != EINTR) {
            return tl::unexpected(unavailable(ex, "poll: " + errno_text(errno)));
        }
    }
}

Result<Socket> open_socket(const Exchange& ex) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& path = ex.options.socket_path;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
        return tl::unexpected(unavailable(ex, "socket path empty or longer than 107 bytes"));
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    Socket s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (s.fd() < 0) {
        return tl::unexpected(unavailable(ex, "socket: " + errno_text(errno)));
    }
    for (;;) {
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
        if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
            return s;
        }
        const int err = errno;
        if (err == EINTR) {
            continue;
        }
        if (err == EAGAIN) {
            // A unix socket whose listen backlog is full: clamd is busy; try again shortly.
            if (Clock::now() + std::chrono::milliseconds(10) >= ex.deadline) {
                return tl::unexpected(timed_out(ex, "connect, backlog full"));
            }
            ::poll(nullptr, 0, 10);
            continue;
        }
        if (err == EINPROGRESS) {
            if (auto w = wait_ready(ex, s.fd(), POLLOUT, "connect"); !w) {
                return tl::unexpected(std::move(w.error()));
            }
            int so_error = 0;
            socklen_t len = sizeof(so_error);
            if (::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
                so_error = errno;
            }
            if (so_error == 0) {
                return s;
            }
            return tl::unexpected(unavailable(ex, "connect: " + errno_text(so_error)));
        }
        return tl::unexpected(unavailable(ex, "connect: " + errno_text(err)));
    }
}

/// Sends every byte of `data`. After an error the caller may still find clamd's reply: clamd
/// answers and closes the connection when it refuses a stream.
Result<void> send_all(const Exchange& ex, int fd, std::span<const std::byte> data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data = data.subspan(static_cast<std::size_t>(n));
            continue;
        }
        const int err = n < 0 ? errno : EPIPE;
        if (err == EINTR) {
            continue;
        }
        if (err == EAGAIN || err == EWOULDBLOCK) {
            if (auto w = wait_ready(ex, fd, POLLOUT, "sending"); !w) {
                return w;
            }
            continue;
        }
        return tl::unexpected(unavailable(ex, "send: " + errno_text(err)));
    }
    return {};
}

Result<void> send_text(const Exchange& ex, int fd, std::string_view text) {
    return send_all(ex, fd, std::as_bytes(std::span(text.data(), text.size())));
}

/// Reads one reply up to its terminating NUL (excluded). A connection closed before the NUL is
/// an error: a partial reply is never read as a verdict.
Result<std::string> read_reply(const Exchange& ex, int fd) {
    std::string reply;
    std::array<char, 512> buf{};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n > 0) {
            reply.append(buf.data(), static_cast<std::size_t>(n));
            if (const auto nul = reply.find('\0'); nul != std::string::npos) {
                reply.resize(nul);
                return reply;
            }
            if (reply.size() > max_reply) {
                return fail(ErrorCode::Internal, "av.scan_failed",
                            "clamd reply longer than " + std::to_string(max_reply) + " bytes");
            }
            continue;
        }
        if (n == 0) {
            return tl::unexpected(
                unavailable(ex, reply.empty() ? "connection closed without a reply"
                                              : "connection closed in the middle of the reply"));
        }
        const int err = errno;
        if (err == EINTR) {
            continue;
        }
        if (err == EAGAIN || err == EWOULDBLOCK) {
            if (auto w = wait_ready(ex, fd, POLLIN, "waiting for the reply"); !w) {
                return tl::unexpected(std::move(w.error()));
            }
            continue;
        }
        return tl::unexpected(unavailable(ex, "recv: " + errno_text(err)));
    }
}

/// Sends one command ("zPING\0", ...) on a new connection and returns the reply.
Result<std::string> command(const Exchange& ex, std::string_view cmd) {
    auto s = open_socket(ex);
    if (!s) {
        return tl::unexpected(std::move(s.error()));
    }
    if (auto sent = send_text(ex, s->fd(), cmd); !sent) {
        return tl::unexpected(std::move(sent.error()));
    }
    return read_reply(ex, s->fd());
}

/// clamd's text for a log or audit detail: printable ASCII, at most 200 bytes.
std::string shown(std::string_view reply) {
    std::string out;
    for (const char c : reply.substr(0, 200)) {
        out += c >= 0x20 && c < 0x7f ? c : '?';
    }
    return out;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.remove_suffix(1);
    }
    return s;
}

/// clamd's ExtendedDetectionInfo appends "(md5:size)" to a name; the name alone is the finding.
std::string_view without_detection_info(std::string_view name) noexcept {
    if (!name.ends_with(')')) {
        return name;
    }
    const auto open = name.rfind('(');
    if (open == std::string_view::npos || open == 0) {
        return name;
    }
    const std::string_view info = name.substr(open + 1, name.size() - open - 2);
    const auto colon = info.find(':');
    const bool hex =
        colon != std::string_view::npos && colon > 0 &&
        std::all_of(info.begin(), info.begin() + static_cast<std::ptrdiff_t>(colon),
                    [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    const bool digits = colon != std::string_view::npos && colon + 1 < info.size() &&
                        std::all_of(info.begin() + static_cast<std::ptrdiff_t>(colon) + 1,
                                    info.end(), [](char c) { return c >= '0' && c <= '9'; });
    return hex && digits ? name.substr(0, open) : name;
}

} // namespace

std::array<std::byte, 4> instream_chunk_length(std::uint32_t length) noexcept {
    return {std::byte{static_cast<unsigned char>(length >> 24U)},
            std::byte{static_cast<unsigned char>(length >> 16U)},
            std::byte{static_cast<unsigned char>(length >> 8U)},
            std::byte{static_cast<unsigned char>(length)}};
}

Result<ScanResult> parse_clamd_reply(std::string_view reply) {
    reply = trim(reply);
    if (reply.ends_with(" ERROR")) {
        if (reply.find(size_limit_reply) != std::string_view::npos) {
            // clamd stopped reading at its StreamMaxLength: the rest was never looked at.
            return verdict_of({}, "limits.exceeded");
        }
        return fail(ErrorCode::Transient, "av.scan_failed", "clamd: " + shown(reply));
    }
    constexpr std::string_view prefix = "stream: ";
    if (reply.starts_with(prefix)) {
        const std::string_view rest = reply.substr(prefix.size());
        if (rest == "OK") {
            return ScanResult{};
        }
        constexpr std::string_view found = " FOUND";
        if (rest.ends_with(found)) {
            const std::string_view name =
                without_detection_info(rest.substr(0, rest.size() - found.size()));
            if (!name.empty()) {
                return verdict_of({std::string(name)}, {});
            }
        }
    }
    return fail(ErrorCode::Internal, "av.scan_failed", "unexpected clamd reply: " + shown(reply));
}

ClamdScanner::ClamdScanner(ClamdOptions options, std::string version)
    : options_(std::move(options)), version_(std::move(version)) {}

Result<std::shared_ptr<const ClamdScanner>> ClamdScanner::connect(const ClamdOptions& options) {
    if (options.timeout.count() <= 0 || options.chunk_size == 0 ||
        options.chunk_size > std::numeric_limits<std::uint32_t>::max() ||
        options.max_scan_size == 0) {
        return fail(ErrorCode::Unsupported, "av.limits_invalid",
                    "clamd timeout, chunk size and max_scan_size must be positive");
    }
    const Exchange ex{options, Clock::now() + options.timeout};
    auto pong = command(ex, std::string_view("zPING\0", 6));
    if (!pong) {
        return tl::unexpected(std::move(pong.error()));
    }
    if (trim(*pong) != "PONG") {
        return tl::unexpected(unavailable(ex, "PING answered \"" + shown(*pong) + "\""));
    }
    auto version = command(ex, std::string_view("zVERSION\0", 9));
    if (!version) {
        return tl::unexpected(std::move(version.error()));
    }
    if (!trim(*version).starts_with("ClamAV ")) {
        return tl::unexpected(unavailable(ex, "VERSION answered \"" + shown(*version) + "\""));
    }
    return std::shared_ptr<const ClamdScanner>(new ClamdScanner(options, shown(trim(*version))));
}

Result<ScanResult> ClamdScanner::scan(std::span<const std::byte> bytes,
                                      std::string_view /*name_hint*/) const {
    if (bytes.size() > options_.max_scan_size) {
        // Never sent, never looked at: incomplete, like a scan limit in process.
        return verdict_of({}, "limits.exceeded");
    }
    const Exchange ex{options_, Clock::now() + options_.timeout};
    auto s = open_socket(ex);
    if (!s) {
        return tl::unexpected(std::move(s.error()));
    }
    const int fd = s->fd();
    auto sent = send_text(ex, fd, std::string_view("zINSTREAM\0", 10));
    while (sent && !bytes.empty()) {
        const auto chunk = bytes.first(std::min(bytes.size(), options_.chunk_size));
        const auto length = instream_chunk_length(static_cast<std::uint32_t>(chunk.size()));
        sent = send_all(ex, fd, length);
        if (sent) {
            sent = send_all(ex, fd, chunk);
        }
        bytes = bytes.subspan(chunk.size());
    }
    if (sent) {
        sent = send_all(ex, fd, instream_chunk_length(0));
    }
    auto reply = read_reply(ex, fd);
    if (!reply) {
        // When sending failed, clamd's reply (e.g. a refused size) is the better explanation;
        // without one, the send error is.
        return tl::unexpected(sent ? std::move(reply.error()) : std::move(sent.error()));
    }
    return parse_clamd_reply(*reply);
}

std::string ClamdScanner::describe() const {
    return "clamd " + version_ + " at " + options_.socket_path;
}

} // namespace mugaika::filters::av
