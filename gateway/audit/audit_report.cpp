// The monthly report: build_month_report and its HTML, CSV and JSON renderings (audit_views.hpp).
#include "gateway/audit/audit_views.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <sstream>

#include <fmt/format.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#pragma GCC diagnostic pop

#include "gateway/audit/audit_text.hpp"

namespace mugaika::gateway {
namespace {

namespace at = audit_text;

constexpr std::size_t page_size = 1000;
constexpr std::size_t top_n = 20;

/// Verdicts of mail records (docs/audit.md); anything else without an "MG-" id is not mail.
bool is_mail(const AuditMessage& m) {
    static constexpr std::array<std::string_view, 6> verdicts{
        "sanitized", "passed", "rejected", "tempfail", "quarantined", "discarded"};
    if (m.audit_id.rfind("MG-", 0) == 0) {
        return true;
    }
    return std::find(verdicts.begin(), verdicts.end(), m.verdict) != verdicts.end();
}

bool is_release(const AuditMessage& m) {
    return m.verdict == "released" || m.verdict.rfind("release_", 0) == 0;
}

std::string lower_ascii(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

/// "<A@B.jp>" -> "a@b.jp"; the null sender is "<>".
std::string address_key(const std::string& addr) {
    std::string a = addr;
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') {
        a = a.substr(1, a.size() - 2);
    }
    return a.empty() ? std::string("<>") : lower_ascii(a);
}

std::string domain_key(const std::string& addr) {
    std::string a = address_key(addr);
    const std::size_t at_pos = a.rfind('@');
    return at_pos == std::string::npos ? a : a.substr(at_pos + 1);
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < s.size()) {
        std::size_t comma = s.find(',', start);
        if (comma == std::string::npos) {
            comma = s.size();
        }
        if (comma > start) {
            out.push_back(s.substr(start, comma - start));
        }
        start = comma + 1;
    }
    return out;
}

std::string detail_value(const AuditEvent& e, std::string_view key) {
    for (auto& [k, v] : parse_event_detail(e.detail)) {
        if (k == key) {
            return v;
        }
    }
    return {};
}

std::vector<std::pair<std::string, std::int64_t>>
top(const std::map<std::string, std::int64_t>& counts) {
    std::vector<std::pair<std::string, std::int64_t>> v(counts.begin(), counts.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > top_n) {
        v.resize(top_n);
    }
    return v;
}

void add_mail(MonthReport& r, const AuditMessage& m, std::size_t day,
              std::map<std::string, std::int64_t>& senders,
              std::map<std::string, std::int64_t>& domains) {
    ++r.messages;
    r.bytes_in += static_cast<std::int64_t>(m.size_in);
    r.bytes_out += static_cast<std::int64_t>(m.size_out);
    const std::string verdict = m.verdict.empty() ? std::string("?") : m.verdict;
    ++r.by_day[day][verdict];
    ++r.by_verdict[verdict];
    ++r.by_direction[m.direction.empty() ? std::string("?") : m.direction];
    ++senders[address_key(m.mail_from)];
    std::set<std::string> mail_domains;
    for (const auto& rc : m.rcpt_to) {
        mail_domains.insert(domain_key(rc));
    }
    for (const auto& d : mail_domains) {
        ++domains[d];
    }
    std::set<std::string> signatures; // once per mail, whether found in the message or a part
    for (const auto& e : m.events) {
        const bool part_step = !e.part_path.empty() && e.filter != "archive";
        if (part_step && !e.action.empty()) {
            ++r.by_action[e.action];
        }
        if (part_step && !e.detected_type.empty()) {
            ++r.by_detected_type[e.detected_type];
        }
        if (!e.rule.empty()) {
            ++r.by_rule[e.rule];
        }
        const bool av_event = e.filter == "av" || detail_value(e, "av") == "infected";
        if (av_event) {
            for (const std::string& s : split_list(detail_value(e, "signatures"))) {
                if (s != "...") {
                    signatures.insert(s);
                }
            }
        }
        if (e.filter.rfind("cdr.", 0) == 0 && e.reason == "cdr.rebuilt") {
            ++r.by_cdr_engine[e.filter.substr(4)]["rebuilt"];
        } else if (const std::string err = detail_value(e, "cdr_error"); !err.empty()) {
            // The part's event after a failed rebuild (then stripped or rejected).
            const std::string engine = detail_value(e, "cdr_engine");
            ++r.by_cdr_engine[engine.empty() ? std::string("unknown") : engine]["failed"];
            ++r.cdr_failures[err];
        } else if (e.filter == "cdr") {
            // A failure that stopped the whole mail (tempfail): the engine is not recorded.
            ++r.by_cdr_engine["unknown"]["failed"];
            ++r.cdr_failures[e.reason.empty() ? std::string("?") : e.reason];
        }
    }
    for (const auto& s : signatures) {
        ++r.by_av_signature[s];
    }
}

} // namespace

