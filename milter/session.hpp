#pragma once

#include <atomic>
#include <libmilter/mfapi.h>

#include <memory>
#include <string>

namespace mugaika::gateway {
class Gateway;
}

namespace mugaika::milter {

/// What the callbacks share for the life of the worker process: set once in main before
/// smfi_main() starts any thread, then only read (the counters are atomic).
struct Service {
    gateway::Gateway* gateway = nullptr;
    std::atomic<int> in_flight{0};     ///< messages between MAIL FROM and their end
    std::atomic<bool> stopping{false}; ///< set on SIGTERM: new messages are tempfailed
};

/// Installs the service the callbacks use. Call once, before smfi_main().
void install_service(Service* service) noexcept;

/// The libmilter registration: callbacks and the actions the milter may take.
[[nodiscard]] smfiDesc milter_description() noexcept;

} // namespace mugaika::milter
