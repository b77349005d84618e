#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "filters/core/result.hpp"
#include "gateway/config/config.hpp"
#include "gateway/rules/rules.hpp"

namespace mugaika::filters::av {
class Scanner;
}

namespace mugaika::gateway {

class AuditStore;
class QuarantineStore;

/// The SMTP envelope and connection facts of one message.
struct Envelope {
    std::string direction; ///< "inbound", "outbound"; "" means the config's default_direction
    std::string client_addr;
    std::string helo;
    std::string mail_from;
    std::vector<std::string> rcpt_to;
    std::string queue_id;
};

/// The message bytes. `bytes` must stay valid during process(); when `fd` >= 0 it is an open
/// file holding the same bytes, which the MIME parser then reads instead of copying `bytes`.
struct MessageSource {
    std::string_view bytes;
    int fd = -1;
};

/// One file for the file gateway (`mugaika sanitize-file`): no MIME around it.
struct FileSource {
    std::string_view bytes; ///< the file; must stay valid during process_file()
    std::string name;       ///< its name (the rules match its extension), UTF-8
};

/// What happened to one leaf part.
struct PartReport {
    std::string path;
    std::string filename;
    std::string declared_type;
    std::string detected_type;
    std::string charset; ///< the charset the text was read in (bodies)
    std::uint64_t size = 0;
    std::string sha256;
    Role role = Role::Attachment;
    Action action = Action::Strip;
    std::string rule;
    std::string av = "unscanned";    ///< "clean", "infected", "incomplete", "unscanned"
    std::string signatures;          ///< ClamAV names, comma-separated (infected or incomplete)
    bool mismatch = false;           ///< the true type contradicts the declared type or extension
    std::string name_tricks;         ///< "name.double_extension,name.bidi_control", "" when none
    std::string archive = "none";    ///< "none", "listed", "encrypted", "limit_exceeded", "corrupt"
    std::string archive_format;      ///< "zip", "7z", "tar.gz", ... ("" when not an archive)
    std::string archive_reason;      ///< "archive.ratio_exceeded", ... ("" when listed or none)
    std::size_t archive_members = 0; ///< members listed (directories not counted)
    std::uint64_t archive_expanded = 0; ///< bytes inflated while listing
    bool encrypted = false;             ///< the archive or a member is password-protected
    std::uint32_t contains = 0;         ///< content_bit()s of the members, all levels
    std::string cdr_engine;             ///< the CDR engine for this part ("" when none)
    std::string cdr_filename;           ///< the rebuilt file's name (action cdr, when rebuilt)
    std::string reason; ///< stable code: "text.html_converted", "attachment.stripped", ...
    std::string detail; ///< key=value facts for the audit, never content
};

/// What the MTA should do with the message.
enum class Disposition : std::uint8_t {
    Deliver,    ///< deliver `output` instead of the original
    Reject,     ///< 5xx
    Tempfail,   ///< 4xx
    Quarantine, ///< accept and deliver nothing; the original waits for an admin's release
    Discard,    ///< accept and deliver nothing (the original is kept as always)
};
[[nodiscard]] std::string_view to_string(Disposition d) noexcept;

/// The result of processing one message. Always complete: process() never throws.
struct Outcome {
    Disposition disposition = Disposition::Tempfail;
    std::string audit_id;
    std::string reason;        ///< main stable code ("sanitized", "mime.depth_exceeded", ...)
    std::string rule;          ///< the rule that decided a rejection, if any
    std::string smtp_reply;    ///< text for the 4xx/5xx reply, with the audit id
    std::string output;        ///< the message to deliver (Deliver only)
    std::string quarantine_id; ///< SHA-256 of the kept original ("" if it could not be kept)
    std::string sha256_in;
    std::string sha256_out;
    std::string output_filename; ///< process_file(): the name of `output` (changed by CDR)
    bool audited = false;        ///< the audit transaction committed
    std::vector<PartReport> parts;
};

/// The pipeline: keep, parse, classify, decide, apply, rebuild, audit.
/// Thread-safe: process() and explain() may run on many threads at once; each message is handled
/// wholly under the config snapshot it started with; replace_config() swaps atomically.
class Gateway {
public:
    struct Options {
        std::function<std::int64_t()> now_ms;                  ///< default: system clock
        std::function<std::string(std::int64_t)> new_audit_id; ///< default: MG-date-time-random
    };

