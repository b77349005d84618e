// TimeZone: TZif (RFC 8536) files and fixed offsets, for showing and parsing audit times.
#include "gateway/audit/timezone.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace mugaika::gateway {

namespace {

constexpr std::string_view code_unknown = "audit.timezone_unknown";
constexpr std::int64_t day_s = 86400;
/// A TZif file larger than this is not one (America/New_York is 3.5 KB).
constexpr std::size_t max_tzif_bytes = 256 * 1024;
constexpr const char* zoneinfo_dir = "/usr/share/zoneinfo";

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12; day may exceed the month).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
    std::int64_t y;
    unsigned m;
    unsigned d;
};

constexpr Civil civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {y + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool is_leap(std::int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) {
    constexpr std::array<unsigned, 12> n{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

/// A POSIX TZ rule date: "Mm.w.d", "Jn" or "n", with the local time of the change.
struct RuleDate {
    char kind = 'M';          ///< 'M', 'J' or 'N'
    int month = 0;            ///< M: 1..12
    int week = 0;             ///< M: 1..5 (5 = last)
    int weekday = 0;          ///< M: 0 = Sunday
    int day = 0;              ///< J: 1..365 (Feb 29 never counted); N: 0..365
    std::int64_t time = 7200; ///< seconds after local midnight (v3: -167h..167h)
};

/// The footer of a TZif v2+ file (the rule for instants after the last transition).
struct PosixTz {
    std::int32_t std_off = 0; ///< seconds east of UTC
    bool has_dst = false;
    std::int32_t dst_off = 0;
    RuleDate start{};
    RuleDate end{};
};

/// Day (days since epoch) of a rule date in year `y`.
std::int64_t rule_day(const RuleDate& r, std::int64_t y) {
    if (r.kind == 'J') {
        // 1..365, February 29 never counted: day 60 is always March 1.
        std::int64_t doy = r.day - 1;
        if (is_leap(y) && r.day >= 60) {
            ++doy;
        }
        return days_from_civil(y, 1, 1) + doy;
    }
    if (r.kind == 'N') {
        return days_from_civil(y, 1, 1) + r.day;
    }
    const auto m = static_cast<unsigned>(r.month);
    const std::int64_t first = days_from_civil(y, m, 1);
    // 1970-01-01 was a Thursday (4).
    const auto first_wd = static_cast<int>(((first % 7) + 7 + 4) % 7);
    std::int64_t day = first + ((r.weekday - first_wd + 7) % 7) + 7LL * (r.week - 1);
    while (day >= first + days_in_month(y, m)) {
        day -= 7;
    }
    return day;
}

std::int32_t posix_offset_at(const PosixTz& p, std::int64_t t) {
    if (!p.has_dst) {
        return p.std_off;
    }
    const std::int64_t y = civil_from_days(floor_div(t + p.std_off, day_s)).y;
    // The change to DST happens at a standard-time wall clock, the change back at a DST one.
    const std::int64_t start = rule_day(p.start, y) * day_s + p.start.time - p.std_off;
    const std::int64_t end = rule_day(p.end, y) * day_s + p.end.time - p.dst_off;
    const bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? p.dst_off : p.std_off;
}

/// Reads POSIX TZ strings ("JST-9", "EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30",
/// "IST-2IDT,M3.4.4/26,M10.5.0").
class PosixParser {
public:
    explicit PosixParser(std::string_view s) : s_(s) {}

    std::optional<PosixTz> parse() {
        PosixTz p;
        if (!name()) {
            return std::nullopt;
        }
        auto std_off = offset(24);
        if (!std_off) {
            return std::nullopt;
        }
        p.std_off = static_cast<std::int32_t>(-*std_off); // POSIX counts west of UTC
        if (at_end()) {
            return p;
        }
        if (!name()) {
            return std::nullopt;
        }
        p.has_dst = true;
        p.dst_off = p.std_off + 3600;
        if (!at_end() && peek() != ',') {
            auto dst_off = offset(24);
            if (!dst_off) {
                return std::nullopt;
            }
            p.dst_off = static_cast<std::int32_t>(-*dst_off);
        }
        if (at_end()) {
            // No rule given: the US rule, as POSIX implementations assume.
            p.start = RuleDate{'M', 3, 2, 0, 0, 7200};
            p.end = RuleDate{'M', 11, 1, 0, 0, 7200};
            return p;
        }
        if (!eat(',')) {
            return std::nullopt;
        }
        auto start = rule();
        if (!start || !eat(',')) {
            return std::nullopt;
        }
        auto end = rule();
        if (!end || !at_end()) {
            return std::nullopt;
        }
        p.start = *start;
        p.end = *end;
        return p;
    }

private:
    [[nodiscard]] bool at_end() const { return i_ >= s_.size(); }
    [[nodiscard]] char peek() const { return at_end() ? '\0' : s_[i_]; }
    bool eat(char c) {
        if (peek() == c && !at_end()) {
            ++i_;
            return true;
        }
        return false;
    }
    static bool alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
    static bool digit(char c) { return c >= '0' && c <= '9'; }

    bool name() {
        if (eat('<')) {
            const std::size_t start = i_;
            while (!at_end() && peek() != '>') {
                const char c = peek();
                if (!alpha(c) && !digit(c) && c != '+' && c != '-') {
                    return false;
                }
                ++i_;
            }
            return i_ - start >= 3 && eat('>');
        }
        const std::size_t start = i_;
        while (!at_end() && alpha(peek())) {
            ++i_;
        }
        return i_ - start >= 3;
    }

    std::optional<std::int64_t> number(int max_digits) {
        std::int64_t n = 0;
        int digits = 0;
        while (!at_end() && digit(peek()) && digits < max_digits) {
            n = n * 10 + (peek() - '0');
            ++i_;
            ++digits;
        }
        if (digits == 0) {
            return std::nullopt;
        }
        return n;
    }

    /// [+-]hh[:mm[:ss]] in seconds; hours up to `max_hours`.
    std::optional<std::int64_t> offset(std::int64_t max_hours) {
        std::int64_t sign = 1;
        if (eat('-')) {
            sign = -1;
        } else {
            eat('+');
        }
        auto h = number(3);
        if (!h || *h > max_hours) {
            return std::nullopt;
        }
        std::int64_t secs = *h * 3600;
        if (eat(':')) {
            auto m = number(2);
            if (!m || *m > 59) {
                return std::nullopt;
            }
            secs += *m * 60;
            if (eat(':')) {
                auto sec = number(2);
                if (!sec || *sec > 59) {
                    return std::nullopt;
                }
                secs += *sec;
            }
        }
        return sign * secs;
    }

    std::optional<RuleDate> rule() {
        RuleDate r;
        if (eat('M')) {
            auto m = number(2);
            if (!m || *m < 1 || *m > 12 || !eat('.')) {
                return std::nullopt;
            }
            auto w = number(1);
            if (!w || *w < 1 || *w > 5 || !eat('.')) {
                return std::nullopt;
            }
            auto d = number(1);
            if (!d || *d > 6) {
                return std::nullopt;
            }
            r.kind = 'M';
            r.month = static_cast<int>(*m);
            r.week = static_cast<int>(*w);
            r.weekday = static_cast<int>(*d);
        } else if (eat('J')) {
            auto n = number(3);
            if (!n || *n < 1 || *n > 365) {
                return std::nullopt;
            }
            r.kind = 'J';
            r.day = static_cast<int>(*n);
        } else {
            auto n = number(3);
            if (!n || *n > 365) {
                return std::nullopt;
            }
            r.kind = 'N';
            r.day = static_cast<int>(*n);
        }
        if (eat('/')) {
            auto t = offset(167); // RFC 8536 (TZif v3) allows -167..167 hours
            if (!t) {
                return std::nullopt;
            }
            r.time = *t;
        }
        return r;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

std::int64_t be64(const unsigned char* p) {
    const std::uint64_t v = (std::uint64_t{be32(p)} << 32) | be32(p + 4);
    return static_cast<std::int64_t>(v);
}

bool valid_zone_name(std::string_view name) {
    if (name.empty() || name.size() > 255 || name.front() == '/' ||
        name.find("..") != std::string_view::npos) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '/' || c == '_' || c == '+' || c == '-';
    });
}

/// "+09:00" / "-05:30" in seconds east of UTC.
std::optional<std::int32_t> fixed_offset(std::string_view s) {
    if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') {
        return std::nullopt;
    }
    for (std::size_t k : {1U, 2U, 4U, 5U}) {
        if (s[k] < '0' || s[k] > '9') {
            return std::nullopt;
        }
    }
    const int h = (s[1] - '0') * 10 + (s[2] - '0');
    const int m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 23 || m > 59) {
        return std::nullopt;
    }
    return (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
}

} // namespace

struct TimeZone::Data {
    std::string name{};
    std::vector<std::int64_t> transitions{}; ///< Unix seconds, ascending
    std::vector<std::int32_t> offsets{};     ///< offset after each transition
    std::int32_t initial = 0;                ///< before the first transition (time type 0)
    std::optional<PosixTz> footer{};         ///< after the last transition

    [[nodiscard]] std::int32_t at(std::int64_t t) const {
        if (transitions.empty() || t >= transitions.back()) {
            if (footer) {
                return posix_offset_at(*footer, t);
            }
            return transitions.empty() ? initial : offsets.back();
        }
        const auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
        if (it == transitions.begin()) {
            return initial;
        }
        return offsets[static_cast<std::size_t>(std::distance(transitions.begin(), it) - 1)];
    }
};

namespace {

filters::Result<std::shared_ptr<TimeZone::Data>> parse_tzif(std::string_view bytes,
                                                            const std::string& name) {
    auto bad = [&](const char* why) {
        return filters::fail(filters::ErrorCode::Malformed, code_unknown, name + ": " + why);
    };
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t size = bytes.size();
    std::size_t pos = 0;

    struct Counts {
        std::uint32_t isut, isstd, leap, time, type, chars;
    };
    auto header = [&](Counts& c, char& version) -> bool {
        if (size - pos < 44 || bytes.substr(pos, 4) != "TZif") {
            return false;
        }
        version = bytes[pos + 4];
        const unsigned char* h = p + pos + 20;
        c = Counts{be32(h), be32(h + 4), be32(h + 8), be32(h + 12), be32(h + 16), be32(h + 20)};
        pos += 44;
        return true;
    };
    auto block_size = [](const Counts& c, std::size_t time_size) -> std::uint64_t {
        return std::uint64_t{c.time} * time_size + c.time + std::uint64_t{c.type} * 6 + c.chars +
               std::uint64_t{c.leap} * (time_size + 4) + c.isstd + c.isut;
    };

    Counts c{};
    char version = 0;
    if (!header(c, version)) {
        return bad("not a TZif file");
    }
    std::size_t time_size = 4;
    if (version != '\0') {
        // v2+: skip the 32-bit block; the 64-bit one after the second header is authoritative.
        const std::uint64_t skip = block_size(c, 4);
        if (skip > size - pos) {
            return bad("truncated TZif file");
        }
        pos += static_cast<std::size_t>(skip);
        char v2 = 0;
        if (!header(c, v2)) {
            return bad("truncated TZif file");
        }
        time_size = 8;
    }
    if (c.type == 0 || c.type > 256 || c.chars == 0 || (c.isstd != 0 && c.isstd != c.type) ||
        (c.isut != 0 && c.isut != c.type)) {
        return bad("invalid TZif counts");
    }
    if (block_size(c, time_size) > size - pos) {
        return bad("truncated TZif file");
    }
    auto d = std::make_shared<TimeZone::Data>();
    d->name = name;
    const unsigned char* times = p + pos;
    const unsigned char* idx = times + std::size_t{c.time} * time_size;
    const unsigned char* types = idx + c.time;
    std::vector<std::int32_t> utoff(c.type);
    for (std::uint32_t k = 0; k < c.type; ++k) {
        const auto off = static_cast<std::int32_t>(be32(types + 6 * k));
        if (off < -89999 || off > 93599) { // RFC 8536 section 3.2
            return bad("invalid UT offset");
        }
        utoff[k] = off;
    }
    d->initial = utoff[0];
    d->transitions.reserve(c.time);
    d->offsets.reserve(c.time);
    for (std::uint32_t k = 0; k < c.time; ++k) {
        const std::int64_t t = time_size == 8 ? be64(times + 8 * std::size_t{k})
                                              : static_cast<std::int32_t>(be32(times + 4 * k));
        if (!d->transitions.empty() && t <= d->transitions.back()) {
            return bad("transitions out of order");
        }
        if (idx[k] >= c.type) {
            return bad("invalid type index");
        }
        d->transitions.push_back(t);
        d->offsets.push_back(utoff[idx[k]]);
    }
    pos += static_cast<std::size_t>(block_size(c, time_size));
    if (time_size == 8) {
        // The footer: "\n" POSIX-TZ "\n" (may be empty).
        if (pos >= size || bytes[pos] != '\n') {
            return bad("truncated TZif footer");
        }
        const std::size_t end = bytes.find('\n', pos + 1);
        if (end == std::string_view::npos) {
            return bad("truncated TZif footer");
        }
        const std::string_view tz = bytes.substr(pos + 1, end - pos - 1);
        if (!tz.empty()) {
            auto footer = PosixParser(tz).parse();
            if (!footer) {
                return bad("unreadable TZ footer");
            }
            d->footer = *footer;
        }
    }
    return d;
}

std::shared_ptr<TimeZone::Data> fixed(std::string name, std::int32_t off) {
    auto d = std::make_shared<TimeZone::Data>();
    d->name = std::move(name);
    d->initial = off;
    return d;
}

} // namespace

TimeZone::TimeZone(std::shared_ptr<const Data> d) : d_(std::move(d)) {}

TimeZone TimeZone::tokyo() {
    return TimeZone(fixed("Asia/Tokyo", 9 * 3600));
}

filters::Result<TimeZone> TimeZone::load(std::string_view name) {
    if (name == "UTC" || name == "Z") {
        return TimeZone(fixed(std::string(name), 0));
    }
    if (auto off = fixed_offset(name)) {
        return TimeZone(fixed(std::string(name), *off));
    }
    if (!valid_zone_name(name)) {
        return filters::fail(filters::ErrorCode::Malformed, code_unknown,
                             "not a zone name: \"" + std::string(name.substr(0, 64)) + "\"");
    }
    return load_file(std::string(zoneinfo_dir) + "/" + std::string(name), name);
}

filters::Result<TimeZone> TimeZone::load_file(const std::string& path, std::string_view name) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes;
    if (in) {
        bytes.resize(max_tzif_bytes + 1);
        in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        bytes.resize(static_cast<std::size_t>(in.gcount()));
    }
    if (!in && !in.eof()) {
        return filters::fail(filters::ErrorCode::Malformed, code_unknown,
                             std::string(name) + ": no zoneinfo file " + path);
    }
    if (bytes.size() > max_tzif_bytes) {
        return filters::fail(filters::ErrorCode::Malformed, code_unknown,
                             std::string(name) + ": file too large");
    }
    auto d = parse_tzif(bytes, std::string(name));
    if (!d) {
        return tl::unexpected(d.error());
    }
    return TimeZone(std::move(*d));
}

