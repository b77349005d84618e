#include "gateway/quarantine/release.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>
#include <gmime/gmime.h>

#include "filters/core/cptr.hpp"
#include "gateway/audit/audit_text.hpp"
#include "gateway/mime/gref.hpp"
#include "gateway/mime/mime_tree.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/quarantine/quarantine_views.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;

std::int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// An exclusive flock held for the lifetime of the object (released when the descriptor closes,
/// also when the process dies).
class FileLock {
public:
    explicit FileLock(const std::string& path)
        : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
        while (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    ~FileLock() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] bool held() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

/// An original is infected when any record of it says so: an event with av=infected, or a
/// message reason from ClamAV.
bool infected(const std::vector<AuditRow>& records) {
    for (const AuditRow& r : records) {
        if (r.msg.reason == "av.infected" || r.msg.reason == "av.infected_message") {
            return true;
        }
        for (const AuditEvent& e : r.msg.events) {
            if (detail_value(e.detail, "av") == "infected" || e.reason == "av.infected" ||
                e.reason == "av.infected_message") {
                return true;
            }
        }
    }
    return false;
}

/// The records of the mail itself (not release rows), newest first.
filters::Result<std::vector<AuditRow>> mail_records(const AuditStore& audit,
                                                    const std::string& id) {
    auto rows = quarantine_records(audit, id);
    if (!rows) {
        return rows;
    }
    std::erase_if(*rows, [](const AuditRow& r) { return is_release_verdict(r.msg.verdict); });
    if (rows->empty()) {
        return fail(ErrorCode::Malformed, "quarantine.not_found", "no kept original for " + id);
    }
    return rows;
}

std::string token(std::string_view s) {
    std::string out;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '@' ||
                        c == '+';
        out += ok ? c : '_';
    }
    return out.empty() ? "-" : out;
}

const MimeNode* leaf_at(const MimeTree& tree, std::string_view path) {
    for (const MimeNode& n : tree.nodes()) {
        if (n.kind == NodeKind::Leaf && n.path == path) {
            return &n;
        }
    }
    return nullptr;
}

ReleaseOutcome outcome(ReleaseResult result, std::string code, std::string detail,
                       std::string audit_id = {}) {
    ReleaseOutcome o;
    o.result = result;
    o.code = std::move(code);
    o.detail = std::move(detail);
    o.audit_id = std::move(audit_id);
    return o;
}

/// A pending request under the store's release lock, held for the whole decision so that two
/// admins cannot decide (and deliver) one request twice. `refused` is set when the request is
/// no longer pending.
struct Locked {
    std::unique_ptr<FileLock> lock;
    ReleaseRequest request;
    std::optional<ReleaseOutcome> refused;
};

filters::Result<Locked> lock_pending(const QuarantineStore& store, const ReleaseDesk& desk,
                                     const std::string& request_id) {
    std::error_code ec;
    std::filesystem::create_directories(store.dir(), ec);
    Locked l;
    l.lock = std::make_unique<FileLock>(store.dir() + "/.release.lock");
    if (!l.lock->held()) {
        return fail(ErrorCode::Transient, "release.lock_failed", store.dir());
    }
    auto rq = desk.find(request_id);
    if (!rq) {
        return tl::unexpected(rq.error());
    }
    l.request = std::move(*rq);
    if (l.request.state != ReleaseState::Pending) {
        l.refused =
            outcome(ReleaseResult::Refused, "release.not_pending",
                    "request " + l.request.id + " is " + std::string(to_string(l.request.state)));
    }
    return l;
}

} // namespace

std::string_view to_string(ReleaseState s) noexcept {
    switch (s) {
    case ReleaseState::Pending:
        return "pending";
    case ReleaseState::Released:
        return "released";
    case ReleaseState::Refused:
        return "refused";
    }
    return "pending";
}

