#include "gateway/rebuild/header_edit.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace mugaika::gateway {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// The value as it compares: no leading white space, no trailing line break, LF folds.
std::string normalized(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') {
            continue;
        }
        out += v[i];
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

} // namespace

std::vector<HeaderField> split_header_block(std::string_view message) {
    std::vector<HeaderField> out;
    std::size_t pos = 0;
    while (pos < message.size()) {
        std::size_t eol = message.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
        std::string_view line = message.substr(pos, next - pos);
        if (line == "\r\n" || line == "\n") {
            break;
        }
        if ((line.front() == ' ' || line.front() == '\t') && !out.empty()) {
            out.back().value += line;
        } else {
            const auto colon = line.find(':');
            if (colon != std::string_view::npos) {
                out.push_back(HeaderField{std::string(line.substr(0, colon)),
                                          std::string(line.substr(colon + 1))});
            }
        }
        pos = next;
    }
    for (HeaderField& f : out) {
        while (!f.value.empty() && (f.value.back() == '\n' || f.value.back() == '\r')) {
            f.value.pop_back();
        }
    }
    return out;
}

std::string_view body_of(std::string_view message) noexcept {
    std::size_t pos = 0;
    while (pos < message.size()) {
        const std::size_t eol = message.find('\n', pos);
        if (eol == std::string_view::npos) {
            return {};
        }
        const std::string_view line = message.substr(pos, eol - pos);
        if (line.empty() || line == "\r") {
            return message.substr(eol + 1);
        }
        pos = eol + 1;
    }
    return {};
}

std::vector<HeaderEdit> plan_header_edits(const std::vector<HeaderField>& received,
                                          const std::vector<HeaderField>& wanted) {
    std::map<std::string, std::vector<const HeaderField*>> have;
    std::map<std::string, std::vector<const HeaderField*>> want;
    std::vector<std::string> order; // names in the order they first appear in `wanted`
    for (const HeaderField& f : received) {
        have[lower(f.name)].push_back(&f);
    }
    for (const HeaderField& f : wanted) {
        auto& list = want[lower(f.name)];
        if (list.empty()) {
            order.push_back(lower(f.name));
        }
        list.push_back(&f);
    }
    std::vector<HeaderEdit> changes;
    std::vector<HeaderEdit> inserts;
    std::vector<HeaderEdit> appends;
    std::vector<HeaderEdit> removals;
    for (const auto& [name, fields] : have) {
        auto it = want.find(name);
        const std::size_t keep = it == want.end() ? 0 : it->second.size();
        for (std::size_t i = 0; i < fields.size() && i < keep; ++i) {
            const std::string v = normalized(it->second[i]->value);
            if (normalized(fields[i]->value) != v) {
                changes.push_back(
                    {HeaderEdit::Kind::Change, fields[i]->name, static_cast<int>(i + 1), v});
            }
        }
        for (std::size_t i = fields.size(); i > keep; --i) {
            removals.push_back(
                {HeaderEdit::Kind::Remove, fields[i - 1]->name, static_cast<int>(i), {}});
        }
    }
    for (const std::string& name : order) {
        const auto& fields = want[name];
        auto it = have.find(name);
        const std::size_t present = it == have.end() ? 0 : it->second.size();
        for (std::size_t i = present; i < fields.size(); ++i) {
            HeaderEdit e{HeaderEdit::Kind::Append, fields[i]->name, 0,
                         normalized(fields[i]->value)};
            if (name.rfind("x-mugaika-", 0) == 0) {
                e.kind = HeaderEdit::Kind::Insert;
                inserts.push_back(std::move(e));
            } else {
                appends.push_back(std::move(e));
            }
        }
    }
    std::vector<HeaderEdit> out;
    out.reserve(changes.size() + inserts.size() + appends.size() + removals.size());
    out.insert(out.end(), changes.begin(), changes.end());
    // Inserted at index 0 one after another: insert in reverse to keep their order.
    out.insert(out.end(), inserts.rbegin(), inserts.rend());
    out.insert(out.end(), appends.begin(), appends.end());
    out.insert(out.end(), removals.begin(), removals.end());
    return out;
}

} // namespace mugaika::gateway