const std::string& TimeZone::name() const {
    return d_->name;
}

std::int32_t TimeZone::offset_at(std::int64_t unix_ms) const {
    return d_->at(floor_div(unix_ms, 1000));
}

std::string TimeZone::format(std::int64_t unix_ms, bool with_millis) const {
    // Clamp to years 0000..9999 so the arithmetic cannot overflow on a hostile value.
    constexpr std::int64_t min_ms = -62167219200000LL + 26LL * 3600 * 1000;
    constexpr std::int64_t max_ms = 253402300799999LL - 26LL * 3600 * 1000;
    const std::int64_t t = std::clamp(unix_ms, min_ms, max_ms);
    const std::int32_t off = offset_at(t);
    const std::int64_t local = t + std::int64_t{off} * 1000;
    const std::int64_t days = floor_div(local, day_s * 1000);
    const std::int64_t rem = local - days * day_s * 1000;
    const Civil c = civil_from_days(days);
    const auto h = static_cast<int>(rem / 3600000);
    const auto mi = static_cast<int>(rem / 60000 % 60);
    const auto sec = static_cast<int>(rem / 1000 % 60);
    const auto ms = static_cast<int>(rem % 1000);
    const int abs_off = off < 0 ? -off : off;
    std::array<char, 96> buf{};
    int n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d",
                          static_cast<int>(c.y), c.m, c.d, h, mi, sec);
    if (with_millis) {
        n += std::snprintf(buf.data() + n, buf.size() - static_cast<std::size_t>(n), ".%03d", ms);
    }
    n += std::snprintf(buf.data() + n, buf.size() - static_cast<std::size_t>(n), "%c%02d:%02d",
                       off < 0 ? '-' : '+', abs_off / 3600, abs_off / 60 % 60);
    if (abs_off % 60 != 0) { // local mean time before standard time (19th century)
        n += std::snprintf(buf.data() + n, buf.size() - static_cast<std::size_t>(n), ":%02d",
                           abs_off % 60);
    }
    return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

