#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filters/av/scanner.hpp"
#include "filters/core/result.hpp"

namespace mugaika::filters::av {

/// Process-wide libclamav initialisation (cl_init) and routing of libclamav's log messages away
/// from stderr (filters do not log). Call once in main before any thread starts and before the
/// first AvEngine::load. Idempotent; not thread-safe. Error "av.init_failed" (Internal).
[[nodiscard]] Result<void> init_clamav();

/// libclamav's scan limits, from config. Every limit that is hit makes the scan Incomplete.
/// None may be zero (libclamav would read it as "unlimited"): load() refuses it.
struct ScanLimits {
    std::uint64_t max_scan_size = 100U << 20U; ///< bytes scanned per top-level input, all layers
    std::uint64_t max_file_size = 25U << 20U;  ///< largest single file (input or member) scanned
    unsigned max_recursion = 16;               ///< archive / container nesting depth
    unsigned max_files = 10000;                ///< members extracted per top-level input
    std::chrono::milliseconds max_scan_time{30000}; ///< wall-clock time per scan
};

/// A compiled, immutable libclamav engine: `[antivirus] mode = "libclamav"`. Thread-safe: scan()
/// may run on many threads at once. Share it as std::shared_ptr<const Scanner> and replace it
/// whole (std::atomic) when the database changes; an engine is never modified after load().
class AvEngine final : public Scanner {
public:
    /// Loads every signature file in `database_dir` (cl_load, CL_DB_STDOPT), applies `limits`
    /// and compiles. Errors: "av.database_missing" (Unsupported) when the directory does not
    /// exist, "av.database_empty" (Unsupported) when no signature was loaded, "av.load_failed"
    /// (Internal) with libclamav's message, "av.limits_invalid" (Unsupported) for a zero limit,
    /// (Internal) when libclamav rejects one. Takes seconds and about 1 GB for the official
    /// database: build once, share.
    [[nodiscard]] static Result<std::shared_ptr<const AvEngine>>
    load(const std::string& database_dir, const ScanLimits& limits);

    /// Scans `bytes` (the whole file, decoded) in memory; archives, mail and documents are
    /// unpacked and scanned inside by libclamav. `bytes` and `name_hint` are borrowed for the
    /// call only; `name_hint` (may be empty) appears in libclamav's debug output only.
    /// Returns a verdict for clean, infected, limit hit, encrypted, corrupted and timeout.
    /// "corrupted" comes only from broken PE/ELF executables: libclamav 1.4 scans truncated
    /// zip, gzip, bzip2 and PDF files as far as they go and reports them Clean.
    /// Error "av.scan_failed" only when the engine itself failed: Transient for memory and
    /// temporary files, Internal otherwise. Libclamav writes extracted members to TMPDIR.
    [[nodiscard]] Result<ScanResult> scan(std::span<const std::byte> bytes,
                                          std::string_view name_hint) const override;

    /// Number of signatures cl_load reported.
    [[nodiscard]] unsigned signature_count() const noexcept;

    /// "libclamav 1.4.6, db version 27000 (2024-06-01T00:00:00Z), 12 signatures"; version and
    /// time are those of the official database (0 / absent for own signature files only).
    [[nodiscard]] std::string describe() const override;

    /// "libclamav".
    [[nodiscard]] std::string_view mode() const noexcept override { return "libclamav"; }

    ~AvEngine() override;

private:
    struct Impl;
    explicit AvEngine(std::unique_ptr<Impl> impl) noexcept;
    std::unique_ptr<Impl> impl_;
};

/// A fingerprint of the signature files in `database_dir` (names, sizes, modification times of
/// the files libclamav would load, sorted by name), so the gateway can notice that freshclam
/// changed the database. Equal strings mean nothing libclamav reads has changed; files libclamav
/// ignores (freshclam.dat, temporary directories) do not count. A missing or unreadable
/// directory gives the empty string. Thread-safe.
[[nodiscard]] std::string database_fingerprint(const std::string& database_dir);

} // namespace mugaika::filters::av
