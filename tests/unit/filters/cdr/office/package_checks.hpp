#pragma once
// Test helpers shared by the ooxml, odf and office engine tests: samples, unzipping, and the
// package invariants every rebuilt OOXML file must satisfy.

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/xml_util.hpp"
#include "filters/cdr/office/zip_package.hpp"

namespace mugaika::test_office {

using filters::cdr::Removed;

inline std::string read_sample(std::string_view name) {
    const std::string path =
        std::string(MUGAIKA_SOURCE_DIR) + "/samples/files/office/" + std::string(name);
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "missing sample " << path);
    std::ostringstream s;
    s << f.rdbuf();
    return std::move(s).str();
}

inline std::span<const std::byte> as_bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

/// Every member of a zip by name, in order of appearance in `order`.
struct Unzipped {
    std::map<std::string, std::string> files;
    std::vector<std::string> order;
};

inline Unzipped unzip(const std::string& bytes) {
    constexpr filters::cdr::office::ZipCodes codes{"t.not_zip", "t.encrypted", "t.bad_name",
                                                   "t.too_large", "t.too_many"};
    auto members = filters::cdr::office::read_zip(as_bytes(bytes), {}, codes);
    REQUIRE_MESSAGE(members.has_value(), "output is not a readable zip");
    Unzipped out;
    for (auto& m : *members) {
        out.order.push_back(m.name);
        out.files.emplace(m.name, std::move(m.data));
    }
    return out;
}

inline bool has_removed(const std::vector<Removed>& removed, std::string_view kind,
                        std::string_view url = {}) {
    for (const auto& r : removed) {
        if (r.kind == kind && (url.empty() || r.url == url)) {
            return true;
        }
    }
    return false;
}

inline bool has_location(const std::vector<Removed>& removed, std::string_view kind,
                         std::string_view location) {
    for (const auto& r : removed) {
        if (r.kind == kind && r.location == location) {
            return true;
        }
    }
    return false;
}

inline pugi::xml_document parse(const std::string& data) {
    pugi::xml_document doc;
    REQUIRE(filters::cdr::office::parse_xml(data, doc));
    return doc;
}

/// The OPC invariants: every XML part parses, [Content_Types].xml names a type for every part
/// and only existing parts, every relationship is internal and points at an existing part.
inline void check_opc(const Unzipped& z) {
    using filters::cdr::office::ascii_lower;
    REQUIRE(z.files.contains("[Content_Types].xml"));
    CHECK(z.order.front() == "[Content_Types].xml");
    std::map<std::string, std::string> defaults;
    std::map<std::string, std::string> overrides;
    {
        auto doc = parse(z.files.at("[Content_Types].xml"));
        for (pugi::xml_node n : doc.document_element().children()) {
            if (std::string_view(n.name()) == "Default") {
                defaults[ascii_lower(n.attribute("Extension").value())] =
                    n.attribute("ContentType").value();
            } else {
                const std::string part = std::string(n.attribute("PartName").value()).substr(1);
                CHECK_MESSAGE(z.files.contains(part), "override for a missing part " << part);
                overrides[part] = n.attribute("ContentType").value();
            }
        }
    }
    for (const auto& [name, data] : z.files) {
        if (name == "[Content_Types].xml") {
            continue;
        }
        const std::string ext = ascii_lower(name.substr(name.rfind('.') + 1));
        const bool typed = overrides.contains(name) || defaults.contains(ext);
        CHECK_MESSAGE(typed, "no content type for " << name);
        const std::string ct = overrides.contains(name) ? overrides[name] : defaults[ext];
        if (ct.ends_with("xml") || name.ends_with(".rels")) {
            pugi::xml_document doc;
            CHECK_MESSAGE(filters::cdr::office::parse_xml(data, doc), "does not parse: " << name);
        }
        CHECK_MESSAGE(ascii_lower(ct).find("macroenabled") == std::string::npos, name);
        CHECK_MESSAGE(ascii_lower(ct).find("vbaproject") == std::string::npos, name);
        if (name.ends_with(".rels")) {
            auto doc = parse(data);
            const auto marker = name.rfind("_rels/");
            const std::string dir = name.substr(0, marker);
            for (pugi::xml_node r : doc.document_element().children()) {
                CHECK_MESSAGE(std::string_view(r.attribute("TargetMode").value()).empty(),
                              "external relationship left in " << name);
                std::string target = r.attribute("Target").value();
                std::string path = target.front() == '/' ? target.substr(1) : dir + target;
                // Resolve "../".
                for (auto p = path.find("/../"); p != std::string::npos; p = path.find("/../")) {
                    const auto start = path.rfind('/', p - 1);
                    path.erase(start == std::string::npos ? 0 : start + 1,
                               p + 4 - (start == std::string::npos ? 0 : start + 1));
                }
                CHECK_MESSAGE(z.files.contains(path), name << " points at missing " << path);
            }
        }
    }
}

} // namespace mugaika::test_office
