// The story of one mail: load_story, render_story_text, render_story_json (audit_views.hpp).
#include "gateway/audit/audit_views.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#pragma GCC diagnostic pop

#include "gateway/audit/audit_json.hpp"
#include "gateway/audit/audit_text.hpp"

namespace mugaika::gateway {
namespace {

namespace at = audit_text;

/// Rows read per related query: an original delivered or requested more often than this is
/// shown with its first 1000 records of each kind.
constexpr std::size_t related_limit = 1000;
constexpr std::size_t label_width = 13;

std::string safe(std::string_view s) {
    return at::terminal_safe(s);
}

/// "  label        value\n", or nothing when the value is empty.
void field(std::string& out, std::string_view label, std::string_view value,
           std::string_view indent = "  ") {
    if (value.empty()) {
        return;
    }
    out += indent;
    out += at::pad_to_width(label, label_width);
    out += ' ';
    out += safe(value);
    out += '\n';
}

std::string find_key(const std::vector<std::pair<std::string, std::string>>& kv,
                     std::string_view key) {
    for (const auto& [k, v] : kv) {
        if (k == key) {
            return v;
        }
    }
    return {};
}

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size() && !s.empty()) {
        const std::size_t comma = s.find(',', start);
        const std::string_view item = s.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!item.empty()) {
            out.emplace_back(item);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

struct Removed {
    std::string part;
    std::string kind;
    std::string location;
};

struct Url {
    std::string part;
    std::string url;
};

bool is_cdr(const AuditEvent& e) {
    return e.filter.rfind("cdr.", 0) == 0;
}

/// Objects and URLs a CDR engine removed, from `objects="kind@location,..."` and `urls=...`.
void cdr_findings(const AuditEvent& e, std::vector<Removed>& removed, std::vector<Url>& urls) {
    if (!is_cdr(e)) {
        return;
    }
    const auto kv = parse_event_detail(e.detail);
    for (const std::string& item : split_list(find_key(kv, "objects"))) {
        if (item == "...") {
            continue; // the detail was cut at its bound
        }
        const std::size_t at_pos = item.find('@');
        removed.push_back(Removed{e.part_path, item.substr(0, at_pos),
                                  at_pos == std::string::npos ? "" : item.substr(at_pos + 1)});
    }
    for (const std::string& u : split_list(find_key(kv, "urls"))) {
        if (u != "...") {
            urls.push_back(Url{e.part_path, u});
        }
    }
}

std::string size_text(std::uint64_t n) {
    return std::to_string(n) + " bytes";
}

std::string duration_text(std::int64_t us) {
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(1);
    os << static_cast<double>(us) / 1000.0 << " ms";
    return os.str();
}

void step_text(std::string& out, std::size_t n, const AuditEvent& e) {
    out += "  " + std::to_string(n) + ". " + safe(e.filter.empty() ? "?" : e.filter) + " -> " +
           safe(e.action.empty() ? "?" : e.action);
    if (!e.reason.empty()) {
        out += "  " + safe(e.reason);
    }
    out += '\n';
    constexpr std::string_view in = "       ";
    field(out, "rule", e.rule, in);
    field(out, "file", e.filename, in);
    if (!e.declared_type.empty() || !e.detected_type.empty()) {
        field(out, "type",
              "declared " + (e.declared_type.empty() ? std::string("-") : e.declared_type) +
                  ", detected " + (e.detected_type.empty() ? std::string("-") : e.detected_type),
              in);
    }
    if (e.size != 0) {
        field(out, "size", size_text(e.size), in);
    }
    field(out, "sha256 before", e.sha256_before, in);
    field(out, "sha256 after", e.sha256_after, in);
    const auto kv = parse_event_detail(e.detail);
    const std::string signatures = find_key(kv, "signatures");
    field(out, "virus", signatures, in);
    field(out, "detail", e.detail, in);
    std::vector<Removed> removed;
    std::vector<Url> urls;
    cdr_findings(e, removed, urls);
    for (const Removed& r : removed) {
        field(out, "removed", r.kind + (r.location.empty() ? "" : " at " + r.location), in);
    }
    for (const Url& u : urls) {
        field(out, "url", u.url, in);
    }
}

/// One line for a related record: time, id, verdict, who and to whom.
std::string related_line(const AuditRow& r, const TimeZone& tz) {
    const AuditMessage& m = r.msg;
    std::string line = "  " + tz.format(m.time_unix_ms, false) + "  " + safe(m.audit_id) + "  " +
                       safe(m.verdict.empty() ? "?" : m.verdict);
    if (!m.reason.empty()) {
        line += "  " + safe(m.reason);
    }
    const bool release = m.verdict.rfind("release", 0) == 0;
    const bool purge = m.verdict == "purged";
    std::vector<std::pair<std::string, std::string>> kv;
    if ((release || purge) && !m.events.empty()) {
        kv = parse_event_detail(m.events.front().detail);
    }
    std::string who;
    auto add = [&](const char* key) {
        const std::string v = find_key(kv, key);
        if (v.empty()) {
            return;
        }
        who += std::string(" ") + key + "=";
        if (v.find_first_of(" \"") == std::string::npos) {
            who += v;
            return;
        }
        who += '"';
        for (char c : v) {
            who += c == '"' ? std::string("\\\"") : std::string(1, c);
        }
        who += '"';
    };
    if (release) {
        for (const char* key : {"requester", "approver", "to", "part", "reason", "note", "smtp"}) {
            add(key);
        }
    } else if (purge) {
        for (const char* key : {"by", "retention_days", "cutoff"}) {
            add(key);
        }
    } else {
        // Another mail record of the same original or Message-ID.
        if (!m.mail_from.empty()) {
            who += " from=" + m.mail_from;
        }
        if (!m.subject.empty()) {
            who += " subject=\"" + m.subject + "\"";
        }
    }
    line += safe(who);
    return line + '\n';
}

/// Whether the quote at `i` ends a quoted value: it is last, or a space and another `key=`
/// follow. Writers that do not escape (cdr_detail) may leave quotes inside a value.
bool closes_value(std::string_view d, std::size_t i) {
    if (i + 1 == d.size()) {
        return true;
    }
    if (d[i + 1] != ' ') {
        return false;
    }
    std::size_t j = i + 2;
    while (j < d.size() &&
           ((d[j] >= 'a' && d[j] <= 'z') || (d[j] >= '0' && d[j] <= '9') || d[j] == '_')) {
        ++j;
    }
    return j > i + 2 && j < d.size() && d[j] == '=';
}

} // namespace

std::vector<std::pair<std::string, std::string>> parse_event_detail(std::string_view d) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t i = 0;
    while (i < d.size()) {
        while (i < d.size() && d[i] == ' ') {
            ++i;
        }
        if (i >= d.size()) {
            break;
        }
        const std::size_t key_start = i;
        while (i < d.size() && d[i] != '=' && d[i] != ' ') {
            ++i;
        }
        std::string key(d.substr(key_start, i - key_start));
        if (i >= d.size() || d[i] == ' ') {
            out.emplace_back(std::move(key), std::string());
            continue;
        }
        ++i; // '='
        std::string value;
        if (i < d.size() && d[i] == '"') {
            ++i;
            while (i < d.size()) {
                const char c = d[i];
                if (c == '\\' && i + 1 < d.size() && (d[i + 1] == '"' || d[i + 1] == '\\')) {
                    value += d[i + 1];
                    i += 2;
                    continue;
                }
                if (c == '"' && closes_value(d, i)) {
                    ++i;
                    break;
                }
                value += c;
                ++i;
            }
        } else {
            const std::size_t v_start = i;
            while (i < d.size() && d[i] != ' ') {
                ++i;
            }
            value = std::string(d.substr(v_start, i - v_start));
        }
        out.emplace_back(std::move(key), std::move(value));
    }
    return out;
}

