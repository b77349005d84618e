#include "gateway/console/authenticator.hpp"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <chrono>

#include "../test_support.hpp"

using namespace mugaika::gateway::console;
using mugaika::test::TempDir;

namespace {

constexpr HashLimits fast{1, 8192};
constexpr std::int64_t minute = 60 * 1000;

/// A users file with alice (auditor) and bob (admin), and an authenticator on a fake clock.
struct Fixture {
    TempDir dir;
    std::string path = dir.str() + "/users";
    std::int64_t now = 1'800'000'000'000;
    std::unique_ptr<Authenticator> auth;

    Fixture() {
        UsersFile f;
        f.put({"alice", ConsoleRole::Auditor, *hash_password("pw-alice", fast)}, false);
        f.put({"bob", ConsoleRole::Admin, *hash_password("pw-bob", fast)}, false);
        REQUIRE(f.save(path));
        AuthOptions o;
        o.users_path = path;
        o.lockout_failures = 3;
        o.lockout = std::chrono::minutes(15);
        o.session_idle = std::chrono::minutes(30);
        o.session_max = std::chrono::hours(8);
        o.now_ms = [this] { return now; };
        auth = std::make_unique<Authenticator>(o);
    }
};

} // namespace

TEST_CASE("console auth: the right password opens a session with a 256-bit id and CSRF token") {
    Fixture fx;
    auto out = fx.auth->login("bob", "pw-bob", "192.0.2.1");
    REQUIRE(out.result == LoginResult::Ok);
    REQUIRE(out.session);
    CHECK(out.session->id.size() == 64);
    CHECK(out.session->csrf.size() == 64);
    CHECK(out.session->id != out.session->csrf);
    CHECK(out.session->id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(out.session->role == ConsoleRole::Admin);
    auto s = fx.auth->session(out.session->id);
    REQUIRE(s);
    CHECK(s->user == "bob");
    CHECK(Authenticator::csrf_ok(*s, out.session->csrf));
    CHECK_FALSE(Authenticator::csrf_ok(*s, ""));
    CHECK_FALSE(Authenticator::csrf_ok(*s, out.session->id));
    CHECK_FALSE(Authenticator::csrf_ok(*s, out.session->csrf.substr(1)));
    fx.auth->logout(out.session->id);
    CHECK_FALSE(fx.auth->session(out.session->id));
    CHECK_FALSE(fx.auth->session(""));
    CHECK_FALSE(fx.auth->session(std::string(64, 'a')));
}

TEST_CASE("console auth: a wrong password and an unknown user fail alike") {
    Fixture fx;
    auto wrong = fx.auth->login("alice", "pw-bob", "192.0.2.1");
    CHECK(wrong.result == LoginResult::BadCredentials);
    CHECK_FALSE(wrong.session);
    auto unknown = fx.auth->login("mallory", "pw-alice", "192.0.2.2");
    CHECK(unknown.result == LoginResult::BadCredentials);
    CHECK_FALSE(unknown.session);
    CHECK(fx.auth->session_count() == 0);
}

TEST_CASE("console auth: failures lock the user name, and the lock expires") {
    Fixture fx;
    for (int i = 0; i < 2; ++i) {
        CHECK_FALSE(fx.auth->login("alice", "bad", "192.0.2." + std::to_string(i)).lock_started);
    }
    auto third = fx.auth->login("alice", "bad", "192.0.2.9");
    CHECK(third.result == LoginResult::BadCredentials);
    CHECK(third.lock_started);
    CHECK(third.locked == "user");
    // Locked: even the right password is not checked.
    auto locked = fx.auth->login("alice", "pw-alice", "198.51.100.1");
    CHECK(locked.result == LoginResult::LockedOut);
    CHECK(locked.locked == "user");
    CHECK(locked.locked_until_ms == fx.now + 15 * minute);
    // Another user is not affected.
    CHECK(fx.auth->login("bob", "pw-bob", "198.51.100.1").result == LoginResult::Ok);
    fx.now += 15 * minute;
    CHECK(fx.auth->login("alice", "pw-alice", "198.51.100.1").result == LoginResult::Ok);
}

TEST_CASE("console auth: failures from one address lock that address for every name") {
    Fixture fx;
    CHECK(fx.auth->login("x1", "bad", "203.0.113.5").result == LoginResult::BadCredentials);
    CHECK(fx.auth->login("x2", "bad", "203.0.113.5").result == LoginResult::BadCredentials);
    auto third = fx.auth->login("x3", "bad", "203.0.113.5");
    CHECK(third.lock_started);
    CHECK(third.locked == "address");
    CHECK(fx.auth->login("alice", "pw-alice", "203.0.113.5").result == LoginResult::LockedOut);
    CHECK(fx.auth->login("alice", "pw-alice", "203.0.113.6").result == LoginResult::Ok);
}

TEST_CASE("console auth: failures outside the window do not add up") {
    Fixture fx;
    CHECK(fx.auth->login("alice", "bad", "192.0.2.1").result == LoginResult::BadCredentials);
    CHECK(fx.auth->login("alice", "bad", "192.0.2.1").result == LoginResult::BadCredentials);
    fx.now += 16 * minute;
    auto third = fx.auth->login("alice", "bad", "192.0.2.1");
    CHECK_FALSE(third.lock_started);
    CHECK(fx.auth->login("alice", "pw-alice", "192.0.2.1").result == LoginResult::Ok);
}

TEST_CASE("console auth: sessions end when idle, when too old, and when the user goes") {
    Fixture fx;
    auto a = fx.auth->login("alice", "pw-alice", "192.0.2.1").session;
    REQUIRE(a);
    fx.now += 29 * minute;
    CHECK(fx.auth->session(a->id)); // renews the idle time
    fx.now += 29 * minute;
    CHECK(fx.auth->session(a->id));
    fx.now += 30 * minute;
    CHECK_FALSE(fx.auth->session(a->id)); // idle

    auto b = fx.auth->login("alice", "pw-alice", "192.0.2.1").session;
    REQUIRE(b);
    for (int i = 0; i < 16; ++i) {
        fx.now += 29 * minute;
        REQUIRE(fx.auth->session(b->id));
    }
    fx.now += 29 * minute; // 8 h 13 min after login
    CHECK_FALSE(fx.auth->session(b->id));

    auto c = fx.auth->login("bob", "pw-bob", "192.0.2.1").session;
    REQUIRE(c);
    auto users = UsersFile::load(fx.path);
    REQUIRE(users);
    users->put({"bob", ConsoleRole::Auditor, users->find("bob")->hash}, true);
    users->put({"carol", ConsoleRole::Auditor, users->find("bob")->hash}, false);
    REQUIRE(users->save(fx.path));
    CHECK_FALSE(fx.auth->session(c->id)); // role changed: log in again

    auto d = fx.auth->login("carol", "pw-bob", "192.0.2.1").session;
    REQUIRE(d);
    CHECK(fx.auth->session(d->id));
    users = UsersFile::load(fx.path);
    users->put({"carol", ConsoleRole::Auditor, *hash_password("new-pw", fast)}, true);
    REQUIRE(users->save(fx.path));
    CHECK_FALSE(fx.auth->session(d->id)); // new password: log in again
}

TEST_CASE("console auth: an insecure users file stops logins") {
    Fixture fx;
    ::chmod(fx.path.c_str(), 0666);
    auto out = fx.auth->login("alice", "pw-alice", "192.0.2.1");
    CHECK(out.result == LoginResult::Unavailable);
    CHECK(out.problem.find("console.users_insecure") != std::string::npos);
}
