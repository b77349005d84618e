#include "filters/text/charset.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <iconv.h>

#include "filters/core/cptr.hpp"

namespace mugaika::filters::text {
namespace {

constexpr std::string_view replacement_char = "\xEF\xBF\xBD"; // U+FFFD
constexpr char32_t geta_mark = 0x3013;                        // 〓
constexpr std::uint16_t geta_jis = 0x222E;                    // 〓 in JIS X 0208

[[nodiscard]] constexpr unsigned char byte_at(std::string_view s, std::size_t i) noexcept {
    return static_cast<unsigned char>(s[i]);
}

[[nodiscard]] constexpr char lower_ascii(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower_ascii);
    return out;
}

// ---------------------------------------------------------------------------------------------
// UTF-8

/// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid; when invalid,
/// `bad` receives the length of the maximal subpart to replace by one U+FFFD (Unicode 3.9, D93b).
[[nodiscard]] std::size_t utf8_seq(std::string_view s, std::size_t i, std::size_t& bad,
                                   char32_t& cp) noexcept {
    const unsigned char b = byte_at(s, i);
    bad = 1;
    if (b < 0x80) {
        cp = b;
        return 1;
    }
    std::size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        cp = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        cp = b & 0x0Fu;
        if (b == 0xE0) {
            lo = 0xA0;
        } else if (b == 0xED) {
            hi = 0x9F;
        }
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        cp = b & 0x07u;
        if (b == 0xF0) {
            lo = 0x90;
        } else if (b == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    for (std::size_t k = 1; k <= need; ++k) {
        if (i + k >= s.size()) {
            bad = k;
            return 0;
        }
        const unsigned char c = byte_at(s, i + k);
        if (c < lo || c > hi) {
            bad = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
        cp = (cp << 6) | (c & 0x3Fu);
    }
    return need + 1;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// ---------------------------------------------------------------------------------------------
// Output with a size limit

/// Bounded UTF-8 output: refuses to grow past `max` and remembers that it did.
class Sink {
public:
    explicit Sink(std::size_t max) : max_(max) {}

    bool append(std::string_view s) {
        if (exceeded_ || out_.size() + s.size() > max_) {
            exceeded_ = true;
            return false;
        }
        out_.append(s);
        return true;
    }
    bool append_cp(char32_t cp) {
        std::string tmp;
        append_utf8(tmp, cp);
        return append(tmp);
    }
    bool replacement() {
        ++replaced_;
        return append(replacement_char);
    }
    [[nodiscard]] bool exceeded() const noexcept { return exceeded_; }
    [[nodiscard]] std::size_t replaced() const noexcept { return replaced_; }
    [[nodiscard]] std::string take() { return std::move(out_); }

private:
    std::string out_;
    std::size_t max_;
    std::size_t replaced_ = 0;
    bool exceeded_ = false;
};

// ---------------------------------------------------------------------------------------------
// iconv

using IconvPtr = CPtr<void, iconv_close>; // per call; iconv_t is not thread-safe

[[nodiscard]] IconvPtr open_iconv(const char* to, const char* from) {
    iconv_t cd = iconv_open(to, from);
    if (cd == reinterpret_cast<iconv_t>(static_cast<std::intptr_t>(-1))) {
        return nullptr;
    }
    return IconvPtr(cd);
}

/// How many bytes an undecodable sequence spans, so one U+FFFD replaces the whole character.
enum class Skip : std::uint8_t {
    One,   ///< single-byte charsets and unknown structure
    Pair,  ///< input built by us from whole 2-byte characters
    Cp932, ///< lead + non-ASCII trail is one character; an ASCII trail is kept (WHATWG)
    EucJp, ///< 2 bytes, 3 with SS3
};

[[nodiscard]] std::size_t skip_len(Skip skip, std::string_view rest) noexcept {
    const auto in = [&](std::size_t i, unsigned lo, unsigned hi) {
        return i < rest.size() && byte_at(rest, i) >= lo && byte_at(rest, i) <= hi;
    };
    std::size_t n = 1;
    switch (skip) {
    case Skip::One:
        break;
    case Skip::Pair:
        n = 2;
        break;
    case Skip::Cp932:
        if ((in(0, 0x81, 0x9F) || in(0, 0xE0, 0xFC)) && in(1, 0x80, 0xFC)) {
            n = 2;
        }
        break;
    case Skip::EucJp:
        if (in(0, 0x8F, 0x8F) && in(1, 0xA1, 0xFE) && in(2, 0xA1, 0xFE)) {
            n = 3;
        } else if ((in(0, 0xA1, 0xFE) || in(0, 0x8E, 0x8E)) && in(1, 0xA1, 0xFE)) {
            n = 2;
        }
        break;
    }
    return std::min(n, rest.size());
}

/// Converts `in` to UTF-8 through `cd`, replacing each undecodable sequence by U+FFFD.
/// Returns false when the sink's limit was hit.
bool run_iconv(iconv_t cd, std::string_view in, Sink& sink, Skip skip) {
    std::array<char, 4096> buf{};
    // iconv's prototype takes char** but never writes through the input pointer.
    char* inp = const_cast<char*>(in.data());
    std::size_t inleft = in.size();
    iconv(cd, nullptr, nullptr, nullptr, nullptr);
    while (inleft > 0) {
        char* outp = buf.data();
        std::size_t outleft = buf.size();
        const std::size_t r = iconv(cd, &inp, &inleft, &outp, &outleft);
        const int err = errno;
        if (!sink.append(std::string_view(buf.data(), buf.size() - outleft))) {
            return false;
        }
        if (r != static_cast<std::size_t>(-1)) {
            break;
        }
        if (err == E2BIG) {
            continue;
        }
        if (err == EILSEQ) {
            const std::size_t n = skip_len(skip, std::string_view(inp, inleft));
            inp += n;
            inleft -= n;
            iconv(cd, nullptr, nullptr, nullptr, nullptr);
        } else { // EINVAL: truncated character at the end; anything else: give up visibly
            inleft = 0;
        }
        if (!sink.replacement()) {
            return false;
        }
    }
    char* outp = buf.data();
    std::size_t outleft = buf.size();
    iconv(cd, nullptr, nullptr, &outp, &outleft);
    return sink.append(std::string_view(buf.data(), buf.size() - outleft));
}

enum class Status : std::uint8_t { Ok, Exceeded, NoConverter };

// ---------------------------------------------------------------------------------------------
// Our own decoders

Status decode_ascii(std::string_view in, Sink& sink) {
    std::size_t start = 0;
    for (std::size_t i = 0; i <= in.size(); ++i) {
        if (i == in.size() || byte_at(in, i) >= 0x80) {
            if (!sink.append(in.substr(start, i - start))) {
                return Status::Exceeded;
            }
            if (i < in.size() && !sink.replacement()) {
                return Status::Exceeded;
            }
            start = i + 1;
        }
    }
    return Status::Ok;
}

Status decode_utf8(std::string_view in, Sink& sink) {
    std::size_t start = 0;
    std::size_t i = 0;
    while (i < in.size()) {
        std::size_t bad = 0;
        char32_t cp = 0;
        const std::size_t n = utf8_seq(in, i, bad, cp);
        if (n > 0) {
            i += n;
            continue;
        }
        if (!sink.append(in.substr(start, i - start)) || !sink.replacement()) {
            return Status::Exceeded;
        }
        i += bad;
        start = i;
    }
    return sink.append(in.substr(start)) ? Status::Ok : Status::Exceeded;
}

/// JIS X 0208 row/cell bytes (0x21-0x7E each) to Shift_JIS. NEC row 13 lands on 0x87xx and the
/// NEC-selected IBM rows 89-92 on 0xED40-0xEEFC, exactly where CP932 has them.
[[nodiscard]] constexpr std::pair<unsigned char, unsigned char> jis_to_sjis(unsigned j1,
                                                                            unsigned j2) noexcept {
    const unsigned s1 = ((j1 + 1) >> 1) + (j1 <= 0x5E ? 0x70u : 0xB0u);
    const unsigned s2 = j2 + ((j1 & 1u) != 0 ? (j2 >= 0x60 ? 0x20u : 0x1Fu) : 0x7Eu);
    return {static_cast<unsigned char>(s1), static_cast<unsigned char>(s2)};
}

/// Shift_JIS to JIS X 0208 row/cell bytes; 0 when the lead byte is outside 0x81-0x9F/0xE0-0xEF.
[[nodiscard]] constexpr std::uint16_t sjis_to_jis(unsigned s1, unsigned s2) noexcept {
    if (!((s1 >= 0x81 && s1 <= 0x9F) || (s1 >= 0xE0 && s1 <= 0xEF)) || s2 < 0x40 || s2 > 0xFC ||
        s2 == 0x7F) {
        return 0;
    }
    unsigned j1 = (s1 - (s1 <= 0x9F ? 0x70u : 0xB0u)) << 1;
    unsigned j2 = s2;
    if (s2 < 0x9F) {
        j1 -= 1;
        j2 -= (s2 >= 0x80 ? 0x20u : 0x1Fu);
    } else {
        j2 -= 0x7E;
    }
    return static_cast<std::uint16_t>((j1 << 8) | j2);
}

/// ISO-2022-JP (RFC 1468) plus what Windows sends: NEC row 13 and IBM rows 89-92 (CP50220/1),
/// ESC ( I and SO/SI halfwidth katakana, JIS X 0212 (ESC $ ( D). 2-byte characters are turned
/// into Shift_JIS and decoded by iconv's CP932, which has all the extensions; glibc's own
/// ISO-2022-JP converter rejects them and loses the rest of the text.
Status decode_iso2022jp(std::string_view in, Sink& sink) {
    const IconvPtr cp932 = open_iconv("UTF-8", "CP932");
    if (!cp932) {
        return Status::NoConverter;
    }
    IconvPtr euc; // for JIS X 0212, opened when first needed
    enum class Mode : std::uint8_t { Ascii, Jis0208, Kana, Jis0212 };
    Mode mode = Mode::Ascii;
    bool shifted = false; // SO seen: halfwidth katakana until SI
    std::string sjis;     // pending 2-byte characters as Shift_JIS
    const auto flush = [&] {
        const bool ok = sjis.empty() || run_iconv(cp932.get(), sjis, sink, Skip::Pair);
        sjis.clear();
        return ok;
    };
    const auto is_graphic = [&](std::size_t i) {
        return i < in.size() && byte_at(in, i) >= 0x21 && byte_at(in, i) <= 0x7E;
    };
    std::size_t i = 0;
    while (i < in.size()) {
        const unsigned char b = byte_at(in, i);
        if ((mode != Mode::Jis0208 || shifted || b < 0x21 || b > 0x7E) && !flush()) {
            return Status::Exceeded;
        }
        bool ok = true;
        if (b == 0x1B) {
            const std::string_view rest = in.substr(i);
            std::size_t n = 3;
            if (rest.starts_with("\x1b(B") || rest.starts_with("\x1b(J")) {
                mode = Mode::Ascii; // JIS Roman is read as ASCII: senders use it for ASCII text
            } else if (rest.starts_with("\x1b(I")) {
                mode = Mode::Kana;
            } else if (rest.starts_with("\x1b$@") || rest.starts_with("\x1b$B")) {
                mode = Mode::Jis0208;
            } else if (rest.starts_with("\x1b$(@") || rest.starts_with("\x1b$(B")) {
                mode = Mode::Jis0208;
                n = 4;
            } else if (rest.starts_with("\x1b$(D")) {
                mode = Mode::Jis0212;
                n = 4;
            } else if (rest.starts_with("\x1b&@")) {
                // JIS X 0208-1990 announcer, followed by ESC $ B
            } else {
                n = 1;
                ok = sink.replacement();
            }
            shifted = false;
            i += n;
        } else if (b == 0x0E || b == 0x0F) {
            shifted = b == 0x0E;
            ++i;
        } else if (b >= 0x80) {
            ok = sink.replacement();
            ++i;
        } else if (b == '\n' || b == '\r' || b < 0x21 || b == 0x7F) {
            if (b == '\n') { // a line end returns to ASCII (WHATWG), repairing lazy encoders
                mode = Mode::Ascii;
                shifted = false;
            }
            ok = sink.append(in.substr(i, 1));
            ++i;
        } else if (shifted || mode == Mode::Kana) {
            ok = b <= 0x5F ? sink.append_cp(0xFF61 + (b - 0x21u)) : sink.replacement();
            ++i;
        } else if (mode == Mode::Ascii) {
            ok = sink.append(in.substr(i, 1));
            ++i;
        } else if (!is_graphic(i + 1)) {
            ok = sink.replacement();
            ++i;
        } else if (mode == Mode::Jis0208) {
            const auto [s1, s2] = jis_to_sjis(b, byte_at(in, i + 1));
            sjis.push_back(static_cast<char>(s1));
            sjis.push_back(static_cast<char>(s2));
            i += 2;
        } else { // JIS X 0212 through EUC-JP's SS3
            if (!euc) {
                euc = open_iconv("UTF-8", "EUC-JP-MS");
                if (!euc) {
                    euc = open_iconv("UTF-8", "EUC-JP");
                }
                if (!euc) {
                    return Status::NoConverter;
                }
            }
            const std::array<char, 3> ss3{'\x8F', static_cast<char>(b | 0x80u),
                                          static_cast<char>(byte_at(in, i + 1) | 0x80u)};
            ok = run_iconv(euc.get(), std::string_view(ss3.data(), ss3.size()), sink, Skip::EucJp);
            i += 2;
        }
        if (!ok) {
            return Status::Exceeded;
        }
    }
    return flush() ? Status::Ok : Status::Exceeded;
}

// ---------------------------------------------------------------------------------------------
// Detection

[[nodiscard]] bool has_jis_escape(std::string_view s) noexcept {
    for (const std::string_view esc : {"\x1b$B", "\x1b$@", "\x1b(J", "\x1b(I", "\x1b$(D"}) {
        if (s.find(esc) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

constexpr long error_weight = -10;

/// How plausible bytes are as one charset: kana and kanji score, user-defined and invalid cost.
struct Score {
    long score = 0;
    std::size_t errors = 0;
    std::size_t kana = 0;  ///< fullwidth hiragana/katakana characters
    std::size_t pairs = 0; ///< multi-byte characters
};

[[nodiscard]] Score score_cp932(std::string_view s) noexcept {
    Score r;
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned b = byte_at(s, i);
        if (b < 0x80) {
            ++i;
            continue;
        }
        if (b >= 0xA1 && b <= 0xDF) {
            r.score += 2;
            ++i;
            continue;
        }
        const bool lead = (b >= 0x81 && b <= 0x9F) || (b >= 0xE0 && b <= 0xFC);
        const unsigned t = i + 1 < s.size() ? byte_at(s, i + 1) : 0u;
        const bool trail = t >= 0x40 && t <= 0xFC && t != 0x7F;
        const bool unassigned = b == 0x85 || b == 0x86 || b == 0xEB || b == 0xEC || b == 0xEF;
        if (!lead || !trail || unassigned) {
            r.score += error_weight;
            ++r.errors;
            ++i;
            continue;
        }
        ++r.pairs;
        if (b == 0x82 || b == 0x83) {
            r.score += 6;
            ++r.kana;
        } else if (b == 0x81) {
            r.score += 3;
        } else if (b == 0x8E && t >= 0xA1 && t <= 0xDF) {
            r.score += 1; // also EUC-JP's halfwidth katakana (SS2): weak evidence either way
        } else if ((b >= 0x88 && b <= 0x9F) || (b >= 0xE0 && b <= 0xEA)) {
            r.score += 4;
        } else if (b >= 0xF0 && b <= 0xF9) {
            r.score -= 2; // user-defined area: rare in real mail
        } else {
            r.score += 2; // 0x84, NEC row 13, IBM extensions
        }
        i += 2;
    }
    return r;
}

[[nodiscard]] Score score_eucjp(std::string_view s) noexcept {
    Score r;
    std::size_t i = 0;
    const auto hi = [&](std::size_t k) {
        return k < s.size() && byte_at(s, k) >= 0xA1 && byte_at(s, k) <= 0xFE;
    };
    while (i < s.size()) {
        const unsigned b = byte_at(s, i);
        if (b < 0x80) {
            ++i;
        } else if (b == 0x8E && i + 1 < s.size() && byte_at(s, i + 1) >= 0xA1 &&
                   byte_at(s, i + 1) <= 0xDF) {
            r.score += 2;
            ++r.pairs;
            i += 2;
        } else if (b == 0x8F && hi(i + 1) && hi(i + 2)) {
            r.score += 1;
            ++r.pairs;
            i += 3;
        } else if (hi(i) && hi(i + 1) && !(b >= 0xA9 && b <= 0xAC) && b != 0xAE && b != 0xAF) {
            ++r.pairs;
            if (b == 0xA4 || b == 0xA5) {
                r.score += 6;
                ++r.kana;
            } else if (b == 0xA1) {
                r.score += 3;
            } else if (b >= 0xB0 && b <= 0xF4) {
                r.score += 3;
            } else if ((b >= 0xF5 && b <= 0xF8) || b >= 0xFD) {
                r.score -= 2; // user-defined area
            } else {
                r.score += 2; // symbols, NEC row 13, IBM extensions (rows 89-92)
            }
            i += 2;
        } else {
            r.score += error_weight;
            ++r.errors;
            ++i;
        }
    }
    return r;
}

/// Plausibility of `s` as UTF-8 with some damage.
[[nodiscard]] Score score_utf8(std::string_view s) noexcept {
    Score r;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t bad = 0;
        char32_t cp = 0;
        const std::size_t n = utf8_seq(s, i, bad, cp);
        if (n == 0) {
            r.score += error_weight;
            ++r.errors;
            i += bad;
        } else {
            r.score += n > 1 ? static_cast<long>(2 * n) : 0;
            i += n;
        }
    }
    return r;
}

struct Detection {
    std::string charset;
    /// The bytes cannot be another charset: 7-bit, strict UTF-8, or EUC-JP without errors whose
    /// reading is at least a quarter kana (the same bytes read as CP932 are halfwidth katakana
    /// and odd kanji without errors, so only this evidence tells them apart).
    bool confident = false;
};

[[nodiscard]] Detection analyze(std::string_view bytes) {
    const bool eight_bit = std::any_of(
        bytes.begin(), bytes.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    if (!eight_bit) {
        return {has_jis_escape(bytes) ? "iso-2022-jp" : "us-ascii", true};
    }
    if (is_valid_utf8(bytes)) {
        return {"utf-8", true};
    }
    const Score sj = score_cp932(bytes);
    const Score eu = score_eucjp(bytes);
    const Score u8 = score_utf8(bytes);
    if (u8.score > sj.score && u8.score > eu.score) {
        return {"utf-8", false};
    }
    if (eu.score > sj.score) {
        return {"euc-jp", eu.errors == 0 && eu.kana > 0 && eu.kana * 4 >= eu.pairs};
    }
    return {"cp932", false};
}

// ---------------------------------------------------------------------------------------------
// Charset names

struct Alias {
    std::string_view label;
    std::string_view canonical;
};

constexpr std::array aliases{
    Alias{"shift_jis", "cp932"},
    Alias{"shift-jis", "cp932"},
    Alias{"sjis", "cp932"},
    Alias{"x-sjis", "cp932"},
    Alias{"s-jis", "cp932"},
    Alias{"ms_kanji", "cp932"},
    Alias{"csshiftjis", "cp932"},
    Alias{"windows-31j", "cp932"},
    Alias{"cswindows31j", "cp932"},
    Alias{"ms932", "cp932"},
    Alias{"cp932", "cp932"},
    Alias{"x-ms-cp932", "cp932"},
    Alias{"ibm-943", "cp932"},
    Alias{"iso-2022-jp", "iso-2022-jp"},
    Alias{"iso-2022-jp-1", "iso-2022-jp"},
    Alias{"iso-2022-jp-2", "iso-2022-jp"},
    Alias{"iso-2022-jp-3", "iso-2022-jp"},
    Alias{"iso-2022-jp-ms", "iso-2022-jp"},
    Alias{"csiso2022jp", "iso-2022-jp"},
    Alias{"csiso2022jp2", "iso-2022-jp"},
    Alias{"cp50220", "iso-2022-jp"},
    Alias{"cp50221", "iso-2022-jp"},
    Alias{"cp50222", "iso-2022-jp"},
    Alias{"jis", "iso-2022-jp"},
    Alias{"euc-jp", "euc-jp"},
    Alias{"eucjp", "euc-jp"},
    Alias{"x-euc-jp", "euc-jp"},
    Alias{"eucjp-ms", "euc-jp"},
    Alias{"euc-jp-ms", "euc-jp"},
    Alias{"eucjp-open", "euc-jp"},
    Alias{"eucjp-win", "euc-jp"},
    Alias{"cseucpkdfmtjapanese", "euc-jp"},
    Alias{"ujis", "euc-jp"},
    Alias{"cp51932", "euc-jp"},
    Alias{"utf-8", "utf-8"},
    Alias{"utf8", "utf-8"},
    Alias{"unicode-1-1-utf-8", "utf-8"},
    Alias{"x-unicode20utf8", "utf-8"},
    Alias{"us-ascii", "us-ascii"},
    Alias{"ascii", "us-ascii"},
    Alias{"ansi_x3.4-1968", "us-ascii"},
    Alias{"ansi_x3.4-1986", "us-ascii"},
    Alias{"iso646-us", "us-ascii"},
    Alias{"iso-ir-6", "us-ascii"},
    Alias{"csascii", "us-ascii"},
    Alias{"us", "us-ascii"},
    Alias{"cp367", "us-ascii"},
    Alias{"ibm367", "us-ascii"},
    Alias{"iso-8859-1", "windows-1252"},
    Alias{"iso8859-1", "windows-1252"},
    Alias{"iso_8859-1", "windows-1252"},
    Alias{"latin1", "windows-1252"},
    Alias{"l1", "windows-1252"},
    Alias{"cp819", "windows-1252"},
    Alias{"ibm819", "windows-1252"},
    Alias{"csisolatin1", "windows-1252"},
    Alias{"iso-ir-100", "windows-1252"},
    Alias{"windows-1252", "windows-1252"},
    Alias{"cp1252", "windows-1252"},
    Alias{"x-cp1252", "windows-1252"},
    Alias{"ks_c_5601-1987", "euc-kr"},
    Alias{"ks_c_5601-1989", "euc-kr"},
    Alias{"ksc5601", "euc-kr"},
    Alias{"windows-949", "euc-kr"},
    Alias{"cp949", "euc-kr"},
    Alias{"gb2312", "gbk"},
    Alias{"x-gbk", "gbk"},
    Alias{"csgb2312", "gbk"},
    Alias{"gb_2312-80", "gbk"},
    Alias{"cp936", "gbk"},
};

/// The iconv name for a canonical charset (ours differ from glibc's in a few places).
[[nodiscard]] std::string iconv_name(std::string_view canon) {
    if (canon == "windows-1252") {
        return "CP1252";
    }
    if (canon == "euc-kr") {
        return "CP949"; // what ks_c_5601-1987 senders (Outlook) really use; superset of EUC-KR
    }
    return std::string(canon);
}

/// Charsets in which the bytes of ASCII do not mean ASCII; never second-guessed.
[[nodiscard]] bool ascii_compatible(std::string_view canon) noexcept {
    for (const std::string_view p : {"utf-16", "utf-32", "ucs-2", "ucs-4", "utf-7", "unicode",
                                     "iso-2022-kr", "iso-2022-cn", "hz", "csunicode"}) {
        if (canon.starts_with(p)) {
            return false;
        }
    }
    return true;
}

[[nodiscard]] bool builtin(std::string_view canon) noexcept {
    return canon == "us-ascii" || canon == "utf-8" || canon == "iso-2022-jp" || canon == "cp932" ||
           canon == "euc-jp";
}

[[nodiscard]] bool iconv_knows(std::string_view canon) {
    // glibc reads suffixes such as "//IGNORE" from the name, which would drop bytes silently.
    const bool plain = std::all_of(canon.begin(), canon.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == ':';
    });
    return plain && !canon.empty() &&
           static_cast<bool>(open_iconv("UTF-8", iconv_name(canon).c_str()));
}

/// Decodes `bytes` as `canon` (a name from canonical_charset that is builtin or iconv_knows).
Status decode_as(std::string_view bytes, std::string_view canon, Sink& sink) {
    if (canon == "us-ascii") {
        return decode_ascii(bytes, sink);
    }
    if (canon == "utf-8") {
        return decode_utf8(bytes, sink);
    }
    if (canon == "iso-2022-jp") {
        return decode_iso2022jp(bytes, sink);
    }
    IconvPtr cd;
    Skip skip = Skip::One;
    if (canon == "cp932") {
        cd = open_iconv("UTF-8", "CP932");
        skip = Skip::Cp932;
    } else if (canon == "euc-jp") {
        cd = open_iconv("UTF-8", "EUC-JP-MS");
        if (!cd) {
            cd = open_iconv("UTF-8", "EUC-JP");
        }
        skip = Skip::EucJp;
    } else {
        cd = open_iconv("UTF-8", iconv_name(canon).c_str());
    }
    if (!cd) {
        return Status::NoConverter;
    }
    if (skip == Skip::EucJp) {
        // glibc's EUC-JP converters read 0x80-0xA0 as C1 controls; in EUC-JP they are errors.
        std::size_t start = 0;
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            const unsigned char b = byte_at(bytes, i);
            if ((b >= 0x80 && b <= 0xA0 && b != 0x8E && b != 0x8F) || b == 0xFF) {
                if (!run_iconv(cd.get(), bytes.substr(start, i - start), sink, skip) ||
                    !sink.replacement()) {
                    return Status::Exceeded;
                }
                start = i + 1;
            }
        }
        bytes = bytes.substr(start);
    }
    return run_iconv(cd.get(), bytes, sink, skip) ? Status::Ok : Status::Exceeded;
}

struct Attempt {
    Status status = Status::Ok;
    std::string utf8;
    std::size_t replaced = 0;
};

[[nodiscard]] Attempt attempt(std::string_view bytes, std::string_view canon, std::size_t max) {
    Sink sink(max);
    Attempt a;
    a.status = decode_as(bytes, canon, sink);
    a.replaced = sink.replaced();
    a.utf8 = sink.take();
    if (a.status == Status::Ok && !is_valid_utf8(a.utf8)) {
        a.utf8 = sanitize_utf8(a.utf8, a.replaced); // iconv output is trusted only after a check
        if (a.utf8.size() > max) {
            a.status = Status::Exceeded;
        }
    }
    return a;
}

[[nodiscard]] Result<Decoded> finish(Attempt a, std::string_view canon, bool mismatch) {
    if (a.status == Status::Exceeded) {
        return fail(ErrorCode::LimitExceeded, "charset.output_exceeded");
    }
    if (a.status == Status::NoConverter) {
        return fail(ErrorCode::Internal, "charset.iconv_failed", std::string(canon));
    }
    return Decoded{std::move(a.utf8), std::string(canon), mismatch, a.replaced};
}

// ---------------------------------------------------------------------------------------------
// Encoding ISO-2022-JP

/// Unicode -> JIS row/cell for every character CP932 maps in JIS X 0208 rows 1-84, NEC row 13 and
/// the NEC-selected IBM rows 89-92; the first (lowest) row wins, as in Windows. Sorted by code
/// point. Built once from iconv's own CP932 table, so both directions agree.
[[nodiscard]] std::vector<std::pair<char32_t, std::uint16_t>> build_jis_table() {
    std::vector<std::pair<char32_t, std::uint16_t>> table;
    const IconvPtr cd = open_iconv("UTF-8", "CP932");
    if (!cd) {
        return table;
    }
    table.reserve(8000);
    for (unsigned j1 = 0x21; j1 <= 0x7C; ++j1) {
        if (j1 > 0x74 && j1 < 0x79) {
            continue; // rows 85-88 are not assigned in CP932
        }
        for (unsigned j2 = 0x21; j2 <= 0x7E; ++j2) {
            const auto [s1, s2] = jis_to_sjis(j1, j2);
            const std::array<char, 2> in{static_cast<char>(s1), static_cast<char>(s2)};
            Sink sink(16);
            if (!run_iconv(cd.get(), std::string_view(in.data(), in.size()), sink, Skip::Pair) ||
                sink.replaced() != 0) {
                continue;
            }
            const std::string utf8 = sink.take();
            std::size_t bad = 0;
            char32_t cp = 0;
            if (utf8.empty() || utf8_seq(utf8, 0, bad, cp) != utf8.size()) {
                continue;
            }
            table.emplace_back(cp, static_cast<std::uint16_t>((j1 << 8) | j2));
        }
    }
    // Stable: among equal code points the first inserted (lowest row) stays first.
    std::stable_sort(table.begin(), table.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    table.erase(std::unique(table.begin(), table.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                table.end());
    return table;
}

[[nodiscard]] const std::vector<std::pair<char32_t, std::uint16_t>>& jis_table() {
    static const auto table = build_jis_table(); // immutable after thread-safe initialisation
    return table;
}

[[nodiscard]] std::uint16_t lookup_jis(char32_t cp) {
    const auto& t = jis_table();
    const auto it = std::lower_bound(t.begin(), t.end(), cp,
                                     [](const auto& e, char32_t c) { return e.first < c; });
    return (it != t.end() && it->first == cp) ? it->second : std::uint16_t{0};
}

/// JIS / ISO-8859 forms that CP932 spells differently; mapped so they do not become 〓.
[[nodiscard]] char32_t cp932_variant(char32_t cp) noexcept {
    switch (cp) {
    case 0x301C: // WAVE DASH
        return 0xFF5E;
    case 0x2016: // DOUBLE VERTICAL LINE
        return 0x2225;
    case 0x2212: // MINUS SIGN
        return 0xFF0D;
    case 0x2014: // EM DASH
        return 0x2015;
    case 0x00A2:
        return 0xFFE0;
    case 0x00A3:
        return 0xFFE1;
    case 0x00AC:
        return 0xFFE2;
    case 0x00A5:
        return 0xFFE5;
    case 0x203E:
        return 0xFFE3;
    case 0x00A6:
        return 0xFFE4;
    default:
        return cp;
    }
}

/// Halfwidth katakana U+FF61-FF9F as fullwidth.
constexpr std::array<char16_t, 63> fullwidth_kana{
    u'。', u'「', u'」', u'、', u'・', u'ヲ', u'ァ', u'ィ', u'ゥ', u'ェ', u'ォ', u'ャ', u'ュ',
    u'ョ', u'ッ', u'ー', u'ア', u'イ', u'ウ', u'エ', u'オ', u'カ', u'キ', u'ク', u'ケ', u'コ',
    u'サ', u'シ', u'ス', u'セ', u'ソ', u'タ', u'チ', u'ツ', u'テ', u'ト', u'ナ', u'ニ', u'ヌ',
    u'ネ', u'ノ', u'ハ', u'ヒ', u'フ', u'ヘ', u'ホ', u'マ', u'ミ', u'ム', u'メ', u'モ', u'ヤ',
    u'ユ', u'ヨ', u'ラ', u'リ', u'ル', u'レ', u'ロ', u'ワ', u'ン', u'゛', u'゜'};

/// Combines a fullwidth katakana with a following halfwidth (semi-)voiced mark; 0 if it cannot.
[[nodiscard]] constexpr char32_t combine_voiced(char32_t base, char32_t mark) noexcept {
    const bool ka_to = base >= u'カ' && base <= u'ト' && (base - u'カ') % 2 == 0 && base != u'ッ';
    const bool ha_ho = base >= u'ハ' && base <= u'ホ' && (base - u'ハ') % 3 == 0;
    if (mark == 0xFF9E) {
        if (base == u'ウ') {
            return u'ヴ';
        }
        if (ka_to || base == u'ツ' || base == u'テ' || base == u'ト' || ha_ho) {
            return base + 1;
        }
    } else if (mark == 0xFF9F && ha_ho) {
        return base + 2;
    }
    return 0;
}

} // namespace

// -------------------------------------------------------------------------------------------------

std::string canonical_charset(std::string_view label) {
    while (!label.empty() && (label.front() == ' ' || label.front() == '\t' ||
                              label.front() == '"' || label.front() == '\'')) {
        label.remove_prefix(1);
    }
    while (!label.empty() && (label.back() == ' ' || label.back() == '\t' || label.back() == '"' ||
                              label.back() == '\'')) {
        label.remove_suffix(1);
    }
    std::string lower = to_lower(label);
    for (const Alias& a : aliases) {
        if (a.label == lower) {
            return std::string(a.canonical);
        }
    }
    return lower;
}

bool is_valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        // ASCII runs, eight bytes at a time.
        while (i + 8 <= s.size()) {
            std::uint64_t w = 0;
            std::memcpy(&w, s.data() + i, 8);
            if ((w & 0x8080808080808080ULL) != 0) {
                break;
            }
            i += 8;
        }
        if (i >= s.size()) {
            break;
        }
        if (byte_at(s, i) < 0x80) {
            ++i;
            continue;
        }
        std::size_t bad = 0;
        char32_t cp = 0;
        const std::size_t n = utf8_seq(s, i, bad, cp);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

std::string sanitize_utf8(std::string_view s, std::size_t& replaced) {
    Sink sink(static_cast<std::size_t>(-1));
    (void)decode_utf8(s, sink);
    replaced += sink.replaced();
    return sink.take();
}

std::string detect_charset(std::string_view bytes) {
    return analyze(bytes).charset;
}

Result<Decoded> decode_to_utf8(std::string_view bytes, std::string_view declared,
                               std::size_t max_output) {
    const std::string canon = canonical_charset(declared);
    // Fast path for the common case: text labelled UTF-8 (or US-ASCII) that is exactly that.
    // Without escape sequences no other charset can claim such bytes, so the detection pass
    // and the decoder have nothing to add.
    if ((canon == "utf-8" || canon == "us-ascii") && bytes.find('\x1b') == std::string_view::npos &&
        is_valid_utf8(bytes) &&
        (canon == "utf-8" || std::all_of(bytes.begin(), bytes.end(), [](char c) {
             return static_cast<unsigned char>(c) < 0x80;
         }))) {
        if (bytes.size() > max_output) {
            return fail(ErrorCode::LimitExceeded, "charset.output_exceeded",
                        "size=" + std::to_string(bytes.size()));
        }
        Decoded d;
        d.utf8.assign(bytes);
        d.charset = canon;
        return d;
    }
    const Detection detected = analyze(bytes);
    if (canon.empty() || (!builtin(canon) && !iconv_knows(canon))) {
        return finish(attempt(bytes, detected.charset, max_output), detected.charset, true);
    }
    Attempt as_declared = attempt(bytes, canon, max_output);
    if (as_declared.status != Status::Ok || !ascii_compatible(canon) || detected.charset == canon ||
        detected.charset == "us-ascii") {
        return finish(std::move(as_declared), canon, false);
    }
    // The label is contradicted when ESC sequences of ISO-2022-JP or valid multi-byte UTF-8 appear
    // (neither occurs in real text of another charset), or when the declared charset cannot
    // decode the bytes and the detected one does clearly better (at most a quarter of the
    // replacements), or when EUC-JP is labelled Shift_JIS (CP932 decodes EUC-JP bytes without
    // errors, into halfwidth katakana mojibake; the reverse always hits errors).
    const bool unmistakable =
        detected.confident && (detected.charset == "iso-2022-jp" || detected.charset == "utf-8");
    const bool swapped = detected.confident && canon == "cp932" && detected.charset == "euc-jp";
    if (!unmistakable && !swapped && as_declared.replaced == 0) {
        return finish(std::move(as_declared), canon, false);
    }
    Attempt as_detected = attempt(bytes, detected.charset, max_output);
    if (as_detected.status == Status::Exceeded) {
        return finish(std::move(as_detected), detected.charset, true);
    }
    const bool better = as_detected.status == Status::Ok &&
                        (unmistakable || as_detected.replaced * 4 <= as_declared.replaced ||
                         (swapped && as_detected.replaced == 0));
    if (better) {
        return finish(std::move(as_detected), detected.charset, true);
    }
    return finish(std::move(as_declared), canon, false);
}

Encoded encode_iso2022jp(std::string_view utf8) {
    Encoded enc;
    enc.bytes.reserve(utf8.size() + 16);
    bool jis_mode = false;
    const auto put_jis = [&](std::uint16_t jis) {
        if (!jis_mode) {
            enc.bytes += "\x1b$B";
            jis_mode = true;
        }
        enc.bytes.push_back(static_cast<char>(jis >> 8));
        enc.bytes.push_back(static_cast<char>(jis & 0xFF));
    };
    std::size_t i = 0;
    while (i < utf8.size()) {
        std::size_t bad = 0;
        char32_t cp = 0;
        const std::size_t n = utf8_seq(utf8, i, bad, cp);
        if (n == 0) {
            ++enc.replaced;
            put_jis(geta_jis);
            i += bad;
            continue;
        }
        i += n;
        if (cp == 0x1B || cp == 0x0E || cp == 0x0F) {
            ++enc.replaced; // would switch the reader's character set: never passed through
            put_jis(geta_jis);
            continue;
        }
        if (cp < 0x80) {
            if (jis_mode) {
                enc.bytes += "\x1b(B";
                jis_mode = false;
            }
            enc.bytes.push_back(static_cast<char>(cp));
            continue;
        }
        if (cp >= 0xFF61 && cp <= 0xFF9F) {
            cp = fullwidth_kana[cp - 0xFF61];
            std::size_t bad2 = 0;
            char32_t next = 0;
            const std::size_t n2 = i < utf8.size() ? utf8_seq(utf8, i, bad2, next) : 0;
            if (n2 > 0) {
                if (const char32_t voiced = combine_voiced(cp, next); voiced != 0) {
                    cp = voiced;
                    i += n2;
                }
            }
        }
        std::uint16_t jis = lookup_jis(cp);
        if (jis == 0) {
            jis = lookup_jis(cp932_variant(cp));
        }
        if (jis == 0 || cp == geta_mark) {
            if (jis == 0) {
                ++enc.replaced;
            }
            jis = geta_jis;
        }
        put_jis(jis);
    }
    if (jis_mode) {
        enc.bytes += "\x1b(B";
    }
    return enc;
}

Cleaned clean_text(std::string_view utf8) {
    std::size_t ignored = 0;
    std::string valid;
    if (!is_valid_utf8(utf8)) {
        valid = sanitize_utf8(utf8, ignored);
        utf8 = valid;
    }
    Cleaned c;
    c.text.reserve(utf8.size());
    // Byte-level scan over valid UTF-8: runs of ordinary bytes are copied whole; only the lead
    // bytes of the characters removed (C0/C1 controls, BOM, bidi controls) need a closer look.
    const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
    const std::size_t n = utf8.size();
    std::size_t run = 0;
    std::size_t i = 0;
    auto flush = [&](std::size_t upto) { c.text.append(utf8.data() + run, upto - run); };
    while (i < n) {
        const unsigned char b = p[i];
        std::size_t drop = 0;
        bool cr = false;
        if (b < 0x20) {
            if (b == '\r') {
                cr = true;
            } else if (b != '\t' && b != '\n') {
                drop = 1;
            }
        } else if (b == 0x7F) {
            drop = 1;
        } else if (b == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) {
            drop = 2; // U+0080..U+009F
        } else if (b == 0xEF && i + 2 < n && p[i + 1] == 0xBB && p[i + 2] == 0xBF) {
            drop = 3; // U+FEFF
        } else if (b == 0xE2 && i + 2 < n &&
                   ((p[i + 1] == 0x80 && p[i + 2] >= 0xAA && p[i + 2] <= 0xAE) ||
                    (p[i + 1] == 0x81 && p[i + 2] >= 0xA6 && p[i + 2] <= 0xA9))) {
            drop = 3; // U+202A..U+202E, U+2066..U+2069
        }
        if (cr) {
            flush(i);
            ++i;
            if (i >= n || p[i] != '\n') {
                c.text.push_back('\n');
            }
            run = i;
        } else if (drop > 0) {
            flush(i);
            i += drop;
            run = i;
            ++c.removed;
        } else {
            ++i;
        }
    }
    flush(n);
    return c;
}

} // namespace mugaika::filters::text
