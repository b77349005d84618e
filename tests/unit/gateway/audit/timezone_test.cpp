#include "gateway/audit/timezone.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "../test_support.hpp"
#include "gateway/audit/audit_text.hpp"

using namespace mugaika::gateway;

namespace {

TimeZone load_or_fail(std::string_view name) {
    auto tz = TimeZone::load(name);
    REQUIRE_MESSAGE(tz.has_value(),
                    (tz ? "" : std::string(tz.error().what) + ": " + tz.error().detail));
    return *tz;
}

constexpr std::int64_t hour_ms = 3600 * 1000;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

void be32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((v >> shift) & 0xff);
    }
}

void be64(std::string& out, std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    be32(out, static_cast<std::uint32_t>(u >> 32));
    be32(out, static_cast<std::uint32_t>(u & 0xffffffffU));
}

struct Type {
    std::int32_t utoff;
    bool dst;
    std::uint8_t abbr;
};

/// A TZif file: v1 when `footer` is null, else v2 with the same data in both blocks.
std::string tzif(const std::vector<std::int64_t>& times, const std::vector<std::uint8_t>& idx,
                 const std::vector<Type>& types, const std::string& chars, const char* footer) {
    auto block = [&](bool wide) {
        std::string b = "TZif";
        b += footer != nullptr ? '2' : '\0';
        b += std::string(15, '\0');
        be32(b, 0); // isut
        be32(b, 0); // isstd
        be32(b, 0); // leap
        be32(b, static_cast<std::uint32_t>(times.size()));
        be32(b, static_cast<std::uint32_t>(types.size()));
        be32(b, static_cast<std::uint32_t>(chars.size()));
        for (auto t : times) {
            if (wide) {
                be64(b, t);
            } else {
                be32(b, static_cast<std::uint32_t>(static_cast<std::int32_t>(t)));
            }
        }
        for (auto i : idx) {
            b += static_cast<char>(i);
        }
        for (const auto& t : types) {
            be32(b, static_cast<std::uint32_t>(t.utoff));
            b += static_cast<char>(t.dst ? 1 : 0);
            b += static_cast<char>(t.abbr);
        }
        b += chars;
        return b;
    };
    std::string out = block(false);
    if (footer != nullptr) {
        out += block(true);
        out += "\n" + std::string(footer) + "\n";
    }
    return out;
}

} // namespace

TEST_CASE("timezone: Asia/Tokyo from zoneinfo agrees with the built-in Tokyo zone") {
    const TimeZone file = load_or_fail("Asia/Tokyo");
    const TimeZone builtin = TimeZone::tokyo();
    CHECK(file.name() == "Asia/Tokyo");
    CHECK(builtin.name() == "Asia/Tokyo");
    for (std::int64_t t : {0LL, 1795222800000LL, 1795222800123LL, 4102444800000LL}) {
        CHECK(file.offset_at(t) == 9 * 3600);
        CHECK(file.format(t, true) == builtin.format(t, true));
        CHECK(builtin.format(t, true) == audit_text::format_tokyo_time(t, true));
        CHECK(builtin.format(t, false) == audit_text::format_tokyo_time(t, false));
    }
    CHECK(builtin.format(1795222800123LL, true) == "2026-11-21T10:00:00.123+09:00");
    CHECK(builtin.format(1795222800123LL) == "2026-11-21T10:00:00+09:00");
    CHECK(builtin.parse("2026-11-21T10:00:00") == 1795222800000LL);
    CHECK(builtin.parse("2026-11-21 10:00") == 1795222800000LL);
    CHECK(builtin.parse("2026-11-21T10:00:00.5") == 1795222800500LL);
    CHECK(builtin.parse("2026-11-21T01:00:00Z") == 1795222800000LL);
    CHECK(builtin.parse("2026-11-21T02:00:00+01:00") == 1795222800000LL);
    CHECK(builtin.parse("1795222800000") == 1795222800000LL);
    CHECK(builtin.local_midnight(2026, 11, 1) == 1793458800000LL);
    CHECK(builtin.local_midnight(2026, 13, 1) == builtin.local_midnight(2027, 1, 1));
    CHECK(builtin.local_midnight(2026, 12, 1) == 1796050800000LL);
    // Japan observed DST 1948-1951 (1950-07-01T00:00Z): the file knows; no audit record is that
    // old.
    CHECK(file.offset_at(-615513600000LL) == 10 * 3600);
}

