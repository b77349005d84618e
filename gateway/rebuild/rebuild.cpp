#include "gateway/rebuild/rebuild.hpp"

#include <algorithm>
#include <cctype>

#include "filters/text/charset.hpp"
#include "filters/text/header_text.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), s.begin(),
                                                   [](unsigned char a, unsigned char b) {
                                                       return std::tolower(a) == std::tolower(b);
                                                   });
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && istarts_with(a, b);
}

bool has_8bit(std::string_view s) noexcept {
    return std::any_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool is_dropped_header(std::string_view name) noexcept {
    return istarts_with(name, "content-") || iequals(name, "mime-version") ||
           istarts_with(name, "x-mugaika-");
}

bool is_address_header(std::string_view name) noexcept {
    for (std::string_view n :
         {"from", "to", "cc", "bcc", "reply-to", "sender", "resent-from", "resent-to", "resent-cc",
          "return-receipt-to", "disposition-notification-to"}) {
        if (iequals(name, n)) {
            return true;
        }
    }
    return false;
}

/// Splits an address list at commas outside quotes, comments and angle brackets.
std::vector<std::string> split_addresses(std::string_view s) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    int angle = 0;
    int paren = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (quoted) {
            if (c == '\\' && i + 1 < s.size()) {
                cur += c;
                cur += s[++i];
                continue;
            }
            if (c == '"') {
                quoted = false;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == '<') {
            ++angle;
        } else if (c == '>' && angle > 0) {
            --angle;
        } else if (c == '(') {
            ++paren;
        } else if (c == ')' && paren > 0) {
            --paren;
        } else if (c == ',' && angle == 0 && paren == 0) {
            out.push_back(cur);
            cur.clear();
            continue;
        }
        cur += c;
    }
    out.push_back(cur);
    return out;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

bool is_unstructured_text(std::string_view name) noexcept {
    return iequals(name, "subject") || iequals(name, "comments") || iequals(name, "keywords") ||
           iequals(name, "thread-topic");
}

/// Whether a header's text is encoded in a way only a careful decoder reads right: raw 8-bit
/// bytes, bare ISO-2022-JP escapes, or RFC 2047 words (which may carry mislabelled or split
/// Japanese). Such headers are rewritten as UTF-8 encoded words from our own decoding, so that
/// every mail client on the LGWAN side shows the same, correct text.
bool needs_normalizing(std::string_view raw) noexcept {
    return has_8bit(raw) || raw.find('\x1b') != std::string_view::npos ||
           raw.find("=?") != std::string_view::npos;
}

/// Rewrites a header as RFC 2047 UTF-8; address headers keep their addresses and encode only the
/// display names (split on the raw value, where encoded words cannot hide commas).
std::string normalize_header(std::string_view name, std::string_view raw) {
    if (!is_address_header(name)) {
        return filters::text::encode_header_text(trim(filters::text::decode_header_text(raw)),
                                                 name.size() + 2);
    }
    std::string out;
    for (const std::string& item : split_addresses(raw)) {
        const std::string addr = trim(item);
        const auto lt = addr.rfind('<');
        std::string piece;
        if (lt != std::string::npos && lt > 0) {
            std::string display =
                trim(filters::text::decode_header_text(std::string_view(addr).substr(0, lt)));
            if (display.size() >= 2 && display.front() == '"' && display.back() == '"') {
                display = display.substr(1, display.size() - 2);
            }
            const std::string angle = trim(filters::text::decode_header_text(addr.substr(lt)));
            piece = filters::text::encode_header_text(display, 0) + " " + angle;
        } else {
            piece = trim(filters::text::decode_header_text(addr));
        }
        if (piece.empty()) {
            continue;
        }
        if (!out.empty()) {
            out += ",\r\n ";
        }
        out += piece;
    }
    return out;
}

/// RFC 2231 parameter: ASCII as a quoted string, anything else as name*=UTF-8''pct.
std::string param(std::string_view key, std::string_view value) {
    bool plain = !value.empty();
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
            plain = false;
        }
    }
    if (plain) {
        return std::string(key) + "=\"" + std::string(value) + "\"";
    }
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out = std::string(key) + "*=UTF-8''";
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '.' || c == '-' || c == '_') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

