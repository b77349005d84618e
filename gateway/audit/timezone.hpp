#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::gateway {

/// A time zone for showing and parsing audit times: an IANA name read from the system's compiled
/// zoneinfo (TZif, /usr/share/zoneinfo, package tzdata), or a fixed offset ("UTC", "+09:00").
/// Immutable and thread-safe once loaded. See docs/audit.md "Time zones".
class TimeZone {
public:
    /// "Asia/Tokyo", "Europe/Berlin", "UTC", "Z", "+09:00", "-05:30". Fails with
    /// "audit.timezone_unknown" (ErrorCode::Malformed) for a name with no zoneinfo file, a name
    /// that tries to leave the zoneinfo directory, or a file that is not TZif.
    [[nodiscard]] static filters::Result<TimeZone> load(std::string_view name);

    /// Reads the TZif file at `path` (v1, or the 64-bit data and the POSIX TZ footer of v2/v3),
    /// naming the zone `name`. No name check: for tests and for callers that chose the path
    /// themselves. Fails with "audit.timezone_unknown" (ErrorCode::Malformed) when the file is
    /// missing, larger than 256 KiB, truncated or not TZif.
    [[nodiscard]] static filters::Result<TimeZone> load_file(const std::string& path,
                                                             std::string_view name);

    /// Asia/Tokyo without reading any file (UTC+9, no DST since 1951): the default zone.
    [[nodiscard]] static TimeZone tokyo();

    /// The name it was loaded by ("Asia/Tokyo", "+09:00").
    [[nodiscard]] const std::string& name() const;

    /// Offset from UTC in seconds at the instant `unix_ms`.
    [[nodiscard]] std::int32_t offset_at(std::int64_t unix_ms) const;

    /// ISO 8601 with the offset: "2026-11-21T10:15:30+09:00" ("...30.123+09:00" with millis).
    [[nodiscard]] std::string format(std::int64_t unix_ms, bool with_millis = false) const;

    /// Parses "2026-11-21", "2026-11-21T09:00", "2026-11-21T09:00:00[.123]" (also with a space
    /// for the T), optionally followed by "Z" or "+09:00"; without an offset the time is local
    /// in this zone (for a local time that happens twice at a DST change, the earlier instant; one
    /// that does not exist is moved forward by the gap). Also accepts plain Unix milliseconds.
    [[nodiscard]] std::optional<std::int64_t> parse(std::string_view text) const;

    /// Unix ms of local midnight starting the given civil day in this zone.
    [[nodiscard]] std::int64_t local_midnight(int year, int month, int day) const;

    struct Data;

private:
    explicit TimeZone(std::shared_ptr<const Data> d);
    std::shared_ptr<const Data> d_{};
};

} // namespace mugaika::gateway