bool is_release_verdict(std::string_view verdict) noexcept {
    return verdict == verdict_release_requested || verdict == verdict_released ||
           verdict == verdict_release_refused || verdict == verdict_release_failed ||
           verdict == verdict_release_denied;
}

std::string one_line(std::string_view text) {
    return audit_text::truncate_to_width(audit_text::terminal_safe(text), 300);
}

std::string make_request_id(std::int64_t unix_ms) {
    return "RQ" + make_audit_id(unix_ms).substr(2);
}

std::vector<ReleaseRequest> release_requests_from(const std::vector<AuditRow>& rows) {
    std::map<std::string, std::vector<const AuditRow*>> groups;
    for (const AuditRow& r : rows) {
        if (is_release_verdict(r.msg.verdict) && !r.msg.message_id.empty()) {
            groups[r.msg.message_id].push_back(&r);
        }
    }
    std::vector<ReleaseRequest> out;
    for (auto& [id, group] : groups) {
        std::sort(group.begin(), group.end(),
                  [](const AuditRow* a, const AuditRow* b) { return a->seq < b->seq; });
        const AuditMessage& first = group.front()->msg;
        if (first.verdict != verdict_release_requested || first.audit_id != id ||
            first.events.empty()) {
            continue; // not a request this build wrote: never acted upon
        }
        const AuditEvent& ev = first.events.front();
        ReleaseRequest rq;
        rq.id = id;
        rq.quarantine_id = first.quarantine_id;
        rq.original_audit_id = detail_value(ev.detail, "original");
        rq.part = ev.part_path;
        rq.filename = ev.filename;
        rq.declared_type = ev.declared_type;
        rq.size = ev.size;
        rq.to = first.rcpt_to.empty() ? std::string() : first.rcpt_to.front();
        rq.requester = detail_value(ev.detail, "requester");
        rq.reason = detail_value(ev.detail, "reason");
        rq.time_unix_ms = first.time_unix_ms;
        rq.rows = group.size();
        for (std::size_t i = 1; i < group.size() && rq.state == ReleaseState::Pending; ++i) {
            const AuditMessage& m = group[i]->msg;
            const std::string detail = m.events.empty() ? std::string() : m.events.front().detail;
            if (m.verdict == verdict_released || m.verdict == verdict_release_refused) {
                rq.state =
                    m.verdict == verdict_released ? ReleaseState::Released : ReleaseState::Refused;
                rq.decided_by = detail_value(detail, "approver");
                rq.decision_code = m.reason;
                rq.decision_note = detail_value(detail, "note");
                rq.decided_unix_ms = m.time_unix_ms;
            } else if (m.verdict == verdict_release_failed || m.verdict == verdict_release_denied) {
                ++rq.attempts_failed;
                const std::string smtp = detail_value(detail, "smtp");
                rq.last_problem = m.reason + (smtp.empty() ? "" : ": " + smtp);
            }
        }
        out.push_back(std::move(rq));
    }
    std::sort(out.begin(), out.end(), [](const ReleaseRequest& a, const ReleaseRequest& b) {
        return a.time_unix_ms != b.time_unix_ms ? a.time_unix_ms > b.time_unix_ms : a.id > b.id;
    });
    return out;
}

ReleaseDesk::ReleaseDesk(std::shared_ptr<const Config> config, AuditStore& audit,
                         const QuarantineStore& store, MailSender& sender, Options options)
    : config_(std::move(config)), audit_(audit), store_(store), sender_(sender),
      options_(std::move(options)) {
    if (!options_.now_ms) {
        options_.now_ms = system_now_ms;
    }
    if (!options_.new_request_id) {
        options_.new_request_id = make_request_id;
    }
}

