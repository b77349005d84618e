#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "filters/core/result.hpp"
#include "gateway/config/config.hpp"

namespace mugaika::gateway {
class Gateway;
}

/// `mugaika serve`: the auditors' web console and JSON API over the audit trail
/// (docs/console.md).
namespace mugaika::gateway::console {

/// Test seams; the defaults are the real clock and ids.
struct ServerOptions {
    std::function<std::int64_t()> now_ms; ///< default: system clock
};

/// A running console: a Poco HTTPServer (HTTPS with [console] tls_cert/tls_key) on [console]
/// listen, serving until stop(). Thread-safe: requests are handled on Poco's thread pool; the
/// gateway's audit store is thread-safe and each release decision uses its own ReleaseDesk.
class ConsoleServer {
public:
    /// Checks the users file (present, not group/world writable, well-formed), loads the TLS
    /// certificate and key, binds and starts serving. `gateway` must outlive the server.
    /// Errors: "console.users_*" (Malformed), "console.tls_failed" (Malformed: unreadable or
    /// mismatched certificate or key), "console.listen_failed" (Transient: address in use,
    /// permission).
    [[nodiscard]] static filters::Result<std::unique_ptr<ConsoleServer>>
    start(std::shared_ptr<const Config> config, Gateway& gateway, ServerOptions options = {});

    ConsoleServer(const ConsoleServer&) = delete;
    ConsoleServer& operator=(const ConsoleServer&) = delete;
    ~ConsoleServer(); ///< stops if still running

    /// "https://127.0.0.1:8025" (the bound port when the configured one was 0).
    [[nodiscard]] std::string url() const;

    /// Stops accepting, aborts open connections (HTTPServer::stopAll(true)) and waits for the
    /// handlers in flight.
    void stop();

    struct Impl;

private:
    explicit ConsoleServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace mugaika::gateway::console
