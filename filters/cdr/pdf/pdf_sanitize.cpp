#include "filters/cdr/pdf/pdf_sanitize.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <utility>

#include <qpdf/QPDFNameTreeObjectHelper.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>

namespace mugaika::filters::cdr::pdf {
namespace {

using Obj = QPDFObjectHandle;

/// Longest URL or path listed; longer ones are cut and end in "...".
constexpr std::size_t max_url_length = 2048;
/// Most actions followed in one /Next chain, entries counted in one name tree.
constexpr std::size_t max_chain = 1000;
constexpr std::size_t max_name_tree_entries = 10000;

struct Code {
    std::string_view name;
    std::string_view code;
};

/// Every action type of PDF 32000 (and RichMediaExecute): "" = kept (navigation inside the
/// document; /Named only for the four page moves).
constexpr std::array action_codes = {
    Code{"/GoTo", ""},
    Code{"/Named", ""},
    Code{"/JavaScript", "pdf.javascript"},
    Code{"/Launch", "pdf.launch"},
    Code{"/GoToR", "pdf.remote_goto"},
    Code{"/GoToE", "pdf.embedded_goto"},
    Code{"/GoTo3DView", "pdf.3d"},
    Code{"/ImportData", "pdf.import_data"},
    Code{"/SubmitForm", "pdf.submit_form"},
    Code{"/ResetForm", "pdf.reset_form"},
    Code{"/Rendition", "pdf.multimedia"},
    Code{"/Sound", "pdf.multimedia"},
    Code{"/Movie", "pdf.multimedia"},
    Code{"/Hide", "pdf.hide"},
    Code{"/URI", "pdf.uri"},
    Code{"/RichMediaExecute", "pdf.rich_media"},
    Code{"/SetOCGState", "pdf.set_ocg_state"},
    Code{"/Thread", "pdf.action"},
    Code{"/Trans", "pdf.action"},
};

constexpr std::array kept_named_actions = {
    std::string_view{"/NextPage"}, std::string_view{"/PrevPage"}, std::string_view{"/FirstPage"},
    std::string_view{"/LastPage"}};

/// Annotation subtypes removed whole.
constexpr std::array annotation_codes = {
    Code{"/FileAttachment", "pdf.embedded_file"},
    Code{"/RichMedia", "pdf.rich_media"},
    Code{"/3D", "pdf.3d"},
    Code{"/Screen", "pdf.multimedia"},
    Code{"/Movie", "pdf.multimedia"},
    Code{"/Sound", "pdf.multimedia"},
};

/// Keys removed wherever they are (/AA is handled apart: its entries are reported one by one).
constexpr std::array key_codes = {
    Code{"/JS", "pdf.javascript"},
    Code{"/JavaScript", "pdf.javascript"},
    Code{"/AF", "pdf.embedded_file"},
    Code{"/EF", "pdf.embedded_file"},
    Code{"/RF", "pdf.embedded_file"},
    Code{"/EmbeddedFiles", "pdf.embedded_file"},
    Code{"/XFA", "pdf.xfa"},
    Code{"/RichMediaContent", "pdf.rich_media"},
    Code{"/RichMediaSettings", "pdf.rich_media"},
    Code{"/3DD", "pdf.3d"},
    Code{"/AlternatePresentations", "pdf.multimedia"},
    Code{"/Renditions", "pdf.multimedia"},
    Code{"/Collection", "pdf.portfolio"},
};

/// Trigger names of /AA dictionaries (document, page, annotation, form field); any other key
/// is shown as "/AA" alone, so that a location never carries a name chosen by the sender.
constexpr std::array aa_triggers = {
    std::string_view{"/E"},  std::string_view{"/X"},  std::string_view{"/D"},
    std::string_view{"/U"},  std::string_view{"/Fo"}, std::string_view{"/Bl"},
    std::string_view{"/PO"}, std::string_view{"/PC"}, std::string_view{"/PV"},
    std::string_view{"/PI"}, std::string_view{"/O"},  std::string_view{"/C"},
    std::string_view{"/K"},  std::string_view{"/F"},  std::string_view{"/V"},
    std::string_view{"/WC"}, std::string_view{"/WS"}, std::string_view{"/DS"},
    std::string_view{"/WP"}, std::string_view{"/DP"},
};

template <std::size_t N>
std::string_view lookup(const std::array<Code, N>& table, std::string_view name) {
    for (const auto& c : table) {
        if (c.name == name) {
            return c.code;
        }
    }
    return {};
}

template <std::size_t N> bool known(const std::array<Code, N>& table, std::string_view name) {
    return std::any_of(table.begin(), table.end(), [&](const Code& c) { return c.name == name; });
}

std::string name_of(Obj h) {
    return h.isName() ? h.getName() : std::string{};
}

bool is_action(Obj d) {
    if (!d.isDictionary()) {
        return false;
    }
    return known(action_codes, name_of(d.getKey("/S"))) ||
           d.getKey("/Type").isNameAndEquals("/Action");
}

/// "" when the action is kept, else its removal code.
std::string_view action_verdict(Obj a) {
    const std::string s = name_of(a.getKey("/S"));
    if (s == "/GoTo") {
        return {};
    }
    if (s == "/Named") {
        const std::string n = name_of(a.getKey("/N"));
        if (std::find(kept_named_actions.begin(), kept_named_actions.end(), n) !=
            kept_named_actions.end()) {
            return {};
        }
        return "pdf.named_action";
    }
    const std::string_view code = lookup(action_codes, s);
    return code.empty() ? std::string_view{"pdf.action"} : code;
}

/// Printable ASCII; every other byte as %XX; cut at max_url_length.
std::string printable(std::string_view raw) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : raw) {
        const auto c = static_cast<unsigned char>(ch);
        if (c > 0x20 && c < 0x7f && c != '%') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4U]);
            out.push_back(hex[c & 0xfU]);
        }
        if (out.size() >= max_url_length) {
            out.resize(max_url_length);
            out += "...";
            break;
        }
    }
    return out;
}

