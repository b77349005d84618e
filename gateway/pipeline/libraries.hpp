#pragma once

namespace mugaika::gateway {

/// Initialises the process-wide libraries the gateway uses (GMime). Call once in main, before
/// any thread starts. Not thread-safe.
void init_libraries();

/// Releases what init_libraries() set up. Call once at exit, after every thread has stopped.
void shutdown_libraries();

} // namespace mugaika::gateway
