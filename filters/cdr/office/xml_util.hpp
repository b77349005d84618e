#pragma once
// pugixml helpers shared by the ooxml and odf engines; internal to filters/cdr.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

namespace mugaika::filters::cdr::office {

/// Parses `data` into `doc`: whitespace-only text kept (w:t, text:s), no DTD, no external
/// entities (pugixml never fetches anything), declaration kept. False when it does not parse.
[[nodiscard]] bool parse_xml(std::string_view data, pugi::xml_document& doc);

/// Serializes `doc` as UTF-8 without reformatting; an encoding in the declaration becomes UTF-8.
[[nodiscard]] std::string save_xml(pugi::xml_document& doc);

/// Every element under `root` (included when it is an element), in document order. Iterative:
/// deep nesting cannot overflow the stack. The nodes stay valid while nothing is removed above.
[[nodiscard]] std::vector<pugi::xml_node> all_elements(pugi::xml_node root);

/// The part of a qualified name after the colon ("w:object" -> "object").
[[nodiscard]] std::string_view local_name(std::string_view qname) noexcept;

/// The prefix of a qualified name ("w:object" -> "w"; "" when none).
[[nodiscard]] std::string_view name_prefix(std::string_view qname) noexcept;

/// The namespace URI bound to `prefix` at `node` (walking up the ancestors); "" when unbound.
[[nodiscard]] std::string_view namespace_of(pugi::xml_node node, std::string_view prefix);

/// The first attribute of `el` whose local name is `name`, whatever its prefix (a document may
/// bind a namespace to any prefix it likes).
[[nodiscard]] pugi::xml_attribute attr_local(pugi::xml_node el, std::string_view name);

/// Moves every child of `node` before it, then removes `node` (keeps the text of a link).
void unwrap(pugi::xml_node node);

/// Visits the elements under `root` (included) in document order; when `visit(node)` returns
/// false the node's subtree is skipped. Iterative. `visit` must not remove nodes.
template <class Visit> void walk(pugi::xml_node root, Visit&& visit) {
    if (!root) {
        return;
    }
    pugi::xml_node n = root;
    for (;;) {
        const bool descend = n.type() != pugi::node_element || visit(n);
        if (descend && n.first_child()) {
            n = n.first_child();
            continue;
        }
        while (n != root && !n.next_sibling()) {
            n = n.parent();
        }
        if (n == root) {
            return;
        }
        n = n.next_sibling();
    }
}

/// The members of `candidates` that are not inside (or equal to) a node of `gone`, in
/// document order. One walk of the document: O(n log n) whatever the nesting depth.
[[nodiscard]] std::vector<pugi::xml_node> outside(const std::vector<pugi::xml_node>& candidates,
                                                  const std::vector<pugi::xml_node>& gone);

/// Removes every node in `nodes` (a node inside another listed node goes with it) and clears the
/// list. pugixml frees a removed subtree: handles to nodes inside it are dangling afterwards, so
/// callers filter any later work with `outside` before calling this.
void remove_all(std::vector<pugi::xml_node>& nodes);

/// The prefixes bound anywhere in the document of `node` to a namespace for which `match(uri)`
/// is true. Over-approximates scoped rebinding on purpose (more is removed, never less).
template <class Match>
[[nodiscard]] std::set<std::string> prefixes_for(pugi::xml_node node, Match&& match) {
    std::set<std::string> out;
    walk(node.root(), [&](pugi::xml_node el) {
        for (pugi::xml_attribute a : el.attributes()) {
            const std::string_view n = a.name();
            if (n.starts_with("xmlns:") && match(std::string_view(a.value()))) {
                out.emplace(n.substr(6));
            }
        }
        return true;
    });
    return out;
}

/// ASCII lower-case copy.
[[nodiscard]] std::string ascii_lower(std::string_view s);

} // namespace mugaika::filters::cdr::office
