// OOXML (docx/xlsx/pptx and their macro-enabled and template variants): the package is read
// whole, every relationship and part is judged, and a new package is written from what is kept.
// Nothing is edited in place. See docs/cdr/office.md for the codes and the choices.
#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/ole2.hpp"
#include "filters/cdr/office/xml_util.hpp"
#include "filters/cdr/office/zip_package.hpp"

namespace mugaika::filters::cdr {
namespace {

using office::ascii_lower;
using office::local_name;
using office::ZipMember;

constexpr office::ZipCodes zip_codes{"cdr.ooxml.not_zip", "cdr.ooxml.encrypted",
                                     "cdr.ooxml.bad_name", "cdr.ooxml.too_large",
                                     "cdr.ooxml.too_many_parts"};

constexpr std::string_view content_types_name = "[Content_Types].xml";
constexpr std::string_view rels_type = "application/vnd.openxmlformats-package.relationships+xml";

/// One document kind: its main part's content type, what it becomes, and the file's type.
struct Kind {
    std::string_view main_type;
    std::string_view clean_main_type; ///< "" when refused (add-ins, binary workbooks)
    std::string_view extension;
    std::string_view mime;
};

constexpr std::string_view docx_main =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";
constexpr std::string_view dotx_main =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml";
constexpr std::string_view xlsx_main =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml";
constexpr std::string_view xltx_main =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml";
constexpr std::string_view pptx_main =
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml";
constexpr std::string_view ppsx_main =
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml";
constexpr std::string_view potx_main =
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml";

constexpr std::string_view docx_mime =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
constexpr std::string_view dotx_mime =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template";
constexpr std::string_view xlsx_mime =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
constexpr std::string_view xltx_mime =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template";
constexpr std::string_view pptx_mime =
    "application/vnd.openxmlformats-officedocument.presentationml.presentation";
constexpr std::string_view ppsx_mime =
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow";
constexpr std::string_view potx_mime =
    "application/vnd.openxmlformats-officedocument.presentationml.template";

constexpr std::array<Kind, 17> kinds{{
    {docx_main, docx_main, "docx", docx_mime},
    {"application/vnd.ms-word.document.macroEnabled.main+xml", docx_main, "docx", docx_mime},
    {dotx_main, dotx_main, "dotx", dotx_mime},
    {"application/vnd.ms-word.template.macroEnabledTemplate.main+xml", dotx_main, "dotx",
     dotx_mime},
    {xlsx_main, xlsx_main, "xlsx", xlsx_mime},
    {"application/vnd.ms-excel.sheet.macroEnabled.main+xml", xlsx_main, "xlsx", xlsx_mime},
    {xltx_main, xltx_main, "xltx", xltx_mime},
    {"application/vnd.ms-excel.template.macroEnabled.main+xml", xltx_main, "xltx", xltx_mime},
    {"application/vnd.ms-excel.addin.macroEnabled.main+xml", "", "xlam", ""},
    {"application/vnd.ms-excel.sheet.binary.macroEnabled.main", "", "xlsb", ""},
    {pptx_main, pptx_main, "pptx", pptx_mime},
    {"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml", pptx_main, "pptx",
     pptx_mime},
    {ppsx_main, ppsx_main, "ppsx", ppsx_mime},
    {"application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml", ppsx_main, "ppsx", ppsx_mime},
    {potx_main, potx_main, "potx", potx_mime},
    {"application/vnd.ms-powerpoint.template.macroEnabled.main+xml", potx_main, "potx", potx_mime},
    {"application/vnd.ms-powerpoint.addin.macroEnabled.main+xml", "", "ppam", ""},
}};

const Kind* find_kind(std::string_view main_type) {
    const std::string t = ascii_lower(main_type);
    for (const Kind& k : kinds) {
        if (ascii_lower(k.main_type) == t) {
            return &k;
        }
    }
    return nullptr;
}

bool contains(std::string_view s, std::string_view p) noexcept {
    return s.find(p) != s.npos;
}

bool ends_with(std::string_view s, std::string_view p) noexcept {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// The last segment of a relationship type URI, lower-case ("…/relationships/vbaProject" ->
/// "vbaproject"); transitional and strict URIs share it.
std::string rel_suffix(std::string_view type) {
    const auto slash = type.rfind('/');
    return ascii_lower(slash == type.npos ? type : type.substr(slash + 1));
}

/// The removal code for an internal relationship type that is never kept; "" when allowed.
std::string_view blocked_rel_code(std::string_view type) {
    const std::string s = rel_suffix(type);
    const std::string full = ascii_lower(type);
    if (s == "vbaproject" || s == "wordvbadata" || s == "keymapcustomizations" ||
        s == "attachedtoolbars" || s == "vbaprojectsignature" || s == "vbaprojectsignatureagile" ||
        s == "vbaprojectsignaturev3") {
        return "ooxml.vba_project";
    }
    if (s == "xlmacrosheet" || s == "xlintlmacrosheet" || s == "dialogsheet") {
        return "ooxml.xlm_macro";
    }
    if (s == "control" || s == "activexcontrolbinary" || s == "ctrlprop") {
        return "ooxml.activex";
    }
    if (s == "oleobject") {
        return "ooxml.ole_object";
    }
    if (s == "package") {
        return "ooxml.embedded_package";
    }
    if (s == "externallink" || s == "externallinkpath") {
        return "ooxml.external_link";
    }
    if (s == "extensibility" || s == "usercustomization") {
        return "ooxml.custom_ui";
    }
    if (contains(full, "digital-signature")) {
        return "ooxml.signature";
    }
    if (s == "printersettings") {
        return "ooxml.printer_settings";
    }
    if (s == "connections" || s == "querytable") {
        return "ooxml.data_connection";
    }
    if (s == "afchunk") {
        return "ooxml.alt_chunk";
    }
    if (contains(s, "webextension")) {
        return "ooxml.web_extension";
    }
    if (s == "attachedtemplate") {
        return "ooxml.attached_template";
    }
    if (s == "subdocument" || s == "frame") {
        return "ooxml.external_relationship";
    }
    if (contains(s, "mailmerge") || s == "recipientdata") {
        return "ooxml.mail_merge";
    }
    return {};
}

/// The removal code for a part by its content type; "" when its type alone does not condemn it.
std::string_view blocked_type_code(std::string_view content_type) {
    const std::string t = ascii_lower(content_type);
    if (contains(t, "vbaproject") || contains(t, "vbadata") ||
        contains(t, "keymapcustomizations") || contains(t, "attachedtoolbars")) {
        return "ooxml.vba_project";
    }
    if (contains(t, "macrosheet") || contains(t, "dialogsheet")) {
        return "ooxml.xlm_macro";
    }
    if (contains(t, "activex") || contains(t, "controlproperties")) {
        return "ooxml.activex";
    }
    if (contains(t, "oleobject")) {
        return "ooxml.ole_object";
    }
    if (contains(t, "externallink")) {
        return "ooxml.external_link";
    }
    if (contains(t, "printersettings")) {
        return "ooxml.printer_settings";
    }
    if (contains(t, "digital-signature")) {
        return "ooxml.signature";
    }
    if (contains(t, "spreadsheetml.connections") || contains(t, "querytable")) {
        return "ooxml.data_connection";
    }
    if (contains(t, "webextension")) {
        return "ooxml.web_extension";
    }
    if (contains(t, "macroenabled") || contains(t, "binary.macro")) {
        return "ooxml.macro_enabled_part";
    }
    return {};
}

bool is_xml_type(std::string_view content_type) {
    const std::string t = ascii_lower(content_type);
    return ends_with(t, "xml") || contains(t, "vmldrawing");
}

/// Non-XML parts kept as data: pictures, media and fonts (never interpreted by us or as code).
bool is_passive_binary(std::string_view content_type) {
    const std::string t = ascii_lower(content_type);
    return t.starts_with("image/") || t.starts_with("audio/") || t.starts_with("video/") ||
           t.starts_with("font/") || t.starts_with("application/x-font") ||
           t == "application/vnd.openxmlformats-officedocument.obfuscatedfont" ||
           t == "application/vnd.ms-opentype";
}

std::string dir_of(std::string_view part) {
    const auto slash = part.rfind('/');
    return slash == part.npos ? std::string() : std::string(part.substr(0, slash + 1));
}

/// The source part of a .rels member; nullopt-like "\x01" when `name` is not a .rels member.
std::string rels_source(std::string_view name) {
    const std::string lower = ascii_lower(name);
    if (!ends_with(lower, ".rels")) {
        return "\x01";
    }
    const auto marker = lower.rfind("_rels/");
    if (marker == lower.npos || (marker != 0 && lower[marker - 1] != '/') ||
        lower.find('/', marker + 6) != lower.npos) {
        return "\x01";
    }
    const std::string base(name.substr(marker + 6, name.size() - marker - 6 - 5));
    return std::string(name.substr(0, marker)) + base;
}

int hex_value(char c) {
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

/// A relationship's internal target as a member name: relative to the source's folder, "/"
/// absolute, ".." resolved, %XX decoded. "" when it escapes the package.
std::string resolve_target(std::string_view source_dir, std::string_view target) {
    std::string t(target);
    const auto hash = t.find('#');
    if (hash != t.npos) {
        t.resize(hash);
    }
    std::string decoded;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '%' && i + 2 < t.size() && hex_value(t[i + 1]) >= 0 &&
            hex_value(t[i + 2]) >= 0) {
            decoded += static_cast<char>(hex_value(t[i + 1]) * 16 + hex_value(t[i + 2]));
            i += 2;
        } else {
            decoded += t[i];
        }
    }
    const std::string path = (!decoded.empty() && decoded.front() == '/')
                                 ? decoded.substr(1)
                                 : std::string(source_dir) + decoded;
    std::vector<std::string> segs;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == path.npos) {
            end = path.size();
        }
        const std::string seg = path.substr(start, end - start);
        if (seg == "..") {
            if (segs.empty()) {
                return {};
            }
            segs.pop_back();
        } else if (!seg.empty() && seg != ".") {
            segs.push_back(seg);
        }
        start = end + 1;
    }
    std::string out;
    for (const auto& s : segs) {
        out += out.empty() ? s : "/" + s;
    }
    return out;
}

