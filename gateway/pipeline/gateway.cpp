#include "gateway/pipeline/gateway.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <optional>
#include <random>

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "filters/archive/archive_inspector.hpp"
#include "filters/av/av_engine.hpp"
#include "filters/av/clamd_scanner.hpp"
#include "filters/cdr/cdr.hpp"
#include "filters/core/budget.hpp"
#include "filters/core/part.hpp"
#include "filters/detect/file_facts.hpp"
#include "filters/detect/type_detector.hpp"
#include "filters/text/charset.hpp"
#include "filters/text/header_text.hpp"
#include "filters/text/html_to_text.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/audit_text.hpp"
#include "gateway/cdr/cdr_runner.hpp"
#include "gateway/log/log.hpp"
#include "gateway/mime/mime_tree.hpp"
#include "gateway/pipeline/notice.hpp"
#include "gateway/quarantine/quarantine_store.hpp"
#include "gateway/rebuild/rebuild.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway {
namespace {

using filters::Error;
using filters::ErrorCode;
using filters::fail;
using Clock = std::chrono::steady_clock;

constexpr std::string_view alternative_rule_id = "builtin-alternative";
/// How much of a body part libmagic sees.
constexpr std::size_t body_detect_bytes = 4096;
/// Archive members recorded one by one in the audit; the rest are counted.
constexpr std::size_t max_member_events = 100;

std::int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t micros_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

bool looks_textual(std::string_view bytes) noexcept {
    return filters::detect::looks_textual(filters::as_bytes(bytes));
}

filters::Result<std::string> detect_type(std::string_view bytes, Role role,
                                         std::string_view declared) {
    // A body is converted to text whatever it holds. libmagic's text analysis costs about 1 ms
    // per 4 KiB of Japanese text, far more than the conversion itself, and adds nothing for a
    // part that is text: such a body keeps its declared text type, and libmagic looks only at
    // bodies that are not text (an executable labelled text/plain is still named as one).
    if (role == Role::Body) {
        if (looks_textual(bytes)) {
            return std::string(declared);
        }
        bytes = bytes.substr(0, std::min<std::size_t>(bytes.size(), body_detect_bytes));
    }
    thread_local std::optional<filters::detect::TypeDetector> detector;
    if (!detector) {
        auto d = filters::detect::TypeDetector::create();
        if (!d) {
            return tl::unexpected(d.error());
        }
        detector.emplace(std::move(*d));
    }
    return detector->mime_type(filters::as_bytes(bytes));
}

/// A header field from the raw bytes, without GMime: used for the audit row even when the
/// message could not be parsed. Bounded to the header block's first 256 KiB.
std::string scan_header(std::string_view message, std::string_view name) {
    message = message.substr(0, std::min<std::size_t>(message.size(), 256 * 1024));
    std::size_t pos = 0;
    while (pos < message.size()) {
        std::size_t eol = message.find('\n', pos);
        if (eol == std::string_view::npos) {
            eol = message.size();
        }
        std::string_view line = message.substr(pos, eol - pos);
        if (line.empty() || line == "\r") {
            break;
        }
        if (line.size() > name.size() && line[name.size()] == ':' &&
            std::equal(name.begin(), name.end(), line.begin(),
                       [](unsigned char a, unsigned char b) {
                           return std::tolower(a) == std::tolower(b);
                       })) {
            std::string value(line.substr(name.size() + 1));
            // Continuation lines.
            std::size_t next = eol + 1;
            while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
                std::size_t e2 = message.find('\n', next);
                if (e2 == std::string_view::npos) {
                    e2 = message.size();
                }
                value += "\n";
                value += message.substr(next, e2 - next);
                next = e2 + 1;
            }
            return value;
        }
        pos = eol + 1;
    }
    return {};
}

std::string trim_copy(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

/// The charset named by an HTML document's <meta> in its first 4 KiB, or "".
std::string sniff_html_charset(std::string_view html) {
    std::string head(html.substr(0, std::min<std::size_t>(html.size(), 4096)));
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::size_t pos = 0;
    while ((pos = head.find("<meta", pos)) != std::string::npos) {
        const std::size_t end = head.find('>', pos);
        const std::string_view tag = std::string_view(head).substr(
            pos, end == std::string::npos ? std::string::npos : end - pos);
        const std::size_t cs = tag.find("charset");
        if (cs != std::string_view::npos) {
            std::size_t v = cs + 7;
            while (v < tag.size() &&
                   (tag[v] == ' ' || tag[v] == '=' || tag[v] == '"' || tag[v] == '\'')) {
                ++v;
            }
            std::size_t e = v;
            while (e < tag.size() &&
                   (std::isalnum(static_cast<unsigned char>(tag[e])) != 0 || tag[e] == '-' ||
                    tag[e] == '_' || tag[e] == ':' || tag[e] == '.')) {
                ++e;
            }
            if (e > v) {
                return std::string(tag.substr(v, e - v));
            }
        }
        pos += 5;
    }
    return {};
}

bool is_text_body_type(std::string_view t) noexcept {
    return t == "text/plain" || t == "text/html";
}

/// Per-message working state.
struct Work {
    const Config& cfg;
    const MimeTree& tree;
    std::vector<Role> roles;         // per node
    std::vector<bool> alt_unused;    // per node: an alternative not chosen
    std::vector<bool> related_extra; // per node: an inline resource of multipart/related
    std::vector<int> report_of;      // per node: index into parts, -1 for containers
};

void mark_subtree(Work& w, int node, std::vector<bool>& flags) {
    std::vector<int> stack{node};
    while (!stack.empty()) {
        const int n = stack.back();
        stack.pop_back();
        flags[static_cast<std::size_t>(n)] = true;
        for (int c : w.tree.nodes()[static_cast<std::size_t>(n)].children) {
            stack.push_back(c);
        }
    }
}

/// Whether a subtree holds an HTML leaf (for choosing among alternatives).
bool subtree_has_type(const MimeTree& tree, int node, std::string_view type) {
    std::vector<int> stack{node};
    while (!stack.empty()) {
        const auto& n = tree.nodes()[static_cast<std::size_t>(stack.back())];
        stack.pop_back();
        if (n.kind == NodeKind::Leaf && n.content_type == type) {
            return true;
        }
        if (n.kind == NodeKind::Multipart) {
            stack.insert(stack.end(), n.children.begin(), n.children.end());
        }
    }
    return false;
}

/// Assigns roles: which leaves are text meant to be read, which alternatives are unused, which
/// parts are inline resources of multipart/related. Iterative; depth is bounded by the parser.
void assign_roles(Work& w) {
    const auto& nodes = w.tree.nodes();
    struct Item {
        int node;
        bool body_context;
    };
    std::vector<Item> stack{{0, true}};
    while (!stack.empty()) {
        const Item it = stack.back();
        stack.pop_back();
        const MimeNode& n = nodes[static_cast<std::size_t>(it.node)];
        if (n.kind == NodeKind::Leaf) {
            const bool body = it.body_context && is_text_body_type(n.content_type) &&
                              n.disposition != "attachment" && n.filename.empty();
            w.roles[static_cast<std::size_t>(it.node)] = body ? Role::Body : Role::Attachment;
            continue;
        }
        if (n.kind == NodeKind::Message) {
            // A forwarded message is read like a body, rendered as a quoted section.
            for (int c : n.children) {
                stack.push_back({c, true});
            }
            continue;
        }
        if (n.content_type == "multipart/alternative" && !n.children.empty()) {
            int chosen = -1;
            const std::string_view want = w.cfg.prefer_html ? "text/html" : "text/plain";
            const std::string_view other = w.cfg.prefer_html ? "text/plain" : "text/html";
            // RFC 2046: the last alternative is the richest; prefer the last one that fits.
            for (auto t : {want, other}) {
                for (auto c = n.children.rbegin(); c != n.children.rend() && chosen < 0; ++c) {
                    if (subtree_has_type(w.tree, *c, t)) {
                        chosen = *c;
                    }
                }
                if (chosen >= 0) {
                    break;
                }
            }
            if (chosen < 0) {
                chosen = n.children.front();
            }
            for (int c : n.children) {
                if (c == chosen) {
                    stack.push_back({c, it.body_context});
                } else {
                    mark_subtree(w, c, w.alt_unused);
                    stack.push_back({c, false});
                }
            }
            continue;
        }
        if (n.content_type == "multipart/related" && !n.children.empty()) {
            // The root is the first part (the start parameter is rarely anything else).
            stack.push_back({n.children.front(), it.body_context});
            for (std::size_t i = 1; i < n.children.size(); ++i) {
                mark_subtree(w, n.children[i], w.related_extra);
                stack.push_back({n.children[i], false});
            }
            continue;
        }
        // mixed, signed, report, digest, unknown: every child may carry readable text.
        for (auto c = n.children.rbegin(); c != n.children.rend(); ++c) {
            stack.push_back({*c, it.body_context});
        }
    }
}

std::string join_detail(const std::vector<std::pair<std::string, std::string>>& kv) {
    std::string out;
    for (const auto& [k, v] : kv) {
        if (v.empty() || v == "0") {
            continue;
        }
        if (!out.empty()) {
            out += ' ';
        }
        out += k + "=" + v;
    }
    return out;
}

/// The text of one body leaf and what producing it found.
struct BodyText {
    std::string text;
    filters::text::HtmlCounts counts;
    bool html = false;
};

struct Section {
    int node;
    std::string text;
};

/// Renders the readable text in tree order: bodies, and forwarded messages as quoted sections.
void render(const Work& w, const std::vector<std::optional<BodyText>>& bodies, int node,
            std::string& out) {
    const auto& nodes = w.tree.nodes();
    const MimeNode& n = nodes[static_cast<std::size_t>(node)];
    if (n.kind == NodeKind::Leaf) {
        const auto& b = bodies[static_cast<std::size_t>(node)];
        if (b && !b->text.empty()) {
            if (!out.empty() && out.back() != '\n') {
                out += '\n';
            }
            if (!out.empty()) {
                out += '\n';
            }
            out += b->text;
            if (out.back() != '\n') {
                out += '\n';
            }
        }
        return;
    }
    if (n.kind == NodeKind::Message) {
        std::string inner;
        for (int c : n.children) {
            render(w, bodies, c, inner);
        }
        std::string section = "---------- 転送されたメッセージ / Forwarded message ----------\n";
        for (std::string_view h : {"From", "Date", "Subject", "To", "Cc"}) {
            std::string_view raw = find_header(n.inner_headers, h);
            if (!raw.empty()) {
                section += std::string(h) + ": " +
                           trim_copy(filters::text::decode_header_text(raw)) + "\n";
            }
        }
        section += "\n" + inner;
        if (!out.empty() && out.back() != '\n') {
            out += '\n';
        }
        if (!out.empty()) {
            out += '\n';
        }
        // Quote every line so the forwarded text stands apart from the outer body.
        std::size_t pos = 0;
        while (pos < section.size()) {
            std::size_t eol = section.find('\n', pos);
            if (eol == std::string::npos) {
                eol = section.size();
            }
            std::string_view line = std::string_view(section).substr(pos, eol - pos);
            out += line.empty() ? ">" : "> ";
            out += line;
            out += '\n';
            pos = eol + 1;
        }
        return;
    }
    for (int c : n.children) {
        render(w, bodies, c, out);
    }
}

/// A message-level step event (no part path).
AuditEvent step_event(std::string filter, std::string action, std::string reason,
                      std::uint64_t size, std::string sha256_before, std::string sha256_after,
                      std::int64_t duration_us, std::string detail = {}) {
    AuditEvent ev;
    ev.filter = std::move(filter);
    ev.action = std::move(action);
    ev.reason = std::move(reason);
    ev.size = size;
    ev.sha256_before = std::move(sha256_before);
    ev.sha256_after = std::move(sha256_after);
    ev.duration_us = duration_us;
    ev.detail = std::move(detail);
    return ev;
}

/// libmagic's type of an archive member's first bytes; "unknown" when detection fails.
std::string member_type(std::span<const std::byte> bytes) {
    auto t =
        detect_type(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    Role::Attachment, {});
    return t ? *t : std::string("unknown");
}

/// Office extensions that carry macros (VBA) by design.
bool macro_extension(std::string_view ext) noexcept {
    for (std::string_view e :
         {"docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppam", "ppsm", "sldm"}) {
        if (ext == e) {
            return true;
        }
    }
    return false;
}

bool ends_with_nocase(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() &&
           std::equal(
               suffix.begin(), suffix.end(), s.end() - static_cast<std::ptrdiff_t>(suffix.size()),
               [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); });
}