filters::Result<ReleaseRequest> ReleaseDesk::request(const ReleaseRequestInput& in) {
    if (!valid_mailbox(in.to)) {
        return fail(ErrorCode::Malformed, "release.bad_request",
                    "not a recipient address: " + one_line(in.to));
    }
    if (in.all == !in.part.empty()) {
        return fail(ErrorCode::Malformed, "release.bad_request", "give either a part or all");
    }
    if (one_line(in.requester).empty() || one_line(in.reason).empty()) {
        return fail(ErrorCode::Malformed, "release.bad_request", "a requester and a reason");
    }
    auto records = mail_records(audit_, in.original);
    if (!records) {
        return tl::unexpected(records.error());
    }
    // The record the caller named, else the newest one of that original.
    const AuditRow* record = &records->front();
    for (const AuditRow& r : *records) {
        if (r.msg.audit_id == in.original) {
            record = &r;
        }
    }
    const AuditMessage& m = record->msg;
    auto original = store_.read(m.quarantine_id);
    if (!original) {
        return tl::unexpected(original.error());
    }
    const std::int64_t now = options_.now_ms();
    ReleaseRequest rq;
    rq.id = options_.new_request_id(now);
    rq.quarantine_id = m.quarantine_id;
    rq.original_audit_id = m.audit_id;
    rq.to = in.to;
    rq.requester = one_line(in.requester);
    rq.reason = one_line(in.reason);
    rq.time_unix_ms = now;
    rq.size = original->size();
    std::string sha = m.quarantine_id;
    std::string detected;
    if (!in.all) {
        auto tree = MimeTree::parse(*original, -1, config_->mime);
        if (!tree) {
            return tl::unexpected(tree.error());
        }
        const MimeNode* leaf = leaf_at(*tree, in.part);
        if (leaf == nullptr) {
            return fail(ErrorCode::Malformed, "release.no_such_part",
                        "no part " + one_line(in.part) + " in " + m.audit_id);
        }
        auto content = tree->decode(*leaf, config_->max_part_size);
        if (!content) {
            return tl::unexpected(content.error());
        }
        rq.part = leaf->path;
        rq.filename = leaf->filename;
        rq.declared_type = leaf->content_type;
        rq.size = content->bytes.size();
        sha = sha256_hex(content->bytes);
        for (const AuditEvent& e : m.events) {
            if (e.part_path == leaf->path) {
                detected = e.detected_type;
            }
        }
    }
    AuditMessage row;
    row.audit_id = rq.id;
    row.time_unix_ms = now;
    row.rcpt_to = {rq.to};
    row.message_id = rq.id;
    row.subject = m.subject;
    row.from_header = m.from_header;
    row.size_in = m.size_in;
    row.sha256_in = m.quarantine_id;
    row.verdict = verdict_release_requested;
    row.action = "none";
    row.reason = "release.requested";
    row.quarantine_id = m.quarantine_id;
    AuditEvent ev;
    ev.part_path = rq.part;
    ev.filename = rq.filename;
    ev.declared_type = rq.declared_type;
    ev.detected_type = detected;
    ev.size = rq.size;
    ev.sha256_before = sha;
    ev.filter = "release";
    ev.action = "none";
    ev.reason = "release.requested";
    ev.detail = detail_pair("original", rq.original_audit_id) + " " +
                detail_pair("requester", rq.requester) + " " + detail_pair("to", rq.to) + " " +
                detail_pair("part", in.all ? "all" : rq.part) + " " +
                detail_pair("reason", rq.reason);
    row.events.push_back(std::move(ev));
    if (auto r = audit_.record(row); !r) {
        return tl::unexpected(r.error());
    }
    rq.rows = 1;
    return rq;
}

filters::Result<std::vector<ReleaseRequest>> ReleaseDesk::requests(bool include_decided) const {
    std::vector<AuditRow> rows;
    for (std::string_view verdict :
         {verdict_release_requested, verdict_released, verdict_release_refused,
          verdict_release_failed, verdict_release_denied}) {
        AuditQuery q;
        q.limit = 0;
        q.verdict = std::string(verdict);
        auto some = audit_.query(q);
        if (!some) {
            return tl::unexpected(some.error());
        }
        rows.insert(rows.end(), std::make_move_iterator(some->begin()),
                    std::make_move_iterator(some->end()));
    }
    auto out = release_requests_from(rows);
    if (!include_decided) {
        std::erase_if(out,
                      [](const ReleaseRequest& r) { return r.state != ReleaseState::Pending; });
    }
    return out;
}

