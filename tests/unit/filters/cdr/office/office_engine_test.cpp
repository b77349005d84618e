#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/ole2.hpp"
#include "filters/cdr/office/soffice.hpp"
#include "tests/unit/filters/cdr/office/package_checks.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;
using namespace mugaika::test_office;

namespace {

Result<Output> run(const std::string& bytes, std::string_view name, const Options& o = {}) {
    return find_engine("office")->rebuild(as_bytes(bytes), name, o);
}

/// A private directory removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string t = (std::filesystem::temp_directory_path() / "mugaika-office-XXXXXX").string();
        REQUIRE(mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

constexpr const char* soffice = "/usr/bin/soffice";

} // namespace

TEST_CASE("cdr.office: the OLE2 reader lists storages and streams of the sample .doc") {
    const std::string in = read_sample("macro.doc");
    auto ole = office::Ole2File::open(as_bytes(in));
    REQUIRE(ole.has_value());
    std::vector<std::string> paths;
    for (const auto& e : ole->entries()) {
        paths.push_back(e.path);
    }
    const std::vector<std::string> expected{"1Table",
                                            "Macros",
                                            "Macros/PROJECT",
                                            "Macros/VBA",
                                            "Macros/VBA/ThisDocument",
                                            "Macros/VBA/dir",
                                            "ObjectPool",
                                            "ObjectPool/_1700000000",
                                            "ObjectPool/_1700000000/\\x01CompObj",
                                            "ObjectPool/_1700000000/\\x01Ole10Native",
                                            "WordDocument"};
    CHECK(paths == expected);
    for (const auto& e : ole->entries()) {
        if (e.path == "Macros/VBA/ThisDocument") { // a mini-stream stream
            CHECK(ole->read_prefix(e, 100) == "Sub AutoOpen()\r\nEnd Sub\r\n");
        }
        if (e.path == "WordDocument") { // a regular-sector stream
            CHECK(ole->read_prefix(e, 2) == "\xEC\xA5");
        }
    }
}

TEST_CASE("cdr.office: legacy files are refused by default, naming what they carry") {
    struct Case {
        const char* sample;
        const char* detail;
    };
    for (const Case& c : {Case{"macro.doc", "kind=doc macros=1 objects=1 dde=0"},
                          Case{"xlm_macro.xls", "kind=xls macros=1 objects=0 dde=0"},
                          Case{"objdata.rtf", "kind=rtf macros=0 objects=1 dde=1"},
                          Case{"plain.rtf", "kind=rtf macros=0 objects=0 dde=0"}}) {
        CAPTURE(c.sample);
        auto r = run(read_sample(c.sample), c.sample);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::Unsupported);
        CHECK(r.error().what == "cdr.office.legacy");
        CHECK(r.error().detail == c.detail);
    }
}

TEST_CASE("cdr.office: encrypted, truncated and foreign files fail closed") {
    struct Case {
        std::string bytes;
        ErrorCode code;
        std::string_view what;
    };
    const std::string doc = read_sample("macro.doc");
    for (const Case& c :
         {Case{read_sample("encrypted.doc"), ErrorCode::Malformed, "cdr.office.encrypted"},
          Case{read_sample("encrypted.docx"), ErrorCode::Malformed, "cdr.office.encrypted"},
          Case{doc.substr(0, 1500), ErrorCode::Malformed, "cdr.office.malformed"},
          Case{doc.substr(0, 300), ErrorCode::Malformed, "cdr.office.malformed"},
          Case{read_sample("garbage.docx"), ErrorCode::Malformed, "cdr.office.malformed"},
          Case{read_sample("clean.docx"), ErrorCode::Malformed, "cdr.office.malformed"}}) {
        auto r = run(c.bytes, "x.doc");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == c.code);
        CHECK(r.error().what == c.what);
    }
    // An OLE2 file that is not an Office document.
    auto ole = run(read_sample("ole_activex.docx"), "x.doc"); // a zip: not OLE2
    CHECK_FALSE(ole.has_value());
}