/// What one member adds to `contains`: the kind of its bytes, the kind its name claims, and
/// macro for macro-enabled Office documents and VBA projects (a member of a listed OOXML file).
std::uint32_t member_content(const filters::archive::Member& m) {
    using filters::detect::FileKind;
    std::uint32_t bits = 0;
    if (!m.type.empty()) { // an encrypted member was not read: only its name tells
        bits |= content_bit(filters::detect::to_string(filters::detect::kind_of_mime(m.type)))
                    .value_or(0);
    }
    const std::string ext = extension_of(m.path);
    const FileKind by_name = filters::detect::kind_of_extension(ext);
    if (by_name != FileKind::Other || m.type.empty()) {
        bits |= content_bit(filters::detect::to_string(by_name)).value_or(0);
    }
    std::string lower_type = m.type;
    std::transform(lower_type.begin(), lower_type.end(), lower_type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (macro_extension(ext) || lower_type.find("macroenabled") != std::string::npos ||
        ends_with_nocase(m.path, "vbaproject.bin")) {
        bits |= content_bit("macro").value_or(0);
    }
    return bits;
}

std::string_view archive_verdict(filters::archive::ArchiveStatus s) noexcept {
    using filters::archive::ArchiveStatus;
    switch (s) {
    case ArchiveStatus::Listed:
        return "listed";
    case ArchiveStatus::Encrypted:
        return "encrypted";
    case ArchiveStatus::LimitExceeded:
        return "limit_exceeded";
    case ArchiveStatus::Corrupt:
        return "corrupt";
    case ArchiveStatus::NotArchive:
        return "none";
    }
    return "none";
}

/// Lists an attachment as an archive when its content may be one (libmagic says archive, or
/// cannot tell), and records the verdict, the encryption and what it holds on the report.
/// Documents that are zips inside (OOXML, ODF) and programs packed as zips (jar, apk) are not
/// archives to the user: their own kind decides. Error "archive.internal" only.
filters::Result<filters::archive::ArchiveReport>
list_archive(const Config& cfg, std::string_view bytes, PartReport& rep) {
    using filters::detect::FileKind;
    const FileKind kind = filters::detect::kind_of_mime(rep.detected_type);
    if (rep.role == Role::Body || bytes.empty() ||
        (kind != FileKind::Archive && kind != FileKind::Other)) {
        return filters::archive::ArchiveReport{};
    }
    const filters::archive::ArchiveInspector inspector(cfg.archive, member_type);
    auto listed = inspector.inspect(filters::as_bytes(bytes), rep.filename);
    if (!listed) {
        return tl::unexpected(listed.error());
    }
    rep.archive = std::string(archive_verdict(listed->status));
    rep.archive_format = listed->format;
    rep.archive_reason = listed->reason;
    rep.archive_members = listed->members.size();
    rep.archive_expanded = listed->expanded;
    rep.encrypted = listed->status == filters::archive::ArchiveStatus::Encrypted;
    for (const auto& m : listed->members) {
        rep.encrypted = rep.encrypted || m.encrypted;
        rep.contains |= member_content(m);
    }
    return listed;
}

/// Content classes a reader should be warned about when an archive holds them.
std::uint32_t active_content_bits() {
    return content_bit("executable").value_or(0) | content_bit("script").value_or(0) |
           content_bit("macro").value_or(0);
}

/// What the notice says about a limit reason.
std::string_view archive_limit_text(std::string_view reason) noexcept {
    if (reason == "archive.ratio_exceeded") {
        return "展開すると異常に大きくなります / it inflates to far more than its size";
    }
    if (reason == "archive.size_exceeded") {
        return "展開後のサイズが上限を超えます / its contents exceed the size limit";
    }
    if (reason == "archive.members_exceeded") {
        return "ファイル数が上限を超えます / it holds too many files";
    }
    if (reason == "archive.depth_exceeded") {
        return "圧縮ファイルの入れ子が深すぎます / archives are nested too deep";
    }
    return "展開の上限を超えます / it exceeds an expansion limit";
}

/// The active content classes of an archive, for readers: "実行ファイル / program, ...".
std::string active_content_text(std::uint32_t bits) {
    std::string out;
    for (const auto& [name, text] :
         {std::pair<std::string_view, std::string_view>{"executable", "実行ファイル / program"},
          {"script", "スクリプト / script"},
          {"macro", "マクロ付き文書 / macro document"}}) {
        if ((bits & content_bit(name).value_or(0)) != 0) {
            out += (out.empty() ? "" : ", ") + std::string(text);
        }
    }
    return out;
}

/// The CDR engine that would rebuild an attachment ("" for bodies and kinds without one).
std::string cdr_engine_of(const PartReport& rep) {
    if (rep.role == Role::Body) {
        return {};
    }
    return std::string(filters::cdr::engine_for(rep.detected_type, extension_of(rep.filename)));
}

/// Rebuilds one part in the CDR helper, within the message's time budget, and checks what
/// comes back: libmagic must see a kind that has an engine (a rebuilt file is always such a
/// kind) and agree with the type and name the engine gave it.
filters::Result<filters::cdr::Output> rebuild_part(const Config& cfg, const filters::Budget& budget,
                                                   const PartReport& rep, std::string_view bytes) {
    using std::chrono::milliseconds;
    if (rep.cdr_engine.empty()) {
        return fail(ErrorCode::Unsupported, "cdr.no_engine", "type=" + rep.detected_type);
    }
    milliseconds limit =
        cfg.cdr_time_limit + cfg.cdr_time_per_mb * static_cast<std::int64_t>(rep.size >> 20U);
    limit = std::min(limit, cfg.cdr_max_time);
    const auto left = std::chrono::duration_cast<milliseconds>(budget.deadline() - Clock::now());
    if (left.count() <= 0) {
        return fail(ErrorCode::LimitExceeded, "budget.time_exceeded", "before cdr");
    }
    const bool cut_by_budget = left < limit;
    CdrLimits limits;
    limits.helper = cfg.cdr_helper;
    limits.time_limit = std::min(limit, left);
    limits.memory_limit = cfg.cdr_memory_limit;
    limits.work_root = cfg.state_dir + "/cdr";
    std::error_code ec;
    std::filesystem::create_directories(limits.work_root, ec);
    filters::cdr::Options options = cfg.cdr;
    options.max_archive_depth = static_cast<unsigned>(cfg.archive.max_depth);
    options.max_archive_members = cfg.archive.max_members;
    options.max_expanded_size = cfg.archive.max_total_size;
    options.max_output_size = cfg.max_output_size;
    auto out = run_cdr(rep.cdr_engine, bytes, rep.filename, options, limits);
    if (!out) {
        if (out.error().what == "cdr.timeout" && cut_by_budget) {
            return fail(ErrorCode::LimitExceeded, "budget.time_exceeded",
                        "during cdr engine=" + rep.cdr_engine);
        }
        return out;
    }
    auto type = detect_type(out->bytes, Role::Attachment, {});
    if (!type) {
        return fail(ErrorCode::Internal, "cdr.output_rejected", "libmagic failed on the output");
    }
    const bool routable = !filters::cdr::engine_for(*type, extension_of(out->filename)).empty();
    const auto facts = filters::detect::file_facts(out->filename, out->content_type, *type,
                                                   filters::detect::NamePolicy{});
    // A name that would run or render it (setup.exe, page.html) is never given to a rebuilt file.
    const auto name_kind = filters::detect::kind_of_extension(extension_of(out->filename));
    const bool runnable_name = name_kind == filters::detect::FileKind::Executable ||
                               name_kind == filters::detect::FileKind::Script ||
                               name_kind == filters::detect::FileKind::Html;
    // The bytes must be the kind the engine says they are (an OOXML package may look like a zip).
    using filters::detect::FileKind;
    const FileKind said = filters::detect::kind_of_mime(out->content_type);
    const FileKind seen = filters::detect::kind_of_mime(*type);
    const bool same_kind = said == seen || (said == FileKind::Office && seen == FileKind::Archive);
    if (!routable || !same_kind || facts.type_mismatch || runnable_name || out->filename.empty()) {
        return fail(ErrorCode::Internal, "cdr.output_rejected",
                    "engine=" + rep.cdr_engine + " detected=" + *type +
                        " declared=" + out->content_type + " name=" + out->filename);
    }
    return out;
}

/// What an engine removed, for the audit detail: "kind@location,..." (bounded).
std::string removed_list(const std::vector<filters::cdr::Removed>& removed) {
    std::string out;
    for (const auto& r : removed) {
        if (out.size() > 1500) {
            out += ",...";
            break;
        }
        out += (out.empty() ? "" : ",") + r.kind + (r.location.empty() ? "" : "@" + r.location);
    }
    return out.empty() ? out : "\"" + out + "\"";
}

/// The URLs of removed links and external references, for the audit detail (bounded).
std::string removed_urls(const std::vector<filters::cdr::Removed>& removed) {
    std::string out;
    for (const auto& r : removed) {
        if (r.url.empty()) {
            continue;
        }
        if (out.size() > 1500) {
            out += ",...";
            break;
        }
        out += (out.empty() ? "" : ",") + r.url.substr(0, 200);
    }
    return out;
}

/// The facts the rules see for one part.
PartFacts facts_of(const PartReport& rep, const Envelope& envelope, std::string_view direction) {
    PartFacts f;
    f.direction = direction;
    f.sender = envelope.mail_from;
    f.recipients = &envelope.rcpt_to;
    f.role = rep.role;
    f.declared_type = rep.declared_type;
    f.detected_type = rep.detected_type;
    f.filename = rep.filename;
    f.size = rep.size;
    f.av = rep.av;
    f.mismatch = rep.mismatch;
    f.name_trick = !rep.name_tricks.empty();
    f.archive = rep.archive;
    f.encrypted = rep.encrypted;
    f.contains = rep.contains;
    f.cdr_engine = rep.cdr_engine;
    return f;
}

/// True type against declared type and extension, and misleading names: recorded on the report
/// for the rules, returned for the notice and the audit detail.
filters::detect::FileFacts check_file(PartReport& rep) {
    filters::detect::FileFacts f = filters::detect::file_facts(
        rep.filename, rep.declared_type, rep.detected_type, filters::detect::NamePolicy{});
    rep.mismatch = f.type_mismatch;
    rep.name_tricks = filters::detect::tricks_to_string(f.tricks);
    return f;
}

std::string_view av_status(filters::av::ScanStatus s) noexcept {
    switch (s) {
    case filters::av::ScanStatus::Clean:
        return "clean";
    case filters::av::ScanStatus::Infected:
        return "infected";
    case filters::av::ScanStatus::Incomplete:
        return "incomplete";
    }
    return "incomplete";
}

std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) {
        if (out.size() > 400) {
            out += ",...";
            break;
        }
        out += (out.empty() ? "" : ",") + n;
    }
    return out;
}