filters::Result<ReleaseRequest> ReleaseDesk::find(const std::string& request_id) const {
    AuditQuery q;
    q.limit = 0;
    q.message_id = request_id;
    auto rows = audit_.query(q);
    if (!rows) {
        return tl::unexpected(rows.error());
    }
    for (ReleaseRequest& rq : release_requests_from(*rows)) {
        if (rq.id == request_id) {
            return std::move(rq);
        }
    }
    return fail(ErrorCode::Malformed, "release.not_found", "no release request " + request_id);
}

filters::Result<std::string> ReleaseDesk::record(const ReleaseRequest& rq, std::string_view verdict,
                                                 std::string_view action, std::string_view code,
                                                 const std::string& approver,
                                                 const std::string& note, const std::string& extra,
                                                 const std::string& sent) {
    AuditMessage row;
    // Unique per request and position: two processes cannot both write the same decision.
    row.audit_id = rq.id + "." + std::to_string(rq.rows + 1);
    row.time_unix_ms = options_.now_ms();
    row.mail_from = verdict == verdict_released ? config_->release_from : std::string();
    row.rcpt_to = {rq.to};
    row.message_id = rq.id;
    row.sha256_in = rq.quarantine_id;
    row.quarantine_id = rq.quarantine_id;
    row.sha256_out = sent.empty() ? std::string() : sha256_hex(sent);
    row.size_out = sent.size();
    row.verdict = std::string(verdict);
    row.action = std::string(action);
    row.reason = std::string(code);
    AuditEvent ev;
    ev.part_path = rq.part;
    ev.filename = rq.filename;
    ev.declared_type = rq.declared_type;
    ev.size = rq.size;
    ev.sha256_after = row.sha256_out;
    ev.filter = "release";
    ev.action = row.action;
    ev.reason = row.reason;
    ev.detail = detail_pair("request", rq.id) + " " +
                detail_pair("original", rq.original_audit_id) + " " +
                detail_pair("requester", rq.requester) + " " +
                detail_pair("approver", one_line(approver)) + " " + detail_pair("to", rq.to) + " " +
                detail_pair("part", rq.part.empty() ? "all" : rq.part);
    if (!note.empty()) {
        ev.detail += " " + detail_pair("note", one_line(note));
    }
    if (!extra.empty()) {
        ev.detail += " " + extra;
    }
    row.events.push_back(std::move(ev));
    if (auto r = audit_.record(row); !r) {
        return tl::unexpected(r.error());
    }
    return row.audit_id;
}

