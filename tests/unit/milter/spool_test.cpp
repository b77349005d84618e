#include "milter/spool.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <random>

using namespace mugaika::milter;

namespace {
std::string temp_dir() {
    std::random_device rd;
    auto p = std::filesystem::temp_directory_path() /
             ("mugaika-spool-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    return p.string();
}
} // namespace

TEST_CASE("spool: a small message stays in memory, a large one moves to an unlinked file") {
    const std::string dir = temp_dir();
    std::string expected;
    {
        Spool s(dir, 100);
        for (int i = 0; i < 30; ++i) {
            const std::string chunk = "chunk " + std::to_string(i) + "\r\n";
            REQUIRE(s.append(chunk));
            expected += chunk;
            if (expected.size() <= 100) {
                CHECK(s.fd() < 0);
            }
        }
        CHECK(s.fd() >= 0);
        CHECK(s.size() == expected.size());
        auto v = s.view();
        REQUIRE(v);
        CHECK(*v == expected);
        // Appending after a view remaps.
        REQUIRE(s.append("tail"));
        auto v2 = s.view();
        REQUIRE(v2);
        CHECK(*v2 == expected + "tail");
        // Nothing with a name is left in the spool directory, even while the message lives.
        std::size_t named = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
            ++named;
        }
        CHECK(named == 0);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("spool: bytes arriving one at a time are kept exactly") {
    const std::string dir = temp_dir();
    std::string data;
    for (int i = 0; i < 5000; ++i) {
        data += static_cast<char>(i * 7 % 256);
    }
    for (std::size_t limit : {std::size_t{0}, std::size_t{17}, std::size_t{1} << 20}) {
        CAPTURE(limit);
        Spool s(dir, limit);
        for (char c : data) {
            REQUIRE(s.append(std::string_view(&c, 1)));
        }
        auto v = s.view();
        REQUIRE(v);
        CHECK(*v == data);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("spool: an unusable spool directory is an error, not a crash") {
    Spool s("/proc/mugaika-no-such-dir", 0);
    auto r = s.append("x");
    REQUIRE_FALSE(r);
    CHECK(r.error().what == "spool.write_failed");
}
