#pragma once

#include <string>
#include <string_view>

#include "filters/core/result.hpp"

namespace mugaika::gateway {

/// Content-addressed store of original messages: <dir>/<2 hex>/<sha256>.eml, each written to a
/// temporary file, fsynced, renamed into place, and its directory fsynced, before any answer is
/// given. Thread-safe: writers of the same content race benignly on an atomic rename.
class QuarantineStore {
public:
    /// A store rooted at dir (created on first write, mode 0700).
    explicit QuarantineStore(std::string dir) : dir_(std::move(dir)) {}

    /// Keeps bytes whose SHA-256 is sha256 (lower-case hex; the caller has computed it).
    /// Returns the id (the hash). Errors: "quarantine.write_failed" (Transient).
    [[nodiscard]] filters::Result<std::string> keep(std::string_view bytes,
                                                    const std::string& sha256) const;

    /// Reads an original back, verifying its hash. Errors: "quarantine.not_found" (Malformed),
    /// "quarantine.corrupt" (Internal), "quarantine.read_failed" (Transient).
    [[nodiscard]] filters::Result<std::string> read(const std::string& id) const;

    /// Where an id is (or would be) stored.
    [[nodiscard]] std::string path_of(const std::string& id) const;

    /// The store's root directory.
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

private:
    std::string dir_;
};

/// Whether s is 64 lower-case hex digits.
[[nodiscard]] bool is_sha256_hex(std::string_view s) noexcept;

} // namespace mugaika::gateway
