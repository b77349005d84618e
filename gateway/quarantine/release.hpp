#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"
#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/audit_text.hpp"
#include "gateway/config/config.hpp"
#include "gateway/quarantine/quarantine_store.hpp"

namespace mugaika::gateway {

/// Sends one finished message over SMTP: the seam between the release logic and the network, so
/// that tests can look at the composed mail. Implementations say their own thread-safety.
class MailSender {
public:
    MailSender() = default;
    MailSender(const MailSender&) = delete;
    MailSender& operator=(const MailSender&) = delete;
    virtual ~MailSender() = default;

    /// Sends `message` (CRLF line ends, headers first) from `from` to `to`; the view is read during
    /// the call only. Returns a one-line note of the relay's acceptance.
    /// Error "release.smtp_failed" with the reply or the network error as detail: Transient for a
    /// relay that cannot be reached, times out or answers 4xx; Internal for a 5xx answer.
    [[nodiscard]] virtual filters::Result<std::string>
    send(const std::string& from, const std::string& to, std::string_view message) = 0;
};

/// Where a release request stands, derived from its audit rows.
enum class ReleaseState : std::uint8_t {
    Pending,  ///< filed, not yet released or refused (also after a failed delivery)
    Released, ///< delivered through the relay
    Refused,  ///< refused by an administrator or by policy (infected original)
};
[[nodiscard]] std::string_view to_string(ReleaseState s) noexcept;

/// One release request with its state. Plain value.
struct ReleaseRequest {
    std::string id;                ///< "RQ-YYYYMMDD-HHMMSS-xxxxxxxx"
    std::string quarantine_id;     ///< SHA-256 of the original
    std::string original_audit_id; ///< the message record of the original ("MG-...")
    std::string part;              ///< MIME part path ("2", "1.2"); "" for the whole original
    std::string filename;          ///< of the part (UTF-8), "" for the whole original
    std::string declared_type;     ///< of the part
    std::uint64_t size = 0;        ///< bytes of the part (decoded) or of the whole original
    std::string to;
    std::string requester;
    std::string reason;
    std::int64_t time_unix_ms = 0;
    ReleaseState state = ReleaseState::Pending;
    std::string decided_by;    ///< approver or refuser of the final decision
    std::string decision_code; ///< "release.delivered", "release.refused", "release.infected"
    std::string decision_note; ///< the approver's or refuser's reason text
    std::int64_t decided_unix_ms = 0;
    unsigned attempts_failed = 0; ///< approvals that did not deliver (relay) or were denied
    std::string last_problem;     ///< code and detail of the newest such attempt
    std::size_t rows = 0;         ///< audit rows of this request so far
};

/// What `quarantine request` asks for.
struct ReleaseRequestInput {
    std::string original; ///< quarantine id (SHA-256) or audit id of the original
    std::string part;     ///< MIME part path; "" with `all`
    bool all = false;     ///< the whole original, byte for byte
    std::string to;       ///< recipient address
    std::string reason;   ///< free text, stored on one line
    std::string requester;
};

/// How an approval or refusal ended.
enum class ReleaseResult : std::uint8_t {
    Delivered, ///< the relay accepted the mail (audit verdict "released")
    Refused,   ///< the policy or an administrator said no (exit 3; `refuse` itself is Done)
    Done,      ///< `refuse` recorded its decision
    Failed,    ///< delivery failed; the request stays pending (audit verdict "release_failed")
};

/// The result of `approve` or `refuse`. Plain value.
struct ReleaseOutcome {
    ReleaseResult result = ReleaseResult::Failed;
    std::string code;     ///< "release.delivered", "release.same_person", "release.infected",
                          ///< "release.not_pending", "release.refused", "release.smtp_failed"
    std::string detail;   ///< the relay's reply or the reason, one line
    std::string audit_id; ///< the audit row written, "" when none was
    filters::ErrorCode failure = filters::ErrorCode::Transient; ///< Failed: Transient = retry later
};

/// Audit verdicts of release rows. A request's state is derived from its rows in seq order.
inline constexpr std::string_view verdict_release_requested = "release_requested";
inline constexpr std::string_view verdict_released = "released";
inline constexpr std::string_view verdict_release_refused = "release_refused";
inline constexpr std::string_view verdict_release_failed = "release_failed";
inline constexpr std::string_view verdict_release_denied = "release_denied";

/// Whether an audit verdict belongs to a release request rather than to a processed mail.
[[nodiscard]] bool is_release_verdict(std::string_view verdict) noexcept;

/// The requests found in `rows` (release rows grouped by their message_id, the request id),
/// newest first. Rows of other kinds are ignored. Pure.
[[nodiscard]] std::vector<ReleaseRequest> release_requests_from(const std::vector<AuditRow>& rows);

/// Files, lists, approves and refuses release requests; the requests live in the audit trail.
/// Thread-compatible: one desk per thread. Approvals and refusals serialize across processes on a
/// lock file in the quarantine directory, so a request is delivered at most once.
class ReleaseDesk {
public:
    struct Options {
        std::function<std::int64_t()> now_ms;                    ///< default: system clock
        std::function<std::string(std::int64_t)> new_request_id; ///< default: RQ-date-time-random
    };

