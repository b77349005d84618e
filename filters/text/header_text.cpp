#include "filters/text/header_text.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "filters/text/charset.hpp"

namespace mugaika::filters::text {
namespace {

[[nodiscard]] constexpr unsigned char byte_at(std::string_view s, std::size_t i) noexcept {
    return static_cast<unsigned char>(s[i]);
}

[[nodiscard]] constexpr bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t';
}

[[nodiscard]] int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lx = (x >= 'A' && x <= 'Z') ? x - 'A' + 'a' : x;
               const auto ly = (y >= 'A' && y <= 'Z') ? y - 'A' + 'a' : y;
               return lx == ly;
           });
}

/// Output of any decoder is at most 4 bytes of UTF-8 per input byte; this bound never truncates.
[[nodiscard]] std::size_t output_bound(std::size_t input) noexcept {
    return 4 * input + 64;
}

/// Decodes bytes in a charset to UTF-8; on a (theoretical) failure keeps them visibly.
[[nodiscard]] std::string to_utf8(std::string_view bytes, std::string_view charset) {
    if (auto d = decode_to_utf8(bytes, charset, output_bound(bytes.size()))) {
        return std::move(d->utf8);
    }
    std::size_t ignored = 0;
    return sanitize_utf8(bytes, ignored);
}

/// Final shape of header text: valid UTF-8, no controls, on one line.
[[nodiscard]] std::string one_line(std::string_view utf8) {
    std::string text = clean_text(utf8).text;
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
    return text;
}

/// A parameter value (a file name): valid UTF-8 with line breaks turned into spaces, but bidi,
/// invisible and control characters kept, so that the file-name checks can see and flag them.
[[nodiscard]] std::string param_text(std::string_view utf8) {
    std::size_t ignored = 0;
    std::string text = sanitize_utf8(utf8, ignored);
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return text;
}

/// Removes line breaks of folding (CRLF followed by WSP keeps the WSP; stray CR/LF go too).
[[nodiscard]] std::string unfold(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (const char c : raw) {
        if (c != '\r' && c != '\n') {
            out.push_back(c);
        }
    }
    return out;
}

/// Streaming base64 decoder: '=' ends a quantum (dropping partial bits), so it reads words that
/// split a quantum and words that are padded alike.
class Base64Stream {
public:
    void feed(std::string_view text, std::string& out) {
        for (const char c : text) {
            const int v = value(c);
            if (v < 0) {
                bits_ = 0;
                nbits_ = 0;
                continue;
            }
            bits_ = (bits_ << 6) | static_cast<std::uint32_t>(v);
            nbits_ += 6;
            if (nbits_ >= 8) {
                nbits_ -= 8;
                out.push_back(static_cast<char>((bits_ >> nbits_) & 0xFFu));
            }
        }
    }
    void reset() noexcept {
        bits_ = 0;
        nbits_ = 0;
    }
    [[nodiscard]] static int value(char c) noexcept {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '+') {
            return 62;
        }
        if (c == '/') {
            return 63;
        }
        return -1;
    }

private:
    std::uint32_t bits_ = 0;
    int nbits_ = 0;
};

void decode_q(std::string_view text, std::string& out) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '_') {
            out.push_back(' ');
        } else if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
}

struct EncodedWord {
    std::string charset; ///< canonical, RFC 2231 language suffix removed
    bool base64 = false;
    std::string_view text;
    std::size_t end = 0; ///< index just past "?="
};

/// Longest encoded-word text accepted (RFC 2047 allows 75 characters in all; senders exceed it).
constexpr std::size_t max_word_text = 1024;

