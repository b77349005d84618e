#include "gateway/quarantine/quarantine_views.hpp"

#include <sys/stat.h>

#include <set>
#include <sstream>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>

#include "gateway/audit/audit_text.hpp"
#include "gateway/quarantine/release.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;

bool file_present(const QuarantineStore& store, const std::string& id) {
    struct stat st {};
    return is_sha256_hex(id) && ::stat(store.path_of(id).c_str(), &st) == 0;
}

/// One column: at most width - 1 columns of text, then padding, so neighbours never touch.
std::string cell(std::string_view s, std::size_t width) {
    return audit_text::pad_to_width(
        audit_text::truncate_to_width(audit_text::terminal_safe(s), width - 1), width);
}

} // namespace

filters::Result<std::vector<QuarantineEntry>> list_quarantine(const AuditStore& audit,
                                                              const QuarantineStore& store,
                                                              std::size_t limit,
                                                              std::size_t offset) {
    AuditQuery q;
    q.limit = 0; // deduplicate by original first, then page
    auto rows = audit.query(q);
    if (!rows) {
        return tl::unexpected(rows.error());
    }
    std::vector<QuarantineEntry> out;
    std::set<std::string> seen;
    std::size_t skipped = 0;
    for (const AuditRow& r : *rows) {
        const AuditMessage& m = r.msg;
        // Release requests name an original too, but the list shows the mail's own record.
        if (m.quarantine_id.empty() || is_release_verdict(m.verdict) ||
            !seen.insert(m.quarantine_id).second) {
            continue;
        }
        if (skipped < offset) {
            ++skipped;
            continue;
        }
        QuarantineEntry e;
        e.quarantine_id = m.quarantine_id;
        e.audit_id = m.audit_id;
        e.time_unix_ms = m.time_unix_ms;
        e.sender = m.mail_from;
        e.subject = m.subject;
        e.verdict = m.verdict;
        e.reason = m.reason;
        e.size = m.size_in;
        e.present = file_present(store, m.quarantine_id);
        out.push_back(std::move(e));
        if (limit != 0 && out.size() >= limit) {
            break;
        }
    }
    return out;
}

filters::Result<std::vector<AuditRow>> quarantine_records(const AuditStore& audit,
                                                          const std::string& id) {
    AuditQuery q;
    q.limit = 0;
    if (is_sha256_hex(id)) {
        q.sha256 = id;
    } else {
        q.audit_id = id;
    }
    auto rows = audit.query(q);
    if (!rows) {
        return tl::unexpected(rows.error());
    }
    std::vector<AuditRow> out;
    for (AuditRow& r : *rows) {
        if (!r.msg.quarantine_id.empty() && (r.msg.quarantine_id == id || r.msg.audit_id == id)) {
            out.push_back(std::move(r));
        }
    }
    if (out.empty()) {
        return fail(ErrorCode::Malformed, "quarantine.not_found", "no kept original for " + id);
    }
    return out;
}

std::string render_quarantine_table(const std::vector<QuarantineEntry>& entries) {
    std::string out = cell("TIME", 26) + cell("QUARANTINE ID", 18) + cell("AUDIT ID", 29) +
                      cell("VERDICT", 10) + cell("REASON", 24) + cell("SIZE", 11) +
                      cell("SENDER", 26) + "SUBJECT\n";
    for (const QuarantineEntry& e : entries) {
        out += cell(audit_text::format_tokyo_time(e.time_unix_ms, false), 26) +
               cell(e.quarantine_id.substr(0, 16), 18) + cell(e.audit_id, 29) +
               cell(e.verdict, 10) + cell(e.reason, 24) + cell(std::to_string(e.size), 11) +
               cell(e.sender.empty() ? "<>" : e.sender, 26) +
               audit_text::truncate_to_width(audit_text::terminal_safe(e.subject), 60) +
               (e.present ? "" : "  (purged)") + "\n";
    }
    if (entries.empty()) {
        out += "(no kept originals)\n";
    }
    return out;
}

std::string render_quarantine_json(const std::vector<QuarantineEntry>& entries) {
    Poco::JSON::Array::Ptr arr = new Poco::JSON::Array;
    for (const QuarantineEntry& e : entries) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("quarantine_id", e.quarantine_id);
        o->set("audit_id", e.audit_id);
        o->set("time", audit_text::format_tokyo_time(e.time_unix_ms, true));
        o->set("sender", e.sender);
        o->set("subject", e.subject);
        o->set("verdict", e.verdict);
        o->set("reason", e.reason);
        o->set("size", e.size);
        o->set("present", e.present);
        arr->add(o);
    }
    std::ostringstream ss;
    Poco::JSON::Stringifier::stringify(arr, ss, 2, -1, Poco::JSON_WRAP_STRINGS);
    return entries.empty() ? std::string("[]") : ss.str();
}

std::string render_quarantine_show(const std::vector<AuditRow>& rows,
                                   const QuarantineStore& store) {
    std::string out;
    for (const AuditRow& r : rows) {
        const AuditMessage& m = r.msg;
        if (is_release_verdict(m.verdict)) {
            const std::string detail = m.events.empty() ? std::string() : m.events.front().detail;
            const std::string who = detail_value(detail, "approver");
            out += "release    " + m.audit_id + "  " +
                   audit_text::format_tokyo_time(m.time_unix_ms, false) + "  " + m.verdict + " (" +
                   m.reason + ") part=" + detail_value(detail, "part") +
                   " to=" + audit_text::terminal_safe(m.rcpt_to.empty() ? "" : m.rcpt_to.front()) +
                   " requester=" + audit_text::terminal_safe(detail_value(detail, "requester")) +
                   (who.empty() ? "" : " by=" + audit_text::terminal_safe(who)) + "\n\n";
            continue;
        }
        out += "original   " + m.quarantine_id +
               (file_present(store, m.quarantine_id) ? "" : "  (purged)") + "\n";
        out += "audit id   " + m.audit_id + "\n";
        out += "time       " + audit_text::format_tokyo_time(m.time_unix_ms, false) + "\n";
        out += "direction  " + m.direction + "\n";
        out += "from       " + audit_text::terminal_safe(m.mail_from.empty() ? "<>" : m.mail_from) +
               "\n";
        std::string rcpts;
        for (const auto& rc : m.rcpt_to) {
            rcpts += (rcpts.empty() ? "" : ", ") + audit_text::terminal_safe(rc);
        }
        out += "to         " + rcpts + "\n";
        out += "subject    " + audit_text::terminal_safe(m.subject) + "\n";
        out += "size       " + std::to_string(m.size_in) + " bytes\n";
        out += "verdict    " + m.verdict + " (" + m.reason + ")\n";
        out += "parts\n";
        out += "  " + cell("PART", 8) + cell("ACTION", 8) + cell("REASON", 26) +
               cell("DECLARED", 28) + cell("DETECTED", 28) + cell("SIZE", 10) + "NAME\n";
        for (const AuditEvent& e : m.events) {
            if (e.part_path.empty()) {
                continue;
            }
            out += "  " + cell(e.part_path, 8) + cell(e.action, 8) + cell(e.reason, 26) +
                   cell(e.declared_type, 28) + cell(e.detected_type, 28) +
                   cell(std::to_string(e.size), 10) + audit_text::terminal_safe(e.filename) + "\n";
        }
        out += "\n";
    }
    return out;
}

} // namespace mugaika::gateway
