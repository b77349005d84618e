// Legacy Office (doc/xls/ppt, OLE2 compound files) and RTF. These formats cannot be rebuilt
// part by part here, so the engine finds what they carry (macros, embedded objects, DDE and
// external fields, encryption) and either refuses the file ("cdr.office.legacy", the default)
// or, with Options::office_convert, converts it to PDF with LibreOffice in a child process and
// hands the PDF to the pdf engine. See docs/cdr/office.md.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/ole2.hpp"
#include "filters/cdr/office/soffice.hpp"
#include "filters/cdr/office/xml_util.hpp"

#include <unistd.h>

namespace mugaika::filters::cdr {
namespace {

/// What a legacy file carries.
struct Findings {
    std::string kind; ///< "doc", "xls", "ppt", "rtf"
    std::vector<Removed> found;
    unsigned macros = 0;
    unsigned objects = 0;
    unsigned fields = 0; ///< DDE, INCLUDE*, LINK fields; linked objects
    bool encrypted = false;

    [[nodiscard]] std::string summary() const {
        return "kind=" + kind + " macros=" + std::to_string(macros) +
               " objects=" + std::to_string(objects) + " dde=" + std::to_string(fields);
    }
};

bool is_rtf(std::span<const std::byte> in) {
    // Word opens anything starting "{\rt" as RTF (a trick used to hide exploits).
    static constexpr std::string_view magic = "{\\rt";
    if (in.size() < magic.size()) {
        return false;
    }
    return std::equal(magic.begin(), magic.end(), in.begin(),
                      [](char a, std::byte b) { return a == std::to_integer<char>(b); });
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/// One pass over the RTF control words.
Findings scan_rtf(std::string_view s) {
    Findings f;
    f.kind = "rtf";
    std::size_t pos = 0;
    std::size_t n = 0;
    while ((pos = s.find('\\', pos)) != s.npos) {
        std::size_t end = pos + 1;
        while (end < s.size() && is_alpha(s[end]) && end - pos < 32) {
            ++end;
        }
        const std::string word = office::ascii_lower(s.substr(pos + 1, end - pos - 1));
        ++n;
        const auto where = [n] { return "control word " + std::to_string(n); };
        if (word == "object") {
            ++f.objects;
            f.found.push_back(
                {"office.embedded_object", "rtf object " + std::to_string(f.objects), ""});
        } else if (word == "objlink" || word == "objautlink" || word == "objupdate") {
            ++f.fields;
            f.found.push_back({"office.linked_object", where(), ""});
        } else if (word == "fldinst") {
            // The field's keyword is the next word of text after control words and braces.
            std::size_t k = end;
            for (int guard = 0; k < s.size() && guard < 64; ++guard) {
                while (k < s.size() && (s[k] == ' ' || s[k] == '{' || s[k] == '}' || s[k] == '\r' ||
                                        s[k] == '\n')) {
                    ++k;
                }
                if (k < s.size() && s[k] == '\\') {
                    ++k;
                    while (k < s.size() && (is_alpha(s[k]) || s[k] == '-' ||
                                            (s[k] >= '0' && s[k] <= '9') || s[k] == '*')) {
                        ++k;
                    }
                    continue;
                }
                break;
            }
            std::size_t e = k;
            while (e < s.size() && is_alpha(s[e]) && e - k < 16) {
                ++e;
            }
            const std::string kw = office::ascii_lower(s.substr(k, e - k));
            if (kw == "dde" || kw == "ddeauto" || kw == "includetext" || kw == "includepicture" ||
                kw == "import" || kw == "link") {
                ++f.fields;
                f.found.push_back({"office.dde_field", "rtf field " + kw, ""});
            }
        } else if (word == "template") {
            f.found.push_back({"office.attached_template", where(), ""});
        }
        pos = end;
    }
    return f;
}

std::uint16_t le16(std::string_view b, std::size_t off) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(b[off]) |
                                      (static_cast<unsigned char>(b[off + 1]) << 8U));
}

/// Excel BIFF8 globals: FILEPASS (encrypted) and BOUNDSHEET entries of macro sheets (XLM).
void scan_workbook(std::string_view wb, Findings& f) {
    std::size_t off = 0;
    unsigned sheet = 0;
    while (off + 4 <= wb.size()) {
        const std::uint16_t type = le16(wb, off);
        const std::uint16_t len = le16(wb, off + 2);
        const std::size_t body = off + 4;
        if (type == 0x002F) { // FILEPASS
            f.encrypted = true;
        } else if (type == 0x0085 && body + 6 <= wb.size()) { // BOUNDSHEET
            ++sheet;
            const auto dt = static_cast<unsigned char>(wb[body + 5]);
            if (dt == 0x01) { // Excel 4.0 macro sheet
                ++f.macros;
                f.found.push_back({"office.xlm_macro", "sheet " + std::to_string(sheet), ""});
            }
        } else if (type == 0x000A) { // EOF of the globals substream
            break;
        }
        off = body + len;
    }
}

Result<Findings> scan_ole(std::span<const std::byte> in) {
    auto ole = office::Ole2File::open(in);
    if (!ole) {
        return tl::unexpected(ole.error());
    }
    Findings f;
    const auto& entries = ole->entries();
    const auto find = [&](std::string_view path) -> const office::Ole2Entry* {
        for (const auto& e : entries) {
            if (e.path == path) {
                return &e;
            }
        }
        return nullptr;
    };
    if (find("EncryptedPackage") != nullptr || find("EncryptionInfo") != nullptr ||
        find("EncryptedSummary") != nullptr) {
        f.encrypted = true;
    }
    const office::Ole2Entry* word = find("WordDocument");
    const office::Ole2Entry* book = find("Workbook");
    if (book == nullptr) {
        book = find("Book");
    }
    if (word != nullptr) {
        f.kind = "doc";
        const std::string fib = ole->read_prefix(*word, 12);
        if (fib.size() == 12 && (le16(fib, 0x0A) & 0x0100U) != 0) { // FIB fEncrypted
            f.encrypted = true;
        }
    } else if (book != nullptr) {
        f.kind = "xls";
        scan_workbook(ole->read_prefix(*book, 1U << 20U), f);
    } else if (find("PowerPoint Document") != nullptr) {
        f.kind = "ppt";
    } else if (!f.encrypted) {
        return fail(ErrorCode::Unsupported, "cdr.office.unknown_ole", "no Office stream");
    }
    std::set<std::string> macro_roots;
    for (const auto& e : entries) {
        const std::string_view top = std::string_view(e.path).substr(0, e.path.find('/'));
        if (e.storage && (e.name == "Macros" || e.name == "_VBA_PROJECT_CUR")) {
            macro_roots.insert(e.path);
        } else if (e.storage && e.name == "VBA" && top != "Macros" && top != "_VBA_PROJECT_CUR") {
            macro_roots.insert(e.path);
        }
        const bool pool_child = e.storage && e.path.starts_with("ObjectPool/") &&
                                e.path.find('/', 11) == std::string::npos;
        const bool excel_object = e.storage && e.path == e.name && e.name.starts_with("MBD");
        if (pool_child || excel_object) {
            ++f.objects;
            f.found.push_back({"office.embedded_object", e.path, ""});
        }
    }
    for (const auto& root : macro_roots) {
        ++f.macros;
        f.found.push_back({"office.macro", root, ""});
    }
    return f;
}

std::string stem_of(std::string_view filename) {
    std::string base(filename);
    const auto slash = base.find_last_of("/\\");
    const auto dot = base.rfind('.');
    if (dot != base.npos && (slash == base.npos || dot > slash)) {
        base.resize(dot);
    }
    return base.empty() ? std::string("document") : base;
}

class OfficeEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "office"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        Findings f;
        if (is_rtf(in)) {
            f = scan_rtf(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
        } else if (office::is_ole2(in)) {
            auto scanned = scan_ole(in);
            if (!scanned) {
                return tl::unexpected(scanned.error());
            }
            f = std::move(*scanned);
        } else {
            return fail(ErrorCode::Malformed, "cdr.office.malformed",
                        "neither an OLE2 file nor RTF");
        }
        if (f.encrypted) {
            return fail(ErrorCode::Malformed, "cdr.office.encrypted", f.summary());
        }
        if (!options.office_convert) {
            return fail(ErrorCode::Unsupported, "cdr.office.legacy", f.summary());
        }
        if (options.soffice.empty() || access(options.soffice.c_str(), X_OK) != 0) {
            return fail(ErrorCode::Unsupported, "cdr.office.legacy",
                        f.summary() + " converter=missing");
        }
        office::ConvertSettings settings;
        settings.soffice = options.soffice;
        settings.work_dir = options.work_dir;
        settings.max_output = options.max_output_size;
        auto converted = office::convert_to_pdf(in, f.kind, settings);
        if (!converted) {
            return tl::unexpected(converted.error());
        }
        auto out = rebuild_with(
            "pdf", std::as_bytes(std::span(converted->pdf.data(), converted->pdf.size())),
            stem_of(filename) + ".pdf", options);
        if (!out) {
            return tl::unexpected(out.error());
        }
        // What the original carried is gone with the format; the pdf engine's own list follows.
        std::vector<Removed> removed = std::move(f.found);
        removed.push_back({"office.converted", f.kind + " -> pdf", ""});
        removed.insert(removed.end(), out->removed.begin(), out->removed.end());
        out->removed = std::move(removed);
        return out;
    }
};

} // namespace

std::unique_ptr<Engine> make_office_engine() {
    return std::make_unique<OfficeEngine>();
}

} // namespace mugaika::filters::cdr
