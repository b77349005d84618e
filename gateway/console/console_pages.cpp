#include "gateway/console/console_pages.hpp"

#include <algorithm>
#include <array>

#include "gateway/audit/audit_text.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway::console {

namespace {

struct Label {
    std::string_view key;
    std::string_view ja;
    std::string_view en;
};

constexpr std::array labels{
    Label{"app", "mugaika 監査コンソール", "mugaika audit console"},
    Label{"search", "検索", "Search"},
    Label{"report", "月次レポート", "Monthly report"},
    Label{"verify", "改ざん検証", "Chain verification"},
    Label{"releases", "原本の解放申請", "Release requests"},
    Label{"logout", "ログアウト", "Log out"},
    Label{"login", "ログイン", "Log in"},
    Label{"user", "ユーザー名", "User name"},
    Label{"password", "パスワード", "Password"},
    Label{"since", "開始日時", "Since"},
    Label{"until", "終了日時", "Until"},
    Label{"sender", "送信者", "Sender"},
    Label{"recipient", "宛先", "Recipient"},
    Label{"message_id", "Message-ID", "Message-ID"},
    Label{"audit_id", "監査ID", "Audit ID"},
    Label{"verdict", "判定", "Verdict"},
    Label{"action", "処理", "Action"},
    Label{"rule", "ルール", "Rule"},
    Label{"filename", "ファイル名", "File name"},
    Label{"sha256", "SHA-256", "SHA-256"},
    Label{"direction", "方向", "Direction"},
    Label{"limit", "表示件数", "Page size"},
    Label{"zone", "タイムゾーン", "Time zone"},
    Label{"time", "日時", "Time"},
    Label{"subject", "件名", "Subject"},
    Label{"from", "差出人", "From"},
    Label{"parts", "パート数", "Parts"},
    Label{"results", "検索結果", "Results"},
    Label{"no_results", "該当する記録はありません。", "No records match."},
    Label{"next", "次へ", "Next"},
    Label{"previous", "前へ", "Previous"},
    Label{"story", "メールの記録", "Story of a mail"},
    Label{"envelope", "エンベロープとヘッダー", "Envelope and headers"},
    Label{"steps", "処理の記録", "Steps"},
    Label{"part", "パート", "Part"},
    Label{"declared", "申告形式", "Declared type"},
    Label{"detected", "実際の形式", "Detected type"},
    Label{"size", "サイズ", "Size"},
    Label{"sha_before", "SHA-256（処理前）", "SHA-256 before"},
    Label{"sha_after", "SHA-256（処理後）", "SHA-256 after"},
    Label{"filter", "工程", "Step"},
    Label{"reason", "理由", "Reason"},
    Label{"detail", "詳細", "Detail"},
    Label{"related", "関連する記録", "Related records"},
    Label{"client", "接続元", "Client"},
    Label{"sha_in", "SHA-256（受信）", "SHA-256 in"},
    Label{"sha_out", "SHA-256（配送）", "SHA-256 out"},
    Label{"quarantine_id", "原本ID", "Quarantine id"},
    Label{"size_in_out", "サイズ（受信／配送）", "Size in / out"},
    Label{"month", "対象月", "Month"},
    Label{"show", "表示", "Show"},
    Label{"chain_ok", "監査記録の連鎖は完全です。", "The audit chain is whole."},
    Label{"chain_broken", "監査記録の連鎖が壊れています。", "The audit chain is BROKEN."},
    Label{"rows_checked", "検査した行", "Rows checked"},
    Label{"head_seq", "先頭の番号", "Head seq"},
    Label{"head_hash", "先頭のハッシュ", "Head hash"},
    Label{"first_bad", "最初の異常", "First bad seq"},
    Label{"problem", "問題", "Problem"},
    Label{"request", "申請ID", "Request"},
    Label{"to", "送付先", "To"},
    Label{"requester", "申請者", "Requester"},
    Label{"approve", "承認して送付", "Approve and deliver"},
    Label{"refuse", "却下", "Refuse"},
    Label{"note", "コメント", "Note"},
    Label{"no_requests", "保留中の申請はありません。", "No pending requests."},
    Label{"read_only", "承認と却下は管理者（admin）のみ行えます。",
          "Only administrators (admin) approve or refuse."},
    Label{"error", "エラー", "Error"},
    Label{"role", "権限", "Role"},
    Label{"any", "（すべて）", "(any)"},
    Label{"inbound", "受信（インターネット→LGWAN）", "inbound (Internet to LGWAN)"},
    Label{"outbound", "送信（LGWAN→インターネット）", "outbound (LGWAN to Internet)"},
};

bool is_cont(unsigned char c) {
    return (c & 0xC0U) == 0x80U;
}

/// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80U) {
        return 1;
    }
    if (c >= 0xC2U && c <= 0xDFU) {
        n = 2;
    } else if (c >= 0xE0U && c <= 0xEFU) {
        n = 3;
    } else if (c >= 0xF0U && c <= 0xF4U) {
        n = 4;
    } else {
        return 0;
    }
    if (i + n > s.size()) {
        return 0;
    }
    for (std::size_t k = 1; k < n; ++k) {
        if (!is_cont(static_cast<unsigned char>(s[i + k]))) {
            return 0;
        }
    }
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0U && c1 < 0xA0U) || (c == 0xEDU && c1 > 0x9FU) || (c == 0xF0U && c1 < 0x90U) ||
        (c == 0xF4U && c1 > 0x8FU)) {
        return 0;
    }
    return n;
}

