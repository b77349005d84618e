// Benchmark of the attachment checks: the ClamAV engine and the archive lister.
//
//   mugaika_bench_av [--quick]
//
// Prints
//   * engine load and compile time (AvEngine::load) for a test database written here: one body
//     signature for EICAR and one MD5 hash signature (.hdb) per file of Debian's
//     clamav-testfiles, computed here (the official database cannot be downloaded);
//   * scan MB/s with libclamav over a mixed attachment corpus generated here (Japanese text, CSV,
//     HTML, PDF-like documents, random binary, zips of text and of binaries, a tar.gz) plus the
//     clamav-testfiles files, one thread;
//   * archive listing MB/s (ArchiveInspector with libmagic on every member
//     that is not text, as the pipeline does) over the archives of
//     that corpus, and the time to list a 10,000-member zip.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "filters/archive/archive_inspector.hpp"
#include "filters/av/av_engine.hpp"
#include "filters/detect/type_detector.hpp"

namespace fs = std::filesystem;
using namespace mugaika::filters;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string md5_hex(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
    std::string out;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", md[i]);
        out += buf;
    }
    return out;
}

/// An archive written with libarchive: format "zip" or "tar" (+ "gzip" filter).
std::string write_archive(const std::string& format, const std::string& filter,
                          const std::vector<std::pair<std::string, std::string>>& entries) {
    struct archive* a = archive_write_new();
    if (format == "zip") {
        archive_write_set_format_zip(a);
    } else {
        archive_write_set_format_pax_restricted(a);
    }
    if (filter == "gzip") {
        archive_write_add_filter_gzip(a);
    }
    std::size_t cap = 1 << 20;
    for (const auto& [_, data] : entries) {
        cap += data.size() + 512;
    }
    std::string out(cap, '\0');
    std::size_t used = 0;
    archive_write_open_memory(a, out.data(), out.size(), &used);
    for (const auto& [name, data] : entries) {
        struct archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, name.c_str());
        archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, data.data(), data.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    out.resize(used);
    return out;
}

std::string japanese_text(std::size_t n, std::mt19937& rng) {
    static const char* const lines[] = {"令和７年度 業務委託契約書（案）\r\n",
                                        "第１条 甲は乙に対し、次の業務を委託する。\r\n",
                                        "項目,数量,単価,金額\r\n", "会議資料 第3回 議事録\r\n"};
    std::string out;
    while (out.size() < n) {
        out += lines[rng() % 4];
    }
    return out;
}

std::string pdf_like(std::size_t n, std::mt19937& rng) {
    std::string out = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\n"
                      "endobj\n2 0 obj\n<< /Length 0 >>\nstream\n";
    while (out.size() < n) {
        out += static_cast<char>(rng() % 256);
    }
    return out + "\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
}

std::string random_bytes(std::size_t n, std::mt19937& rng) {
    std::string out(n, '\0');
    for (char& c : out) {
        c = static_cast<char>(rng() % 256);
    }
    return out;
}

