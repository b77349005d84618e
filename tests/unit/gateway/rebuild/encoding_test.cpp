#include "gateway/util/encoding.hpp"

#include <doctest/doctest.h>

using namespace mugaika::gateway;

TEST_CASE("encoding: base64 lines are at most 76 characters and end in CRLF") {
    const std::string data(1000, 'x');
    const std::string b = base64_encode_lines(data);
    std::size_t start = 0;
    while (start < b.size()) {
        const auto eol = b.find("\r\n", start);
        REQUIRE(eol != std::string::npos);
        CHECK(eol - start <= 76);
        start = eol + 2;
    }
    CHECK(base64_encode_lines("ab") == "YWI=\r\n");
    CHECK(base64_encode_lines("abc") == "YWJj\r\n");
    CHECK(base64_encode_lines("").empty());
}

TEST_CASE("encoding: quoted-printable keeps lines short and encodes trailing space") {
    const std::string qp = quoted_printable_encode("a \nこんにちは=\n" + std::string(200, 'y'));
    CHECK(qp.find("a=20\r\n") == 0);
    CHECK(qp.find("=E3=81=93") != std::string::npos);
    CHECK(qp.find("=3D") != std::string::npos);
    std::size_t start = 0;
    while (start < qp.size()) {
        const auto eol = qp.find("\r\n", start);
        REQUIRE(eol != std::string::npos);
        CHECK(eol - start <= 76);
        start = eol + 2;
    }
}

TEST_CASE("encoding: sha256, thousands and dates") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(group_thousands(1234567) == "1,234,567");
    CHECK(group_thousands(12) == "12");
    CHECK(iso8601_utc(1795219200123) == "2026-11-21T00:00:00.123Z");
    CHECK(rfc5322_date(1795219200000) == "Sat, 21 Nov 2026 00:00:00 +0000");
    CHECK(to_crlf("a\nb\r\nc\rd") == "a\r\nb\r\nc\r\nd");
}
