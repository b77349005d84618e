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

/// Moves every child of `node` before it, then removes `node` (keeps the text of a link).
void unwrap(pugi::xml_node node);

/// True when `n` or one of its ancestors is in `set`.
[[nodiscard]] bool within(pugi::xml_node n, const std::set<pugi::xml_node>& set);

/// Removes every node in `nodes` (a node inside another listed node goes with it) and clears the
/// list. pugixml frees a removed subtree: handles to nodes inside it are dangling afterwards, so
/// callers filter any later work with `within` before calling this.
void remove_all(std::vector<pugi::xml_node>& nodes);

/// ASCII lower-case copy.
[[nodiscard]] std::string ascii_lower(std::string_view s);

} // namespace mugaika::filters::cdr::office
