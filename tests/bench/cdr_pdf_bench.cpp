// Benchmark of the PDF CDR engine (filters/cdr/pdf).
//
//   mugaika_bench_cdr_pdf [--quick]
//
// Prints
//   * rebuild MB/s on PDFs generated here with qpdf: text pages (content compressed, objects in
//     object streams), image-heavy pages (large image streams, copied as they are), and pages
//     with many link annotations (every URI action removed and listed);
//   * the peak RSS of a child process that reads a 50 MB PDF (pages with large image streams)
//     and rebuilds it, against the 50 MB x 3 + 64 MB the pipeline allows;
//   * the peak RSS and result of a child rebuilding a token bomb (one array of millions of
//     integers) under an address-space limit, which is how the helper process must contain
//     qpdf's in-memory object model;
//   * pdf_flatten throughput in pages/s at 150 dpi.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFWriter.hh>

#include "filters/cdr/cdr.hpp"

using namespace mugaika::filters;
using Clock = std::chrono::steady_clock;
using Obj = QPDFObjectHandle;

// poppler initialises fontconfig once per process (flatten) and fontconfig keeps that memory to
// the end: LeakSanitizer would report 288 bytes from libfontconfig in the asan build. Only that
// library is suppressed (as in pdf_engine_test.cpp).
extern "C" const char* __lsan_default_suppressions() {
    return "leak:libfontconfig.so\n";
}

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// A page of `w` x `h` points drawing `content`, with Helvetica as /F1 and `images` as /Im<i>.
Obj make_page(QPDF& q, const std::string& content, const std::vector<Obj>& images = {}) {
    Obj font = Obj::parse("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
    Obj fonts = Obj::newDictionary();
    fonts.replaceKey("/F1", font);
    Obj res = Obj::newDictionary();
    res.replaceKey("/Font", fonts);
    if (!images.empty()) {
        Obj xo = Obj::newDictionary();
        for (std::size_t i = 0; i < images.size(); ++i) {
            xo.replaceKey("/Im" + std::to_string(i), images[i]);
        }
        res.replaceKey("/XObject", xo);
    }
    Obj page = Obj::parse("<< /Type /Page /MediaBox [0 0 595 842] >>");
    page.replaceKey("/Resources", res);
    page.replaceKey("/Contents", q.newStream(content));
    return q.makeIndirectObject(page);
}

std::string serialize(QPDF& q, bool object_streams) {
    QPDFWriter w(q);
    w.setOutputMemory();
    w.setCompressStreams(true);
    w.setObjectStreamMode(object_streams ? qpdf_o_generate : qpdf_o_disable);
    w.setDeterministicID(true);
    w.write();
    std::unique_ptr<Buffer> b(w.getBuffer());
    return {reinterpret_cast<const char*>(b->getBuffer()), b->getSize()};
}

std::string text_content(std::mt19937& rng, int lines) {
    static const char* words[] = {"council",  "budget", "meeting", "minutes", "report",
                                  "schedule", "water",  "road",    "school",  "tax"};
    std::string c = "BT /F1 10 Tf 50 800 Td 12 TL\n";
    for (int l = 0; l < lines; ++l) {
        c += "(";
        for (int w = 0; w < 12; ++w) {
            c += words[rng() % 10];
            c += ' ';
        }
        c += ") '\n";
    }
    return c + "ET\n";
}

std::string text_pdf(int pages) {
    std::mt19937 rng(1);
    QPDF q;
    q.emptyPDF();
    QPDFPageDocumentHelper h(q);
    for (int i = 0; i < pages; ++i) {
        h.addPage(QPDFPageObjectHelper(make_page(q, text_content(rng, 60))), false);
    }
    return serialize(q, true);
}

/// Pages with `per_page` images of `image_bytes` random bytes each, labelled /DCTDecode (the
/// engine copies image streams without decoding them, so their content does not matter).
std::string image_pdf(int pages, int per_page, std::size_t image_bytes) {
    std::mt19937_64 rng(2);
    QPDF q;
    q.emptyPDF();
    QPDFPageDocumentHelper h(q);
    for (int i = 0; i < pages; ++i) {
        std::vector<Obj> images;
        std::string draw;
        for (int k = 0; k < per_page; ++k) {
            std::string data(image_bytes, '\0');
            for (std::size_t j = 0; j + 8 <= data.size(); j += 8) {
                const auto v = rng();
                std::memcpy(&data[j], &v, 8);
            }
            Obj img = q.newStream();
            img.replaceStreamData(data, Obj::newName("/DCTDecode"), Obj::newNull());
            img.getDict().replaceKey("/Type", Obj::newName("/XObject"));
            img.getDict().replaceKey("/Subtype", Obj::newName("/Image"));
            img.getDict().replaceKey("/Width", Obj::newInteger(1000));
            img.getDict().replaceKey("/Height", Obj::newInteger(1000));
            img.getDict().replaceKey("/ColorSpace", Obj::newName("/DeviceRGB"));
            img.getDict().replaceKey("/BitsPerComponent", Obj::newInteger(8));
            images.push_back(img);
            draw += "q 500 0 0 400 40 " + std::to_string(40 + 420 * (k % 2)) + " cm /Im" +
                    std::to_string(k) + " Do Q\n";
        }
        h.addPage(QPDFPageObjectHelper(make_page(q, draw, images)), false);
    }
    return serialize(q, false);
}

std::string annotation_pdf(int pages, int per_page) {
    std::mt19937 rng(3);
    QPDF q;
    q.emptyPDF();
    QPDFPageDocumentHelper h(q);
    for (int i = 0; i < pages; ++i) {
        Obj page = make_page(q, text_content(rng, 20));
        Obj annots = Obj::newArray();
        for (int k = 0; k < per_page; ++k) {
            const int y = 20 + (k % 40) * 20;
            annots.appendItem(q.makeIndirectObject(Obj::parse(
                "<< /Type /Annot /Subtype /Link /Rect [50 " + std::to_string(y) + " 300 " +
                std::to_string(y + 15) + "] /A << /S /URI /URI (https://example.jp/p" +
                std::to_string(i) + "/" + std::to_string(k) + ") >> >>")));
        }
        page.replaceKey("/Annots", annots);
        h.addPage(QPDFPageObjectHelper(page), false);
    }
    return serialize(q, true);
}

/// One page whose dictionary holds an array of `n` integers: qpdf makes one object per token.
std::string token_bomb(std::size_t n) {
    std::string arr = "[";
    for (std::size_t i = 0; i < n; ++i) {
        arr += "0 ";
    }
    arr += "]";
    QPDF q;
    q.emptyPDF();
    Obj page = make_page(q, "");
    QPDFPageDocumentHelper(q).addPage(QPDFPageObjectHelper(page), false);
    std::string pdf = serialize(q, false);
    const std::string key = "/Type /Page";
    pdf.insert(pdf.find(key) + key.size(), " /Junk " + arr);
    // The xref offsets are now wrong: qpdf reconstructs the table, as for any damaged file.
    return pdf;
}

void rebuild_rate(const std::string& label, const std::string& pdf, int rounds) {
    const cdr::Engine* e = cdr::find_engine("pdf");
    cdr::Options o;
    std::size_t removed = 0;
    std::size_t out_size = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        auto r = e->rebuild(bytes_of(pdf), "bench.pdf", o);
        if (!r) {
            std::printf("  %-28s FAILED: %s %s\n", label.c_str(),
                        std::string(r.error().what).c_str(), r.error().detail.c_str());
            return;
        }
        removed = r->removed.size();
        out_size = r->bytes.size();
    }
    const double s = seconds_since(t0);
    const double mb = static_cast<double>(pdf.size()) * rounds / 1e6;
    std::printf("  %-28s %8.2f MB in %7.1f KB out %6zu removed  %7.1f MB/s\n", label.c_str(),
                static_cast<double>(pdf.size()) / 1e6, static_cast<double>(out_size) / 1e3, removed,
                mb / s);
}

