#include "gateway/cdr/cdr_runner.hpp"

#include <doctest/doctest.h>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "../test_support.hpp"

using namespace mugaika;
using namespace mugaika::gateway;
using test::TempDir;

namespace {

/// A stand-in helper: a shell script speaking the helper's protocol, for the runner's own
/// behaviour (timeouts, crashes, descriptors). The real helper is tested below too.
std::string fake_helper(const TempDir& dir, const std::string& name, const std::string& body) {
    const auto path = dir.path() / name;
    std::ofstream(path) << "#!/bin/bash\n" << body << "\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path.string();
}

CdrLimits limits_for(const TempDir& dir, std::string helper) {
    CdrLimits l;
    l.helper = std::move(helper);
    l.time_limit = std::chrono::seconds(10);
    l.work_root = dir.str();
    return l;
}

const std::string ok_report = R"({"ok":true,"filename":"out.txt","content_type":"text/plain",)"
                              R"("size":0,"removed":[{"kind":"text.control_chars",)"
                              R"("location":"line 2","url":""}]})";

} // namespace

TEST_CASE("cdr runner: the helper's output and report come back, its work dir is removed") {
    TempDir dir;
    // Echo the input back as the rebuilt file, with the work dir and the open descriptors.
    const std::string helper =
        fake_helper(dir, "ok.sh",
                    "cat >&3\necho \"TMPDIR=$TMPDIR\" >&3\nfor f in /proc/$$/fd/*; do echo "
                    "\"fd ${f##*/}\" >&3; done\necho '" +
                        ok_report + "'");
    auto out =
        run_cdr("text", "hello\n", "in.txt", filters::cdr::Options{}, limits_for(dir, helper));
    REQUIRE_MESSAGE(out, (out ? "" : std::string(out.error().what) + " " + out.error().detail));
    CHECK(out->filename == "out.txt");
    CHECK(out->content_type == "text/plain");
    REQUIRE(out->removed.size() == 1);
    CHECK(out->removed[0] == filters::cdr::Removed{"text.control_chars", "line 2", ""});
    CHECK(out->bytes.rfind("hello\nTMPDIR=" + dir.str() + "/mugaika-cdr-", 0) == 0);
    // Only stdin, stdout, stderr, the output and the shell's own glob descriptor are open.
    for (int fd = 5; fd < 64; ++fd) {
        CAPTURE(fd);
        CHECK(out->bytes.find("fd " + std::to_string(fd) + "\n") == std::string::npos);
    }
    const auto tmp_at = out->bytes.find("TMPDIR=") + 7;
    const std::string work = out->bytes.substr(tmp_at, out->bytes.find('\n', tmp_at) - tmp_at);
    CHECK_FALSE(std::filesystem::exists(work));
}

TEST_CASE("cdr runner: a helper that runs too long is killed at the time limit") {
    TempDir dir;
    const std::string helper = fake_helper(dir, "slow.sh", "exec sleep 30");
    CdrLimits l = limits_for(dir, helper);
    l.time_limit = std::chrono::milliseconds(300);
    const auto t0 = std::chrono::steady_clock::now();
    auto out = run_cdr("pdf", "x", "a.pdf", filters::cdr::Options{}, l);
    const auto waited = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(out);
    CHECK(out.error().what == "cdr.timeout");
    CHECK(out.error().code == filters::ErrorCode::LimitExceeded);
    CHECK(waited < std::chrono::seconds(5)); // killed, not waited for
}

TEST_CASE("cdr runner: a crash, a bad report and a missing helper are errors, never output") {
    TempDir dir;
    SUBCASE("killed by a signal") {
        auto out = run_cdr("image", "x", "a.png", filters::cdr::Options{},
                           limits_for(dir, fake_helper(dir, "segv.sh", "kill -SEGV $$")));
        REQUIRE_FALSE(out);
        CHECK(out.error().what == "cdr.crashed");
        CHECK(out.error().detail.find("signal=11") != std::string::npos);
    }
    SUBCASE("exits non-zero after writing output") {
        auto out = run_cdr("image", "x", "a.png", filters::cdr::Options{},
                           limits_for(dir, fake_helper(dir, "exit.sh", "cat >&3\nexit 3")));
        REQUIRE_FALSE(out);
        CHECK(out.error().what == "cdr.crashed");
    }
    SUBCASE("a report that is not JSON") {
        auto out = run_cdr("image", "x", "a.png", filters::cdr::Options{},
                           limits_for(dir, fake_helper(dir, "junk.sh", "cat >&3\necho ok")));
        REQUIRE_FALSE(out);
        CHECK(out.error().what == "cdr.protocol");
    }
    SUBCASE("an error code of an odd shape is not taken over") {
        auto out = run_cdr(
            "image", "x", "a.png", filters::cdr::Options{},
            limits_for(
                dir,
                fake_helper(
                    dir, "odd.sh",
                    R"(echo '{"ok":false,"code":"rm -rf /","class":"malformed","detail":""}')")));
        REQUIRE_FALSE(out);
        CHECK(out.error().what == "cdr.protocol");
    }
    SUBCASE("no helper") {
        auto out = run_cdr("image", "x", "a.png", filters::cdr::Options{},
                           limits_for(dir, (dir.path() / "missing").string()));
        REQUIRE_FALSE(out);
        CHECK(out.error().what == "cdr.helper_unavailable");
    }
    SUBCASE("output larger than allowed") {
        filters::cdr::Options o;
        o.max_output_size = 4;
        auto out = run_cdr(
            "text", "0123456789", "a.txt", o,
            limits_for(dir, fake_helper(dir, "big.sh", "cat >&3\necho '" + ok_report + "'")));
        REQUIRE_FALSE(out);
        CHECK(out.error().what == "cdr.output_too_large");
    }
}

