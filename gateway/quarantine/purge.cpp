#include "gateway/quarantine/purge.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "gateway/audit/audit_text.hpp"
#include "gateway/quarantine/release.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;

constexpr std::int64_t ms_per_day = 86'400'000;

struct Original {
    std::int64_t newest_ms = 0;
    std::string mail_audit_id; ///< newest mail record
    std::int64_t mail_ms = -1;
};

/// Moves files into a private directory and back, so that removal and its audit record stand or
/// fall together.
class Staging {
public:
    explicit Staging(const QuarantineStore& store)
        : store_(store), dir_(store.dir() + "/.purge-" + std::to_string(::getpid())) {}

    [[nodiscard]] bool open() { return ::mkdir(dir_.c_str(), 0700) == 0 || errno == EEXIST; }

    /// Moves the original aside; false when it is gone already or cannot be moved.
    [[nodiscard]] bool take(const std::string& id) {
        if (std::rename(store_.path_of(id).c_str(), staged(id).c_str()) != 0) {
            return false;
        }
        taken_.push_back(id);
        return true;
    }

    void put_back() {
        for (const std::string& id : taken_) {
            (void)std::rename(staged(id).c_str(), store_.path_of(id).c_str());
        }
        taken_.clear();
        (void)::rmdir(dir_.c_str());
    }

    void remove_all() {
        for (const std::string& id : taken_) {
            (void)::unlink(staged(id).c_str());
        }
        taken_.clear();
        (void)::rmdir(dir_.c_str());
        const int fd = ::open(store_.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)::fsync(fd);
            ::close(fd);
        }
    }

private:
    [[nodiscard]] std::string staged(const std::string& id) const { return dir_ + "/" + id; }

    const QuarantineStore& store_;
    std::string dir_;
    std::vector<std::string> taken_;
};

} // namespace

filters::Result<PurgeReport>
purge_quarantine(AuditStore& audit, const QuarantineStore& store, const PurgeOptions& options,
                 const std::function<std::string(std::int64_t)>& new_audit_id) {
    PurgeReport report;
    if (options.retention_days == 0) {
        return report;
    }
    report.cutoff_unix_ms =
        options.now_ms - static_cast<std::int64_t>(options.retention_days) * ms_per_day;
    AuditQuery q;
    q.limit = 0;
    auto rows = audit.query(q);
    if (!rows) {
        return tl::unexpected(rows.error());
    }
    std::map<std::string, Original> originals;
    for (const AuditRow& r : *rows) {
        const AuditMessage& m = r.msg;
        if (m.quarantine_id.empty()) {
            continue;
        }
        Original& o = originals[m.quarantine_id];
        o.newest_ms = std::max(o.newest_ms, m.time_unix_ms);
        if (!is_release_verdict(m.verdict) && m.time_unix_ms > o.mail_ms) {
            o.mail_ms = m.time_unix_ms;
            o.mail_audit_id = m.audit_id;
        }
    }
    std::set<std::string> pending;
    for (const ReleaseRequest& rq : release_requests_from(*rows)) {
        if (rq.state == ReleaseState::Pending) {
            pending.insert(rq.quarantine_id);
        }
    }
    for (const auto& [id, o] : originals) {
        struct stat st {};
        if (o.newest_ms >= report.cutoff_unix_ms || !is_sha256_hex(id) ||
            ::stat(store.path_of(id).c_str(), &st) != 0) {
            continue;
        }
        if (pending.count(id) != 0) {
            report.kept_for_release.push_back(id);
            continue;
        }
        report.removed.push_back(
            {id, o.mail_audit_id, static_cast<std::uint64_t>(st.st_size), o.newest_ms});
    }
    std::sort(report.removed.begin(), report.removed.end(),
              [](const PurgedOriginal& a, const PurgedOriginal& b) {
                  return a.newest_unix_ms < b.newest_unix_ms;
              });
    if (options.dry_run || report.removed.empty()) {
        return report;
    }

    Staging staging(store);
    if (!staging.open()) {
        return fail(ErrorCode::Transient, "quarantine.purge_failed",
                    store.dir() + ": " + std::strerror(errno));
    }
    std::vector<PurgedOriginal> taken;
    for (const PurgedOriginal& p : report.removed) {
        if (staging.take(p.quarantine_id)) {
            taken.push_back(p);
        }
    }
    report.removed = std::move(taken);
    if (report.removed.empty()) {
        staging.put_back();
        return report;
    }
    const std::string who = one_line(options.operator_name);
    AuditMessage row;
    row.audit_id = new_audit_id(options.now_ms);
    row.time_unix_ms = options.now_ms;
    row.verdict = "purged";
    row.action = "purge";
    row.reason = "quarantine.purged";
    std::uint64_t bytes = 0;
    for (const PurgedOriginal& p : report.removed) {
        bytes += p.size;
    }
    row.size_in = bytes;
    AuditEvent run;
    run.filter = "quarantine";
    run.action = "purge";
    run.reason = "quarantine.purge_run";
    run.size = bytes;
    run.detail = detail_pair("by", who) +
                 " retention_days=" + std::to_string(options.retention_days) + " " +
                 detail_pair("cutoff", iso8601_utc(report.cutoff_unix_ms)) +
                 " removed=" + std::to_string(report.removed.size());
    row.events.push_back(std::move(run));
    for (const PurgedOriginal& p : report.removed) {
        AuditEvent e;
        e.size = p.size;
        e.sha256_before = p.quarantine_id;
        e.filter = "quarantine";
        e.action = "purge";
        e.reason = "quarantine.purged";
        e.detail = detail_pair("audit", p.audit_id) + " " +
                   detail_pair("newest", iso8601_utc(p.newest_unix_ms));
        row.events.push_back(std::move(e));
    }
    if (auto r = audit.record(row); !r) {
        staging.put_back();
        return tl::unexpected(r.error());
    }
    staging.remove_all();
    report.audit_id = row.audit_id;
    return report;
}

std::string render_purge_report(const PurgeReport& report, bool dry_run) {
    std::string out;
    std::uint64_t bytes = 0;
    for (const PurgedOriginal& p : report.removed) {
        bytes += p.size;
        out += std::string(dry_run ? "would remove " : "removed ") + p.quarantine_id + " " +
               (p.audit_id.empty() ? "-" : p.audit_id) + " " + std::to_string(p.size) +
               " bytes, newest record " + audit_text::format_tokyo_time(p.newest_unix_ms, false) +
               "\n";
    }
    for (const std::string& id : report.kept_for_release) {
        out += "kept " + id + ": a release request is pending\n";
    }
    out += std::to_string(report.removed.size()) + " original" +
           (report.removed.size() == 1 ? "" : "s") + (dry_run ? " due, " : " removed, ") +
           std::to_string(bytes) + " bytes";
    if (!report.audit_id.empty()) {
        out += " (audit " + report.audit_id + ")";
    }
    return out + "\n";
}

} // namespace mugaika::gateway
