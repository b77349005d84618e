#include "filters/text/html_to_text.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using mugaika::filters::AuditNote;
using mugaika::filters::Budget;
using mugaika::filters::ErrorCode;
using namespace mugaika::filters::text;

namespace {

bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char b = p[i];
        std::size_t len = 0;
        char32_t min = 0;
        if (b < 0x80) {
            ++i;
            continue;
        }
        if ((b & 0xE0) == 0xC0) {
            len = 2;
            min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            min = 0x10000;
        } else {
            return false;
        }
        if (i + len > s.size()) {
            return false;
        }
        char32_t cp = b & (0x7Fu >> len);
        for (std::size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

// The output contract every rendering must keep.
void check_contract(const std::string& t) {
    CHECK(valid_utf8(t));
    CHECK(t.find('\r') == std::string::npos);
    CHECK(t.find("\n\n\n") == std::string::npos);
    CHECK(t.find(" \n") == std::string::npos);
    CHECK(t.find("\t\n") == std::string::npos);
    if (!t.empty()) {
        CHECK(t.front() != '\n');
        CHECK(t.front() != ' ');
        CHECK(t.back() != '\n');
        CHECK(t.back() != ' ');
    }
    const bool clean_chars = std::all_of(t.begin(), t.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return (b >= 0x20 || c == '\n' || c == '\t') && b != 0x7F;
    });
    CHECK(clean_chars);
}

HtmlText render(std::string_view html, HtmlPolicy policy = {}) {
    const HtmlToText h(policy);
    Budget budget(std::chrono::seconds(120), std::size_t{1} << 30);
    auto r = h.run(html, budget);
    REQUIRE(r.has_value());
    check_contract(r->text);
    return std::move(*r);
}

const AuditNote* find_note(const HtmlText& t, std::string_view code) {
    for (const auto& n : t.notes) {
        if (n.code == code) {
            return &n;
        }
    }
    return nullptr;
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out.append(s);
    }
    return out;
}

struct Case {
    const char* name;
    std::string_view html;
    std::string_view expected;
};

void run_cases(const std::vector<Case>& cases, HtmlPolicy policy = {}) {
    for (const auto& c : cases) {
        SUBCASE(c.name) {
            CHECK(render(c.html, policy).text == c.expected);
        }
    }
}

} // namespace

TEST_CASE("html_to_text: script content never reaches the output") {
    struct Hidden {
        const char* name;
        std::string_view html;
    };
    const std::vector<Hidden> cases = {
        {"script", "<p>keep</p><script>var SECRET = '<p>x</p>';</script>"},
        {"script in body with markup", "keep<script>document.write('<b>SECRET</b>')</script>"},
        {"unterminated script", "keep<script>SECRET <p>still script"},
        {"style", "keep<style>p{content:'SECRET'}</style>"},
        {"template", "keep<template><p>SECRET</p></template>"},
        {"title", "<title>SECRET</title>keep"},
        {"title in body", "keep<title>SECRET</title>"},
        {"textarea", "keep<textarea>SECRET</textarea>"},
        {"select and option", "keep<select><option>SECRET</option></select>"},
        {"button", "keep<button>SECRET</button>"},
        {"input value", "keep<input type=submit value=SECRET>"},
        {"iframe", "keep<iframe src=x>SECRET</iframe>"},
        {"object", "keep<object data=x><p>SECRET</p></object>"},
        {"embed and applet", "keep<applet code=x>SECRET</applet><embed src=y>"},
        {"svg", "keep<svg><text>SECRET</text></svg>"},
        {"math", "keep<math><mi>SECRET</mi></math>"},
        {"xml island", "keep<xml><o:Document>SECRET</o:Document></xml>"},
        {"comment", "keep<!-- SECRET -->"},
        {"mso conditional comment",
         "keep<!--[if gte mso 9]><xml><o:x>SECRET</o:x></xml><![endif]-->"},
        {"hidden attribute", "keep<div hidden>SECRET</div>"},
        {"display none", "keep<div style=\"display:none\">SECRET</div>"},
        {"display none spaced upper case",
         "keep<span style=\"color:red; DISPLAY :\n None\">SECRET</span>"},
        {"display none important", "keep<div style='display:none!important'>SECRET</div>"},
        {"visibility hidden", "keep<p style=\"Visibility: Hidden\">SECRET</p>"},
        {"mso-hide all", "keep<div style=\"mso-hide:all\">SECRET</div>"},
        {"hidden ancestor of visible-looking markup",
         "keep<div hidden><p><b style=\"display:block\">SECRET</b></p></div>"},
        {"uppercase tags", "keep<SCRIPT>SECRET</SCRIPT><DIV HIDDEN>SECRET</DIV>"},
    };
    for (const auto& c : cases) {
        SUBCASE(c.name) {
            const HtmlText t = render(c.html);
            CHECK(t.text.find("SECRET") == std::string::npos);
            CHECK(t.text.find("keep") != std::string::npos);
        }
    }
}

