#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "filters/av/scanner.hpp"
#include "filters/core/result.hpp"

namespace mugaika::filters::av {

/// How to reach clamd, from `[antivirus] clamd_socket`, `clamd_timeout` and `max_scan_size`.
struct ClamdOptions {
    std::string socket_path = "/run/clamav/clamd.ctl"; ///< clamd's LocalSocket
    /// The longest one exchange with clamd may take, all together: connecting, sending the
    /// input and waiting for the verdict (and PING/VERSION at connect()).
    std::chrono::milliseconds timeout{60000};
    /// Largest input sent; a larger one is Incomplete ("limits.exceeded") without being sent.
    std::uint64_t max_scan_size = 100U << 20U;
    /// Bytes per INSTREAM chunk (each is preceded by its 4-byte length).
    std::size_t chunk_size = 256U << 10U;
};

/// clamd over its unix socket, `[antivirus] mode = "clamd"`: every scan opens a new connection,
/// sends `zINSTREAM\0` and the input in length-prefixed chunks, and reads one NUL-terminated
/// reply. The verdicts are those of AvEngine: names are mapped by the same verdict_of(), a
/// stream clamd refuses as too long is Incomplete, never Clean. What clamd scans inside (limits,
/// heuristics, database) is set in clamd.conf, not here. Immutable and thread-safe.
class ClamdScanner final : public Scanner {
public:
    /// Checks that clamd answers (`zPING\0` -> "PONG", then `zVERSION\0`) and returns a scanner
    /// for it. Errors: "av.unavailable" (Transient) when the socket cannot be reached, clamd does
    /// not answer in time or answers something else, with the path and the reason in the
    /// detail; "av.limits_invalid" (Unsupported) for a zero timeout, chunk size or scan size.
    [[nodiscard]] static Result<std::shared_ptr<const ClamdScanner>>
    connect(const ClamdOptions& options);

    /// Sends `bytes` to clamd (INSTREAM) and parses its reply (parse_clamd_reply). Input larger
    /// than max_scan_size is Incomplete ("limits.exceeded") without being sent. Errors:
    /// "av.unavailable" (Transient) when clamd cannot be reached, closes the connection before
    /// its reply, or the timeout runs out; those of parse_clamd_reply. `bytes` and `name_hint`
    /// are borrowed for the call; `name_hint` is not sent.
    [[nodiscard]] Result<ScanResult> scan(std::span<const std::byte> bytes,
                                          std::string_view name_hint) const override;

    /// "clamd ClamAV 1.4.6/27000/Mon Jun  3 08:00:00 2024 at /run/clamav/clamd.ctl".
    [[nodiscard]] std::string describe() const override;

    /// "clamd".
    [[nodiscard]] std::string_view mode() const noexcept override { return "clamd"; }

    /// clamd's answer to VERSION: "ClamAV 1.4.6/27000/Mon Jun  3 08:00:00 2024".
    [[nodiscard]] const std::string& version() const noexcept { return version_; }

    ~ClamdScanner() override = default;

private:
    ClamdScanner(ClamdOptions options, std::string version);
    ClamdOptions options_;
    std::string version_;
};

/// The 4-byte big-endian length that precedes every INSTREAM chunk; 0 ends the stream.
[[nodiscard]] std::array<std::byte, 4> instream_chunk_length(std::uint32_t length) noexcept;

/// Parses one INSTREAM reply (without its terminating NUL):
/// - "stream: OK" -> Clean;
/// - "stream: NAME FOUND" -> verdict_of({NAME}): Infected, or Incomplete for the
///   Heuristics.Limits.Exceeded/Encrypted/Broken names; an "(md5:size)" suffix that clamd's
///   ExtendedDetectionInfo adds to NAME is dropped;
/// - "INSTREAM size limit exceeded. ERROR" (clamd's StreamMaxLength) -> Incomplete,
///   "limits.exceeded";
/// - any other "... ERROR" -> error "av.scan_failed" (Transient), clamd's text in the detail;
/// - anything else -> error "av.scan_failed" (Internal). Never Clean unless clamd said OK.
[[nodiscard]] Result<ScanResult> parse_clamd_reply(std::string_view reply);

} // namespace mugaika::filters::av