std::string url_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4U];
            out += hex[c & 15U];
        }
    }
    return out;
}

std::string e(std::string_view s) {
    return html_escape(s);
}

std::string L(const PageContext& ctx, std::string_view key) {
    return std::string(label(ctx.lang, key));
}

std::string param(const Params& params, std::string_view name) {
    for (const auto& [k, v] : params) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

std::string hidden_csrf(const PageContext& ctx) {
    return R"(<input type="hidden" name="csrf" value=")" + e(ctx.csrf) + R"(">)";
}

std::string rcpt_list(const std::vector<std::string>& rcpts) {
    std::string out;
    for (const auto& r : rcpts) {
        out += (out.empty() ? "" : ", ") + r;
    }
    return out;
}

std::string sha_cell(std::string_view h) {
    return h.empty() ? std::string() : R"(<code class="hash">)" + e(h) + "</code>";
}

std::string row_cells(const PageContext& ctx, const AuditRow& r, const TimeZone& tz) {
    std::string out = "<tr><td>" + e(tz.format(r.msg.time_unix_ms)) + "</td>";
    out += R"(<td><a href="/mail/)" + url_encode(r.msg.audit_id) + "\">" + e(r.msg.audit_id) +
           "</a></td>";
    out += "<td>" + e(r.msg.verdict) + "</td><td>" + e(r.msg.direction) + "</td>";
    out += "<td>" + e(r.msg.mail_from) + "</td><td>" + e(rcpt_list(r.msg.rcpt_to)) + "</td>";
    out += R"(<td class="subject">)" + e(r.msg.subject) + "</td>";
    std::size_t parts = 0;
    std::vector<std::string> seen;
    for (const auto& ev : r.msg.events) {
        if (!ev.part_path.empty() &&
            std::find(seen.begin(), seen.end(), ev.part_path) == seen.end()) {
            seen.push_back(ev.part_path);
            ++parts;
        }
    }
    (void)ctx;
    out += "<td>" + std::to_string(parts) + "</td></tr>\n";
    return out;
}