/// The child side of child_peak: reads `path`, rebuilds it once under an optional
/// address-space limit, and prints the result for the parent.
int child_rebuild(const char* path, const char* limit) {
    const rlim_t address_limit = std::strtoull(limit, nullptr, 10);
    if (address_limit != 0) {
        rlimit lim{address_limit, address_limit};
        setrlimit(RLIMIT_AS, &lim);
    }
    std::string input;
    if (std::FILE* f = std::fopen(path, "rb")) {
        std::fseek(f, 0, SEEK_END);
        input.resize(static_cast<std::size_t>(std::ftell(f)));
        std::fseek(f, 0, SEEK_SET);
        const auto n = std::fread(input.data(), 1, input.size(), f);
        std::fclose(f);
        input.resize(n);
    }
    const auto t0 = Clock::now();
    auto r = cdr::find_engine("pdf")->rebuild(bytes_of(input), "big.pdf", cdr::Options{});
    std::printf("%s in %.2f s", r ? "rebuilt" : std::string(r.error().what).c_str(),
                seconds_since(t0));
    return 0;
}

/// Rebuilds `pdf` in a fresh process (this program, exec'd, so that nothing of this one counts)
/// optionally under an address-space limit, and prints its peak RSS and result.
void child_peak(const char* self, const char* label, const std::string& pdf, rlim_t address_limit) {
    char path[] = "/tmp/mugaika-pdf-bench-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0 || ::write(fd, pdf.data(), pdf.size()) != static_cast<ssize_t>(pdf.size())) {
        std::perror("temporary file");
        return;
    }
    close(fd);
    std::fflush(stdout);
    int fds[2];
    if (pipe(fds) != 0) {
        std::perror("pipe");
        return;
    }
    const std::string limit = std::to_string(address_limit);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, "--child-rebuild", path, limit.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(fds[1]);
    char msg[256] = {};
    const auto n = ::read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    unlink(path);
    std::printf("  %-28s %8.2f MB in, peak RSS %7.1f MB (%s)%s\n", label,
                static_cast<double>(pdf.size()) / 1e6, static_cast<double>(ru.ru_maxrss) / 1024.0,
                n > 0 ? msg : "child died", WIFSIGNALED(status) ? " [killed]" : "");
}