/// A boundary that cannot occur in base64 or in our text (it starts with "=_"), derived from the
/// audit id so that the same input and id give the same bytes.
std::string make_boundary(const std::string& audit_id, std::string_view text) {
    return "=_mugaika_" + sha256_hex(audit_id + std::string(text.substr(0, 64))).substr(0, 24);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

std::string kept_headers(const std::vector<RawHeader>& headers, const Config& cfg,
                         std::size_t& reencoded) {
    std::string out;
    bool subject_seen = false;
    for (const RawHeader& h : headers) {
        if (is_dropped_header(h.name)) {
            continue;
        }
        if (iequals(h.name, "subject")) {
            subject_seen = true;
            if (!cfg.notice.subject_tag.empty()) {
                const std::string decoded = trim(filters::text::decode_header_text(h.value));
                append_header(out, h.name,
                              filters::text::encode_header_text(cfg.notice.subject_tag + decoded,
                                                                h.name.size() + 2));
                continue;
            }
        }
        if (has_8bit(h.name)) {
            continue; // not a valid field name: drop rather than pass on
        }
        if ((is_unstructured_text(h.name) || is_address_header(h.name)) &&
            needs_normalizing(h.value)) {
            ++reencoded;
            append_header(out, h.name, normalize_header(h.name, h.value));
            continue;
        }
        if (has_8bit(h.value)) {
            // Any other field with raw 8-bit bytes: decoded and re-encoded as unstructured text.
            ++reencoded;
            append_header(out, h.name,
                          filters::text::encode_header_text(
                              trim(filters::text::decode_header_text(h.value)), h.name.size() + 2));
            continue;
        }
        append_header(out, h.name, clean_raw_value(h.value));
    }
    if (!subject_seen && !cfg.notice.subject_tag.empty()) {
        append_header(out, "Subject", filters::text::encode_header_text(cfg.notice.subject_tag, 9));
    }
    return out;
}

struct EncodedBody {
    std::string headers; // Content-Type and Content-Transfer-Encoding lines
    std::string body;
    std::size_t unencodable = 0;
};

EncodedBody encode_text(const Config& cfg, std::string_view text) {
    EncodedBody out;
    if (cfg.output_charset == "iso-2022-jp") {
        auto enc = filters::text::encode_iso2022jp(text);
        out.unencodable = enc.replaced;
        out.headers = "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
                      "Content-Transfer-Encoding: 7bit\r\n";
        out.body = to_crlf(enc.bytes);
        return out;
    }
    out.headers = "Content-Type: text/plain; charset=UTF-8\r\n";
    if (cfg.transfer_encoding == "quoted-printable") {
        out.headers += "Content-Transfer-Encoding: quoted-printable\r\n";
        out.body = quoted_printable_encode(text);
    } else if (cfg.transfer_encoding == "8bit") {
        out.headers += "Content-Transfer-Encoding: 8bit\r\n";
        out.body = to_crlf(text);
    } else {
        out.headers += "Content-Transfer-Encoding: base64\r\n";
        out.body = base64_encode_lines(text);
    }
    return out;
}

} // namespace

std::string clean_raw_value(std::string_view raw) {
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) {
        raw.remove_prefix(1);
    }
    while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) {
        raw.remove_suffix(1);
    }
    return to_crlf(raw);
}

std::string sanitized_header_value(const std::string& audit_id, const std::string& ruleset_version,
                                   std::string_view mode) {
    return "audit=" + audit_id + "; mode=" + std::string(mode) + "; rules=" + ruleset_version +
           "; by=mugaika/" MUGAIKA_VERSION;
}

filters::Result<RebuiltMessage> rebuild_message(const Config& cfg, const RebuildInput& in) {
    RebuiltMessage msg;
    std::string& out = msg.bytes;
    out = kept_headers(*in.headers, cfg, msg.headers_reencoded);
    append_header(out, "X-Mugaika-Sanitized",
                  sanitized_header_value(in.audit_id, in.ruleset_version, "text"));
    append_header(out, "MIME-Version", "1.0");
    EncodedBody text = encode_text(cfg, in.text);
    msg.unencodable = text.unencodable;
    if (in.kept.empty()) {
        out += text.headers;
        out += "\r\n";
        out += text.body;
    } else {
        const std::string boundary = make_boundary(in.audit_id, in.text);
        out += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n";
        out += "This is a multi-part message in MIME format.\r\n";
        out += "--" + boundary + "\r\n" + text.headers + "\r\n" + text.body;
        for (const KeptPart& k : in.kept) {
            out += "--" + boundary + "\r\n";
            out += "Content-Type: " + k.content_type;
            if (!k.filename.empty()) {
                out += "; " + param("name", k.filename);
            }
            out += "\r\nContent-Transfer-Encoding: base64\r\n";
            out += "Content-Disposition: attachment";
            if (!k.filename.empty()) {
                out += "; " + param("filename", k.filename);
            }
            out += "\r\n";
            if (!k.cdr_engine.empty()) {
                // Marks a rebuilt part for everyone downstream: every leaf of a sanitized mail
                // is the text body, a CDR-rebuilt file, or a part a rule kept on purpose.
                out += "X-Mugaika-CDR: " + k.cdr_engine + "; audit=" + in.audit_id + "\r\n";
            }
            out += "\r\n";
            out += base64_encode_lines(k.bytes);
        }
        out += "--" + boundary + "--\r\n";
    }
    if (out.size() > cfg.max_output_size) {
        return fail(ErrorCode::LimitExceeded, "rebuild.output_too_large",
                    "size=" + std::to_string(out.size()));
    }
    return msg;
}

std::string passthrough_message(std::string_view original, const std::vector<RawHeader>& headers,
                                const std::string& audit_id, const std::string& ruleset_version) {
    // Remove any X-Mugaika-* a sender forged: only this gateway may set them.
    bool forged = std::any_of(headers.begin(), headers.end(), [](const RawHeader& h) {
        return istarts_with(h.name, "x-mugaika-");
    });
    std::string out =
        "X-Mugaika-Sanitized: " + sanitized_header_value(audit_id, ruleset_version, "pass") +
        "\r\n";
    if (!forged) {
        out += original;
        return out;
    }
    // Walk the header block line by line, skipping forged fields and their continuations.
    std::size_t pos = 0;
    bool skipping = false;
    while (pos < original.size()) {
        std::size_t eol = original.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? original.size() : eol + 1;
        std::string_view line = original.substr(pos, next - pos);
        if (line == "\r\n" || line == "\n") {
            out += original.substr(pos);
            return out;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            if (!skipping) {
                out += line;
            }
        } else {
            skipping = istarts_with(line, "x-mugaika-");
            if (!skipping) {
                out += line;
            }
        }
        pos = next;
    }
    return out;
}

} // namespace mugaika::gateway
