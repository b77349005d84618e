#include "gateway/rebuild/header_edit.hpp"

#include <doctest/doctest.h>

using namespace mugaika::gateway;
using Kind = HeaderEdit::Kind;

TEST_CASE("header_edit: the edits turn the received header into the sanitized one") {
    const std::vector<HeaderField> received{
        {"Received", " from a\n\tby b"},     {"From", " a@example.com"},
        {"Subject", " =?ISO-2022-JP?B?x?="}, {"MIME-Version", " 1.0"},
        {"Content-Type", " text/html"},      {"X-Mugaika-Sanitized", " forged"},
        {"X-Mugaika-Sanitized", " forged2"}};
    const std::string out = "Received: from a\r\n\tby b\r\nFrom: a@example.com\r\n"
                            "Subject: =?UTF-8?B?y?=\r\n"
                            "X-Mugaika-Sanitized: audit=MG-1; mode=text\r\nMIME-Version: 1.0\r\n"
                            "Content-Type: text/plain; charset=UTF-8\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\nYm9keQ==\r\n";
    const auto edits = plan_header_edits(received, split_header_block(out));
    REQUIRE(edits.size() == 5);
    CHECK(edits[0].kind == Kind::Change);
    CHECK(edits[0].name == "Content-Type");
    CHECK(edits[0].value == "text/plain; charset=UTF-8");
    CHECK(edits[1].kind == Kind::Change);
    CHECK(edits[1].name == "Subject");
    CHECK(edits[2].kind == Kind::Change);
    CHECK(edits[2].name == "X-Mugaika-Sanitized");
    CHECK(edits[2].index == 1);
    CHECK(edits[2].value == "audit=MG-1; mode=text");
    CHECK(edits[3].kind == Kind::Append);
    CHECK(edits[3].name == "Content-Transfer-Encoding");
    CHECK(edits[4].kind == Kind::Remove);
    CHECK(edits[4].name == "X-Mugaika-Sanitized");
    CHECK(edits[4].index == 2);
    CHECK(body_of(out) == "Ym9keQ==\r\n");
}

TEST_CASE("header_edit: removals go from the last occurrence down, inserts keep their order") {
    const std::vector<HeaderField> received{{"X-A", " 1"}, {"X-A", " 2"}, {"X-A", " 3"}};
    const std::vector<HeaderField> wanted{{"X-Mugaika-One", " a"}, {"X-Mugaika-Two", " b"}};
    const auto edits = plan_header_edits(received, wanted);
    REQUIRE(edits.size() == 5);
    CHECK(edits[0].kind == Kind::Insert);
    CHECK(edits[0].name == "X-Mugaika-Two");
    CHECK(edits[1].name == "X-Mugaika-One");
    CHECK(edits[2].index == 3);
    CHECK(edits[3].index == 2);
    CHECK(edits[4].index == 1);
}

TEST_CASE("header_edit: folding and leading space differences are not changes") {
    const std::vector<HeaderField> received{{"Subject", "  long\n subject"}};
    const std::vector<HeaderField> wanted{{"Subject", " long\r\n subject\r\n"}};
    CHECK(plan_header_edits(received, wanted).empty());
    CHECK(body_of("no body at all").empty());
    CHECK(body_of("A: b\n\nbody") == "body");
}