TEST_CASE("timezone: fixed offsets and UTC") {
    const TimeZone utc = load_or_fail("UTC");
    CHECK(utc.format(1795222800000LL) == "2026-11-21T01:00:00+00:00");
    CHECK(load_or_fail("Z").offset_at(0) == 0);
    const TimeZone india = load_or_fail("+05:30");
    CHECK(india.name() == "+05:30");
    CHECK(india.format(0) == "1970-01-01T05:30:00+05:30");
    const TimeZone west = load_or_fail("-05:30");
    CHECK(west.offset_at(123) == -(5 * 3600 + 1800));
    CHECK(west.format(0) == "1969-12-31T18:30:00-05:30");
    CHECK(west.parse("1969-12-31T18:30") == 0);
    CHECK(utc.format(-1) == "1969-12-31T23:59:59+00:00");
    CHECK(utc.format(-1, true) == "1969-12-31T23:59:59.999+00:00");
    // Hostile instants are clamped rather than overflowing.
    CHECK(utc.format(INT64_MAX).rfind("9999-12-", 0) == 0);
    CHECK(utc.format(INT64_MIN).rfind("0000-01-0", 0) == 0);
}

TEST_CASE("timezone: America/New_York across both DST changes of 2026") {
    const TimeZone ny = load_or_fail("America/New_York");
    const std::int64_t spring = 1772953200000LL; // 2026-03-08T07:00Z = 02:00 EST
    const std::int64_t fall = 1793512800000LL;   // 2026-11-01T06:00Z = 02:00 EDT
    CHECK(ny.offset_at(spring - 1) == -5 * 3600);
    CHECK(ny.offset_at(spring) == -4 * 3600);
    CHECK(ny.offset_at(fall - 1) == -4 * 3600);
    CHECK(ny.offset_at(fall) == -5 * 3600);
    CHECK(ny.format(spring - 1000) == "2026-03-08T01:59:59-05:00");
    CHECK(ny.format(spring) == "2026-03-08T03:00:00-04:00");
    CHECK(ny.format(fall - 1000) == "2026-11-01T01:59:59-04:00");
    CHECK(ny.format(fall) == "2026-11-01T01:00:00-05:00");

    SUBCASE("a local time that does not exist moves forward by the gap") {
        const auto t = ny.parse("2026-03-08T02:30");
        REQUIRE(t);
        CHECK(*t == spring + 30 * 60 * 1000);
        CHECK(ny.format(*t) == "2026-03-08T03:30:00-04:00");
    }
    SUBCASE("a local time that happens twice is the earlier instant") {
        const auto t = ny.parse("2026-11-01T01:30:00");
        REQUIRE(t);
        CHECK(*t == fall - 30 * 60 * 1000);
        CHECK(ny.format(*t) == "2026-11-01T01:30:00-04:00");
        CHECK(ny.format(*t + hour_ms) == "2026-11-01T01:30:00-05:00");
    }
    SUBCASE("local midnights: the DST days are 23 and 25 hours long") {
        CHECK(ny.local_midnight(2026, 3, 8) == 1772946000000LL);
        CHECK(ny.local_midnight(2026, 3, 9) - ny.local_midnight(2026, 3, 8) == 23 * hour_ms);
        CHECK(ny.local_midnight(2026, 11, 1) == 1793505600000LL);
        CHECK(ny.local_midnight(2026, 11, 2) - ny.local_midnight(2026, 11, 1) == 25 * hour_ms);
        CHECK(ny.parse("2026-11-01") == 1793505600000LL);
    }
    SUBCASE("after the last transition the POSIX footer decides (2100)") {
        const std::int64_t spring2100 = 4108690800000LL; // 2100-03-14T07:00Z
        const std::int64_t fall2100 = 4129250400000LL;   // 2100-11-07T06:00Z
        CHECK(ny.offset_at(spring2100 - 1000) == -5 * 3600);
        CHECK(ny.offset_at(spring2100) == -4 * 3600);
        CHECK(ny.offset_at(fall2100 - 1000) == -4 * 3600);
        CHECK(ny.offset_at(fall2100) == -5 * 3600);
        CHECK(ny.format(fall2100) == "2100-11-07T01:00:00-05:00");
    }
}