TEST_CASE("html_to_text: text after hidden content is shown") {
    run_cases({
        {"after hidden div", "<div hidden>x</div>after", "after"},
        {"after script", "<script>x</script>after", "after"},
        {"after comment", "a<!-- x -->b", "ab"},
        {"aria-hidden is kept", "<span aria-hidden=\"true\">shown</span>", "shown"},
        {"noscript fallback is shown (mail clients run no script)", "<noscript>shown</noscript>",
         "shown"},
    });
}

TEST_CASE("html_to_text: Outlook and Word markup leaves no markers") {
    run_cases({
        {"supportLists",
         "<p class=MsoListParagraph><![if !supportLists]><span>1.<span>&nbsp; "
         "</span></span><![endif]>Item<o:p></o:p></p>",
         "1.  Item"},
        {"vml image fallback", "<p><![if !vml]><img src=\"cid:a\" alt=\"Logo\"><![endif]>x</p>",
         "[image: Logo]x"},
        {"o:p empty paragraph is a blank line",
         "<p class=MsoNormal>one<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
         "<p class=MsoNormal>two<o:p></o:p></p>",
         "one\n\ntwo"},
        {"MsoNormal lines are single lines", "<p class=MsoNormal>one</p><p class=MsoNormal>two</p>",
         "one\ntwo"},
        {"downlevel-hidden comment",
         "a<!--[if gte mso 9]><xml><o:OfficeDocumentSettings>"
         "<o:AllowPNG/></o:OfficeDocumentSettings></xml><![endif]-->b",
         "ab"},
        {"downlevel-revealed comment pair", "<!--[if !mso]><!-->shown<!--<![endif]-->", "shown"},
        {"plain less-than is text", "a < b and 3<4", "a < b and 3<4"},
        {"unterminated marker is text", "x <![if y", "x <![if y"},
        {"marker split by markup is text", "<![a<b>c</b>", "<![ac"},
    });
}

TEST_CASE("html_to_text: Japanese text and entities are decoded") {
    run_cases({
        {"utf-8 literal", "<p>日本語のテキスト、全角　スペース</p>",
         "日本語のテキスト、全角　スペース"},
        {"named and numeric entities", "&amp; &lt;tag&gt; &#x3042;&#12354; &quot;q&quot;",
         "& <tag> ああ \"q\""},
        {"nbsp is a space", "a&nbsp;b", "a b"},
        {"unknown entity is literal", "&bogus; x", "&bogus; x"},
        {"line break between kanji joins", "<p>いつも\nありがとう</p>", "いつもありがとう"},
        {"line break between latin words is a space", "<p>hello\nworld</p>", "hello world"},
        {"space between kanji stays", "<p>東京 大阪</p>", "東京 大阪"},
        {"charset meta of the original encoding is ignored",
         "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">"
         "</head><body><p>日本語</p></body></html>",
         "日本語"},
        {"iso-2022-jp meta is ignored", "<meta charset=\"iso-2022-jp\"><p>日本語</p>", "日本語"},
        {"bom is dropped", "\xEF\xBB\xBF<p>x</p>", "x"},
        {"controls are dropped", "a\x01\x1b[31mb&#x7f;c\xC2\x85", "a[31mbc"},
    });
}