filters::Result<MonthReport> build_month_report(const AuditStore& store, int year, int month,
                                                const TimeZone& tz) {
    if (month < 1 || month > 12 || year < 1970 || year > 9999) {
        return filters::fail(filters::ErrorCode::Malformed, "audit.bad_month",
                             std::to_string(year) + "-" + std::to_string(month));
    }
    MonthReport r;
    r.year = year;
    r.month = month;
    r.zone = tz.name();
    r.since_ms = tz.local_midnight(year, month, 1);
    r.until_ms = tz.local_midnight(year, month + 1, 1);
    r.since_text = tz.format(r.since_ms);
    r.until_text = tz.format(r.until_ms);
    // Day boundaries in local time (a DST day is 23 or 25 hours long).
    std::vector<std::int64_t> day_start;
    for (int d = 1;; ++d) {
        const std::int64_t t = tz.local_midnight(year, month, d);
        if (t >= r.until_ms) {
            break;
        }
        day_start.push_back(t);
    }
    r.by_day.resize(day_start.size());

    std::map<std::string, std::int64_t> senders;
    std::map<std::string, std::int64_t> domains;
    std::set<std::int64_t> seen; // rows recorded while paging shift the pages: count each once
    AuditQuery q;
    q.since_ms = r.since_ms;
    q.until_ms = r.until_ms;
    q.limit = page_size;
    for (q.offset = 0;; q.offset += page_size) {
        auto rows = store.query(q);
        if (!rows) {
            return tl::unexpected(rows.error());
        }
        for (const auto& row : *rows) {
            if (!seen.insert(row.seq).second) {
                continue;
            }
            const AuditMessage& m = row.msg;
            if (is_mail(m)) {
                const auto it =
                    std::upper_bound(day_start.begin(), day_start.end(), m.time_unix_ms);
                const auto day = static_cast<std::size_t>(
                    std::max<std::ptrdiff_t>(0, std::distance(day_start.begin(), it) - 1));
                add_mail(r, m, day, senders, domains);
            } else if (is_release(m)) {
                ++r.releases[m.verdict];
            } else if (m.verdict == "purged") {
                r.purged_originals +=
                    std::count_if(m.events.begin(), m.events.end(), [](const AuditEvent& e) {
                        return e.reason == "quarantine.purged";
                    });
            }
        }
        if (rows->size() < page_size) {
            break;
        }
    }
    r.top_senders = top(senders);
    r.top_recipient_domains = top(domains);
    return r;
}

