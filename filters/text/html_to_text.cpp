#include "filters/text/html_to_text.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/xmlversion.h>

#include "filters/core/cptr.hpp"

// Depth capping edits libxml2's open-element stack (ctxt->nameTab/nameNr) from the startElement
// callback; that relies on htmlnamePush/htmlnamePop as they are in 2.9.x. Re-verify (unit tests
// plus tests/bench/html_bench.cpp) before allowing another version.
static_assert(LIBXML_VERSION >= 20900 && LIBXML_VERSION < 21000,
              "html_to_text: re-verify trim_parser_stack() against this libxml2 version");

namespace mugaika::filters::text {
namespace {

using CtxtPtr = CPtr<htmlParserCtxt, htmlFreeParserCtxt>;

constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::size_t min_depth = 3;    // html, body and one element
constexpr std::size_t max_prefix = 20;  // bytes of list/quote indentation per line
constexpr std::size_t max_alt = 200;    // bytes of alt text shown per image
constexpr std::size_t max_marker = 256; // longest Outlook <![if ...]> marker recognised
constexpr std::size_t max_url_scan = 4 * html_max_url_length; // longer attributes are not copied

// ---------------------------------------------------------------------------------------------
// UTF-8

// Length of the well-formed UTF-8 sequence at p, or 0 with `skip` set to the length of the
// maximal ill-formed subpart (one U+FFFD each, as Unicode recommends).
std::size_t utf8_next(const unsigned char* p, std::size_t n, std::size_t& skip) noexcept {
    const unsigned char b = p[0];
    if (b < 0x80) {
        return 1;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
    } else if (b == 0xE0) {
        len = 3;
        lo = 0xA0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        len = 3;
    } else if (b == 0xED) {
        len = 3;
        hi = 0x9F;
    } else if (b == 0xF0) {
        len = 4;
        lo = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
        len = 4;
    } else if (b == 0xF4) {
        len = 4;
        hi = 0x8F;
    } else {
        skip = 1;
        return 0;
    }
    for (std::size_t i = 1; i < len; ++i) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            skip = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

// Offset of the first byte that is NUL or starts an ill-formed sequence, or s.size().
std::size_t first_bad_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        if (p[i] != 0 && p[i] < 0x80) {
            ++i;
            continue;
        }
        if (p[i] == 0) {
            return i;
        }
        std::size_t skip = 0;
        const std::size_t len = utf8_next(p + i, n - i, skip);
        if (len == 0) {
            return i;
        }
        i += len;
    }
    return n;
}

// Copy of s with NUL bytes and ill-formed sequences replaced by U+FFFD; counts replacements.
// libxml2 2.9 would otherwise switch the rest of the document to Latin-1 at the first bad byte.
std::string sanitize_utf8(std::string_view s, std::size_t from, std::size_t& replaced) {
    std::string out;
    out.reserve(s.size() + 16);
    out.append(s.substr(0, from));
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = from;
    while (i < n) {
        std::size_t skip = 0;
        const std::size_t len = p[i] == 0 ? 0 : utf8_next(p + i, n - i, skip);
        if (len == 0) {
            out.append("\xEF\xBF\xBD");
            ++replaced;
            i += p[i] == 0 ? 1 : skip;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    return out;
}

// Code point of the UTF-8 sequence starting at p (input is known to be well-formed).
char32_t decode_at(const unsigned char* p, std::size_t n) noexcept {
    if (n == 0) {
        return 0;
    }
    const unsigned char b = p[0];
    if (b < 0x80) {
        return b;
    }
    std::size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    len = std::min(len, n);
    char32_t cp = b & (len == 2 ? 0x1Fu : len == 3 ? 0x0Fu : 0x07u);
    for (std::size_t i = 1; i < len; ++i) {
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    return cp;
}

// Last code point of s.
char32_t last_code_point(std::string_view s) noexcept {
    std::size_t i = s.size();
    std::size_t back = 0;
    while (i > 0 && back < 4) {
        --i;
        ++back;
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            break;
        }
    }
    return decode_at(reinterpret_cast<const unsigned char*>(s.data()) + i, s.size() - i);
}

// Scripts written without spaces between words: a source line break between two such characters
// is not a space (CSS Text 3 segment break transformation, as Firefox renders Japanese).
bool is_cjk(char32_t c) noexcept {
    return (c >= 0x2E80 && c <= 0x2FDF) || (c >= 0x3000 && c <= 0x30FF) ||
           (c >= 0x31F0 && c <= 0x31FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x20000 && c <= 0x2FFFF);
}

// ---------------------------------------------------------------------------------------------
// ASCII helpers

constexpr char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && static_cast<unsigned char>(s.front()) <= 0x20) {
        s.remove_prefix(1);
    }
    while (!s.empty() && static_cast<unsigned char>(s.back()) <= 0x20) {
        s.remove_suffix(1);
    }
    return s;
}

// Decimal attribute value ("1", " 1px") or -1 when absent or not a number.
long parse_int(std::string_view s) noexcept {
    s = trim(s);
    long v = -1;
    for (char c : s) {
        if (c < '0' || c > '9') {
            break;
        }
        v = (v < 0 ? 0 : v) * 10 + (c - '0');
        if (v > 1'000'000) {
            return 1'000'000;
        }
    }
    return v;
}

// True when an inline style hides the element. Case- and whitespace-insensitive; none of the
// patterns has a proper border, so restarting at the current character is an exact matcher.
bool style_hides(std::string_view style) noexcept {
    static constexpr std::array<std::string_view, 3> patterns = {
        "display:none", "visibility:hidden", "mso-hide:all"};
    std::array<std::size_t, patterns.size()> at{};
    for (char raw : style) {
        if (is_space(raw)) {
            continue;
        }
        const char c = lower(raw);
        for (std::size_t k = 0; k < patterns.size(); ++k) {
            if (c == patterns[k][at[k]]) {
                if (++at[k] == patterns[k].size()) {
                    return true;
                }
            } else {
                at[k] = c == patterns[k][0] ? 1 : 0;
            }
        }
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// URLs

enum class UrlKind : std::uint8_t {
    None,
    Fragment,
    Dangerous,
    Inline,
    TooLong,
    Mailto,
    Remote,
    Other
};

struct Url {
    UrlKind kind = UrlKind::None;
    std::string value; // normalised; empty unless kind is Mailto, Remote or Other
};

// Lower-case scheme of a normalised URL ("http"), empty when none.
std::string scheme_of(std::string_view url) {
    std::string scheme;
    for (char c : url) {
        if (c == ':') {
            return scheme;
        }
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (!scheme.empty() && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
        if (!ok || scheme.size() > 16) {
            return {};
        }
        scheme.push_back(lower(c));
    }
    return {};
}

// Classifies an attribute URL the way a browser reads it: leading/trailing whitespace and
// controls trimmed, tabs and line breaks inside removed. Huge values are never copied whole.
Url classify_url(std::string_view raw) {
    Url url;
    raw = trim(raw);
    if (raw.empty()) {
        return url;
    }
    if (raw.front() == '#') {
        url.kind = UrlKind::Fragment;
        return url;
    }
    std::string value;
    value.reserve(std::min(raw.size(), max_url_scan));
    for (char c : raw.substr(0, max_url_scan)) {
        if (c != '\t' && c != '\n' && c != '\r') {
            value.push_back(c);
        }
    }
    const std::string scheme = scheme_of(value);
    if (scheme == "javascript" || scheme == "vbscript" || scheme == "livescript") {
        url.kind = UrlKind::Dangerous;
        return url;
    }
    if (scheme == "data" || scheme == "cid" || scheme == "about") {
        url.kind = UrlKind::Inline;
        return url;
    }
    if (raw.size() > max_url_scan || value.size() > html_max_url_length) {
        url.kind = UrlKind::TooLong;
        return url;
    }
    if (scheme == "mailto") {
        url.kind = UrlKind::Mailto;
    } else if (scheme == "http" || scheme == "https" || value.starts_with("//")) {
        url.kind = UrlKind::Remote;
    } else {
        url.kind = UrlKind::Other;
    }
    url.value = std::move(value);
    return url;
}

// What a reader sees between < and >: the address for mailto:, otherwise the URL with the
// characters that would break the <...> form or the line escaped.
std::string display_url(const Url& url) {
    std::string_view v = url.value;
    if (url.kind == UrlKind::Mailto) {
        v.remove_prefix(std::min(v.size(), std::string_view("mailto:").size()));
        v = v.substr(0, v.find('?'));
    }
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        const auto b = static_cast<unsigned char>(c);
        if (c == ' ') {
            out.append("%20");
        } else if (c == '<') {
            out.append("%3C");
        } else if (c == '>') {
            out.append("%3E");
        } else if (c == '"') {
            out.append("%22");
        } else if (b >= 0x20 && b != 0x7F) {
            out.push_back(c);
        }
    }
    return out;
}

// Host of an http(s) URL or of link text that looks like one ("www.x.jp/..."), lower-case;
// empty when it does not look like a web address.
std::string web_host(std::string_view s) {
    if (istarts_with(s, "http://")) {
        s.remove_prefix(7);
    } else if (istarts_with(s, "https://")) {
        s.remove_prefix(8);
    } else if (!istarts_with(s, "www.")) {
        return {};
    }
    const std::size_t end = s.find_first_of("/?#:\\ \t\n");
    s = s.substr(0, end);
    if (const std::size_t at = s.rfind('@'); at != std::string_view::npos) {
        s.remove_prefix(at + 1);
    }
    std::string host;
    for (char c : s) {
        host.push_back(lower(c));
    }
    while (!host.empty() && host.back() == '.') {
        host.pop_back();
    }
    return host;
}

// Link text that merely repeats the target: the URL, the URL without scheme, the address.
bool text_is_url(std::string_view text, std::string_view shown, std::string_view full) {
    auto strip = [](std::string_view s) {
        for (std::string_view p : {"https://", "http://", "mailto:"}) {
            if (istarts_with(s, p)) {
                s.remove_prefix(p.size());
                break;
            }
        }
        while (!s.empty() && s.back() == '/') {
            s.remove_suffix(1);
        }
        return s;
    };
    return iequals(text, shown) || iequals(text, full) || iequals(strip(text), strip(full)) ||
           iequals(strip(text), strip(shown));
}

// ---------------------------------------------------------------------------------------------
// Elements

enum class Tag : std::uint8_t {
    Other,
    A,
    Applet,
    Area,
    Blockquote,
    Br,
    Button,
    Cell,
    Dd,
    Embed,
    Form,
    Frame,
    Hr,
    Iframe,
    Img,
    Input,
    Li,
    Meta,
    Object,
    Ol,
    P,
    Pre,
    Script,
    Select,
    Style,
    Textarea,
    Tr,
    Ul,
    Media,
};

enum class Brk : std::uint8_t { None = 0, Line = 1, Para = 2 };

struct TagInfo {
    std::string_view name;
    Tag tag;
    Brk brk;
    bool drop;          // content never rendered
    bool empty = false; // void in HTML5: never has content (libxml2 nests what follows
                        // <embed>, <wbr>, <source> ... inside them, so they must not suppress)
};

// Sorted by name for binary search. Unknown elements (o:p, font, span, noscript, ...) are inline.
constexpr std::array tag_table = {
    TagInfo{"a", Tag::A, Brk::None, false},
    TagInfo{"address", Tag::Other, Brk::Line, false},
    TagInfo{"applet", Tag::Applet, Brk::None, true},
    TagInfo{"area", Tag::Area, Brk::None, false, true},
    TagInfo{"article", Tag::Other, Brk::Line, false},
    TagInfo{"aside", Tag::Other, Brk::Line, false},
    TagInfo{"audio", Tag::Media, Brk::None, false},
    TagInfo{"base", Tag::Other, Brk::None, false, true},
    TagInfo{"bgsound", Tag::Other, Brk::None, false, true},
    TagInfo{"blockquote", Tag::Blockquote, Brk::Para, false},
    TagInfo{"br", Tag::Br, Brk::None, false, true},
    TagInfo{"button", Tag::Button, Brk::None, true},
    TagInfo{"caption", Tag::Other, Brk::Line, false},
    TagInfo{"center", Tag::Other, Brk::Line, false},
    TagInfo{"col", Tag::Other, Brk::None, false, true},
    TagInfo{"datalist", Tag::Other, Brk::None, true},
    TagInfo{"dd", Tag::Dd, Brk::Line, false},
    TagInfo{"details", Tag::Other, Brk::Line, false},
    TagInfo{"dir", Tag::Ul, Brk::Para, false},
    TagInfo{"div", Tag::Other, Brk::Line, false},
    TagInfo{"dl", Tag::Other, Brk::Para, false},
    TagInfo{"dt", Tag::Other, Brk::Line, false},
    TagInfo{"embed", Tag::Embed, Brk::None, true, true},
    TagInfo{"fieldset", Tag::Other, Brk::Line, false},
    TagInfo{"figcaption", Tag::Other, Brk::Line, false},
    TagInfo{"figure", Tag::Other, Brk::Line, false},
    TagInfo{"footer", Tag::Other, Brk::Line, false},
    TagInfo{"form", Tag::Form, Brk::Line, false},
    TagInfo{"frame", Tag::Frame, Brk::None, true, true},
    TagInfo{"frameset", Tag::Other, Brk::None, true},
    TagInfo{"h1", Tag::Other, Brk::Para, false},
    TagInfo{"h2", Tag::Other, Brk::Para, false},
    TagInfo{"h3", Tag::Other, Brk::Para, false},
    TagInfo{"h4", Tag::Other, Brk::Para, false},
    TagInfo{"h5", Tag::Other, Brk::Para, false},
    TagInfo{"h6", Tag::Other, Brk::Para, false},
    TagInfo{"header", Tag::Other, Brk::Line, false},
    TagInfo{"hr", Tag::Hr, Brk::None, false, true},
    TagInfo{"iframe", Tag::Iframe, Brk::None, true},
    TagInfo{"image", Tag::Img, Brk::None, false, true},
    TagInfo{"img", Tag::Img, Brk::None, false, true},
    TagInfo{"input", Tag::Input, Brk::None, true, true},
    TagInfo{"keygen", Tag::Input, Brk::None, true, true},
    TagInfo{"legend", Tag::Other, Brk::Line, false},
    TagInfo{"li", Tag::Li, Brk::Line, false},
    TagInfo{"link", Tag::Other, Brk::None, false, true},
    TagInfo{"listing", Tag::Pre, Brk::Para, false},
    TagInfo{"main", Tag::Other, Brk::Line, false},
    TagInfo{"math", Tag::Other, Brk::None, true},
    TagInfo{"menu", Tag::Ul, Brk::Para, false},
    TagInfo{"meta", Tag::Meta, Brk::None, false, true},
    TagInfo{"nav", Tag::Other, Brk::Line, false},
    TagInfo{"object", Tag::Object, Brk::None, true},
    TagInfo{"ol", Tag::Ol, Brk::Para, false},
    TagInfo{"option", Tag::Other, Brk::None, true},
    TagInfo{"p", Tag::P, Brk::Para, false},
    TagInfo{"param", Tag::Other, Brk::None, false, true},
    TagInfo{"plaintext", Tag::Pre, Brk::Para, false},
    TagInfo{"pre", Tag::Pre, Brk::Para, false},
    TagInfo{"script", Tag::Script, Brk::None, true},
    TagInfo{"section", Tag::Other, Brk::Line, false},
    TagInfo{"select", Tag::Select, Brk::None, true},
    TagInfo{"source", Tag::Other, Brk::None, false, true},
    TagInfo{"style", Tag::Style, Brk::None, true},
    TagInfo{"summary", Tag::Other, Brk::Line, false},
    TagInfo{"svg", Tag::Other, Brk::None, true},
    TagInfo{"table", Tag::Other, Brk::Line, false},
    TagInfo{"td", Tag::Cell, Brk::None, false},
    TagInfo{"template", Tag::Other, Brk::None, true},
    TagInfo{"textarea", Tag::Textarea, Brk::None, true},
    TagInfo{"th", Tag::Cell, Brk::None, false},
    TagInfo{"title", Tag::Other, Brk::None, true},
    TagInfo{"tr", Tag::Tr, Brk::Line, false},
    TagInfo{"track", Tag::Other, Brk::None, false, true},
    TagInfo{"ul", Tag::Ul, Brk::Para, false},
    TagInfo{"video", Tag::Media, Brk::None, false},
    TagInfo{"wbr", Tag::Other, Brk::None, false, true},
    TagInfo{"xml", Tag::Other, Brk::None, true},
    TagInfo{"xmp", Tag::Pre, Brk::Para, false},
};

static_assert(std::is_sorted(tag_table.begin(), tag_table.end(),
                             [](const TagInfo& a, const TagInfo& b) { return a.name < b.name; }));

TagInfo lookup_tag(std::string_view name) noexcept {
    const auto* it =
        std::lower_bound(tag_table.begin(), tag_table.end(), name,
                         [](const TagInfo& t, std::string_view n) { return t.name < n; });
    if (it != tag_table.end() && it->name == name) {
        return *it;
    }
    return TagInfo{name, Tag::Other, Brk::None, false, false};
}

// The attributes the renderer looks at (views into libxml2's buffers, valid during one callback).
struct Attrs {
    std::string_view href, src, alt, style, cls, type, http_equiv, content, start, width, height,
        background, action, data, poster, codebase;
    bool has_href = false;
    bool has_alt = false;
    bool hidden = false;
    std::size_t handlers = 0;
};

Attrs read_attrs(const xmlChar** atts) {
    Attrs a;
    if (atts == nullptr) {
        return a;
    }
    for (std::size_t i = 0; atts[i] != nullptr; i += 2) {
        const std::string_view name = reinterpret_cast<const char*>(atts[i]);
        const std::string_view value =
            atts[i + 1] != nullptr ? reinterpret_cast<const char*>(atts[i + 1]) : "";
        if (name.size() > 2 && name[0] == 'o' && name[1] == 'n') {
            ++a.handlers;
            continue;
        }
        if (name == "href") {
            a.href = value;
            a.has_href = true;
        } else if (name == "src") {
            a.src = value;
        } else if (name == "alt") {
            a.alt = value;
            a.has_alt = true;
        } else if (name == "style") {
            a.style = value;
        } else if (name == "class") {
            a.cls = value;
        } else if (name == "type") {
            a.type = value;
        } else if (name == "http-equiv") {
            a.http_equiv = value;
        } else if (name == "content") {
            a.content = value;
        } else if (name == "start") {
            a.start = value;
        } else if (name == "width") {
            a.width = value;
        } else if (name == "height") {
            a.height = value;
        } else if (name == "background") {
            a.background = value;
        } else if (name == "action") {
            a.action = value;
        } else if (name == "data") {
            a.data = value;
        } else if (name == "poster") {
            a.poster = value;
        } else if (name == "codebase") {
            a.codebase = value;
        } else if (name == "hidden") {
            a.hidden = true;
        }
    }
    return a;
}

// ---------------------------------------------------------------------------------------------
// Renderer: per-call state driven by libxml2's SAX callbacks.

class Renderer {
public:
    Renderer(const HtmlPolicy& policy, std::size_t out_limit, HtmlText& result)
        : out_limit_(out_limit),
          depth_cap_(std::clamp(policy.max_depth, min_depth, html_max_depth_limit)), res_(result),
          out_(result.text) {}

    void attach(htmlParserCtxtPtr ctxt) noexcept { ctxt_ = ctxt; }
    [[nodiscard]] bool failed() const noexcept { return error_.has_value(); }
    [[nodiscard]] const std::optional<Error>& error() const noexcept { return error_; }

    static void sax_start(void* self, const xmlChar* name, const xmlChar** atts) noexcept {
        static_cast<Renderer*>(self)->guard(
            [&](Renderer& r) { r.on_start(reinterpret_cast<const char*>(name), atts); });
    }
    static void sax_end(void* self, const xmlChar* /*name*/) noexcept {
        static_cast<Renderer*>(self)->guard([](Renderer& r) { r.on_end(); });
    }
    static void sax_text(void* self, const xmlChar* text, int len) noexcept {
        static_cast<Renderer*>(self)->guard([&](Renderer& r) {
            r.on_text({reinterpret_cast<const char*>(text), static_cast<std::size_t>(len)});
        });
    }
    static void sax_raw(void* self, const xmlChar* /*text*/, int /*len*/) noexcept {
        // Raw text of script and style: never rendered.
        static_cast<Renderer*>(self)->guard([](Renderer& r) { r.flush_marker(); });
    }
    static void sax_comment(void* self, const xmlChar* /*text*/) noexcept {
        static_cast<Renderer*>(self)->guard([](Renderer& r) {
            r.flush_marker();
            ++r.res_.counts.comments;
        });
    }

    // After the last chunk: closes what libxml2 left open and fixes up the output.
    void finish() {
        guard([](Renderer& r) {
            r.flush_marker();
            while (!r.frames_.empty()) {
                r.pop_frame();
            }
        });
    }

private:
    struct Frame {
        Tag tag = Tag::Other;
        std::uint8_t brk = 0;  // line breaks requested after the element
        bool suppress = false; // content not rendered
        bool sticky = false;   // absorbed a suppressed element: parent stays suppressed
        bool pre = false;      // whitespace preserved
        bool link = false;     // pushed links_
        bool list = false;     // pushed lists_
        std::size_t prefix_len = 0;
        std::size_t level = 0; // real nesting depth, counting flattened levels
    };
    struct List {
        bool ordered = false;
        long next = 1;
        std::size_t prefix_at = 0; // prefix_ length before the list's own indentation
    };
    struct Link {
        Url url;
        std::size_t text_start = std::string::npos;
    };

    template <class F> void guard(F&& f) noexcept {
        if (error_) {
            return;
        }
        try {
            f(*this);
        } catch (const std::bad_alloc&) {
            stop(Error{ErrorCode::Internal, html_error::parser_failed, "out of memory"});
        } catch (...) {
            stop(Error{ErrorCode::Internal, html_error::parser_failed, "exception"});
        }
    }

    void stop(Error e) noexcept {
        if (!error_) {
            error_ = std::move(e);
        }
        if (ctxt_ != nullptr) {
            xmlStopParser(ctxt_);
        }
    }

    // libxml2 pops an unterminated start tag at end of input without an endElement event; pop
    // our frames down to its stack depth before each event so both stacks agree again.
    bool resync(std::size_t expected) {
        while (frames_.size() > expected) {
            pop_frame();
        }
        if (frames_.size() < expected) {
            stop(Error{ErrorCode::Internal, html_error::parser_failed, "element stack mismatch"});
            return false;
        }
        return true;
    }

    // Keeps libxml2's open-element stack at most depth_cap_ deep: the element just pushed replaces
    // the one below it, which libxml2 then forgets (its end tag is ignored as unmatched). Without
    // this, libxml2's per-end-tag stack walks make 100k unclosed tags plus stray end tags take
    // seconds.
    void trim_parser_stack() noexcept {
        const int n = ctxt_->nameNr;
        ctxt_->nameTab[n - 2] = ctxt_->nameTab[n - 1];
        ctxt_->nameTab[n - 1] = nullptr;
        ctxt_->nameNr = n - 1;
    }

    void on_start(std::string_view name, const xmlChar** atts) {
        // A held "<![" run stays held across start tags (libxml2 implies html/body/p right after
        // a leading "<"); dropped now if it was in suppressed content, so it cannot surface later.
        if (suppressed()) {
            marker_.clear();
        }
        const auto parser_depth = static_cast<std::size_t>(std::max(ctxt_->nameNr, 1));
        if (!resync(parser_depth - 1)) {
            return;
        }
        bool carry = false;
        std::size_t level = frames_.empty() ? 1 : frames_.back().level + 1;
        if (parser_depth > depth_cap_ && frames_.size() >= 2) {
            // Flatten: the previous innermost element ends here for rendering, but what it
            // suppressed stays suppressed until its parent ends.
            carry = frames_.back().suppress || frames_.back().sticky;
            pop_frame();
            trim_parser_stack();
            res_.depth_exceeded = true;
        }
        res_.counts.max_depth_seen = std::max(res_.counts.max_depth_seen, level);

        const TagInfo info = lookup_tag(name);
        const Attrs a = read_attrs(atts);
        const Frame* parent = frames_.empty() ? nullptr : &frames_.back();
        Frame f;
        f.tag = info.tag;
        f.level = level;
        f.sticky = carry;
        f.pre = (parent != nullptr && parent->pre) || info.tag == Tag::Pre;
        f.prefix_len = prefix_.size();
        const bool hidden = a.hidden || style_hides(a.style);
        const bool inherited = (parent != nullptr && parent->suppress) || carry;
        f.suppress = inherited || (!info.empty && (info.drop || hidden));
        res_.counts.hidden += hidden ? 1 : 0;

        count_and_collect(info, a);

        if (!inherited && !info.drop && !hidden) {
            render_start(info, a, f);
        }
        frames_.push_back(f);
    }

    void on_end() {
        flush_marker();
        if (!resync(static_cast<std::size_t>(std::max(ctxt_->nameNr, 0)))) {
            return;
        }
        if (!frames_.empty()) {
            pop_frame();
        }
    }

    void pop_frame() {
        const Frame f = frames_.back();
        frames_.pop_back();
        if (f.link && !links_.empty()) {
            finish_link(f.suppress);
        }
        if (f.list && !lists_.empty()) {
            lists_.pop_back();
        }
        if (f.tag == Tag::Li) {
            marker_text_.clear();
        }
        prefix_.resize(std::min(prefix_.size(), f.prefix_len));
        if (!f.suppress && f.brk > 0) {
            block_break(f.brk);
        }
        if (f.sticky && !frames_.empty()) {
            frames_.back().suppress = true;
        }
    }

    // Counts and URL collection happen everywhere, rendered or not.
    void count_and_collect(const TagInfo& info, const Attrs& a) {
        auto& c = res_.counts;
        c.event_handlers += a.handlers;
        switch (info.tag) {
        case Tag::Script:
            ++c.scripts;
            collect(a.src);
            break;
        case Tag::Style:
            ++c.styles;
            break;
        case Tag::Form:
            ++c.forms;
            collect(a.action);
            break;
        case Tag::Input:
            ++c.form_controls;
            if (iequals(trim(a.type), "image") && collect(a.src) == UrlKind::Remote) {
                ++c.remote_images;
            }
            break;
        case Tag::Select:
        case Tag::Textarea:
        case Tag::Button:
            ++c.form_controls;
            break;
        case Tag::Iframe:
        case Tag::Frame:
            ++c.iframes;
            collect(a.src);
            break;
        case Tag::Object:
            ++c.objects;
            collect(a.data);
            collect(a.codebase);
            break;
        case Tag::Embed:
            ++c.objects;
            collect(a.src);
            break;
        case Tag::Applet:
            ++c.objects;
            collect(a.codebase);
            break;
        case Tag::Img:
            ++c.images;
            if (collect(a.src) == UrlKind::Remote) {
                ++c.remote_images;
            }
            break;
        case Tag::Media:
            collect(a.src);
            collect(a.poster);
            break;
        case Tag::Meta:
            if (iequals(trim(a.http_equiv), "refresh")) {
                ++c.meta_refresh;
                collect_refresh(a.content);
            }
            break;
        case Tag::A:
        case Tag::Area:
            if (a.has_href) {
                switch (collect(a.href)) {
                case UrlKind::Dangerous:
                    ++c.dangerous_links;
                    break;
                case UrlKind::Mailto:
                case UrlKind::Remote:
                case UrlKind::Other:
                    ++c.links;
                    break;
                default:
                    break;
                }
            }
            break;
        default:
            if (info.name == "link" || info.name == "source" || info.name == "base" ||
                info.name == "track") {
                collect(info.name == "source" || info.name == "track" ? a.src : a.href);
            }
            break;
        }
        if (!a.background.empty() && collect(a.background) == UrlKind::Remote) {
            ++c.remote_images;
        }
    }

    UrlKind collect(std::string_view raw) {
        if (raw.empty()) {
            return UrlKind::None;
        }
        Url url = classify_url(raw);
        if (url.kind == UrlKind::TooLong) {
            ++res_.counts.long_urls;
        }
        if (!url.value.empty()) {
            record(url.value);
        }
        return url.kind;
    }

    void collect_refresh(std::string_view content) {
        // content="5; url=https://x/"
        for (std::size_t i = 0; i + 4 <= content.size(); ++i) {
            if (istarts_with(content.substr(i), "url=")) {
                std::string_view u = trim(content.substr(i + 4));
                if (!u.empty() && (u.front() == '\'' || u.front() == '"')) {
                    const char q = u.front();
                    u.remove_prefix(1);
                    u = u.substr(0, u.find(q));
                }
                collect(u);
                return;
            }
        }
    }

    void record(const std::string& url) {
        if (seen_.contains(url)) {
            return;
        }
        if (res_.urls.size() >= html_max_urls) {
            ++res_.counts.urls_dropped;
            return;
        }
        seen_.insert(url);
        res_.urls.push_back(url);
    }

    void render_start(const TagInfo& info, const Attrs& a, Frame& f) {
        std::uint8_t brk = static_cast<std::uint8_t>(info.brk);
        switch (info.tag) {
        case Tag::P:
            // Word and Outlook write every line as <p class=MsoNormal> with zero margins.
            if (istarts_with(trim(a.cls), "mso")) {
                brk = 1;
            }
            break;
        case Tag::Ul:
        case Tag::Ol: {
            if (!lists_.empty()) {
                brk = 1; // nested list: no blank line
            }
            List l;
            l.ordered = info.tag == Tag::Ol;
            const long start = parse_int(a.start);
            l.next = start >= 0 ? start : 1;
            l.prefix_at = prefix_.size();
            lists_.push_back(l);
            f.list = true;
            indent("  ");
            break;
        }
        case Tag::Blockquote:
            break;
        case Tag::Dd:
            break;
        default:
            break;
        }
        f.brk = brk;
        if (brk > 0) {
            block_break(brk);
        }
        switch (info.tag) {
        case Tag::Blockquote:
            indent("> ");
            break;
        case Tag::Dd:
            indent("  ");
            break;
        case Tag::Li:
            if (lists_.empty()) {
                marker_text_ = "- ";
                marker_prefix_ = prefix_.size();
            } else {
                List& l = lists_.back();
                marker_text_ = l.ordered ? std::to_string(l.next++) + ". " : "- ";
                marker_prefix_ = std::min(l.prefix_at, prefix_.size());
            }
            break;
        case Tag::Br:
            line_break();
            break;
        case Tag::Hr:
            block_break(1);
            emit("----");
            block_break(1);
            break;
        case Tag::Cell:
            if (line_has_content_ && pending_nl_ == 0) {
                cell_sep_ = true;
            }
            break;
        case Tag::Img:
            render_image(a);
            break;
        case Tag::A:
            if (a.has_href) {
                Url url = classify_url(a.href);
                if (url.kind == UrlKind::Mailto || url.kind == UrlKind::Remote ||
                    url.kind == UrlKind::Other) {
                    links_.push_back(Link{std::move(url), std::string::npos});
                    f.link = true;
                }
            }
            break;
        default:
            break;
        }
    }

    void indent(std::string_view unit) {
        if (prefix_.size() + unit.size() <= max_prefix) {
            prefix_.append(unit);
        }
    }

    void render_image(const Attrs& a) {
        const long w = parse_int(a.width);
        const long h = parse_int(a.height);
        if (w == 0 || h == 0 || (w >= 0 && w <= 1 && h >= 0 && h <= 1)) {
            return; // tracking pixel or spacer: counted, not shown
        }
        if (!a.has_alt) {
            emit("[image]");
            return;
        }
        std::string alt;
        bool space = false;
        for (char c : a.alt.substr(0, max_alt * 2)) {
            if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
                space = !alt.empty();
                continue;
            }
            if (space) {
                alt.push_back(' ');
                space = false;
            }
            alt.push_back(c);
        }
        if (alt.empty()) {
            return; // alt="": decorative
        }
        if (alt.size() > max_alt) {
            std::size_t cut = max_alt;
            while (cut > 0 && (static_cast<unsigned char>(alt[cut]) & 0xC0) == 0x80) {
                --cut;
            }
            alt.resize(cut);
            alt.append("\xE2\x80\xA6"); // …
        }
        emit("[image: " + alt + "]");
    }

    void finish_link(bool suppressed) {
        Link l = std::move(links_.back());
        links_.pop_back();
        if (suppressed) {
            return;
        }
        const std::string shown = display_url(l.url);
        std::string_view text;
        if (l.text_start != std::string::npos && l.text_start <= out_.size()) {
            text = trim(std::string_view(out_).substr(l.text_start));
        }
        if (const std::string th = web_host(text); !th.empty()) {
            const std::string uh = web_host(l.url.value);
            if (uh != th) {
                ++res_.counts.mismatched_links;
            }
        }
        if (text.empty()) {
            emit("<" + shown + ">");
            return;
        }
        if (text_is_url(text, shown, l.url.value)) {
            out_.resize(l.text_start);
            pending_nl_ = 0;
            ws_pending_ = false;
            ws_newline_ = false;
            cell_sep_ = false;
            append("<" + shown + ">");
            return;
        }
        ws_pending_ = true;
        emit("<" + shown + ">");
    }

    // ---- text ------------------------------------------------------------------------------

    // Outlook's downlevel-revealed markers (<![if !supportLists]>, <![endif]>) reach us as text
    // ("<" then "![if ...]>"): hold back a "<![" run until "]>" and drop it; anything else that
    // started with "<" is rendered as it was.
    void on_text(std::string_view s) {
        while (!s.empty()) {
            if (marker_.empty()) {
                const std::size_t lt = s.find('<');
                if (lt == std::string_view::npos) {
                    render(s);
                    return;
                }
                render(s.substr(0, lt));
                marker_.push_back('<');
                s.remove_prefix(lt + 1);
                continue;
            }
            const char c = s.front();
            if ((marker_.size() == 1 && c != '!') || (marker_.size() == 2 && c != '[') ||
                c == '<') {
                flush_marker();
                continue;
            }
            marker_.push_back(c);
            s.remove_prefix(1);
            if (c == '>' && marker_.size() >= 5 && marker_[marker_.size() - 2] == ']') {
                marker_.clear();
                ++res_.counts.conditional_markers;
            } else if (marker_.size() > max_marker) {
                flush_marker();
            }
        }
    }

    void flush_marker() {
        if (marker_.empty()) {
            return;
        }
        std::string m;
        m.swap(marker_);
        render(m);
    }

    [[nodiscard]] bool suppressed() const noexcept {
        return !frames_.empty() && frames_.back().suppress;
    }

    void render(std::string_view s) {
        if (s.empty() || suppressed()) {
            return;
        }
        if (!frames_.empty() && frames_.back().pre) {
            render_pre(s);
        } else {
            render_flow(s);
        }
    }

    enum class Special : std::uint8_t { None, Space, Newline, Drop1, Drop2, Drop3, Nbsp };

    static Special special(const unsigned char* p, std::size_t i, std::size_t n) noexcept {
        const unsigned char b = p[i];
        if (b == '\n' || b == '\r') {
            return Special::Newline;
        }
        if (b == ' ' || b == '\t' || b == '\f' || b == '\v') {
            return Special::Space;
        }
        if (b < 0x20 || b == 0x7F) {
            return Special::Drop1;
        }
        if (b == 0xC2 && i + 1 < n) {
            if (p[i + 1] <= 0x9F) {
                return Special::Drop2; // C1 controls
            }
            if (p[i + 1] == 0xA0) {
                return Special::Nbsp;
            }
        }
        if (b == 0xEF && i + 2 < n && p[i + 1] == 0xBB && p[i + 2] == 0xBF) {
            return Special::Drop3; // U+FEFF
        }
        return Special::None;
    }

    void render_flow(std::string_view s) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const std::size_t n = s.size();
        std::size_t i = 0;
        while (i < n && !error_) {
            switch (special(p, i, n)) {
            case Special::Newline:
                ws_newline_ = true;
                [[fallthrough]];
            case Special::Space:
                ws_pending_ = true;
                ++i;
                continue;
            case Special::Drop1:
                ++i;
                continue;
            case Special::Drop2:
                i += 2;
                continue;
            case Special::Drop3:
                i += 3;
                continue;
            case Special::Nbsp:
                emit(" ");
                i += 2;
                continue;
            case Special::None:
                break;
            }
            std::size_t j = i + 1;
            while (j < n && special(p, j, n) == Special::None) {
                ++j;
            }
            emit(s.substr(i, j - i));
            i = j;
        }
    }

    void render_pre(std::string_view s) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const std::size_t n = s.size();
        std::size_t i = 0;
        while (i < n && !error_) {
            const Special sp = special(p, i, n);
            const bool cr_lf = pre_cr_ && p[i] == '\n';
            pre_cr_ = p[i] == '\r';
            if (sp == Special::Newline) {
                if (!cr_lf) {
                    line_break();
                }
                ++i;
                continue;
            }
            if (sp == Special::Drop1 || sp == Special::Drop2 || sp == Special::Drop3) {
                i += sp == Special::Drop1 ? 1 : sp == Special::Drop2 ? 2 : 3;
                continue;
            }
            if (sp == Special::Nbsp) {
                emit(" ");
                i += 2;
                continue;
            }
            std::size_t j = i + 1;
            while (j < n) {
                const Special sj = special(p, j, n);
                if (sj != Special::None && sj != Special::Space) {
                    break;
                }
                ++j;
            }
            if (sp == Special::Space || sp == Special::None) {
                emit(s.substr(i, j - i));
            }
            i = j;
        }
    }

