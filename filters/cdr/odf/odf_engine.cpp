// ODF (odt/ods/odp/odg and templates): the package is read whole, macros, scripts, event
// listeners, embedded objects, DDE and external links are removed, and a new package is
// written with `mimetype` first and stored, and a rewritten META-INF/manifest.xml. See
// docs/cdr/office.md.
#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/xml_util.hpp"
#include "filters/cdr/office/zip_package.hpp"

namespace mugaika::filters::cdr {
namespace {

using office::ascii_lower;
using office::local_name;
using office::ZipMember;

constexpr office::ZipCodes zip_codes{"cdr.odf.not_zip", "cdr.odf.encrypted", "cdr.odf.bad_name",
                                     "cdr.odf.too_large", "cdr.odf.too_many_parts"};

constexpr std::string_view manifest_name = "META-INF/manifest.xml";
constexpr std::string_view manifest_ns = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0";

constexpr std::array<std::string_view, 8> accepted_types{
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.graphics",
    "application/vnd.oasis.opendocument.text-template",
    "application/vnd.oasis.opendocument.spreadsheet-template",
    "application/vnd.oasis.opendocument.presentation-template",
    "application/vnd.oasis.opendocument.graphics-template",
};

bool starts_with(std::string_view s, std::string_view p) noexcept {
    return s.substr(0, p.size()) == p;
}

bool ends_with(std::string_view s, std::string_view p) noexcept {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// The removal code for a member by its path; "" when the path alone does not condemn it.
std::string_view blocked_path_code(std::string_view path) {
    if (starts_with(path, "Basic/") || starts_with(path, "Dialogs/")) {
        return "odf.macro";
    }
    if (starts_with(path, "Scripts/")) {
        return "odf.script";
    }
    if (starts_with(path, "Object ") || starts_with(path, "./Object ")) {
        return "odf.embedded_object";
    }
    if (starts_with(path, "Configurations2/")) {
        return "odf.ui_configuration";
    }
    if (starts_with(path, "META-INF/") && path != manifest_name) {
        const std::string lower = ascii_lower(path);
        return lower.find("signature") != lower.npos ? "odf.signature" : "odf.orphan_part";
    }
    return {};
}

bool is_xml_member(std::string_view path, std::string_view media_type) {
    return ends_with(ascii_lower(path), ".xml") || ends_with(ascii_lower(path), ".rdf") ||
           media_type == "text/xml" || media_type == "application/rdf+xml";
}

bool is_passive_binary(std::string_view path, std::string_view media_type) {
    const std::string t = ascii_lower(media_type);
    return starts_with(path, "Pictures/") || starts_with(path, "Thumbnails/") ||
           starts_with(path, "ObjectReplacements/") || starts_with(t, "image/") ||
           starts_with(t, "audio/") || starts_with(t, "video/");
}

/// A link that runs code when followed.
bool is_macro_link(std::string_view href) {
    const std::string h = ascii_lower(href);
    return starts_with(h, "vnd.sun.star.script:") || starts_with(h, "macro:") ||
           starts_with(h, "vnd.sun.star.basic:") || starts_with(h, "javascript:") ||
           starts_with(h, ".uno:") || starts_with(h, "vnd.sun.star.");
}

/// A link that leaves the package: a scheme, an absolute path, a parent folder, a UNC path.
bool is_external(std::string_view href) {
    if (href.empty() || href.front() == '#') {
        return false;
    }
    if (href.front() == '/' || href.front() == '\\' || starts_with(href, "../") ||
        starts_with(href, "..\\")) {
        return true;
    }
    const auto colon = href.find(':');
    const auto slash = href.find('/');
    return colon != href.npos && (slash == href.npos || colon < slash);
}

/// A package-internal href as a member path ("./Object 1" -> "Object 1").
std::string internal_path(std::string_view href) {
    std::string p(href);
    while (starts_with(p, "./")) {
        p.erase(0, 2);
    }
    return p;
}

std::string bounded(std::string_view s) {
    return std::string(s.substr(0, 2048));
}

bool has_element_child(pugi::xml_node n) {
    return static_cast<bool>(
        n.find_child([](pugi::xml_node c) { return c.type() == pugi::node_element; }));
}

struct Cleaner {
    std::vector<Removed>& removed;
    const std::set<std::string>& dropped_paths; // members removed from the package

    void add(std::string_view kind, std::string_view location, std::string_view url = {}) {
        removed.push_back({std::string(kind), std::string(location), std::string(url)});
    }

    /// Cleans one XML member; true when it changed. One walk; a removed element's subtree is
    /// not visited (so nothing is reported twice and no handle outlives its node).
    bool clean(pugi::xml_document& doc, std::string_view part) {
        std::vector<pugi::xml_node> drop;
        std::vector<pugi::xml_node> unwraps;
        std::map<std::string, std::size_t> counts; // kind -> how many, reported once per part
        const std::set<std::string> xlink = office::prefixes_for(
            doc, [](std::string_view uri) { return uri == "http://www.w3.org/1999/xlink"; });
        const auto href_of = [&](pugi::xml_node el) {
            for (pugi::xml_attribute a : el.attributes()) {
                const std::string_view n = a.name();
                if (local_name(n) == "href" &&
                    xlink.contains(std::string(office::name_prefix(n)))) {
                    return a;
                }
            }
            return pugi::xml_attribute();
        };
        const auto remove = [&](pugi::xml_node el) {
            drop.push_back(el);
            return false;
        };
        office::walk(doc.document_element(), [&](pugi::xml_node el) {
            const std::string_view ln = local_name(el.name());
            if (ln == "event-listeners" || ln == "event-listener") {
                ++counts["odf.event_listener"];
                return remove(el);
            }
            if (ln == "script") { // office:script (macro code), text:script (inline code)
                ++counts["odf.script"];
                return remove(el);
            }
            if (ln == "dde-source" || ln == "dde-connection-decls" || ln == "dde-links" ||
                ln == "dde-connection-decl" || ln == "dde-link") {
                pugi::xml_node src = el;
                if (!office::attr_local(src, "dde-application")) {
                    src = el.find_node([](pugi::xml_node n) {
                        return static_cast<bool>(office::attr_local(n, "dde-application"));
                    });
                }
                add("odf.dde", part,
                    bounded(std::string(office::attr_local(src, "dde-application").value()) + "|" +
                            office::attr_local(src, "dde-topic").value()));
                return remove(el);
            }
            if (ln == "dde-connection") {
                ++counts["odf.dde"];
                unwraps.push_back(el);
                return true;
            }
            if (ln == "error-macro") {
                ++counts["odf.macro_binding"];
                return remove(el);
            }
            if (ln == "execute-macro") {
                ++counts["odf.macro_binding"];
                unwraps.push_back(el);
                return true;
            }
            const pugi::xml_attribute href = href_of(el);
            const std::string_view h = href.value();
            if (ln == "object" || ln == "object-ole" || ln == "plugin" || ln == "applet" ||
                ln == "floating-frame") {
                add("odf.embedded_object", part, is_external(h) ? bounded(h) : std::string());
                return remove(el);
            }
            if (!href) {
                return true;
            }
            if (ln == "auto-reload" || ln == "template") {
                add(ln == "template" ? "odf.template" : "odf.auto_reload", part, bounded(h));
                return remove(el);
            }
            const bool is_link = ln == "a";
            if (is_macro_link(h)) {
                ++counts["odf.macro_link"];
                if (is_link) {
                    unwraps.push_back(el);
                    return true;
                }
                return remove(el);
            }
            if (is_external(h)) {
                if (is_link) {
                    add("odf.hyperlink", part, bounded(h));
                    unwraps.push_back(el);
                    return true;
                }
                add(ln == "image" ? "odf.external_image" : "odf.external_link", part, bounded(h));
                return remove(el);
            }
            if (!h.empty() && h.front() != '#') {
                const std::string target = internal_path(h);
                if (dropped_paths.contains(target) || !blocked_path_code(target).empty()) {
                    ++counts["odf.embedded_object"];
                    return remove(el);
                }
            }
            return true;
        });
        for (const auto& [kind, n] : counts) {
            add(kind, std::string(part) + " count=" + std::to_string(n));
        }
        const bool changed = !drop.empty() || !unwraps.empty();
        // A frame left with nothing to show goes too.
        std::vector<pugi::xml_node> frames;
        for (pugi::xml_node n : drop) {
            if (local_name(n.parent().name()) == "frame") {
                frames.push_back(n.parent());
            }
        }
        for (pugi::xml_node n : unwraps) { // never inside a removed subtree: it was not visited
            office::unwrap(n);
        }
        office::remove_all(drop);
        for (pugi::xml_node f : frames) {
            if (f.parent() && !has_element_child(f)) {
                drop.push_back(f);
            }
        }
        office::remove_all(drop);
        return changed;
    }
};

struct Cleaned {
    std::vector<ZipMember> members;
    std::string mimetype;
};

struct ManifestEntry {
    std::string path;
    std::string media_type;
    std::string version;
};

Result<Cleaned> clean_package(std::vector<ZipMember> members, std::vector<Removed>& removed) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < members.size(); ++i) {
        index.emplace(members[i].name, i);
    }
    const auto mt = index.find("mimetype");
    const auto mf = index.find(std::string(manifest_name));
    if (mt == index.end() || mf == index.end() || !index.contains("content.xml")) {
        return fail(ErrorCode::Malformed, "cdr.odf.not_odf",
                    "no mimetype, META-INF/manifest.xml or content.xml");
    }
    std::string mimetype = members[mt->second].data;
    if (std::find(accepted_types.begin(), accepted_types.end(), mimetype) == accepted_types.end()) {
        return fail(ErrorCode::Unsupported, "cdr.odf.unknown_type", bounded(mimetype));
    }