TEST_CASE("html_to_text: block elements break lines and paragraphs") {
    run_cases({
        {"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
        {"divs", "<div>one</div><div>two</div>", "one\ntwo"},
        {"br", "a<br>b<br><br>c", "a\nb\n\nc"},
        {"headings", "<h1>Title</h1>text<h2>Sub</h2>more", "Title\n\ntext\n\nSub\n\nmore"},
        {"whitespace collapses", "  a \n\t b   <b> c </b>  d  ", "a b c d"},
        {"many blank paragraphs collapse", "<p>a</p><p></p><p>&nbsp;</p><br><br><br><p>b</p>",
         "a\n\nb"},
        {"hr", "<div>a<hr>b</div>", "a\n----\nb"},
        {"pre keeps spaces and newlines", "<pre>  x  y\n\n\n   z\r\nw</pre>", "x  y\n\n   z\nw"},
        {"blockquote", "<blockquote><p>q1<br>q2</p></blockquote>after", "> q1\n> q2\n\nafter"},
        {"nested blockquote", "<blockquote>a<blockquote>b</blockquote></blockquote>",
         "> a\n\n> > b"},
        {"definition list", "<dl><dt>term<dd>definition</dl>", "term\n  definition"},
        {"inline elements do not break", "<span>a</span><b>b</b><font>c</font>", "abc"},
        {"center and address", "<center>a</center><address>b</address>", "a\nb"},
    });
}

TEST_CASE("html_to_text: lists are marked and nested lists indented") {
    run_cases({
        {"unordered", "<ul><li>a<li>b</ul>", "- a\n- b"},
        {"ordered with start", "<ol start=3><li>c<li>d</ol>", "3. c\n4. d"},
        {"nested", "<ul><li>a<ul><li>a1<li>a2<ol><li>x</ol></ul><li>b</ul>",
         "- a\n  - a1\n  - a2\n    1. x\n- b"},
        {"continuation line is indented", "<ul><li>a<br>more</ul>", "- a\n  more"},
        {"empty items have no marker", "<ul><li><li>b</ul>", "- b"},
        {"paragraph in item", "<ul><li><p>a</p><li><p>b</p></ul>", "- a\n\n- b"},
        {"list item outside a list", "<li>x", "- x"},
        {"text around list", "before<ul><li>a</ul>after", "before\n\n- a\n\nafter"},
    });
}

TEST_CASE("html_to_text: table cells are separated and rows broken") {
    run_cases({
        {"simple", "<table><tr><th>名前<th>値<tr><td>a<td>1</table>", "名前 | 値\na | 1"},
        {"empty cells add no separator", "<table><tr><td><td>x<td> </table>", "x"},
        {"layout table with blocks",
         "<table><tr><td><p>one</p></td><td><p>two</p></td></tr></table>", "one\n\ntwo"},
        {"nested tables", "<table><tr><td><table><tr><td>a<td>b</table><td>c</table>", "a | b\nc"},
    });
}

TEST_CASE("html_to_text: links are shown with their target") {
    run_cases({
        {"text and url", "<a href=\"https://example.jp/a\">記事</a>",
         "記事 <https://example.jp/a>"},
        {"text equals url", "<a href=\"https://example.jp/\">https://example.jp/</a>",
         "<https://example.jp/>"},
        {"text equals url without scheme", "<a href=\"https://www.example.jp/\">www.example.jp</a>",
         "<https://www.example.jp/>"},
        {"mailto shows the address", "<a href=\"mailto:info@example.jp?subject=hi\">連絡</a>",
         "連絡 <info@example.jp>"},
        {"mailto text equals address", "<a href=\"mailto:info@example.jp\">info@example.jp</a>",
         "<info@example.jp>"},
        {"javascript dropped text kept", "<a href=\"javascript:alert(1)\">click</a>", "click"},
        {"obfuscated javascript dropped", "<a href=\" JaVa\tScRiPt:alert(1)\">click</a>", "click"},
        {"vbscript and data dropped",
         "<a href=\"vbscript:x\">a</a> <a href=\"data:text/html;base64,PHA+\">b</a>", "a b"},
        {"fragment not shown", "<a href=\"#top\">top</a>", "top"},
        {"anchor without href", "<a name=x>x</a>", "x"},
        {"empty link text", "see <a href=\"http://x.example/\"></a>", "see <http://x.example/>"},
        {"image link", "<a href=\"http://x.example/\"><img src=\"cid:b\" alt=\"Buy\"></a>",
         "[image: Buy] <http://x.example/>"},
        {"url with spaces and angle brackets", "<a href=\"http://x.example/a b<c>\">t</a>",
         "t <http://x.example/a%20b%3Cc%3E>"},
        {"relative", "<a href=\"page.html\">p</a>", "p <page.html>"},
        {"links inside sentence", "Go <a href=\"http://a.example/\">here</a> now.",
         "Go here <http://a.example/> now."},
    });
}

TEST_CASE("html_to_text: defang switch rewrites every URL scheme") {
    HtmlPolicy p;
    p.defang_links = true;
    run_cases(
        {
            {"https link", "<a href=\"https://x.example/\">t</a>", "t <hxxps://x.example/>"},
            {"http link", "<a href=\"HTTP://x.example/\">t</a>", "t <hxxp://x.example/>"},
            {"ftp link", "<a href=\"ftp://x.example/f\">t</a>", "t <fxp://x.example/f>"},
            {"url in text", "see https://x.example/path.", "see hxxps://x.example/path."},
            {"dots left as is", "<a href=\"http://a.b.example/\">http://a.b.example/</a>",
             "<hxxp://a.b.example/>"},
            {"mailto untouched", "<a href=\"mailto:a@b.example\">m</a>", "m <a@b.example>"},
        },
        p);
    SUBCASE("off by default") {
        CHECK(render("<a href=\"https://x.example/\">t</a>").text == "t <https://x.example/>");
    }
    SUBCASE("urls list keeps the original") {
        const HtmlText t = render("<a href=\"https://x.example/\">t</a>", p);
        REQUIRE(t.urls.size() == 1);
        CHECK(t.urls[0] == "https://x.example/");
    }
}

TEST_CASE("html_to_text: images become placeholders and are counted") {
    run_cases({
        {"alt", "<img src=\"cid:a\" alt=\"会社ロゴ\">", "[image: 会社ロゴ]"},
        {"no alt", "<img src=\"http://x.example/a.png\">", "[image]"},
        {"empty alt is decorative", "a<img src=\"x.png\" alt=\"\">b", "ab"},
        {"tracking pixel not shown", "a<img src=\"http://t.example/p\" width=1 height=1>b", "ab"},
        {"alt whitespace collapsed", "<img alt=\"  a \n b  \">", "[image: a b]"},
    });
    SUBCASE("counts") {
        const HtmlText t =
            render("<img src=\"http://t.example/p\" width=1 height=\"1\">"
                   "<img src=\"https://x.example/b.png\">"
                   "<img src=\"//cdn.example/c.png\">"
                   "<img src=\"data:image/png;base64,iVBORw0KGgo=\">"
                   "<img src=\"cid:part1\">"
                   "<table background=\"http://bg.example/b.jpg\"><tr><td>x</table>");
        CHECK(t.counts.images == 5);
        CHECK(t.counts.remote_images == 4);
        REQUIRE(find_note(t, html_note::remote_image_removed) != nullptr);
        CHECK(find_note(t, html_note::remote_image_removed)->detail == "count=4");
        CHECK(t.urls == std::vector<std::string>{"http://t.example/p", "https://x.example/b.png",
                                                 "//cdn.example/c.png", "http://bg.example/b.jpg"});
    }
    SUBCASE("huge alt is shortened, huge data URI never copied") {
        const std::string html = "<img alt=\"" + repeat("あ", 1000) +
                                 "\"><img src=\"data:image/png;base64," + repeat("QUFB", 250000) +
                                 "\">";
        const HtmlText t = render(html);
        CHECK(t.text.size() < 400);
        CHECK(t.text.find("QUFB") == std::string::npos);
        CHECK(t.urls.empty());
    }
}

TEST_CASE("html_to_text: active and hidden content is counted and noted") {
    const HtmlText t = render(
        "<html><head><meta http-equiv=\"Refresh\" content=\"0; URL='http://r.example/'\">"
        "<script src=\"http://s.example/a.js\"></script><style>p{}</style></head>"
        "<body onload=\"x()\"><p onclick=\"y()\" onmouseover=\"z()\">t</p>"
        "<form action=\"http://f.example/\"><input name=a><select></select><textarea></textarea>"
        "<button>b</button></form><iframe src=\"http://i.example/\"></iframe><frame src=f>"
        "<object data=o></object><embed src=e><applet code=c></applet>"
        "<div hidden>h</div><span style=\"display:none\">h</span><!-- c1 --><!-- c2 -->"
        "<a href=\"javascript:x\">j</a><a href=\"http://l.example/\">l</a></body></html>");
    const auto& c = t.counts;
    CHECK(c.scripts == 1);
    CHECK(c.styles == 1);
    CHECK(c.forms == 1);
    CHECK(c.form_controls == 4);
    CHECK(c.iframes == 2);
    CHECK(c.objects == 3);
    CHECK(c.hidden == 2);
    CHECK(c.comments == 2);
    CHECK(c.event_handlers == 3);
    CHECK(c.meta_refresh == 1);
    CHECK(c.dangerous_links == 1);
    CHECK(c.links == 1);
    const std::vector<std::pair<std::string_view, std::string_view>> expected = {
        {html_note::script_removed, "count=1"},
        {html_note::style_removed, "count=1"},
        {html_note::form_removed, "count=5"},
        {html_note::iframe_removed, "count=2"},
        {html_note::object_removed, "count=3"},
        {html_note::hidden_removed, "count=2"},
        {html_note::comment_removed, "count=2"},
        {html_note::event_handler_removed, "count=3"},
        {html_note::meta_refresh_removed, "count=1"},
        {html_note::dangerous_link_removed, "count=1"},
        {html_note::link_shown, "count=1"},
    };
    for (const auto& [code, detail] : expected) {
        CAPTURE(code);
        const AuditNote* n = find_note(t, code);
        REQUIRE(n != nullptr);
        CHECK(n->detail == detail);
    }
    CHECK(find_note(t, html_note::depth_exceeded) == nullptr);
    CHECK(t.text == "t\n\njl <http://l.example/>");
    CHECK(t.urls == std::vector<std::string>{"http://r.example/", "http://s.example/a.js",
                                             "http://f.example/", "http://i.example/", "f", "o",
                                             "e", "http://l.example/"});
}

TEST_CASE("html_to_text: url list is deduplicated and capped") {
    std::string html;
    for (int i = 0; i < 1500; ++i) {
        html += "<a href=\"http://x.example/" + std::to_string(i) + "\">a</a>";
        html += "<a href=\"http://x.example/" + std::to_string(i) + "\">b</a>";
    }
    const HtmlText t = render(html);
    CHECK(t.urls.size() == html_max_urls);
    CHECK(t.counts.urls_dropped == 1000); // occurrences of the 500 URLs past the cap
    CHECK(t.counts.links == 3000);
    REQUIRE(find_note(t, html_note::url_list_capped) != nullptr);
    SUBCASE("overlong urls are dropped, not copied") {
        const HtmlText l = render("<a href=\"http://x.example/" + repeat("a", html_max_url_length) +
                                  "\">text</a>");
        CHECK(l.text == "text");
        CHECK(l.urls.empty());
        CHECK(l.counts.long_urls == 1);
    }
}

TEST_CASE("html_to_text: phishing link with mismatched text is exposed") {
    const HtmlText t = render("<p>Log in at <a href=\"http://198.51.100.7/login\">"
                              "https://www.mybank.example/login</a></p>");
    CHECK(t.text == "Log in at https://www.mybank.example/login <http://198.51.100.7/login>");
    CHECK(t.counts.mismatched_links == 1);
    CHECK(find_note(t, html_note::link_text_mismatch) != nullptr);
    CHECK(render("<a href=\"https://www.mybank.example/x\">www.mybank.example</a>")
              .counts.mismatched_links == 0);
}

TEST_CASE("html_to_text: hidden content stays hidden at depth 10000") {
    const std::string deep = repeat("<div>", 10000);
    SUBCASE("hidden div") {
        const HtmlText t = render(deep + "<div hidden>SECRET<b>SECRET</b>SECRET</div>x");
        CHECK(t.text.find("SECRET") == std::string::npos);
        CHECK(t.depth_exceeded);
    }
    SUBCASE("display none span, text after is shown") {
        const HtmlText t = render(deep + "before<span style=\"display:none\">SECRET</span>after");
        CHECK(t.text == "before\nafter"); // the flattened div ends where the span starts
    }
    SUBCASE("hidden with nested inline elements") {
        const HtmlText t =
            render(deep + "<p style=\"visibility:hidden\"><i>SECRET<u>SECRET</u></i>SECRET</p>");
        CHECK(t.text.find("SECRET") == std::string::npos);
    }
    SUBCASE("also within the kept depth") {
        const HtmlText t = render(repeat("<div>", 200) + "<div hidden><b>SECRET</b>SECRET</div>x");
        CHECK(t.text == "x");
        CHECK_FALSE(t.depth_exceeded);
    }
}

TEST_CASE("html_to_text: script at depth 100000 never leaks") {
    for (std::string_view shape : {"<div>", "<b><i><u>", "<table><tr><td>", "<span>", "<x>"}) {
        CAPTURE(shape);
        const std::string html = "top" + repeat(shape, 100000 / 3) +
                                 "<script>SECRET</script><style>SECRET</style>deep"
                                 "<textarea>SECRET<b>SECRET</b>SECRET</textarea>";
        const HtmlText t = render(html);
        CHECK(t.text.find("SECRET") == std::string::npos);
        CHECK(t.text.find("top") != std::string::npos);
        CHECK(t.text.find("deep") != std::string::npos);
    }
}

TEST_CASE("html_to_text: nesting beyond max_depth is flattened and noted") {
    SUBCASE("default policy") {
        const HtmlText t = render(repeat("<div>", 1000) + "text" + repeat("</div>", 1000) + "end");
        CHECK(t.depth_exceeded);
        CHECK(t.counts.max_depth_seen == 1002); // html, body, 1000 divs
        const AuditNote* n = find_note(t, html_note::depth_exceeded);
        REQUIRE(n != nullptr);
        CHECK(n->detail == "max_depth=1002");
        CHECK(t.text == "text\nend");
    }
    SUBCASE("within the limit nothing is noted") {
        const HtmlText t = render(repeat("<div>", 100) + "text");
        CHECK_FALSE(t.depth_exceeded);
        CHECK(t.counts.max_depth_seen == 102);
        CHECK(find_note(t, html_note::depth_exceeded) == nullptr);
    }
    SUBCASE("small policy value") {
        HtmlPolicy p;
        p.max_depth = 5;
        const HtmlText t = render("<ul><li>a<ul><li>b<ul><li>c</ul></ul></ul>z", p);
        CHECK(t.depth_exceeded);
        CHECK(t.text.find('a') != std::string::npos);
        CHECK(t.text.find('c') != std::string::npos);
        CHECK(t.text.find('z') != std::string::npos);
    }
    SUBCASE("flattened links still show their target") {
        const HtmlText t =
            render(repeat("<span>", 300) + "<a href=\"http://x.example/\">go<b>now</b></a>");
        CHECK(t.text.find("<http://x.example/>") != std::string::npos);
        CHECK(t.text.find("go") != std::string::npos);
    }
    SUBCASE("stray end tags at depth") {
        const HtmlText t = render(repeat("<b>", 50000) + repeat("</i>", 50000) + "x");
        CHECK(t.text == "x");
    }
}

TEST_CASE("html_to_text: output beyond the limit is an error, never truncated") {
    const std::string html = "<p>" + repeat("word ", 1000) + "</p>";
    SUBCASE("policy max_output") {
        HtmlPolicy p;
        p.max_output = 100;
        const HtmlToText h(p);
        Budget budget(std::chrono::seconds(60), std::size_t{1} << 30);
        auto r = h.run(html, budget);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == html_error::output_exceeded);
    }
    SUBCASE("budget output allowance") {
        const HtmlToText h(HtmlPolicy{});
        Budget budget(std::chrono::seconds(60), 1000);
        auto r = h.run(html, budget);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().what == html_error::output_exceeded);
    }
    SUBCASE("fits exactly and is taken from the budget") {
        const HtmlToText h(HtmlPolicy{});
        Budget budget(std::chrono::seconds(60), 10000);
        auto r = h.run(html, budget);
        REQUIRE(r.has_value());
        CHECK(r->text.size() == 4999);
        CHECK(budget.output_left() == 10000 - 4999);
    }
}

