// render_table and render_json (audit_store.hpp: Asia/Tokyo; audit_views.hpp: any TimeZone).
#include "gateway/audit/audit_store.hpp"

#include <algorithm>
#include <sstream>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSONString.h>
#pragma GCC diagnostic pop

#include "gateway/audit/audit_json.hpp"
#include "gateway/audit/audit_text.hpp"
#include "gateway/audit/audit_views.hpp"

namespace mugaika::gateway {
namespace {

namespace at = audit_text;

constexpr std::size_t time_width = 25; // "2026-11-21T10:15:30+09:00"
constexpr std::size_t audit_id_max = 40;
constexpr std::size_t verdict_max = 12;
constexpr std::size_t from_max = 32;
constexpr std::size_t subject_max = 50;
constexpr std::size_t filename_max = 40;
constexpr std::size_t value_max = 60;

/// One cell: terminal-safe and cut to `max` columns.
std::string cell(std::string_view s, std::size_t max) {
    return at::truncate_to_width(at::terminal_safe(s), max);
}

void kv(std::string& line, std::string_view key, std::string_view value, bool quoted = false) {
    if (value.empty()) {
        return;
    }
    line += ' ';
    line += key;
    line += '=';
    const std::string v = cell(value, key == "file" ? filename_max : value_max);
    if (quoted) {
        line += '"' + v + '"';
    } else {
        line += v;
    }
}

std::string event_line(const AuditEvent& e) {
    std::string line = "    ";
    line += e.part_path.empty() ? std::string("-") : cell(e.part_path, value_max);
    line += ' ';
    line += cell(e.filter.empty() ? std::string_view("?") : std::string_view(e.filter), value_max);
    line += ' ';
    line += cell(e.action.empty() ? std::string_view("?") : std::string_view(e.action), value_max);
    kv(line, "rule", e.rule);
    kv(line, "reason", e.reason);
    kv(line, "file", e.filename, true);
    kv(line, "declared", e.declared_type);
    kv(line, "detected", e.detected_type);
    if (e.size != 0) {
        kv(line, "size", std::to_string(e.size));
    }
    kv(line, "detail", e.detail, true);
    line += '\n';
    return line;
}

std::string valid(const std::string& s) {
    return at::to_valid_utf8(s);
}

} // namespace

Poco::JSON::Object::Ptr audit_event_json(const AuditEvent& e) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("part_path", valid(e.part_path));
    o->set("filename", valid(e.filename));
    o->set("declared_type", valid(e.declared_type));
    o->set("detected_type", valid(e.detected_type));
    o->set("size", Poco::UInt64{e.size});
    o->set("sha256_before", valid(e.sha256_before));
    o->set("sha256_after", valid(e.sha256_after));
    o->set("filter", valid(e.filter));
    o->set("action", valid(e.action));
    o->set("rule", valid(e.rule));
    o->set("reason", valid(e.reason));
    o->set("detail", valid(e.detail));
    o->set("duration_us", Poco::Int64{e.duration_us});
    return o;
}

Poco::JSON::Object::Ptr audit_row_json(const AuditRow& r, const TimeZone& tz) {
    const AuditMessage& m = r.msg;
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("seq", Poco::Int64{r.seq});
    o->set("audit_id", valid(m.audit_id));
    o->set("time", tz.format(m.time_unix_ms, true));
    o->set("time_unix_ms", Poco::Int64{m.time_unix_ms});
    o->set("direction", valid(m.direction));
    o->set("client_addr", valid(m.client_addr));
    o->set("helo", valid(m.helo));
    o->set("queue_id", valid(m.queue_id));
    o->set("mail_from", valid(m.mail_from));
    Poco::JSON::Array::Ptr rcpts = new Poco::JSON::Array;
    for (const auto& rc : m.rcpt_to) {
        rcpts->add(valid(rc));
    }
    o->set("rcpt_to", rcpts);
    o->set("message_id", valid(m.message_id));
    o->set("subject", valid(m.subject));
    o->set("from_header", valid(m.from_header));
    o->set("size_in", Poco::UInt64{m.size_in});
    o->set("size_out", Poco::UInt64{m.size_out});
    o->set("sha256_in", valid(m.sha256_in));
    o->set("sha256_out", valid(m.sha256_out));
    o->set("verdict", valid(m.verdict));
    o->set("action", valid(m.action));
    o->set("reason", valid(m.reason));
    o->set("ruleset_version", valid(m.ruleset_version));
    o->set("quarantine_id", valid(m.quarantine_id));
    o->set("duration_us", Poco::Int64{m.duration_us});
    o->set("row_hash", valid(r.row_hash));
    Poco::JSON::Array::Ptr events = new Poco::JSON::Array;
    for (const auto& e : m.events) {
        events->add(audit_event_json(e));
    }
    o->set("events", events);
    return o;
}

std::string render_table(const std::vector<AuditRow>& rows) {
    return render_table(rows, TimeZone::tokyo());
}

std::string render_json(const std::vector<AuditRow>& rows) {
    return render_json(rows, TimeZone::tokyo());
}

std::string render_table(const std::vector<AuditRow>& rows, const TimeZone& tz) {
    std::size_t id_w = std::string_view("AUDIT ID").size();
    std::size_t verdict_w = std::string_view("VERDICT").size();
    std::size_t from_w = std::string_view("FROM").size();
    for (const auto& r : rows) {
        id_w = std::max(id_w, at::display_width(cell(r.msg.audit_id, audit_id_max)));
        verdict_w = std::max(verdict_w, at::display_width(cell(r.msg.verdict, verdict_max)));
        from_w = std::max(from_w, at::display_width(cell(r.msg.mail_from, from_max)));
    }
    std::string out;
    out += at::pad_to_width("TIME", time_width) + "  " + at::pad_to_width("AUDIT ID", id_w) + "  " +
           at::pad_to_width("VERDICT", verdict_w) + "  " + at::pad_to_width("FROM", from_w) +
           "  SUBJECT\n";
    for (const auto& r : rows) {
        const AuditMessage& m = r.msg;
        std::string line = at::pad_to_width(tz.format(m.time_unix_ms, false), time_width);
        line += "  " + at::pad_to_width(cell(m.audit_id, audit_id_max), id_w);
        line += "  " + at::pad_to_width(cell(m.verdict, verdict_max), verdict_w);
        line += "  " + at::pad_to_width(cell(m.mail_from, from_max), from_w);
        line += "  " + cell(m.subject, subject_max);
        // No trailing blanks when the subject is empty.
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out += line + '\n';
        for (const auto& e : m.events) {
            out += event_line(e);
        }
    }
    return out;
}

std::string render_json(const std::vector<AuditRow>& rows, const TimeZone& tz) {
    if (rows.empty()) {
        return "[]\n"; // Poco writes an indented empty array as "[\n\n]"
    }
    Poco::JSON::Array a;
    for (const auto& r : rows) {
        a.add(audit_row_json(r, tz));
    }
    std::ostringstream os;
    a.stringify(os, 2);
    os << '\n';
    return os.str();
}

} // namespace mugaika::gateway