    void block_break(int n) noexcept {
        if (!out_.empty()) {
            pending_nl_ = std::max(pending_nl_, n);
        }
    }

    void line_break() noexcept {
        if (!out_.empty()) {
            pending_nl_ = std::min(pending_nl_ + 1, 2);
        }
    }

    // Writes visible content, first settling the separators owed before it.
    void emit(std::string_view content) {
        if (content.empty() || error_) {
            return;
        }
        if (pending_nl_ > 0) {
            while (!out_.empty() && (out_.back() == ' ' || out_.back() == '\t')) {
                out_.pop_back();
            }
            append(std::string_view("\n\n").substr(0, static_cast<std::size_t>(pending_nl_)));
            pending_nl_ = 0;
            line_has_content_ = false;
        }
        if (!line_has_content_) {
            if (!marker_text_.empty()) {
                append(std::string_view(prefix_).substr(0, marker_prefix_));
                append(marker_text_);
                marker_text_.clear();
            } else {
                append(prefix_);
            }
            line_has_content_ = true;
        } else if (cell_sep_) {
            append(" | ");
        } else if (ws_pending_) {
            const bool joined =
                ws_newline_ && is_cjk(last_code_point(out_)) &&
                is_cjk(decode_at(reinterpret_cast<const unsigned char*>(content.data()),
                                 content.size()));
            if (!joined) {
                append(" ");
            }
        }
        ws_pending_ = false;
        ws_newline_ = false;
        cell_sep_ = false;
        if (!links_.empty() && links_.back().text_start == std::string::npos) {
            links_.back().text_start = out_.size();
        }
        append(content);
    }