struct Rel {
    std::string id;
    std::string type;
    std::string target;
    bool external = false;
    std::string part; ///< resolved member name (internal only)
    bool removed = false;
};

struct RelsFile {
    std::vector<Rel> rels;
    bool changed = false;
};

/// A package being cleaned: members by lower-case name.
struct Package {
    std::vector<ZipMember> members;
    std::map<std::string, std::size_t> by_lower;
    std::map<std::string, std::string> defaults;  ///< extension (lower) -> content type
    std::map<std::string, std::string> overrides; ///< member name (lower) -> content type

    [[nodiscard]] const ZipMember* find(std::string_view name) const {
        const auto it = by_lower.find(ascii_lower(name));
        return it == by_lower.end() ? nullptr : &members[it->second];
    }
    [[nodiscard]] std::string content_type(std::string_view name) const {
        const std::string lower = ascii_lower(name);
        if (const auto it = overrides.find(lower); it != overrides.end()) {
            return it->second;
        }
        const auto dot = lower.rfind('.');
        const auto slash = lower.rfind('/');
        if (dot != lower.npos && (slash == lower.npos || dot > slash)) {
            if (const auto it = defaults.find(lower.substr(dot + 1)); it != defaults.end()) {
                return it->second;
            }
        }
        return {};
    }
};

