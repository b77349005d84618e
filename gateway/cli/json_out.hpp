#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/pipeline/gateway.hpp"

namespace mugaika::gateway {

/// The outcome of `mugaika sanitize --json`: verdict, audit id, reason, hashes, per-part actions.
[[nodiscard]] std::string outcome_json(const Outcome& outcome);

/// `mugaika rules explain --json`.
[[nodiscard]] std::string parts_json(const std::vector<PartReport>& parts,
                                     const std::string& ruleset_version);

/// `mugaika rules explain`: one line per part, aligned.
[[nodiscard]] std::string parts_table(const std::vector<PartReport>& parts,
                                      const std::string& ruleset_version);

/// Parses "2026-11-21", "2026-11-21T09:00:00", with optional "Z" or "+09:00" (no zone: Asia/Tokyo,
/// +09:00) into unix milliseconds.
[[nodiscard]] std::optional<std::int64_t> parse_iso8601_ms(const std::string& s);

} // namespace mugaika::gateway