namespace {

// ---- rendering ---------------------------------------------------------------------------

std::string thousands(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) {
            out += ',';
        }
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

std::string bytes_text(std::int64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    std::size_t u = 0;
    while (v >= 1024.0 && u + 1 < std::size(units)) {
        v /= 1024.0;
        ++u;
    }
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return std::string(buf.data());
}

std::string esc(std::string_view raw) {
    return at::html_escape(raw);
}

struct Labels {
    const char* title;
    const char* period;
    const char* zone;
    const char* summary;
    const char* mails;
    const char* bytes_in;
    const char* bytes_out;
    const char* purged;
    const char* per_day;
    const char* day;
    const char* total;
    const char* verdicts;
    const char* directions;
    const char* actions;
    const char* types;
    const char* rules;
    const char* signatures;
    const char* cdr;
    const char* engine;
    const char* rebuilt;
    const char* failed;
    const char* cdr_failures;
    const char* senders;
    const char* domains;
    const char* releases;
    const char* key;
    const char* count;
    const char* none;
    const char* footer;
    const char* top_note;
};

constexpr Labels labels_ja{
    "月次監査報告",
    "対象期間",
    "タイムゾーン",
    "概要",
    "処理したメール",
    "受信サイズ合計",
    "送出サイズ合計",
    "削除した原本",
    "日別メール件数（判定別）",
    "日",
    "合計",
    "判定",
    "方向",
    "パートの処理",
    "検出したファイル形式",
    "適用されたルール",
    "ウイルス（シグネチャ別、メール件数）",
    "無害化（CDR）エンジン",
    "エンジン",
    "再構成",
    "失敗",
    "無害化の失敗理由",
    "送信者（上位20）",
    "宛先ドメイン（上位20、メール件数）",
    "取り出し申請と決定",
    "項目",
    "件数",
    "該当なし",
    "監査証跡（mugaika audit）から集計。改ざん検査は mugaika audit verify で行えます。",
    "上位20件まで",
};

constexpr Labels labels_en{
    "Monthly audit report",
    "Period",
    "Time zone",
    "Summary",
    "Mails processed",
    "Bytes received",
    "Bytes delivered",
    "Originals purged",
    "Mails per day by verdict",
    "Day",
    "Total",
    "Verdicts",
    "Directions",
    "Actions on parts",
    "Detected file types",
    "Rules applied",
    "Viruses (by signature, mails)",
    "CDR engines",
    "Engine",
    "Rebuilt",
    "Failed",
    "CDR failures by reason",
    "Top 20 senders",
    "Top 20 recipient domains (mails)",
    "Release requests and decisions",
    "Item",
    "Count",
    "none",
    "Counted from the audit trail (mugaika audit). Check its integrity with mugaika audit verify.",
    "top 20",
};

/// Fixed colours per verdict, so that months compare at a glance; others grey.
std::string verdict_colour(const std::string& v) {
    static const std::map<std::string, std::string> colours{
        {"sanitized", "#2f6fb0"}, {"passed", "#3c9a4f"},      {"rejected", "#c8423b"},
        {"tempfail", "#e0a030"},  {"quarantined", "#7d5ba6"}, {"discarded", "#6b6b6b"},
    };
    const auto it = colours.find(v);
    return it == colours.end() ? "#a8a8a8" : it->second;
}

std::string fmt_num(double v) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "%.1f", v);
    return std::string(buf.data());
}

/// A stacked bar chart: one bar per day, one segment per verdict.
std::string day_chart(const MonthReport& r, const std::vector<std::string>& verdicts) {
    const std::size_t days = r.by_day.size();
    std::int64_t max_total = 0;
    for (const auto& d : r.by_day) {
        std::int64_t t = 0;
        for (const auto& [v, n] : d) {
            t += n;
        }
        max_total = std::max(max_total, t);
    }
    constexpr double width = 680;
    constexpr double height = 200;
    constexpr double left = 40;
    constexpr double bottom = 20;
    constexpr double top_pad = 10;
    const double plot_h = height - bottom - top_pad;
    const double slot = (width - left) / static_cast<double>(std::max<std::size_t>(days, 1));
    const double bar_w = slot * 0.7;
    const double scale = max_total > 0 ? plot_h / static_cast<double>(max_total) : 0;
    std::string svg = "<svg class=\"chart\" viewBox=\"0 0 " + fmt_num(width) + " " +
                      fmt_num(height + 24) + "\" role=\"img\">";
    // Axis and three gridlines.
    for (int k = 0; k <= 2; ++k) {
        const std::int64_t value = max_total * k / 2;
        const double y = height - bottom - static_cast<double>(value) * scale;
        svg += "<line x1=\"" + fmt_num(left) + "\" x2=\"" + fmt_num(width) + "\" y1=\"" +
               fmt_num(y) + "\" y2=\"" + fmt_num(y) + "\" class=\"grid\"/>";
        svg += "<text x=\"" + fmt_num(left - 4) + "\" y=\"" + fmt_num(y + 4) +
               "\" class=\"ylab\">" + thousands(value) + "</text>";
    }
    for (std::size_t d = 0; d < days; ++d) {
        const double x = left + slot * static_cast<double>(d) + (slot - bar_w) / 2;
        double y = height - bottom;
        for (const auto& v : verdicts) {
            const auto it = r.by_day[d].find(v);
            if (it == r.by_day[d].end() || it->second == 0) {
                continue;
            }
            const double h = static_cast<double>(it->second) * scale;
            y -= h;
            svg += "<rect x=\"" + fmt_num(x) + "\" y=\"" + fmt_num(y) + "\" width=\"" +
                   fmt_num(bar_w) + "\" height=\"" + fmt_num(h) + "\" fill=\"" + verdict_colour(v) +
                   "\"><title>" + std::to_string(d + 1) + ": " + esc(v) + " " +
                   thousands(it->second) + "</title></rect>";
        }
        if (days <= 31 && (d % 2 == 0 || days <= 16)) {
            svg += "<text x=\"" + fmt_num(x + bar_w / 2) + "\" y=\"" + fmt_num(height - 6) +
                   "\" class=\"xlab\">" + std::to_string(d + 1) + "</text>";
        }
    }
    // Legend below the bars.
    double lx = left;
    for (const auto& v : verdicts) {
        svg += "<rect x=\"" + fmt_num(lx) + "\" y=\"" + fmt_num(height + 8) +
               "\" width=\"10\" height=\"10\" fill=\"" + verdict_colour(v) + "\"/>";
        svg += "<text x=\"" + fmt_num(lx + 14) + "\" y=\"" + fmt_num(height + 17) +
               "\" class=\"legend\">" + esc(v) + "</text>";
        lx += 24 + 7.0 * static_cast<double>(at::display_width(v));
    }
    svg += "</svg>";
    return svg;
}