filters::Result<ReleaseOutcome> ReleaseDesk::approve(const std::string& request_id,
                                                     const std::string& approver,
                                                     const std::string& note) {
    auto locked = lock_pending(store_, *this, request_id);
    if (!locked) {
        return tl::unexpected(locked.error());
    }
    if (locked->refused) {
        return *locked->refused;
    }
    const ReleaseRequest* rq = &locked->request;
    const std::string who = one_line(approver);
    if (who.empty()) {
        return fail(ErrorCode::Malformed, "release.bad_request", "an approver");
    }
    if (who == rq->requester && !config_->release_allow_self_approval) {
        auto id =
            record(*rq, verdict_release_denied, "none", "release.same_person", who, note, "", "");
        if (!id) {
            return tl::unexpected(id.error());
        }
        return outcome(ReleaseResult::Refused, "release.same_person",
                       who + " filed the request; another person must approve it", *id);
    }
    auto records = mail_records(audit_, rq->quarantine_id);
    if (!records) {
        return tl::unexpected(records.error());
    }
    if (infected(*records) && !config_->release_allow_infected) {
        auto id =
            record(*rq, verdict_release_refused, "reject", "release.infected", who, note, "", "");
        if (!id) {
            return tl::unexpected(id.error());
        }
        return outcome(ReleaseResult::Refused, "release.infected",
                       "ClamAV found a signature in this original", *id);
    }
    auto original = store_.read(rq->quarantine_id);
    if (!original) {
        return tl::unexpected(original.error());
    }
    const AuditMessage* mail = &records->front().msg;
    for (const AuditRow& r : *records) {
        if (r.msg.audit_id == rq->original_audit_id) {
            mail = &r.msg;
        }
    }
    std::string message;
    if (rq->part.empty()) {
        message = compose_full_release(*original, *rq, who);
    } else {
        auto composed =
            compose_part_release(*config_, *original, *rq, *mail, who, options_.now_ms());
        if (!composed) {
            return tl::unexpected(composed.error());
        }
        message = std::move(*composed);
    }
    auto sent = sender_.send(config_->release_from, rq->to, message);
    if (!sent) {
        const std::string reply = one_line(sent.error().detail);
        auto id = record(
            *rq, verdict_release_failed, "tempfail", "release.smtp_failed", who, note,
            detail_pair("relay", config_->release_relay) + " " + detail_pair("smtp", reply), "");
        if (!id) {
            return tl::unexpected(id.error());
        }
        ReleaseOutcome o = outcome(ReleaseResult::Failed, "release.smtp_failed", reply, *id);
        o.failure = sent.error().code;
        return o;
    }
    auto id = record(*rq, verdict_released, "deliver", "release.delivered", who, note,
                     detail_pair("relay", config_->release_relay) + " " +
                         detail_pair("smtp", one_line(*sent)),
                     message);
    if (!id) {
        return fail(id.error().code, id.error().what,
                    "delivered to " + rq->to + " but not audited: " + id.error().detail);
    }
    return outcome(ReleaseResult::Delivered, "release.delivered", one_line(*sent), *id);
}

filters::Result<ReleaseOutcome> ReleaseDesk::refuse(const std::string& request_id,
                                                    const std::string& approver,
                                                    const std::string& reason) {
    auto locked = lock_pending(store_, *this, request_id);
    if (!locked) {
        return tl::unexpected(locked.error());
    }
    if (locked->refused) {
        return *locked->refused;
    }
    const ReleaseRequest* rq = &locked->request;
    if (one_line(approver).empty() || one_line(reason).empty()) {
        return fail(ErrorCode::Malformed, "release.bad_request", "a name and a reason");
    }
    auto id =
        record(*rq, verdict_release_refused, "reject", "release.refused", approver, reason, "", "");
    if (!id) {
        return tl::unexpected(id.error());
    }
    return outcome(ReleaseResult::Done, "release.refused", one_line(reason), *id);
}

std::string released_header_value(const ReleaseRequest& rq, const std::string& approver) {
    return "request=" + rq.id + "; audit=" + token(rq.original_audit_id) +
           "; approved-by=" + token(approver);
}

std::string compose_full_release(std::string_view original, const ReleaseRequest& rq,
                                 const std::string& approver) {
    return "X-Mugaika-Released: " + released_header_value(rq, approver) + "\r\n" +
           to_crlf(original);
}

