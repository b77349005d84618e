#include "gateway/log/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace mugaika::log {
namespace {

std::atomic<int> min_level{static_cast<int>(Level::Warning)};
std::atomic<int> sink{static_cast<int>(Sink::Stderr)};
std::mutex stderr_mutex;

std::string_view level_name(Level l) noexcept {
    switch (l) {
    case Level::Debug:
        return "debug";
    case Level::Info:
        return "info";
    case Level::Warning:
        return "warning";
    case Level::Error:
        return "error";
    case Level::Critical:
        return "critical";
    }
    return "info";
}

} // namespace

void configure(Sink s, Level level) noexcept {
    sink.store(static_cast<int>(s));
    min_level.store(static_cast<int>(level));
    if (s == Sink::Syslog) {
        ::openlog("mugaika", LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
}

bool enabled(Level level) noexcept {
    return static_cast<int>(level) <= min_level.load();
}

void write(Level level, std::string_view text) noexcept {
    if (!enabled(level)) {
        return;
    }
    // One line per event: never let content with line breaks split a record.
    std::string one;
    try {
        one.assign(text);
        for (char& c : one) {
            if (c == '\n' || c == '\r') {
                c = ' ';
            }
        }
    } catch (...) {
        return;
    }
    if (sink.load() == static_cast<int>(Sink::Syslog)) {
        ::syslog(static_cast<int>(level), "%s", one.c_str());
        return;
    }
    const std::lock_guard lock(stderr_mutex);
    std::fprintf(stderr, "mugaika[%d]: %.*s: %s\n", static_cast<int>(::getpid()),
                 static_cast<int>(level_name(level).size()), level_name(level).data(), one.c_str());
}

} // namespace mugaika::log