    /// The references must outlive the desk.
    ReleaseDesk(std::shared_ptr<const Config> config, AuditStore& audit,
                const QuarantineStore& store, MailSender& sender, Options options);

    /// Files a request after checking that the original is present and, for a part, that the
    /// part exists. Errors: "quarantine.not_found" (Malformed: unknown id or purged original),
    /// "release.no_such_part" (Malformed), "release.bad_request" (Malformed: no recipient, ...),
    /// and those of the stores.
    [[nodiscard]] filters::Result<ReleaseRequest> request(const ReleaseRequestInput& in);

    /// Requests, newest first; only pending ones unless `include_decided`.
    [[nodiscard]] filters::Result<std::vector<ReleaseRequest>> requests(bool include_decided) const;

    /// One request. Error "release.not_found" (Malformed).
    [[nodiscard]] filters::Result<ReleaseRequest> find(const std::string& request_id) const;

    /// Approves a pending request and delivers it. A refusal by policy (same person, infected,
    /// not pending) or a delivery failure is an outcome, not an error; every outcome but
    /// "release.not_pending" is audited. Errors: "release.not_found", store and audit failures
    /// (when the audit fails after a delivery, the error says so).
    [[nodiscard]] filters::Result<ReleaseOutcome>
    approve(const std::string& request_id, const std::string& approver, const std::string& note);

    /// Refuses a pending request (audited). Errors as approve.
    [[nodiscard]] filters::Result<ReleaseOutcome>
    refuse(const std::string& request_id, const std::string& approver, const std::string& reason);

private:
    filters::Result<std::string> record(const ReleaseRequest& rq, std::string_view verdict,
                                        std::string_view action, std::string_view code,
                                        const std::string& approver, const std::string& note,
                                        const std::string& extra, const std::string& sent);

    std::shared_ptr<const Config> config_;
    AuditStore& audit_;
    const QuarantineStore& store_;
    MailSender& sender_;
    Options options_;
};

/// The value of X-Mugaika-Released: "request=RQ-...; audit=MG-...; approved-by=NAME" (NAME
/// reduced to a header-safe token; the audit trail keeps it exactly).
[[nodiscard]] std::string released_header_value(const ReleaseRequest& rq,
                                                const std::string& approver);

/// The whole original with one X-Mugaika-Released field prepended. Line ends are made CRLF (an
/// original received over SMTP already has them), so the relay receives the original byte for
/// byte after that field.
[[nodiscard]] std::string compose_full_release(std::string_view original, const ReleaseRequest& rq,
                                               const std::string& approver);

/// A new mail from [release] from to the request's recipient: a Japanese and English text naming
/// the original (`record`, its message record), and the decoded part attached under its file name
/// (RFC 2231) with its declared type, plus X-Mugaika-Released. Built with GMime (g_mime_init must
/// have run). CRLF line ends. Errors: those of parsing the original, "release.no_such_part"
/// (Malformed).
[[nodiscard]] filters::Result<std::string>
compose_part_release(const Config& config, std::string_view original, const ReleaseRequest& rq,
                     const AuditMessage& record, const std::string& approver, std::int64_t now_ms);

/// `quarantine requests` as a table (times in Asia/Tokyo) or a JSON array.
[[nodiscard]] std::string render_requests_table(const std::vector<ReleaseRequest>& requests);
[[nodiscard]] std::string render_requests_json(const std::vector<ReleaseRequest>& requests);

/// key=value text for audit details (gateway/audit/audit_text.hpp), also used unqualified here.
using audit_text::detail_pair;
using audit_text::detail_value;

/// Free text made safe for one audit detail line: valid UTF-8, line breaks and tabs as spaces,
/// other controls as '?', at most 300 display columns.
[[nodiscard]] std::string one_line(std::string_view text);

/// A new request id "RQ-YYYYMMDD-HHMMSS-xxxxxxxx" (UTC, 8 random hex digits).
[[nodiscard]] std::string make_request_id(std::int64_t unix_ms);

} // namespace mugaika::gateway