/// The relationship namespaces (transitional, strict) and VML's o:relid namespace.
bool is_rel_namespace(std::string_view uri) {
    return uri == "http://schemas.openxmlformats.org/officeDocument/2006/relationships" ||
           uri == "http://purl.oclc.org/ooxml/officeDocument/relationships" ||
           uri == "urn:schemas-microsoft-com:office:office";
}

struct Cleaner {
    Package& pkg;
    std::vector<Removed>& removed;

    void add(std::string_view kind, std::string_view location, std::string_view url = {}) {
        removed.push_back({std::string(kind), std::string(location), std::string(url)});
    }

    /// Removes elements that carry a reference to a removed relationship of `part`.
    bool fix_references(pugi::xml_document& doc, const std::set<std::string>& ids) {
        if (ids.empty()) {
            return false;
        }
        bool changed = false;
        std::vector<pugi::xml_node> drop;
        std::vector<pugi::xml_node> objects; // w:object that lost its OLE/ActiveX child
        const std::set<std::string> rel_prefixes =
            office::prefixes_for(doc, [](std::string_view uri) { return is_rel_namespace(uri); });
        // The nearest ancestor named `name`, looked for a few levels up only (bounded work
        // whatever the nesting).
        const auto ancestor = [](pugi::xml_node n, std::string_view a, std::string_view b) {
            for (int i = 0; n && i < 16; ++i, n = n.parent()) {
                if (local_name(n.name()) == a || local_name(n.name()) == b) {
                    return n;
                }
            }
            return pugi::xml_node();
        };
        for (pugi::xml_node el : office::all_elements(doc.document_element())) {
            std::vector<pugi::xml_attribute> hits;
            for (pugi::xml_attribute a : el.attributes()) {
                const std::string_view qn = a.name();
                const std::string_view prefix = office::name_prefix(qn);
                if (!prefix.empty() && rel_prefixes.contains(std::string(prefix)) &&
                    ids.contains(a.value())) {
                    hits.push_back(a);
                }
            }
            if (hits.empty()) {
                continue;
            }
            changed = true;
            const std::string_view ln = local_name(el.name());
            static constexpr std::array<std::string_view, 13> drop_names{
                "OLEObject",   "control",    "oleObject",   "attachedTemplate", "externalReference",
                "subDoc",      "altChunk",   "dataSource",  "headerSource",     "sheet",
                "objectEmbed", "objectLink", "webExtension"};
            const bool is_link = ln == "hyperlink" || ln == "hlinkClick" || ln == "hlinkHover" ||
                                 ln == "hlinkMouseOver";
            if (ln == "oleObj") {
                const pugi::xml_node frame = ancestor(el, "graphicFrame", "graphicFrame");
                drop.push_back(frame ? frame : el);
            } else if ((ln == "oleObject" || ln == "control")) {
                if (const pugi::xml_node box = ancestor(el, "oleObjects", "controls")) {
                    drop.push_back(box);
                } else {
                    drop.push_back(el);
                    if (local_name(el.parent().name()) == "object") {
                        objects.push_back(el.parent());
                    }
                }
            } else if (std::find(drop_names.begin(), drop_names.end(), ln) != drop_names.end()) {
                drop.push_back(el);
                if (local_name(el.parent().name()) == "object") {
                    objects.push_back(el.parent());
                }
            } else if (is_link && !el.first_child()) {
                drop.push_back(el);
            } else {
                for (pugi::xml_attribute a : hits) {
                    el.remove_attribute(a);
                }
            }
        }
        objects = office::outside(objects, drop);
        office::remove_all(drop);
        for (pugi::xml_node obj : objects) {
            // w:object without its OLE or ActiveX reference: the preview (v:shape) stays as a
            // picture.
            const std::string prefix(office::name_prefix(obj.name()));
            obj.set_name((prefix.empty() ? std::string("pict") : prefix + ":pict").c_str());
            while (pugi::xml_attribute a = obj.first_attribute()) {
                obj.remove_attribute(a);
            }
        }
        // Containers that must not be empty.
        for (pugi::xml_node el : office::all_elements(doc.document_element())) {
            const std::string_view ln = local_name(el.name());
            if ((ln == "externalReferences" || ln == "hyperlinks") &&
                !el.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; })) {
                drop.push_back(el);
            }
        }
        office::remove_all(drop);
        return changed;
    }

    /// Word fields that run, fetch or link: DDE/DDEAUTO, INCLUDETEXT/INCLUDEPICTURE/IMPORT/LINK,
    /// MACROBUTTON, HYPERLINK. The field code goes; the last result (the text shown) stays.
    static std::string_view field_code(std::string_view instr) {
        std::size_t i = 0;
        while (i < instr.size() && (instr[i] == ' ' || instr[i] == '\t' || instr[i] == '\\')) {
            ++i;
        }
        std::size_t j = i;
        while (j < instr.size() && instr[j] != ' ' && instr[j] != '\t' && instr[j] != '"') {
            ++j;
        }
        const std::string kw = ascii_lower(instr.substr(i, j - i));
        if (kw == "dde" || kw == "ddeauto") {
            return "ooxml.dde_field";
        }
        if (kw == "includetext" || kw == "includepicture" || kw == "import" || kw == "link" ||
            kw == "include") {
            return "ooxml.external_field";
        }
        if (kw == "macrobutton") {
            return "ooxml.macro_field";
        }
        if (kw == "hyperlink") {
            return "ooxml.hyperlink";
        }
        return {};
    }

    /// The first argument of a field instruction (the target), bounded.
    static std::string field_target(std::string_view instr) {
        std::size_t i = 0;
        while (i < instr.size() && (instr[i] == ' ' || instr[i] == '\t')) {
            ++i;
        }
        while (i < instr.size() && instr[i] != ' ' && instr[i] != '\t') {
            ++i;
        }
        while (i < instr.size() && (instr[i] == ' ' || instr[i] == '\t')) {
            ++i;
        }
        std::string out;
        if (i < instr.size() && instr[i] == '"') {
            const auto end = instr.find('"', i + 1);
            out = std::string(instr.substr(i + 1, end == instr.npos ? instr.npos : end - i - 1));
        } else {
            const auto end = instr.find_first_of(" \t", i);
            out = std::string(instr.substr(i, end == instr.npos ? instr.npos : end - i));
        }
        if (out.size() > 2048) {
            out.resize(2048);
        }
        return out;
    }

    bool clean_fields(pugi::xml_document& doc, std::string_view part) {
        struct Field {
            std::vector<pugi::xml_node> nodes;
            std::vector<pugi::xml_node> nested; ///< fields inside this one's instruction
            std::string instr;
            bool in_instr = true;
            bool inside_parent_instr = false;
        };
        std::vector<Field> stack;
        std::vector<pugi::xml_node> drop;
        std::vector<pugi::xml_node> unwraps;
        const auto finish = [&](Field& f) {
            const std::string_view code = field_code(f.instr);
            if (!code.empty()) {
                add(code, part, field_target(f.instr));
                drop.insert(drop.end(), f.nodes.begin(), f.nodes.end());
                drop.insert(drop.end(), f.nested.begin(), f.nested.end());
            } else if (f.inside_parent_instr && !stack.empty()) {
                auto& parent = stack.back().nested;
                parent.insert(parent.end(), f.nodes.begin(), f.nodes.end());
                parent.insert(parent.end(), f.nested.begin(), f.nested.end());
            }
        };
        for (pugi::xml_node el : office::all_elements(doc.document_element())) {
            const std::string_view ln = local_name(el.name());
            if (ln == "fldSimple") {
                const std::string_view instr = office::attr_local(el, "instr").value();
                const std::string_view code = field_code(instr);
                if (!code.empty()) {
                    add(code, part, field_target(instr));
                    unwraps.push_back(el);
                }
            } else if (ln == "fldChar") {
                const std::string_view t = office::attr_local(el, "fldCharType").value();
                if (t == "begin") {
                    Field f;
                    f.inside_parent_instr = !stack.empty() && stack.back().in_instr;
                    f.nodes.push_back(el);
                    stack.push_back(std::move(f));
                } else if (!stack.empty() && t == "separate") {
                    stack.back().in_instr = false;
                    stack.back().nodes.push_back(el);
                } else if (!stack.empty() && t == "end") {
                    stack.back().nodes.push_back(el);
                    Field f = std::move(stack.back());
                    stack.pop_back();
                    finish(f);
                }
            } else if (ln == "instrText" && !stack.empty()) {
                Field& f = stack.back();
                if (f.instr.size() < 65536) {
                    f.instr += el.text().get();
                }
                f.nodes.push_back(el);
            }
        }
        while (!stack.empty()) { // unbalanced: judge what was read
            Field f = std::move(stack.back());
            stack.pop_back();
            finish(f);
        }
        const bool changed = !drop.empty() || !unwraps.empty();
        unwraps = office::outside(unwraps, drop);
        for (pugi::xml_node n : unwraps) {
            office::unwrap(n);
        }
        office::remove_all(drop);
        return changed;
    }

    /// Spreadsheet formulas that reach outside the workbook: "[1]Sheet1!A1" (external book or
    /// DDE link index) or "app|topic!item" (DDE). The formula goes, the cached value stays.
    static bool external_formula(std::string_view f) {
        bool quoted = false;
        for (std::size_t i = 0; i < f.size(); ++i) {
            const char c = f[i];
            if (c == '"') {
                quoted = !quoted;
            } else if (!quoted && c == '|') {
                return true;
            } else if (!quoted && c == '[' && i + 1 < f.size() && f[i + 1] >= '1' &&
                       f[i + 1] <= '9') {
                std::size_t j = i + 1;
                while (j < f.size() && f[j] >= '0' && f[j] <= '9') {
                    ++j;
                }
                if (j < f.size() && f[j] == ']') {
                    return true;
                }
            }
        }
        return false;
    }

    bool clean_formulas(pugi::xml_document& doc, std::string_view part) {
        std::vector<pugi::xml_node> drop;
        std::set<std::string> shared_removed;
        std::size_t formulas = 0;
        const auto elements = office::all_elements(doc.document_element());
        for (pugi::xml_node el : elements) {
            const std::string_view ln = local_name(el.name());
            if (ln == "f" && external_formula(el.text().get())) {
                ++formulas;
                drop.push_back(el);
                if (std::string_view(el.attribute("t").value()) == "shared") {
                    shared_removed.insert(el.attribute("si").value());
                }
            } else if (ln == "definedName") {
                const std::string name = ascii_lower(el.attribute("name").value());
                if (external_formula(el.text().get())) {
                    add("ooxml.external_formula",
                        std::string(part) + " name " + el.attribute("name").value());
                    drop.push_back(el);
                } else if (name.starts_with("auto_open") || name.starts_with("auto_close") ||
                           name.starts_with("_xlnm.auto_open") ||
                           name.starts_with("_xlnm.auto_close") ||
                           name.starts_with("auto_activate") ||
                           name.starts_with("auto_deactivate")) {
                    add("ooxml.xlm_macro", part);
                    drop.push_back(el);
                }
            }
        }
        if (!shared_removed.empty()) {
            // Cells that share a removed master formula would point at nothing.
            for (pugi::xml_node el : elements) {
                if (local_name(el.name()) == "f" &&
                    std::string_view(el.attribute("t").value()) == "shared" &&
                    shared_removed.contains(el.attribute("si").value()) &&
                    std::find(drop.begin(), drop.end(), el) == drop.end()) {
                    drop.push_back(el);
                }
            }
        }
        if (formulas > 0) {
            add("ooxml.external_formula",
                std::string(part) + " formulas=" + std::to_string(formulas));
        }
        const bool changed = !drop.empty();
        office::remove_all(drop);
        for (pugi::xml_node el : office::all_elements(doc.document_element())) {
            if (local_name(el.name()) == "definedNames" &&
                !el.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; })) {
                drop.push_back(el);
            }
        }
        office::remove_all(drop);
        return changed;
    }

    /// Macro bindings that survive the loss of the VBA project: VML form buttons
    /// (x:FmlaMacro), PowerPoint click actions that run a macro, a program or an OLE verb.
    bool clean_actions(pugi::xml_document& doc, std::string_view part) {
        std::vector<pugi::xml_node> drop;
        for (pugi::xml_node el : office::all_elements(doc.document_element())) {
            const std::string_view ln = local_name(el.name());
            if (ln == "FmlaMacro") {
                add("ooxml.macro_binding", part);
                drop.push_back(el);
            } else if (ln == "hlinkClick" || ln == "hlinkHover" || ln == "hlinkMouseOver") {
                const std::string action = ascii_lower(el.attribute("action").value());
                if (action.starts_with("ppaction://macro") ||
                    action.starts_with("ppaction://program") ||
                    action.starts_with("ppaction://ole")) {
                    add("ooxml.macro_binding", part);
                    drop.push_back(el);
                }
            } else if (el.attribute("fmlaMacro")) {
                add("ooxml.macro_binding", part);
                el.remove_attribute("fmlaMacro");
                drop.push_back(pugi::xml_node()); // mark changed
            }
        }
        const bool changed = !drop.empty();
        std::erase(drop, pugi::xml_node());
        office::remove_all(drop);
        return changed;
    }
};