/// A file specification as a path: a string, or a dictionary's /UF, /F, /Unix, /DOS, /Mac.
std::string file_target(Obj f) {
    if (f.isString()) {
        return f.getUTF8Value();
    }
    if (f.isDictionary()) {
        for (const char* key : {"/UF", "/F", "/Unix", "/DOS", "/Mac"}) {
            Obj v = f.getKey(key);
            if (v.isString()) {
                return v.getUTF8Value();
            }
        }
    }
    return {};
}

/// The URL or path an action points outside the document to, or "".
std::string external_target(Obj a) {
    const std::string s = name_of(a.getKey("/S"));
    std::string target;
    if (s == "/URI") {
        Obj u = a.getKey("/URI");
        if (u.isString()) {
            target = u.getStringValue();
        }
    } else if (s == "/Launch" || s == "/GoToR" || s == "/GoToE" || s == "/ImportData" ||
               s == "/SubmitForm" || s == "/Thread") {
        target = file_target(a.getKey("/F"));
        Obj win = a.getKey("/Win");
        if (target.empty() && s == "/Launch" && win.isDictionary()) {
            target = file_target(win.getKey("/F"));
        }
    }
    return target.empty() ? target : printable(target);
}

/// Annotation subtypes removed whole: the code, or "".
std::string_view annotation_verdict(Obj d, bool known_annotation) {
    if (!d.isDictionary()) {
        return {};
    }
    if (!known_annotation && !d.getKey("/Type").isNameAndEquals("/Annot") && !d.hasKey("/Rect")) {
        return {};
    }
    return lookup(annotation_codes, name_of(d.getKey("/Subtype")));
}