TEST_CASE("timezone: Europe/Berlin and Asia/Jerusalem") {
    const TimeZone berlin = load_or_fail("Europe/Berlin");
    CHECK(berlin.offset_at(1774746000000LL - 1) == 3600); // 2026-03-29T01:00Z
    CHECK(berlin.offset_at(1774746000000LL) == 7200);
    CHECK(berlin.offset_at(1792890000000LL - 1) == 7200); // 2026-10-25T01:00Z
    CHECK(berlin.offset_at(1792890000000LL) == 3600);
    CHECK(berlin.format(1774746000000LL) == "2026-03-29T03:00:00+02:00");
    // Jerusalem's rule starts DST at 26:00 on a Thursday (TZif v3 footer "M3.4.4/26").
    const TimeZone jer = load_or_fail("Asia/Jerusalem");
    CHECK(jer.format(1774569600000LL - 1000) == "2026-03-27T01:59:59+02:00");
    CHECK(jer.format(1774569600000LL) == "2026-03-27T03:00:00+03:00");
    CHECK(jer.format(2216073600000LL) == "2040-03-23T03:00:00+03:00"); // footer
}

TEST_CASE("timezone: names that leave the zoneinfo directory or do not exist are refused") {
    for (const char* bad :
         {"", "../etc/passwd", "Asia/../../etc/passwd", "/etc/localtime", "/usr/share/zoneinfo/UTC",
          "Asia/Tokyo;rm", "Asia/Tokyo ", "Asia\\Tokyo", "Asia/Nowhere", "Asia", "Asia/Tōkyō", "+9",
          "+09:60", "+24:00", "..", "Asia/.."}) {
        const std::string shown = bad;
        CAPTURE(shown);
        auto tz = TimeZone::load(bad);
        REQUIRE_FALSE(tz.has_value());
        CHECK(tz.error().what == "audit.timezone_unknown");
        CHECK(tz.error().code == mugaika::filters::ErrorCode::Malformed);
    }
}

TEST_CASE("timezone: a truncated or foreign TZif file is refused, a whole copy loads") {
    mugaika::test::TempDir dir;
    const std::string whole = read_all("/usr/share/zoneinfo/America/New_York");
    REQUIRE(whole.size() > 100);
    const auto copy = dir.path() / "ny";
    write_all(copy, whole);
    auto ok = TimeZone::load_file(copy.string(), "copy");
    REQUIRE(ok.has_value());
    CHECK(ok->offset_at(1772953200000LL) == -4 * 3600);

    for (std::size_t len :
         {std::size_t{0}, std::size_t{4}, std::size_t{43}, std::size_t{44}, std::size_t{100},
          whole.size() / 2, whole.size() - 30, whole.size() - 1}) {
        CAPTURE(len);
        const auto p = dir.path() / ("cut" + std::to_string(len));
        write_all(p, whole.substr(0, len));
        auto tz = TimeZone::load_file(p.string(), "cut");
        REQUIRE_FALSE(tz.has_value());
        CHECK(tz.error().what == "audit.timezone_unknown");
    }
    const auto text = dir.path() / "text";
    write_all(text, "not a zone file at all, just some text that is long enough to be read\n");
    CHECK_FALSE(TimeZone::load_file(text.string(), "text").has_value());
    CHECK_FALSE(TimeZone::load_file((dir.path() / "missing").string(), "missing").has_value());

    // A transition pointing at a type that does not exist.
    const auto bad_idx = dir.path() / "bad_idx";
    write_all(bad_idx, tzif({0}, {5}, {{3600, false, 0}}, "ABC", nullptr));
    CHECK_FALSE(TimeZone::load_file(bad_idx.string(), "bad").has_value());
    // A footer that is not a POSIX TZ string.
    const auto bad_footer = dir.path() / "bad_footer";
    write_all(bad_footer, tzif({}, {}, {{3600, false, 0}}, "ABC", "A1"));
    CHECK_FALSE(TimeZone::load_file(bad_footer.string(), "bad").has_value());
}