/// The rules' decision for leaf `i`, adjusted for where the part stands (process and explain
/// share it): an unused alternative is dropped unless a rule keeps or rejects it; only text is
/// converted to text (`not_text` says this applied); an inline resource of multipart/related is
/// removed and counted rather than rebuilt, having no place in a text body.
Decision decide_part(const Config& cfg, const Work& w, std::size_t i, const PartReport& rep,
                     const Envelope& envelope, std::string_view direction, bool& not_text) {
    Decision d = decide(cfg.rules, facts_of(rep, envelope, direction));
    if (w.alt_unused[i] &&
        (d.action == Action::Text || d.action == Action::Strip || d.action == Action::Cdr)) {
        return Decision{Action::Strip, alternative_rule_id};
    }
    if (d.action == Action::Text && rep.role == Role::Attachment &&
        rep.detected_type.rfind("text/", 0) != 0 && rep.detected_type != "application/json" &&
        rep.detected_type != "application/x-empty") {
        // Never decoded as text: anything else is removed.
        d.action = Action::Strip;
        not_text = true;
    }
    if (d.action == Action::Cdr && w.related_extra[i]) {
        d.action = Action::Strip;
    }
    return d;
}

} // namespace

std::string_view to_string(Disposition d) noexcept {
    switch (d) {
    case Disposition::Deliver:
        return "deliver";
    case Disposition::Reject:
        return "reject";
    case Disposition::Tempfail:
        return "tempfail";
    case Disposition::Quarantine:
        return "quarantine";
    case Disposition::Discard:
        return "discard";
    }
    return "tempfail";
}

Action action_for_error(const Config& config, const Error& error) noexcept {
    if (error.code == ErrorCode::LimitExceeded) {
        return error.what == "budget.time_exceeded" || error.what == "html.time_exceeded"
                   ? config.on_timeout
                   : config.on_limit;
    }
    if (error.code == ErrorCode::Malformed) {
        // Unreadable structure: treated as a limit (the same message fails again).
        return config.on_limit;
    }
    return config.on_error;
}

std::string make_audit_id(std::int64_t unix_ms) {
    const std::string iso = iso8601_utc(unix_ms); // 2026-11-21T23:54:14.123Z
    std::string compact;
    for (char c : iso.substr(0, 19)) {
        if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
            compact += c;
        }
    }
    // Seeded once per thread: std::random_device opens the kernel's source on every construction.
    thread_local std::mt19937 rng{std::random_device{}()};
    return fmt::format("MG-{}-{}-{:08x}", compact.substr(0, 8), compact.substr(8), rng());
}

