#include "gateway/console/users_file.hpp"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <fstream>

#include "../test_support.hpp"

using namespace mugaika::gateway::console;
using mugaika::test::TempDir;

namespace {

/// Argon2id at libsodium's minimum: the tests check behaviour, not cost.
constexpr HashLimits fast{1, 8192};

void write(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
}

} // namespace

TEST_CASE("console users: a password verifies against its Argon2id hash, a wrong one does not") {
    auto h = hash_password("correct horse", fast);
    REQUIRE(h);
    CHECK(h->rfind("$argon2id$", 0) == 0);
    CHECK(verify_password(*h, "correct horse"));
    CHECK_FALSE(verify_password(*h, "correct hors"));
    CHECK_FALSE(verify_password(*h, ""));
    CHECK_FALSE(verify_password("not a hash", "correct horse"));
    // Salted: the same password hashes differently every time.
    auto h2 = hash_password("correct horse", fast);
    REQUIRE(h2);
    CHECK(*h != *h2);
    CHECK(needs_rehash(*h));
    auto strong = hash_password("x");
    REQUIRE(strong);
    CHECK_FALSE(needs_rehash(*strong));
}

TEST_CASE("console users: roles and permissions") {
    CHECK(parse_role("auditor") == ConsoleRole::Auditor);
    CHECK(parse_role("admin") == ConsoleRole::Admin);
    CHECK_FALSE(parse_role("root"));
    CHECK(allowed(ConsoleRole::Auditor, Permission::Read));
    CHECK_FALSE(allowed(ConsoleRole::Auditor, Permission::DecideReleases));
    CHECK(allowed(ConsoleRole::Admin, Permission::Read));
    CHECK(allowed(ConsoleRole::Admin, Permission::DecideReleases));
    CHECK(valid_user_name("suzuki.hanako@city-a"));
    CHECK_FALSE(valid_user_name(""));
    CHECK_FALSE(valid_user_name("a:b"));
    CHECK_FALSE(valid_user_name("a b"));
    CHECK_FALSE(valid_user_name(std::string(65, 'a')));
}

TEST_CASE("console users: the file is saved 0600 and read back; add, replace and remove") {
    TempDir dir;
    const std::string path = dir.str() + "/users";
    auto f = UsersFile::load_or_empty(path);
    REQUIRE(f);
    CHECK(f->users().empty());
    CHECK_FALSE(UsersFile::load(path));
    CHECK(UsersFile::load(path).error().what == "console.users_missing");
    CHECK(f->put({"alice", ConsoleRole::Auditor, *hash_password("pw-alice", fast)}, false));
    CHECK(f->put({"bob", ConsoleRole::Admin, *hash_password("pw-bob", fast)}, false));
    CHECK_FALSE(f->put({"bob", ConsoleRole::Auditor, "x"}, false));
    REQUIRE(f->save(path));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto g = UsersFile::load(path);
    REQUIRE(g);
    REQUIRE(g->users().size() == 2);
    CHECK(g->find("bob")->role == ConsoleRole::Admin);
    CHECK(verify_password(g->find("alice")->hash, "pw-alice"));
    CHECK(g->remove("alice"));
    CHECK_FALSE(g->remove("alice"));
    CHECK(g->find("alice") == nullptr);
}

TEST_CASE("console users: a group or world writable file is refused") {
    TempDir dir;
    const std::string path = dir.str() + "/users";
    const std::string line = "alice:auditor:" + *hash_password("pw", fast) + "\n";
    for (mode_t mode : {0620, 0602, 0666}) {
        CAPTURE(mode);
        write(path, line, mode);
        auto f = UsersFile::load(path);
        REQUIRE_FALSE(f);
        CHECK(f.error().what == "console.users_insecure");
        CHECK(f.error().detail.find("writable") != std::string::npos);
    }
    write(path, line, 0640);
    CHECK(UsersFile::load(path));
    CHECK(UsersFile::load(dir.str()).error().what == "console.users_insecure"); // a directory
}

TEST_CASE("console users: malformed lines are reported with file and line") {
    TempDir dir;
    const std::string path = dir.str() + "/users";
    const std::string hash = *hash_password("pw", fast);
    struct Case {
        std::string text;
        std::string says;
    };
    for (const Case& c : {Case{"# c\nalice\n", ":2: expected name:role:hash"},
                          Case{"alice:root:" + hash + "\n", ":1: role must be"},
                          Case{"al ice:auditor:" + hash + "\n", ":1: invalid user name"},
                          Case{"alice:auditor:$2y$10$bcrypt\n", ":1: not an Argon2id hash"},
                          Case{"alice:auditor:" + hash + "\nalice:admin:" + hash + "\n",
                               ":2: user alice appears twice"}}) {
        CAPTURE(c.text);
        write(path, c.text, 0600);
        auto f = UsersFile::load(path);
        REQUIRE_FALSE(f);
        CHECK(f.error().what == "console.users_malformed");
        CHECK(f.error().detail.find(path + c.says) != std::string::npos);
    }
    write(path, "# comment\n\n  # indented comment\nalice:auditor:" + hash + "\r\n", 0600);
    auto ok = UsersFile::load(path);
    REQUIRE(ok);
    CHECK(ok->users().size() == 1);
}