std::string message_table(const PageContext& ctx, const AuditRow& r, const TimeZone& tz) {
    const AuditMessage& m = r.msg;
    auto line = [&](std::string_view key, const std::string& value_html) {
        return "<tr><th>" + L(ctx, key) + "</th><td>" + value_html + "</td></tr>\n";
    };
    std::string out = R"(<table class="facts">)";
    out += line("audit_id", e(m.audit_id));
    out += line("time", e(tz.format(m.time_unix_ms, true)));
    out += line("verdict", e(m.verdict) + " / " + e(m.action) + " / " + e(m.reason));
    out += line("direction", e(m.direction));
    out += line("client", e(m.client_addr) + (m.helo.empty() ? "" : " (" + e(m.helo) + ")"));
    out += line("sender", e(m.mail_from));
    out += line("recipient", e(rcpt_list(m.rcpt_to)));
    out += line("from", e(m.from_header));
    out += line("subject", R"(<span class="subject">)" + e(m.subject) + "</span>");
    out += line("message_id", e(m.message_id));
    out += line("size_in_out", std::to_string(m.size_in) + " / " + std::to_string(m.size_out));
    out += line("sha_in", sha_cell(m.sha256_in));
    out += line("sha_out", sha_cell(m.sha256_out));
    out += line("quarantine_id", sha_cell(m.quarantine_id));
    out += "</table>\n";
    return out;
}

std::string events_table(const PageContext& ctx, const AuditMessage& m) {
    std::string out = R"(<table class="steps"><thead><tr>)";
    for (auto key : {"part", "filename", "declared", "detected", "size", "filter", "action", "rule",
                     "reason", "sha_before", "sha_after", "detail"}) {
        out += "<th>" + L(ctx, key) + "</th>";
    }
    out += "</tr></thead><tbody>\n";
    for (const AuditEvent& ev : m.events) {
        out += "<tr><td>" + e(ev.part_path.empty() ? "-" : ev.part_path) + "</td>";
        out += R"(<td class="filename">)" + e(ev.filename) + "</td>";
        out += "<td>" + e(ev.declared_type) + "</td><td>" + e(ev.detected_type) + "</td>";
        out += "<td>" + std::to_string(ev.size) + "</td>";
        out += "<td>" + e(ev.filter) + "</td><td>" + e(ev.action) + "</td>";
        out += "<td>" + e(ev.rule) + "</td><td>" + e(ev.reason) + "</td>";
        out +=
            "<td>" + sha_cell(ev.sha256_before) + "</td><td>" + sha_cell(ev.sha256_after) + "</td>";
        out += R"(<td class="detail">)" + e(ev.detail) + "</td></tr>\n";
    }
    out += "</tbody></table>\n";
    return out;
}

std::string field(const PageContext& ctx, std::string_view name, std::string_view value,
                  std::string_view type = "text") {
    return R"(<label>)" + L(ctx, name) + R"( <input type=")" + std::string(type) + R"(" name=")" +
           std::string(name) + R"(" value=")" + e(value) + R"("></label>)" + "\n";
}

} // namespace

std::string html_escape(std::string_view text) {
    return audit_text::html_escape(text);
}