std::string build_content_types(const std::map<std::string, std::string>& defaults,
                                const std::vector<std::pair<std::string, std::string>>& overrides) {
    pugi::xml_document doc;
    pugi::xml_node decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    decl.append_attribute("standalone") = "yes";
    pugi::xml_node types = doc.append_child("Types");
    types.append_attribute("xmlns") =
        "http://schemas.openxmlformats.org/package/2006/content-types";
    for (const auto& [ext, ct] : defaults) {
        pugi::xml_node d = types.append_child("Default");
        d.append_attribute("Extension") = ext.c_str();
        d.append_attribute("ContentType") = ct.c_str();
    }
    for (const auto& [name, ct] : overrides) {
        pugi::xml_node o = types.append_child("Override");
        o.append_attribute("PartName") = ("/" + name).c_str();
        o.append_attribute("ContentType") = ct.c_str();
    }
    return office::save_xml(doc);
}

std::string build_rels(const std::vector<Rel>& rels) {
    pugi::xml_document doc;
    pugi::xml_node decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    decl.append_attribute("standalone") = "yes";
    pugi::xml_node root = doc.append_child("Relationships");
    root.append_attribute("xmlns") = "http://schemas.openxmlformats.org/package/2006/relationships";
    for (const Rel& r : rels) {
        if (r.removed) {
            continue;
        }
        pugi::xml_node n = root.append_child("Relationship");
        n.append_attribute("Id") = r.id.c_str();
        n.append_attribute("Type") = r.type.c_str();
        n.append_attribute("Target") = r.target.c_str();
    }
    return office::save_xml(doc);
}