filters::Result<AuditStory> load_story(const AuditStore& store, const std::string& audit_id) {
    if (audit_id.empty()) {
        return filters::fail(filters::ErrorCode::Malformed, "audit.not_found", "empty audit id");
    }
    AuditQuery q;
    q.audit_id = audit_id;
    q.limit = 1;
    auto own = store.query(q);
    if (!own) {
        return tl::unexpected(own.error());
    }
    if (own->empty()) {
        return filters::fail(filters::ErrorCode::Malformed, "audit.not_found",
                             "no audit record " + audit_id.substr(0, 100));
    }
    AuditStory story{std::move(own->front()), {}};
    const AuditMessage& m = story.mail.msg;
    std::set<std::int64_t> seen{story.mail.seq};
    auto add = [&](AuditQuery rq) -> filters::Result<void> {
        rq.limit = related_limit;
        auto rows = store.query(rq);
        if (!rows) {
            return tl::unexpected(rows.error());
        }
        for (auto& r : *rows) {
            if (seen.insert(r.seq).second) {
                story.related.push_back(std::move(r));
            }
        }
        return {};
    };
    const std::string& original = !m.quarantine_id.empty() ? m.quarantine_id : m.sha256_in;
    if (!original.empty()) {
        AuditQuery rq;
        rq.sha256 = original;
        if (auto r = add(rq); !r) {
            return tl::unexpected(r.error());
        }
    }
    if (!m.message_id.empty()) {
        AuditQuery rq;
        rq.message_id = m.message_id;
        if (auto r = add(rq); !r) {
            return tl::unexpected(r.error());
        }
    }
    std::sort(story.related.begin(), story.related.end(),
              [](const AuditRow& a, const AuditRow& b) { return a.seq < b.seq; });
    return story;
}

