#include "filters/av/av_engine.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "filters/core/part.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mugaika::filters::av;
using mugaika::filters::as_bytes;
using mugaika::filters::ErrorCode;

const fs::path clamav_testfiles = "/usr/share/clamav-testfiles";

// The EICAR test string, assembled at run time so that neither the source nor the test binary
// holds it in one piece (one half is stored reversed).
std::string eicar() {
    std::string tail = "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE";
    std::reverse(tail.begin(), tail.end());
    return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + tail;
}

std::string hex(std::string_view s) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4U];
        out += digits[b & 0xfU];
    }
    return out;
}

/// A directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() /
                ("mugaika-av-" + std::to_string(rd()) + "-" + std::to_string(rd()));
        fs::create_directories(path_);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const noexcept { return path_; }
    [[nodiscard]] std::string str() const { return path_.string(); }
    void write(const std::string& name, std::string_view content) const {
        std::ofstream f(path_ / name, std::ios::binary);
        f.write(content.data(), static_cast<std::streamsize>(content.size()));
    }

private:
    fs::path path_;
};

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::uint32_t crc32(std::string_view data) {
    std::uint32_t crc = 0xffffffffU;
    for (const char c : data) {
        crc ^= static_cast<unsigned char>(c);
        for (int k = 0; k < 8; ++k) {
            crc = (crc >> 1U) ^ (0xedb88320U & (0U - (crc & 1U)));
        }
    }
    return ~crc;
}

void put16(std::string& s, std::uint32_t v) {
    s += static_cast<char>(v & 0xffU);
    s += static_cast<char>((v >> 8U) & 0xffU);
}
void put32(std::string& s, std::uint32_t v) {
    put16(s, v & 0xffffU);
    put16(s, v >> 16U);
}

struct ZipMember {
    std::string name;
    std::string data;
};

/// A zip archive with stored (uncompressed) members. `encrypted` sets the "encrypted" flag and
/// prepends a 12-byte (garbage) traditional encryption header to each member.
std::string make_zip(const std::vector<ZipMember>& members, bool encrypted = false) {
    std::string out;
    std::string central;
    const std::uint32_t flags = encrypted ? 1U : 0U;
    for (const auto& m : members) {
        const std::string body = encrypted ? std::string(12, '\x5a') + m.data : m.data;
        const auto crc = crc32(m.data);
        const auto offset = static_cast<std::uint32_t>(out.size());
        const auto size = static_cast<std::uint32_t>(body.size());
        const auto raw = static_cast<std::uint32_t>(m.data.size());
        const auto name_len = static_cast<std::uint32_t>(m.name.size());
        put32(out, 0x04034b50U);
        put16(out, 10);
        put16(out, flags);
        put16(out, 0); // stored
        put16(out, 0);
        put16(out, 0x21);
        put32(out, crc);
        put32(out, size);
        put32(out, raw);
        put16(out, name_len);
        put16(out, 0);
        out += m.name;
        out += body;

        put32(central, 0x02014b50U);
        put16(central, 20);
        put16(central, 10);
        put16(central, flags);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0x21);
        put32(central, crc);
        put32(central, size);
        put32(central, raw);
        put16(central, name_len);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put16(central, 0);
        put32(central, 0);
        put32(central, offset);
        central += m.name;
    }
    const auto central_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50U);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<std::uint32_t>(members.size()));
    put16(out, static_cast<std::uint32_t>(members.size()));
    put32(out, static_cast<std::uint32_t>(central.size()));
    put32(out, central_offset);
    put16(out, 0);
    return out;
}

constexpr std::string_view eicar_sig = "Mugaika.Test.EICAR.UNOFFICIAL";
constexpr std::string_view clam_sig = "Mugaika.Test.Clam.UNOFFICIAL";

/// A database with an .ndb body signature for EICAR and an .hdb hash signature for clam.exe.
void write_test_db(const TempDir& dir) {
    dir.write("mugaika-test.ndb",
              "Mugaika.Test.EICAR:0:*:" + hex("EICAR-STANDARD-ANTIVIRUS-TEST-FILE") + "\n");
    dir.write("mugaika-test.hdb", "aa15bcf478d165efd2065190eb473bcb:544:Mugaika.Test.Clam\n");
}

std::shared_ptr<const AvEngine> load_test_engine(const TempDir& db, const ScanLimits& limits = {}) {
    REQUIRE(init_clamav().has_value());
    write_test_db(db);
    auto engine = AvEngine::load(db.str(), limits);
    REQUIRE_MESSAGE(engine.has_value(), (engine ? "" : engine.error().detail));
    return *engine;
}