/// What one pass produced.
struct Cleaned {
    std::vector<ZipMember> members;
    const Kind* kind = nullptr;
};

/// Cleans `members`. The same function checks an output: run on a rebuilt package it must
/// remove nothing.
Result<Cleaned> clean_package(std::vector<ZipMember> members, std::vector<Removed>& removed) {
    Package pkg;
    pkg.members = std::move(members);
    for (std::size_t i = 0; i < pkg.members.size(); ++i) {
        pkg.by_lower.emplace(ascii_lower(pkg.members[i].name), i);
    }
    const ZipMember* ct_member = pkg.find(content_types_name);
    if (ct_member == nullptr || pkg.find("_rels/.rels") == nullptr) {
        return fail(ErrorCode::Malformed, "cdr.ooxml.not_ooxml",
                    "no [Content_Types].xml or _rels/.rels");
    }
    {
        pugi::xml_document doc;
        if (!office::parse_xml(ct_member->data, doc)) {
            return fail(ErrorCode::Malformed, "cdr.ooxml.bad_xml", std::string(content_types_name));
        }
        for (pugi::xml_node n : doc.document_element().children()) {
            const std::string_view ln = local_name(n.name());
            if (ln == "Default") {
                pkg.defaults[ascii_lower(n.attribute("Extension").value())] =
                    n.attribute("ContentType").value();
            } else if (ln == "Override") {
                std::string name = n.attribute("PartName").value();
                if (!name.empty() && name.front() == '/') {
                    name.erase(0, 1);
                }
                pkg.overrides[ascii_lower(name)] = n.attribute("ContentType").value();
            }
        }
    }

    // Every .rels member, parsed.
    std::map<std::string, RelsFile> rels; // source part ("" = package) -> relationships
    for (const ZipMember& m : pkg.members) {
        std::string source = rels_source(m.name);
        if (source == "\x01") {
            continue;
        }
        pugi::xml_document doc;
        if (!office::parse_xml(m.data, doc)) {
            return fail(ErrorCode::Malformed, "cdr.ooxml.bad_xml", m.name);
        }
        RelsFile rf;
        const std::string dir = dir_of(source);
        for (pugi::xml_node n : doc.document_element().children()) {
            if (local_name(n.name()) != "Relationship") {
                continue;
            }
            Rel r;
            r.id = n.attribute("Id").value();
            r.type = n.attribute("Type").value();
            r.target = n.attribute("Target").value();
            r.external = ascii_lower(n.attribute("TargetMode").value()) == "external";
            if (!r.external) {
                r.part = resolve_target(dir, r.target);
            }
            rf.rels.push_back(std::move(r));
        }
        rels[source] = std::move(rf);
    }

    // The main part decides the kind.
    const Kind* kind = nullptr;
    std::string main_part;
    for (const Rel& r : rels[""].rels) {
        if (!r.external && rel_suffix(r.type) == "officedocument" && pkg.find(r.part)) {
            main_part = pkg.find(r.part)->name;
            kind = find_kind(pkg.content_type(main_part));
            break;
        }
    }
    if (kind == nullptr) {
        return fail(ErrorCode::Unsupported, "cdr.ooxml.unknown_type",
                    main_part.empty() ? std::string("no main part") : pkg.content_type(main_part));
    }
    if (kind->clean_main_type.empty()) {
        return fail(ErrorCode::Unsupported, "cdr.ooxml.addin", std::string(kind->extension));
    }

    // Judge relationships; parts condemned by type or by the relationship pointing at them.
    std::map<std::string, std::string_view> dropped; // member (lower) -> code
    Cleaner cleaner{pkg, removed};
    std::map<std::string, std::set<std::string>> removed_ids; // source part -> ids
    for (auto& [source, rf] : rels) {
        const std::string location = source.empty() ? "package" : source;
        for (Rel& r : rf.rels) {
            if (r.external) {
                std::string_view code = blocked_rel_code(r.type);
                const std::string s = rel_suffix(r.type);
                if (s == "hyperlink") {
                    code = "ooxml.hyperlink";
                } else if (s == "image") {
                    code = "ooxml.remote_image";
                } else if (code.empty()) {
                    code = "ooxml.external_relationship";
                }
                cleaner.add(code, location, r.target);
                r.removed = true;
            } else if (const std::string_view blocked = blocked_rel_code(r.type);
                       !blocked.empty()) {
                r.removed = true;
                if (const ZipMember* t = pkg.find(r.part)) {
                    dropped.emplace(ascii_lower(t->name), blocked);
                } else {
                    cleaner.add(blocked, location);
                }
            } else if (pkg.find(r.part) == nullptr ||
                       ascii_lower(r.part) == ascii_lower(content_types_name)) {
                cleaner.add("ooxml.dangling_relationship", location);
                r.removed = true;
            } else {
                const std::string ct = pkg.content_type(r.part);
                std::string_view code = blocked_type_code(ct);
                if (ascii_lower(r.part) == ascii_lower(main_part)) {
                    code = {};
                }
                if (code.empty() && !is_xml_type(ct) && !is_passive_binary(ct)) {
                    code = "ooxml.binary_part";
                }
                if (!code.empty()) {
                    r.removed = true;
                    dropped.emplace(ascii_lower(pkg.find(r.part)->name), code);
                }
            }
            if (r.removed) {
                rf.changed = true;
                removed_ids[source].insert(r.id);
            }
        }
    }

    // A part condemned through one relationship loses every other relationship to it too.
    for (auto& [source, rf] : rels) {
        for (Rel& r : rf.rels) {
            if (!r.removed && !r.external && dropped.contains(ascii_lower(r.part))) {
                r.removed = true;
                rf.changed = true;
                removed_ids[source].insert(r.id);
            }
        }
    }

    // Keep what the package still reaches; everything else goes.
    std::set<std::string> kept; // lower-case member names of parts (not .rels)
    std::deque<std::string> todo{""};
    while (!todo.empty()) {
        const std::string source = todo.front();
        todo.pop_front();
        const auto it = rels.find(source);
        if (it == rels.end()) {
            continue;
        }
        for (const Rel& r : it->second.rels) {
            if (r.removed) {
                continue;
            }
            const ZipMember* t = pkg.find(r.part);
            const std::string lower = ascii_lower(t->name);
            if (!dropped.contains(lower) && kept.insert(lower).second) {
                todo.push_back(t->name);
            }
        }
    }
    // A .rels whose source is gone goes with it; a part of a removed kind anywhere is reported
    // under that kind, other unreachable parts as orphans.
    std::vector<ZipMember> out;
    std::vector<std::string> report_order;
    std::vector<std::pair<std::string, std::string>> overrides;
    std::set<std::string> used_ext;
    for (ZipMember& m : pkg.members) {
        const std::string lower = ascii_lower(m.name);
        if (lower == ascii_lower(content_types_name)) {
            continue;
        }
        const std::string source = rels_source(m.name);
        if (source != "\x01") {
            if (source.empty() || kept.contains(ascii_lower(source))) {
                RelsFile& rf = rels[source];
                if (rf.changed) {
                    m.data = build_rels(rf.rels);
                }
                used_ext.insert("rels");
                out.push_back(std::move(m));
            }
            continue;
        }
        if (!kept.contains(lower)) {
            const auto d = dropped.find(lower);
            std::string_view code = d != dropped.end() ? d->second : std::string_view{};
            if (code.empty()) {
                code = blocked_type_code(pkg.content_type(m.name));
            }
            if (code == "ooxml.external_link") {
                // A DDE link in a workbook is an externalLink part holding <ddeLink>.
                pugi::xml_document doc;
                if (office::parse_xml(m.data, doc)) {
                    for (pugi::xml_node el : office::all_elements(doc.document_element())) {
                        if (local_name(el.name()) == "ddeLink") {
                            code = "ooxml.dde_link";
                            cleaner.add(code, m.name,
                                        std::string(office::attr_local(el, "ddeService").value()) +
                                            "|" + office::attr_local(el, "ddeTopic").value());
                        }
                    }
                }
                if (code == "ooxml.dde_link") {
                    continue;
                }
            }
            cleaner.add(code.empty() ? std::string_view("ooxml.orphan_part") : code, m.name);
            continue;
        }
        std::string ct = pkg.content_type(m.name);
        if (ct.empty()) {
            return fail(ErrorCode::Malformed, "cdr.ooxml.bad_content_types",
                        "no content type for " + m.name);
        }
        if (lower == ascii_lower(main_part) && ct != kind->clean_main_type) {
            cleaner.add("ooxml.macro_enabled_type", m.name);
            ct = std::string(kind->clean_main_type);
        }
        if (pkg.overrides.contains(lower) || lower == ascii_lower(main_part)) {
            overrides.emplace_back(m.name, ct);
        } else {
            const auto dot = lower.rfind('.');
            used_ext.insert(lower.substr(dot + 1));
        }
        if (is_xml_type(ct)) {
            pugi::xml_document doc;
            if (!office::parse_xml(m.data, doc)) {
                return fail(ErrorCode::Malformed, "cdr.ooxml.bad_xml", m.name);
            }
            bool changed = false;
            if (const auto ids = removed_ids.find(m.name); ids != removed_ids.end()) {
                changed |= cleaner.fix_references(doc, ids->second);
            }
            const std::string lct = ascii_lower(ct);
            if (contains(lct, "wordprocessingml")) {
                changed |= cleaner.clean_fields(doc, m.name);
            }
            if (contains(lct, "spreadsheetml")) {
                changed |= cleaner.clean_formulas(doc, m.name);
            }
            changed |= cleaner.clean_actions(doc, m.name);
            if (changed) {
                m.data = office::save_xml(doc);
            }
        }
        out.push_back(std::move(m));
    }

    std::map<std::string, std::string> defaults;
    for (const auto& [ext, ct] : pkg.defaults) {
        // Unused defaults stay unless they name a condemned type (a "bin" -> vbaProject default).
        if (used_ext.contains(ext) || blocked_type_code(ct).empty()) {
            defaults.emplace(ext, ct);
        }
    }
    if (used_ext.contains("rels") && !defaults.contains("rels")) {
        defaults.emplace("rels", std::string(rels_type));
    }
    for (const std::string& ext : used_ext) {
        if (!defaults.contains(ext)) {
            return fail(ErrorCode::Malformed, "cdr.ooxml.bad_content_types",
                        "no content type for extension " + ext);
        }
    }
    ZipMember types;
    types.name = std::string(content_types_name);
    types.data = build_content_types(defaults, overrides);
    if (types.data != ct_member->data) {
        // Rewritten whenever anything changed; compare semantically on the check pass.
        pugi::xml_document a;
        pugi::xml_document b;
        (void)office::parse_xml(ct_member->data, a);
        (void)office::parse_xml(types.data, b);
        std::set<std::string> before;
        std::set<std::string> after;
        for (pugi::xml_node n : a.document_element().children()) {
            before.insert(ascii_lower(std::string(n.attribute("Extension").value()) + "|" +
                                      n.attribute("PartName").value() + "|" +
                                      n.attribute("ContentType").value()));
        }
        for (pugi::xml_node n : b.document_element().children()) {
            after.insert(ascii_lower(std::string(n.attribute("Extension").value()) + "|" +
                                     n.attribute("PartName").value() + "|" +
                                     n.attribute("ContentType").value()));
        }
        if (before != after) {
            cleaner.add("ooxml.content_types_rewritten", content_types_name);
        } else {
            types.data = ct_member->data;
        }
    }
    // [Content_Types].xml first, then the package relationships, then the rest in order.
    std::stable_partition(out.begin(), out.end(),
                          [](const ZipMember& m) { return m.name == "_rels/.rels"; });
    out.insert(out.begin(), std::move(types));
    return Cleaned{std::move(out), kind};
}

