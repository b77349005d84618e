#include <algorithm>
#include <initializer_list>

#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr {
namespace {

bool starts_with(std::string_view s, std::string_view p) noexcept {
    return s.substr(0, p.size()) == p;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> list) noexcept {
    return std::find(list.begin(), list.end(), s) != list.end();
}

/// Every engine, built once (engines are stateless).
const std::vector<std::unique_ptr<Engine>>& engines() {
    static const std::vector<std::unique_ptr<Engine>> all = [] {
        std::vector<std::unique_ptr<Engine>> v;
        v.push_back(make_pdf_engine());
        v.push_back(make_ooxml_engine());
        v.push_back(make_odf_engine());
        v.push_back(make_office_engine());
        v.push_back(make_image_engine());
        v.push_back(make_archive_engine());
        v.push_back(make_text_engine());
        return v;
    }();
    return all;
}

} // namespace

std::string_view engine_for(std::string_view type, std::string_view ext) noexcept {
    if (type == "application/pdf") {
        return "pdf";
    }
    // libmagic names OOXML precisely when [Content_Types].xml comes first, and "application/zip"
    // (or octet-stream) for packages written in another order: the extension decides then.
    const bool ooxml_ext =
        one_of(ext, {"docx", "docm", "dotx", "dotm", "xlsx", "xlsm", "xltx", "xltm", "xlam", "pptx",
                     "pptm", "potx", "potm", "ppsx", "ppsm", "ppam"});
    if (starts_with(type, "application/vnd.openxmlformats-officedocument.") ||
        (starts_with(type, "application/vnd.ms-") && type.find("macroenabled") != type.npos) ||
        ((type == "application/zip" || type == "application/octet-stream" ||
          type == "application/encrypted") &&
         ooxml_ext)) {
        // application/encrypted: a password-protected OOXML (an OLE2 EncryptedPackage); the
        // engine refuses it with its own code (cdr.ooxml.encrypted) for the audit.
        return "ooxml";
    }
    if (starts_with(type, "application/vnd.oasis.opendocument.")) {
        return "odf";
    }
    if (one_of(type, {"application/msword", "application/vnd.ms-excel",
                      "application/vnd.ms-powerpoint", "text/rtf", "application/rtf"}) ||
        (one_of(type, {"application/x-ole-storage", "application/cdfv2"}) &&
         one_of(ext, {"doc", "dot", "xls", "xlt", "ppt", "pps", "pot"}))) {
        return "office";
    }
    if (one_of(type, {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/x-ms-bmp",
                      "image/tiff", "image/webp"})) {
        return "image";
    }
    if (type == "application/zip") {
        return "archive";
    }
    // Text only under a text name (or none): "MZ" bytes named setup.exe look like text to
    // libmagic and must not come back as a "rebuilt" setup.exe. Other text/* (HTML, scripts) only
    // under a text extension, where no program runs them.
    const bool text_ext = one_of(ext, {"txt", "text", "csv", "tsv", "json", "xml", "log", "md"});
    if ((one_of(type,
                {"text/plain", "text/csv", "application/json", "text/xml", "application/xml"}) &&
         (ext.empty() || text_ext)) ||
        (starts_with(type, "text/") && text_ext)) {
        return "text";
    }
    return {};
}

const Engine* find_engine(std::string_view name) noexcept {
    for (const auto& e : engines()) {
        if (e->name() == name) {
            return e.get();
        }
    }
    return nullptr;
}

const std::vector<std::string_view>& engine_names() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> v;
        for (const auto& e : engines()) {
            v.push_back(e->name());
        }
        return v;
    }();
    return names;
}

Result<Output> rebuild_with(std::string_view engine, std::span<const std::byte> in,
                            std::string_view filename, const Options& options) {
    const Engine* e = find_engine(engine);
    if (e == nullptr) {
        return fail(ErrorCode::Unsupported, "cdr.no_engine", std::string(engine));
    }
    return e->rebuild(in, filename, options);
}

} // namespace mugaika::filters::cdr