filters::Result<std::string> record_config_load(AuditStore& audit, const Config& config,
                                                std::string_view trigger, std::string_view by) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) {
        host[0] = '\0';
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(config.source, ec);
    AuditMessage m;
    m.audit_id = "CF" + make_audit_id(now_ms).substr(2);
    m.time_unix_ms = now_ms;
    m.verdict = "config_loaded";
    m.action = "none";
    m.reason = "config.loaded";
    m.ruleset_version = config.ruleset_version;
    m.sha256_in = config.sha256;
    m.size_in = ec ? 0 : size;
    m.subject = config.source;
    AuditEvent e;
    e.filter = "config";
    e.action = "none";
    e.reason = "config.loaded";
    e.filename = config.source;
    e.sha256_before = config.sha256;
    e.size = m.size_in;
    std::string who(by);
    if (who.empty()) {
        // The person behind sudo, else the account the process runs as.
        const char* sudo = std::getenv("SUDO_USER");
        const passwd* pw = getpwuid(getuid());
        who = sudo != nullptr && *sudo != '\0' ? std::string(sudo)
              : pw != nullptr                  ? std::string(pw->pw_name)
                                               : "uid:" + std::to_string(getuid());
    }
    e.detail =
        fmt::format("{} {} pid={} {} rules={} ruleset={} backend={}",
                    audit_text::detail_pair("trigger", trigger), audit_text::detail_pair("by", who),
                    getpid(), audit_text::detail_pair("host", host.data()), config.rules.size(),
                    config.ruleset_version, config.audit_backend);
    m.events.push_back(std::move(e));
    if (auto r = audit.record(m); !r) {
        return tl::unexpected(r.error());
    }
    return m.audit_id;
}

Gateway::Gateway(std::shared_ptr<const Config> config, Options options,
                 std::unique_ptr<AuditStore> audit, std::unique_ptr<QuarantineStore> quarantine)
    : config_(std::move(config)), options_(std::move(options)), audit_(std::move(audit)),
      quarantine_(std::move(quarantine)) {
    if (!options_.now_ms) {
        options_.now_ms = system_now_ms;
    }
    if (!options_.new_audit_id) {
        options_.new_audit_id = make_audit_id;
    }
}

Gateway::~Gateway() {
    {
        const std::lock_guard lock(watch_mutex_);
        watch_stop_ = true;
    }
    watch_cv_.notify_all();
    if (av_watch_.joinable()) {
        av_watch_.join();
    }
}

filters::Result<std::unique_ptr<AuditStore>> open_audit_store(const Config& config) {
    if (config.audit_backend == "postgresql") {
        return AuditStore::open_postgresql(config.audit_connection);
    }
    const std::filesystem::path db(config.audit_db());
    if (db.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(db.parent_path(), ec);
    }
    return AuditStore::open_sqlite(config.audit_db());
}

filters::Result<std::unique_ptr<Gateway>> Gateway::open(std::shared_ptr<const Config> config,
                                                        Options options) {
    std::error_code ec;
    std::filesystem::create_directories(config->state_dir, ec);
    if (ec) {
        return fail(ErrorCode::Transient, "gateway.state_dir_unusable",
                    config->state_dir + ": " + ec.message());
    }
    auto audit = open_audit_store(*config);
    if (!audit) {
        return tl::unexpected(audit.error());
    }
    auto quarantine = std::make_unique<QuarantineStore>(config->quarantine_dir());
    const bool av = config->av_enabled;
    std::unique_ptr<Gateway> gw(new Gateway(std::move(config), std::move(options),
                                            std::move(*audit), std::move(quarantine)));
    if (av) {
        // The gateway does not run without its scanner: a missing database is an error here.
        if (auto loaded = gw->refresh_antivirus(true); !loaded) {
            return tl::unexpected(loaded.error());
        }
    }
    // Always watching: a reload may turn the antivirus on later, and freshclam's updates must be
    // picked up then too. With the antivirus off each check returns at once.
    gw->av_watch_ = std::thread([g = gw.get()] { g->watch_antivirus(); });
    return gw;
}

std::shared_ptr<const Config> Gateway::config() const {
    return config_.load();
}

namespace {

filters::av::ScanLimits scan_limits(const Config& c) {
    filters::av::ScanLimits l;
    l.max_scan_size = c.av_max_scan_size;
    l.max_file_size = c.av_max_file_size;
    l.max_recursion = c.av_max_recursion;
    l.max_files = c.av_max_files;
    l.max_scan_time = c.av_max_scan_time;
    return l;
}

filters::av::ClamdOptions clamd_options(const Config& c) {
    filters::av::ClamdOptions o;
    o.socket_path = c.av_clamd_socket;
    o.timeout = c.av_clamd_timeout;
    o.max_scan_size = c.av_max_scan_size;
    return o;
}

/// What the clamd scanner was built from; never equal to a database fingerprint.
std::string clamd_fingerprint(const Config& c) {
    return fmt::format("clamd\t{}\t{}\t{}", c.av_clamd_socket, c.av_clamd_timeout.count(),
                       c.av_max_scan_size);
}

bool same_antivirus(const Config& a, const Config& b) {
    return a.av_enabled == b.av_enabled && a.av_mode == b.av_mode &&
           a.av_clamd_socket == b.av_clamd_socket && a.av_clamd_timeout == b.av_clamd_timeout &&
           a.av_database == b.av_database && a.av_max_scan_size == b.av_max_scan_size &&
           a.av_max_file_size == b.av_max_file_size && a.av_max_recursion == b.av_max_recursion &&
           a.av_max_files == b.av_max_files && a.av_max_scan_time == b.av_max_scan_time;
}

} // namespace

filters::Result<void> Gateway::replace_config(std::shared_ptr<const Config> config) {
    const std::shared_ptr<const Config> old = config_.load();
    const bool rebuild = !same_antivirus(*old, *config);
    config_.store(std::move(config));
    if (rebuild) {
        return refresh_antivirus(true);
    }
    return {};
}

filters::Result<void> Gateway::refresh_antivirus(bool force) {
    const std::shared_ptr<const Config> cfg = config_.load();
    const std::lock_guard lock(av_mutex_);
    if (!cfg->av_enabled) {
        av_.store(nullptr);
        av_fingerprint_.clear();
        return {};
    }
    if (cfg->av_mode == AvMode::Clamd) {
        // clamd reloads its own database: the scanner changes only with its settings. A failed
        // connect keeps the old fingerprint, so the watcher tries again at its next check.
        const std::string fingerprint = clamd_fingerprint(*cfg);
        if (!force && fingerprint == av_fingerprint_ && av_.load()) {
            return {};
        }
        const auto t0 = Clock::now();
        auto scanner = filters::av::ClamdScanner::connect(clamd_options(*cfg));
        if (!scanner) {
            log::error("-: av: clamd_unavailable: socket={} error={} {}", cfg->av_clamd_socket,
                       scanner.error().what, scanner.error().detail);
            return tl::unexpected(scanner.error());
        }
        log::info("-: av: clamd_ready: socket={} version=\"{}\" ms={}", cfg->av_clamd_socket,
                  (*scanner)->version(), micros_since(t0) / 1000);
        av_.store(std::move(*scanner));
        av_fingerprint_ = fingerprint;
        return {};
    }
    const std::string fingerprint = filters::av::database_fingerprint(cfg->av_database);
    if (!force && fingerprint == av_fingerprint_ && av_.load()) {
        return {};
    }
    const auto t0 = Clock::now();
    auto engine = filters::av::AvEngine::load(cfg->av_database, scan_limits(*cfg));
    if (!engine) {
        log::error("-: av: load_failed: database={} error={} {}", cfg->av_database,
                   engine.error().what, engine.error().detail);
        return tl::unexpected(engine.error());
    }
    log::info("-: av: engine_loaded: database={} signatures={} ms={}", cfg->av_database,
              (*engine)->signature_count(), micros_since(t0) / 1000);
    av_.store(std::move(*engine));
    av_fingerprint_ = fingerprint;
    return {};
}

void Gateway::watch_antivirus() {
    for (;;) {
        const auto interval = config_.load()->av_check_interval;
        {
            std::unique_lock lock(watch_mutex_);
            if (watch_cv_.wait_for(lock, interval, [this] { return watch_stop_; })) {
                return;
            }
        }
        (void)refresh_antivirus(false); // a failure is logged; the running engine stays
    }
}

Outcome Gateway::process(const Envelope& envelope, const MessageSource& source) noexcept {
    return process_guarded(envelope, source, nullptr);
}

Outcome Gateway::process_file(const Envelope& envelope, const FileSource& file) noexcept {
    return process_guarded(envelope, MessageSource{file.bytes, -1}, &file);
}