TEST_CASE("timezone: TZif version 1 and the J and n footer forms") {
    mugaika::test::TempDir dir;
    SUBCASE("v1: 32-bit transitions, no footer") {
        const auto p = dir.path() / "v1";
        // +1h until 2000-01-01T00:00Z, then +2h.
        write_all(
            p, tzif({946684800}, {1}, {{3600, false, 0}, {7200, false, 4}}, "AAA\0BBB", nullptr));
        auto tz = TimeZone::load_file(p.string(), "v1");
        REQUIRE(tz.has_value());
        CHECK(tz->offset_at(946684800000LL - 1) == 3600);
        CHECK(tz->offset_at(946684800000LL) == 7200);
        CHECK(tz->offset_at(4102444800000LL) == 7200);
    }
    SUBCASE("Jn: February 29 is never counted") {
        const auto p = dir.path() / "j";
        write_all(p, tzif({}, {}, {{3600, false, 0}}, "AAA", "AAA-1BBB,J60/2,J300/3"));
        auto tz = TimeZone::load_file(p.string(), "j");
        REQUIRE(tz.has_value());
        // 2028 is a leap year: J60 is still March 1 (02:00 at +1 = 01:00Z).
        CHECK(tz->offset_at(1835485200000LL - 1) == 3600);
        CHECK(tz->offset_at(1835485200000LL) == 7200);
        CHECK(tz->format(1835485200000LL) == "2028-03-01T03:00:00+02:00");
    }
    SUBCASE("n: zero-based, February 29 counted") {
        const auto p = dir.path() / "n";
        write_all(p, tzif({}, {}, {{3600, false, 0}}, "AAA", "AAA-1BBB,59/2,299/3"));
        auto tz = TimeZone::load_file(p.string(), "n");
        REQUIRE(tz.has_value());
        // 2028: day 59 is February 29.
        CHECK(tz->offset_at(1835398800000LL - 1) == 3600);
        CHECK(tz->offset_at(1835398800000LL) == 7200);
    }
    SUBCASE("southern hemisphere: DST spans the new year") {
        const auto p = dir.path() / "south";
        write_all(p, tzif({}, {}, {{36000, false, 0}}, "AAA", "AEST-10AEDT,M10.1.0,M4.1.0/3"));
        auto tz = TimeZone::load_file(p.string(), "south");
        REQUIRE(tz.has_value());
        CHECK(tz->offset_at(1798761600000LL) == 11 * 3600); // 2027-01-01T00:00Z
        CHECK(tz->offset_at(1814400000000LL) == 10 * 3600); // 2027-07-01T00:00Z
        const TimeZone sydney = load_or_fail("Australia/Sydney");
        CHECK(sydney.offset_at(1798761600000LL) == 11 * 3600);
        CHECK(sydney.offset_at(1814400000000LL) == 10 * 3600);
    }
}

TEST_CASE("timezone: parse refuses what is not a time") {
    const TimeZone tz = TimeZone::tokyo();
    for (const char* bad : {"", "2026-13-01", "2026-02-30", "2026-11-21T25:00",
                            "2026-11-21T10:00:00+9", "2026-11-21T10:00 JST", "yesterday",
                            "2026-11-21T10:00:00.", "1234567890123456789", "+2026-11-21"}) {
        const std::string shown = bad;
        CAPTURE(shown);
        CHECK_FALSE(tz.parse(bad).has_value());
    }
    CHECK(tz.parse("2028-02-29") == tz.local_midnight(2028, 2, 29));
}
