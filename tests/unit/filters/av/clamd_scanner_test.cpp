#include "filters/av/clamd_scanner.hpp"

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "filters/core/part.hpp"
#include "tests/unit/fake_clamd.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mugaika::filters::av;
using mugaika::filters::as_bytes;
using mugaika::filters::ErrorCode;
using mugaika::test::FakeClamd;
using mugaika::test::FakeConnection;
using mugaika::test::InstreamRequest;
using mugaika::test::well_behaved_clamd;
using namespace std::chrono_literals;

/// A short directory for the socket (sun_path holds 108 bytes), removed at scope exit.
class SocketDir {
public:
    SocketDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("mugaika-clamd-" + std::to_string(rd()));
        fs::create_directories(path_);
    }
    SocketDir(const SocketDir&) = delete;
    SocketDir& operator=(const SocketDir&) = delete;
    ~SocketDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] fs::path socket() const { return path_ / "clamd.sock"; }

private:
    fs::path path_;
};

ClamdOptions options_for(const SocketDir& dir, std::chrono::milliseconds timeout = 5s) {
    ClamdOptions o;
    o.socket_path = dir.socket().string();
    o.timeout = timeout;
    return o;
}

std::shared_ptr<const ClamdScanner> connect_ok(const ClamdOptions& o) {
    auto s = ClamdScanner::connect(o);
    REQUIRE_MESSAGE(s, (s ? std::string() : std::string(s.error().what) + " " + s.error().detail));
    return *s;
}

std::string reply_of(const std::string& data) {
    return data.find("EVIL") != std::string::npos ? "stream: Test.Evil.UNOFFICIAL FOUND"
                                                  : "stream: OK";
}

/// Answers PING and VERSION like clamd; every INSTREAM connection is handed to `instream`.
FakeClamd::Handler with_instream(std::function<void(FakeConnection&)> instream) {
    return [instream = std::move(instream)](FakeConnection& c) {
        const std::string cmd = c.command();
        if (cmd == "zINSTREAM") {
            instream(c);
        } else if (cmd == "zPING") {
            c.send(std::string_view("PONG\0", 5));
        } else if (cmd == "zVERSION") {
            c.send(std::string("ClamAV 1.4.6/1/fake") + '\0');
        }
    };
}

} // namespace

TEST_CASE("clamd: each instream chunk length is 4 bytes, big-endian") {
    const auto b = [](std::uint32_t n) {
        const auto a = instream_chunk_length(n);
        return std::vector<int>{std::to_integer<int>(a[0]), std::to_integer<int>(a[1]),
                                std::to_integer<int>(a[2]), std::to_integer<int>(a[3])};
    };
    CHECK(b(0) == std::vector<int>{0, 0, 0, 0});
    CHECK(b(1) == std::vector<int>{0, 0, 0, 1});
    CHECK(b(0x01020304U) == std::vector<int>{1, 2, 3, 4});
    CHECK(b(65536) == std::vector<int>{0, 1, 0, 0});
    CHECK(b(0xffffffffU) == std::vector<int>{255, 255, 255, 255});
}