/// A horizontal bar chart of label/count pairs (largest first, at most 20 bars).
std::string hbar_chart(std::vector<std::pair<std::string, std::int64_t>> items,
                       const std::string& colour) {
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (items.size() > top_n) {
        items.resize(top_n);
    }
    std::int64_t max = 1;
    for (const auto& [k, n] : items) {
        max = std::max(max, n);
    }
    constexpr double width = 680;
    constexpr double label_w = 260;
    constexpr double row_h = 20;
    constexpr double number_w = 70;
    const double height = row_h * static_cast<double>(items.size()) + 4;
    const double bar_max = width - label_w - number_w;
    std::string svg = "<svg class=\"chart\" viewBox=\"0 0 " + fmt_num(width) + " " +
                      fmt_num(height) + "\" role=\"img\">";
    for (std::size_t i = 0; i < items.size(); ++i) {
        const double y = row_h * static_cast<double>(i) + 2;
        const double w = std::max(1.0, bar_max * static_cast<double>(items[i].second) /
                                           static_cast<double>(max));
        const std::string label = at::truncate_to_width(at::terminal_safe(items[i].first), 40);
        svg += "<text x=\"" + fmt_num(label_w - 6) + "\" y=\"" + fmt_num(y + 14) +
               "\" class=\"hlab\">" + esc(label) + "</text>";
        svg += "<rect x=\"" + fmt_num(label_w) + "\" y=\"" + fmt_num(y + 3) + "\" width=\"" +
               fmt_num(w) + "\" height=\"" + fmt_num(row_h - 6) + "\" fill=\"" + colour +
               "\"><title>" + esc(items[i].first) + ": " + thousands(items[i].second) +
               "</title></rect>";
        svg += "<text x=\"" + fmt_num(label_w + w + 4) + "\" y=\"" + fmt_num(y + 14) +
               "\" class=\"num\">" + thousands(items[i].second) + "</text>";
    }
    svg += "</svg>";
    return svg;
}

std::string count_table(const std::vector<std::pair<std::string, std::int64_t>>& items,
                        const Labels& l) {
    std::string t = "<table><thead><tr><th>" + std::string(l.key) + "</th><th class=\"n\">" +
                    l.count + "</th></tr></thead><tbody>";
    for (const auto& [k, n] : items) {
        t += "<tr><td>" + esc(k) + "</td><td class=\"n\">" + thousands(n) + "</td></tr>";
    }
    return t + "</tbody></table>";
}

