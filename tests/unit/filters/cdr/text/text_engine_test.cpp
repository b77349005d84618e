#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

#include "filters/cdr/cdr.hpp"
#include "filters/text/charset.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;

namespace {

std::string sample(const std::string& name) {
    std::ifstream f(std::string(MUGAIKA_SOURCE_DIR) + "/samples/files/text/" + name,
                    std::ios::binary);
    REQUIRE_MESSAGE(f.good(), name);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

Result<Output> rebuild(const std::string& in, std::string_view name, const Options& o = {}) {
    return rebuild_with("text", std::as_bytes(std::span(in.data(), in.size())), name, o);
}

bool has(const Output& out, std::string_view kind, std::string_view location) {
    return std::any_of(out.removed.begin(), out.removed.end(),
                       [&](const Removed& r) { return r.kind == kind && r.location == location; });
}

constexpr std::string_view bom = "\xEF\xBB\xBF";

} // namespace

TEST_CASE("cdr.text: a Shift_JIS CSV becomes UTF-8 with a BOM, rows and quoting kept") {
    auto r = rebuild(sample("sjis.csv"), "名簿.csv");
    REQUIRE(r);
    const std::string expected = std::string(bom) +
                                 "番号,氏名,所属,金額,備考\r\n"
                                 "1,髙橋 太郎,総務課,\"1,200\",①会議室\r\n"
                                 "2,山﨑 花子,財政課,300,\"～引用\"\"符\"\"～\"\r\n"
                                 "3,ｶﾀｶﾅ 半角,情報政策課,45,㈱サンプル\r\n";
    CHECK(r->bytes == expected);
    CHECK(r->filename == "名簿.csv");
    CHECK(r->content_type == "text/csv; charset=utf-8");
    CHECK(has(*r, "text.reencoded", "cp932 -> utf-8"));
    CHECK(has(*r, "text.bom_added", "utf-8 bom"));
    CHECK(r->removed.size() == 2);
}

TEST_CASE("cdr.text: ISO-2022-JP text loses its control characters, not its escapes") {
    auto r = rebuild(sample("iso2022jp-control.txt"), "memo.txt");
    REQUIRE(r);
    // BEL, VT and DEL are removed; the ESC that starts no ISO-2022-JP escape is undecodable.
    CHECK(r->bytes == "会議のお知らせ\n日時: 4月10日 10時\n場所: 第1会議室\n\uFFFD[31m以上\n");
    CHECK(has(*r, "text.reencoded", "iso-2022-jp -> utf-8"));
    CHECK(has(*r, "text.control_chars", "3 characters"));
    CHECK(has(*r, "text.undecodable", "1 sequences replaced by U+FFFD"));
    CHECK(r->content_type == "text/plain; charset=utf-8");
}

TEST_CASE("cdr.text: an XML declaration follows the new charset; nothing else changes") {
    auto r = rebuild(sample("shift_jis-declared.xml"), "申請.xml");
    REQUIRE(r);
    CHECK(r->bytes == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<申請><氏名>髙橋 太郎</氏名>"
                      "<備考>①</備考></申請>\r\n");
    CHECK(has(*r, "text.reencoded", "cp932 -> utf-8"));
    CHECK(r->content_type == "application/xml; charset=utf-8");
}

TEST_CASE("cdr.text: JSON is re-encoded, never given a BOM") {
    auto r = rebuild(sample("eucjp.json"), "a.json");
    REQUIRE(r);
    CHECK(r->bytes ==
          "{\"name\": \"山田 太郎\", \"dept\": \"総務部 総務課 文書係\", \"note\": "
          "\"住民票の写しの交付申請について、窓口での受付時間を確認してください。\"}\n");
    CHECK(has(*r, "text.reencoded", "euc-jp -> utf-8"));
    CHECK(has(*r, "text.control_chars", "1 characters"));
    CHECK(r->content_type == "application/json");
}

TEST_CASE("cdr.text: UTF-16 with a BOM becomes UTF-8 with a BOM") {
    auto r = rebuild(sample("utf16le-bom.txt"), "a.txt");
    REQUIRE(r);
    CHECK(r->bytes == std::string(bom) + "件名: テスト\r\n本文です。\r\n");
    CHECK(has(*r, "text.reencoded", "utf-16le -> utf-8"));
}

TEST_CASE("cdr.text: UTF-8 CSV with its BOM comes back unchanged and nothing is reported") {
    const std::string in = sample("utf8-bom.csv");
    auto r = rebuild(in, "a.csv");
    REQUIRE(r);
    CHECK(r->bytes == in);
    CHECK(r->removed.empty());
}

TEST_CASE("cdr.text: LF text stays LF, bidi overrides are removed") {
    auto r = rebuild(std::string("a\nb\xE2\x80\xAE"
                                 "c\n"),
                     "x.txt");
    REQUIRE(r);
    CHECK(r->bytes == "a\nbc\n");
    CHECK(has(*r, "text.control_chars", "1 characters"));
}

TEST_CASE("cdr.text: undecodable bytes are replaced and counted") {
    auto r = rebuild(std::string("abc\xEF\xBB\xBF"
                                 "def\xFF\n"),
                     "x.txt");
    REQUIRE(r);
    CHECK(text::is_valid_utf8(r->bytes));
    CHECK(std::any_of(r->removed.begin(), r->removed.end(),
                      [](const Removed& x) { return x.kind == "text.undecodable"; }));
}

TEST_CASE("cdr.text: output larger than the limit is an error") {
    Options o;
    o.max_output_size = 10;
    auto r = rebuild(std::string(100, 'a'), "x.txt", o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::LimitExceeded);
    CHECK(r.error().what == "cdr.output_too_large");
    // The BOM counts too.
    o.max_output_size = 12;
    auto c = rebuild(std::string(10, 'a'), "x.csv", o);
    REQUIRE_FALSE(c);
    CHECK(c.error().what == "cdr.output_too_large");
}
