#pragma once

#include <string_view>

#include <fmt/format.h>

namespace mugaika::log {

/// Severity, as in syslog.
enum class Level : int {
    Debug = 7,    ///< tracing, off by default
    Info = 6,     ///< one line per message outcome
    Warning = 4,  ///< odd but handled
    Error = 3,    ///< failed, mail tempfailed, service continues
    Critical = 2, ///< cannot continue: the process exits non-zero
};

/// Where lines go.
enum class Sink : int {
    Stderr, ///< "mugaika[PID]: <level>: <line>"
    Syslog, ///< facility mail, ident "mugaika"
};

/// Sets the sink and the lowest level written. Call once in main, before threads.
void configure(Sink sink, Level min_level) noexcept;

/// Whether a line of this level would be written. Thread-safe.
[[nodiscard]] bool enabled(Level level) noexcept;

/// Writes one line. Thread-safe; never throws (a failing sink drops the line).
void write(Level level, std::string_view line) noexcept;

/// Formats and writes one line in the STYLE format:
/// "<queue-id>: <component>: <event>: key=value ...", lower-case, no trailing period.
template <class... Args>
void line(Level level, fmt::format_string<Args...> format, Args&&... args) noexcept {
    if (!enabled(level)) {
        return;
    }
    try {
        write(level, fmt::format(format, std::forward<Args>(args)...));
    } catch (...) {
    }
}

template <class... Args> void info(fmt::format_string<Args...> f, Args&&... a) noexcept {
    line(Level::Info, f, std::forward<Args>(a)...);
}
template <class... Args> void warning(fmt::format_string<Args...> f, Args&&... a) noexcept {
    line(Level::Warning, f, std::forward<Args>(a)...);
}
template <class... Args> void error(fmt::format_string<Args...> f, Args&&... a) noexcept {
    line(Level::Error, f, std::forward<Args>(a)...);
}

} // namespace mugaika::log