    std::vector<ManifestEntry> manifest;
    std::map<std::string, std::string> media_types;
    {
        pugi::xml_document doc;
        if (!office::parse_xml(members[mf->second].data, doc)) {
            return fail(ErrorCode::Malformed, "cdr.odf.bad_xml", std::string(manifest_name));
        }
        for (pugi::xml_node el : office::all_elements(doc.document_element())) {
            const std::string_view ln = local_name(el.name());
            if (ln == "encryption-data") {
                return fail(ErrorCode::Malformed, "cdr.odf.encrypted", "manifest encryption-data");
            }
            if (ln != "file-entry") {
                continue;
            }
            ManifestEntry e;
            for (pugi::xml_attribute a : el.attributes()) {
                const std::string_view an = local_name(a.name());
                if (an == "full-path") {
                    e.path = a.value();
                } else if (an == "media-type") {
                    e.media_type = a.value();
                } else if (an == "version") {
                    e.version = a.value();
                }
            }
            media_types[internal_path(e.path)] = e.media_type;
            manifest.push_back(std::move(e));
        }
    }

    // Judge members by path, listing and type.
    std::set<std::string> dropped;
    std::set<std::string> reported_dirs;
    for (const ZipMember& m : members) {
        if (m.name == "mimetype" || m.name == manifest_name) {
            continue;
        }
        std::string_view code = blocked_path_code(m.name);
        const auto mtype = media_types.find(m.name);
        if (code.empty() && mtype == media_types.end()) {
            code = "odf.orphan_part";
        }
        const std::string media = mtype == media_types.end() ? std::string() : mtype->second;
        if (code.empty() && !is_xml_member(m.name, media) && !is_passive_binary(m.name, media)) {
            code = "odf.binary_part";
        }
        if (code.empty()) {
            continue;
        }
        dropped.insert(m.name);
        // One report per embedded object or macro library folder, not per file.
        if (code == "odf.embedded_object" || code == "odf.macro" || code == "odf.script" ||
            code == "odf.ui_configuration") {
            const std::size_t depth = code == "odf.embedded_object" ? 1 : 2;
            std::size_t cut = 0;
            for (std::size_t d = 0; d < depth && cut != m.name.npos; ++d) {
                cut = m.name.find('/', d == 0 ? 0 : cut + 1);
            }
            const std::string dir = cut == m.name.npos ? m.name : m.name.substr(0, cut);
            if (reported_dirs.insert(std::string(code) + "|" + dir).second) {
                removed.push_back({std::string(code), dir, ""});
            }
        } else {
            removed.push_back({std::string(code), m.name, ""});
        }
    }