Outcome Gateway::process_guarded(const Envelope& envelope, const MessageSource& source,
                                 const FileSource* file) noexcept {
    try {
        return process_checked(envelope, source, file);
    } catch (const std::exception& e) {
        log::error("{}: gateway: internal_error: error=\"{}\"",
                   envelope.queue_id.empty() ? std::string("-") : envelope.queue_id, e.what());
        Outcome o;
        o.disposition = Disposition::Tempfail;
        o.reason = "gateway.internal_error";
        o.smtp_reply = "4.3.0 temporary failure in the sanitization gateway";
        // Best effort: the failure itself is audited when the store still works.
        try {
            AuditMessage m;
            m.audit_id = options_.new_audit_id(options_.now_ms());
            m.time_unix_ms = options_.now_ms();
            m.mail_from = envelope.mail_from;
            m.rcpt_to = envelope.rcpt_to;
            m.size_in = source.bytes.size();
            m.verdict = "tempfail";
            m.action = "tempfail";
            m.reason = o.reason;
            AuditEvent ev;
            ev.filter = "gateway";
            ev.action = "tempfail";
            ev.reason = o.reason;
            ev.detail = std::string("exception=") + e.what();
            m.events.push_back(ev);
            o.audit_id = m.audit_id;
            o.audited = audit_->record(m).has_value();
        } catch (...) {
        }
        return o;
    } catch (...) {
        Outcome o;
        o.disposition = Disposition::Tempfail;
        o.reason = "gateway.internal_error";
        o.smtp_reply = "4.3.0 temporary failure in the sanitization gateway";
        return o;
    }
}