bool has(const ScanResult& r, std::string_view sig) {
    return std::find(r.signatures.begin(), r.signatures.end(), sig) != r.signatures.end();
}

ScanResult scan_ok(const AvEngine& engine, std::string_view data, std::string_view name = {}) {
    auto r = engine.scan(as_bytes(data), name);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().detail));
    return *r;
}

std::string describe(const ScanResult& r) {
    std::string s = r.status == ScanStatus::Clean      ? "clean"
                    : r.status == ScanStatus::Infected ? "infected"
                                                       : "incomplete";
    s += " reason=" + r.reason;
    for (const auto& n : r.signatures) {
        s += " " + n;
    }
    return s;
}

} // namespace

TEST_CASE("av_engine: eicar is detected and named by its signature") {
    TempDir db;
    const auto engine = load_test_engine(db);
    CHECK(engine->signature_count() == 2);
    CHECK(engine->describe().starts_with("libclamav 1."));
    CHECK(engine->mode() == "libclamav");

    const auto r = scan_ok(*engine, eicar(), "eicar.com");
    CHECK(r.status == ScanStatus::Infected);
    CHECK(r.signatures == std::vector<std::string>{std::string(eicar_sig)});
    CHECK(r.reason.empty());
    CHECK(r.reason.empty());
}

TEST_CASE("av_engine: clean text, ssn and card-like numbers are clean (no dlp heuristics)") {
    TempDir db;
    const auto engine = load_test_engine(db);
    const std::string text = "Hello Bob,\r\nplease find the minutes below.\r\n"
                             "SSN 078-05-1120, 219-09-9999, 457-55-5462\r\n"
                             "Card 4111 1111 1111 1111, 5500-0000-0000-0004, 340000000000009\r\n"
                             "Regards, Alice\r\n";
    const auto r = scan_ok(*engine, text, "note.txt");
    CHECK_MESSAGE(r.status == ScanStatus::Clean, describe(r));
    CHECK(r.signatures.empty());
    CHECK(r.reason.empty());
    const auto empty = scan_ok(*engine, "");
    CHECK(empty.status == ScanStatus::Clean);
}

TEST_CASE("av_engine: eicar inside a zip, and inside a zip inside a zip, is detected") {
    TempDir db;
    const auto engine = load_test_engine(db);
    const auto zip = make_zip({{"readme.txt", "nothing here\n"}, {"eicar.com", eicar()}});
    const auto r = scan_ok(*engine, zip, "a.zip");
    CHECK_MESSAGE(r.status == ScanStatus::Infected, describe(r));
    CHECK(has(r, eicar_sig));

    const auto nested = make_zip({{"inner.zip", zip}});
    const auto n = scan_ok(*engine, nested, "b.zip");
    CHECK_MESSAGE(n.status == ScanStatus::Infected, describe(n));
    CHECK(has(n, eicar_sig));

    const auto clean_zip = make_zip({{"readme.txt", "nothing here\n"}});
    CHECK(scan_ok(*engine, clean_zip).status == ScanStatus::Clean);
}

TEST_CASE("av_engine: all matches are reported, not only the first") {
    TempDir db;
    const auto engine = load_test_engine(db);
    const auto clam = read_file(clamav_testfiles / "clam.exe");
    REQUIRE(clam.size() == 544);
    const auto zip = make_zip({{"eicar.com", eicar()}, {"clam.exe", clam}});
    const auto r = scan_ok(*engine, zip);
    CHECK(r.status == ScanStatus::Infected);
    CHECK_MESSAGE(has(r, eicar_sig), describe(r));
    CHECK_MESSAGE(has(r, clam_sig), describe(r));
}

TEST_CASE("av_engine: one hash signature finds clam.exe through libclamav's unpackers") {
    TempDir db;
    const auto engine = load_test_engine(db);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(clamav_testfiles)) {
        if (e.is_regular_file()) {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() >= 44);
    std::size_t detected = 0;
    std::string missed;
    for (const auto& p : files) {
        const auto data = read_file(p);
        const auto r = scan_ok(*engine, data, p.filename().string());
        if (r.status == ScanStatus::Infected && has(r, clam_sig)) {
            ++detected;
        } else {
            missed += " " + p.filename().string() + "(" + describe(r) + ")";
        }
    }
    MESSAGE("clamav-testfiles detected: " << detected << " of " << files.size()
                                          << "; missed:" << missed);
    CHECK(detected >= 30);
}