TEST_CASE("clamd: replies map to the verdicts of the in-process engine") {
    struct Case {
        std::string_view reply;
        ScanStatus status;
        std::vector<std::string> signatures;
        std::string_view reason;
    };
    const std::vector<Case> cases = {
        {"stream: OK", ScanStatus::Clean, {}, ""},
        {"stream: Eicar-Signature FOUND", ScanStatus::Infected, {"Eicar-Signature"}, ""},
        {"stream: Mugaika.Test.EICAR.UNOFFICIAL FOUND",
         ScanStatus::Infected,
         {"Mugaika.Test.EICAR.UNOFFICIAL"},
         ""},
        // ExtendedDetectionInfo: the hash and size are not part of the name.
        {"stream: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND",
         ScanStatus::Infected,
         {"Eicar-Signature"},
         ""},
        {"stream: Heuristics.Encrypted.Zip FOUND",
         ScanStatus::Incomplete,
         {"Heuristics.Encrypted.Zip"},
         "encrypted"},
        {"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
         ScanStatus::Incomplete,
         {"Heuristics.Limits.Exceeded.MaxFileSize"},
         "limits.exceeded"},
        {"stream: Heuristics.Limits.Exceeded.MaxScanTime FOUND",
         ScanStatus::Incomplete,
         {"Heuristics.Limits.Exceeded.MaxScanTime"},
         "timeout"},
        {"stream: Heuristics.Broken.Executable FOUND",
         ScanStatus::Incomplete,
         {"Heuristics.Broken.Executable"},
         "corrupted"},
        // clamd's StreamMaxLength: the rest was never read, so never clean.
        {"INSTREAM size limit exceeded. ERROR", ScanStatus::Incomplete, {}, "limits.exceeded"},
        {"stream: OK\n", ScanStatus::Clean, {}, ""},
    };
    for (const Case& c : cases) {
        CAPTURE(c.reply);
        auto r = parse_clamd_reply(c.reply);
        REQUIRE(r);
        CHECK(r->status == c.status);
        CHECK(r->signatures == c.signatures);
        CHECK(r->reason == c.reason);
        if (!c.signatures.empty()) {
            // The same name means the same verdict in both modes.
            const auto same = verdict_of(c.signatures, {});
            CHECK(same.status == r->status);
            CHECK(same.reason == r->reason);
        }
    }
}

TEST_CASE("clamd: an error reply or an unknown one is an error, never a verdict") {
    SUBCASE("clamd's own errors are transient") {
        auto r = parse_clamd_reply("Can't allocate memory ERROR");
        REQUIRE_FALSE(r);
        CHECK(r.error().what == "av.scan_failed");
        CHECK(r.error().code == ErrorCode::Transient);
        CHECK(r.error().detail.find("allocate memory") != std::string::npos);
    }
    for (std::string_view reply : {"", "stream: ", "stream: FOUND", "stream: O", "PONG",
                                   "stream: OK but not really", "UNKNOWN COMMAND"}) {
        CAPTURE(reply);
        auto r = parse_clamd_reply(reply);
        REQUIRE_FALSE(r);
        CHECK(r.error().what == "av.scan_failed");
        CHECK(r.error().code == ErrorCode::Internal);
    }
    SUBCASE("control bytes in a reply do not reach the detail") {
        auto r = parse_clamd_reply(std::string_view("\x1b[31mboom\r\n\x01", 13));
        REQUIRE_FALSE(r);
        CHECK(r.error().detail.find('\x1b') == std::string::npos);
    }
}

TEST_CASE("clamd: connect pings, asks the version and describes the daemon") {
    SocketDir dir;
    FakeClamd fake(dir.socket(), well_behaved_clamd(reply_of));
    auto scanner = connect_ok(options_for(dir));
    CHECK(fake.commands() == std::vector<std::string>{"zPING", "zVERSION"});
    CHECK(scanner->version() == "ClamAV 1.4.6/1/Thu Jan  1 00:00:00 2026");
    CHECK(scanner->describe() ==
          "clamd ClamAV 1.4.6/1/Thu Jan  1 00:00:00 2026 at " + dir.socket().string());
    CHECK(scanner->mode() == "clamd");
}