/// Streams removed whole (embedded files, 3D models): the code, or "".
std::string_view stream_verdict(Obj s) {
    if (!s.isStream()) {
        return {};
    }
    Obj d = s.getDict();
    const std::string type = name_of(d.getKey("/Type"));
    const std::string subtype = name_of(d.getKey("/Subtype"));
    if (type == "/EmbeddedFile") {
        return "pdf.embedded_file";
    }
    if (type == "/3D" || subtype == "/U3D" || subtype == "/PRC") {
        return "pdf.3d";
    }
    return {};
}

/// What the sweep removes as a whole object: an action that is not kept, an annotation of a
/// removed subtype, an embedded file or 3D stream; "" for anything else.
std::string_view object_verdict(Obj h) {
    if (h.isStream()) {
        return stream_verdict(h);
    }
    if (is_action(h)) {
        return action_verdict(h);
    }
    return annotation_verdict(h, false);
}

std::string object_location(int owner) {
    return owner > 0 ? "object " + std::to_string(owner) : std::string{"trailer"};
}

class Cleaner {
public:
    Cleaner(QPDF& doc, bool list_urls, std::vector<Removed>& out)
        : doc_(doc), list_urls_(list_urls), out_(out) {}

    void run() {
        Obj root = doc_.getRoot();
        catalog(root);
        pages();
        fields(root);
        outline(root);
        sweep();
        for (const auto& og : killed_) {
            doc_.replaceObject(og, Obj::newNull());
        }
        trim_trailer();
    }

private:
    void report(std::string_view code, std::string location, std::string url = {}) {
        out_.push_back(Removed{std::string(code), std::move(location),
                               list_urls_ ? std::move(url) : std::string{}});
    }

    /// Reports a removed action and every action of its /Next chain.
    void report_action(Obj a, std::string_view code, const std::string& location) {
        if (!a.isDictionary()) {
            report(code, location);
            return;
        }
        report(code, location, external_target(a));
        if (a.hasKey("/Next")) {
            report_chain(a.getKey("/Next"), location);
        }
    }

    /// Reports the actions of a /Next chain (a dictionary or an array of them).
    void report_chain(Obj next, const std::string& location) {
        std::vector<Obj> todo{next};
        std::set<QPDFObjGen> seen;
        std::size_t n = 0;
        while (!todo.empty() && n < max_chain) {
            Obj a = todo.back();
            todo.pop_back();
            if (a.isIndirect() && !seen.insert(a.getObjGen()).second) {
                continue;
            }
            if (a.isArray()) {
                auto items = a.getArrayAsVector();
                todo.insert(todo.end(), items.rbegin(), items.rend());
                continue;
            }
            if (!a.isDictionary()) {
                continue;
            }
            ++n;
            const std::string_view code = action_verdict(a);
            report(code.empty() ? std::string_view{"pdf.action"} : code, location + " /Next",
                   external_target(a));
            if (a.hasKey("/Next")) {
                todo.push_back(a.getKey("/Next"));
            }
        }
    }

    /// Cleans the action in holder[key]: a kept action loses its /Next chain, any other is
    /// removed. `at_open`: only GoTo (or an explicit destination) is kept.
    void action_slot(Obj holder, const char* key, const std::string& location,
                     bool at_open = false) {
        Obj v = holder.getKey(key);
        if (v.isNull()) {
            return;
        }
        if (at_open && v.isArray()) {
            return; // an explicit destination
        }
        if (!is_action(v)) {
            report(at_open ? "pdf.open_action" : "pdf.action", location);
            holder.removeKey(key);
            return;
        }
        std::string_view code = action_verdict(v);
        if (code.empty() && at_open && !v.getKey("/S").isNameAndEquals("/GoTo")) {
            code = "pdf.open_action";
        }
        if (code.empty()) {
            if (v.hasKey("/Next")) {
                report_chain(v.getKey("/Next"), location);
                v.removeKey("/Next");
            }
            return;
        }
        report_action(v, code, location);
        holder.removeKey(key);
    }

