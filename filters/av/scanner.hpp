#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::filters::av {

/// What a scan found.
enum class ScanStatus : std::uint8_t {
    Clean,      ///< everything was looked at and nothing matched
    Infected,   ///< at least one signature matched (wins over Incomplete)
    Incomplete, ///< no match, but the scanner could not look at everything (ScanResult::reason)
};

/// The verdict of one scan.
struct ScanResult {
    ScanStatus status = ScanStatus::Clean;
    /// Every distinct name the scanner reported, in report order; names from non-official
    /// databases carry ClamAV's ".UNOFFICIAL" suffix. Also holds the
    /// "Heuristics.Limits.Exceeded.*", "Heuristics.Encrypted.*" and "Heuristics.Broken.*" names
    /// that made a scan Incomplete, so the audit can say which limit was hit. libclamav in
    /// process reports every match; clamd reports the first one only.
    std::vector<std::string> signatures;
    /// Set when some content was not looked at (also when Infected): "limits.exceeded",
    /// "encrypted", "corrupted" or "timeout". Empty otherwise.
    std::string reason;
};

/// A virus scanner: libclamav in process (AvEngine) or clamd over its socket (ClamdScanner);
/// `[antivirus] mode` chooses. Implementations are immutable and thread-safe: scan() may run on
/// many threads at once. Shared as std::shared_ptr<const Scanner> and replaced whole.
class Scanner {
public:
    Scanner() = default;
    Scanner(const Scanner&) = delete;
    Scanner& operator=(const Scanner&) = delete;
    Scanner(Scanner&&) = delete;
    Scanner& operator=(Scanner&&) = delete;
    virtual ~Scanner() = default;

    /// Scans `bytes` (a whole file or message, decoded); archives, mail and documents are
    /// unpacked and scanned inside. `bytes` and `name_hint` (may be empty) are borrowed for the
    /// call only. Returns Clean, Infected or Incomplete (a limit hit, encrypted or broken
    /// content, the scan time): a scan that could not look at everything is never Clean.
    /// Errors ("av.*") only when the scanner itself failed or cannot be reached; the gateway
    /// maps them to on_error (fail closed).
    [[nodiscard]] virtual Result<ScanResult> scan(std::span<const std::byte> bytes,
                                                  std::string_view name_hint) const = 0;

    /// One line for logs and the audit: "libclamav 1.4.6, db version ..., 12 signatures" or
    /// "clamd ClamAV 1.4.6/27000/... at /run/clamav/clamd.ctl".
    [[nodiscard]] virtual std::string describe() const = 0;

    /// "libclamav" or "clamd", as in `[antivirus] mode`.
    [[nodiscard]] virtual std::string_view mode() const noexcept = 0;
};

/// The reason a ClamAV name stands for when it means "could not look at everything" rather than
/// a finding: "Heuristics.Limits.Exceeded.MaxScanTime*" -> "timeout", other
/// "Heuristics.Limits.Exceeded.*" -> "limits.exceeded", "Heuristics.Encrypted.*" -> "encrypted",
/// "Heuristics.Broken.*" -> "corrupted"; empty for every other name (a real finding).
[[nodiscard]] std::string_view incomplete_reason(std::string_view name) noexcept;

/// The verdict from the names a scan reported and the reason the scan itself gave (empty when
/// it finished): Infected when any name is a finding; else Incomplete when a name maps to a
/// reason (incomplete_reason) or `reason` is set; else Clean. The first reason wins. Shared by
/// both scanners so that a name means the same verdict whichever of them reported it.
[[nodiscard]] ScanResult verdict_of(std::vector<std::string> names, std::string reason);

} // namespace mugaika::filters::av