    Cleaner cleaner{removed, dropped};
    std::vector<ZipMember> out;
    ZipMember mime;
    mime.name = "mimetype";
    mime.data = mimetype;
    mime.stored = true;
    out.push_back(std::move(mime));
    for (ZipMember& m : members) {
        if (m.name == "mimetype" || m.name == manifest_name || dropped.contains(m.name)) {
            continue;
        }
        const auto mtype = media_types.find(m.name);
        if (is_xml_member(m.name, mtype == media_types.end() ? "" : mtype->second)) {
            pugi::xml_document doc;
            if (!office::parse_xml(m.data, doc)) {
                return fail(ErrorCode::Malformed, "cdr.odf.bad_xml", m.name);
            }
            if (cleaner.clean(doc, m.name)) {
                m.data = office::save_xml(doc);
            }
        }
        out.push_back(std::move(m));
    }

    // The manifest lists the root, every kept file and the folders that still hold one.
    std::set<std::string> kept;
    for (const ZipMember& m : out) {
        kept.insert(m.name);
    }
    pugi::xml_document doc;
    pugi::xml_node decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    pugi::xml_node root = doc.append_child("manifest:manifest");
    root.append_attribute("xmlns:manifest") = manifest_ns.data();
    bool has_root = false;
    std::string version;
    for (const ManifestEntry& e : manifest) {
        const std::string p = internal_path(e.path);
        bool keep = false;
        if (e.path == "/") {
            keep = !has_root;
            has_root = true;
            version = e.version;
        } else if (!p.empty() && p.back() == '/') {
            keep = std::any_of(kept.begin(), kept.end(),
                               [&](const std::string& k) { return starts_with(k, p); });
        } else {
            keep = kept.contains(p) && p != "mimetype";
        }
        if (!keep) {
            continue;
        }
        pugi::xml_node n = root.append_child("manifest:file-entry");
        n.append_attribute("manifest:full-path") = e.path.c_str();
        if (!e.version.empty()) {
            n.append_attribute("manifest:version") = e.version.c_str();
        }
        n.append_attribute("manifest:media-type") =
            (e.path == "/" ? mimetype : e.media_type).c_str();
    }
    if (!version.empty()) {
        root.append_attribute("manifest:version") = version.c_str();
    }
    if (!has_root) {
        pugi::xml_node n = root.prepend_child("manifest:file-entry");
        n.append_attribute("manifest:full-path") = "/";
        n.append_attribute("manifest:media-type") = mimetype.c_str();
    }
    ZipMember manifest_member;
    manifest_member.name = std::string(manifest_name);
    manifest_member.data = office::save_xml(doc);
    out.insert(out.begin() + 1, std::move(manifest_member));
    return Cleaned{std::move(out), std::move(mimetype)};
}

class OdfEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "odf"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        const office::ZipLimits limits{options.max_archive_members, options.max_expanded_size};
        auto members = office::read_zip(in, limits, zip_codes);
        if (!members) {
            return tl::unexpected(members.error());
        }
        std::vector<Removed> removed;
        auto cleaned = clean_package(std::move(*members), removed);
        if (!cleaned) {
            return tl::unexpected(cleaned.error());
        }
        auto bytes = office::write_zip(cleaned->members, "cdr.odf.write_failed");
        if (!bytes) {
            return tl::unexpected(bytes.error());
        }
        if (bytes->size() > options.max_output_size) {
            return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                        std::to_string(bytes->size()));
        }
        if (auto ok = check(*bytes, *cleaned, options); !ok) {
            return tl::unexpected(ok.error());
        }
        Output out;
        out.bytes = std::move(*bytes);
        out.filename = filename.empty() ? std::string("document.odt") : std::string(filename);
        out.content_type = cleaned->mimetype;
        out.removed = std::move(removed);
        return out;
    }