    void append(std::string_view s) {
        if (error_) {
            return;
        }
        if (s.size() > out_limit_ || out_.size() > out_limit_ - s.size()) {
            stop(Error{ErrorCode::LimitExceeded, html_error::output_exceeded,
                       "limit=" + std::to_string(out_limit_)});
            return;
        }
        out_.append(s);
    }

    std::size_t out_limit_;
    std::size_t depth_cap_;
    HtmlText& res_;
    std::string& out_;
    htmlParserCtxtPtr ctxt_ = nullptr;
    std::optional<Error> error_;

    std::vector<Frame> frames_;
    std::vector<List> lists_;
    std::vector<Link> links_;
    std::unordered_set<std::string> seen_;
    std::string prefix_;
    std::string marker_text_; // list marker owed at the next content
    std::size_t marker_prefix_ = 0;
    std::string marker_;      // held-back "<![..." text
    int pending_nl_ = 0;      // line breaks owed before the next content (max 2)
    bool ws_pending_ = false; // collapsed whitespace owed before the next content
    bool ws_newline_ = false; // ...and it contained a line break
    bool cell_sep_ = false;   // " | " owed before the next content on this line
    bool line_has_content_ = false;
    bool pre_cr_ = false;
};

// Enforces the output contract whatever the renderer did: no trailing spaces, at most one blank
// line, trimmed. In place: the write position never passes the read position.
void normalize(std::string& s) {
    const std::size_t n = s.size();
    std::size_t w = 0;
    std::size_t r = 0;
    std::size_t empties = 0;
    bool started = false;
    while (r < n) {
        std::size_t e = s.find('\n', r);
        if (e == std::string::npos) {
            e = n;
        }
        std::size_t le = e;
        while (le > r && (s[le - 1] == ' ' || s[le - 1] == '\t')) {
            --le;
        }
        std::size_t b = r;
        if (!started) {
            while (b < le && (s[b] == ' ' || s[b] == '\t')) {
                ++b;
            }
        }
        if (b == le) {
            empties += started ? 1 : 0;
        } else {
            if (started) {
                s[w++] = '\n';
                if (empties > 0) {
                    s[w++] = '\n';
                }
            }
            std::copy(s.begin() + static_cast<std::ptrdiff_t>(b),
                      s.begin() + static_cast<std::ptrdiff_t>(le),
                      s.begin() + static_cast<std::ptrdiff_t>(w));
            w += le - b;
            started = true;
            empties = 0;
        }
        r = e + 1;
    }
    s.resize(w);
}