/// A section with a chart and its numbers, or "none".
std::string counts_section(const char* title,
                           std::vector<std::pair<std::string, std::int64_t>> items, const Labels& l,
                           const std::string& colour, bool sort = true) {
    std::string s = "<section><h2>" + std::string(title) + "</h2>";
    if (items.empty()) {
        return s + "<p class=\"none\">" + l.none + "</p></section>";
    }
    if (sort) {
        std::stable_sort(items.begin(), items.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
    }
    s += hbar_chart(items, colour);
    s += count_table(items, l);
    return s + "</section>";
}

std::vector<std::pair<std::string, std::int64_t>>
pairs(const std::map<std::string, std::int64_t>& m) {
    return {m.begin(), m.end()};
}

std::string month_text(const MonthReport& r) {
    return fmt::format("{:04}-{:02}", r.year, r.month);
}

std::string day_text(const MonthReport& r, std::size_t d) {
    return fmt::format("{:04}-{:02}-{:02}", r.year, r.month, d + 1);
}

/// Verdicts in a stable order: the known ones first, then any other seen this month.
std::vector<std::string> verdict_order(const MonthReport& r) {
    std::vector<std::string> v{"sanitized", "passed",      "rejected",
                               "tempfail",  "quarantined", "discarded"};
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const std::string& s) { return r.by_verdict.count(s) == 0; }),
            v.end());
    for (const auto& [k, n] : r.by_verdict) {
        if (std::find(v.begin(), v.end(), k) == v.end()) {
            v.push_back(k);
        }
    }
    return v;
}

