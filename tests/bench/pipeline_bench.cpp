// Benchmark of the in-process pipeline (Gateway::process) on one thread.
//
//   mugaika_bench_pipeline [--quick] [--state-dir DIR] [--no-av]
//
// Prints messages/s and MB/s over a generated mixed corpus (plain, HTML, Japanese, multipart with
// attachments; 5 KB to 200 KB), and the peak RSS of a child process that sanitizes one 50 MB
// mail. The state dir decides what is measured: on tmpfs (/dev/shm, the default) the figures are
// the pipeline's own cost; on a disk they include the fsyncs of the quarantine and the audit.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gmime/gmime.h>

#include "gateway/config/config.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/util/encoding.hpp"

using namespace mugaika::gateway;
using Clock = std::chrono::steady_clock;

namespace {

const char* const japanese_lines[] = {
    "見本市役所 総務課 御中",
    "いつも大変お世話になっております。",
    "令和７年度の業務委託契約につきまして、下記のとおりご案内申し上げます。",
    "① 契約期間：令和７年４月１日～令和８年３月３１日",
    "② 金額：￥１，２３４，５６７－（税込）",
    "ご不明な点がございましたら、担当 髙橋までご連絡ください。"};

std::string japanese_text(std::size_t bytes, std::mt19937& rng) {
    std::string out;
    while (out.size() < bytes) {
        out += japanese_lines[rng() % 6];
        out += "\r\n";
    }
    return out;
}

std::string html_text(std::size_t bytes, std::mt19937& rng) {
    std::string out =
        "<html><head><style>p{color:red}</style><script>var x=1;</script></head><body>";
    int i = 0;
    while (out.size() < bytes) {
        out += "<p>Dear customer, <b>" + std::to_string(i) +
               "</b> 会議のご案内 &amp; details at "
               "<a href=\"https://example.com/item/" +
               std::to_string(rng() % 1000) +
               "\">this page</a>.</p>\r\n<table><tr><td>項目</td><td>金額</td></tr></table>"
               "<img src=\"https://tracker.example.com/p.gif\" width=1 height=1>\r\n";
        ++i;
    }
    return out + "</body></html>\r\n";
}

/// A PDF-shaped attachment: a header and a compressed-looking (random) stream, as real PDFs are.
std::string pdf_base64_of_size(std::size_t raw, std::mt19937& rng) {
    std::string data = "%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<</Length " + std::to_string(raw) +
                       "/Filter/FlateDecode>>\nstream\n";
    const std::size_t head = data.size();
    data.resize(head + raw);
    for (std::size_t i = head; i < data.size(); ++i) {
        data[i] = static_cast<char>(rng() & 0xff);
    }
    data += "\nendstream\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF\n";
    return base64_encode_lines(data);
}

std::string make_mail(int kind, std::size_t size, std::mt19937& rng) {
    const std::string head = "From: sender@example.com\r\nTo: staff@city.example.lg.jp\r\n"
                             "Subject: =?UTF-8?B?5Lya6K2w44Gu44GU5qGI5YaF?=\r\n"
                             "Message-ID: <bench" +
                             std::to_string(rng()) +
                             "@example.com>\r\n"
                             "Date: Sat, 21 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n";
    switch (kind) {
    case 0: { // plain ASCII
        std::string body;
        while (body.size() < size) {
            body += "The quarterly report is attached below as text. Regards, the office.\r\n";
        }
        return head + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body;
    }
    case 1: // HTML
        return head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html_text(size, rng);
    case 2: // Japanese ISO-2022-JP-labelled CP932? keep it UTF-8 8bit
        return head +
               "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
               "8bit\r\n\r\n" +
               japanese_text(size, rng);
    default: { // multipart: alternative + attachment
        const std::size_t att = size * 3 / 4 * 3 / 4;
        return head +
               "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
               "Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\n" +
               japanese_text(size / 8, rng) +
               "--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html_text(size / 8, rng) +
               "--b2--\r\n--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
               "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n" +
               pdf_base64_of_size(att, rng) + "--b1--\r\n";
    }
    }
}

/// A ClamAV database with one EICAR body signature (the official one cannot be downloaded here).
std::string write_av_database(const std::string& dir) {
    std::filesystem::create_directories(dir);
    static constexpr char hex[] = "0123456789abcdef";
    std::string body;
    for (char c : std::string("EICAR-STANDARD-ANTIVIRUS-TEST-FILE")) {
        body += hex[static_cast<unsigned char>(c) >> 4];
        body += hex[static_cast<unsigned char>(c) & 15];
    }
    std::ofstream(dir + "/bench.ndb") << "Mugaika.Test.EICAR:0:*:" << body << "\n";
    return dir;
}

/// Sanitizes one mail in this process (a fresh one, started by exec) and exits 0 on delivery.
int big_child(const std::string& state_dir, const std::string& path) {
    g_mime_init();
    auto cfg = load_config_text(builtin_config_text(), "(built-in)");
    auto copy = std::make_shared<Config>(**cfg);
    copy->state_dir = state_dir;
    copy->av_database = write_av_database(state_dir + "/clamav");
    copy->max_part_size = 64ULL << 20;
    auto gw = Gateway::open(copy);
    if (!gw) {
        return 2;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string bytes;
    bytes.resize(static_cast<std::size_t>(std::filesystem::file_size(path)));
    if (::pread(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
        return 3;
    }
    Outcome o = (*gw)->process(Envelope{}, MessageSource{bytes, fd});
    ::close(fd);
    return o.disposition == Disposition::Deliver ? 0 : 4;
}

/// Peak RSS of a fresh process (exec, not a bare fork: a forked child would count the parent's
/// pages) that sanitizes the mail at path.
long peak_rss_kib_of_child(const std::string& state_dir, const std::string& path) {
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "mugaika_bench_pipeline", "--big-child", state_dir.c_str(),
              path.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    struct rusage ru {};
    wait4(pid, &status, 0, &ru);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::printf("pipeline: big mail child failed (status %d)\n", status);
        return -1;
    }
    return ru.ru_maxrss;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "--big-child") == 0) {
        return big_child(argv[2], argv[3]);
    }
    bool quick = false;
    bool no_av = false;
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (std::strcmp(argv[i], "--no-av") == 0) {
            no_av = true;
        } else if (std::strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        }
    }
    const std::string state = base + "/mugaika-bench-" + std::to_string(::getpid());
    std::filesystem::create_directories(state);
    g_mime_init();

    std::mt19937 rng(42);
    std::vector<std::string> corpus;
    std::size_t total_bytes = 0;
    const int count = quick ? 40 : 2000;
    for (int i = 0; i < count; ++i) {
        // Sizes spread over 5 KB .. 200 KB, weighted toward small mail as real traffic is.
        const std::size_t size = 5000 + (rng() % 100 < 80 ? rng() % 30000 : rng() % 195000);
        corpus.push_back(make_mail(i % 4, size, rng));
        total_bytes += corpus.back().size();
    }

    {
        auto cfg = load_config_text(builtin_config_text(), "(built-in)");
        auto copy = std::make_shared<Config>(**cfg);
        copy->state_dir = state + "/mix";
        copy->av_database = write_av_database(state + "/clamav");
        copy->av_enabled = !no_av;
        auto gw = Gateway::open(copy);
        if (!gw) {
            std::printf("cannot open the gateway: %s\n", std::string(gw.error().what).c_str());
            return 1;
        }
        // Warm up libmagic and the first allocations.
        (void)(*gw)->process(Envelope{}, MessageSource{corpus[0], -1});
        int delivered = 0;
        const auto t0 = Clock::now();
        for (const std::string& m : corpus) {
            delivered += (*gw)->process(Envelope{}, MessageSource{m, -1}).disposition ==
                         Disposition::Deliver;
        }
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("pipeline: state dir on %s, antivirus %s\n", base.c_str(),
                    no_av ? "off" : "on (libclamav, test database)");
        std::printf("pipeline: mixed corpus: %d messages, %.1f MB, average %.1f KB\n", count,
                    static_cast<double>(total_bytes) / 1e6,
                    static_cast<double>(total_bytes) / count / 1e3);
        std::printf(
            "pipeline: mixed corpus: %.0f messages/s, %.1f MB/s on one thread (%d delivered)\n",
            count / secs, static_cast<double>(total_bytes) / 1e6 / secs, delivered);
    }

    // One 50 MB mail: a text body and a large attachment, read from a spool file.
    const std::size_t big = quick ? 5'000'000 : 50'000'000;
    const std::string path = state + "/big.eml";
    {
        std::ofstream out(path, std::ios::binary);
        out << make_mail(3, big, rng);
    }
    const auto size = std::filesystem::file_size(path);
    const long rss = peak_rss_kib_of_child(state + "/big", path);
    const double limit_mib = 3.0 * static_cast<double>(size) / 1048576.0 + 64.0;
    std::printf(
        "pipeline: one %.1f MB mail: peak RSS %.1f MiB (target < %.1f MiB: 3x size + 64 MiB)\n",
        static_cast<double>(size) / 1e6, static_cast<double>(rss) / 1024.0, limit_mib);
    std::error_code ec;
    std::filesystem::remove_all(state, ec);
    return 0;
}