// https://x -> hxxps://x, http -> hxxp, ftp -> fxp (same length, in place).
void defang(std::string& s) {
    for (std::size_t i = 0; i + 6 <= s.size(); ++i) {
        const std::string_view rest = std::string_view(s).substr(i);
        if (istarts_with(rest, "http://") || istarts_with(rest, "https://")) {
            s[i] = 'h';
            s[i + 1] = 'x';
            s[i + 2] = 'x';
            s[i + 3] = 'p';
            i += 6;
        } else if (istarts_with(rest, "ftp://")) {
            s[i] = 'f';
            s[i + 1] = 'x';
            s[i + 2] = 'p';
            i += 5;
        }
    }
}

// Length of the next chunk to feed: up to chunk_size, ending just before a '<' when there is one.
// libxml2 2.9's push parser mis-reads a </script> or </style> cut after "</s" at the end of the
// available input (the block then swallows the rest of the document); never cutting inside
// markup avoids that class of boundary bugs. Without a '<', cut on a UTF-8 character boundary.
std::size_t chunk_length(std::string_view input, std::size_t at) noexcept {
    const std::size_t left = input.size() - at;
    if (left <= chunk_size) {
        return left;
    }
    const std::string_view window = input.substr(at, chunk_size);
    if (const std::size_t lt = window.rfind('<'); lt != std::string_view::npos && lt > 0) {
        return lt;
    }
    std::size_t len = chunk_size;
    while (len > 1 && (static_cast<unsigned char>(input[at + len]) & 0xC0) == 0x80) {
        --len;
    }
    return len;
}