/// Parses an encoded word starting at s[pos] ("=?"); nullopt when malformed.
[[nodiscard]] std::optional<EncodedWord> parse_encoded_word(std::string_view s, std::size_t pos) {
    const std::size_t cs_begin = pos + 2;
    const std::size_t cs_end = s.find('?', cs_begin);
    if (cs_end == std::string_view::npos || cs_end == cs_begin || cs_end - cs_begin > 64 ||
        cs_end + 2 >= s.size() || s[cs_end + 2] != '?') {
        return std::nullopt;
    }
    std::string_view charset = s.substr(cs_begin, cs_end - cs_begin);
    if (std::any_of(charset.begin(), charset.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u <= 0x20 || u >= 0x7F || c == '=' || c == '"' || c == '(' || c == ')';
        })) {
        return std::nullopt;
    }
    const char enc = s[cs_end + 1];
    if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q') {
        return std::nullopt;
    }
    const std::size_t text_begin = cs_end + 3;
    // Bounded search: keeps a header full of "=?x?Q?" starts linear, not quadratic.
    const std::size_t found = s.substr(text_begin, max_word_text + 2).find("?=");
    if (found == std::string_view::npos) {
        return std::nullopt;
    }
    const std::size_t text_end = text_begin + found;
    const std::string_view text = s.substr(text_begin, text_end - text_begin);
    const bool base64 = enc == 'B' || enc == 'b';
    const bool ok = std::all_of(text.begin(), text.end(), [&](char c) {
        if (base64) {
            return Base64Stream::value(c) >= 0 || c == '=';
        }
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7F && c != '?';
    });
    if (!ok) {
        return std::nullopt;
    }
    if (const auto star = charset.find('*'); star != std::string_view::npos) {
        charset = charset.substr(0, star); // RFC 2231 section 5 language tag
    }
    return EncodedWord{canonical_charset(charset), base64, text, text_end + 2};
}

struct Piece {
    bool encoded = false;
    std::string_view literal;     ///< for literal text: the raw bytes
    std::vector<EncodedWord> run; ///< for encoded text: adjacent words of one charset
};

[[nodiscard]] std::string decode_run(const std::vector<EncodedWord>& run) {
    std::string bytes;
    Base64Stream b64;
    for (const EncodedWord& w : run) {
        if (w.base64) {
            b64.feed(w.text, bytes);
        } else {
            b64.reset();
            decode_q(w.text, bytes);
        }
    }
    return to_utf8(bytes, run.front().charset);
}

[[nodiscard]] bool is_whitespace(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), is_wsp);
}

