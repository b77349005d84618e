#include "filters/cdr/office/xml_util.hpp"

#include <sstream>

namespace mugaika::filters::cdr::office {

bool parse_xml(std::string_view data, pugi::xml_document& doc) {
    constexpr unsigned options =
        pugi::parse_default | pugi::parse_ws_pcdata | pugi::parse_declaration;
    const pugi::xml_parse_result r =
        doc.load_buffer(data.data(), data.size(), options, pugi::encoding_auto);
    return static_cast<bool>(r) && doc.document_element();
}

std::string save_xml(pugi::xml_document& doc) {
    for (pugi::xml_node n = doc.first_child(); n; n = n.next_sibling()) {
        if (n.type() == pugi::node_declaration) {
            if (pugi::xml_attribute enc = n.attribute("encoding")) {
                enc.set_value("UTF-8");
            }
            break;
        }
    }
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
    return std::move(out).str();
}

std::vector<pugi::xml_node> all_elements(pugi::xml_node root) {
    std::vector<pugi::xml_node> out;
    walk(root, [&](pugi::xml_node n) {
        out.push_back(n);
        return true;
    });
    return out;
}

std::string_view local_name(std::string_view qname) noexcept {
    const auto colon = qname.find(':');
    return colon == qname.npos ? qname : qname.substr(colon + 1);
}

std::string_view name_prefix(std::string_view qname) noexcept {
    const auto colon = qname.find(':');
    return colon == qname.npos ? std::string_view{} : qname.substr(0, colon);
}

std::string_view namespace_of(pugi::xml_node node, std::string_view prefix) {
    const std::string attr = prefix.empty() ? std::string("xmlns") : "xmlns:" + std::string(prefix);
    for (pugi::xml_node n = node; n; n = n.parent()) {
        if (n.type() != pugi::node_element) {
            continue;
        }
        if (pugi::xml_attribute a = n.attribute(attr.c_str())) {
            return a.value();
        }
    }
    return {};
}

pugi::xml_attribute attr_local(pugi::xml_node el, std::string_view name) {
    for (pugi::xml_attribute a : el.attributes()) {
        if (local_name(a.name()) == name) {
            return a;
        }
    }
    return {};
}

void unwrap(pugi::xml_node node) {
    pugi::xml_node parent = node.parent();
    while (pugi::xml_node c = node.first_child()) {
        parent.insert_move_before(c, node);
    }
    parent.remove_child(node);
}

std::vector<pugi::xml_node> outside(const std::vector<pugi::xml_node>& candidates,
                                    const std::vector<pugi::xml_node>& gone) {
    std::vector<pugi::xml_node> out;
    if (candidates.empty()) {
        return out;
    }
    const std::set<pugi::xml_node> gone_set(gone.begin(), gone.end());
    const std::set<pugi::xml_node> wanted(candidates.begin(), candidates.end());
    walk(candidates.front().root(), [&](pugi::xml_node n) {
        if (gone_set.contains(n)) {
            return false;
        }
        if (wanted.contains(n)) {
            out.push_back(n);
        }
        return true;
    });
    return out;
}

void remove_all(std::vector<pugi::xml_node>& nodes) {
    std::erase(nodes, pugi::xml_node());
    if (nodes.empty()) {
        return;
    }
    const std::set<pugi::xml_node> set(nodes.begin(), nodes.end());
    std::vector<pugi::xml_node> top;
    walk(nodes.front().root(), [&](pugi::xml_node n) {
        if (set.contains(n)) {
            top.push_back(n);
            return false; // its descendants go with it
        }
        return true;
    });
    // The topmost nodes are disjoint subtrees: removing one never frees another.
    for (pugi::xml_node n : top) {
        n.parent().remove_child(n);
    }
    nodes.clear();
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

} // namespace mugaika::filters::cdr::office
