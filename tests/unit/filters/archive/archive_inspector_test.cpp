#include "filters/archive/archive_inspector.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <locale.h>

namespace {

using namespace mugaika::filters::archive;
using Bytes = std::vector<std::byte>;

Bytes to_bytes(std::string_view s) {
    Bytes b(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return b;
}

struct Entry {
    std::string name;
    std::string data;
};

la_ssize_t append_cb(struct archive* /*a*/, void* ctx, const void* buf, size_t n) {
    auto* out = static_cast<Bytes*>(ctx);
    const auto* p = static_cast<const std::byte*>(buf);
    out->insert(out->end(), p, p + n);
    return static_cast<la_ssize_t>(n);
}

/// Builds an archive in memory with libarchive's write API. `format`: "zip", "7z", "tar", "raw";
/// `filter`: "", "gzip", "bzip2", "xz". `options`/`passphrase` optional.
Bytes write_archive(std::string_view format, std::string_view filter,
                    const std::vector<Entry>& entries, const char* options = nullptr,
                    const char* passphrase = nullptr) {
    struct archive* a = archive_write_new();
    REQUIRE(a != nullptr);
    if (format == "zip") {
        REQUIRE(archive_write_set_format_zip(a) == ARCHIVE_OK);
    } else if (format == "7z") {
        REQUIRE(archive_write_set_format_7zip(a) == ARCHIVE_OK);
    } else if (format == "tar") {
        REQUIRE(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
    } else {
        REQUIRE(archive_write_set_format_raw(a) == ARCHIVE_OK);
    }
    if (filter == "gzip") {
        REQUIRE(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
    } else if (filter == "bzip2") {
        REQUIRE(archive_write_add_filter_bzip2(a) == ARCHIVE_OK);
    } else if (filter == "xz") {
        REQUIRE(archive_write_add_filter_xz(a) == ARCHIVE_OK);
    }
    if (options != nullptr) {
        REQUIRE(archive_write_set_options(a, options) == ARCHIVE_OK);
    }
    if (passphrase != nullptr) {
        REQUIRE(archive_write_set_passphrase(a, passphrase) == ARCHIVE_OK);
    }
    Bytes out;
    REQUIRE(archive_write_open(a, &out, nullptr, append_cb, nullptr) == ARCHIVE_OK);
    struct archive_entry* e = archive_entry_new();
    for (const auto& [name, data] : entries) {
        archive_entry_clear(e);
        archive_entry_set_pathname(e, name.c_str());
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
        REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
        if (!data.empty()) {
            REQUIRE(archive_write_data(a, data.data(), data.size()) ==
                    static_cast<la_ssize_t>(data.size()));
        }
    }
    archive_entry_free(e);
    REQUIRE(archive_write_close(a) == ARCHIVE_OK);
    archive_write_free(a);
    return out;
}

std::string as_string(const Bytes& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::uint32_t crc32(std::string_view s) {
    std::uint32_t c = 0xFFFFFFFFU;
    for (const char ch : s) {
        c ^= static_cast<unsigned char>(ch);
        for (int k = 0; k < 8; ++k) {
            c = (c >> 1U) ^ (0xEDB88320U & (0U - (c & 1U)));
        }
    }
    return ~c;
}

void put16(std::string& s, unsigned v) {
    s += static_cast<char>(v & 0xFFU);
    s += static_cast<char>((v >> 8U) & 0xFFU);
}
void put32(std::string& s, std::uint32_t v) {
    put16(s, v & 0xFFFFU);
    put16(s, v >> 16U);
}

/// A stored (method 0) zip with raw name bytes and chosen general-purpose flags (bit 0:
/// encrypted, bit 11: UTF-8 name), for what libarchive's writer will not produce.
struct RawZipEntry {
    std::string name; // raw bytes
    std::string data;
    unsigned flags = 0;
};
Bytes raw_zip(const std::vector<RawZipEntry>& entries) {
    std::string out;
    std::string central;
    for (const auto& en : entries) {
        const auto offset = static_cast<std::uint32_t>(out.size());
        const std::uint32_t crc = crc32(en.data);
        const auto size = static_cast<std::uint32_t>(en.data.size());
        out += "PK\x03\x04";
        put16(out, 20);
        put16(out, en.flags);
        put16(out, 0); // stored
        put16(out, 0);
        put16(out, 0x21);
        put32(out, crc);
        put32(out, size);
        put32(out, size);
        put16(out, static_cast<unsigned>(en.name.size()));
        put16(out, 0);
        out += en.name;
        out += en.data;
        central += "PK\x01\x02";
        put16(central, 20);
        put16(central, 20);
        put16(central, en.flags);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0x21);
        put32(central, crc);
        put32(central, size);
        put32(central, size);
        put16(central, static_cast<unsigned>(en.name.size()));
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put32(central, 0);
        put32(central, offset);
        central += en.name;
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    out += std::string_view("PK\x05\x06\0\0\0\0", 8);
    put16(out, static_cast<unsigned>(entries.size()));
    put16(out, static_cast<unsigned>(entries.size()));
    put32(out, static_cast<std::uint32_t>(central.size()));
    put32(out, cd_offset);
    put16(out, 0);
    return to_bytes(out);
}

ArchiveReport inspect(const Bytes& b, std::string_view hint = "x", ArchiveLimits limits = {},
                      std::function<std::string(std::span<const std::byte>)> detect = {}) {
    const ArchiveInspector inspector(limits, std::move(detect));
    auto r = inspector.inspect(b, hint);
    REQUIRE(r.has_value());
    return std::move(*r);
}

Bytes nest_zips(std::size_t levels) {
    Bytes cur = write_archive("zip", "", {{"leaf.txt", "hello"}});
    for (std::size_t i = 1; i < levels; ++i) {
        cur = write_archive("zip", "", {{"level" + std::to_string(i) + ".zip", as_string(cur)}});
    }
    return cur;
}

Bytes random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& x : b) {
        x = static_cast<std::byte>(rng() & 0xFFU);
    }
    return b;
}

} // namespace

TEST_CASE("archive_inspector: zip names are UTF-8 whether flagged, CP932 or undecodable") {
    const Bytes zip = raw_zip({
        {"\xE5\xA0\xB1\xE5\x91\x8A\xE6\x9B\xB8.txt", "utf8 flagged", 0x800},
        {"\x8C\xA9\x90\xCF\x8F\x91.xlsx", "cp932 raw", 0},
        {"\xFF\xFE.bin", "junk name", 0},
        {"a\nb.txt", "control", 0},
    });
    const ArchiveReport r = inspect(zip, "x.zip");
    REQUIRE(r.status == ArchiveStatus::Listed);
    CHECK(r.format == "zip");
    REQUIRE(r.members.size() == 4);
    CHECK(r.members[0].path == "\xE5\xA0\xB1\xE5\x91\x8A\xE6\x9B\xB8.txt");  // 報告書.txt
    CHECK(r.members[1].path == "\xE8\xA6\x8B\xE7\xA9\x8D\xE6\x9B\xB8.xlsx"); // 見積書.xlsx
    CHECK(r.members[2].path == "\\xFF\\xFE.bin");
    CHECK(r.members[3].path == "a\\x0Ab.txt");
    CHECK(r.members[0].size == 12);
    CHECK(r.members[0].depth == 1);
    CHECK(r.members[0].outer.empty());
    CHECK(r.expanded == 12 + 9 + 9 + 7);
    CHECK(uselocale(nullptr) == LC_GLOBAL_LOCALE); // the thread's locale is restored
}

TEST_CASE("archive_inspector: tar with gzip, bzip2 and xz and single compressed files are listed") {
    const std::vector<Entry> entries{{"dir/a.txt", "alpha"}, {"b.bin", std::string(3000, 'b')}};
    for (const auto& [filter, name] : std::vector<std::pair<std::string, std::string>>{
             {"", "tar"}, {"gzip", "tar.gz"}, {"bzip2", "tar.bz2"}, {"xz", "tar.xz"}}) {
        CAPTURE(name);
        const ArchiveReport r = inspect(write_archive("tar", filter, entries));
        REQUIRE(r.status == ArchiveStatus::Listed);
        CHECK(r.format == name);
        REQUIRE(r.members.size() == 2);
        CHECK(r.members[0].path == "dir/a.txt");
        CHECK(r.members[1].size == 3000);
        CHECK(r.expanded == 3005);
    }
    for (const auto& [filter, hint] : std::vector<std::pair<std::string, std::string>>{
             {"gzip", "report.csv.gz"}, {"bzip2", "report.csv.bz2"}, {"xz", "report.csv.xz"}}) {
        CAPTURE(filter);
        const ArchiveReport r =
            inspect(write_archive("raw", filter, {{"report.csv", "a,b\n1,2\n"}}), hint);
        REQUIRE(r.status == ArchiveStatus::Listed);
        CHECK(r.format == filter);
        REQUIRE(r.members.size() == 1);
        CHECK(r.members[0].path == "report.csv");
        CHECK(r.members[0].size == 8);
    }
}

TEST_CASE("archive_inspector: 7z members are listed with sizes") {
    const ArchiveReport r =
        inspect(write_archive("7z", "", {{"a.txt", "alpha"}, {"b.txt", std::string(10000, 'x')}}));
    REQUIRE(r.status == ArchiveStatus::Listed);
    CHECK(r.format == "7z");
    REQUIRE(r.members.size() == 2);
    CHECK(r.members[0].path == "a.txt");
    CHECK(r.members[1].size == 10000);
}

TEST_CASE("archive_inspector: a zip inside a zip is listed with its outer path and depth") {
    const Bytes inner = write_archive("zip", "", {{"b.txt", "bravo"}});
    const Bytes tgz = write_archive("tar", "gzip", {{"c.txt", "charlie"}});
    const Bytes outer = write_archive(
        "zip", "",
        {{"a.txt", "alpha"}, {"inner.zip", as_string(inner)}, {"t.tgz", as_string(tgz)}});
    const ArchiveReport r = inspect(outer, "outer.zip");
    REQUIRE(r.status == ArchiveStatus::Listed);
    REQUIRE(r.members.size() == 5);
    CHECK(r.members[0].path == "a.txt");
    CHECK_FALSE(r.members[0].is_archive);
    CHECK(r.members[1].path == "inner.zip");
    CHECK(r.members[1].is_archive);
    CHECK(r.members[1].depth == 1);
    CHECK(r.members[2].path == "b.txt");
    CHECK(r.members[2].outer == "inner.zip");
    CHECK(r.members[2].depth == 2);
    CHECK(r.members[3].path == "t.tgz");
    CHECK(r.members[3].is_archive);
    CHECK(r.members[4].path == "c.txt");
    CHECK(r.members[4].outer == "t.tgz");
}

TEST_CASE("archive_inspector: nesting beyond max_depth is archive.depth_exceeded") {
    ArchiveLimits limits;
    limits.max_depth = 4;
    SUBCASE("four levels are listed") {
        const ArchiveReport r = inspect(nest_zips(4), "x.zip", limits);
        REQUIRE(r.status == ArchiveStatus::Listed);
        CHECK(r.members.back().path == "leaf.txt");
        CHECK(r.members.back().depth == 4);
        CHECK(r.members.back().outer == "level3.zip/level2.zip/level1.zip");
    }
    SUBCASE("five levels exceed") {
        const ArchiveReport r = inspect(nest_zips(5), "x.zip", limits);
        CHECK(r.status == ArchiveStatus::LimitExceeded);
        CHECK(r.reason == "archive.depth_exceeded");
    }
    SUBCASE("twenty levels stop at the limit") {
        const ArchiveReport r = inspect(nest_zips(20), "x.zip", limits);
        CHECK(r.status == ArchiveStatus::LimitExceeded);
        CHECK(r.reason == "archive.depth_exceeded");
        CHECK(r.members.size() == 4);
    }
}

TEST_CASE("archive_inspector: more members than max_members is archive.members_exceeded") {
    std::vector<Entry> entries;
    for (int i = 0; i < 10001; ++i) {
        entries.push_back({"f" + std::to_string(i), ""});
    }
    const ArchiveReport r = inspect(write_archive("tar", "gzip", entries));
    CHECK(r.status == ArchiveStatus::LimitExceeded);
    CHECK(r.reason == "archive.members_exceeded");
    CHECK(r.members.size() == 10000);
}

TEST_CASE("archive_inspector: 10,000 zip members are listed") {
    // The time this takes is measured by tests/bench/av_bench.cpp, not here.
    std::vector<Entry> entries;
    for (int i = 0; i < 10000; ++i) {
        entries.push_back(
            {"docs/file" + std::to_string(i) + ".txt", "content " + std::to_string(i)});
    }
    const ArchiveReport r = inspect(write_archive("zip", "", entries));
    REQUIRE(r.status == ArchiveStatus::Listed);
    CHECK(r.members.size() == 10000);
    CHECK(r.members.back().path == "docs/file9999.txt");
}

TEST_CASE("archive_inspector: a zip of 50 MB of zeros stops early as a bomb") {
    constexpr std::size_t total = 50U << 20U;
    const Bytes zip = write_archive("zip", "", {{"zeros.bin", std::string(total, '\0')}});
    SUBCASE("ratio") {
        const ArchiveReport r = inspect(zip);
        CHECK(r.status == ArchiveStatus::LimitExceeded);
        CHECK(r.reason == "archive.ratio_exceeded");
        CHECK(r.expanded <=
              static_cast<std::uint64_t>(100.0 * static_cast<double>(zip.size())) + (64U << 10U));
        CHECK(r.expanded < total);
    }
    SUBCASE("total size") {
        ArchiveLimits limits;
        limits.max_ratio = 1e9;
        limits.max_total_size = 10U << 20U;
        const ArchiveReport r = inspect(zip, "x", limits);
        CHECK(r.status == ArchiveStatus::LimitExceeded);
        CHECK(r.reason == "archive.size_exceeded");
        CHECK(r.expanded == limits.max_total_size + 1);
    }
    SUBCASE("member size") {
        ArchiveLimits limits;
        limits.max_ratio = 1e9;
        limits.max_member_size = 1U << 20U;
        const ArchiveReport r = inspect(zip, "x", limits);
        CHECK(r.status == ArchiveStatus::LimitExceeded);
        CHECK(r.reason == "archive.size_exceeded");
        CHECK(r.expanded <= limits.max_member_size + (64U << 10U));
    }
}

TEST_CASE("archive_inspector: a small text zip with a high ratio is not a bomb") {
    const ArchiveReport r =
        inspect(write_archive("zip", "", {{"a.csv", std::string(200000, 'a')}}));
    CHECK(r.status == ArchiveStatus::Listed);
}

TEST_CASE("archive_inspector: a password zip (PPAP) is Encrypted without a password") {
    SUBCASE("traditional PKWARE encryption written by libarchive") {
        const Bytes zip = write_archive("zip", "", {{"secret.docx", "top secret"}, {"b.txt", "b"}},
                                        "zip:encryption=zipcrypt", "password");
        const ArchiveReport r = inspect(zip, "ppap.zip");
        CHECK(r.status == ArchiveStatus::Encrypted);
        CHECK(r.reason == "archive.encrypted");
        REQUIRE(r.members.size() == 2);
        CHECK(r.members[0].path == "secret.docx");
        CHECK(r.members[0].encrypted);
    }
    SUBCASE("AES-256 written by libarchive") {
        const Bytes zip = write_archive("zip", "", {{"secret.docx", "top secret"}},
                                        "zip:encryption=aes256", "password");
        const ArchiveReport r = inspect(zip, "ppap.zip");
        CHECK(r.status == ArchiveStatus::Encrypted);
    }
    SUBCASE("general-purpose bit 0 set by hand, one clear member") {
        const Bytes zip =
            raw_zip({{"clear.txt", "clear", 0}, {"secret.txt", std::string(40, 'q'), 1}});
        const ArchiveReport r = inspect(zip, "ppap.zip");
        CHECK(r.status == ArchiveStatus::Encrypted);
        REQUIRE(r.members.size() == 2);
        CHECK_FALSE(r.members[0].encrypted);
        CHECK(r.members[1].encrypted);
    }
    SUBCASE("inside a plain zip") {
        const Bytes inner = write_archive("zip", "", {{"secret.docx", "top secret"}},
                                          "zip:encryption=zipcrypt", "password");
        const ArchiveReport r = inspect(write_archive("zip", "", {{"in.zip", as_string(inner)}}));
        CHECK(r.status == ArchiveStatus::Encrypted);
    }
}

TEST_CASE("archive_inspector: truncated archives are Corrupt") {
    const std::string payload = as_string(random_bytes(100000, 7));
    SUBCASE("zip") {
        Bytes zip = write_archive("zip", "", {{"a.bin", payload}, {"b.bin", payload}});
        zip.resize(zip.size() / 2);
        const ArchiveReport r = inspect(zip);
        CHECK(r.status == ArchiveStatus::Corrupt);
        CHECK(r.reason == "archive.corrupt");
    }
    SUBCASE("tar.gz") {
        Bytes tgz = write_archive("tar", "gzip", {{"a.bin", payload}, {"b.bin", payload}});
        tgz.resize(tgz.size() / 2);
        const ArchiveReport r = inspect(tgz);
        CHECK(r.status == ArchiveStatus::Corrupt);
        CHECK(r.format == "tar.gz");
    }
    SUBCASE("7z") {
        Bytes sz = write_archive("7z", "", {{"a.bin", payload}});
        sz.resize(sz.size() / 2);
        CHECK(inspect(sz).status == ArchiveStatus::Corrupt);
    }
    SUBCASE("zip with a damaged member inside a good zip") {
        Bytes inner = write_archive("zip", "", {{"a.bin", payload}});
        inner.resize(inner.size() / 2);
        const ArchiveReport r = inspect(write_archive("zip", "", {{"in.zip", as_string(inner)}}));
        CHECK(r.status == ArchiveStatus::Corrupt);
    }
}

TEST_CASE("archive_inspector: random bytes, a PDF, text and nothing are NotArchive") {
    const std::string pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n";
    for (const Bytes& b : {random_bytes(100000, 1), to_bytes(pdf), to_bytes("hello\n"), Bytes{}}) {
        const ArchiveReport r = inspect(b);
        CHECK(r.status == ArchiveStatus::NotArchive);
        CHECK(r.format.empty());
        CHECK(r.members.empty());
        CHECK(r.reason.empty());
    }
}

TEST_CASE("archive_inspector: the detect callback types members from their bytes") {
    const std::string exe = std::string("MZ\x90\0", 4) + std::string(100, 'x');
    const Bytes zip = write_archive("zip", "", {{"invoice.pdf.exe", exe}, {"a.txt", "text"}});
    auto fake = [](std::span<const std::byte> b) -> std::string {
        if (b.size() >= 2 && b[0] == std::byte{'M'} && b[1] == std::byte{'Z'}) {
            return "application/x-dosexec";
        }
        return "text/plain";
    };
    const ArchiveReport r = inspect(zip, "x.zip", {}, fake);
    REQUIRE(r.members.size() == 2);
    CHECK(r.members[0].type == "application/x-dosexec");
    CHECK(r.members[1].type == "text/plain");
    const ArchiveReport none = inspect(zip);
    CHECK(none.members[0].type.empty());
}