/// Decodes an unfolded header value; the result may still hold control characters.
[[nodiscard]] std::string decode_unfolded(std::string_view s) {
    std::vector<Piece> pieces;
    std::size_t literal_start = 0;
    std::size_t pos = 0;
    while ((pos = s.find("=?", pos)) != std::string_view::npos) {
        auto word = parse_encoded_word(s, pos);
        if (!word) {
            pos += 2;
            continue;
        }
        const std::string_view between = s.substr(literal_start, pos - literal_start);
        const bool follows_word = !pieces.empty() && pieces.back().encoded;
        if (follows_word && is_whitespace(between)) {
            if (pieces.back().run.back().charset != word->charset) {
                pieces.push_back(Piece{true, {}, {}});
            }
        } else {
            if (!between.empty()) {
                pieces.push_back(Piece{false, between, {}});
            }
            pieces.push_back(Piece{true, {}, {}});
        }
        pos = word->end;
        literal_start = pos;
        pieces.back().run.push_back(std::move(*word));
    }
    if (literal_start < s.size()) {
        pieces.push_back(Piece{false, s.substr(literal_start), {}});
    }

    // Literal text (raw 8-bit or bare ISO-2022-JP from non-RFC senders) is detected as a whole.
    std::string literals;
    for (const Piece& p : pieces) {
        if (!p.encoded) {
            literals.append(p.literal);
        }
    }
    const std::string literal_charset = detect_charset(literals);
    const bool literal_plain = literal_charset == "us-ascii";

    std::string out;
    out.reserve(s.size());
    for (const Piece& p : pieces) {
        if (p.encoded) {
            out += decode_run(p.run);
        } else if (literal_plain) {
            out.append(p.literal);
        } else {
            out += to_utf8(p.literal, literal_charset);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Structured values

struct Param {
    std::string attr; ///< lower-case
    std::string value;
};

/// Splits a structured header value into its parameters, skipping the leading value.
class ParamLexer {
public:
    ParamLexer(std::string_view s, bool sjis) : s_(s), sjis_(sjis) {}

    [[nodiscard]] std::vector<Param> params() {
        std::vector<Param> out;
        skip_to_semicolon();
        while (i_ < s_.size()) {
            ++i_; // ';'
            skip_cfws();
            std::string attr;
            while (i_ < s_.size() && s_[i_] != '=' && s_[i_] != ';' && !is_wsp(s_[i_]) &&
                   s_[i_] != '(' && s_[i_] != '"') {
                const char c = s_[i_++];
                attr.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
            }
            skip_cfws();
            if (attr.empty() || i_ >= s_.size() || s_[i_] != '=') {
                skip_to_semicolon();
                continue;
            }
            ++i_; // '='
            skip_cfws();
            std::string value;
            if (i_ < s_.size() && s_[i_] == '"') {
                value = quoted();
                skip_to_semicolon();
            } else {
                value = unquoted();
            }
            out.push_back(Param{std::move(attr), std::move(value)});
        }
        return out;
    }

private:
    void skip_comment() {
        int depth = 0;
        while (i_ < s_.size()) {
            const char c = s_[i_++];
            if (c == '\\') {
                ++i_;
            } else if (c == '(') {
                ++depth;
            } else if (c == ')' && --depth == 0) {
                return;
            }
        }
    }
    void skip_cfws() {
        while (i_ < s_.size()) {
            if (is_wsp(s_[i_])) {
                ++i_;
            } else if (s_[i_] == '(') {
                skip_comment();
            } else {
                return;
            }
        }
    }
    void skip_to_semicolon() {
        while (i_ < s_.size() && s_[i_] != ';') {
            if (s_[i_] == '"') {
                (void)quoted();
            } else if (s_[i_] == '(') {
                skip_comment();
            } else {
                ++i_;
            }
        }
    }
    [[nodiscard]] bool sjis_lead(std::size_t k) const noexcept {
        const unsigned char b = byte_at(s_, k);
        return (b >= 0x81 && b <= 0x9F) || (b >= 0xE0 && b <= 0xFC);
    }
    /// Reads a quoted-string at s_[i_] == '"'. In raw Shift_JIS, a backslash right after a lead
    /// byte is the second byte of a character ("表" is 0x95 0x5C), not a quoted-pair.
    [[nodiscard]] std::string quoted() {
        std::string out;
        ++i_;
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (sjis_ && sjis_lead(i_) && i_ + 1 < s_.size()) {
                out.append(s_.substr(i_, 2));
                i_ += 2;
            } else if (c == '\\' && i_ + 1 < s_.size()) {
                out.push_back(s_[i_ + 1]);
                i_ += 2;
            } else if (c == '"') {
                ++i_;
                return out;
            } else {
                out.push_back(c);
                ++i_;
            }
        }
        return out;
    }
    /// Reads an unquoted value up to ';' (lenient: spaces inside are kept, as some senders put
    /// unquoted file names with spaces), dropping a trailing comment such as "us-ascii (Plain)".
    [[nodiscard]] std::string unquoted() {
        const std::size_t begin = i_;
        while (i_ < s_.size() && s_[i_] != ';') {
            ++i_;
        }
        std::string_view v = s_.substr(begin, i_ - begin);
        for (std::size_t k = 1; k < v.size(); ++k) {
            if (v[k] == '(' && is_wsp(v[k - 1])) {
                v = v.substr(0, k);
                break;
            }
        }
        while (!v.empty() && is_wsp(v.back())) {
            v.remove_suffix(1);
        }
        return std::string(v);
    }

    std::string_view s_;
    bool sjis_;
    std::size_t i_ = 0;
};

[[nodiscard]] std::string percent_decode(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && hex_value(v[i + 1]) >= 0 &&
            hex_value(v[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2])));
            i += 2;
        } else {
            out.push_back(v[i]);
        }
    }
    return out;
}

struct Section {
    unsigned number = 0;
    bool extended = false;
    std::string_view value;
};

/// Joins RFC 2231 sections (sorted) and decodes them with the charset of the first one.
[[nodiscard]] std::string decode_rfc2231(std::vector<Section> sections) {
    std::stable_sort(sections.begin(), sections.end(),
                     [](const Section& a, const Section& b) { return a.number < b.number; });
    sections.erase(
        std::unique(sections.begin(), sections.end(),
                    [](const Section& a, const Section& b) { return a.number == b.number; }),
        sections.end());
    const bool any_extended =
        std::any_of(sections.begin(), sections.end(), [](const Section& s) { return s.extended; });
    std::string bytes;
    if (!any_extended) {
        // Plain continuations; some senders split an RFC 2047 word across them.
        for (const Section& s : sections) {
            bytes.append(s.value);
        }
        return decode_unfolded(bytes);
    }
    std::string charset;
    for (std::size_t k = 0; k < sections.size(); ++k) {
        std::string_view v = sections[k].value;
        if (k == 0 && sections[k].extended) {
            const auto q1 = v.find('\'');
            const auto q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
            if (q2 != std::string_view::npos) {
                charset = std::string(v.substr(0, q1));
                v = v.substr(q2 + 1);
            }
        }
        bytes += sections[k].extended ? percent_decode(v) : std::string(v);
    }
    return to_utf8(bytes, charset);
}

