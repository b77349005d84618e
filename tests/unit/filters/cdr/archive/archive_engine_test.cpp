#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <zip.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/image/image_scan.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;

namespace {

std::string sample(const std::string& name) {
    std::ifstream f(std::string(MUGAIKA_SOURCE_DIR) + "/samples/files/archive/" + name,
                    std::ios::binary);
    REQUIRE_MESSAGE(f.good(), name);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

Result<Output> rebuild(const std::string& in, const Options& o = {}) {
    return rebuild_with("archive", bytes_of(in), "a.zip", o);
}

std::string why(const Result<Output>& r) {
    return r ? std::string() : std::string(r.error().what) + ": " + r.error().detail;
}

bool has(const Output& out, std::string_view kind, std::string_view location) {
    return std::any_of(out.removed.begin(), out.removed.end(),
                       [&](const Removed& r) { return r.kind == kind && r.location == location; });
}

/// A zip read back with libzip: names (raw bytes, and whether the UTF-8 flag makes a strict
/// reader see the same), contents.
struct Listing {
    std::vector<std::string> names;
    std::vector<std::string> data;
    bool names_flagged = true;
    std::string comment;

    [[nodiscard]] const std::string* find(std::string_view name) const {
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == name) {
                return &data[i];
            }
        }
        return nullptr;
    }
};

Listing list(const std::string& zip) {
    Listing l;
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(zip.data(), zip.size(), 0, &err);
    REQUIRE(src != nullptr);
    zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    REQUIRE_MESSAGE(za != nullptr, zip_error_strerror(&err));
    zip_error_fini(&err);
    const zip_int64_t n = zip_get_num_entries(za, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
        const auto u = static_cast<zip_uint64_t>(i);
        const std::string raw = zip_get_name(za, u, ZIP_FL_ENC_RAW);
        const std::string strict = zip_get_name(za, u, ZIP_FL_ENC_STRICT);
        l.names_flagged = l.names_flagged && raw == strict;
        l.names.push_back(raw);
        zip_stat_t st;
        REQUIRE(zip_stat_index(za, u, 0, &st) == 0);
        std::string data(st.size, '\0');
        zip_file_t* f = zip_fopen_index(za, u, 0);
        REQUIRE(f != nullptr);
        if (st.size > 0) {
            REQUIRE(zip_fread(f, data.data(), st.size) == static_cast<zip_int64_t>(st.size));
        }
        zip_fclose(f);
        l.data.push_back(std::move(data));
    }
    int clen = 0;
    const char* c = zip_get_archive_comment(za, &clen, ZIP_FL_ENC_RAW);
    l.comment = c != nullptr ? std::string(c, static_cast<std::size_t>(clen)) : "";
    zip_discard(za);
    return l;
}

/// A zip written with libzip from (name, data) pairs.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& members) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
    zip_source_keep(src);
    zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    REQUIRE(za != nullptr);
    for (const auto& [name, data] : members) {
        REQUIRE(zip_file_add(za, name.c_str(), zip_source_buffer(za, data.data(), data.size(), 0),
                             ZIP_FL_ENC_UTF_8) >= 0);
    }
    REQUIRE(zip_close(za) == 0);
    zip_stat_t st;
    REQUIRE(zip_source_stat(src, &st) == 0);
    std::string zip(st.size, '\0');
    REQUIRE(zip_source_open(src) == 0);
    REQUIRE(zip_source_read(src, zip.data(), zip.size()) == static_cast<zip_int64_t>(st.size));
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&err);
    return zip;
}

} // namespace

