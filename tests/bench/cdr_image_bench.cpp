// Throughput of the image, archive and text CDR engines on inputs generated here: photo-like
// JPEG and PNG (gradient plus noise), zips of text and images, a CP932 CSV. Prints MB/s of input
// per engine and the peak RSS of a process that rebuilds the largest image.
//
//   mugaika_bench_cdr_image [--quick]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <iconv.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vips/vips.h>
#include <zip.h>

#include "filters/cdr/cdr.hpp"

namespace {

using namespace mugaika::filters::cdr;

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

/// A photo-like RGB image: smooth gradients plus pseudo-random noise (deterministic).
std::vector<std::uint8_t> pixels(int w, int h) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    std::uint32_t seed = 12345;
    std::size_t i = 0;
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            seed = seed * 1664525U + 1013904223U;
            const int noise = static_cast<int>((seed >> 24U) & 0x1FU) - 16;
            const int r = (x * 255) / w + noise;
            const int g = (y * 255) / h + noise;
            const int b = ((x + y) * 127) / (w + h) + 64 + noise;
            px[i++] = static_cast<std::uint8_t>(std::clamp(r, 0, 255));
            px[i++] = static_cast<std::uint8_t>(std::clamp(g, 0, 255));
            px[i++] = static_cast<std::uint8_t>(std::clamp(b, 0, 255));
        }
    }
    return px;
}

std::string encode(int w, int h, bool png) {
    const std::vector<std::uint8_t> px = pixels(w, h);
    VipsImage* img = vips_image_new_from_memory(px.data(), px.size(), w, h, 3, VIPS_FORMAT_UCHAR);
    void* buf = nullptr;
    std::size_t n = 0;
    const int rc = png ? vips_pngsave_buffer(img, &buf, &n, nullptr)
                       : vips_jpegsave_buffer(img, &buf, &n, "Q", 85, nullptr);
    g_object_unref(img);
    if (rc != 0) {
        std::fprintf(stderr, "encode failed: %s\n", vips_error_buffer());
        std::exit(1);
    }
    std::string out(static_cast<const char*>(buf), n);
    g_free(buf);
    return out;
}

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& members) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
    zip_source_keep(src);
    zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    for (const auto& [name, data] : members) {
        zip_file_add(za, name.c_str(), zip_source_buffer(za, data.data(), data.size(), 0),
                     ZIP_FL_ENC_UTF_8);
    }
    zip_close(za);
    zip_stat_t st;
    zip_source_stat(src, &st);
    std::string out(st.size, '\0');
    zip_source_open(src);
    zip_source_read(src, out.data(), out.size());
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&err);
    return out;
}

std::string to_cp932(const std::string& utf8) {
    iconv_t cd = iconv_open("CP932", "UTF-8");
    std::string out(utf8.size() + 16, '\0');
    char* in = const_cast<char*>(utf8.data());
    std::size_t in_left = utf8.size();
    char* o = out.data();
    std::size_t out_left = out.size();
    iconv(cd, &in, &in_left, &o, &out_left);
    iconv_close(cd);
    out.resize(out.size() - out_left);
    return out;
}

std::string csv(std::size_t bytes) {
    std::string s = "番号,氏名,所属,金額,備考\r\n";
    for (std::size_t i = 0; s.size() < bytes * 3 / 2; ++i) {
        s += std::to_string(i) + ",髙橋 太郎,総務部 総務課,\"1,200\",①会議室の予約について\r\n";
    }
    return to_cp932(s);
}

/// Runs `engine` on `in` `rounds` times; prints MB/s of input.
void measure(const char* label, const char* engine, const std::string& in, const char* name,
             int rounds) {
    const Options options;
    double seconds = 0;
    for (int i = 0; i < rounds; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = rebuild_with(engine, bytes_of(in), name, options);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!r) {
            std::fprintf(stderr, "%s: %.*s %s\n", label, static_cast<int>(r.error().what.size()),
                         r.error().what.data(), r.error().detail.c_str());
            std::exit(1);
        }
    }
    const double mb = static_cast<double>(in.size()) * rounds / 1e6;
    std::printf("%-34s %8.2f MB in %7.3f s  %8.2f MB/s  (%.1f ms per file)\n", label, mb, seconds,
                mb / seconds, seconds * 1000 / rounds);
}