TEST_CASE("clamd: a clamd that is down or answers nonsense at start is av.unavailable") {
    SocketDir dir;
    SUBCASE("no socket") {
        auto s = ClamdScanner::connect(options_for(dir));
        REQUIRE_FALSE(s);
        CHECK(s.error().what == "av.unavailable");
        CHECK(s.error().code == ErrorCode::Transient);
        CHECK(s.error().detail.find(dir.socket().string()) != std::string::npos);
    }
    SUBCASE("PING not answered with PONG") {
        FakeClamd fake(dir.socket(), [](FakeConnection& c) {
            (void)c.command();
            c.send(std::string_view("UNKNOWN COMMAND\0", 16));
        });
        auto s = ClamdScanner::connect(options_for(dir));
        REQUIRE_FALSE(s);
        CHECK(s.error().what == "av.unavailable");
        CHECK(s.error().detail.find("UNKNOWN COMMAND") != std::string::npos);
    }
    SUBCASE("a socket path too long for sun_path") {
        ClamdOptions o;
        o.socket_path = "/" + std::string(120, 'x');
        auto s = ClamdScanner::connect(o);
        REQUIRE_FALSE(s);
        CHECK(s.error().what == "av.unavailable");
    }
    SUBCASE("a zero timeout is refused") {
        ClamdOptions o = options_for(dir, 0ms);
        auto s = ClamdScanner::connect(o);
        REQUIRE_FALSE(s);
        CHECK(s.error().what == "av.limits_invalid");
    }
}

TEST_CASE("clamd: the input goes in chunks of at most chunk_size, then a zero-length one") {
    SocketDir dir;
    std::vector<InstreamRequest> seen;
    FakeClamd fake(dir.socket(), with_instream([&seen](FakeConnection& c) {
                       seen.push_back(c.instream());
                       c.send(reply_of(seen.back().data) + '\0');
                   }));
    ClamdOptions o = options_for(dir);
    std::string input;
    for (int i = 0; i < 200000; ++i) {
        input += static_cast<char>(i * 7 + (i >> 8)); // every byte value, NULs included
    }
    struct Case {
        std::size_t chunk_size;
        std::size_t size;
    };
    for (const Case c :
         {Case{65536, 200000}, Case{1, 17}, Case{4096, 4096}, Case{4096, 4097}, Case{1000, 0}}) {
        CAPTURE(c.chunk_size);
        CAPTURE(c.size);
        o.chunk_size = c.chunk_size;
        auto scanner = connect_ok(o);
        seen.clear();
        const std::string data = input.substr(0, c.size);
        auto r = scanner->scan(as_bytes(data), "x.bin");
        REQUIRE(r);
        CHECK(r->status == ScanStatus::Clean);
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].terminated);
        CHECK(seen[0].data == data);
        std::size_t total = 0;
        for (const auto n : seen[0].chunks) {
            CHECK(n >= 1);
            CHECK(n <= c.chunk_size);
            total += n;
        }
        CHECK(total == c.size);
        CHECK(seen[0].chunks.size() == (c.size + c.chunk_size - 1) / c.chunk_size);
    }
}

TEST_CASE("clamd: a finding is infected with its name, a reply in pieces is read whole") {
    SocketDir dir;
    FakeClamd fake(dir.socket(), with_instream([](FakeConnection& c) {
                       (void)c.instream();
                       // clamd writes once; a reply may still arrive in several reads.
                       for (std::string_view piece : {"str", "eam: Test.Ev", "il FOUND"}) {
                           c.send(piece);
                           std::this_thread::sleep_for(5ms); // makes separate reads likely
                       }
                       c.send(std::string_view("\0", 1));
                   }));
    auto scanner = connect_ok(options_for(dir));
    const std::string evil = "some EVIL bytes";
    auto r = scanner->scan(as_bytes(evil), "evil.exe");
    REQUIRE(r);
    CHECK(r->status == ScanStatus::Infected);
    CHECK(r->signatures == std::vector<std::string>{"Test.Evil"});
}

TEST_CASE("clamd: a stream clamd refuses as too long is incomplete, never clean") {
    SocketDir dir;
    // As clamd at its StreamMaxLength: stops reading, answers, closes while the client may
    // still be sending.
    FakeClamd fake(dir.socket(), with_instream([](FakeConnection& c) {
                       (void)c.instream(100000);
                       c.send(std::string_view("INSTREAM size limit exceeded. ERROR\0", 36));
                   }));
    auto scanner = connect_ok(options_for(dir));
    const std::string big(8U << 20U, 'a');
    auto r = scanner->scan(as_bytes(big), "big.bin");
    REQUIRE_MESSAGE(r, (r ? std::string() : r.error().detail));
    CHECK(r->status == ScanStatus::Incomplete);
    CHECK(r->reason == "limits.exceeded");
}

