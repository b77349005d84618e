#include "gateway/console/request_params.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "gateway/quarantine/release.hpp"

namespace mugaika::gateway::console {

namespace {

const std::vector<std::string>& search_names() {
    static const std::vector<std::string> names = {
        "since", "until",    "sender", "recipient", "message_id", "audit_id", "verdict", "action",
        "rule",  "filename", "sha256", "direction", "limit",      "offset",   "zone"};
    return names;
}

/// Quoted for an error message: valid UTF-8, one line, bounded.
std::string shown(std::string_view v) {
    std::string s = one_line(v.substr(0, 80));
    return "\"" + s + (v.size() > 80 ? "...\"" : "\"");
}

std::optional<std::uint64_t> number(std::string_view s) {
    if (s.empty() || s.size() > 12 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    std::from_chars(s.data(), s.data() + s.size(), n);
    return n;
}

/// Checks names (known, not repeated) and value lengths; "" when fine.
std::string check_names(const Params& params, const std::vector<std::string>& known,
                        const std::vector<std::string>& extra) {
    std::set<std::string> seen;
    for (const auto& [name, value] : params) {
        if (std::find(known.begin(), known.end(), name) == known.end() &&
            std::find(extra.begin(), extra.end(), name) == extra.end()) {
            return "unknown parameter " + shown(name);
        }
        if (!seen.insert(name).second) {
            return "parameter " + name + " given twice";
        }
        if (value.size() > max_param_value) {
            return name + ": longer than " + std::to_string(max_param_value) + " bytes";
        }
    }
    return {};
}

std::string zone_of(const Params& params, TimeZone& zone, std::string* name) {
    for (const auto& [k, v] : params) {
        if (k == "zone" && !v.empty()) {
            auto z = TimeZone::load(v);
            if (!z) {
                return "zone: unknown time zone " + shown(v) +
                       " (use an IANA name such as Asia/Tokyo, UTC or +09:00)";
            }
            zone = *z;
            if (name != nullptr) {
                *name = v;
            }
        }
    }
    return {};
}

} // namespace

std::string only_params(const Params& params, const std::vector<std::string>& allowed) {
    return check_names(params, allowed, {});
}

Checked<SearchParams> parse_search(const Params& params, std::size_t max_results,
                                   const std::vector<std::string>& extra) {
    Checked<SearchParams> out;
    if (auto e = check_names(params, search_names(), extra); !e.empty()) {
        out.error = e;
        return out;
    }
    SearchParams sp;
    sp.query.limit = std::min(default_page_size, max_results);
    if (auto e = zone_of(params, sp.zone, &sp.zone_name); !e.empty()) {
        out.error = e;
        return out;
    }
    for (const auto& [k, v] : params) {
        if (v.empty() || k == "zone" || std::find(extra.begin(), extra.end(), k) != extra.end()) {
            continue;
        }
        if (k == "since" || k == "until") {
            auto t = sp.zone.parse(v);
            if (!t) {
                out.error = k + ": not a time: " + shown(v) +
                            " (use 2026-11-21, 2026-11-21T09:00, an offset such as +09:00, or "
                            "Unix milliseconds)";
                return out;
            }
            (k == "since" ? sp.query.since_ms : sp.query.until_ms) = *t;
        } else if (k == "limit") {
            auto n = number(v);
            if (!n || *n == 0 || *n > max_results) {
                out.error = "limit: must be a number from 1 to " + std::to_string(max_results) +
                            " ([console] max_results), not " + shown(v);
                return out;
            }
            sp.query.limit = static_cast<std::size_t>(*n);
            continue;
        } else if (k == "offset") {
            auto n = number(v);
            if (!n || *n > 1000000000ULL) {
                out.error = "offset: must be a number from 0 to 1000000000, not " + shown(v);
                return out;
            }
            sp.query.offset = static_cast<std::size_t>(*n);
            continue;
        } else if (k == "sha256") {
            if (v.size() != 64 || !std::all_of(v.begin(), v.end(), [](char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                           (c >= 'A' && c <= 'F');
                })) {
                out.error = "sha256: must be 64 hexadecimal digits, not " + shown(v);
                return out;
            }
            sp.query.sha256 = v;
        } else if (k == "direction") {
            if (v != "inbound" && v != "outbound") {
                out.error = "direction: must be inbound or outbound, not " + shown(v);
                return out;
            }
            sp.query.direction = v;
        } else if (k == "sender") {
            sp.query.sender = v;
        } else if (k == "recipient") {
            sp.query.recipient = v;
        } else if (k == "message_id") {
            sp.query.message_id = v;
        } else if (k == "audit_id") {
            sp.query.audit_id = v;
        } else if (k == "verdict") {
            sp.query.verdict = v;
        } else if (k == "action") {
            sp.query.action = v;
        } else if (k == "rule") {
            sp.query.rule = v;
        } else if (k == "filename") {
            sp.query.filename = v;
        }
        sp.any_filter = true;
    }
    if (sp.query.since_ms && sp.query.until_ms && *sp.query.since_ms >= *sp.query.until_ms) {
        out.error = "since must be before until";
        return out;
    }
    out.value = std::move(sp);
    return out;
}

Checked<MonthParams> parse_month(const Params& params, const std::vector<std::string>& extra) {
    Checked<MonthParams> out;
    if (auto e = check_names(params, {"month", "zone"}, extra); !e.empty()) {
        out.error = e;
        return out;
    }
    MonthParams mp;
    if (auto e = zone_of(params, mp.zone, nullptr); !e.empty()) {
        out.error = e;
        return out;
    }
    std::string month;
    for (const auto& [k, v] : params) {
        if (k == "month") {
            month = v;
        }
    }
    const auto y = month.size() == 7 && month[4] == '-' ? number(month.substr(0, 4)) : std::nullopt;
    const auto m = y ? number(month.substr(5, 2)) : std::nullopt;
    if (!y || !m || *y < 1970 || *y > 9999 || *m < 1 || *m > 12) {
        out.error = month.empty() ? "month: required, as YYYY-MM"
                                  : "month: must be YYYY-MM (e.g. 2026-11), not " + shown(month);
        return out;
    }
    mp.year = static_cast<int>(*y);
    mp.month = static_cast<int>(*m);
    out.value = std::move(mp);
    return out;
}

std::string params_for_audit(const Params& params) {
    std::string out;
    for (const auto& [k, v] : params) {
        if (v.empty()) {
            continue;
        }
        std::string pair = detail_pair(one_line(k.substr(0, 64)), one_line(v));
        if (out.size() + pair.size() + 1 > 1000) {
            out += out.empty() ? "..." : " ...";
            break;
        }
        out += (out.empty() ? "" : " ") + pair;
    }
    return out;
}

} // namespace mugaika::gateway::console
