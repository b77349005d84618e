#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "filters/core/result.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/quarantine/quarantine_store.hpp"

namespace mugaika::gateway {

/// What `mugaika quarantine purge` is asked to do.
struct PurgeOptions {
    std::int64_t now_ms = 0;
    unsigned retention_days = 90; ///< 0: keep every original
    bool dry_run = false;         ///< report, remove nothing, audit nothing
    std::string operator_name;    ///< who ran it, for the audit record
};

/// One original removed (or, in a dry run, due for removal).
struct PurgedOriginal {
    std::string quarantine_id;
    std::string audit_id;            ///< its newest mail record
    std::uint64_t size = 0;          ///< bytes of the file
    std::int64_t newest_unix_ms = 0; ///< its newest audit record of any kind
};

/// The outcome of a purge. Plain value.
struct PurgeReport {
    std::int64_t cutoff_unix_ms = 0;           ///< records older than this have expired
    std::vector<PurgedOriginal> removed;       ///< removed (due, in a dry run), oldest first
    std::vector<std::string> kept_for_release; ///< expired but kept: a release request is pending
    std::string audit_id;                      ///< the record of the removals; "" when none
};

/// Removes every original in `store` whose newest audit record (mail or release request) is
/// older than the retention, unless a release request for it is pending, and records one audit
/// row (verdict "purged") with an event per removed original. The files are first moved aside;
/// when the audit record cannot be written they are put back, so no original disappears without
/// a record. Nothing is removed or recorded when nothing is due, in a dry run, or with
/// retention_days = 0. `new_audit_id` names the record. Errors: those of the audit store;
/// "quarantine.purge_failed" (Transient) when the files cannot be moved.
/// Not thread-safe against another purge of the same store.
[[nodiscard]] filters::Result<PurgeReport>
purge_quarantine(AuditStore& audit, const QuarantineStore& store, const PurgeOptions& options,
                 const std::function<std::string(std::int64_t)>& new_audit_id);

/// `quarantine purge` as text: one line per original, then a summary.
[[nodiscard]] std::string render_purge_report(const PurgeReport& report, bool dry_run);

} // namespace mugaika::gateway
