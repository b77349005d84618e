#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "filters/core/result.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/quarantine/quarantine_store.hpp"

namespace mugaika::gateway {

/// One kept original as `mugaika quarantine list` shows it.
struct QuarantineEntry {
    std::string quarantine_id; ///< SHA-256 of the original
    std::string audit_id;      ///< the message record that kept it (newest when kept twice)
    std::int64_t time_unix_ms = 0;
    std::string sender;
    std::string subject;
    std::string verdict; ///< what happened to the message: sanitized, rejected, tempfail, passed
    std::string reason;
    std::uint64_t size = 0;
    bool present = false; ///< the file is still in the store (not purged)
};

/// Kept originals, newest first, from the audit trail (every processed message keeps one); each
/// with its newest mail record (release rows are not listed).
/// Errors: those of AuditStore::query.
[[nodiscard]] filters::Result<std::vector<QuarantineEntry>>
list_quarantine(const AuditStore& audit, const QuarantineStore& store, std::size_t limit,
                std::size_t offset);

/// The audit records of one original, found by its quarantine id or by an audit id.
/// Error "quarantine.not_found" when neither matches.
[[nodiscard]] filters::Result<std::vector<AuditRow>> quarantine_records(const AuditStore& audit,
                                                                        const std::string& id);

/// `quarantine list` as a table (time in Asia/Tokyo) or JSON.
[[nodiscard]] std::string render_quarantine_table(const std::vector<QuarantineEntry>& entries);
[[nodiscard]] std::string render_quarantine_json(const std::vector<QuarantineEntry>& entries);

/// `quarantine show`: the message and each part with name, types, action, reason and size; a
/// release request or decision for the original as one line each.
[[nodiscard]] std::string render_quarantine_show(const std::vector<AuditRow>& rows,
                                                 const QuarantineStore& store);

} // namespace mugaika::gateway