    /// Opens the audit store and the quarantine store under the config's state dir, and (with
    /// [antivirus] enabled) loads the ClamAV engine and starts watching its database directory
    /// (mode libclamav), or checks that clamd answers (mode clamd).
    /// Errors: "gateway.state_dir_unusable", "audit.*", "av.*" ("av.unavailable" for clamd).
    [[nodiscard]] static filters::Result<std::unique_ptr<Gateway>>
    open(std::shared_ptr<const Config> config, Options options);
    [[nodiscard]] static filters::Result<std::unique_ptr<Gateway>>
    open(std::shared_ptr<const Config> config) {
        return open(std::move(config), Options{});
    }

    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;
    ~Gateway();

    /// Sanitizes one message. Never throws: any failure becomes a Tempfail or Reject outcome as
    /// the config says, the original is kept first, and the failure is audited when possible.
    [[nodiscard]] Outcome process(const Envelope& envelope, const MessageSource& source) noexcept;

    /// The file gateway: one file through the same steps as one attachment of a mail (kept in
    /// the quarantine store, scanned, typed, archives listed, decided by the rules as an
    /// attachment, rebuilt by CDR) and audited the same way (part path "1"). Deliver: `output`
    /// is the rebuilt file (cdr), the converted text (text) or the file itself (keep), named
    /// `output_filename`. A part the rules strip is a Reject (the file does not pass). Never
    /// throws.
    [[nodiscard]] Outcome process_file(const Envelope& envelope, const FileSource& file) noexcept;

    /// Classifies and decides without writing anything: the parts and the rule of each.
    /// Errors are those of parsing (limits, malformed input).
    [[nodiscard]] filters::Result<std::vector<PartReport>>
    explain(const Envelope& envelope, const MessageSource& source) const;

    /// The config snapshot now in force.
    [[nodiscard]] std::shared_ptr<const Config> config() const;
    /// Replaces the config for messages that start after this call. When the [antivirus]
    /// settings changed, the engine is rebuilt first; if that fails the old engine keeps serving
    /// and the error is returned (the new config is still applied).
    filters::Result<void> replace_config(std::shared_ptr<const Config> config);

    /// Mode libclamav: rebuilds the ClamAV engine when its database directory changed (or
    /// always with `force`). Mode clamd: with `force`, or when the running scanner was not
    /// built for the current clamd settings (a failed switch is retried), checks that clamd
    /// answers (PING, VERSION) and builds a scanner for it; clamd watches its own database.
    /// The new scanner is swapped in whole; scans in flight finish on the one they started
    /// with. A failure keeps the running scanner. Thread-safe.
    filters::Result<void> refresh_antivirus(bool force);

    [[nodiscard]] AuditStore& audit() const noexcept { return *audit_; }
    [[nodiscard]] const QuarantineStore& quarantine() const noexcept { return *quarantine_; }

private:
    Gateway(std::shared_ptr<const Config> config, Options options,
            std::unique_ptr<AuditStore> audit, std::unique_ptr<QuarantineStore> quarantine);
    Outcome process_guarded(const Envelope& envelope, const MessageSource& source,
                            const FileSource* file) noexcept;
    Outcome process_checked(const Envelope& envelope, const MessageSource& source,
                            const FileSource* file);

    void watch_antivirus();

    std::atomic<std::shared_ptr<const Config>> config_;
    Options options_;
    std::unique_ptr<AuditStore> audit_;
    std::unique_ptr<QuarantineStore> quarantine_;
    std::atomic<std::shared_ptr<const filters::av::Scanner>> av_;
    std::mutex av_mutex_; ///< serialises scanner rebuilds; guards av_fingerprint_
    std::string av_fingerprint_;
    std::mutex watch_mutex_;
    std::condition_variable watch_cv_;
    bool watch_stop_ = false;
    std::thread av_watch_;
};

/// Maps a failure to the message action the config prescribes (fail-closed): the one place that
/// turns errors into actions. Time budget -> on_timeout; other limits -> on_limit; else on_error.
[[nodiscard]] Action action_for_error(const Config& config, const filters::Error& error) noexcept;

/// Opens the audit store the config names ([audit] backend, path or connection).
[[nodiscard]] filters::Result<std::unique_ptr<AuditStore>> open_audit_store(const Config& config);

/// Records that `config` was loaded (docs/audit.md "Config loads"): one row with verdict
/// "config_loaded", the file's path, SHA-256 and size, the rule set version later mail rows name,
/// and `trigger` ("milter.start", "milter.reload", "cli.sanitize", ...) and `by` (a user or signal)
/// in the event detail. Returns the row's audit id ("CF-...").
[[nodiscard]] filters::Result<std::string> record_config_load(AuditStore& audit,
                                                              const Config& config,
                                                              std::string_view trigger,
                                                              std::string_view by);

/// A new audit id: "MG-YYYYMMDD-HHMMSS-xxxxxxxx" (UTC, 8 random hex digits).
[[nodiscard]] std::string make_audit_id(std::int64_t unix_ms);

} // namespace mugaika::gateway