filters::Result<std::string>
compose_part_release(const Config& config, std::string_view original, const ReleaseRequest& rq,
                     const AuditMessage& record, const std::string& approver, std::int64_t now_ms) {
    auto tree = MimeTree::parse(original, -1, config.mime);
    if (!tree) {
        return tl::unexpected(tree.error());
    }
    const MimeNode* leaf = leaf_at(*tree, rq.part);
    if (leaf == nullptr) {
        return fail(ErrorCode::Malformed, "release.no_such_part", "no part " + rq.part);
    }
    auto content = tree->decode(*leaf, config.max_part_size);
    if (!content) {
        return tl::unexpected(content.error());
    }
    const std::string filename =
        leaf->filename.empty() ? "part-" + leaf->path + ".bin" : leaf->filename;
    std::string type = leaf->content_type;
    const auto slash = type.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == type.size()) {
        type = "application/octet-stream";
    }
    const std::string name_shown = audit_text::terminal_safe(filename);
    const std::string text =
        "このメールは、無害化の前に保管された原本から、承認を受けて取り出した添付ファイルを"
        "お届けするものです。\n"
        "This mail delivers an attachment released, with approval, from a kept original.\n\n"
        "添付ファイル / Attachment: " +
        name_shown + "\n  (" + type + ", " + group_thousands(content->bytes.size()) +
        " bytes, part " + leaf->path + ")\n  SHA-256: " + sha256_hex(content->bytes) +
        "\n元のメール / Original mail: " + record.audit_id +
        "\n  件名 / Subject: " + audit_text::terminal_safe(record.subject) + "\n  差出人 / From: " +
        audit_text::terminal_safe(record.mail_from.empty() ? "<>" : record.mail_from) +
        "\n  受信日時 / Received: " + audit_text::format_tokyo_time(record.time_unix_ms, false) +
        "\n申請 / Request: " + rq.id + " (" + rq.requester + ")\n" +
        "承認 / Approved by: " + one_line(approver) + "\n\n" +
        "開く前に、差出人と内容に心当たりがあることを確かめてください。\n"
        "Before opening it, make sure you know the sender and expected this file.\n";

    GRef<GMimeMessage> msg = GRef<GMimeMessage>::adopt(g_mime_message_new(TRUE));
    g_mime_message_add_mailbox(msg.get(), GMIME_ADDRESS_TYPE_FROM, nullptr,
                               config.release_from.c_str());
    g_mime_message_add_mailbox(msg.get(), GMIME_ADDRESS_TYPE_TO, nullptr, rq.to.c_str());
    const std::string subject = "原本の添付ファイル / Released attachment: " + name_shown;
    g_mime_message_set_subject(msg.get(), subject.c_str(), "utf-8");
    filters::CPtr<GDateTime, g_date_time_unref> date(g_date_time_new_from_unix_utc(now_ms / 1000));
    g_mime_message_set_date(msg.get(), date.get());
    const std::string domain = config.release_from.substr(config.release_from.rfind('@') + 1);
    g_mime_message_set_message_id(msg.get(), (rq.id + "@" + domain).c_str());
    const std::string released = released_header_value(rq, approver);
    g_mime_object_set_header(GMIME_OBJECT(msg.get()), "X-Mugaika-Released", released.c_str(),
                             nullptr);

    GRef<GMimeMultipart> mixed =
        GRef<GMimeMultipart>::adopt(g_mime_multipart_new_with_subtype("mixed"));
    GRef<GMimeTextPart> body =
        GRef<GMimeTextPart>::adopt(g_mime_text_part_new_with_subtype("plain"));
    g_mime_text_part_set_text(body.get(), text.c_str());
    g_mime_part_set_content_encoding(GMIME_PART(body.get()), GMIME_CONTENT_ENCODING_BASE64);
    g_mime_multipart_add(mixed.get(), GMIME_OBJECT(body.get()));

    GRef<GMimePart> attachment = GRef<GMimePart>::adopt(g_mime_part_new_with_type(
        type.substr(0, type.find('/')).c_str(), type.substr(type.find('/') + 1).c_str()));
    GRef<GMimeStream> stream = GRef<GMimeStream>::adopt(
        g_mime_stream_mem_new_with_buffer(content->bytes.data(), content->bytes.size()));
    GRef<GMimeDataWrapper> wrapper = GRef<GMimeDataWrapper>::adopt(
        g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
    g_mime_part_set_content(attachment.get(), wrapper.get());
    g_mime_object_set_disposition(GMIME_OBJECT(attachment.get()), "attachment");
    g_mime_part_set_filename(attachment.get(), filename.c_str());
    g_mime_part_set_content_encoding(attachment.get(), GMIME_CONTENT_ENCODING_BASE64);
    g_mime_multipart_add(mixed.get(), GMIME_OBJECT(attachment.get()));
    g_mime_message_set_mime_part(msg.get(), GMIME_OBJECT(mixed.get()));

    filters::CPtr<GMimeFormatOptions, g_mime_format_options_free> options(
        g_mime_format_options_new());
    g_mime_format_options_set_newline_format(options.get(), GMIME_NEWLINE_FORMAT_DOS);
    g_mime_format_options_set_param_encoding_method(options.get(),
                                                    GMIME_PARAM_ENCODING_METHOD_RFC2231);
    filters::CPtr<char, g_free> out(
        g_mime_object_to_string(GMIME_OBJECT(msg.get()), options.get()));
    if (!out) {
        return fail(ErrorCode::Internal, "release.compose_failed", rq.id);
    }
    return std::string(out.get());
}

