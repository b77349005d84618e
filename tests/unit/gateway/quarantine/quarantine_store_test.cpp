#include "gateway/quarantine/quarantine_store.hpp"

#include <doctest/doctest.h>

#include <fstream>

#include "../test_support.hpp"
#include "gateway/util/encoding.hpp"

using namespace mugaika::gateway;

TEST_CASE("quarantine: an original is kept under its hash and read back byte for byte") {
    mugaika::test::TempDir dir;
    QuarantineStore q(dir.str() + "/q");
    std::string data = "From: a\r\n\r\n";
    data += std::string("\0\x01\xff binary", 10);
    const std::string id = sha256_hex(data);
    auto kept = q.keep(data, id);
    REQUIRE(kept);
    CHECK(*kept == id);
    CHECK(std::filesystem::exists(q.path_of(id)));
    auto again = q.keep(data, id);
    REQUIRE(again);
    auto back = q.read(id);
    REQUIRE(back);
    CHECK(*back == data);
}

TEST_CASE("quarantine: a damaged original is reported, never returned") {
    mugaika::test::TempDir dir;
    QuarantineStore q(dir.str());
    const std::string data = "original";
    const std::string id = sha256_hex(data);
    REQUIRE(q.keep(data, id));
    std::ofstream(q.path_of(id), std::ios::trunc) << "tampered";
    auto back = q.read(id);
    REQUIRE_FALSE(back);
    CHECK(back.error().what == "quarantine.corrupt");
    CHECK(q.read(std::string(64, 'a')).error().what == "quarantine.not_found");
    CHECK(q.read("../../etc/passwd").error().what == "quarantine.not_found");
}