struct Item {
    std::string name;
    std::string data;
};

} // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int scale = quick ? 1 : 8;
    if (auto ok = av::init_clamav(); !ok) {
        std::fprintf(stderr, "init_clamav: %s\n", ok.error().detail.c_str());
        return 1;
    }
    const fs::path db =
        fs::temp_directory_path() / ("mugaika-av-bench-" + std::to_string(getpid()));
    fs::create_directories(db);
    {
        std::ofstream(db / "bench.ndb") << "Mugaika.Bench.EICAR:0:*:"
                                        << "45494341522d5354414e444152442d414e544956495255532d544"
                                           "553542d46494c45"
                                        << "\n";
        std::ofstream hdb(db / "bench.hdb");
        const fs::path testfiles = "/usr/share/clamav-testfiles";
        if (fs::is_directory(testfiles)) {
            for (const auto& e : fs::directory_iterator(testfiles)) {
                if (e.is_regular_file()) {
                    const std::string data = read_file(e.path());
                    hdb << md5_hex(data) << ":" << data.size() << ":Mugaika.Bench."
                        << e.path().filename().string() << "\n";
                }
            }
        }
    }

    // 1. Engine load and compile.
    std::vector<double> loads;
    std::shared_ptr<const av::AvEngine> engine;
    for (int i = 0; i < (quick ? 1 : 5); ++i) {
        const auto t0 = Clock::now();
        auto e = av::AvEngine::load(db.string(), av::ScanLimits{});
        loads.push_back(seconds_since(t0));
        if (!e) {
            std::fprintf(stderr, "load: %s %s\n", e.error().what.data(), e.error().detail.c_str());
            return 1;
        }
        engine = *e;
    }
    std::sort(loads.begin(), loads.end());
    std::printf("av engine: %u signatures, load+compile median %.1f ms (min %.1f, max %.1f)\n",
                engine->signature_count(), loads[loads.size() / 2] * 1e3, loads.front() * 1e3,
                loads.back() * 1e3);

    // 2. The corpus.
    std::mt19937 rng(42);
    std::vector<Item> corpus;
    for (int i = 0; i < 4 * scale; ++i) {
        corpus.push_back({"notes.txt", japanese_text(50'000 + rng() % 150'000, rng)});
        corpus.push_back({"list.csv", japanese_text(20'000 + rng() % 80'000, rng)});
        corpus.push_back(
            {"page.html", "<html><body><p>" + japanese_text(30'000, rng) + "</p></body></html>"});
        corpus.push_back({"report.pdf", pdf_like(200'000 + rng() % 800'000, rng)});
        corpus.push_back({"photo.jpg", "\xff\xd8\xff\xe0" + random_bytes(300'000, rng)});
    }
    std::vector<std::size_t> archives;
    for (int i = 0; i < 2 * scale; ++i) {
        std::vector<std::pair<std::string, std::string>> texts;
        for (int k = 0; k < 20; ++k) {
            texts.emplace_back("資料/file" + std::to_string(k) + ".txt",
                               japanese_text(20'000 + rng() % 40'000, rng));
        }
        archives.push_back(corpus.size());
        corpus.push_back({"docs.zip", write_archive("zip", "", texts)});
        archives.push_back(corpus.size());
        corpus.push_back({"bin.zip", write_archive("zip", "",
                                                   {{"a.bin", random_bytes(400'000, rng)},
                                                    {"b.pdf", pdf_like(300'000, rng)}})});
        archives.push_back(corpus.size());
        corpus.push_back({"logs.tar.gz", write_archive("tar", "gzip", texts)});
    }
    const fs::path testfiles = "/usr/share/clamav-testfiles";
    std::size_t testfile_count = 0;
    if (fs::is_directory(testfiles)) {
        for (const auto& e : fs::directory_iterator(testfiles)) {
            if (e.is_regular_file()) {
                corpus.push_back({e.path().filename().string(), read_file(e.path())});
                ++testfile_count;
            }
        }
    }
    std::uint64_t total = 0;
    for (const Item& it : corpus) {
        total += it.data.size();
    }

    // 3. Scan MB/s.
    std::size_t infected = 0;
    std::size_t incomplete = 0;
    const auto ts = Clock::now();
    for (const Item& it : corpus) {
        auto r = engine->scan(bytes_of(it.data), it.name);
        if (!r) {
            std::fprintf(stderr, "scan %s: %s\n", it.name.c_str(), r.error().detail.c_str());
            return 1;
        }
        infected += r->status == av::ScanStatus::Infected ? 1 : 0;
        incomplete += r->status == av::ScanStatus::Incomplete ? 1 : 0;
    }
    const double scan_s = seconds_since(ts);
    std::printf("av scan: %zu files, %.1f MB in %.2f s: %.1f MB/s, %.0f files/s "
                "(%zu infected of %zu clamav-testfiles, %zu incomplete)\n",
                corpus.size(), static_cast<double>(total) / 1e6, scan_s,
                static_cast<double>(total) / 1e6 / scan_s,
                static_cast<double>(corpus.size()) / scan_s, infected, testfile_count, incomplete);

    // 4. Archive listing with member types, as the pipeline does.
    auto detector = detect::TypeDetector::create();
    if (!detector) {
        std::fprintf(stderr, "libmagic: %s\n", detector.error().detail.c_str());
        return 1;
    }
    const archive::ArchiveInspector inspector(archive::ArchiveLimits{},
                                              [&](std::span<const std::byte> b) {
                                                  if (detect::looks_textual(b)) {
                                                      return std::string("text/plain");
                                                  }
                                                  auto t = detector->mime_type(b);
                                                  return t ? *t : std::string("unknown");
                                              });
    std::uint64_t archive_bytes = 0;
    std::size_t members = 0;
    const auto tl = Clock::now();
    for (std::size_t idx : archives) {
        auto r = inspector.inspect(bytes_of(corpus[idx].data), corpus[idx].name);
        if (!r || r->status != archive::ArchiveStatus::Listed) {
            std::fprintf(stderr, "listing %s failed\n", corpus[idx].name.c_str());
            return 1;
        }
        archive_bytes += corpus[idx].data.size();
        members += r->members.size();
    }
    const double list_s = seconds_since(tl);
    std::printf("archive listing: %zu archives, %zu members, %.1f MB in %.3f s: %.1f MB/s\n",
                archives.size(), members, static_cast<double>(archive_bytes) / 1e6, list_s,
                static_cast<double>(archive_bytes) / 1e6 / list_s);

    std::vector<std::pair<std::string, std::string>> many;
    for (int i = 0; i < 10000; ++i) {
        many.emplace_back("docs/file" + std::to_string(i) + ".txt", "content " + std::to_string(i));
    }
    const std::string big = write_archive("zip", "", many);
    std::vector<double> times;
    for (int i = 0; i < (quick ? 1 : 5); ++i) {
        const auto t0 = Clock::now();
        auto r = inspector.inspect(bytes_of(big), "many.zip");
        times.push_back(seconds_since(t0));
        if (!r || r->members.size() != 10000) {
            std::fprintf(stderr, "10,000-member listing failed\n");
            return 1;
        }
    }
    std::sort(times.begin(), times.end());
    std::printf("archive listing: 10,000-member zip (%zu bytes) median %.1f ms (libmagic on "
                "every member that is not text, as the pipeline does)\n",
                big.size(), times[times.size() / 2] * 1e3);
    const auto tz = Clock::now();
    auto scanned = engine->scan(bytes_of(big), "many.zip");
    const char* status = !scanned                                      ? "error"
                         : scanned->status == av::ScanStatus::Clean    ? "clean"
                         : scanned->status == av::ScanStatus::Infected ? "infected"
                                                                       : "incomplete";
    std::printf("av scan: the same zip in %.1f ms (%s %s)\n", seconds_since(tz) * 1e3, status,
                scanned ? scanned->reason.c_str() : "");

    fs::remove_all(db);
    return 0;
}