void flatten_rate(const std::string& pdf, int pages, int rounds) {
    const cdr::Engine* e = cdr::find_engine("pdf");
    cdr::Options o;
    o.pdf_flatten = true;
    o.flatten_dpi = 150;
    std::size_t out_size = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        auto r = e->rebuild(bytes_of(pdf), "bench.pdf", o);
        if (!r) {
            std::printf("  flatten FAILED: %s\n", std::string(r.error().what).c_str());
            return;
        }
        out_size = r->bytes.size();
    }
    const double s = seconds_since(t0);
    std::printf("  flatten %d A4 text pages at 150 dpi: %6.1f pages/s, %7.1f KB per page\n", pages,
                pages * rounds / s, static_cast<double>(out_size) / 1e3 / pages);
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "--child-rebuild") == 0) {
        return child_rebuild(argv[2], argv[3]);
    }
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int rounds = quick ? 1 : 5;
    std::printf("PDF CDR (qpdf %s)%s\n", QPDF::QPDFVersion().c_str(), quick ? " --quick" : "");

    std::printf("rebuild:\n");
    const int text_pages = quick ? 20 : 200;
    const int image_pages = quick ? 2 : 20;
    const int link_pages = quick ? 10 : 100;
    rebuild_rate("text, " + std::to_string(text_pages) + " pages", text_pdf(text_pages), rounds);
    rebuild_rate("images, " + std::to_string(image_pages) + " x 2 x 1 MB",
                 image_pdf(image_pages, 2, 1 << 20U), rounds);
    rebuild_rate("links, " + std::to_string(link_pages) + " x 100 URI",
                 annotation_pdf(link_pages, 100), rounds);

    std::printf("peak memory (child process):\n");
    const std::string big = image_pdf(quick ? 5 : 50, 1, 1 << 20U);
    child_peak("/proc/self/exe", quick ? "5 MB of images" : "50 MB of images", big, 0);
    const double allowed = static_cast<double>(big.size()) * 3 / 1e6 + 64;
    std::printf("  pipeline allows %.0f MB for this input\n", allowed);
    child_peak("/proc/self/exe", "token bomb, 1 GiB AS limit",
               token_bomb(quick ? 200'000 : 4'000'000), 1ULL << 30U);

    std::printf("flatten:\n");
    const int flat_pages = quick ? 2 : 20;
    flatten_rate(text_pdf(flat_pages), flat_pages, quick ? 1 : 2);
    return 0;
}