std::string output_name(std::string_view filename, std::string_view ext) {
    std::string base(filename);
    const auto slash = base.find_last_of("/\\");
    const auto dot = base.rfind('.');
    if (dot != base.npos && (slash == base.npos || dot > slash)) {
        base.resize(dot);
    }
    if (base.empty()) {
        base = "document";
    }
    return base + "." + std::string(ext);
}

class OoxmlEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "ooxml"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        const auto dot = filename.rfind('.');
        const std::string ext =
            dot == filename.npos ? std::string() : ascii_lower(filename.substr(dot + 1));
        if (ext == "xlam" || ext == "ppam") {
            return fail(ErrorCode::Unsupported, "cdr.ooxml.addin", ext);
        }
        if (office::is_ole2(in)) {
            // Password-protected OOXML is an OLE2 file holding EncryptionInfo and
            // EncryptedPackage streams.
            auto ole = office::Ole2File::open(in);
            if (ole) {
                for (const auto& e : ole->entries()) {
                    if (e.path == "EncryptedPackage" || e.path == "EncryptionInfo") {
                        return fail(ErrorCode::Malformed, "cdr.ooxml.encrypted",
                                    "EncryptedPackage");
                    }
                }
            }
            return fail(ErrorCode::Malformed, "cdr.ooxml.not_zip", "an OLE2 file");
        }
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
        auto bytes = office::write_zip(cleaned->members, "cdr.ooxml.write_failed");
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
        out.filename = output_name(filename, cleaned->kind->extension);
        out.content_type = std::string(cleaned->kind->mime);
        out.removed = std::move(removed);
        return out;
    }