constexpr std::string_view css = R"(
body { font-family: "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", "Meiryo", sans-serif;
       color: #1a1a1a; margin: 2em auto; max-width: 190mm; line-height: 1.5; font-size: 10.5pt; }
h1 { font-size: 18pt; margin: 0 0 .2em; }
h2 { font-size: 13pt; border-bottom: 1px solid #999; margin: 1.4em 0 .5em; }
p.meta { margin: 0; color: #444; }
section { break-inside: avoid; page-break-inside: avoid; }
table { border-collapse: collapse; margin: .5em 0; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.days td, table.days th { padding: 1px 5px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid #bbb; padding: 6px 12px; min-width: 36mm; }
.card .v { font-size: 15pt; font-weight: bold; }
svg.chart { width: 100%; height: auto; display: block; margin: .3em 0; }
svg text { font-size: 11px; fill: #222; }
svg .ylab { text-anchor: end; } svg .xlab { text-anchor: middle; font-size: 9px; }
svg .hlab { text-anchor: end; } svg .grid { stroke: #ddd; stroke-width: 1; }
p.none { color: #666; }
footer { margin-top: 2em; font-size: 9pt; color: #555; border-top: 1px solid #ccc; }
@page { size: A4; margin: 15mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 9.5pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)";

} // namespace

std::string render_report_html(const MonthReport& r, const std::string& lang) {
    const bool ja = lang != "en";
    const Labels& l = ja ? labels_ja : labels_en;
    const std::string month = month_text(r);
    std::string h;
    h += "<!doctype html>\n<html lang=\"" + std::string(ja ? "ja" : "en") + "\">\n<head>\n";
    h += "<meta charset=\"utf-8\">\n";
    h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    h += "<title>mugaika " + std::string(l.title) + " " + month + "</title>\n";
    h += "<style>" + std::string(css) + "</style>\n</head>\n<body>\n";
    h += "<header><h1>" + std::string(l.title) + " " + month + "</h1>\n";
    h += "<p class=\"meta\">" + std::string(l.period) + ": " + esc(r.since_text) + " – " +
         esc(r.until_text) + "</p>\n";
    h += "<p class=\"meta\">" + std::string(l.zone) + ": " + esc(r.zone) + "</p></header>\n";

    // Summary cards.
    h += "<section><h2>" + std::string(l.summary) + "</h2><div class=\"cards\">";
    auto card = [&](const char* label, const std::string& value) {
        h += "<div class=\"card\"><div>" + std::string(label) + "</div><div class=\"v\">" + value +
             "</div></div>";
    };
    card(l.mails, thousands(r.messages));
    card(l.bytes_in, bytes_text(r.bytes_in) + " <small>(" + thousands(r.bytes_in) + ")</small>");
    card(l.bytes_out, bytes_text(r.bytes_out) + " <small>(" + thousands(r.bytes_out) + ")</small>");
    card(l.purged, thousands(r.purged_originals));
    h += "</div>";
    h += "<h3>" + std::string(l.verdicts) + "</h3>" + count_table(pairs(r.by_verdict), l);
    h += "<h3>" + std::string(l.directions) + "</h3>" + count_table(pairs(r.by_direction), l);
    h += "</section>\n";

    // Per day.
    const std::vector<std::string> verdicts = verdict_order(r);
    h += "<section><h2>" + std::string(l.per_day) + "</h2>";
    h += day_chart(r, verdicts);
    h += "<table class=\"days\"><thead><tr><th>" + std::string(l.day) + "</th>";
    for (const auto& v : verdicts) {
        h += "<th class=\"n\">" + esc(v) + "</th>";
    }
    h += "<th class=\"n\">" + std::string(l.total) + "</th></tr></thead><tbody>";
    for (std::size_t d = 0; d < r.by_day.size(); ++d) {
        h += "<tr><td>" + day_text(r, d) + "</td>";
        std::int64_t total = 0;
        for (const auto& v : verdicts) {
            const auto it = r.by_day[d].find(v);
            const std::int64_t n = it == r.by_day[d].end() ? 0 : it->second;
            total += n;
            h += "<td class=\"n\">" + thousands(n) + "</td>";
        }
        h += "<td class=\"n\">" + thousands(total) + "</td></tr>";
    }
    h += "</tbody></table></section>\n";

    h += counts_section(l.actions, pairs(r.by_action), l, "#2f6fb0") + "\n";
    h += counts_section(l.types, pairs(r.by_detected_type), l, "#5a8f7b") + "\n";
    h += counts_section(l.rules, pairs(r.by_rule), l, "#7d5ba6") + "\n";
    h += counts_section(l.signatures, pairs(r.by_av_signature), l, "#c8423b") + "\n";

    // CDR: a chart of rebuilt + failed per engine, and the table with both.
    h += "<section><h2>" + std::string(l.cdr) + "</h2>";
    if (r.by_cdr_engine.empty()) {
        h += "<p class=\"none\">" + std::string(l.none) + "</p>";
    } else {
        std::vector<std::pair<std::string, std::int64_t>> totals;
        for (const auto& [engine, counts] : r.by_cdr_engine) {
            std::int64_t t = 0;
            for (const auto& [k, n] : counts) {
                t += n;
            }
            totals.emplace_back(engine, t);
        }
        h += hbar_chart(totals, "#e0a030");
        h += "<table><thead><tr><th>" + std::string(l.engine) + "</th><th class=\"n\">" +
             l.rebuilt + "</th><th class=\"n\">" + l.failed + "</th></tr></thead><tbody>";
        for (const auto& [engine, counts] : r.by_cdr_engine) {
            const auto rb = counts.find("rebuilt");
            const auto fl = counts.find("failed");
            h += "<tr><td>" + esc(engine) + "</td><td class=\"n\">" +
                 thousands(rb == counts.end() ? 0 : rb->second) + "</td><td class=\"n\">" +
                 thousands(fl == counts.end() ? 0 : fl->second) + "</td></tr>";
        }
        h += "</tbody></table>";
        if (!r.cdr_failures.empty()) {
            h += "<h3>" + std::string(l.cdr_failures) + "</h3>" +
                 count_table(pairs(r.cdr_failures), l);
        }
    }
    h += "</section>\n";

    h += counts_section(l.senders, r.top_senders, l, "#4a7fa8", false) + "\n";
    h += counts_section(l.domains, r.top_recipient_domains, l, "#4a7fa8", false) + "\n";

    h += "<section><h2>" + std::string(l.releases) + "</h2>";
    h += r.releases.empty() ? "<p class=\"none\">" + std::string(l.none) + "</p>"
                            : count_table(pairs(r.releases), l);
    h += "</section>\n";

    h += "<footer><p>" + std::string(l.footer) + "</p></footer>\n</body>\n</html>\n";
    return h;
}

std::string render_report_csv(const MonthReport& r) {
    std::string out = "\xEF\xBB\xBFsection,key,count\r\n";
    auto line = [&](std::string_view section, std::string_view key, std::int64_t n) {
        out += csv_cell(section) + "," + csv_cell(key) + "," + std::to_string(n) + "\r\n";
    };
    line("summary", "messages", r.messages);
    line("summary", "bytes_in", r.bytes_in);
    line("summary", "bytes_out", r.bytes_out);
    line("summary", "purged_originals", r.purged_originals);
    auto map_lines = [&](std::string_view section, const std::map<std::string, std::int64_t>& m) {
        for (const auto& [k, n] : m) {
            line(section, k, n);
        }
    };
    map_lines("verdict", r.by_verdict);
    map_lines("direction", r.by_direction);
    for (std::size_t d = 0; d < r.by_day.size(); ++d) {
        for (const auto& [v, n] : r.by_day[d]) {
            line("day", day_text(r, d) + " " + v, n);
        }
    }
    map_lines("action", r.by_action);
    map_lines("detected_type", r.by_detected_type);
    map_lines("rule", r.by_rule);
    map_lines("av_signature", r.by_av_signature);
    for (const auto& [engine, counts] : r.by_cdr_engine) {
        for (const auto& [k, n] : counts) {
            line("cdr_engine", engine + " " + k, n);
        }
    }
    map_lines("cdr_failure", r.cdr_failures);
    for (const auto& [k, n] : r.top_senders) {
        line("top_sender", k, n);
    }
    for (const auto& [k, n] : r.top_recipient_domains) {
        line("recipient_domain", k, n);
    }
    map_lines("release", r.releases);
    return out;
}

std::string render_report_json(const MonthReport& r) {
    using Poco::JSON::Array;
    using Poco::JSON::Object;
    auto valid = [](const std::string& s) { return at::to_valid_utf8(s); };
    auto map_json = [&](const std::map<std::string, std::int64_t>& m) {
        Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
        for (const auto& [k, n] : m) {
            o->set(valid(k), Poco::Int64{n});
        }
        return o;
    };
    auto top_json = [&](const std::vector<std::pair<std::string, std::int64_t>>& v) {
        Array::Ptr a = new Array;
        for (const auto& [k, n] : v) {
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("key", valid(k));
            o->set("count", Poco::Int64{n});
            a->add(o);
        }
        return a;
    };
    Object root(Poco::JSON_PRESERVE_KEY_ORDER);
    root.set("year", r.year);
    root.set("month", r.month);
    root.set("zone", valid(r.zone));
    root.set("since_ms", Poco::Int64{r.since_ms});
    root.set("until_ms", Poco::Int64{r.until_ms});
    root.set("since", valid(r.since_text));
    root.set("until", valid(r.until_text));
    root.set("messages", Poco::Int64{r.messages});
    root.set("bytes_in", Poco::Int64{r.bytes_in});
    root.set("bytes_out", Poco::Int64{r.bytes_out});
    Array::Ptr days = new Array;
    for (std::size_t d = 0; d < r.by_day.size(); ++d) {
        Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("day", day_text(r, d));
        o->set("by_verdict", map_json(r.by_day[d]));
        days->add(o);
    }
    root.set("by_day", days);
    root.set("by_verdict", map_json(r.by_verdict));
    root.set("by_direction", map_json(r.by_direction));
    root.set("by_action", map_json(r.by_action));
    root.set("by_detected_type", map_json(r.by_detected_type));
    root.set("by_rule", map_json(r.by_rule));
    root.set("by_av_signature", map_json(r.by_av_signature));
    Object::Ptr cdr = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    for (const auto& [engine, counts] : r.by_cdr_engine) {
        cdr->set(valid(engine), map_json(counts));
    }
    root.set("by_cdr_engine", cdr);
    root.set("cdr_failures", map_json(r.cdr_failures));
    root.set("top_senders", top_json(r.top_senders));
    root.set("top_recipient_domains", top_json(r.top_recipient_domains));
    root.set("releases", map_json(r.releases));
    root.set("purged_originals", Poco::Int64{r.purged_originals});
    std::ostringstream os;
    root.stringify(os, 2);
    os << '\n';
    return os.str();
}

} // namespace mugaika::gateway