TEST_CASE("clamd: input over max_scan_size is incomplete and not sent") {
    SocketDir dir;
    FakeClamd fake(dir.socket(), well_behaved_clamd(reply_of));
    ClamdOptions o = options_for(dir);
    o.max_scan_size = 1000;
    auto scanner = connect_ok(o);
    const int before = fake.connections();
    const std::string over(1001, 'a');
    auto r = scanner->scan(as_bytes(over), "");
    REQUIRE(r);
    CHECK(r->status == ScanStatus::Incomplete);
    CHECK(r->reason == "limits.exceeded");
    CHECK(fake.connections() == before);
    const std::string at(1000, 'a');
    auto ok = scanner->scan(as_bytes(at), "");
    REQUIRE(ok);
    CHECK(ok->status == ScanStatus::Clean);
    CHECK(fake.connections() == before + 1);
}

TEST_CASE("clamd: a connection closed before the whole reply is av.unavailable") {
    SocketDir dir;
    std::string reply;
    FakeClamd fake(dir.socket(), with_instream([&reply](FakeConnection& c) {
                       (void)c.instream();
                       c.send(reply); // no NUL: the connection closes after it
                   }));
    auto scanner = connect_ok(options_for(dir));
    for (std::string r : {"", "stream: O", "stream: OK"}) {
        CAPTURE(r);
        reply = r;
        auto s = scanner->scan(as_bytes(std::string_view("hello")), "");
        REQUIRE_FALSE(s);
        CHECK(s.error().what == "av.unavailable");
        CHECK(s.error().code == ErrorCode::Transient);
    }
}

TEST_CASE("clamd: a clamd that reads but never answers times out as av.unavailable") {
    SocketDir dir;
    FakeClamd fake(dir.socket(), with_instream([](FakeConnection& c) {
                       (void)c.instream();
                       c.wait_closed(); // no reply until the client gives up
                   }));
    auto scanner = connect_ok(options_for(dir, 300ms));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = scanner->scan(as_bytes(std::string_view("hello")), "");
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(r);
    CHECK(r.error().what == "av.unavailable");
    CHECK(r.error().detail.find("no answer within 300 ms") != std::string::npos);
    CHECK(took >= 300ms);
    CHECK(took < 4s);
}

TEST_CASE("clamd: a clamd that stopped after start is av.unavailable for every scan") {
    SocketDir dir;
    FakeClamd fake(dir.socket(), well_behaved_clamd(reply_of));
    auto scanner = connect_ok(options_for(dir));
    auto before = scanner->scan(as_bytes(std::string_view("hello")), "");
    REQUIRE(before);
    CHECK(before->status == ScanStatus::Clean);
    fake.stop();
    auto after = scanner->scan(as_bytes(std::string_view("hello")), "");
    REQUIRE_FALSE(after);
    CHECK(after.error().what == "av.unavailable");
    CHECK(after.error().code == ErrorCode::Transient);
}

TEST_CASE("clamd: scans from several threads each get their own connection and verdict") {
    SocketDir dir;
    FakeClamd fake(dir.socket(), well_behaved_clamd(reply_of));
    auto scanner = connect_ok(options_for(dir));
    std::vector<std::thread> threads;
    std::vector<int> infected(4, -1);
    for (std::size_t t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const std::string data = t % 2 == 0 ? "EVIL" : "good";
            auto r = scanner->scan(as_bytes(data), "");
            infected[t] = r ? static_cast<int>(r->status == ScanStatus::Infected) : -1;
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    CHECK(infected == std::vector<int>{1, 0, 1, 0});
}
