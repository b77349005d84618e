#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>

#include "filters/core/result.hpp"
#include "gateway/console/users_file.hpp"

namespace mugaika::gateway::console {

/// The console's limits, from [console].
struct AuthOptions {
    std::string users_path;
    unsigned lockout_failures = 5;
    std::chrono::milliseconds lockout{std::chrono::minutes(15)}; ///< also the counting window
    std::chrono::milliseconds session_idle{std::chrono::minutes(30)};
    std::chrono::milliseconds session_max{std::chrono::hours(8)};
    std::size_t max_sessions = 10000;     ///< the oldest session ends when a new one would exceed
    std::function<std::int64_t()> now_ms; ///< default: system clock (tests inject their own)
};

/// One logged-in user. Plain value (a copy of the server's record).
struct Session {
    std::string id;   ///< 64 hex digits (256 random bits): the cookie value
    std::string csrf; ///< 64 hex digits: the form field / X-CSRF-Token value
    std::string user;
    ConsoleRole role = ConsoleRole::Auditor;
    std::int64_t created_ms = 0;
    std::int64_t last_seen_ms = 0;
};

/// How a login attempt ended.
enum class LoginResult : std::uint8_t {
    Ok,             ///< a new session
    BadCredentials, ///< unknown user or wrong password (never said which)
    LockedOut,      ///< too many failures for this name or address: not even checked
    Unavailable,    ///< the users file cannot be read (insecure, malformed): logged, no login
};

struct LoginOutcome {
    LoginResult result = LoginResult::BadCredentials;
    std::optional<Session> session; ///< set for Ok
    bool lock_started = false;      ///< this failure started a lockout (audited as locked_out)
    std::string locked;             ///< "user", "address" or "user,address" when locked
    std::int64_t locked_until_ms = 0;
    std::string problem; ///< Unavailable: the error code and detail
};

/// Users, failed-login lockouts and sessions of one console. Thread-safe: every public function
/// takes one internal mutex, except the password hashing, which runs outside it (so that logins
/// do not queue behind each other's Argon2 work).
class Authenticator {
public:
    explicit Authenticator(AuthOptions options);

    /// Checks a user name and password from `client_addr`. An unknown user costs the same time
    /// as a wrong password (verified against a dummy hash). Failures count per name and per
    /// address; `lockout_failures` of them within `lockout` lock that name or address for
    /// `lockout`. A success clears the name's failures (not the address's).
    [[nodiscard]] LoginOutcome login(const std::string& user, std::string_view password,
                                     const std::string& client_addr);

    /// The session with this id, its idle time renewed; nullopt when unknown, idle too long,
    /// older than session_max, or when its user was removed, changed role or got a new password
    /// in the users file (the session then ends).
    [[nodiscard]] std::optional<Session> session(const std::string& id);

    /// Ends a session (no-op when unknown).
    void logout(const std::string& id);

    /// Whether `token` is the session's CSRF token (constant time).
    [[nodiscard]] static bool csrf_ok(const Session& s, std::string_view token) noexcept;

    /// The users file now in force (re-read when its size, time or inode changed). Errors as
    /// UsersFile::load.
    [[nodiscard]] filters::Result<UsersFile> users();

    /// Sessions now held (for tests).
    [[nodiscard]] std::size_t session_count();

private:
    struct Failures {
        std::vector<std::int64_t> times; ///< within the window
        std::int64_t locked_until = 0;
    };
    filters::Result<UsersFile> users_locked();
    std::int64_t locked_until(const std::string& key, std::int64_t now);
    bool add_failure(const std::string& key, std::int64_t now); ///< true when it starts a lock
    void prune(std::int64_t now);

    AuthOptions options_;
    std::string dummy_hash_;
    std::mutex mutex_;
    std::optional<UsersFile> users_;
    std::int64_t users_mtime_ns_ = -1;
    std::int64_t users_size_ = -1;
    std::int64_t users_ino_ = -1;
    std::map<std::string, Failures> failures_; ///< "user:NAME" / "addr:ADDR"
    std::map<std::string, Session> sessions_;
    std::map<std::string, std::string> session_hash_; ///< id -> the password hash at login
    /// At most two Argon2 verifications at once (64 MiB each): a login flood queues instead of
    /// taking the machine's memory.
    std::counting_semaphore<2> hashing_{2};
};

/// 32 random bytes (libsodium randombytes) as 64 lower-case hex digits.
[[nodiscard]] std::string random_token();

} // namespace mugaika::gateway::console