TEST_CASE("av_engine: input over max_file_size is incomplete, never clean") {
    TempDir db;
    ScanLimits limits;
    limits.max_file_size = 4096;
    const auto engine = load_test_engine(db, limits);
    const std::string big(64 * 1024, 'a');
    const auto r = scan_ok(*engine, big, "big.txt");
    CHECK_MESSAGE(r.status == ScanStatus::Incomplete, describe(r));
    CHECK(r.reason == "limits.exceeded");
    INFO("max_file_size top level: " << describe(r));
}

TEST_CASE("av_engine: archive limits (files, recursion, scan size) make the scan incomplete") {
    SUBCASE("max_files") {
        TempDir db;
        ScanLimits limits;
        limits.max_files = 2;
        const auto engine = load_test_engine(db, limits);
        const auto zip = make_zip({{"1.txt", "one"},
                                   {"2.txt", "two"},
                                   {"3.txt", "three"},
                                   {"4.txt", "four"},
                                   {"5.txt", "five"}});
        const auto r = scan_ok(*engine, zip);
        INFO("max_files: " << describe(r));
        CHECK(r.status == ScanStatus::Incomplete);
        CHECK(r.reason == "limits.exceeded");
    }
    SUBCASE("max_recursion") {
        TempDir db;
        ScanLimits limits;
        limits.max_recursion = 2;
        const auto engine = load_test_engine(db, limits);
        // Clean content: a stored zip shows its members' bytes at every level, so a signature
        // would match the outer layer whatever the depth.
        std::string z = make_zip({{"note.txt", "harmless"}});
        for (int i = 0; i < 4; ++i) {
            z = make_zip({{"level" + std::to_string(i) + ".zip", z}});
        }
        const auto r = scan_ok(*engine, z);
        INFO("max_recursion: " << describe(r));
        CHECK(r.status == ScanStatus::Incomplete);
        CHECK(r.reason == "limits.exceeded");
    }
    SUBCASE("max_scan_size") {
        TempDir db;
        ScanLimits limits;
        limits.max_scan_size = 8192;
        const auto engine = load_test_engine(db, limits);
        const auto zip = make_zip({{"1.txt", std::string(6000, 'a')},
                                   {"2.txt", std::string(6000, 'b')},
                                   {"3.txt", std::string(6000, 'c') + eicar()}});
        const auto r = scan_ok(*engine, zip);
        INFO("max_scan_size: " << describe(r));
        CHECK(r.status == ScanStatus::Incomplete);
        CHECK(r.reason == "limits.exceeded");
    }
}

TEST_CASE("av_engine: an encrypted archive is incomplete with reason encrypted") {
    TempDir db;
    const auto engine = load_test_engine(db);
    const auto zip = make_zip({{"secret.txt", "attack at dawn"}}, true);
    const auto r = scan_ok(*engine, zip, "secret.zip");
    INFO("encrypted zip: " << describe(r));
    CHECK(r.status == ScanStatus::Incomplete);
    CHECK(r.reason == "encrypted");
}

TEST_CASE("av_engine: a scan over max_scan_time is incomplete with reason timeout") {
    TempDir db;
    ScanLimits limits;
    limits.max_scan_time = std::chrono::milliseconds(1);
    const auto engine = load_test_engine(db, limits);
    // 4 MiB of HTML: libclamav normalises it at well under 4 GB/s, so 1 ms cannot be enough.
    std::string html = "<html><body>";
    while (html.size() < (4U << 20U)) {
        html += "<p><a href=\"https://example.com/\">link</a> <b>bold</b> text</p>\n";
    }
    html += "</body></html>";
    const auto r = scan_ok(*engine, html, "big.html");
    INFO("timeout: " << describe(r));
    CHECK(r.status == ScanStatus::Incomplete);
    CHECK(r.reason == "timeout");
}

TEST_CASE("av_engine: a truncated executable is incomplete with reason corrupted") {
    TempDir db;
    const auto engine = load_test_engine(db);
    const auto clam = read_file(clamav_testfiles / "clam.exe");
    const auto r = scan_ok(*engine, std::string_view(clam).substr(0, 300), "clam.exe");
    INFO("truncated pe: " << describe(r));
    CHECK(r.status == ScanStatus::Incomplete);
    CHECK(r.reason == "corrupted");
}

TEST_CASE("av_engine: a zero limit is refused, since libclamav reads it as unlimited") {
    REQUIRE(init_clamav().has_value());
    TempDir db;
    write_test_db(db);
    ScanLimits limits;
    limits.max_file_size = 0;
    const auto r = AvEngine::load(db.str(), limits);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.limits_invalid");
}