TEST_CASE("html_to_text: an exhausted time budget is an error") {
    const HtmlToText h(HtmlPolicy{});
    Budget budget(std::chrono::milliseconds(0), std::size_t{1} << 30);
    auto r = h.run("<p>x</p>", budget);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::LimitExceeded);
    CHECK(r.error().what == html_error::time_exceeded);
}

TEST_CASE("html_to_text: invalid UTF-8 becomes U+FFFD and the rest stays intact") {
    SUBCASE("stray bytes before Japanese") {
        const HtmlText t = render("<p>\xFF\xFE あ</p><p>い\xE3\x81</p><p>う</p>");
        CHECK(t.text == "\xEF\xBF\xBD\xEF\xBF\xBD あ\n\nい\xEF\xBF\xBD\n\nう");
        CHECK(t.counts.invalid_utf8 == 3);
        REQUIRE(find_note(t, html_note::invalid_utf8_replaced) != nullptr);
    }
    SUBCASE("overlong, surrogate, NUL") {
        const HtmlText t = render(std::string("a\xC0\xAF"
                                              "b\xED\xA0\x80"
                                              "c\0d",
                                              11));
        CHECK(t.text.find("abcd") == std::string::npos);
        CHECK(t.text.find("a\xEF\xBF\xBD") != std::string::npos);
    }
}