std::string render_requests_table(const std::vector<ReleaseRequest>& requests) {
    auto cell = [](std::string_view s, std::size_t width) {
        return audit_text::pad_to_width(
            audit_text::truncate_to_width(audit_text::terminal_safe(s), width - 1), width);
    };
    std::string out = cell("REQUEST", 30) + cell("TIME", 26) + cell("STATE", 9) +
                      cell("ORIGINAL", 29) + cell("PART", 6) + cell("TO", 28) +
                      cell("REQUESTER", 12) + cell("DECIDED BY", 12) + "REASON\n";
    for (const ReleaseRequest& r : requests) {
        std::string reason = r.reason;
        if (r.state != ReleaseState::Pending) {
            reason = r.decision_code + (r.decision_note.empty() ? "" : ": " + r.decision_note);
        } else if (!r.last_problem.empty()) {
            reason += " (last attempt: " + r.last_problem + ")";
        }
        out += cell(r.id, 30) + cell(audit_text::format_tokyo_time(r.time_unix_ms, false), 26) +
               cell(to_string(r.state), 9) + cell(r.original_audit_id, 29) +
               cell(r.part.empty() ? "all" : r.part, 6) + cell(r.to, 28) + cell(r.requester, 12) +
               cell(r.decided_by.empty() ? "-" : r.decided_by, 12) +
               audit_text::truncate_to_width(audit_text::terminal_safe(reason), 80) + "\n";
    }
    if (requests.empty()) {
        out += "(no release requests)\n";
    }
    return out;
}

std::string render_requests_json(const std::vector<ReleaseRequest>& requests) {
    if (requests.empty()) {
        return "[]";
    }
    Poco::JSON::Array::Ptr arr = new Poco::JSON::Array;
    for (const ReleaseRequest& r : requests) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("request_id", r.id);
        o->set("time", audit_text::format_tokyo_time(r.time_unix_ms, true));
        o->set("state", std::string(to_string(r.state)));
        o->set("quarantine_id", r.quarantine_id);
        o->set("original_audit_id", r.original_audit_id);
        o->set("part", r.part.empty() ? std::string("all") : r.part);
        o->set("filename", audit_text::to_valid_utf8(r.filename));
        o->set("declared_type", r.declared_type);
        o->set("size", r.size);
        o->set("to", r.to);
        o->set("requester", r.requester);
        o->set("reason", r.reason);
        o->set("decided_by", r.decided_by);
        o->set("decision", r.decision_code);
        o->set("decision_note", r.decision_note);
        o->set("decided", r.decided_unix_ms == 0
                              ? std::string()
                              : audit_text::format_tokyo_time(r.decided_unix_ms, true));
        o->set("attempts_failed", r.attempts_failed);
        o->set("last_problem", r.last_problem);
        arr->add(o);
    }
    std::ostringstream ss;
    Poco::JSON::Stringifier::stringify(arr, ss, 2, -1, Poco::JSON_WRAP_STRINGS);
    return ss.str();
}

} // namespace mugaika::gateway