private:
    /// Re-opens the written package: `mimetype` first and stored, every member as written, every
    /// XML member parses, and a second cleaning pass removes nothing.
    static Result<void> check(const std::string& bytes, const Cleaned& cleaned,
                              const Options& options) {
        auto entries = office::list_zip(bytes, "cdr.odf.check_failed");
        if (!entries) {
            return tl::unexpected(entries.error());
        }
        if (entries->empty() || entries->front().name != "mimetype" || !entries->front().stored) {
            return fail(ErrorCode::Internal, "cdr.odf.check_failed", "mimetype not first/stored");
        }
        const office::ZipLimits limits{options.max_archive_members,
                                       std::max(options.max_expanded_size, bytes.size() * 2)};
        auto again = office::read_zip(std::as_bytes(std::span(bytes.data(), bytes.size())), limits,
                                      zip_codes);
        if (!again || again->size() != cleaned.members.size()) {
            return fail(ErrorCode::Internal, "cdr.odf.check_failed", "cannot re-read the output");
        }
        for (std::size_t i = 0; i < again->size(); ++i) {
            const ZipMember& m = (*again)[i];
            if (m.name != cleaned.members[i].name || m.data != cleaned.members[i].data) {
                return fail(ErrorCode::Internal, "cdr.odf.check_failed", "member differs");
            }
            if (ends_with(ascii_lower(m.name), ".xml")) {
                pugi::xml_document doc;
                if (!office::parse_xml(m.data, doc)) {
                    return fail(ErrorCode::Internal, "cdr.odf.check_failed",
                                "XML does not parse: " + m.name);
                }
            }
        }
        std::vector<Removed> second;
        auto recheck = clean_package(std::move(*again), second);
        if (!recheck) {
            return fail(ErrorCode::Internal, "cdr.odf.check_failed", recheck.error().detail);
        }
        if (!second.empty()) {
            return fail(ErrorCode::Internal, "cdr.odf.check_failed",
                        "still present: " + second.front().kind + " " + second.front().location);
        }
        return {};
    }
};

} // namespace

std::unique_ptr<Engine> make_odf_engine() {
    return std::make_unique<OdfEngine>();
}

} // namespace mugaika::filters::cdr