TEST_CASE("html_to_text: garbage and binary input never crashes and yields valid UTF-8") {
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const std::vector<std::string_view> atoms = {
        "<",         ">",         "</",         "<!--",
        "-->",       "<![if x]>", "<![endif]>", "&",
        "&#x",       ";",         "<a href=\"", "\"",
        "'",         "<p>",       "<td>",       "<li>",
        "<script>",  "</script>", "<style>",    "<pre>",
        "\r\n",      "あ",        "\xE3",       "\x81",
        "\0",        " ",         "=",          "<div hidden>",
        "<img alt=", "<![CDATA[", "]]>",        "<?",
        "<!DOCTYPE", "<table>",   "<ul>",       "</ul>",
        "<br/>"};
    for (int round = 0; round < 200; ++round) {
        std::string html;
        const std::size_t len = next() % 400;
        for (std::size_t i = 0; i < len; ++i) {
            if (next() % 3 == 0) {
                html.push_back(static_cast<char>(next() & 0xFF));
            } else {
                html.append(atoms[next() % atoms.size()]);
            }
        }
        CAPTURE(round);
        (void)render(html);
    }
    SUBCASE("all byte values") {
        std::string all;
        for (int i = 0; i < 256; ++i) {
            all.push_back(static_cast<char>(i));
        }
        (void)render(repeat(all, 64));
    }
}