std::string json_quote(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = utf8_len(text, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        if (n > 1) {
            out.append(text.substr(i, n));
            i += n;
            continue;
        }
        const char ch = text[i++];
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20U || c == 0x7fU) {
            out += "\\u00";
            out += hex[c >> 4U];
            out += hex[c & 15U];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string_view label(std::string_view lang, std::string_view key) {
    for (const Label& l : labels) {
        if (l.key == key) {
            return lang == "en" ? l.en : l.ja;
        }
    }
    return key;
}

std::string page(const PageContext& ctx, std::string_view title, std::string_view body) {
    const std::string other = ctx.lang == "en" ? "ja" : "en";
    std::string path = ctx.path.empty() ? "/" : ctx.path;
    // The switch keeps the page and its query, with lang replaced.
    std::string base = path;
    std::string query;
    if (auto q = path.find('?'); q != std::string::npos) {
        base = path.substr(0, q);
        std::string rest = path.substr(q + 1);
        std::size_t start = 0;
        while (start <= rest.size()) {
            auto amp = rest.find('&', start);
            std::string item =
                rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
            if (!item.empty() && item.rfind("lang=", 0) != 0) {
                query += item + "&";
            }
            if (amp == std::string::npos) {
                break;
            }
            start = amp + 1;
        }
    }
    const std::string switch_href = base + "?" + query + "lang=" + other;
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"" + ctx.lang + "\"><head><meta charset=\"utf-8\">";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
    out += "<title>" + e(title) + " - " + L(ctx, "app") + "</title>";
    out += R"(<link rel="stylesheet" href="/static/console.css"></head><body>)"
           "\n";
    out += R"(<header><span class="app">)" + L(ctx, "app") + "</span>";
    if (!ctx.user.empty()) {
        out += R"(<nav><a href="/" id="nav-search">)" + L(ctx, "search") + "</a> ";
        out += R"(<a href="/report" id="nav-report">)" + L(ctx, "report") + "</a> ";
        out += R"(<a href="/verify" id="nav-verify">)" + L(ctx, "verify") + "</a> ";
        out += R"(<a href="/releases" id="nav-releases">)" + L(ctx, "releases") + "</a></nav>";
    }
    out += R"(<span class="tools"><a id="lang-switch" href=")" + e(switch_href) + "\">" +
           (other == "en" ? "English" : "日本語") + "</a>";
    if (!ctx.user.empty()) {
        out += R"( <span class="who">)" + e(ctx.user) + " (" + std::string(to_string(ctx.role)) +
               ")</span>";
        out += R"( <form class="inline" method="post" action="/logout">)" + hidden_csrf(ctx) +
               R"(<button type="submit" id="logout">)" + L(ctx, "logout") + "</button></form>";
    }
    out += "</span></header>\n<main>\n<h1>" + e(title) + "</h1>\n";
    out += std::string(body);
    out += "</main></body></html>\n";
    return out;
}

std::string login_page(const PageContext& ctx, std::string_view error, std::string_view token) {
    std::string body;
    if (!error.empty()) {
        body += R"(<p class="error" id="error">)" + e(error) + "</p>\n";
    }
    body += R"(<form method="post" action="/login" class="login">)";
    body += R"(<input type="hidden" name="login_token" value=")" + e(token) + "\">";
    body +=
        "<label>" + L(ctx, "user") +
        R"( <input type="text" name="user" id="user" autocomplete="username" required></label>)";
    body +=
        "<label>" + L(ctx, "password") +
        R"( <input type="password" name="password" id="password" autocomplete="current-password" required></label>)";
    body += R"(<button type="submit" id="login">)" + L(ctx, "login") + "</button></form>\n";
    return page(ctx, L(ctx, "login"), body);
}