Outcome Gateway::process_checked(const Envelope& envelope, const MessageSource& source,
                                 const FileSource* file) {
    const auto t0 = Clock::now();
    const std::shared_ptr<const Config> cfg_ptr = config_.load();
    const Config& cfg = *cfg_ptr;
    const std::int64_t now = options_.now_ms();
    filters::Budget budget(cfg.time_budget, cfg.max_output_size);

    Outcome out;
    out.audit_id = options_.new_audit_id(now);
    AuditMessage audit;
    audit.audit_id = out.audit_id;
    audit.time_unix_ms = now;
    audit.direction = envelope.direction.empty() ? cfg.default_direction : envelope.direction;
    audit.client_addr = envelope.client_addr;
    audit.helo = envelope.helo;
    audit.queue_id = envelope.queue_id;
    audit.mail_from = envelope.mail_from;
    audit.rcpt_to = envelope.rcpt_to;
    audit.size_in = source.bytes.size();
    audit.ruleset_version = cfg.ruleset_version;
    if (file == nullptr) {
        audit.message_id =
            trim_copy(filters::text::decode_header_text(scan_header(source.bytes, "Message-ID")));
        audit.subject =
            trim_copy(filters::text::decode_header_text(scan_header(source.bytes, "Subject")));
        audit.from_header =
            trim_copy(filters::text::decode_header_text(scan_header(source.bytes, "From")));
    } else {
        audit.subject = "(file) " + file->name; // what `audit query` shows for a file
    }

    auto event = [&](std::string filter, std::string action, std::string reason,
                     std::string detail = {}) {
        AuditEvent ev;
        ev.filter = std::move(filter);
        ev.action = std::move(action);
        ev.reason = std::move(reason);
        ev.detail = std::move(detail);
        audit.events.push_back(std::move(ev));
    };

    // Finishes the outcome: records the audit row; an audit failure turns delivery into tempfail.
    auto finish = [&](Disposition d, std::string reason, std::string rule = {}) -> Outcome {
        out.disposition = d;
        out.reason = std::move(reason);
        out.rule = std::move(rule);
        audit.verdict = d == Disposition::Deliver
                            ? (out.reason == "passed" ? "passed" : "sanitized")
                        : d == Disposition::Reject     ? "rejected"
                        : d == Disposition::Quarantine ? "quarantined"
                        : d == Disposition::Discard    ? "discarded"
                                                       : "tempfail";
        audit.action = std::string(to_string(d));
        audit.reason = out.reason;
        audit.sha256_in = out.sha256_in;
        audit.sha256_out = out.sha256_out;
        audit.size_out = out.output.size();
        audit.quarantine_id = out.quarantine_id;
        audit.duration_us = micros_since(t0);
        auto rec = audit_->record(audit);
        out.audited = rec.has_value();
        if (!rec) {
            // No record, no delivery: an auditor must be able to account for every mail.
            out.disposition =
                cfg.on_error == Action::Reject ? Disposition::Reject : Disposition::Tempfail;
            out.reason = std::string(rec.error().what);
            out.output.clear();
        }
        const std::string qid = envelope.queue_id.empty() ? std::string("-") : envelope.queue_id;
        if (!rec) {
            log::error("{}: audit: write_failed: audit={} {}", qid, out.audit_id,
                       rec.error().detail);
        }
        const log::Level level = out.disposition == Disposition::Deliver    ? log::Level::Info
                                 : out.disposition == Disposition::Tempfail ? log::Level::Error
                                                                            : log::Level::Warning;
        log::line(level,
                  "{}: gateway: {}: audit={} reason={} rule={} from=<{}> size={} parts={} "
                  "duration_ms={}",
                  qid, rec ? audit.verdict : std::string(to_string(out.disposition)), out.audit_id,
                  out.reason, out.rule.empty() ? "-" : out.rule, envelope.mail_from,
                  source.bytes.size(), out.parts.size(), audit.duration_us / 1000);
        if (out.disposition == Disposition::Reject) {
            out.smtp_reply = "5.7.1 message refused by the sanitization policy (" + out.reason +
                             "; audit " + out.audit_id + ")";
        } else if (out.disposition == Disposition::Tempfail) {
            out.smtp_reply = "4.7.1 message cannot be sanitized now (" + out.reason + "; audit " +
                             out.audit_id + ")";
        }
        return out;
    };
    auto finish_error = [&](const Error& err, std::string filter) -> Outcome {
        const Action a = action_for_error(cfg, err);
        event(std::move(filter), std::string(to_string(a)), std::string(err.what), err.detail);
        out.output.clear();
        return finish(a == Action::Reject ? Disposition::Reject : Disposition::Tempfail,
                      std::string(err.what));
    };

    // 1. keep the original before any answer.
    out.sha256_in = sha256_hex(source.bytes);
    {
        const auto tq = Clock::now();
        auto kept = quarantine_->keep(source.bytes, out.sha256_in);
        if (!kept) {
            return finish_error(kept.error(), "quarantine");
        }
        out.quarantine_id = *kept;
        audit.events.push_back(step_event("quarantine", "keep", "quarantine.kept",
                                          source.bytes.size(), out.sha256_in, {},
                                          micros_since(tq)));
    }

    // 2. parse under limits.
    if (source.bytes.size() > cfg.max_message_size) {
        return finish_error(Error{ErrorCode::LimitExceeded, "mime.message_too_large",
                                  "size=" + std::to_string(source.bytes.size())},
                            "limits");
    }
    // 2b. the whole original through ClamAV: libclamav reads the MIME structure itself, so a
    // message another parser reads differently is still looked at as a whole.
    const std::shared_ptr<const filters::av::Scanner> av =
        cfg.av_enabled ? av_.load() : std::shared_ptr<const filters::av::Scanner>();
    if (cfg.av_enabled && !av) {
        return finish_error(
            Error{ErrorCode::Transient, "av.unavailable",
                  cfg.av_mode == AvMode::Clamd ? cfg.av_clamd_socket : cfg.av_database},
            "av");
    }
    bool message_infected = false;
    std::string message_signatures;
    if (av && file == nullptr) { // a file is scanned once, as its part below
        const auto ta = Clock::now();
        auto scanned = av->scan(filters::as_bytes(source.bytes), "message");
        if (!scanned) {
            return finish_error(scanned.error(), "av");
        }
        message_infected = scanned->status == filters::av::ScanStatus::Infected;
        message_signatures = join_names(scanned->signatures);
        audit.events.push_back(
            step_event("av", "none", "av.message_" + std::string(av_status(scanned->status)),
                       source.bytes.size(), out.sha256_in, {}, micros_since(ta),
                       join_detail({{"signatures", message_signatures},
                                    {"reason", scanned->reason},
                                    {"av_mode", av->mode() == "clamd" ? "clamd" : ""}})));
    }

    if (file != nullptr && source.bytes.size() > cfg.max_part_size) {
        return finish_error(Error{ErrorCode::LimitExceeded, "mime.part_too_large",
                                  "size=" + std::to_string(source.bytes.size())},
                            "limits");
    }
    // A file has no MIME: an empty tree stands in, and its one leaf is the file.
    auto tree_r = file != nullptr
                      ? MimeTree::parse("Content-Type: text/plain\r\n\r\n", -1, cfg.mime)
                      : MimeTree::parse(source.bytes, source.fd, cfg.mime);
    if (!tree_r) {
        return finish_error(tree_r.error(), "mime");
    }
    const MimeTree& tree = *tree_r;
    bool critical = false;
    for (std::size_t k = 0; file == nullptr && k < tree.issues().size(); ++k) {
        const ParseIssue& issue = tree.issues()[k];
        critical = critical || issue.critical;
        if (k > 0 && tree.issues()[k - 1].code == issue.code &&
            tree.issues()[k - 1].offset == issue.offset) {
            continue; // GMime reports some problems once per pass over the same bytes
        }
        event("mime", "none", std::string(issue.code), "offset=" + std::to_string(issue.offset));
    }
    if (critical && cfg.on_unsafe_mime != Action::Text) {
        event("mime", std::string(to_string(cfg.on_unsafe_mime)), "mime.unsafe");
        return finish(cfg.on_unsafe_mime == Action::Reject ? Disposition::Reject
                                                           : Disposition::Tempfail,
                      "mime.unsafe");
    }

    // 3-6. walk, classify, decide.
    const auto& nodes = tree.nodes();
    const std::size_t leaves = file != nullptr ? 1 : nodes.size();
    Work w{cfg,
           tree,
           std::vector<Role>(std::max(leaves, nodes.size()), Role::Attachment),
           std::vector<bool>(std::max(leaves, nodes.size()), false),
           std::vector<bool>(std::max(leaves, nodes.size()), false),
           std::vector<int>(std::max(leaves, nodes.size()), -1)};
    if (file == nullptr) {
        assign_roles(w);
    }
    MimeNode file_node; // the leaf a file stands for
    if (file != nullptr) {
        file_node.kind = NodeKind::Leaf;
        file_node.path = "1";
        file_node.filename = file->name;
        file_node.content_type = "application/octet-stream";
        w.roles[0] = Role::Attachment;
    }

    std::vector<std::optional<BodyText>> bodies(std::max(leaves, nodes.size()));
    std::vector<DecodedContent> kept_contents;
    std::deque<std::string> cdr_outputs; // rebuilt files; KeptPart views into them stay valid
    std::vector<KeptPart> kept;
    std::vector<RemovedItem> removed;
    bool all_keep = true;
    std::string reject_rule_id;
    std::string hold_rule_id;    // first part whose rule says quarantine
    std::string discard_rule_id; // first part whose rule says discard
    filters::text::HtmlPolicy html_policy;
    html_policy.defang_links = cfg.defang_links;
    html_policy.max_depth = cfg.html_max_depth;
    html_policy.max_output = cfg.max_output_size;
    const filters::text::HtmlToText html(html_policy);
    NoticeFacts facts;

    for (std::size_t i = 0; i < leaves; ++i) {
        const MimeNode& n = file != nullptr ? file_node : nodes[i];
        if (n.kind != NodeKind::Leaf) {
            continue;
        }
        if (auto t = budget.check_time(); !t) {
            return finish_error(t.error(), "limits");
        }
        const auto tp = Clock::now();
        auto content =
            file != nullptr
                ? filters::Result<DecodedContent>(DecodedContent{{}, source.bytes, false})
                : tree.decode(n, cfg.max_part_size);
        if (!content) {
            return finish_error(content.error(), "mime");
        }
        PartReport rep;
        rep.path = n.path;
        rep.filename = n.filename;
        rep.declared_type = n.content_type;
        rep.size = content->bytes.size();
        rep.sha256 = sha256_hex(content->bytes);
        rep.role = w.roles[i];
        // An unused alternative is dropped whatever it holds: like a body, it is only looked at
        // by libmagic when it is not text.
        auto detected =
            detect_type(content->bytes, w.alt_unused[i] ? Role::Body : rep.role, rep.declared_type);
        rep.detected_type = detected ? *detected : std::string("unknown");
        if (!detected) {
            // Rules on detected_type cannot match "unknown": the fallback strips such parts.
            event("detect", "none", std::string(detected.error().what),
                  "part=" + n.path + " " + detected.error().detail);
        }

        AuditEvent ev;
        ev.part_path = rep.path;
        ev.filename = rep.filename;
        ev.declared_type = rep.declared_type;
        ev.detected_type = rep.detected_type;
        ev.size = rep.size;
        ev.sha256_before = rep.sha256;

        std::vector<std::pair<std::string, std::string>> detail;
        if (content->bad_encoding) {
            detail.emplace_back("bad_encoding", "1");
        }
        if (av) {
            auto scanned = av->scan(filters::as_bytes(content->bytes), rep.filename);
            if (!scanned) {
                return finish_error(scanned.error(), "av");
            }
            rep.av = std::string(av_status(scanned->status));
            rep.signatures = join_names(scanned->signatures);
            detail.emplace_back("av", rep.av);
            detail.emplace_back("signatures", rep.signatures);
            detail.emplace_back("av_reason", scanned->reason);
        }
        // True type against declared type and extension; misleading names.
        const filters::detect::FileFacts facts_of_file = check_file(rep);
        const std::string shown_name = facts_of_file.name_shown;
        if (!rep.filename.empty() && shown_name != rep.filename) {
            detail.emplace_back("name_shown", "\"" + shown_name + "\"");
        }
        detail.emplace_back("name_tricks", rep.name_tricks);
        if (facts_of_file.type_mismatch) {
            detail.emplace_back("mismatch", facts_of_file.mismatch_detail);
        }
        auto archive = w.alt_unused[i] ? filters::Result<filters::archive::ArchiveReport>()
                                       : list_archive(cfg, content->bytes, rep);
        if (!archive) {
            return finish_error(archive.error(), "archive");
        }
        if (rep.archive != "none") {
            detail.emplace_back("archive", rep.archive_format);
            detail.emplace_back("archive_status", rep.archive);
            detail.emplace_back("archive_reason", rep.archive_reason);
            detail.emplace_back("members", std::to_string(rep.archive_members));
            detail.emplace_back("expanded", std::to_string(rep.archive_expanded));
            detail.emplace_back("encrypted", rep.encrypted ? "1" : "0");
            detail.emplace_back("contains", content_names(rep.contains));
        }

        rep.cdr_engine = cdr_engine_of(rep);
        bool not_text = false;
        Decision decision = decide_part(cfg, w, i, rep, envelope, audit.direction, not_text);
        if (not_text) {
            detail.emplace_back("not_text", "1");
        }
        std::optional<filters::Result<filters::cdr::Output>> rebuilt;
        if (decision.action == Action::Cdr) {
            rebuilt = rebuild_part(cfg, budget, rep, content->bytes);
            if (!*rebuilt) {
                const Error& err = rebuilt->error();
                detail.emplace_back("cdr_engine", rep.cdr_engine);
                detail.emplace_back("cdr_error", std::string(err.what));
                detail.emplace_back("cdr_detail", "\"" + err.detail.substr(0, 200) + "\"");
                if (err.what == "budget.time_exceeded") {
                    return finish_error(err, "cdr");
                }
                if (err.code == ErrorCode::Transient || err.what == "cdr.helper_unavailable" ||
                    cfg.cdr_on_failure == Action::Tempfail) {
                    log::error("{}: cdr: failed: engine={} error={} {}",
                               envelope.queue_id.empty() ? std::string("-") : envelope.queue_id,
                               rep.cdr_engine, err.what, err.detail);
                    return finish_error(Error{ErrorCode::Transient, err.what,
                                              "part=" + rep.path + " " + err.detail},
                                        "cdr");
                }
                decision.action = cfg.cdr_on_failure; // Strip or Reject: never the original
            }
        }
        const bool cdr_failed = rebuilt && !*rebuilt;
        rep.action = decision.action;
        rep.rule = std::string(decision.rule);
        if (decision.action != Action::Keep) {
            all_keep = false;
        }

        switch (decision.action) {
        case Action::Reject:
            rep.reason = rep.av == "infected" ? "av.infected"
                         : cdr_failed         ? std::string(rebuilt->error().what)
                                              : "rule.reject";
            if (reject_rule_id.empty()) {
                reject_rule_id = rep.rule;
            }
            ev.filter = "rules";
            break;
        case Action::Quarantine:
        case Action::Discard: {
            const bool hold = decision.action == Action::Quarantine;
            rep.reason = rep.av == "infected" ? "av.infected"
                         : hold               ? "rule.quarantine"
                                              : "rule.discard";
            std::string& first = hold ? hold_rule_id : discard_rule_id;
            if (first.empty()) {
                first = rep.rule;
            }
            ev.filter = "rules";
            break;
        }
        case Action::Cdr: {
            filters::cdr::Output& o = **rebuilt;
            rep.reason = "cdr.rebuilt";
            rep.cdr_filename = o.filename;
            ev.filter = "cdr." + rep.cdr_engine;
            ev.sha256_after = sha256_hex(o.bytes);
            detail.emplace_back("engine", rep.cdr_engine);
            detail.emplace_back("out_name", o.filename != rep.filename ? o.filename : "");
            detail.emplace_back("out_type", o.content_type);
            detail.emplace_back("out_size", std::to_string(o.bytes.size()));
            detail.emplace_back("removed", std::to_string(o.removed.size()));
            detail.emplace_back("objects", removed_list(o.removed));
            detail.emplace_back("urls", removed_urls(o.removed));
            cdr_outputs.push_back(std::move(o.bytes));
            kept.push_back(
                KeptPart{o.content_type, o.filename, cdr_outputs.back(), rep.cdr_engine});
            RebuiltItem item;
            item.filename = facts_of_file.name_shown;
            if (o.filename != rep.filename) {
                item.new_filename =
                    filters::detect::file_facts(o.filename, {}, {}, filters::detect::NamePolicy{})
                        .name_shown;
            }
            item.engine = rep.cdr_engine;
            item.size = cdr_outputs.back().size();
            item.removed = std::move(o.removed);
            facts.rebuilt.push_back(std::move(item));
            break;
        }
        case Action::Keep:
            rep.reason = "part.kept";
            ev.filter = "rules";
            kept.push_back(KeptPart{rep.declared_type, rep.filename, content->bytes, {}});
            kept_contents.push_back(std::move(*content));
            facts.kept.push_back(
                RemovedItem{rep.path, rep.filename, rep.detected_type, rep.size, rep.sha256, {}});
            break;
        case Action::Strip:
            ev.filter = w.alt_unused[i] ? "alternative" : "attachment";
            if (w.alt_unused[i]) {
                rep.reason = "alternative.not_chosen";
            } else if (w.related_extra[i]) {
                rep.reason = "related.inline_removed";
                ++facts.inline_removed;
            } else {
                rep.reason = cdr_failed                        ? std::string(rebuilt->error().what)
                             : rep.av == "infected"            ? "av.infected"
                             : rep.encrypted                   ? "archive.encrypted"
                             : rep.archive == "limit_exceeded" ? rep.archive_reason
                             : rep.archive == "corrupt"        ? "archive.corrupt"
                             : rep.av == "incomplete"          ? "av.incomplete"
                                                               : "attachment.stripped";
                RemovedItem item{rep.path, shown_name, rep.detected_type, rep.size, rep.sha256, {}};
                // Every reason the reader should know, one per line.
                std::vector<std::string> notes;
                if (rep.av == "infected") {
                    notes.push_back("ウイルス検出 / virus found: " + rep.signatures);
                }
                if (cdr_failed) {
                    notes.push_back("無害化（再構成）できないため削除 / could not be rebuilt: " +
                                    std::string(rebuilt->error().what));
                }
                if (rep.encrypted) {
                    notes.push_back("パスワード付き圧縮ファイル / password-protected archive: " +
                                    cfg.archive_encrypted_notice);
                } else if (rep.archive == "limit_exceeded") {
                    notes.push_back("圧縮爆弾の疑い / suspected archive bomb: " +
                                    std::string(archive_limit_text(rep.archive_reason)));
                } else if (rep.archive == "corrupt") {
                    notes.push_back("壊れた圧縮ファイル / damaged archive");
                } else if (rep.av == "incomplete") {
                    notes.push_back("完全には検査できない内容 / could not be scanned completely");
                }
                if ((rep.contains & active_content_bits()) != 0) {
                    notes.push_back("危険な内容を含む圧縮ファイル / the archive holds: " +
                                    active_content_text(rep.contains));
                }
                if (!archive->members.empty()) {
                    // The top level only: what the reader would have seen on opening it.
                    std::string names;
                    std::size_t shown = 0;
                    std::size_t top = 0;
                    for (const auto& m : archive->members) {
                        top += m.depth == 1 ? 1 : 0;
                    }
                    for (const auto& m : archive->members) {
                        if (m.depth != 1) {
                            continue;
                        }
                        if (shown == 5) {
                            names += fmt::format(" (+{})", top - shown);
                            break;
                        }
                        names += (shown++ == 0 ? "" : ", ") +
                                 filters::detect::file_facts(m.path, {}, m.type,
                                                             filters::detect::NamePolicy{})
                                     .name_shown;
                    }
                    notes.push_back("内容 / contents: " + names);
                }
                if (facts_of_file.type_mismatch) {
                    notes.push_back("種類の偽装の疑い / disguised type: " +
                                    facts_of_file.mismatch_detail);
                }
                if (facts_of_file.tricks != 0) {
                    notes.push_back("ファイル名の偽装の疑い / misleading name: " +
                                    filters::detect::tricks_to_string(facts_of_file.tricks));
                }
                for (const std::string& note : notes) {
                    item.note += (item.note.empty() ? "" : "\n    ") + note;
                }
                removed.push_back(std::move(item));
            }
            break;
        case Action::Text:
        case Action::Tempfail: {
            const bool is_html = rep.declared_type == "text/html";
            std::string declared = n.charset;
            if (declared.empty() && is_html) {
                declared = sniff_html_charset(content->bytes);
            }
            auto decoded =
                filters::text::decode_to_utf8(content->bytes, declared, cfg.max_output_size);
            if (!decoded) {
                return finish_error(decoded.error(), "text");
            }
            rep.charset = decoded->charset;
            detail.emplace_back("charset", decoded->charset);
            if (!declared.empty() && decoded->label_mismatch) {
                detail.emplace_back("label", declared);
            }
            detail.emplace_back("label_mismatch", decoded->label_mismatch ? "1" : "0");
            detail.emplace_back("replaced", std::to_string(decoded->replaced));
            BodyText body;
            if (is_html) {
                auto r = html.run(decoded->utf8, budget);
                if (!r) {
                    return finish_error(r.error(), "text.html");
                }
                body.html = true;
                body.counts = r->counts;
                body.text = std::move(r->text);
                const auto& c = r->counts;
                detail.emplace_back("links", std::to_string(c.links));
                detail.emplace_back("scripts", std::to_string(c.scripts));
                detail.emplace_back("styles", std::to_string(c.styles));
                detail.emplace_back("forms", std::to_string(c.forms));
                detail.emplace_back("iframes", std::to_string(c.iframes));
                detail.emplace_back("objects", std::to_string(c.objects));
                detail.emplace_back("images", std::to_string(c.images));
                detail.emplace_back("remote_images", std::to_string(c.remote_images));
                detail.emplace_back("hidden", std::to_string(c.hidden));
                detail.emplace_back("comments", std::to_string(c.comments));
                detail.emplace_back("event_handlers", std::to_string(c.event_handlers));
                detail.emplace_back("meta_refresh", std::to_string(c.meta_refresh));
                detail.emplace_back("dangerous_links", std::to_string(c.dangerous_links));
                detail.emplace_back("mismatched_links", std::to_string(c.mismatched_links));
                detail.emplace_back("form_controls", std::to_string(c.form_controls));
                detail.emplace_back("long_urls", std::to_string(c.long_urls));
                detail.emplace_back("attributes_dropped", std::to_string(c.attributes_dropped));
                if (r->depth_exceeded) {
                    detail.emplace_back("depth_exceeded", std::to_string(c.max_depth_seen));
                }
                std::string urls;
                std::size_t shown = 0;
                for (const std::string& u : r->urls) {
                    if (shown++ == 50) {
                        break;
                    }
                    urls += (urls.empty() ? "" : ",") + u.substr(0, 200);
                }
                detail.emplace_back("urls", urls);
                rep.reason = "text.html_converted";
                ev.filter = "text.html";
                facts.html_converted = true;
                facts.html_counts.links += c.links;
                facts.html_counts.scripts += c.scripts;
                facts.html_counts.forms += c.forms;
                facts.html_counts.remote_images += c.remote_images;
                facts.html_counts.images += c.images;
                facts.html_counts.iframes += c.iframes;
                facts.html_counts.objects += c.objects;
                facts.html_counts.hidden += c.hidden;
                facts.html_counts.mismatched_links += c.mismatched_links;
            } else {
                auto cleaned = filters::text::clean_text(decoded->utf8);
                detail.emplace_back("controls_removed", std::to_string(cleaned.removed));
                body.text = std::move(cleaned.text);
                rep.reason = "text.plain_converted";
                ev.filter = "text.plain";
            }
            if (decoded->label_mismatch && !declared.empty()) {
                facts.charset_fixed = true;
            }
            ev.sha256_after = sha256_hex(body.text);
            if (rep.role == Role::Body) {
                bodies[i] = std::move(body);
            } else {
                // A text attachment converted: shown inline after the body, under its name.
                BodyText shown;
                shown.text = "----- " + (rep.filename.empty() ? rep.path : rep.filename) +
                             " -----\n" + body.text;
                bodies[i] = std::move(shown);
            }
            break;
        }
        }
        ev.action = std::string(to_string(rep.action));
        ev.rule = rep.rule;
        ev.reason = rep.reason;
        ev.detail = join_detail(detail);
        rep.detail = ev.detail;
        ev.duration_us = micros_since(tp);
        audit.events.push_back(std::move(ev));
        // The listing, one event per member (bounded): what the archive held, for the auditor.
        std::size_t member_events = 0;
        for (const auto& m : archive->members) {
            if (member_events++ == max_member_events) {
                event("archive", "none", "archive.members_not_listed",
                      "part=" + rep.path +
                          " count=" + std::to_string(archive->members.size() - max_member_events));
                break;
            }
            AuditEvent me;
            me.part_path = rep.path;
            me.filename = m.outer.empty() ? m.path : m.outer + "/" + m.path;
            me.detected_type = m.type;
            me.size = m.size;
            me.filter = "archive";
            me.action = "none";
            me.reason = "archive.member";
            me.detail = join_detail({{"depth", std::to_string(m.depth)},
                                     {"encrypted", m.encrypted ? "1" : "0"},
                                     {"archive", m.is_archive ? "1" : "0"}});
            audit.events.push_back(std::move(me));
        }
        out.parts.push_back(std::move(rep));
    }

    if (!reject_rule_id.empty()) {
        const bool virus =
            std::any_of(out.parts.begin(), out.parts.end(), [&](const PartReport& p) {
                return p.rule == reject_rule_id && p.action == Action::Reject && p.av == "infected";
            });
        return finish(Disposition::Reject, virus ? "av.infected" : "rule.reject", reject_rule_id);
    }
    const bool part_infected = std::any_of(out.parts.begin(), out.parts.end(),
                                           [](const PartReport& p) { return p.av == "infected"; });
    if (message_infected && !part_infected) {
        // ClamAV found something in the message that no single part shows (it reads MIME its own
        // way): there is no part to remove, so nothing of it is delivered.
        event("av", "reject", "av.infected_message", "signatures=" + message_signatures);
        return finish(Disposition::Reject, "av.infected_message", "builtin-av-message");
    }
    if (!hold_rule_id.empty() || !discard_rule_id.empty()) {
        // The whole message is held (or dropped): nothing is delivered, the original is kept.
        const bool hold = !hold_rule_id.empty();
        const std::string& rule = hold ? hold_rule_id : discard_rule_id;
        const bool virus =
            std::any_of(out.parts.begin(), out.parts.end(),
                        [&](const PartReport& p) { return p.rule == rule && p.av == "infected"; });
        return finish(hold ? Disposition::Quarantine : Disposition::Discard,
                      virus  ? "av.infected"
                      : hold ? "rule.quarantine"
                             : "rule.discard",
                      rule);
    }

    if (file != nullptr) {
        // The file gateway: the one part is the output, or the file does not pass.
        const PartReport& p = out.parts.front();
        out.output_filename = file->name;
        switch (p.action) {
        case Action::Cdr:
            out.output = std::string(kept.front().bytes);
            out.output_filename = p.cdr_filename;
            break;
        case Action::Keep:
            out.output = std::string(source.bytes);
            break;
        case Action::Text: {
            // The converted text without the "----- name -----" line a mail body gets.
            const std::string& shown = bodies[0] ? bodies[0]->text : std::string();
            const auto eol = shown.find('\n');
            out.output = eol == std::string::npos ? std::string() : shown.substr(eol + 1);
            break;
        }
        default:
            return finish(Disposition::Reject, p.reason, p.rule);
        }
        out.sha256_out = sha256_hex(out.output);
        return finish(Disposition::Deliver, p.action == Action::Keep ? "passed" : "sanitized",
                      p.rule);
    }

    // 8. rebuild.
    const auto tr = Clock::now();
    if (all_keep && !out.parts.empty() && !critical) {
        out.output =
            passthrough_message(source.bytes, tree.headers(), out.audit_id, cfg.ruleset_version);
        out.sha256_out = sha256_hex(out.output);
        audit.events.push_back(step_event("rebuild", "keep", "rebuild.passthrough",
                                          out.output.size(), {}, out.sha256_out, micros_since(tr)));
        return finish(Disposition::Deliver, "passed");
    }

    std::string body_text;
    render(w, bodies, 0, body_text);
    facts.removed = std::move(removed);
    facts.audit_id = out.audit_id;
    std::string text;
    if (cfg.notice.enabled) {
        const std::string notice = render_notice(cfg, facts);
        text =
            cfg.notice.position == "bottom" ? body_text + "\n" + notice : notice + "\n" + body_text;
    } else {
        text = body_text;
    }
    RebuildInput rin;
    rin.headers = &tree.headers();
    rin.text = text;
    rin.kept = std::move(kept);
    rin.audit_id = out.audit_id;
    rin.ruleset_version = cfg.ruleset_version;
    auto rebuilt = rebuild_message(cfg, rin);
    if (!rebuilt) {
        return finish_error(rebuilt.error(), "rebuild");
    }
    out.output = std::move(rebuilt->bytes);
    out.sha256_out = sha256_hex(out.output);
    audit.events.push_back(step_event(
        "rebuild", "text", "rebuild.text", out.output.size(), {}, out.sha256_out, micros_since(tr),
        join_detail({{"charset", cfg.output_charset},
                     {"unencodable", std::to_string(rebuilt->unencodable)},
                     {"headers_reencoded", std::to_string(rebuilt->headers_reencoded)},
                     {"kept", std::to_string(rin.kept.size())},
                     {"removed", std::to_string(facts.removed.size())}})));
    return finish(Disposition::Deliver, "sanitized");
}