/// Parses "name*", "name*3" or "name*3*" into a section; false when `attr` is another parameter.
[[nodiscard]] bool parse_section(std::string_view attr, std::string_view name, Section& sec) {
    if (attr.size() <= name.size() || !iequals(attr.substr(0, name.size()), name) ||
        attr[name.size()] != '*') {
        return false;
    }
    std::string_view rest = attr.substr(name.size() + 1);
    if (rest.empty()) {
        sec.extended = true;
        sec.number = 0;
        return true;
    }
    sec.extended = rest.back() == '*';
    if (sec.extended) {
        rest.remove_suffix(1);
    }
    if (rest.empty() || rest.size() > 4 ||
        !std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    unsigned n = 0;
    for (const char c : rest) {
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    sec.number = n;
    return true;
}

/// Chars of one encoded word "=?UTF-8?B?" + base64 + "?=".
constexpr std::size_t word_overhead = 12;
constexpr std::size_t max_word = 75;
constexpr std::size_t max_line = 78;

[[nodiscard]] std::string base64(std::string_view bytes) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            v = (v << 8) | (k < n ? byte_at(bytes, i + k) : 0u);
        }
        for (std::size_t k = 0; k < 4; ++k) {
            out.push_back(k <= n ? alphabet[(v >> (18 - 6 * k)) & 0x3Fu] : '=');
        }
    }
    return out;
}

/// Bytes of UTF-8 one word may carry when it has `room` characters.
[[nodiscard]] std::size_t payload_for(std::size_t room) noexcept {
    room = std::min(room, max_word);
    return room > word_overhead ? (room - word_overhead) / 4 * 3 : 0;
}

/// Length of the UTF-8 sequence at s[i] (s is valid UTF-8).
[[nodiscard]] std::size_t seq_len(std::string_view s, std::size_t i) noexcept {
    const unsigned char b = byte_at(s, i);
    const std::size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    return std::min(n, s.size() - i);
}

} // namespace

std::string decode_header_text(std::string_view raw) {
    return one_line(decode_unfolded(unfold(raw)));
}

std::optional<std::string> header_param(std::string_view raw_value, std::string_view name) {
    const std::string s = unfold(raw_value);
    const bool sjis = detect_charset(s) == "cp932";
    const std::vector<Param> params = ParamLexer(s, sjis).params();
    std::vector<Section> sections;
    const Param* plain = nullptr;
    for (const Param& p : params) {
        Section sec;
        if (parse_section(p.attr, name, sec)) {
            sec.value = p.value;
            sections.push_back(sec);
        } else if (plain == nullptr && iequals(p.attr, name)) {
            plain = &p;
        }
    }
    if (!sections.empty()) {
        return param_text(decode_rfc2231(std::move(sections)));
    }
    if (plain != nullptr) {
        return param_text(decode_unfolded(plain->value));
    }
    return std::nullopt;
}

std::string encode_header_text(std::string_view utf8, std::size_t name_len) {
    const std::string text = one_line(utf8);
    const bool plain =
        std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7E; }) &&
        text.find("=?") == std::string::npos;
    if (plain) {
        return text;
    }
    std::string out;
    std::size_t room = name_len < max_line ? max_line - name_len : 0; // first line
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t limit = payload_for(room);
        std::size_t end = i;
        while (end < text.size()) {
            const std::size_t n = seq_len(text, end);
            if (end + n - i > limit && end > i) {
                break;
            }
            end += n;
            if (end - i >= limit) {
                break;
            }
        }
        if (!out.empty()) {
            out += "\r\n ";
        }
        out += "=?UTF-8?B?";
        out += base64(text.substr(i, end - i));
        out += "?=";
        i = end;
        room = max_line - 1; // after the folding space
    }
    return out;
}

} // namespace mugaika::filters::text