    /// Removes holder[/AA], reporting each of its actions.
    void additional_actions(Obj holder, const std::string& location) {
        Obj aa = holder.getKey("/AA");
        if (aa.isNull()) {
            return;
        }
        bool any = false;
        if (aa.isDictionary()) {
            for (auto& [trigger, a] : aa.getDictAsMap()) {
                if (a.isNull()) {
                    continue;
                }
                any = true;
                const bool named =
                    std::find(aa_triggers.begin(), aa_triggers.end(), trigger) != aa_triggers.end();
                const std::string where = location + " /AA" + (named ? " " + trigger : "");
                const std::string_view code = is_action(a) ? action_verdict(a) : std::string_view{};
                report_action(a, code.empty() ? std::string_view{"pdf.action"} : code, where);
            }
        }
        if (!any) {
            report("pdf.action", location + " /AA");
        }
        holder.removeKey("/AA");
    }

    void remove_key(Obj holder, const char* key, std::string_view code,
                    const std::string& location) {
        if (holder.hasKey(key)) {
            report(code, location + " " + key);
            holder.removeKey(key);
        }
    }

    /// Removes a name tree from the /Names dictionary, one Removed per entry.
    void name_tree(Obj names, const char* key, std::string_view code) {
        Obj tree = names.getKey(key);
        if (tree.isNull()) {
            return;
        }
        const std::string where = std::string("catalog /Names ") + key;
        std::size_t n = 0;
        try {
            QPDFNameTreeObjectHelper helper(tree, doc_);
            for (auto it = helper.begin(); it != helper.end() && n < max_name_tree_entries; ++it) {
                ++n;
                report(code, where + " entry " + std::to_string(n));
            }
        } catch (const std::exception&) {
            // A broken tree is removed all the same; it is reported once below.
        }
        if (n == 0) {
            report(code, where);
        }
        names.removeKey(key);
    }

    void catalog(Obj root) {
        action_slot(root, "/OpenAction", "catalog /OpenAction", true);
        additional_actions(root, "catalog");
        remove_key(root, "/AF", "pdf.embedded_file", "catalog");
        remove_key(root, "/Collection", "pdf.portfolio", "catalog");
        Obj names = root.getKey("/Names");
        if (names.isDictionary()) {
            name_tree(names, "/JavaScript", "pdf.javascript");
            name_tree(names, "/EmbeddedFiles", "pdf.embedded_file");
            name_tree(names, "/AlternatePresentations", "pdf.multimedia");
            name_tree(names, "/Renditions", "pdf.multimedia");
            name_tree(names, "/URLS", "pdf.web_capture");
            name_tree(names, "/IDS", "pdf.web_capture");
        }
        Obj form = root.getKey("/AcroForm");
        if (form.isDictionary()) {
            remove_key(form, "/XFA", "pdf.xfa", "catalog /AcroForm");
        }
        // Only meaningful with XFA: tells a reader to regenerate the pages from it.
        root.removeKey("/NeedsRendering");
    }

    void pages() {
        QPDFPageDocumentHelper helper(doc_);
        std::size_t i = 0;
        for (auto& page_helper : helper.getAllPages()) {
            ++i;
            Obj page = page_helper.getObjectHandle();
            const std::string where = "page " + std::to_string(i);
            additional_actions(page, where);
            remove_key(page, "/AF", "pdf.embedded_file", where);
            Obj annots = page.getKey("/Annots");
            if (!annots.isArray()) {
                continue;
            }
            std::vector<Obj> kept;
            bool changed = false;
            const int n = annots.getArrayNItems();
            for (int j = 0; j < n; ++j) {
                Obj a = annots.getArrayItem(j);
                const std::string at = where + " annotation " + std::to_string(j + 1);
                if (!a.isDictionary()) {
                    kept.push_back(a);
                    continue;
                }
                const std::string_view code = annotation_verdict(a, true);
                if (!code.empty()) {
                    report(code, at);
                    if (a.isIndirect()) {
                        killed_.insert(a.getObjGen());
                    }
                    changed = true;
                    continue;
                }
                action_slot(a, "/A", at);
                action_slot(a, "/PA", at);
                additional_actions(a, at);
                remove_key(a, "/AF", "pdf.embedded_file", at);
                kept.push_back(a);
            }
            if (changed) {
                page.replaceKey("/Annots", Obj::newArray(kept));
            }
        }
    }