namespace {

/// UTC ms of a local wall-clock time (ms since the epoch as if local were UTC): the earlier instant
/// when it happens twice, moved forward by the gap when it does not happen.
std::int64_t local_to_utc(const TimeZone& tz, std::int64_t local_ms) {
    constexpr std::int64_t day_ms = day_s * 1000;
    const std::int64_t before = std::int64_t{tz.offset_at(local_ms - day_ms)} * 1000;
    const std::int64_t after = std::int64_t{tz.offset_at(local_ms + day_ms)} * 1000;
    std::optional<std::int64_t> best;
    for (std::int64_t off : {before, after}) {
        const std::int64_t t = local_ms - off;
        if (std::int64_t{tz.offset_at(t)} * 1000 == off && (!best || t < *best)) {
            best = t;
        }
    }
    if (!best) {
        // The wall clock skipped this time: read it with the offset in force before the change,
        // which lands as far after the change as the time was into the gap.
        best = local_ms - before;
    }
    return *best;
}

bool digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int num(std::string_view s) {
    int n = 0;
    for (char c : s) {
        n = n * 10 + (c - '0');
    }
    return n;
}

} // namespace

std::optional<std::int64_t> TimeZone::parse(std::string_view s) const {
    if (digits(s)) {
        if (s.size() > 15) {
            return std::nullopt;
        }
        std::int64_t v = 0;
        for (char c : s) {
            v = v * 10 + (c - '0');
        }
        return v;
    }
    // YYYY-MM-DD
    if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !digits(s.substr(0, 4)) ||
        !digits(s.substr(5, 2)) || !digits(s.substr(8, 2))) {
        return std::nullopt;
    }
    const int y = num(s.substr(0, 4));
    const int mo = num(s.substr(5, 2));
    const int d = num(s.substr(8, 2));
    if (mo < 1 || mo > 12 || d < 1 ||
        static_cast<unsigned>(d) > days_in_month(y, static_cast<unsigned>(mo))) {
        return std::nullopt;
    }
    std::size_t pos = 10;
    int h = 0;
    int mi = 0;
    int sec = 0;
    int ms = 0;
    if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
        if (s.size() < pos + 6 || s[pos + 3] != ':' || !digits(s.substr(pos + 1, 2)) ||
            !digits(s.substr(pos + 4, 2))) {
            return std::nullopt;
        }
        h = num(s.substr(pos + 1, 2));
        mi = num(s.substr(pos + 4, 2));
        pos += 6;
        if (pos < s.size() && s[pos] == ':') {
            if (s.size() < pos + 3 || !digits(s.substr(pos + 1, 2))) {
                return std::nullopt;
            }
            sec = num(s.substr(pos + 1, 2));
            pos += 3;
            if (pos < s.size() && s[pos] == '.') {
                std::size_t k = pos + 1;
                int scale = 100;
                while (k < s.size() && s[k] >= '0' && s[k] <= '9') {
                    ms += (s[k] - '0') * scale;
                    scale /= 10;
                    ++k;
                }
                if (k == pos + 1) {
                    return std::nullopt;
                }
                pos = k;
            }
        }
        if (h > 23 || mi > 59 || sec > 59) {
            return std::nullopt;
        }
    }
    const std::int64_t local =
        (days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * day_s +
         h * 3600 + mi * 60 + sec) *
            1000 +
        ms;
    if (pos == s.size()) {
        return local_to_utc(*this, local);
    }
    const std::string_view zone = s.substr(pos);
    if (zone == "Z") {
        return local;
    }
    if (auto off = fixed_offset(zone)) {
        return local - std::int64_t{*off} * 1000;
    }
    return std::nullopt;
}

std::int64_t TimeZone::local_midnight(int year, int month, int day) const {
    // Months outside 1..12 roll into the neighbouring years (month 13 = January of year + 1).
    std::int64_t y = year + floor_div(month - 1, 12);
    const auto m = static_cast<unsigned>(month - 1 - floor_div(month - 1, 12) * 12 + 1);
    const std::int64_t days = days_from_civil(y, m, 1) + (day - 1);
    return local_to_utc(*this, days * day_s * 1000);
}

} // namespace mugaika::gateway