private:
    /// Re-opens the written package with libzip, parses every XML part, and runs the cleaner
    /// on it again: it must find nothing to remove and the same members.
    static Result<void> check(const std::string& bytes, const Cleaned& cleaned,
                              const Options& options) {
        const office::ZipLimits limits{options.max_archive_members,
                                       std::max(options.max_expanded_size, bytes.size() * 2)};
        auto again = office::read_zip(std::as_bytes(std::span(bytes.data(), bytes.size())), limits,
                                      zip_codes);
        if (!again) {
            return fail(ErrorCode::Internal, "cdr.ooxml.check_failed", again.error().detail);
        }
        if (again->size() != cleaned.members.size()) {
            return fail(ErrorCode::Internal, "cdr.ooxml.check_failed", "member count differs");
        }
        for (std::size_t i = 0; i < again->size(); ++i) {
            if ((*again)[i].name != cleaned.members[i].name ||
                (*again)[i].data != cleaned.members[i].data) {
                return fail(ErrorCode::Internal, "cdr.ooxml.check_failed",
                            "member differs: " + (*again)[i].name);
            }
            const std::string lower = ascii_lower((*again)[i].name);
            if (ends_with(lower, ".xml") || ends_with(lower, ".rels") || ends_with(lower, ".vml")) {
                pugi::xml_document doc;
                if (!office::parse_xml((*again)[i].data, doc)) {
                    return fail(ErrorCode::Internal, "cdr.ooxml.check_failed",
                                "XML does not parse: " + (*again)[i].name);
                }
            }
        }
        std::vector<Removed> second;
        auto recheck = clean_package(std::move(*again), second);
        if (!recheck) {
            return fail(ErrorCode::Internal, "cdr.ooxml.check_failed", recheck.error().detail);
        }
        if (!second.empty()) {
            return fail(ErrorCode::Internal, "cdr.ooxml.check_failed",
                        "still present: " + second.front().kind + " " + second.front().location);
        }
        if (recheck->kind->main_type != recheck->kind->clean_main_type) {
            return fail(ErrorCode::Internal, "cdr.ooxml.check_failed", "still macro-enabled");
        }
        return {};
    }
};

} // namespace

std::unique_ptr<Engine> make_ooxml_engine() {
    return std::make_unique<OoxmlEngine>();
}

} // namespace mugaika::filters::cdr