std::string search_page(const PageContext& ctx, const Params& params,
                        const std::vector<AuditRow>* rows, std::size_t offset, std::size_t limit,
                        std::optional<std::size_t> next_offset, const TimeZone& tz,
                        std::string_view error) {
    std::string body = R"(<form method="get" action="/" class="search" id="search-form">)"
                       "\n";
    for (auto name : {"since", "until", "sender", "recipient", "message_id", "audit_id", "verdict",
                      "action", "rule", "filename", "sha256"}) {
        body += field(ctx, name, param(params, name));
    }
    const std::string dir = param(params, "direction");
    body += "<label>" + L(ctx, "direction") + R"( <select name="direction">)";
    for (auto d : {"", "inbound", "outbound"}) {
        body += R"(<option value=")" + std::string(d) + "\"" + (dir == d ? " selected" : "") + ">" +
                L(ctx, *d ? d : "any") + "</option>";
    }
    body += "</select></label>\n";
    body += field(ctx, "limit", param(params, "limit"), "number");
    body += field(ctx, "zone", param(params, "zone"));
    body += R"(<button type="submit" id="search">)" + L(ctx, "search") + "</button></form>\n";
    if (!error.empty()) {
        body += R"(<p class="error" id="error">)" + e(error) + "</p>\n";
    }
    if (rows != nullptr) {
        body += "<h2>" + L(ctx, "results") + "</h2>\n";
        if (rows->empty()) {
            body += R"(<p id="no-results">)" + L(ctx, "no_results") + "</p>\n";
        } else {
            body += R"(<table class="results" id="results"><thead><tr>)";
            for (auto key : {"time", "audit_id", "verdict", "direction", "sender", "recipient",
                             "subject", "parts"}) {
                body += "<th>" + L(ctx, key) + "</th>";
            }
            body += "</tr></thead><tbody>\n";
            for (const AuditRow& r : *rows) {
                body += row_cells(ctx, r, tz);
            }
            body += "</tbody></table>\n";
        }
        // Paging keeps every other parameter.
        std::string keep;
        for (const auto& [k, v] : params) {
            if (k != "offset" && k != "lang" && !v.empty()) {
                keep += url_encode(k) + "=" + url_encode(v) + "&";
            }
        }
        body += R"(<p class="paging">)";
        if (offset > 0) {
            body += R"(<a id="prev" href="/?)" + e(keep) +
                    "offset=" + std::to_string(offset > limit ? offset - limit : 0) + "\">" +
                    L(ctx, "previous") + "</a> ";
        }
        if (next_offset) {
            body += R"(<a id="next" href="/?)" + e(keep) +
                    "offset=" + std::to_string(*next_offset) + "\">" + L(ctx, "next") + "</a>";
        }
        body += "</p>\n";
    }
    return page(ctx, L(ctx, "search"), body);
}

std::string story_page(const PageContext& ctx, const AuditStory& story, const TimeZone& tz) {
    std::string body = "<h2>" + L(ctx, "envelope") + "</h2>\n" + message_table(ctx, story.mail, tz);
    body += "<h2>" + L(ctx, "steps") + "</h2>\n" + events_table(ctx, story.mail.msg);
    if (!story.related.empty()) {
        body += "<h2>" + L(ctx, "related") + "</h2>\n";
        for (const AuditRow& r : story.related) {
            body += "<h3><a href=\"/mail/" + url_encode(r.msg.audit_id) + "\">" +
                    e(r.msg.audit_id) + "</a> " + e(r.msg.verdict) + " " +
                    e(tz.format(r.msg.time_unix_ms)) + "</h3>\n";
            body += events_table(ctx, r.msg);
        }
    }
    return page(ctx, L(ctx, "story") + ": " + story.mail.msg.audit_id, body);
}

std::string report_form_page(const PageContext& ctx, std::string_view month,
                             std::string_view error) {
    std::string body;
    if (!error.empty()) {
        body += R"(<p class="error" id="error">)" + e(error) + "</p>\n";
    }
    body += R"(<form method="get" action="/report" id="report-form"><label>)" + L(ctx, "month") +
            R"( <input type="month" name="month" id="month" value=")" + e(month) + "\"></label> ";
    body += field(ctx, "zone", "");
    body += R"(<button type="submit" id="show-report">)" + L(ctx, "show") + "</button></form>\n";
    return page(ctx, L(ctx, "report"), body);
}

std::string verify_page(const PageContext& ctx, const VerifyReport& r) {
    std::string body = std::string(R"(<p id="chain-status" class=")") +
                       (r.ok ? "ok\">" : "error\">") + L(ctx, r.ok ? "chain_ok" : "chain_broken") +
                       "</p>\n<table class=\"facts\">";
    body += "<tr><th>" + L(ctx, "rows_checked") + "</th><td id=\"rows-checked\">" +
            std::to_string(r.rows_checked) + "</td></tr>";
    body += "<tr><th>" + L(ctx, "head_seq") + "</th><td id=\"head-seq\">" +
            std::to_string(r.head_seq) + "</td></tr>";
    body += "<tr><th>" + L(ctx, "head_hash") + "</th><td id=\"head-hash\">" +
            sha_cell(r.head_hash) + "</td></tr>";
    if (!r.ok) {
        body += "<tr><th>" + L(ctx, "first_bad") + "</th><td>" + std::to_string(r.first_bad_seq) +
                "</td></tr><tr><th>" + L(ctx, "problem") + "</th><td>" + e(r.problem) +
                "</td></tr>";
    }
    body += "</table>\n";
    return page(ctx, L(ctx, "verify"), body);
}