    void fields(Obj root) {
        Obj form = root.getKey("/AcroForm");
        if (!form.isDictionary()) {
            return;
        }
        std::vector<Obj> todo;
        Obj top = form.getKey("/Fields");
        if (top.isArray()) {
            auto items = top.getArrayAsVector();
            todo.insert(todo.end(), items.rbegin(), items.rend());
        }
        std::set<QPDFObjGen> seen;
        std::size_t n = 0;
        while (!todo.empty()) {
            Obj f = todo.back();
            todo.pop_back();
            if (!f.isDictionary() || (f.isIndirect() && !seen.insert(f.getObjGen()).second)) {
                continue;
            }
            const std::string where = "form field " + std::to_string(++n);
            action_slot(f, "/A", where);
            additional_actions(f, where);
            Obj kids = f.getKey("/Kids");
            if (kids.isArray()) {
                auto items = kids.getArrayAsVector();
                todo.insert(todo.end(), items.rbegin(), items.rend());
            }
        }
    }

    void outline(Obj root) {
        Obj outlines = root.getKey("/Outlines");
        if (!outlines.isDictionary()) {
            return;
        }
        std::vector<Obj> todo{outlines.getKey("/First")};
        std::set<QPDFObjGen> seen;
        std::size_t n = 0;
        while (!todo.empty()) {
            Obj item = todo.back();
            todo.pop_back();
            if (!item.isDictionary() ||
                (item.isIndirect() && !seen.insert(item.getObjGen()).second)) {
                continue;
            }
            action_slot(item, "/A", "outline item " + std::to_string(++n));
            todo.push_back(item.getKey("/Next"));
            todo.push_back(item.getKey("/First"));
        }
    }

    /// Every object reachable from the trailer, direct ones included: whatever the structured
    /// passes did not reach (actions in odd places, orphaned annotations, /JS anywhere).
    void sweep() {
        struct Item {
            Obj h;
            int owner;
        };
        std::vector<Item> todo{{doc_.getTrailer(), 0}};
        std::set<QPDFObjGen> seen;
        while (!todo.empty()) {
            auto [h, owner] = todo.back();
            todo.pop_back();
            if (h.isIndirect()) {
                const QPDFObjGen og = h.getObjGen();
                if (killed_.count(og) != 0 || !seen.insert(og).second) {
                    continue;
                }
                owner = og.getObj();
                const std::string_view code = object_verdict(h);
                if (!code.empty()) {
                    report_object(h, code, object_location(owner));
                    killed_.insert(og);
                    continue;
                }
            }
            Obj dict = h.isStream() ? h.getDict() : h;
            if (dict.isDictionary()) {
                sweep_dict(dict, owner, todo);
            } else if (h.isArray()) {
                const int n = h.getArrayNItems();
                for (int i = 0; i < n; ++i) {
                    Obj item = h.getArrayItem(i);
                    if (!item.isIndirect() && (item.isDictionary() || item.isStream())) {
                        const std::string_view code = object_verdict(item);
                        if (!code.empty()) {
                            report_object(item, code, object_location(owner));
                            h.setArrayItem(i, Obj::newNull());
                            continue;
                        }
                    }
                    if (item.isIndirect() || item.isArray() || item.isDictionary()) {
                        todo.push_back({item, owner});
                    }
                }
            }
        }
    }

