// Figures for filters/text/html_to_text: throughput on mail-like HTML, and time and peak RSS on
// hostile nesting. Standalone (no doctest). Peak RSS is per process (ru_maxrss), so each hostile
// shape runs in a forked child to get its own figure.
#include "filters/text/html_to_text.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using mugaika::filters::Budget;
using namespace mugaika::filters::text;

namespace {

std::string repeat_to(std::string_view unit, std::size_t bytes) {
    std::string s;
    s.reserve(bytes + unit.size());
    while (s.size() < bytes) {
        s.append(unit);
    }
    return s;
}

std::string mail_like(std::size_t bytes) {
    std::string s = "<html><head><meta charset=\"utf-8\"><title>市報</title>"
                    "<style>p{margin:0}</style></head><body>";
    for (int i = 0; s.size() < bytes; ++i) {
        const std::string n = std::to_string(i);
        s += "<h2>お知らせ " + n + "</h2>";
        s += "<p class=MsoNormal>市民の皆さま、いつもご利用ありがとうございます。今月の主な"
             "お知らせを&nbsp;お届けします。Lorem ipsum dolor sit amet, consectetur adipiscing "
             "elit &amp; more.<o:p></o:p></p>";
        s += "<p>詳しくは<a href=\"https://www.city.example.jp/news/" + n +
             "?utm_source=mail\">こちら</a>をご覧ください。<br>"
             "<img src=\"https://cdn.example.jp/i/" +
             n + ".png\" alt=\"写真 " + n + "\"></p>";
        s += "<table border=1><tr><th>日付</th><th>内容</th></tr><tr><td>4/" + n +
             "</td><td>説明会（市役所 3階）</td></tr></table>";
        s += "<ul><li>項目 A</li><li>項目 B <b>重要</b></li></ul>";
        s += "<div style=\"display:none\">preheader</div><!-- comment " + n + " -->\n";
    }
    return s + "</body></html>";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void throughput(const HtmlToText& h) {
    const std::string html = mail_like(2 << 20);
    const int iterations = 10;
    std::size_t out = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) {
        Budget budget(std::chrono::seconds(60), std::size_t{1} << 30);
        auto r = h.run(html, budget);
        if (!r) {
            std::printf("html_to_text: mail-like: error %.*s\n",
                        static_cast<int>(r.error().what.size()), r.error().what.data());
            return;
        }
        out = r->text.size();
    }
    const double dt = seconds_since(t0);
    std::printf("html_to_text: mail-like: %.1f MB/s (%zu bytes in, %zu bytes out, %d runs)\n",
                static_cast<double>(html.size()) * iterations / dt / 1e6, html.size(), out,
                iterations);
}

void hostile(const HtmlPolicy& policy, const char* name, const std::string& html) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        const HtmlToText h(policy);
        Budget budget(std::chrono::seconds(60), std::size_t{1} << 30);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = h.run(html, budget);
        const double dt = seconds_since(t0);
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::printf("html_to_text: hostile %-22s max_depth=%-5zu %7zu bytes: %.3f s, peak RSS %ld "
                    "MiB, %s%s\n",
                    name, policy.max_depth, html.size(), dt, ru.ru_maxrss / 1024,
                    r ? "ok" : "error ", r ? "" : std::string(r.error().what).c_str());
        std::fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
}

} // namespace

int main(int argc, char** argv) {
    // --quick: small inputs only (ctest bench.html.quick), well under 2 s in a Debug+ASan build.
    const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
    const HtmlToText h(HtmlPolicy{});
    if (!quick) {
        throughput(h);
    }

    const std::size_t size = quick ? 20 * 1000 : 500 * 1000;
    const std::string half_b = repeat_to("<b>", size / 2);
    const std::string half_div = repeat_to("<div>", size / 2);
    std::vector<std::pair<const char*, std::string>> shapes = {
        {"div", repeat_to("<div>", size) + "x"},
        {"b-i-u", repeat_to("<b><i><u>", size) + "x"},
        {"table-tr-td", repeat_to("<table><tr><td>", size) + "x"},
        {"a", repeat_to("<a href=\"http://x/\">", size) + "x"},
        {"ul-li", repeat_to("<ul><li>", size) + "x"},
        {"unknown-x", repeat_to("<x>", size) + "x"},
        {"span-text", repeat_to("<span>t ", size)},
        {"b+stray-/i", half_b + repeat_to("</i>", size / 2)},
        {"div+stray-/p", half_div + repeat_to("</p>", size / 2)},
        {"div+body", half_div + repeat_to("<body>", size / 2)},
        {"div-hidden", repeat_to("<div hidden>", size) + "x"},
    };
    for (std::size_t depth : {std::size_t{256}, html_max_depth_limit}) {
        HtmlPolicy p;
        p.max_depth = depth;
        for (const auto& [name, html] : shapes) {
            hostile(p, name, html);
        }
    }
    // Not nesting: one start tag with ~80k distinct attributes (500 KB; libxml2's duplicate-
    // attribute check is quadratic, so all but html_max_attributes are cut before parsing), a
    // single 20 MB attribute value and a 1 MB tag name (read by libxml2 as 100-byte names).
    std::string attrs = "<p";
    for (int i = 0; attrs.size() < size; ++i) {
        attrs += " a" + std::to_string(i);
    }
    hostile(HtmlPolicy{}, "attributes", attrs + ">x");
    const std::size_t value_size = quick ? std::size_t{1} << 20 : std::size_t{20} << 20;
    hostile(HtmlPolicy{}, "attribute-value",
            "<p title=\"" + std::string(value_size, 'v') + "\">x</p>");
    std::string name(quick ? 100'000 : 1'000'000, 'a');
    std::uint32_t state = 1;
    for (char& c : name) {
        state = state * 1103515245u + 12345u;
        c = static_cast<char>('a' + (state >> 16) % 26);
    }
    hostile(HtmlPolicy{}, "tag-name", "<" + name + ">x");
    return 0;
}