// ---------------------------------------------------------------------------------------------
// Attribute cap, applied to the bytes before libxml2 sees them.

// A linear byte scanner that follows libxml2 2.9.14's HTML push parser closely enough to know
// where start tags and their attributes are, and cuts every attribute after the first `limit` of
// a tag (from the first excess attribute up to, not including, the '>' that ends the tag).
// Mirrors htmlParseStartTag/htmlParseAttribute: a tag starts at '<' + ASCII letter; names are
// [A-Za-z0-9:_.-] and are split every 100 bytes (HTML_PARSER_BUFFER_SIZE), each piece being one
// more attribute; values are '...', "..." or run to a blank or '>'; any other byte starts a bogus
// attribute that runs to a blank or '>'. Comments run to "-->" or "--!>"; only script and style
// are raw text (libxml2 2.9 parses tags inside title and textarea) and end at "</script" or
// "</style", case-insensitive, whatever follows. Where it may disagree with libxml2 it errs
// towards seeing a tag: "<!x", "<?" and "</ " are text here. State carries across chunks.
// Per-call: lives on run()'s stack.
class AttributeCap {
public:
    explicit AttributeCap(std::size_t limit) noexcept : limit_(limit) {}

    // `chunk` with the excess attributes removed: `chunk` itself when nothing was cut, else a view
    // of `scratch` (overwritten). Valid until the next call.
    std::string_view filter(std::string_view chunk, std::string& scratch) {
        const char* p = chunk.data();
        const std::size_t n = chunk.size();
        bool copied = false;
        std::size_t keep_from = dropping_ ? n : 0; // start of the pending kept run, n when none
        if (dropping_) {
            scratch.clear();
            copied = true;
        }
        std::size_t i = 0;
        while (i < n) {
            const std::size_t next = step(p, n, i);
            if (dropping_ != (keep_from == n)) {
                if (dropping_) { // a cut starts at byte `i`
                    if (!copied) {
                        scratch.clear();
                        copied = true;
                    }
                    scratch.append(p + keep_from, i - keep_from);
                    keep_from = n;
                } else { // the cut ended just before byte `i` (the tag's '>')
                    keep_from = i;
                }
            }
            i = next;
        }
        if (!copied) {
            return chunk;
        }
        if (keep_from < n) {
            scratch.append(p + keep_from, n - keep_from);
        }
        return scratch;
    }