TEST_CASE("cdr.archive: members are rebuilt by their own engines, names kept as UTF-8") {
    auto r = rebuild(sample("text-and-image.zip"));
    REQUIRE_MESSAGE(r, why(r));
    CHECK(r->filename == "a.zip");
    CHECK(r->content_type == "application/zip");
    const Listing l = list(r->bytes);
    CHECK(l.names == std::vector<std::string>{"議事録.txt", "写真/photo.jpg", "集計.csv",
                                              "scan.png", "empty.txt"});
    CHECK(l.names_flagged);
    CHECK(l.comment.empty());
    CHECK(has(*r, "archive.comment", "archive"));
    // The JPEG lost its metadata, the CSV became UTF-8, the BMP a PNG.
    CHECK(has(*r, "image.metadata", "写真/photo.jpg: EXIF"));
    CHECK(has(*r, "image.converted", "scan.bmp: bmp -> png"));
    CHECK(has(*r, "text.reencoded", "集計.csv: cp932 -> utf-8"));
    REQUIRE(l.find("集計.csv") != nullptr);
    CHECK(*l.find("集計.csv") == "\xEF\xBB\xBF項目,値\r\n予算,\"1,200\"\r\n");
    const std::string* photo = l.find("写真/photo.jpg");
    REQUIRE(photo != nullptr);
    const auto scan = image::scan_image(bytes_of(*photo));
    CHECK(scan.format == image::ImageFormat::Jpeg);
    CHECK(scan.metadata.empty());
    CHECK(l.find("empty.txt")->empty());
}

TEST_CASE("cdr.archive: CP932 names without the UTF-8 flag are converted, 0x5C included") {
    auto r = rebuild(sample("cp932-names.zip"));
    REQUIRE_MESSAGE(r, why(r));
    const Listing l = list(r->bytes);
    CHECK(l.names == std::vector<std::string>{"ソフト一覧.txt", "表計算/予定表.csv"});
    CHECK(l.names_flagged);
    CHECK(*l.find("ソフト一覧.txt") == "一覧です\n");
}

TEST_CASE("cdr.archive: programs and scripts are dropped, nested zips rebuilt") {
    auto r = rebuild(sample("nested-exe.zip"));
    REQUIRE_MESSAGE(r, why(r));
    const Listing l = list(r->bytes);
    CHECK(l.names == std::vector<std::string>{"readme.txt", "inner.zip"});
    CHECK(has(*r, "archive.member_dropped",
              "tools/setup.exe (no_engine application/vnd.microsoft.portable-executable)"));
    const auto dropped_bat =
        std::find_if(r->removed.begin(), r->removed.end(), [](const Removed& x) {
            return x.kind == "archive.member_dropped" &&
                   x.location.starts_with("inner.zip/run.bat");
        });
    CHECK(dropped_bat != r->removed.end());
    const Listing inner = list(*l.find("inner.zip"));
    CHECK(inner.names == std::vector<std::string>{"memo.txt"});
    CHECK(*inner.find("memo.txt") == "メモ\n");
}

TEST_CASE("cdr.archive: nesting deeper than max_archive_depth is dropped") {
    auto r = rebuild(sample("deep-nesting.zip")); // level2.zip/level3.zip/level4.zip/a.txt
    REQUIRE_MESSAGE(r, why(r));
    CHECK(has(*r, "archive.member_dropped", "level2.zip/level3.zip/level4.zip (too_deep)"));
    const Listing l1 = list(r->bytes);
    const Listing l2 = list(*l1.find("level2.zip"));
    const Listing l3 = list(*l2.find("level3.zip"));
    CHECK(l3.names == std::vector<std::string>{"level4.txt"});
    Options o;
    o.max_archive_depth = 4;
    auto deeper = rebuild(sample("deep-nesting.zip"), o);
    REQUIRE(deeper);
    CHECK(std::none_of(deeper->removed.begin(), deeper->removed.end(),
                       [](const Removed& x) { return x.kind == "archive.member_dropped"; }));
    o.max_archive_depth = 1;
    auto flat = rebuild(sample("deep-nesting.zip"), o);
    REQUIRE(flat);
    CHECK(has(*flat, "archive.member_dropped", "level2.zip (too_deep)"));
}