std::string render_story_text(const AuditStory& story, const TimeZone& tz) {
    const AuditMessage& m = story.mail.msg;
    std::string out;
    out += "Audit record " + safe(m.audit_id) + " (seq " + std::to_string(story.mail.seq) + ")\n";

    out += "\nEnvelope\n";
    field(out, "time", tz.format(m.time_unix_ms, true) + " (" + tz.name() + ")");
    field(out, "direction", m.direction);
    field(out, "client", m.client_addr);
    field(out, "helo", m.helo);
    field(out, "queue id", m.queue_id);
    field(out, "MAIL FROM", m.mail_from.empty() ? std::string("<>") : m.mail_from);
    for (const auto& rc : m.rcpt_to) {
        field(out, "RCPT TO", rc);
    }
    field(out, "Message-ID", m.message_id);
    field(out, "From", m.from_header);
    field(out, "Subject", m.subject);

    out += "\nContent\n";
    field(out, "in", size_text(m.size_in));
    field(out, "sha256 in", m.sha256_in);
    field(out, "out", size_text(m.size_out));
    field(out, "sha256 out", m.sha256_out);

    out += "\nDecision\n";
    field(out, "verdict", m.verdict);
    field(out, "action", m.action);
    field(out, "reason", m.reason);
    field(out, "ruleset", m.ruleset_version);
    field(out, "quarantine id", m.quarantine_id);
    field(out, "duration", duration_text(m.duration_us));
    field(out, "row hash", story.mail.row_hash);

    // Message-level steps first, then one block per part in the order the parts were walked.
    std::vector<std::string> parts;
    for (const auto& e : m.events) {
        if (!e.part_path.empty() &&
            std::find(parts.begin(), parts.end(), e.part_path) == parts.end()) {
            parts.push_back(e.part_path);
        }
    }
    std::size_t n = 0;
    bool header = false;
    for (const auto& e : m.events) {
        if (e.part_path.empty()) {
            if (!header) {
                out += "\nMessage steps\n";
                header = true;
            }
            step_text(out, ++n, e);
        }
    }
    for (const std::string& path : parts) {
        std::string name;
        for (const auto& e : m.events) {
            if (e.part_path == path && e.filter != "archive" && !e.filename.empty()) {
                name = e.filename;
                break;
            }
        }
        out += "\nPart " + safe(path) + (name.empty() ? "" : "  \"" + safe(name) + "\"") + "\n";
        n = 0;
        for (const auto& e : m.events) {
            if (e.part_path != path) {
                continue;
            }
            if (e.filter == "archive" && e.reason == "archive.member") {
                // Members are many and small: one line each.
                out += "  - member " + safe(e.filename) +
                       (e.detected_type.empty() ? "" : "  " + safe(e.detected_type)) + "  " +
                       size_text(e.size) + (e.detail.empty() ? "" : "  " + safe(e.detail)) + "\n";
                continue;
            }
            step_text(out, ++n, e);
        }
    }
    if (m.events.empty()) {
        out += "\n(no step events)\n";
    }

    out += "\nRelated records\n";
    if (story.related.empty()) {
        out += "  (none)\n";
    }
    for (const auto& r : story.related) {
        out += related_line(r, tz);
    }
    return out;
}

std::string render_story_json(const AuditStory& story, const TimeZone& tz) {
    Poco::JSON::Object root(Poco::JSON_PRESERVE_KEY_ORDER);
    root.set("mail", audit_row_json(story.mail, tz));
    Poco::JSON::Array::Ptr related = new Poco::JSON::Array;
    for (const auto& r : story.related) {
        related->add(audit_row_json(r, tz));
    }
    root.set("related", related);
    std::vector<Removed> removed;
    std::vector<Url> urls;
    for (const auto& e : story.mail.msg.events) {
        cdr_findings(e, removed, urls);
    }
    Poco::JSON::Array::Ptr removed_json = new Poco::JSON::Array;
    for (const Removed& r : removed) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("part", at::to_valid_utf8(r.part));
        o->set("kind", at::to_valid_utf8(r.kind));
        o->set("location", at::to_valid_utf8(r.location));
        removed_json->add(o);
    }
    root.set("removed", removed_json);
    Poco::JSON::Array::Ptr urls_json = new Poco::JSON::Array;
    for (const Url& u : urls) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("part", at::to_valid_utf8(u.part));
        o->set("url", at::to_valid_utf8(u.url));
        urls_json->add(o);
    }
    root.set("urls", urls_json);
    std::ostringstream os;
    root.stringify(os, 2);
    os << '\n';
    return os.str();
}

} // namespace mugaika::gateway