/// Peak RSS of this process in MiB.
double max_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// Child mode: generate one image, rebuild it once, print the peak RSS before and after. Runs
/// in a fresh process (libvips' threads do not survive fork, so no fork without exec).
int rss_child(bool png, int w, int h) {
    (void)rebuild_with("image", bytes_of(std::string("BM")), "seed.bmp", Options{});
    const std::string in = encode(w, h, png);
    const double before = max_rss_mib();
    auto r = rebuild_with("image", bytes_of(in), png ? "photo.png" : "photo.jpg", Options{});
    std::printf("peak RSS rebuilding a %.1f MP %s (%.1f MB): %.1f MiB (%.1f MiB before the "
                "rebuild, input generation included)%s\n",
                w * h / 1e6, png ? "png" : "jpeg", static_cast<double>(in.size()) / 1e6,
                max_rss_mib(), before, r ? "" : " FAILED");
    return r ? 0 : 1;
}

void peak_rss(const char* self, bool png, int w, int h) {
    std::fflush(stdout);
    const std::string ws = std::to_string(w);
    const std::string hs = std::to_string(h);
    const pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "--rss", png ? "png" : "jpeg", ws.c_str(), hs.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "peak RSS child failed\n");
        std::exit(1);
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string_view(argv[1]) == "--rss") {
        return rss_child(std::string_view(argv[2]) == "png", std::atoi(argv[3]),
                         std::atoi(argv[4]));
    }
    const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
    const int rounds = quick ? 1 : 3;
    // The engine initialises libvips; the bench uses libvips to make its inputs.
    {
        const std::string seed = "BM";
        (void)rebuild_with("image", bytes_of(seed), "seed.bmp", Options{});
    }
    const int w = quick ? 640 : 4000;
    const int h = quick ? 480 : 3000;
    const std::string jpeg = encode(w, h, false);
    const std::string png = encode(w, h, true);
    std::printf("image %dx%d (%.1f MP): jpeg %.2f MB, png %.2f MB\n", w, h, w * h / 1e6,
                static_cast<double>(jpeg.size()) / 1e6, static_cast<double>(png.size()) / 1e6);
    measure("image jpeg -> jpeg", "image", jpeg, "photo.jpg", rounds);
    measure("image png -> png", "image", png, "photo.png", rounds);

    std::vector<std::pair<std::string, std::string>> members;
    const std::string small_jpeg = encode(quick ? 320 : 1200, quick ? 240 : 900, false);
    const std::string text(quick ? 20'000 : 200'000, 'x');
    for (int i = 0; i < 10; ++i) {
        std::string t = "会議資料 " + std::to_string(i) + "\n";
        while (t.size() < text.size()) {
            t += "議事録の本文です。出席者は五名でした。\n";
        }
        members.emplace_back("資料/text" + std::to_string(i) + ".txt", t);
    }
    for (int i = 0; i < 4; ++i) {
        members.emplace_back("写真/photo" + std::to_string(i) + ".jpg", small_jpeg);
    }
    const std::string zip = make_zip(members);
    std::printf("zip: 10 text members, 4 jpeg members, %.2f MB\n",
                static_cast<double>(zip.size()) / 1e6);
    measure("archive zip (text + jpeg)", "archive", zip, "docs.zip", rounds);

    const std::string sjis = csv(quick ? 200'000 : 8'000'000);
    std::printf("csv: %.2f MB of CP932\n", static_cast<double>(sjis.size()) / 1e6);
    measure("text cp932 csv -> utf-8", "text", sjis, "list.csv", rounds);

    peak_rss("/proc/self/exe", false, w, h);
    peak_rss("/proc/self/exe", true, w, h);
    return 0;
}