    template <class Todo> void sweep_dict(Obj dict, int owner, Todo& todo) {
        const std::string where = object_location(owner);
        if (dict.hasKey("/AA")) {
            additional_actions(dict, where);
        }
        if (is_action(dict) && dict.hasKey("/Next")) {
            report_chain(dict.getKey("/Next"), where);
            dict.removeKey("/Next");
        }
        for (auto& [key, v] : dict.getDictAsMap()) {
            const std::string_view key_code = lookup(key_codes, key);
            if (!key_code.empty()) {
                report(key_code, where + " " + key);
                dict.removeKey(key);
                continue;
            }
            if (!v.isIndirect() && (v.isDictionary() || v.isStream())) {
                const std::string_view code = object_verdict(v);
                if (!code.empty()) {
                    report_object(v, code, where);
                    dict.removeKey(key);
                    continue;
                }
            }
            if (v.isIndirect() || v.isArray() || v.isDictionary()) {
                todo.push_back({v, owner});
            }
        }
    }

    void report_object(Obj h, std::string_view code, const std::string& location) {
        if (!h.isStream() && is_action(h)) {
            report_action(h, code, location);
        } else {
            report(code, location);
        }
    }

    /// Keeps only the trailer keys a reader needs; qpdf writes the xref keys itself.
    void trim_trailer() {
        Obj trailer = doc_.getTrailer();
        static constexpr std::array keep = {std::string_view{"/Root"},    std::string_view{"/Info"},
                                            std::string_view{"/ID"},      std::string_view{"/Size"},
                                            std::string_view{"/Encrypt"}, std::string_view{"/Prev"},
                                            std::string_view{"/XRefStm"}};
        for (const auto& key : trailer.getKeys()) {
            if (std::find(keep.begin(), keep.end(), key) == keep.end()) {
                trailer.removeKey(key);
            }
        }
    }

    QPDF& doc_;
    bool list_urls_;
    std::vector<Removed>& out_;
    std::set<QPDFObjGen> killed_;
};

std::string describe(int owner, std::string_view what) {
    return object_location(owner) + " " + std::string(what);
}

} // namespace

void sanitize(QPDF& doc, bool list_urls, std::vector<Removed>& removed) {
    Cleaner(doc, list_urls, removed).run();
}

std::string find_forbidden(QPDF& doc) {
    Obj open = doc.getRoot().getKey("/OpenAction");
    if (!open.isNull() && !open.isArray() &&
        !(is_action(open) && open.getKey("/S").isNameAndEquals("/GoTo"))) {
        return "catalog /OpenAction";
    }
    std::vector<std::pair<Obj, int>> roots{{doc.getTrailer(), 0}};
    for (auto& o : doc.getAllObjects()) {
        roots.emplace_back(o, o.getObjectID());
    }
    for (auto& [top, owner] : roots) {
        std::vector<Obj> todo{top};
        bool first = true;
        while (!todo.empty()) {
            Obj h = todo.back();
            todo.pop_back();
            if (h.isIndirect() && !first) {
                continue; // checked as its own root
            }
            first = false;
            const std::string_view code = object_verdict(h);
            if (!code.empty()) {
                return describe(owner, code);
            }
            Obj dict = h.isStream() ? h.getDict() : h;
            if (dict.isDictionary()) {
                if (dict.hasKey("/AA")) {
                    return describe(owner, "/AA");
                }
                if (is_action(dict) && dict.hasKey("/Next")) {
                    return describe(owner, "/Next");
                }
                for (auto& [key, v] : dict.getDictAsMap()) {
                    if (known(key_codes, key)) {
                        return describe(owner, key);
                    }
                    if (!v.isIndirect() && (v.isDictionary() || v.isArray() || v.isStream())) {
                        todo.push_back(v);
                    }
                }
            } else if (h.isArray()) {
                for (auto& v : h.getArrayAsVector()) {
                    if (!v.isIndirect() && (v.isDictionary() || v.isArray())) {
                        todo.push_back(v);
                    }
                }
            }
        }
    }
    return {};
}

} // namespace mugaika::filters::cdr::pdf