TEST_CASE("html_to_text: empty and whitespace-only input give empty text") {
    for (std::string_view html : {"", " ", "\n\r\n", "<html></html>", "<p> </p><br><br>",
                                  "<!-- only a comment -->", "\xEF\xBB\xBF"}) {
        const HtmlText t = render(html);
        CHECK(t.text.empty());
        CHECK_FALSE(t.depth_exceeded);
    }
}

TEST_CASE("html_to_text: constructs across the 64 KiB chunk boundary render the same") {
    // The input is fed to libxml2 in 64 KiB chunks; shift a tail across every nearby offset.
    const std::string tail = "<a href=\"http://x.example/\">リンク</a><![if !x]>&amp;"
                             "<script>SECRET</script>日本語<br>end";
    for (std::size_t pad = 65536 - 80; pad <= 65536 + 8; ++pad) {
        const std::string html = "<p>" + std::string(pad - 3, 'x') + "</p>" + tail;
        const HtmlText t = render(html);
        CAPTURE(pad);
        CHECK(t.text.ends_with("\n\nリンク <http://x.example/>&日本語\nend"));
    }
}

TEST_CASE("html_to_text: run is thread-safe on a shared converter") {
    const HtmlToText h(HtmlPolicy{});
    const std::string html = "<h1>件名</h1><p>本文 <a href=\"http://x.example/\">x</a></p>" +
                             repeat("<div>行</div>", 2000) + repeat("<span>", 5000);
    Budget b0(std::chrono::seconds(60), std::size_t{1} << 30);
    const auto reference = h.run(html, b0);
    REQUIRE(reference.has_value());
    std::vector<std::string> outputs(4);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        threads.emplace_back([&h, &html, &outputs, i] {
            Budget b(std::chrono::seconds(60), std::size_t{1} << 30);
            auto r = h.run(html, b);
            outputs[i] = r.has_value() ? r->text : std::string("error");
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& o : outputs) {
        CHECK(o == reference->text);
    }
}

TEST_CASE("html_to_text: newsletter renders as the golden text") {
    constexpr std::string_view html = R"html(<!DOCTYPE html>
<html lang="ja"><head><meta charset="Shift_JIS"><title>市報メール 第12号</title>
<style type="text/css">body{font-family:sans-serif}.pre{display:none}</style></head>
<body style="margin:0">
<div style="display:none;max-height:0;overflow:hidden">プレヘッダー：今月のお知らせ</div>
<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table width="600"><tr><td><img src="https://news.example.jp/logo.png" alt="みどり市" width="200"></td>
<td align="right"><a href="https://news.example.jp/web?id=12">ブラウザで見る</a></td></tr></table>
<h1>市報メール　第12号</h1>
<p>市民の皆さま、こんにちは。<br>
今月の主なお知らせをお届けします。</p>
<h2>今月のトピック</h2>
<ul>
<li><a href="https://www.city.example.jp/kenshin">特定健診</a>の受付が始まりました。</li>
<li>図書館の開館時間が変わります&nbsp;(10:00&#65374;19:00)。</li>
<li>ごみの分別ルール
  <ul><li>燃やすごみ：月・木</li><li>資源ごみ：水</li></ul>
</li>
</ul>
<table border="1"><tr><th>日付</th><th>行事</th></tr>
<tr><td>4/10</td><td>春まつり</td></tr><tr><td>4/20</td><td>防災訓練</td></tr></table>
<p>お問い合わせ：<a href="mailto:info@city.example.jp">info@city.example.jp</a></p>
<hr>
<p style="font-size:10px">配信停止は<a href="https://news.example.jp/unsub?u=abc&amp;l=12">こちら</a></p>
<img src="https://track.example.jp/open.gif?u=abc" width="1" height="1" alt="">
</td></tr></table>
</body></html>
)html";
    constexpr std::string_view expected =
        "[image: みどり市] | ブラウザで見る <https://news.example.jp/web?id=12>\n"
        "\n"
        "市報メール　第12号\n"
        "\n"
        "市民の皆さま、こんにちは。\n"
        "今月の主なお知らせをお届けします。\n"
        "\n"
        "今月のトピック\n"
        "\n"
        "- 特定健診 <https://www.city.example.jp/kenshin>の受付が始まりました。\n"
        "- 図書館の開館時間が変わります (10:00～19:00)。\n"
        "- ごみの分別ルール\n"
        "  - 燃やすごみ：月・木\n"
        "  - 資源ごみ：水\n"
        "\n"
        "日付 | 行事\n"
        "4/10 | 春まつり\n"
        "4/20 | 防災訓練\n"
        "\n"
        "お問い合わせ：<info@city.example.jp>\n"
        "\n"
        "----\n"
        "\n"
        "配信停止はこちら <https://news.example.jp/unsub?u=abc&l=12>";
    const HtmlText t = render(html);
    CHECK(t.text == expected);
    CHECK(t.counts.hidden == 1);
    CHECK(t.counts.remote_images == 2);
    CHECK(t.counts.links == 4);
    CHECK(t.urls.size() == 6);
}

TEST_CASE("html_to_text: phishing mail renders as the golden text") {
    constexpr std::string_view html = R"html(<html><head>
<meta http-equiv="refresh" content="30;url=http://203.0.113.9/k">
<script>window.location='http://203.0.113.9/k'</script></head>
<body onload="track()">
<p>お客様各位</p>
<p>お客様のアカウントに<b>異常なログイン</b>を検知しました。<br>
以下のリンクから24時間以内に確認してください。</p>
<p><a href="http://203.0.113.9/k/login.php?id=8812" onclick="go()">https://www.mybank.example.jp/login</a></p>
<div style="font-size:0;display:none">bank secure verification official</div>
<form action="http://203.0.113.9/k/post.php" method="post">
暗証番号：<input type="password" name="pin"><input type="submit" value="送信">
</form>
<p>&#x682A;&#x5F0F;&#x4F1A;&#x793E;&#x3000;&#x307F;&#x3069;&#x308A;&#x9280;&#x884C;</p>
</body></html>
)html";
    constexpr std::string_view expected =
        "お客様各位\n"
        "\n"
        "お客様のアカウントに異常なログインを検知しました。\n"
        "以下のリンクから24時間以内に確認してください。\n"
        "\n"
        "https://www.mybank.example.jp/login <http://203.0.113.9/k/login.php?id=8812>\n"
        "\n"
        "暗証番号：\n"
        "\n"
        "株式会社　みどり銀行";
    const HtmlText t = render(html);
    CHECK(t.text == expected);
    CHECK(t.counts.mismatched_links == 1);
    CHECK(t.counts.meta_refresh == 1);
    CHECK(t.counts.scripts == 1);
    CHECK(t.counts.event_handlers == 2);
    CHECK(t.counts.forms == 1);
    CHECK(t.counts.form_controls == 2);
    CHECK(t.counts.hidden == 1);

    HtmlPolicy defang;
    defang.defang_links = true;
    CHECK(render(html, defang)
              .text.find("hxxps://www.mybank.example.jp/login "
                         "<hxxp://203.0.113.9/k/login.php?id=8812>") != std::string::npos);
}