    // After the last chunk: settles an attribute name cut by the end of input.
    void finish() noexcept { end_name(); }

    [[nodiscard]] std::size_t dropped() const noexcept { return dropped_; }
    [[nodiscard]] std::size_t dropped_handlers() const noexcept { return dropped_handlers_; }

private:
    enum class State : std::uint8_t {
        Data,
        Lt,          // after '<'
        LtSlash,     // after "</"
        EndTag,      // inside an end tag, up to '>'
        Pi,          // after "<?"
        Bang,        // after "<!"
        BangDash,    // after "<!-"
        Doctype,     // after "<!D", matching "<!DOCTYPE"
        Comment,     // inside <!-- -->
        TagName,     // start tag name
        BeforeAttr,  // attribute area, between attributes
        AttrName,    // attribute name
        AfterName,   // blanks after a name: '=' or the next attribute
        BeforeValue, // after '='
        Quoted,      // value up to quote_
        Unquoted,    // value up to a blank or '>'
        Bogus,       // not an attribute: up to a blank or '>'
        RawText,     // script/style content, up to "</" + raw_name_
        RawEndTag,   // a non-matching end tag inside raw text, up to '>'
    };

    static constexpr std::size_t libxml_name_max = 100; // HTML_PARSER_BUFFER_SIZE