std::string releases_page(const PageContext& ctx, const std::vector<ReleaseRequest>& requests,
                          const TimeZone& tz, std::string_view message) {
    std::string body;
    if (!message.empty()) {
        body += R"(<p class="notice" id="message">)" + e(message) + "</p>\n";
    }
    const bool admin = allowed(ctx.role, Permission::DecideReleases);
    if (!admin) {
        body += R"(<p class="notice">)" + L(ctx, "read_only") + "</p>\n";
    }
    if (requests.empty()) {
        body += R"(<p id="no-requests">)" + L(ctx, "no_requests") + "</p>\n";
        return page(ctx, L(ctx, "releases"), body);
    }
    body += R"(<table class="results" id="requests"><thead><tr>)";
    for (auto key :
         {"request", "time", "audit_id", "part", "filename", "size", "to", "requester", "reason"}) {
        body += "<th>" + L(ctx, key) + "</th>";
    }
    body += admin ? "<th></th>" : "";
    body += "</tr></thead><tbody>\n";
    for (const ReleaseRequest& rq : requests) {
        body += "<tr><td>" + e(rq.id) + "</td><td>" + e(tz.format(rq.time_unix_ms)) + "</td>";
        body += R"(<td><a href="/mail/)" + url_encode(rq.original_audit_id) + "\">" +
                e(rq.original_audit_id) + "</a></td>";
        body += "<td>" + e(rq.part.empty() ? "all" : rq.part) + "</td><td>" + e(rq.filename) +
                "</td><td>" + std::to_string(rq.size) + "</td><td>" + e(rq.to) + "</td><td>" +
                e(rq.requester) + "</td><td>" + e(rq.reason) + "</td>";
        if (admin) {
            const std::string base = "/releases/" + url_encode(rq.id);
            body += "<td>";
            for (auto verb : {"approve", "refuse"}) {
                body += R"(<form method="post" action=")" + base + "/" + verb + "\">" +
                        hidden_csrf(ctx) + R"(<input type="text" name="note" placeholder=")" +
                        L(ctx, "note") + "\"" +
                        (std::string_view(verb) == "refuse" ? " required" : "") +
                        R"(><button type="submit" name="do" value=")" + verb + "\">" +
                        L(ctx, verb) + "</button></form>";
            }
            body += "</td>";
        }
        body += "</tr>\n";
    }
    body += "</tbody></table>\n";
    return page(ctx, L(ctx, "releases"), body);
}

std::string error_page(const PageContext& ctx, int status, std::string_view message) {
    return page(ctx, L(ctx, "error") + " " + std::to_string(status),
                R"(<p class="error" id="error">)" + e(message) + "</p>\n");
}

std::string_view console_css() {
    return R"(body{font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",Meiryo,sans-serif;margin:0;color:#1a1a1a;background:#fafafa}
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1em;background:#243b55;color:#fff}
header a{color:#fff}header nav a{margin-right:1em}.tools{margin-left:auto}
form.inline{display:inline}main{padding:1em 1.5em}
form.search label,form.login label{display:inline-block;margin:.2em 1em .2em 0}
table{border-collapse:collapse;margin:.5em 0;background:#fff}
th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top;font-size:.92em}
thead th{background:#e8edf3}code.hash{font-size:.8em;word-break:break-all}
td.detail{font-size:.8em;word-break:break-all;max-width:30em}
.error{color:#a00;font-weight:bold}.ok{color:#060;font-weight:bold}.notice{color:#333}
)";
}

} // namespace mugaika::gateway::console
