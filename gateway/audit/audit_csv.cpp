// render_csv: the audit query as a spreadsheet (declared in audit_views.hpp).
#include "gateway/audit/audit_views.hpp"

#include <array>
#include <string_view>

#include "gateway/audit/audit_text.hpp"

namespace mugaika::gateway {
namespace {

constexpr std::string_view bom = "\xEF\xBB\xBF";

/// True when a spreadsheet would read a cell starting like `s` as a formula (or, for tab and
/// CR, strip the character and read what follows as one). Fullwidth ＝＋－＠ are included: Excel
/// with a Japanese IME turns them into their ASCII forms on edit.
bool formula_like(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    switch (s.front()) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r':
        return true;
    default:
        break;
    }
    constexpr std::array<std::string_view, 4> fullwidth{"\xEF\xBC\x9D", "\xEF\xBC\x8B",
                                                        "\xEF\xBC\x8D", "\xEF\xBC\xA0"};
    for (std::string_view f : fullwidth) {
        if (s.substr(0, f.size()) == f) {
            return true;
        }
    }
    return false;
}

void text_cell(std::string& line, std::string_view raw) {
    line += csv_cell(raw);
}

template <class Int> void number_cell(std::string& line, Int n) {
    line += std::to_string(n);
}

std::string join_rcpts(const std::vector<std::string>& rcpts) {
    std::string out;
    for (const auto& r : rcpts) {
        out += (out.empty() ? "" : ", ") + r;
    }
    return out;
}

constexpr std::string_view header =
    "seq,audit_id,time,direction,client_addr,helo,queue_id,mail_from,rcpt_to,message_id,"
    "from_header,subject,size_in,size_out,sha256_in,sha256_out,verdict,action,reason,"
    "ruleset_version,quarantine_id,duration_us,row_hash,event_idx,part_path,filename,"
    "declared_type,detected_type,size,sha256_before,sha256_after,filter,event_action,rule,"
    "event_reason,detail,event_duration_us";

std::string message_cells(const AuditRow& r, const TimeZone& tz) {
    const AuditMessage& m = r.msg;
    std::string s;
    number_cell(s, r.seq);
    s += ',';
    text_cell(s, m.audit_id);
    s += ',';
    text_cell(s, tz.format(m.time_unix_ms, true));
    s += ',';
    text_cell(s, m.direction);
    s += ',';
    text_cell(s, m.client_addr);
    s += ',';
    text_cell(s, m.helo);
    s += ',';
    text_cell(s, m.queue_id);
    s += ',';
    text_cell(s, m.mail_from);
    s += ',';
    text_cell(s, join_rcpts(m.rcpt_to));
    s += ',';
    text_cell(s, m.message_id);
    s += ',';
    text_cell(s, m.from_header);
    s += ',';
    text_cell(s, m.subject);
    s += ',';
    number_cell(s, m.size_in);
    s += ',';
    number_cell(s, m.size_out);
    s += ',';
    text_cell(s, m.sha256_in);
    s += ',';
    text_cell(s, m.sha256_out);
    s += ',';
    text_cell(s, m.verdict);
    s += ',';
    text_cell(s, m.action);
    s += ',';
    text_cell(s, m.reason);
    s += ',';
    text_cell(s, m.ruleset_version);
    s += ',';
    text_cell(s, m.quarantine_id);
    s += ',';
    number_cell(s, m.duration_us);
    s += ',';
    text_cell(s, r.row_hash);
    return s;
}

void event_cells(std::string& s, std::size_t idx, const AuditEvent& e) {
    s += ',';
    number_cell(s, idx);
    s += ',';
    text_cell(s, e.part_path);
    s += ',';
    text_cell(s, e.filename);
    s += ',';
    text_cell(s, e.declared_type);
    s += ',';
    text_cell(s, e.detected_type);
    s += ',';
    number_cell(s, e.size);
    s += ',';
    text_cell(s, e.sha256_before);
    s += ',';
    text_cell(s, e.sha256_after);
    s += ',';
    text_cell(s, e.filter);
    s += ',';
    text_cell(s, e.action);
    s += ',';
    text_cell(s, e.rule);
    s += ',';
    text_cell(s, e.reason);
    s += ',';
    text_cell(s, e.detail);
    s += ',';
    number_cell(s, e.duration_us);
}

} // namespace

std::string csv_cell(std::string_view text) {
    std::string v = audit_text::to_valid_utf8(text);
    if (formula_like(v)) {
        v.insert(0, 1, '\'');
    }
    if (v.find_first_of(",\"\r\n") == std::string::npos) {
        return v;
    }
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::string render_csv(const std::vector<AuditRow>& rows, const TimeZone& tz) {
    std::string out;
    out += bom;
    out += header;
    out += "\r\n";
    for (const auto& r : rows) {
        const std::string msg = message_cells(r, tz);
        if (r.msg.events.empty()) {
            out += msg;
            out += ",,,,,,,,,,,,,,\r\n"; // the 14 event columns, empty
            continue;
        }
        for (std::size_t i = 0; i < r.msg.events.size(); ++i) {
            out += msg;
            event_cells(out, i, r.msg.events[i]);
            out += "\r\n";
        }
    }
    return out;
}

} // namespace mugaika::gateway