namespace {

// " a0 a1 ..." : n distinct attribute names.
std::string many_attributes(std::size_t n, std::string_view prefix = "a") {
    std::string s;
    s.reserve(n * 8);
    for (std::size_t i = 0; i < n; ++i) {
        s += ' ';
        s += prefix;
        s += std::to_string(i);
    }
    return s;
}

} // namespace

TEST_CASE("html_to_text: a tag with 100000 attributes is capped, counted and noted") {
    const std::size_t n = 100000;
    const HtmlText t = render("<p" + many_attributes(n) + ">after the tag</p><p>next</p>");
    CHECK(t.text == "after the tag\n\nnext");
    CHECK(t.counts.attributes_dropped == n - html_max_attributes);
    const AuditNote* note = find_note(t, html_note::attributes_capped);
    REQUIRE(note != nullptr);
    CHECK(note->detail == "count=" + std::to_string(n - html_max_attributes));
    CHECK(t.counts.event_handlers == 0);
}

TEST_CASE("html_to_text: attributes up to the limit are kept and not noted") {
    const HtmlText t = render("<p" + many_attributes(html_max_attributes - 1) + " onclick=x>t</p>");
    CHECK(t.text == "t");
    CHECK(t.counts.attributes_dropped == 0);
    CHECK(t.counts.event_handlers == 1);
    CHECK(find_note(t, html_note::attributes_capped) == nullptr);
}

