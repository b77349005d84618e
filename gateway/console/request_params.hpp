#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/timezone.hpp"

/// The console's request parameters: checked here, in one place, so that every bad value is a
/// clear 400 ("console.bad_parameter") and never reaches the audit store.
namespace mugaika::gateway::console {

/// Query parameters in request order, decoded.
using Params = std::vector<std::pair<std::string, std::string>>;

/// A checked search (`/api/v1/messages`, the search page).
struct SearchParams {
    AuditQuery query;                  ///< limit/offset as asked; the server queries limit + 1
    TimeZone zone = TimeZone::tokyo(); ///< for parsing since/until and showing times
    std::string zone_name;             ///< "" when not given
    bool any_filter = false;           ///< a filter other than paging was given
};

/// A checked result or the message of a 400.
template <class T> struct Checked {
    std::optional<T> value;
    std::string error; ///< set when value is empty: "since: not a time: \"2026-13-01\""
};

/// Longest value accepted for one parameter (bytes).
inline constexpr std::size_t max_param_value = 512;
/// Page size when `limit` is not given (capped by max_results).
inline constexpr std::size_t default_page_size = 50;

/// The search filters of docs/console.md: since, until, sender, recipient, message_id, audit_id,
/// verdict, action, rule, filename, sha256, direction, limit, offset, zone. Empty values do not
/// filter (HTML forms send every field). Errors: a name not in the list nor in `extra`, a
/// repeated name, a value longer than max_param_value, a time `zone` cannot parse, an unknown
/// zone, a limit that is not 1..max_results, an offset that is not a number up to 10^9, a sha256
/// that is not 64 hex digits, a direction other than inbound/outbound. Pure.
[[nodiscard]] Checked<SearchParams> parse_search(const Params& params, std::size_t max_results,
                                                 const std::vector<std::string>& extra = {});

/// A month "YYYY-MM" (1970-9999, 01-12) and an optional zone, for the report.
struct MonthParams {
    int year = 0;
    int month = 0;
    TimeZone zone = TimeZone::tokyo();
};
/// `month` is required. Errors as parse_search for names, zone and values. Pure.
[[nodiscard]] Checked<MonthParams> parse_month(const Params& params,
                                               const std::vector<std::string>& extra = {});

/// Fails (error set) when any parameter is given that is not in `allowed`.
[[nodiscard]] std::string only_params(const Params& params,
                                      const std::vector<std::string>& allowed);

/// The parameters for an access audit row: `name=value` pairs (quoted like audit details) joined
/// by spaces, empty values left out, at most 1000 bytes (then "..."). Pure.
[[nodiscard]] std::string params_for_audit(const Params& params);

} // namespace mugaika::gateway::console