TEST_CASE("cdr.office: a directory loop in an OLE2 file is malformed, not endless") {
    std::string doc = read_sample("macro.doc");
    auto ole = office::Ole2File::open(as_bytes(doc));
    REQUIRE(ole.has_value());
    // The directory starts at sector 1 (after one FAT sector): point the root's child at itself
    // through the first child's right sibling.
    const std::size_t dir = 512 * 2;
    const std::size_t first_child = dir + 128 * 1;
    const auto put32 = [&](std::size_t off, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            doc[off + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFFU);
        }
    };
    const std::uint32_t root_child = static_cast<unsigned char>(doc[dir + 0x4C]);
    put32(dir + 128 * root_child + 0x48, root_child); // right sibling = itself
    (void)first_child;
    auto r = office::Ole2File::open(as_bytes(doc));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "cdr.office.malformed");
}

TEST_CASE("cdr.office: with conversion on but no converter, legacy files are still refused") {
    Options o;
    o.office_convert = true;
    o.soffice = "/nonexistent/soffice";
    TempDir work;
    o.work_dir = work.path.string();
    auto r = run(read_sample("macro.doc"), "a.doc", o);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "cdr.office.legacy");
    CHECK(r.error().detail.ends_with("converter=missing"));
}

TEST_CASE("cdr.office: LibreOffice converts an RTF to PDF in a child process, and the PDF goes "
          "to the pdf engine") {
    REQUIRE_MESSAGE(access(soffice, X_OK) == 0,
                    "LibreOffice is needed: apt-get install libreoffice-writer-nogui");
    TempDir work;
    office::ConvertSettings settings;
    settings.soffice = soffice;
    settings.work_dir = work.path.string();
    const std::string rtf = read_sample("objdata.rtf");
    auto converted = office::convert_to_pdf(as_bytes(rtf), "rtf", settings);
    REQUIRE_MESSAGE(
        converted.has_value(),
        (converted ? "" : std::string(converted.error().what) + " " + converted.error().detail));
    CHECK(converted->pdf.starts_with("%PDF-"));
    if (geteuid() == 0) {
        CHECK(converted->network_isolated);
    }
    // Nothing is left in the work directory.
    CHECK(std::filesystem::is_empty(work.path));

    Options o;
    o.office_convert = true;
    o.soffice = soffice;
    o.work_dir = work.path.string();
    auto r = run(rtf, "minutes.rtf", o);
    if (r.has_value()) {
        CHECK(r->filename == "minutes.pdf");
        CHECK(has_removed(r->removed, "office.converted"));
        CHECK(has_removed(r->removed, "office.embedded_object"));
        CHECK(has_removed(r->removed, "office.dde_field"));
    } else {
        // The pdf engine answered (it may still be a placeholder): conversion itself succeeded.
        CHECK(r.error().what.starts_with("cdr.pdf."));
    }
    CHECK(std::filesystem::is_empty(work.path));
}

TEST_CASE("cdr.office: a converter that runs too long is killed with its process group") {
    TempDir work;
    // A stand-in converter: a shell script that never finishes.
    const auto script = work.path / "slow-soffice";
    {
        std::ofstream f(script);
        f << "#!/bin/sh\nsleep 30 &\nsleep 30\n";
    }
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    office::ConvertSettings settings;
    settings.soffice = script.string();
    settings.work_dir = work.path.string();
    settings.time_limit = std::chrono::milliseconds(300);
    const auto start = std::chrono::steady_clock::now();
    auto r = office::convert_to_pdf(as_bytes(std::string("{\\rtf1 x}")), "rtf", settings);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "cdr.office.convert_timeout");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("cdr.office: a converter that writes no PDF is a failed conversion") {
    TempDir work;
    const auto script = work.path / "broken-soffice";
    {
        std::ofstream f(script);
        f << "#!/bin/sh\nexit 0\n";
    }
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    Options o;
    o.office_convert = true;
    o.soffice = script.string();
    o.work_dir = work.path.string();
    auto r = run(read_sample("plain.rtf"), "a.rtf", o);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::Malformed);
    CHECK(r.error().what == "cdr.office.convert_failed");
}
