#include "gateway/console/authenticator.hpp"

#include <sys/stat.h>

#include <algorithm>

#include <sodium.h>

namespace mugaika::gateway::console {

std::string random_token() {
    if (sodium_init() < 0) {
        // randombytes cannot work without it; an empty token matches nothing.
        return {};
    }
    unsigned char bytes[32];
    randombytes_buf(bytes, sizeof bytes);
    char hex[sizeof bytes * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
    return std::string(hex, sizeof bytes * 2);
}

Authenticator::Authenticator(AuthOptions options) : options_(std::move(options)) {
    if (!options_.now_ms) {
        options_.now_ms = [] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
    }
    // Unknown users are verified against this, so that they take as long as known ones.
    auto h = hash_password(random_token());
    dummy_hash_ = h ? *h : std::string();
}

filters::Result<UsersFile> Authenticator::users_locked() {
    struct stat st {};
    if (::stat(options_.users_path.c_str(), &st) == 0 && users_ &&
        st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == users_mtime_ns_ &&
        st.st_size == users_size_ && static_cast<std::int64_t>(st.st_ino) == users_ino_ &&
        (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) {
        return *users_;
    }
    auto f = UsersFile::load(options_.users_path);
    if (!f) {
        users_.reset();
        return f;
    }
    users_ = *f;
    users_mtime_ns_ = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    users_size_ = st.st_size;
    // `console user` replaces the file (rename): a new inode even within one mtime tick.
    users_ino_ = static_cast<std::int64_t>(st.st_ino);
    return f;
}

filters::Result<UsersFile> Authenticator::users() {
    std::lock_guard lock(mutex_);
    return users_locked();
}

std::int64_t Authenticator::locked_until(const std::string& key, std::int64_t now) {
    auto it = failures_.find(key);
    return it != failures_.end() && it->second.locked_until > now ? it->second.locked_until : 0;
}

bool Authenticator::add_failure(const std::string& key, std::int64_t now) {
    Failures& f = failures_[key];
    const std::int64_t window = options_.lockout.count();
    f.times.erase(std::remove_if(f.times.begin(), f.times.end(),
                                 [&](std::int64_t t) { return t <= now - window; }),
                  f.times.end());
    f.times.push_back(now);
    if (f.times.size() >= options_.lockout_failures) {
        f.times.clear();
        f.locked_until = now + window;
        return true;
    }
    return false;
}

void Authenticator::prune(std::int64_t now) {
    // Bounded memory under a password-guessing flood from many names or addresses.
    if (failures_.size() < 10000) {
        return;
    }
    const std::int64_t window = options_.lockout.count();
    for (auto it = failures_.begin(); it != failures_.end();) {
        const bool stale = it->second.locked_until <= now &&
                           (it->second.times.empty() || it->second.times.back() <= now - window);
        it = stale ? failures_.erase(it) : std::next(it);
    }
}

LoginOutcome Authenticator::login(const std::string& user, std::string_view password,
                                  const std::string& client_addr) {
    LoginOutcome out;
    const std::string user_key = "user:" + user;
    const std::string addr_key = "addr:" + client_addr;
    std::optional<ConsoleUser> account;
    {
        std::lock_guard lock(mutex_);
        const std::int64_t now = options_.now_ms();
        const std::int64_t u = locked_until(user_key, now);
        const std::int64_t a = locked_until(addr_key, now);
        if (u != 0 || a != 0) {
            out.result = LoginResult::LockedOut;
            out.locked = u != 0 && a != 0 ? "user,address" : u != 0 ? "user" : "address";
            out.locked_until_ms = std::max(u, a);
            return out;
        }
        auto file = users_locked();
        if (!file) {
            out.result = LoginResult::Unavailable;
            out.problem = std::string(file.error().what) + ": " + file.error().detail;
            return out;
        }
        if (const ConsoleUser* found = file->find(user)) {
            account = *found;
        }
    }
    // Outside the lock: Argon2 takes tens of milliseconds and 64 MiB.
    hashing_.acquire();
    const bool ok = account ? verify_password(account->hash, password)
                            : (static_cast<void>(verify_password(dummy_hash_, password)), false);
    hashing_.release();
    std::lock_guard lock(mutex_);
    const std::int64_t now = options_.now_ms();
    if (!ok) {
        prune(now);
        const bool lock_user = add_failure(user_key, now);
        const bool lock_addr = add_failure(addr_key, now);
        out.result = LoginResult::BadCredentials;
        if (lock_user || lock_addr) {
            out.lock_started = true;
            out.locked = lock_user && lock_addr ? "user,address" : lock_user ? "user" : "address";
            out.locked_until_ms = now + options_.lockout.count();
        }
        return out;
    }
    failures_.erase(user_key);
    if (sessions_.size() >= options_.max_sessions) {
        auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& x, auto& y) {
            return x.second.last_seen_ms < y.second.last_seen_ms;
        });
        session_hash_.erase(oldest->first);
        sessions_.erase(oldest);
    }
    Session s;
    s.id = random_token();
    s.csrf = random_token();
    s.user = account->name;
    s.role = account->role;
    s.created_ms = now;
    s.last_seen_ms = now;
    if (s.id.empty() || s.csrf.empty()) {
        out.result = LoginResult::Unavailable;
        out.problem = "console.random_failed";
        return out;
    }
    sessions_[s.id] = s;
    session_hash_[s.id] = account->hash;
    out.result = LoginResult::Ok;
    out.session = std::move(s);
    return out;
}

std::optional<Session> Authenticator::session(const std::string& id) {
    if (id.size() != 64) {
        return std::nullopt;
    }
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
        return std::nullopt;
    }
    const std::int64_t now = options_.now_ms();
    Session& s = it->second;
    auto file = users_locked();
    const ConsoleUser* u = file ? file->find(s.user) : nullptr;
    if (now - s.last_seen_ms >= options_.session_idle.count() ||
        now - s.created_ms >= options_.session_max.count() || u == nullptr || u->role != s.role ||
        u->hash != session_hash_[id]) {
        session_hash_.erase(id);
        sessions_.erase(it);
        return std::nullopt;
    }
    s.last_seen_ms = now;
    return s;
}

void Authenticator::logout(const std::string& id) {
    std::lock_guard lock(mutex_);
    session_hash_.erase(id);
    sessions_.erase(id);
}

bool Authenticator::csrf_ok(const Session& s, std::string_view token) noexcept {
    return !s.csrf.empty() && token.size() == s.csrf.size() &&
           sodium_memcmp(s.csrf.data(), token.data(), token.size()) == 0;
}

std::size_t Authenticator::session_count() {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

} // namespace mugaika::gateway::console