TEST_CASE("av_engine: a detection wins over a limit hit in the same input") {
    TempDir db;
    ScanLimits limits;
    limits.max_files = 2;
    const auto engine = load_test_engine(db, limits);
    const auto zip =
        make_zip({{"eicar.com", eicar()}, {"2.txt", "two"}, {"3.txt", "three"}, {"4.txt", "4"}});
    const auto r = scan_ok(*engine, zip);
    INFO("eicar + max_files: " << describe(r));
    CHECK(r.status == ScanStatus::Infected);
    CHECK(has(r, eicar_sig));
    CHECK(r.reason == "limits.exceeded"); // still says that not everything was looked at
}

TEST_CASE("av_engine: a missing database directory is av.database_missing") {
    REQUIRE(init_clamav().has_value());
    TempDir parent;
    const auto r = AvEngine::load((parent.path() / "nope").string(), {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.database_missing");
    CHECK(r.error().code == ErrorCode::Unsupported);
}

TEST_CASE("av_engine: a database without signatures is av.database_empty") {
    REQUIRE(init_clamav().has_value());
    TempDir empty;
    auto r = AvEngine::load(empty.str(), {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.database_empty");

    empty.write("freshclam.dat", "not a signature file");
    r = AvEngine::load(empty.str(), {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.database_empty");

    empty.write("nothing.ndb", "# comments only\n");
    r = AvEngine::load(empty.str(), {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.database_empty");

    // A zero-byte signature file is one libclamav refuses ("Empty database file").
    empty.write("zero.ndb", "");
    r = AvEngine::load(empty.str(), {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.load_failed");
}

TEST_CASE("av_engine: a malformed signature file is av.load_failed with libclamav's message") {
    REQUIRE(init_clamav().has_value());
    TempDir db;
    db.write("broken.ndb", "Broken.Sig:0:*:zz-not-hex\n");
    const auto r = AvEngine::load(db.str(), {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == "av.load_failed");
    CHECK(r.error().code == ErrorCode::Internal);
    INFO("load_failed detail: " << r.error().detail);
    CHECK(r.error().detail.find("broken.ndb") != std::string::npos);
}

TEST_CASE("av_engine: one engine scans on four threads at once with the same verdicts") {
    TempDir db;
    const auto engine = load_test_engine(db);
    const auto infected = eicar();
    const auto zip = make_zip({{"eicar.com", infected}});
    const std::string clean = "just some harmless text\n";
    std::atomic<int> wrong{0};
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                const auto a = engine->scan(as_bytes(infected), "e");
                const auto b = engine->scan(as_bytes(zip), "z");
                const auto c = engine->scan(as_bytes(clean), "c");
                if (!a || a->status != ScanStatus::Infected || !b ||
                    b->status != ScanStatus::Infected || !c || c->status != ScanStatus::Clean) {
                    ++wrong;
                }
                ++done;
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    CHECK(done.load() == 100);
    CHECK(wrong.load() == 0);
}

TEST_CASE("av_engine: an engine outlives its replacement while a scan still holds it") {
    TempDir db;
    auto current = std::make_shared<std::shared_ptr<const AvEngine>>(load_test_engine(db));
    std::shared_ptr<const AvEngine> in_flight = std::atomic_load(current.get());
    TempDir db2;
    std::atomic_store(current.get(), load_test_engine(db2));
    CHECK(in_flight.use_count() == 1);
    CHECK(scan_ok(*in_flight, eicar()).status == ScanStatus::Infected);
    CHECK(scan_ok(*std::atomic_load(current.get()), eicar()).status == ScanStatus::Infected);
}

TEST_CASE("av_engine: database_fingerprint changes when a signature file is added or changed") {
    TempDir db;
    const auto empty = database_fingerprint(db.str());
    write_test_db(db);
    const auto two = database_fingerprint(db.str());
    CHECK(two != empty);
    CHECK(database_fingerprint(db.str()) == two);

    db.write("freshclam.dat", "state");
    fs::create_directories(db.path() / "tmp.0123");
    CHECK(database_fingerprint(db.str()) == two); // ignored by libclamav, ignored here

    db.write("extra.ldb", "Mugaika.Test.Ldb;Engine:51-255,Target:0;0;41414141\n");
    const auto three = database_fingerprint(db.str());
    CHECK(three != two);

    db.write("extra.ldb", "Mugaika.Test.Ldb;Engine:51-255,Target:0;0;4141414141\n");
    CHECK(database_fingerprint(db.str()) != three); // size changed

    CHECK(database_fingerprint((db.path() / "missing").string()).empty());
}
