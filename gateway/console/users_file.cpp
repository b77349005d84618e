#include "gateway/console/users_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sodium.h>

namespace mugaika::gateway::console {

using filters::ErrorCode;
using filters::fail;

std::string_view to_string(ConsoleRole r) noexcept {
    return r == ConsoleRole::Admin ? "admin" : "auditor";
}

bool allowed(ConsoleRole role, Permission p) noexcept {
    return p == Permission::Read || role == ConsoleRole::Admin;
}

std::optional<ConsoleRole> parse_role(std::string_view s) noexcept {
    if (s == "auditor") {
        return ConsoleRole::Auditor;
    }
    if (s == "admin") {
        return ConsoleRole::Admin;
    }
    return std::nullopt;
}

HashLimits default_hash_limits() noexcept {
    return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

filters::Result<std::string> hash_password(std::string_view password, HashLimits limits) {
    if (sodium_init() < 0) {
        return fail(ErrorCode::Internal, "console.hash_failed", "sodium_init failed");
    }
    std::string out(crypto_pwhash_STRBYTES, '\0');
    if (crypto_pwhash_str(out.data(), password.data(), password.size(), limits.ops, limits.mem) !=
        0) {
        return fail(ErrorCode::Internal, "console.hash_failed", "out of memory");
    }
    out.resize(std::strlen(out.c_str()));
    return out;
}

bool verify_password(const std::string& hash, std::string_view password) noexcept {
    if (sodium_init() < 0 || hash.size() >= crypto_pwhash_STRBYTES) {
        return false;
    }
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool needs_rehash(const std::string& hash, HashLimits limits) noexcept {
    return crypto_pwhash_str_needs_rehash(hash.c_str(), limits.ops, limits.mem) != 0;
}

bool valid_user_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '@' || c == '-';
    });
}

namespace {

filters::Result<UsersFile> load_impl(const std::string& path, bool missing_ok) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            if (missing_ok) {
                return UsersFile{};
            }
            return fail(ErrorCode::Malformed, "console.users_missing",
                        path + ": no such file (create users with `mugaika console user add`)");
        }
        return fail(ErrorCode::Internal, "console.users_unreadable",
                    path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorCode::Malformed, "console.users_insecure", path + ": not a regular file");
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return fail(ErrorCode::Malformed, "console.users_insecure",
                    path + ": group or world writable; run: chmod go-w " + path);
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return fail(ErrorCode::Internal, "console.users_unreadable",
                    path + ": " + std::strerror(errno));
    }
    UsersFile file;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') {
            continue;
        }
        const auto a = line.find(':');
        const auto b = a == std::string::npos ? a : line.find(':', a + 1);
        const std::string where = path + ":" + std::to_string(number) + ": ";
        if (b == std::string::npos) {
            return fail(ErrorCode::Malformed, "console.users_malformed",
                        where + "expected name:role:hash");
        }
        ConsoleUser u;
        u.name = line.substr(0, a);
        auto role = parse_role(std::string_view(line).substr(a + 1, b - a - 1));
        u.hash = line.substr(b + 1);
        if (!valid_user_name(u.name)) {
            return fail(ErrorCode::Malformed, "console.users_malformed",
                        where + "invalid user name (A-Z a-z 0-9 . _ @ -, at most 64)");
        }
        if (!role) {
            return fail(ErrorCode::Malformed, "console.users_malformed",
                        where + "role must be auditor or admin");
        }
        u.role = *role;
        if (u.hash.rfind("$argon2id$", 0) != 0 || u.hash.size() >= crypto_pwhash_STRBYTES) {
            return fail(ErrorCode::Malformed, "console.users_malformed",
                        where + "not an Argon2id hash (use `mugaika console user passwd`)");
        }
        if (file.find(u.name) != nullptr) {
            return fail(ErrorCode::Malformed, "console.users_malformed",
                        where + "user " + u.name + " appears twice");
        }
        file.put(std::move(u), false);
    }
    return file;
}

} // namespace

filters::Result<UsersFile> UsersFile::load(const std::string& path) {
    return load_impl(path, false);
}

filters::Result<UsersFile> UsersFile::load_or_empty(const std::string& path) {
    return load_impl(path, true);
}

const ConsoleUser* UsersFile::find(std::string_view name) const {
    for (const ConsoleUser& u : users_) {
        if (u.name == name) {
            return &u;
        }
    }
    return nullptr;
}

std::vector<ConsoleUser> UsersFile::users() const {
    return users_;
}

bool UsersFile::put(ConsoleUser user, bool replace) {
    for (ConsoleUser& u : users_) {
        if (u.name == user.name) {
            if (!replace) {
                return false;
            }
            u = std::move(user);
            return true;
        }
    }
    users_.push_back(std::move(user));
    return true;
}

bool UsersFile::remove(std::string_view name) {
    auto it = std::find_if(users_.begin(), users_.end(),
                           [&](const ConsoleUser& u) { return u.name == name; });
    if (it == users_.end()) {
        return false;
    }
    users_.erase(it);
    return true;
}

filters::Result<void> UsersFile::save(const std::string& path) const {
    std::ostringstream out;
    out << "# mugaika console users: name:role:hash (Argon2id). Managed by `mugaika console "
           "user`.\n";
    for (const ConsoleUser& u : users_) {
        out << u.name << ':' << to_string(u.role) << ':' << u.hash << '\n';
    }
    const std::string data = out.str();
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail(ErrorCode::Internal, "console.users_write_failed",
                    tmp + ": " + std::strerror(errno));
    }
    bool ok = ::fchmod(fd, 0600) == 0;
    std::size_t done = 0;
    while (ok && done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = n > 0;
        done += ok ? static_cast<std::size_t>(n) : 0;
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(ok ? errno : saved);
        ::unlink(tmp.c_str());
        return fail(ErrorCode::Internal, "console.users_write_failed", path + ": " + why);
    }
    return {};
}

} // namespace mugaika::gateway::console