filters::Result<std::vector<PartReport>> Gateway::explain(const Envelope& envelope,
                                                          const MessageSource& source) const {
    const std::shared_ptr<const Config> cfg_ptr = config_.load();
    const Config& cfg = *cfg_ptr;
    if (source.bytes.size() > cfg.max_message_size) {
        return fail(ErrorCode::LimitExceeded, "mime.message_too_large",
                    "size=" + std::to_string(source.bytes.size()));
    }
    auto tree_r = MimeTree::parse(source.bytes, source.fd, cfg.mime);
    if (!tree_r) {
        return tl::unexpected(tree_r.error());
    }
    const MimeTree& tree = *tree_r;
    const auto& nodes = tree.nodes();
    Work w{cfg,
           tree,
           std::vector<Role>(nodes.size(), Role::Attachment),
           std::vector<bool>(nodes.size(), false),
           std::vector<bool>(nodes.size(), false),
           std::vector<int>(nodes.size(), -1)};
    assign_roles(w);
    const std::string direction =
        envelope.direction.empty() ? cfg.default_direction : envelope.direction;
    std::vector<PartReport> parts;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const MimeNode& n = nodes[i];
        if (n.kind != NodeKind::Leaf) {
            continue;
        }
        auto content = tree.decode(n, cfg.max_part_size);
        if (!content) {
            return tl::unexpected(content.error());
        }
        PartReport rep;
        rep.path = n.path;
        rep.filename = n.filename;
        rep.declared_type = n.content_type;
        rep.charset = n.charset;
        rep.size = content->bytes.size();
        rep.sha256 = sha256_hex(content->bytes);
        rep.role = w.roles[i];
        auto detected =
            detect_type(content->bytes, w.alt_unused[i] ? Role::Body : rep.role, rep.declared_type);
        rep.detected_type = detected ? *detected : std::string("unknown");
        // The type and name checks as in process(); explain does not scan (av stays
        // "unscanned"), so rules on `av` are shown as they would apply to an unscanned part.
        const filters::detect::FileFacts facts_of_file = check_file(rep);
        if (facts_of_file.type_mismatch) {
            rep.detail = "mismatch=" + facts_of_file.mismatch_detail;
        }
        if (!rep.name_tricks.empty()) {
            rep.detail +=
                (rep.detail.empty() ? "" : " ") + std::string("name_tricks=") + rep.name_tricks;
        }
        if (!w.alt_unused[i]) {
            auto archive = list_archive(cfg, content->bytes, rep);
            if (!archive) {
                return tl::unexpected(archive.error());
            }
        }
        rep.cdr_engine = cdr_engine_of(rep);
        bool not_text = false;
        const Decision d = decide_part(cfg, w, i, rep, envelope, direction, not_text);
        if (d.rule == alternative_rule_id) {
            rep.reason = "alternative.not_chosen";
        } else if (w.related_extra[i] && d.action == Action::Strip) {
            rep.reason = "related.inline_removed";
        }
        rep.action = d.action;
        rep.rule = std::string(d.rule);
        parts.push_back(std::move(rep));
    }
    return parts;
}

} // namespace mugaika::gateway
