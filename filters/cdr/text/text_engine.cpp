// The text engine: plain text, CSV, TSV, JSON and XML are decoded (Japanese charsets included,
// with filters/text/charset) and written again as UTF-8 without control characters. Lines,
// delimiters and quoting are kept; nothing is reformatted. See docs/cdr/images-archives-text.md.
#include <algorithm>
#include <string>
#include <string_view>

#include "filters/cdr/cdr.hpp"
#include "filters/text/charset.hpp"

namespace mugaika::filters::cdr {
namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

std::string lower_extension(std::string_view filename) {
    const std::size_t slash = filename.find_last_of("/\\");
    const std::string_view base =
        slash == std::string_view::npos ? filename : filename.substr(slash + 1);
    const std::size_t dot = base.rfind('.');
    if (dot == std::string_view::npos) {
        return {};
    }
    std::string ext(base.substr(dot + 1));
    std::transform(ext.begin(), ext.end(), ext.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return ext;
}

std::string content_type_for(std::string_view ext) {
    if (ext == "csv") {
        return "text/csv; charset=utf-8";
    }
    if (ext == "tsv") {
        return "text/tab-separated-values; charset=utf-8";
    }
    if (ext == "json") {
        return "application/json";
    }
    if (ext == "xml") {
        return "application/xml; charset=utf-8";
    }
    return "text/plain; charset=utf-8";
}

/// The XML declaration at the start of `s` ("<?xml ... ?>"), or "" when there is none.
std::string_view xml_declaration(std::string_view s) {
    if (!s.starts_with("<?xml")) {
        return {};
    }
    const std::size_t end = s.find("?>");
    if (end == std::string_view::npos || end > 512) {
        return {};
    }
    return s.substr(0, end + 2);
}

/// The position and length of the encoding pseudo-attribute's value inside `decl`.
std::pair<std::size_t, std::size_t> xml_encoding_value(std::string_view decl) {
    const std::size_t at = decl.find("encoding");
    if (at == std::string_view::npos) {
        return {std::string_view::npos, 0};
    }
    std::size_t p = at + 8;
    while (p < decl.size() && (decl[p] == ' ' || decl[p] == '\t' || decl[p] == '\r' ||
                               decl[p] == '\n' || decl[p] == '=')) {
        ++p;
    }
    if (p >= decl.size() || (decl[p] != '"' && decl[p] != '\'')) {
        return {std::string_view::npos, 0};
    }
    const char quote = decl[p];
    const std::size_t close = decl.find(quote, p + 1);
    if (close == std::string_view::npos) {
        return {std::string_view::npos, 0};
    }
    return {p + 1, close - p - 1};
}

class TextEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "text"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        std::string_view bytes(reinterpret_cast<const char*>(in.data()), in.size());
        const std::string ext = lower_extension(filename);
        Output out;

        // A byte order mark names the charset; it is not part of the text.
        std::string label;
        bool had_bom = false;
        if (bytes.starts_with(utf8_bom)) {
            bytes.remove_prefix(3);
            label = "utf-8";
            had_bom = true;
        } else if (bytes.starts_with("\xFF\xFE")) {
            bytes.remove_prefix(2);
            label = "utf-16le";
            had_bom = true;
        } else if (bytes.starts_with("\xFE\xFF")) {
            bytes.remove_prefix(2);
            label = "utf-16be";
            had_bom = true;
        } else if (const std::string_view decl = xml_declaration(bytes); !decl.empty()) {
            const auto [at, len] = xml_encoding_value(decl);
            if (at != std::string_view::npos) {
                label = std::string(decl.substr(at, len));
            }
        }

        auto decoded = text::decode_to_utf8(bytes, label, options.max_output_size);
        if (!decoded) {
            if (decoded.error().code == ErrorCode::LimitExceeded) {
                return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                            decoded.error().detail);
            }
            return fail(ErrorCode::Internal, "cdr.text.decode_failed",
                        std::string(decoded.error().what));
        }
        // The line end style of the input, kept: CRLF when most line ends are CRLF.
        const std::string& u = decoded->utf8;
        std::size_t crlf = 0;
        std::size_t lf = 0;
        for (std::size_t i = 0; i < u.size(); ++i) {
            if (u[i] == '\n') {
                (i > 0 && u[i - 1] == '\r' ? crlf : lf) += 1;
            }
        }
        text::Cleaned cleaned = text::clean_text(u);

        std::string body;
        if (crlf > lf) {
            body.reserve(cleaned.text.size() + crlf + 16);
            for (const char c : cleaned.text) {
                if (c == '\n') {
                    body += '\r';
                }
                body += c;
            }
        } else {
            body = std::move(cleaned.text);
        }

        const std::string& charset = decoded->charset;
        const bool reencoded = charset != "utf-8" && charset != "us-ascii";
        // An XML declaration naming the old charset would now lie: it names UTF-8.
        if (const std::string_view decl = xml_declaration(body); !decl.empty()) {
            const auto [at, len] = xml_encoding_value(decl);
            if (at != std::string_view::npos &&
                text::canonical_charset(decl.substr(at, len)) != "utf-8") {
                body.replace(at, len, "UTF-8");
            }
        }

        // Excel reads a CSV without a BOM as CP932 on Japanese Windows: CSV always gets one.
        // Other text keeps a BOM it had (Notepad's way of saying UTF-8); JSON never has one.
        const bool bom = ext == "csv" || (had_bom && ext != "json");
        std::string result = bom ? std::string(utf8_bom) + body : body;
        if (result.size() > options.max_output_size) {
            return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                        "size=" + std::to_string(result.size()));
        }

        // Check: valid UTF-8 with nothing clean_text would still remove.
        const std::string_view check = std::string_view(result).substr(bom ? 3 : 0);
        if (!text::is_valid_utf8(check) || text::clean_text(check).removed != 0) {
            return fail(ErrorCode::Internal, "cdr.text.verify_failed", "rebuilt text");
        }

        if (reencoded) {
            out.removed.push_back({"text.reencoded", charset + " -> utf-8", ""});
        }
        if (decoded->replaced > 0) {
            out.removed.push_back(
                {"text.undecodable",
                 std::to_string(decoded->replaced) + " sequences replaced by U+FFFD", ""});
        }
        if (cleaned.removed > 0) {
            out.removed.push_back(
                {"text.control_chars", std::to_string(cleaned.removed) + " characters", ""});
        }
        if (bom && !(had_bom && label == "utf-8")) {
            out.removed.push_back({"text.bom_added", "utf-8 bom", ""});
        }
        out.bytes = std::move(result);
        out.filename = std::string(filename);
        out.content_type = content_type_for(ext);
        return out;
    }
};

} // namespace

std::unique_ptr<Engine> make_text_engine() {
    return std::make_unique<TextEngine>();
}

} // namespace mugaika::filters::cdr
