#include "gateway/audit/audit_text.hpp"

#include <algorithm>

#include <array>
#include <chrono>
#include <cstdio>
#include <optional>

namespace mugaika::gateway::audit_text {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD"; // U+FFFD

struct Decoded {
    char32_t cp = 0;
    std::size_t len = 0; ///< bytes consumed; 0 never happens
    bool valid = false;
};

/// Decodes one UTF-8 sequence at the start of `s` (non-empty); an invalid sequence consumes one
/// byte.
Decoded decode(std::string_view s) {
    const auto b0 = static_cast<unsigned char>(s[0]);
    if (b0 < 0x80U) {
        return {b0, 1, true};
    }
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 >= 0xC2U && b0 <= 0xDFU) {
        len = 2;
        cp = b0 & 0x1FU;
        min = 0x80;
    } else if (b0 >= 0xE0U && b0 <= 0xEFU) {
        len = 3;
        cp = b0 & 0x0FU;
        min = 0x800;
    } else if (b0 >= 0xF0U && b0 <= 0xF4U) {
        len = 4;
        cp = b0 & 0x07U;
        min = 0x10000;
    } else {
        return {0xFFFD, 1, false};
    }
    if (s.size() < len) {
        return {0xFFFD, 1, false};
    }
    for (std::size_t i = 1; i < len; ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if ((b & 0xC0U) != 0x80U) {
            return {0xFFFD, 1, false};
        }
        cp = (cp << 6U) | (b & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return {0xFFFD, 1, false};
    }
    return {cp, len, true};
}

struct Range {
    char32_t lo;
    char32_t hi;
};

constexpr std::array zero_width{
    Range{0x0300, 0x036F},   Range{0x0483, 0x0489}, Range{0x0591, 0x05BD}, Range{0x0610, 0x061A},
    Range{0x064B, 0x065F},   Range{0x1AB0, 0x1AFF}, Range{0x1DC0, 0x1DFF}, Range{0x200B, 0x200F},
    Range{0x202A, 0x202E},   Range{0x2060, 0x2064}, Range{0x2066, 0x206F}, Range{0x20D0, 0x20FF},
    Range{0x3099, 0x309A},   Range{0xFE00, 0xFE0F}, Range{0xFE20, 0xFE2F}, Range{0xFEFF, 0xFEFF},
    Range{0xE0100, 0xE01EF},
};

constexpr std::array wide{
    Range{0x1100, 0x115F},   Range{0x231A, 0x231B},   Range{0x2329, 0x232A},
    Range{0x23E9, 0x23EC},   Range{0x2E80, 0x303E},   Range{0x3041, 0x33FF},
    Range{0x3400, 0x4DBF},   Range{0x4E00, 0x9FFF},   Range{0xA000, 0xA4CF},
    Range{0xA960, 0xA97F},   Range{0xAC00, 0xD7A3},   Range{0xF900, 0xFAFF},
    Range{0xFE10, 0xFE19},   Range{0xFE30, 0xFE6F},   Range{0xFF00, 0xFF60},
    Range{0xFFE0, 0xFFE6},   Range{0x1F300, 0x1F64F}, Range{0x1F900, 0x1F9FF},
    Range{0x20000, 0x2FFFD}, Range{0x30000, 0x3FFFD},
};

template <std::size_t N> bool in(const std::array<Range, N>& ranges, char32_t cp) {
    for (const auto& r : ranges) {
        if (cp >= r.lo && cp <= r.hi) {
            return true;
        }
    }
    return false;
}

std::size_t codepoint_width(char32_t cp) {
    if (in(zero_width, cp)) {
        return 0;
    }
    return in(wide, cp) ? 2 : 1;
}

bool is_bidi_control(char32_t cp) {
    return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

} // namespace

std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    while (!s.empty()) {
        const auto d = decode(s);
        if (d.valid && d.cp != 0) {
            out.append(s.substr(0, d.len));
        } else {
            out.append(replacement);
        }
        s.remove_prefix(d.len);
    }
    return out;
}

std::size_t display_width(std::string_view s) {
    std::size_t w = 0;
    while (!s.empty()) {
        const auto d = decode(s);
        w += d.valid ? codepoint_width(d.cp) : 1;
        s.remove_prefix(d.len);
    }
    return w;
}