#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("cdr runner: the helper's address space is limited") {
    TempDir dir;
    // Python needs ~30 MB to start; a 1 GiB allocation cannot succeed under a 256 MiB limit.
    const std::string helper =
        fake_helper(dir, "hungry.sh", "exec python3 -c 'b = bytearray(1 << 30)'");
    CdrLimits l = limits_for(dir, helper);
    l.memory_limit = 256ULL << 20U;
    auto out = run_cdr("image", "x", "a.png", filters::cdr::Options{}, l);
    REQUIRE_FALSE(out);
    CHECK(out.error().what == "cdr.crashed"); // MemoryError: exit 1
}
#endif

TEST_CASE("cdr runner: the real helper runs an engine and returns its refusal as it is") {
    TempDir dir;
    CdrLimits l = limits_for(dir, "");
    REQUIRE_FALSE(cdr_helper_path("").empty());
    auto out = run_cdr("no-such-engine", "x", "a.bin", filters::cdr::Options{}, l);
    REQUIRE_FALSE(out);
    CHECK(out.error().what == "cdr.no_engine");
    CHECK(out.error().code == filters::ErrorCode::Unsupported);
}

TEST_CASE("cdr protocol: options and reports survive the trip") {
    filters::cdr::Options o;
    o.pdf_links = "remove";
    o.pdf_flatten = true;
    o.flatten_dpi = 200;
    o.max_pixels = 12345;
    o.office_convert = true;
    o.soffice = "/opt/lo/soffice";
    o.work_dir = "/tmp/w";
    auto back = cdr_protocol::parse_options(cdr_protocol::options_json(o));
    REQUIRE(back);
    CHECK(back->pdf_links == "remove");
    CHECK(back->pdf_flatten);
    CHECK(back->flatten_dpi == 200);
    CHECK(back->max_pixels == 12345);
    CHECK(back->office_convert);
    CHECK(back->soffice == "/opt/lo/soffice");
    CHECK(back->work_dir == "/tmp/w");

    filters::cdr::Output out;
    out.filename = "見積書.docx";
    out.content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    out.removed = {{"ooxml.vba_project", "word/vbaProject.bin", ""},
                   {"ooxml.external_relationship", "word/_rels/settings.xml.rels",
                    "https://example.com/t.dotm"}};
    auto report = cdr_protocol::parse_report(cdr_protocol::report_json(out));
    REQUIRE(report);
    CHECK(report->filename == out.filename);
    CHECK(report->removed == out.removed);
    auto err = cdr_protocol::parse_report(cdr_protocol::report_json(
        filters::fail(filters::ErrorCode::Malformed, "cdr.pdf.encrypted", "user password")));
    REQUIRE_FALSE(err);
    CHECK(err.error().what == "cdr.pdf.encrypted");
    CHECK(err.error().code == filters::ErrorCode::Malformed);
    CHECK(err.error().detail == "user password");
}

TEST_CASE("cdr runner: the helper starts with no signal blocked, whatever its caller blocks") {
    TempDir dir;
    // SigBlk of a program the helper runs, as the output; the caller blocks everything first.
    const std::string helper = fake_helper(
        dir, "mask.sh", "grep '^SigBlk' /proc/self/status >&3\necho '" + ok_report + "'");
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    REQUIRE(pthread_sigmask(SIG_SETMASK, &all, &old) == 0);
    auto out = run_cdr("text", "x", "a.txt", filters::cdr::Options{}, limits_for(dir, helper));
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    REQUIRE(out);
    CHECK(out->bytes == "SigBlk:\t0000000000000000\n");
}
