#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

/// The console's users: a text file of "name:role:hash" lines with Argon2id password hashes
/// (libsodium crypto_pwhash_str). See docs/console.md.
namespace mugaika::gateway::console {

/// What a console user may do.
enum class ConsoleRole : std::uint8_t {
    Auditor, ///< reads the audit trail, reports and the verify status
    Admin,   ///< also approves and refuses quarantine release requests
};
[[nodiscard]] std::string_view to_string(ConsoleRole r) noexcept;
/// What a request wants to do.
enum class Permission : std::uint8_t {
    Read,           ///< search, story, report, verify, the list of release requests
    DecideReleases, ///< approve or refuse a release request
};
/// Whether `role` may do `p`: auditors read, admins also decide releases. Pure.
[[nodiscard]] bool allowed(ConsoleRole role, Permission p) noexcept;

/// "auditor" or "admin"; nullopt otherwise.
[[nodiscard]] std::optional<ConsoleRole> parse_role(std::string_view s) noexcept;

/// One user. Plain value.
struct ConsoleUser {
    std::string name;
    ConsoleRole role = ConsoleRole::Auditor;
    std::string hash; ///< "$argon2id$v=19$m=...,t=...,p=1$salt$hash"
};

/// Argon2id limits used for new hashes: libsodium's INTERACTIVE set (2 passes, 64 MiB).
/// docs/console.md explains the choice.
struct HashLimits {
    unsigned long long ops;
    std::size_t mem;
};
[[nodiscard]] HashLimits default_hash_limits() noexcept;

/// Hashes a password (random salt) with `limits`. Fails with "console.hash_failed" (Internal)
/// when libsodium cannot (out of memory). Thread-safe.
[[nodiscard]] filters::Result<std::string> hash_password(std::string_view password,
                                                         HashLimits limits = default_hash_limits());
/// Whether `password` matches `hash`; false for a malformed hash. Takes the time of one hash
/// whatever the outcome. Thread-safe.
[[nodiscard]] bool verify_password(const std::string& hash, std::string_view password) noexcept;
/// Whether `hash` was made with other limits than `limits` (the CLI re-hashes on passwd).
[[nodiscard]] bool needs_rehash(const std::string& hash,
                                HashLimits limits = default_hash_limits()) noexcept;

/// A user name: 1-64 characters of A-Z a-z 0-9 . _ @ - (no ':' and nothing a log or an audit
/// detail would need to quote).
[[nodiscard]] bool valid_user_name(std::string_view name) noexcept;

/// The users file in memory: its users in file order (comments are not kept: `save` writes one
/// header comment). Thread-compatible.
class UsersFile {
public:
    /// Reads `path`. Errors (all ErrorCode::Malformed unless said otherwise):
    /// "console.users_missing" (no such file), "console.users_unreadable" (Internal),
    /// "console.users_insecure" (group or world writable, or not a regular file),
    /// "console.users_malformed" (detail "PATH:LINE: why").
    [[nodiscard]] static filters::Result<UsersFile> load(const std::string& path);
    /// As load, but a missing file is an empty one (for `console user add`).
    [[nodiscard]] static filters::Result<UsersFile> load_or_empty(const std::string& path);

    /// The user with this exact name, or nullptr; valid until the next change.
    [[nodiscard]] const ConsoleUser* find(std::string_view name) const;
    [[nodiscard]] std::vector<ConsoleUser> users() const;

    /// Adds or replaces a user (false when `replace` is false and the name exists).
    bool put(ConsoleUser user, bool replace);
    /// Removes a user; false when there was none.
    bool remove(std::string_view name);

    /// Writes the file atomically (a temporary file with mode 0600 in the same directory, fsync,
    /// rename). Error "console.users_write_failed" (Internal).
    [[nodiscard]] filters::Result<void> save(const std::string& path) const;

private:
    std::vector<ConsoleUser> users_;
};

} // namespace mugaika::gateway::console