TEST_CASE("cdr.archive: a member whose engine refuses is dropped with the engine's code") {
    // The macro document goes to the OOXML engine; whatever it answers, a refusal drops the
    // member with its error code, and a rebuilt document is kept. Test the refusal through a
    // member no engine can read: a truncated PNG.
    auto r = rebuild(sample("docm-inside.zip"));
    REQUIRE_MESSAGE(r, why(r));
    const Listing l = list(r->bytes);
    CHECK(l.find("memo.txt") != nullptr);
    const bool docm_dropped =
        std::any_of(r->removed.begin(), r->removed.end(), [](const Removed& x) {
            return x.kind == "archive.member_dropped" &&
                   x.location.starts_with("入力様式.docm (cdr.");
        });
    CHECK(docm_dropped ==
          (l.find("入力様式.docm") == nullptr && l.find("入力様式.docx") == nullptr));

    std::ifstream f(std::string(MUGAIKA_SOURCE_DIR) + "/samples/files/image/truncated.png",
                    std::ios::binary);
    const std::string png{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    const std::string zip = make_zip({{"broken.png", png}, {"hello.txt", "hello\n"}});
    auto b = rebuild(zip);
    REQUIRE_MESSAGE(b, why(b));
    CHECK(has(*b, "archive.member_dropped", "broken.png (cdr.image.malformed)"));
    CHECK(list(b->bytes).names == std::vector<std::string>{"hello.txt"});
}

TEST_CASE("cdr.archive: an encrypted zip is refused, no password tried") {
    auto r = rebuild(sample("encrypted.zip"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::Malformed);
    CHECK(r.error().what == "cdr.archive.encrypted");
}

TEST_CASE("cdr.archive: a zip bomb is stopped at max_expanded_size") {
    auto r = rebuild(sample("zip-bomb.zip")); // 8 x 64 MiB of zeros, limit 500 MiB
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::LimitExceeded);
    CHECK(r.error().what == "cdr.archive.bomb");
    Options o;
    o.max_expanded_size = 1 << 20;
    auto small = rebuild(sample("text-and-image.zip"), o);
    CHECK(small);
    o.max_expanded_size = 1000;
    auto tight = rebuild(sample("text-and-image.zip"), o);
    REQUIRE_FALSE(tight);
    CHECK(tight.error().what == "cdr.archive.bomb");
}

TEST_CASE("cdr.archive: a member inflating past its declared size is a bomb") {
    auto r = rebuild(sample("bomb-lying-header.zip")); // says 1000 bytes, inflates to 8 MiB
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::LimitExceeded);
    CHECK(r.error().what == "cdr.archive.bomb");
}

TEST_CASE("cdr.archive: the member count is bounded across nesting") {
    Options o;
    o.max_archive_members = 5;
    CHECK(rebuild(sample("nested-exe.zip"), o)); // 3 members, then 2 inside: 5
    o.max_archive_members = 4;
    auto r = rebuild(sample("nested-exe.zip"), o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::LimitExceeded);
    CHECK(r.error().what == "cdr.archive.too_many_members");
}

TEST_CASE("cdr.archive: traversal names, duplicates and links are dropped and listed") {
    auto r = rebuild(sample("traversal.zip"));
    REQUIRE_MESSAGE(r, why(r));
    CHECK(list(r->bytes).names == std::vector<std::string>{"ok.txt", "dup.txt"});
    CHECK(has(*r, "archive.member_dropped", "../../etc/cron.d/evil (unsafe_path)"));
    CHECK(has(*r, "archive.member_dropped", "/abs/path.txt (unsafe_path)"));
    CHECK(has(*r, "archive.member_dropped", "C:/Windows/evil.txt (unsafe_path)"));
    CHECK(has(*r, "archive.member_dropped", "DUP.txt (duplicate_name)"));
    auto s = rebuild(sample("symlink.zip"));
    REQUIRE(s);
    CHECK(has(*s, "archive.member_dropped", "link-to-passwd (not_a_regular_file)"));
    CHECK(list(s->bytes).names == std::vector<std::string>{"ok.txt"});
}

TEST_CASE("cdr.archive: truncated and garbage zips are errors") {
    for (const std::string& in : {sample("truncated.zip"), std::string("PK\x03\x04garbage"),
                                  std::string("not a zip at all")}) {
        auto r = rebuild(in);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::Malformed);
        CHECK(r.error().what == "cdr.archive.malformed");
    }
}

TEST_CASE("cdr.archive: an archive whose members are all dropped is an empty zip") {
    const std::string zip =
        make_zip({{"setup.exe", sample("nested-exe.zip").substr(0, 0) + std::string("MZ\x90\0", 4) +
                                    std::string(200, '\0')}});
    auto r = rebuild(zip);
    REQUIRE_MESSAGE(r, why(r));
    CHECK(r->bytes.size() == 22);
    CHECK(list(r->bytes).names.empty());
    CHECK(r->removed.size() == 1);
}