std::string terminal_safe(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    while (!s.empty()) {
        const auto d = decode(s);
        if (!d.valid) {
            out.append(replacement);
        } else if (d.cp == '\t' || d.cp == '\n' || d.cp == '\r') {
            out.push_back(' ');
        } else if (d.cp < 0x20 || (d.cp >= 0x7F && d.cp <= 0x9F) || is_bidi_control(d.cp)) {
            out.push_back('?');
        } else {
            out.append(s.substr(0, d.len));
        }
        s.remove_prefix(d.len);
    }
    return out;
}

std::string truncate_to_width(std::string_view s, std::size_t width) {
    if (display_width(s) <= width) {
        return std::string(s);
    }
    constexpr std::string_view ellipsis = "...";
    if (width < ellipsis.size()) {
        return std::string(ellipsis.substr(0, width));
    }
    const std::size_t budget = width - ellipsis.size();
    std::string out;
    std::size_t w = 0;
    while (!s.empty()) {
        const auto d = decode(s);
        const std::size_t cw = d.valid ? codepoint_width(d.cp) : 1;
        if (w + cw > budget) {
            break;
        }
        w += cw;
        out.append(d.valid ? s.substr(0, d.len) : replacement);
        s.remove_prefix(d.len);
    }
    out.append(ellipsis);
    return out;
}

std::string pad_to_width(std::string_view s, std::size_t width) {
    std::string out(s);
    const std::size_t w = display_width(s);
    if (w < width) {
        out.append(width - w, ' ');
    }
    return out;
}

std::string format_tokyo_time(std::int64_t unix_ms, bool with_millis) {
    using namespace std::chrono;
    constexpr std::int64_t tokyo_offset_ms = 9LL * 3600 * 1000;
    // Clamp to years 0000..9999 so the arithmetic below cannot overflow on a hostile value.
    constexpr std::int64_t min_ms = -62167219200000LL;
    constexpr std::int64_t max_ms = 253402300799999LL - tokyo_offset_ms;
    const std::int64_t clamped = unix_ms < min_ms ? min_ms : (unix_ms > max_ms ? max_ms : unix_ms);
    const sys_time<milliseconds> t{milliseconds{clamped + tokyo_offset_ms}};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss<milliseconds> tod{t - day};
    std::array<char, 64> buf{};
    const int y = static_cast<int>(ymd.year());
    const unsigned mo = static_cast<unsigned>(ymd.month());
    const unsigned d = static_cast<unsigned>(ymd.day());
    const auto h = static_cast<long>(tod.hours().count());
    const auto mi = static_cast<long>(tod.minutes().count());
    const auto sec = static_cast<long>(tod.seconds().count());
    const auto ms = static_cast<long>(tod.subseconds().count());
    int n = 0;
    if (with_millis) {
        n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02ld:%02ld:%02ld.%03ld+09:00", y,
                          mo, d, h, mi, sec, ms);
    } else {
        n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02ld:%02ld:%02ld+09:00", y, mo,
                          d, h, mi, sec);
    }
    return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::string html_escape(std::string_view raw) {
    const std::string s = to_valid_utf8(raw);
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
                c == 0x7f) {
                out += "\xEF\xBF\xBD";
            } else {
                out += c;
            }
        }
    }
    return out;
}

std::string detail_pair(std::string_view key, std::string_view value) {
    const bool quote = value.empty() || value.find_first_of(" \"\\=") != std::string_view::npos;
    std::string out(key);
    out += '=';
    if (!quote) {
        return out + std::string(value);
    }
    out += '"';
    for (char c : value) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + '"';
}

std::string detail_value(std::string_view detail, std::string_view key) {
    std::size_t i = 0;
    while (i < detail.size()) {
        while (i < detail.size() && detail[i] == ' ') {
            ++i;
        }
        const std::size_t eq = detail.find('=', i);
        if (eq == std::string_view::npos) {
            return {};
        }
        const std::string_view k = detail.substr(i, eq - i);
        std::string value;
        i = eq + 1;
        if (i < detail.size() && detail[i] == '"') {
            for (++i; i < detail.size() && detail[i] != '"'; ++i) {
                if (detail[i] == '\\' && i + 1 < detail.size()) {
                    ++i;
                }
                value += detail[i];
            }
            ++i; // the closing quote
        } else {
            const std::size_t end = std::min(detail.find(' ', i), detail.size());
            value = detail.substr(i, end - i);
            i = end;
        }
        if (k == key) {
            return value;
        }
    }
    return {};
}

} // namespace mugaika::gateway::audit_text