TEST_CASE("html_to_text: attribute-like text in quoted values and comments is not counted") {
    const std::string inner = "<p" + many_attributes(1000) + ">";
    SUBCASE("double-quoted value") {
        const HtmlText t = render("<p title=\"" + inner + "\" class=x>t</p>");
        CHECK(t.text == "t");
        CHECK(t.counts.attributes_dropped == 0);
    }
    SUBCASE("single-quoted value") {
        const HtmlText t = render("<p title='" + inner + "' class=x>t</p>");
        CHECK(t.text == "t");
        CHECK(t.counts.attributes_dropped == 0);
    }
    SUBCASE("comment") {
        const HtmlText t = render("<!-- " + inner + " --><p>t</p>");
        CHECK(t.text == "t");
        CHECK(t.counts.attributes_dropped == 0);
        CHECK(t.counts.comments == 1);
    }
    SUBCASE("script and style content") {
        const HtmlText t =
            render("<script>" + inner + "</script><style>" + inner + "</style><p>t</p>");
        CHECK(t.text == "t");
        CHECK(t.counts.attributes_dropped == 0);
    }
}

TEST_CASE("html_to_text: tags inside title and textarea are capped like libxml2 parses them") {
    // libxml2 2.9 parses tags inside title and textarea, so they are not raw text here.
    const HtmlText t = render("<title><b" + many_attributes(1000) + "></b></title><p>t</p>");
    CHECK(t.counts.attributes_dropped == 1000 - html_max_attributes);
    CHECK(t.text == "t");
}

TEST_CASE("html_to_text: on* attributes are counted among the dropped ones") {
    std::string html = "<div" + many_attributes(html_max_attributes) + " onclick=\"a()\"";
    html += " ONMOUSEOVER='b()' on=x one two" + many_attributes(50, "onx") + ">shown</div>";
    const HtmlText t = render(html);
    CHECK(t.text == "shown");
    // onclick, onmouseover, one, onx0..onx49; "on" is too short to be a handler.
    CHECK(t.counts.event_handlers == 53);
    CHECK(t.counts.attributes_dropped == 55);
    const AuditNote* note = find_note(t, html_note::event_handler_removed);
    REQUIRE(note != nullptr);
    CHECK(note->detail == "count=53");
}

TEST_CASE("html_to_text: kept attributes of a capped tag still work") {
    const HtmlText t =
        render("<a href=\"http://x.example/\" onclick=y" + many_attributes(5000) + ">go</a>");
    CHECK(t.text == "go <http://x.example/>");
    CHECK(t.counts.event_handlers == 1);
    CHECK(t.counts.attributes_dropped == 5002 - html_max_attributes);
}

TEST_CASE("html_to_text: a capped tag across 64 KiB chunk boundaries renders the same") {
    // ~89 KB of attributes: the tag spans the first chunk boundary wherever it starts.
    const std::string attrs = many_attributes(12000);
    for (std::size_t pad : {std::size_t{0}, std::size_t{1000}, std::size_t{65536 - 10}}) {
        CAPTURE(pad);
        const std::string html = "<p>" + std::string(pad, 'x') + "</p><div" + attrs +
                                 " title=\"a > b\" onclick=z>after</div>";
        const HtmlText t = render(html);
        CHECK(t.text.ends_with("after"));
        CHECK(t.counts.attributes_dropped == 12002 - html_max_attributes);
        CHECK(t.counts.event_handlers == 1);
    }
}

TEST_CASE("html_to_text: long names and values stay bounded") {
    SUBCASE("a 20 MB attribute value") {
        const HtmlText t =
            render("<p title=\"" + std::string(std::size_t{20} << 20, 'v') + "\">t</p>");
        CHECK(t.text == "t");
        CHECK(t.counts.attributes_dropped == 0);
    }
    SUBCASE("a 1 MB tag name reads as 100-byte attribute names, capped") {
        // libxml2 keeps 100 bytes of a name and reads the rest as further attribute names.
        std::string name(1'000'000, 'a');
        std::uint32_t state = 1;
        for (char& c : name) {
            state = state * 1103515245u + 12345u;
            c = static_cast<char>('a' + (state >> 16) % 13); // a-m: no "on" piece
        }
        const HtmlText t = render("<" + name + " onclick=x>t</p>");
        CHECK(t.counts.attributes_dropped == 1'000'000 / 100 - 1 + 1 - html_max_attributes);
        CHECK(t.counts.event_handlers == 1);
        REQUIRE(find_note(t, html_note::attributes_capped) != nullptr);
        CHECK(t.text.ends_with("t"));
    }
}