    static constexpr bool blank(char c) noexcept {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }
    static constexpr bool letter(char c) noexcept {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    static constexpr bool name_char(char c) noexcept {
        return letter(c) || (c >= '0' && c <= '9') || c == ':' || c == '-' || c == '_' || c == '.';
    }
    static constexpr bool attr_start(char c) noexcept {
        return letter(c) || c == '_' || c == ':' || c == '.';
    }

    // Processes the byte at i (possibly a run of bytes) and returns the index to continue from.
    // Sets dropping_ exactly when the byte at i is the first cut (or first kept) byte.
    std::size_t step(const char* p, std::size_t n, std::size_t i) {
        const char c = p[i];
        switch (state_) {
        case State::Data: {
            const void* lt = std::memchr(p + i, '<', n - i);
            if (lt == nullptr) {
                return n;
            }
            state_ = State::Lt;
            return static_cast<std::size_t>(static_cast<const char*>(lt) - p) + 1;
        }
        case State::Lt:
            if (letter(c)) {
                state_ = State::TagName;
                attrs_ = 0;
                tag_len_ = 1;
                tag_[0] = lower(c);
                return i + 1;
            }
            state_ = c == '/'   ? State::LtSlash
                     : c == '!' ? State::Bang
                     : c == '?' ? State::Pi
                                : State::Data;
            return c == '<' ? i : i + 1;
        case State::LtSlash:
            state_ = letter(c) ? State::EndTag : State::Data;
            return c == '<' ? i : i + 1;
        case State::EndTag: {
            const void* gt = std::memchr(p + i, '>', n - i);
            if (gt == nullptr) {
                return n;
            }
            state_ = State::Data;
            return static_cast<std::size_t>(static_cast<const char*>(gt) - p) + 1;
        }
        case State::Pi:
            // "<?name" is a processing instruction up to the next '>'; after "<?" + anything
            // else libxml2 drops the "<?" and parses on.
            if (letter(c) || c == '_' || c == ':' || static_cast<unsigned char>(c) >= 0x80) {
                state_ = State::EndTag;
                return i + 1;
            }
            state_ = State::Data;
            return i;
        case State::Bang:
            if (c == 'd' || c == 'D') {
                state_ = State::Doctype;
                matched_ = 1;
                return i + 1;
            }
            state_ = c == '-' ? State::BangDash : State::Data;
            return c == '<' ? i : i + 1;
        case State::Doctype: {
            // libxml2 reads "<!DOCTYPE" (any case) up to the next '>', '<' included.
            constexpr std::string_view doctype = "doctype";
            if (lower(c) != doctype[matched_]) {
                state_ = State::Data;
                return c == '<' ? i : i + 1;
            }
            if (++matched_ == doctype.size()) {
                state_ = State::EndTag;
            }
            return i + 1;
        }
        case State::BangDash:
            if (c == '-') {
                state_ = State::Comment;
                dashes_ = 0;
                bang_ = false;
                return i + 1;
            }
            state_ = State::Data;
            return c == '<' ? i : i + 1;
        case State::Comment:
            return comment(p, n, i);
        case State::TagName:
            if (name_char(c)) {
                if (tag_len_ == libxml_name_max) {
                    state_ = State::BeforeAttr; // libxml2 reads the rest as attributes
                    return i;
                }
                if (tag_len_ < tag_.size()) {
                    tag_[tag_len_] = lower(c);
                }
                ++tag_len_;
                return i + 1;
            }
            state_ = State::BeforeAttr;
            return i;
        case State::BeforeAttr:
            if (blank(c)) {
                return i + 1;
            }
            if (c == '>') {
                return end_tag(i);
            }
            if (attr_start(c)) {
                begin_attribute();
                state_ = State::AttrName;
                return i; // AttrName takes the first byte
            }
            state_ = State::Bogus;
            slash_ = c == '/';
            return i + 1;
        case State::AttrName:
            if (name_char(c)) {
                if (name_len_ == libxml_name_max) {
                    end_name();
                    state_ = State::BeforeAttr; // the rest is another attribute, or bogus
                    return i;
                }
                if (name_len_ < 2) {
                    on_prefix_ = on_prefix_ && lower(c) == (name_len_ == 0 ? 'o' : 'n');
                }
                ++name_len_;
                return i + 1;
            }
            end_name();
            state_ = State::AfterName;
            return i;
        case State::AfterName:
            if (blank(c)) {
                return i + 1;
            }
            if (c == '=') {
                state_ = State::BeforeValue;
                return i + 1;
            }
            state_ = State::BeforeAttr;
            return i;
        case State::BeforeValue:
            if (blank(c)) {
                return i + 1;
            }
            if (c == '"' || c == '\'') {
                quote_ = c;
                state_ = State::Quoted;
                return i + 1;
            }
            state_ = State::Unquoted;
            return i;
        case State::Quoted: {
            const void* q = std::memchr(p + i, quote_, n - i);
            if (q == nullptr) {
                return n;
            }
            state_ = State::BeforeAttr;
            return static_cast<std::size_t>(static_cast<const char*>(q) - p) + 1;
        }
        case State::Unquoted:
            if (blank(c) || c == '>') {
                state_ = State::BeforeAttr;
                return i;
            }
            return i + 1;
        case State::Bogus:
            if (c == '>') {
                return end_tag(i);
            }
            if (blank(c)) {
                state_ = State::BeforeAttr;
                return i + 1;
            }
            slash_ = c == '/';
            return i + 1;
        case State::RawText:
            return raw_text(p, n, i);
        case State::RawEndTag: {
            const void* gt = std::memchr(p + i, '>', n - i);
            if (gt == nullptr) {
                return n;
            }
            state_ = State::RawText;
            return static_cast<std::size_t>(static_cast<const char*>(gt) - p) + 1;
        }
        }
        return i + 1;
    }

    // "-->" or "--!>" ends a comment; the dashes of "<!--" do not count towards it.
    std::size_t comment(const char* p, std::size_t n, std::size_t i) {
        while (i < n) {
            const char c = p[i];
            if (c == '>' && dashes_ >= 2) {
                state_ = State::Data;
                return i + 1;
            }
            if (c == '!' && dashes_ >= 2 && !bang_) {
                bang_ = true;
                ++i;
                continue;
            }
            if (c == '-') {
                dashes_ = bang_ ? 1 : dashes_ + 1;
                bang_ = false;
                ++i;
                continue;
            }
            dashes_ = 0;
            bang_ = false;
            const void* dash = std::memchr(p + i, '-', n - i);
            if (dash == nullptr) {
                return n;
            }
            i = static_cast<std::size_t>(static_cast<const char*>(dash) - p);
        }
        return n;
    }

    // Raw text ends where libxml2 2.9 ends it: at "</" + raw_name_ (any case) followed by a
    // byte that cannot continue a name. "</scriptx ...>" and "</script- ...>" are end tags that
    // match nothing: skipped up to '>', the raw text goes on. Split across chunks too.
    std::size_t raw_text(const char* p, std::size_t n, std::size_t i) {
        const std::string_view end = raw_name_;
        while (i < n) {
            if (matched_ == 0) {
                const void* lt = std::memchr(p + i, '<', n - i);
                if (lt == nullptr) {
                    return n;
                }
                i = static_cast<std::size_t>(static_cast<const char*>(lt) - p) + 1;
                matched_ = 1;
                continue;
            }
            if (matched_ == end.size() + 2) {
                matched_ = 0;
                state_ = name_char(p[i]) ? State::RawEndTag : State::EndTag;
                return i;
            }
            const char want = matched_ == 1 ? '/' : end[matched_ - 2];
            if (lower(p[i]) != want) {
                matched_ = 0;
                continue; // re-read this byte: it may be the next '<'
            }
            ++i;
            ++matched_;
        }
        return n;
    }

    void begin_attribute() noexcept {
        name_len_ = 0;
        on_prefix_ = true;
        if (attrs_ < limit_) {
            ++attrs_;
            return;
        }
        dropping_ = true;
        ++dropped_;
    }

    // Counts a dropped on* name the way read_attrs() counts kept ones.
    void end_name() noexcept {
        if (dropping_ && on_prefix_ && name_len_ > 2) {
            ++dropped_handlers_;
        }
        on_prefix_ = false;
    }

    // The start tag ends at the '>' at i. "<script/>" and "<style />" are empty elements to
    // libxml2 ('/' right before '>' where an attribute could start), not raw text.
    std::size_t end_tag(std::size_t i) noexcept {
        dropping_ = false;
        const bool self_closing = state_ == State::Bogus && slash_;
        const std::string_view name(tag_.data(), std::min(tag_len_, tag_.size()));
        if (!self_closing && tag_len_ == name.size() && (name == "script" || name == "style")) {
            raw_name_ = name == "script" ? "script" : "style";
            matched_ = 0;
            state_ = State::RawText;
        } else {
            state_ = State::Data;
        }
        return i + 1;
    }

    std::size_t limit_;
    State state_ = State::Data;
    std::array<char, 6> tag_{}; // first bytes of the tag name, lower-case
    std::size_t tag_len_ = 0;   // full tag name length (up to libxml_name_max)
    std::size_t attrs_ = 0;     // attributes kept in the current tag
    std::size_t name_len_ = 0;  // current attribute name piece length
    bool on_prefix_ = false;    // current name piece starts with "on"
    char quote_ = '"';
    bool slash_ = false;        // the last byte of the bogus attribute was '/'
    int dashes_ = 0;            // '-' run just read inside a comment
    bool bang_ = false;         // ... followed by '!'
    std::string_view raw_name_; // "script" or "style"
    std::size_t matched_ = 0;   // bytes of "<!doctype" or "</" + raw_name_ matched
    bool dropping_ = false;     // inside a cut
    std::size_t dropped_ = 0;
    std::size_t dropped_handlers_ = 0;
};

void add_note(std::vector<AuditNote>& notes, std::string_view code, std::size_t n) {
    if (n > 0) {
        notes.push_back(AuditNote{code, "count=" + std::to_string(n)});
    }
}

} // namespace

