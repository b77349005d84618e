#include "gateway/util/encoding.hpp"

#include <algorithm>
#include <array>
#include <ctime>

#include "gateway/util/sha256.hpp"

namespace mugaika::gateway {

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.hex();
}

std::string base64_encode_lines(std::string_view data) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // 57 input bytes make one 76-character line.
    const std::size_t lines = (data.size() + 56) / 57;
    std::string out((data.size() + 2) / 3 * 4 + lines * 2, '\0');
    char* o = out.data();
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t left = data.size();
    while (left > 0) {
        const std::size_t chunk = std::min<std::size_t>(left, 57);
        std::size_t i = 0;
        for (; i + 3 <= chunk; i += 3) {
            const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) |
                                    std::uint32_t{p[i + 2]};
            o[0] = alphabet[(v >> 18) & 63];
            o[1] = alphabet[(v >> 12) & 63];
            o[2] = alphabet[(v >> 6) & 63];
            o[3] = alphabet[v & 63];
            o += 4;
        }
        const std::size_t rest = chunk - i;
        if (rest > 0) {
            std::uint32_t v = std::uint32_t{p[i]} << 16;
            if (rest == 2) {
                v |= std::uint32_t{p[i + 1]} << 8;
            }
            o[0] = alphabet[(v >> 18) & 63];
            o[1] = alphabet[(v >> 12) & 63];
            o[2] = rest == 2 ? alphabet[(v >> 6) & 63] : '=';
            o[3] = '=';
            o += 4;
        }
        *o++ = '\r';
        *o++ = '\n';
        p += chunk;
        left -= chunk;
    }
    out.resize(static_cast<std::size_t>(o - out.data()));
    return out;
}

std::string quoted_printable_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    std::size_t col = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            // Trailing white space before a line break must be encoded.
            if (!out.empty() && (out.back() == ' ' || out.back() == '\t')) {
                const char ws = out.back();
                out.pop_back();
                out += '=';
                out += hex[static_cast<unsigned char>(ws) >> 4];
                out += hex[static_cast<unsigned char>(ws) & 15];
            }
            out += "\r\n";
            col = 0;
            continue;
        }
        std::string token;
        if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
            token.assign(1, static_cast<char>(c));
        } else {
            token = {'=', hex[c >> 4], hex[c & 15]};
        }
        if (col + token.size() > 75) {
            out += "=\r\n";
            col = 0;
        }
        out += token;
        col += token.size();
    }
    if (!out.empty() && (out.back() == ' ' || out.back() == '\t')) {
        out += "=\r\n";
    }
    if (out.empty() || out.back() != '\n') {
        out += "\r\n";
    }
    return out;
}

std::string to_crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\r') {
            out += "\r\n";
            if (i + 1 < text.size() && text[i + 1] == '\n') {
                ++i;
            }
        } else if (c == '\n') {
            out += "\r\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string group_thousands(std::uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out += ',';
        }
        out += digits[i];
    }
    return out;
}

std::string iso8601_utc(std::int64_t unix_ms) {
    const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::array<char, 40> buf{};
    const auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    std::array<char, 8> ms{};
    std::snprintf(ms.data(), ms.size(), ".%03dZ", static_cast<int>(unix_ms % 1000));
    return std::string(buf.data(), n) + ms.data();
}

std::string rfc5322_date(std::int64_t unix_ms) {
    const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000",
                  days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf.data();
}

} // namespace mugaika::gateway
