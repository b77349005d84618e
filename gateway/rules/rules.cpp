#include "gateway/rules/rules.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "filters/detect/file_facts.hpp"

namespace mugaika::gateway {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

template <class Pred> bool any_of(const std::vector<std::string>& list, Pred pred) {
    return std::any_of(list.begin(), list.end(), pred);
}

bool matches(const Rule& r, const PartFacts& f) {
    if (!r.direction.empty() && r.direction != f.direction) {
        return false;
    }
    if (r.role != Role::Any && r.role != f.role) {
        return false;
    }
    if (!r.senders.empty() &&
        !any_of(r.senders, [&](const std::string& p) { return address_matches(f.sender, p); })) {
        return false;
    }
    if (!r.recipients.empty()) {
        bool hit = false;
        if (f.recipients != nullptr) {
            for (const std::string& rcpt : *f.recipients) {
                if (any_of(r.recipients,
                           [&](const std::string& p) { return address_matches(rcpt, p); })) {
                    hit = true;
                    break;
                }
            }
        }
        if (!hit) {
            return false;
        }
    }
    if (!r.declared_types.empty() && !any_of(r.declared_types, [&](const std::string& p) {
            return type_matches(f.declared_type, p);
        })) {
        return false;
    }
    if (!r.detected_types.empty() && !any_of(r.detected_types, [&](const std::string& p) {
            return type_matches(f.detected_type, p);
        })) {
        return false;
    }
    if (!r.extensions.empty()) {
        const std::string ext = extension_of(f.filename);
        if (!any_of(r.extensions, [&](const std::string& e) { return iequals(e, ext); })) {
            return false;
        }
    }
    if (r.min_size && f.size < *r.min_size) {
        return false;
    }
    if (r.max_size && f.size > *r.max_size) {
        return false;
    }
    if (!r.av.empty() && !any_of(r.av, [&](const std::string& v) { return v == f.av; })) {
        return false;
    }
    if (r.mismatch && *r.mismatch != f.mismatch) {
        return false;
    }
    if (r.name_trick && *r.name_trick != f.name_trick) {
        return false;
    }
    if (!r.archive.empty() &&
        !any_of(r.archive, [&](const std::string& v) { return v == f.archive; })) {
        return false;
    }
    if (r.encrypted && *r.encrypted != f.encrypted) {
        return false;
    }
    if (r.contains != 0 && (r.contains & f.contains) == 0) {
        return false;
    }
    if (r.cdr && *r.cdr == f.cdr_engine.empty()) {
        return false;
    }
    return true;
}

} // namespace

std::string_view to_string(Action a) noexcept {
    switch (a) {
    case Action::Text:
        return "text";
    case Action::Keep:
        return "keep";
    case Action::Cdr:
        return "cdr";
    case Action::Strip:
        return "strip";
    case Action::Reject:
        return "reject";
    case Action::Tempfail:
        return "tempfail";
    case Action::Quarantine:
        return "quarantine";
    case Action::Discard:
        return "discard";
    }
    return "strip";
}

std::optional<Action> parse_action(std::string_view s) noexcept {
    if (s == "text") {
        return Action::Text;
    }
    if (s == "keep") {
        return Action::Keep;
    }
    if (s == "cdr") {
        return Action::Cdr;
    }
    if (s == "strip") {
        return Action::Strip;
    }
    if (s == "reject") {
        return Action::Reject;
    }
    if (s == "quarantine") {
        return Action::Quarantine;
    }
    if (s == "discard") {
        return Action::Discard;
    }
    return std::nullopt;
}

std::string_view to_string(Role r) noexcept {
    switch (r) {
    case Role::Body:
        return "body";
    case Role::Attachment:
        return "attachment";
    case Role::Any:
        return "any";
    }
    return "any";
}

Decision decide(const std::vector<Rule>& rules, const PartFacts& facts) {
    for (const Rule& r : rules) {
        if (matches(r, facts)) {
            return Decision{r.action, r.id};
        }
    }
    return Decision{facts.role == Role::Body ? Action::Text : Action::Strip, fallback_rule_id};
}

namespace {

using filters::detect::FileKind;

/// The kinds `contains` can name, in bit order (the bit is the FileKind value).
constexpr std::array content_kinds{
    FileKind::Text,    FileKind::Html,       FileKind::Pdf,    FileKind::Image, FileKind::Office,
    FileKind::Archive, FileKind::Executable, FileKind::Script, FileKind::Email, FileKind::Calendar,
    FileKind::Audio,   FileKind::Video,      FileKind::Other,  FileKind::Empty};
constexpr std::uint32_t macro_bit = 1U << 16U;

} // namespace

std::optional<std::uint32_t> content_bit(std::string_view name) noexcept {
    if (name == "macro") {
        return macro_bit;
    }
    for (FileKind k : content_kinds) {
        if (filters::detect::to_string(k) == name) {
            return 1U << static_cast<unsigned>(k);
        }
    }
    return std::nullopt;
}

std::string content_names(std::uint32_t bits) {
    std::string out;
    for (FileKind k : content_kinds) {
        if ((bits & (1U << static_cast<unsigned>(k))) != 0) {
            out += (out.empty() ? "" : ",") + std::string(filters::detect::to_string(k));
        }
    }
    if ((bits & macro_bit) != 0) {
        out += out.empty() ? "macro" : ",macro";
    }
    return out;
}

std::string content_names_all() {
    return content_names(0xffffffffU);
}

std::string extension_of(std::string_view filename) {
    const auto slash = filename.find_last_of("/\\");
    if (slash != std::string_view::npos) {
        filename.remove_prefix(slash + 1);
    }
    // Trailing spaces and dots are ignored by Windows: "a.exe. " opens as "a.exe".
    while (!filename.empty() && (filename.back() == ' ' || filename.back() == '.')) {
        filename.remove_suffix(1);
    }
    const auto dot = filename.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == filename.size()) {
        return {};
    }
    std::string ext(filename.substr(dot + 1));
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext;
}

bool address_matches(std::string_view address, std::string_view pattern) noexcept {
    if (pattern.empty()) {
        return false;
    }
    if (!address.empty() && address.front() == '<' && address.back() == '>') {
        address = address.substr(1, address.size() - 2);
    }
    const auto at = address.rfind('@');
    const std::string_view domain = at == std::string_view::npos ? "" : address.substr(at + 1);
    if (pattern.front() == '@') {
        return iequals(domain, pattern.substr(1));
    }
    if (pattern.front() == '.') {
        return iends_with(domain, pattern) || iequals(domain, pattern.substr(1));
    }
    if (pattern.find('@') != std::string_view::npos) {
        return iequals(address, pattern);
    }
    return iequals(domain, pattern);
}

bool type_matches(std::string_view type, std::string_view pattern) noexcept {
    if (pattern == "*/*" || pattern == "*") {
        return true;
    }
    if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
        const auto slash = type.find('/');
        return slash != std::string_view::npos &&
               iequals(type.substr(0, slash), pattern.substr(0, pattern.size() - 2));
    }
    return iequals(type, pattern);
}

} // namespace mugaika::gateway