HtmlToText::HtmlToText(HtmlPolicy policy) : policy_(policy) {
    xmlInitParser();
}

Result<HtmlText> HtmlToText::run(std::string_view utf8_html, Budget& budget) const {
    if (auto t = budget.check_time(); !t) {
        return fail(ErrorCode::LimitExceeded, html_error::time_exceeded);
    }
    HtmlText res;

    std::string_view input = utf8_html;
    if (input.starts_with("\xEF\xBB\xBF")) {
        input.remove_prefix(3);
    }
    std::string fixed;
    if (const std::size_t bad = first_bad_utf8(input); bad < input.size()) {
        fixed = sanitize_utf8(input, bad, res.counts.invalid_utf8);
        input = fixed;
    }

    const std::size_t out_limit = std::min(policy_.max_output, budget.output_left());
    Renderer renderer(policy_, out_limit, res);

    htmlSAXHandler sax{};
    sax.startElement = &Renderer::sax_start;
    sax.endElement = &Renderer::sax_end;
    sax.characters = &Renderer::sax_text;
    sax.ignorableWhitespace = &Renderer::sax_text;
    sax.cdataBlock = &Renderer::sax_raw;
    sax.comment = &Renderer::sax_comment;

    CtxtPtr ctxt(
        htmlCreatePushParserCtxt(&sax, &renderer, nullptr, 0, nullptr, XML_CHAR_ENCODING_UTF8));
    if (!ctxt) {
        return fail(ErrorCode::Internal, html_error::parser_failed, "context");
    }
    // IGNORE_ENC: the text is already UTF-8; honouring <meta charset=Shift_JIS> makes libxml2
    // re-decode it and silently drop the body. HUGE: no length caps on text and names.
    htmlCtxtUseOptions(ctxt.get(), HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                                       HTML_PARSE_NOWARNING | HTML_PARSE_IGNORE_ENC |
                                       XML_PARSE_HUGE);
    renderer.attach(ctxt.get());

    AttributeCap cap(html_max_attributes);
    std::string capped; // reused for chunks that lose attributes
    for (std::size_t at = 0; at < input.size() && !renderer.failed();) {
        if (auto t = budget.check_time(); !t) {
            return fail(ErrorCode::LimitExceeded, html_error::time_exceeded);
        }
        const std::size_t len = chunk_length(input, at);
        const std::string_view chunk = cap.filter(input.substr(at, len), capped);
        if (!chunk.empty()) {
            htmlParseChunk(ctxt.get(), chunk.data(), static_cast<int>(chunk.size()), 0);
        }
        at += len;
    }
    cap.finish();
    res.counts.attributes_dropped = cap.dropped();
    res.counts.event_handlers += cap.dropped_handlers();
    if (!renderer.failed()) {
        if (auto t = budget.check_time(); !t) {
            return fail(ErrorCode::LimitExceeded, html_error::time_exceeded);
        }
        htmlParseChunk(ctxt.get(), nullptr, 0, 1);
    }
    renderer.finish();
    if (renderer.failed()) {
        return tl::unexpected<Error>(*renderer.error());
    }

    normalize(res.text);
    if (first_bad_utf8(res.text) < res.text.size()) {
        std::size_t ignored = 0;
        res.text = sanitize_utf8(res.text, first_bad_utf8(res.text), ignored);
    }
    if (policy_.defang_links) {
        defang(res.text);
    }
    if (auto t = budget.take_output(res.text.size()); !t) {
        return fail(ErrorCode::LimitExceeded, html_error::output_exceeded,
                    "limit=" + std::to_string(out_limit));
    }

    const HtmlCounts& c = res.counts;
    auto& notes = res.notes;
    add_note(notes, html_note::script_removed, c.scripts);
    add_note(notes, html_note::style_removed, c.styles);
    add_note(notes, html_note::form_removed, c.forms + c.form_controls);
    add_note(notes, html_note::iframe_removed, c.iframes);
    add_note(notes, html_note::object_removed, c.objects);
    add_note(notes, html_note::remote_image_removed, c.remote_images);
    add_note(notes, html_note::image_replaced, c.images);
    add_note(notes, html_note::link_shown, c.links);
    add_note(notes, html_note::dangerous_link_removed, c.dangerous_links);
    add_note(notes, html_note::long_url_removed, c.long_urls);
    add_note(notes, html_note::link_text_mismatch, c.mismatched_links);
    add_note(notes, html_note::hidden_removed, c.hidden);
    add_note(notes, html_note::comment_removed, c.comments);
    add_note(notes, html_note::meta_refresh_removed, c.meta_refresh);
    add_note(notes, html_note::event_handler_removed, c.event_handlers);
    add_note(notes, html_note::invalid_utf8_replaced, c.invalid_utf8);
    add_note(notes, html_note::url_list_capped, c.urls_dropped);
    add_note(notes, html_note::attributes_capped, c.attributes_dropped);
    if (res.depth_exceeded) {
        notes.push_back(
            AuditNote{html_note::depth_exceeded, "max_depth=" + std::to_string(c.max_depth_seen)});
    }
    return res;
}

void defang_links(std::string& text) {
    defang(text);
}

} // namespace mugaika::filters::text
