#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <qpdf/Pl_Buffer.hh>
#include <qpdf/Pl_Flate.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFWriter.hh>

#include "filters/cdr/cdr.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;

// poppler initialises fontconfig once per process (the first time a page with a non-embedded
// font is rendered) and fontconfig keeps that memory to the end: LeakSanitizer reports 288 bytes
// from libfontconfig however many pages are rendered. Only that library is suppressed.
extern "C" const char* __lsan_default_suppressions() {
    return "leak:libfontconfig.so\n";
}

namespace mugaika::filters::cdr {
std::ostream& operator<<(std::ostream& os, const Removed& r) {
    return os << "{" << r.kind << ", " << r.location << ", " << r.url << "}";
}
} // namespace mugaika::filters::cdr

namespace {
/// One line per removal, so that a failed comparison shows both lists.
std::string dump(const std::vector<Removed>& v) {
    std::ostringstream s;
    for (const auto& r : v) {
        s << r << "\n";
    }
    return s.str();
}
} // namespace

namespace {

const std::filesystem::path samples =
    std::filesystem::path(MUGAIKA_SOURCE_DIR) / "samples" / "files" / "pdf";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    REQUIRE(f.good());
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string sample(const char* name) {
    return read_file(samples / name);
}

Result<Output> rebuild(const std::string& bytes, const Options& options = {}) {
    const Engine* e = find_engine("pdf");
    REQUIRE(e != nullptr);
    return e->rebuild(std::as_bytes(std::span(bytes.data(), bytes.size())), "in.pdf", options);
}

/// Everything a check needs to know about a PDF, read with qpdf from scratch.
struct Seen {
    std::size_t pages = 0;
    bool encrypted = false;
    bool warnings = false;
    std::multiset<std::string> keys;         // every dictionary key anywhere
    std::multiset<std::string> actions;      // /S of every action
    std::multiset<std::string> annotations;  // /Subtype of every annotation
    std::multiset<std::string> stream_types; // /Type of every stream
    std::size_t objects = 0;
};

Seen inspect(const std::string& bytes) {
    Seen s;
    QPDF q;
    q.setSuppressWarnings(true);
    q.processMemoryFile("check", bytes.data(), bytes.size());
    s.encrypted = q.isEncrypted();
    s.pages = QPDFPageDocumentHelper(q).getAllPages().size();
    std::vector<QPDFObjectHandle> todo = q.getAllObjects();
    s.objects = todo.size();
    todo.push_back(q.getTrailer());
    std::set<QPDFObjGen> seen;
    while (!todo.empty()) {
        QPDFObjectHandle h = todo.back();
        todo.pop_back();
        if (h.isIndirect() && !seen.insert(h.getObjGen()).second) {
            continue;
        }
        if (h.isStream()) {
            auto d = h.getDict();
            if (d.getKey("/Type").isName()) {
                s.stream_types.insert(d.getKey("/Type").getName());
            }
            h = d;
        }
        if (h.isDictionary()) {
            if (h.getKey("/S").isName() &&
                (h.hasKey("/URI") || h.hasKey("/JS") || h.hasKey("/D") || h.hasKey("/N") ||
                 h.hasKey("/F") || h.getKey("/Type").isNameAndEquals("/Action") ||
                 h.getKey("/S").getName() == "/ResetForm")) {
                s.actions.insert(h.getKey("/S").getName());
            }
            if (h.hasKey("/Rect") && h.getKey("/Subtype").isName()) {
                s.annotations.insert(h.getKey("/Subtype").getName());
            }
            for (auto& [k, v] : h.getDictAsMap()) {
                s.keys.insert(k);
                todo.push_back(v);
            }
        } else if (h.isArray()) {
            for (auto& v : h.getArrayAsVector()) {
                todo.push_back(v);
            }
        }
    }
    s.warnings = q.anyWarnings();
    return s;
}

bool has(const std::multiset<std::string>& s, const char* k) {
    return s.count(k) != 0;
}

std::vector<std::string> kinds(const Output& out) {
    std::vector<std::string> v;
    for (const auto& r : out.removed) {
        v.push_back(r.kind);
    }
    return v;
}

/// A PDF from numbered object bodies (1-based), with a classic xref table and /Root 1 0 R.
std::string build_pdf(const std::vector<std::string>& objects,
                      const std::string& trailer_extra = "") {
    std::string out = "%PDF-1.7\n";
    std::vector<std::size_t> offsets;
    for (std::size_t i = 0; i < objects.size(); ++i) {
        offsets.push_back(out.size());
        out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
    }
    const std::size_t xref = out.size();
    out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
    for (auto off : offsets) {
        char line[32];
        std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
        out += line;
    }
    out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R" +
           trailer_extra + " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
    return out;
}

std::string stream_obj(const std::string& dict_extra, const std::string& data) {
    return "<< /Length " + std::to_string(data.size()) + dict_extra + " >>\nstream\n" + data +
           "\nendstream";
}

/// zlib of `n` copies of `c`, streamed through qpdf's deflater (never holds the inflated data).
std::string deflate_repeat(char c, std::size_t n) {
    Pl_Buffer sink("sink");
    Pl_Flate flate("deflate", &sink, Pl_Flate::a_deflate);
    const std::string chunk(1 << 20, c);
    for (std::size_t left = n; left > 0;) {
        const std::size_t take = std::min(left, chunk.size());
        flate.write(reinterpret_cast<const unsigned char*>(chunk.data()), take);
        left -= take;
    }
    flate.finish();
    std::unique_ptr<Buffer> b(sink.getBuffer());
    return {reinterpret_cast<const char*>(b->getBuffer()), b->getSize()};
}

std::string deflate_string(const std::string& s) {
    Pl_Buffer sink("sink");
    Pl_Flate flate("deflate", &sink, Pl_Flate::a_deflate);
    flate.write(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    flate.finish();
    std::unique_ptr<Buffer> b(sink.getBuffer());
    return {reinterpret_cast<const char*>(b->getBuffer()), b->getSize()};
}

const std::string one_page_catalog = "<< /Type /Catalog /Pages 2 0 R >>";
const std::string one_page_pages = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
const std::string one_page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>";

} // namespace

TEST_CASE("cdr.pdf: OpenAction JavaScript and the embedded file are removed (the issue's sample)") {
    auto r = rebuild(sample("openaction_js_embedded.pdf"));
    REQUIRE(r);
    CHECK(r->content_type == "application/pdf");
    CHECK(r->filename == "in.pdf");
    const std::vector<Removed> expected{
        {"pdf.javascript", "catalog /OpenAction", ""},
        {"pdf.embedded_file", "catalog /Names /EmbeddedFiles entry 1", ""},
        {"pdf.embedded_file", "page 1 annotation 1", ""},
    };
    CHECK(dump(r->removed) == dump(expected));
    const Seen s = inspect(r->bytes);
    CHECK_FALSE(s.warnings);
    CHECK(s.pages == 1);
    CHECK_FALSE(has(s.keys, "/OpenAction"));
    CHECK_FALSE(has(s.keys, "/EmbeddedFiles"));
    CHECK_FALSE(has(s.keys, "/EF"));
    CHECK_FALSE(has(s.keys, "/JS"));
    CHECK(s.actions.empty());
    CHECK(s.annotations.empty());
    CHECK_FALSE(has(s.stream_types, "/EmbeddedFile"));
    // Not even unreferenced: the writer copies only what the trailer reaches.
    CHECK(r->bytes.find("app.alert") == std::string::npos);
    CHECK(r->bytes.find("setup.bat") == std::string::npos);
}

TEST_CASE("cdr.pdf: Launch, form actions, JavaScript triggers and URI links are removed; "
          "navigation stays") {
    const std::vector<Removed> expected{
        {"pdf.javascript", "catalog /AA /WC", ""},
        {"pdf.launch", "page 1 annotation 1", "C:\\Windows\\System32\\cmd.exe"},
        {"pdf.uri", "page 1 annotation 2", "https://example.com/login?id=1"},
        {"pdf.uri", "page 1 annotation 3", "http://example.org/terms"},
        {"pdf.named_action", "page 1 annotation 5", ""},
        {"pdf.javascript", "page 1 annotation 6 /Next", ""},
        {"pdf.javascript", "page 1 annotation 7 /AA /F", ""},
        {"pdf.javascript", "page 1 annotation 7 /AA /K", ""},
        {"pdf.submit_form", "page 1 annotation 8", "https://example.com/submit"},
        {"pdf.reset_form", "page 1 annotation 9", ""},
        {"pdf.remote_goto", "page 1 annotation 10", "\\\\server\\share\\other.pdf"},
        {"pdf.javascript", "page 2 /AA /O", ""},
        {"pdf.uri", "outline item 1", "https://example.net/help"},
    };
    for (const char* name : {"launch_form_uri.pdf", "objstm_actions.pdf"}) {
        CAPTURE(name);
        auto r = rebuild(sample(name));
        REQUIRE(r);
        CHECK(dump(r->removed) == dump(expected));
        const Seen s = inspect(r->bytes);
        CHECK_FALSE(s.warnings);
        CHECK(s.pages == 2);
        // What stays: the GoTo link and the NextPage link (without its /Next chain).
        CHECK(s.actions == std::multiset<std::string>{"/GoTo", "/Named"});
        CHECK(s.annotations.count("/Link") == 7);
        CHECK(s.annotations.count("/Widget") == 3);
        for (const char* key : {"/AA", "/JS", "/URI", "/Next", "/F"}) {
            CAPTURE(key);
            CHECK_FALSE(has(s.keys, key));
        }
        CHECK(r->bytes.find("example.") == std::string::npos);
        CHECK(r->bytes.find("cmd.exe") == std::string::npos);
    }
}

TEST_CASE("cdr.pdf: with pdf_links = remove, URLs are not listed") {
    Options o;
    o.pdf_links = "remove";
    auto r = rebuild(sample("launch_form_uri.pdf"), o);
    REQUIRE(r);
    CHECK(r->removed.size() == 13);
    const auto k = kinds(*r);
    CHECK(std::count(k.begin(), k.end(), "pdf.uri") == 3);
    for (const auto& x : r->removed) {
        CHECK(x.url.empty());
    }
    o.pdf_links = "keep";
    auto bad = rebuild(sample("launch_form_uri.pdf"), o);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().what == "cdr.pdf.bad_option");
}

TEST_CASE("cdr.pdf: the XFA form is removed and the AcroForm field stays") {
    auto r = rebuild(sample("xfa.pdf"));
    REQUIRE(r);
    CHECK(dump(r->removed) ==
          dump(std::vector<Removed>{{"pdf.xfa", "catalog /AcroForm /XFA", ""}}));
    const Seen s = inspect(r->bytes);
    CHECK_FALSE(has(s.keys, "/XFA"));
    CHECK_FALSE(has(s.keys, "/NeedsRendering"));
    CHECK(has(s.keys, "/AcroForm"));
    CHECK(s.annotations.count("/Widget") == 1);
    CHECK(r->bytes.find("xfa.host") == std::string::npos);
}

TEST_CASE("cdr.pdf: rich media, 3D, screen and sound annotations, associated files and the "
          "JavaScript name tree are removed") {
    auto r = rebuild(sample("multimedia.pdf"));
    REQUIRE(r);
    const std::vector<Removed> expected{
        {"pdf.embedded_file", "catalog /AF", ""},
        {"pdf.javascript", "catalog /Names /JavaScript entry 1", ""},
        {"pdf.rich_media", "page 1 annotation 1", ""},
        {"pdf.3d", "page 1 annotation 2", ""},
        {"pdf.multimedia", "page 1 annotation 3", ""},
        {"pdf.multimedia", "page 1 annotation 4", ""},
    };
    CHECK(dump(r->removed) == dump(expected));
    const Seen s = inspect(r->bytes);
    CHECK(s.pages == 1);
    CHECK(s.annotations.empty());
    CHECK(s.actions.empty());
    CHECK(s.stream_types.count("/EmbeddedFile") == 0);
    CHECK(s.stream_types.count("/3D") == 0);
    CHECK(s.stream_types.count("/Sound") == 0);
    for (const char* key : {"/AF", "/JavaScript", "/RichMediaContent", "/3DD", "/EF"}) {
        CAPTURE(key);
        CHECK_FALSE(has(s.keys, key));
    }
}

TEST_CASE("cdr.pdf: a clean document is rebuilt with nothing removed and its navigation kept") {
    const std::string in = sample("clean_multipage.pdf");
    auto r = rebuild(in);
    REQUIRE(r);
    CHECK(r->removed.empty());
    const Seen s = inspect(r->bytes);
    CHECK_FALSE(s.warnings);
    CHECK(s.pages == 3);
    CHECK(has(s.keys, "/Outlines"));
    CHECK(has(s.keys, "/OpenAction")); // an explicit destination
    CHECK(has(s.keys, "/Dest"));
    CHECK(s.actions == std::multiset<std::string>{"/GoTo"});
    CHECK(r->bytes.find("(Minutes)") != std::string::npos); // document info kept
    // Rebuilding is deterministic.
    auto again = rebuild(in);
    REQUIRE(again);
    CHECK(again->bytes == r->bytes);
}

TEST_CASE("cdr.pdf: an owner-password-only file is rebuilt unencrypted") {
    auto r = rebuild(sample("encrypted_owner.pdf"));
    REQUIRE(r);
    CHECK(dump(r->removed) == dump(std::vector<Removed>{{"pdf.encryption", "document", ""}}));
    const Seen s = inspect(r->bytes);
    CHECK_FALSE(s.encrypted);
    CHECK(s.pages == 3);
    QPDF q;
    q.processMemoryFile("out", r->bytes.data(), r->bytes.size());
    auto content =
        QPDFPageDocumentHelper(q).getAllPages().at(1).getObjectHandle().getKey("/Contents");
    auto data = content.getStreamData();
    CHECK(std::string(reinterpret_cast<const char*>(data->getBuffer()), data->getSize())
              .find("(Page two)") != std::string::npos);
}

TEST_CASE("cdr.pdf: broken inputs fail closed") {
    SUBCASE("user password") {
        auto r = rebuild(sample("encrypted_user.pdf"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::Malformed);
        CHECK(r.error().what == "cdr.pdf.encrypted");
    }
    SUBCASE("truncated") {
        auto r = rebuild(sample("truncated.pdf"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::Malformed);
        CHECK(r.error().what == "cdr.pdf.malformed");
    }
    SUBCASE("garbage, empty, no header, no pages") {
        std::string garbage = "%PDF-1.4\n";
        for (int i = 0; i < 5000; ++i) {
            garbage.push_back(static_cast<char>((i * 7919) % 251));
        }
        const std::string no_pages = build_pdf(
            {"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"});
        for (const std::string& in : {garbage, std::string{}, std::string("hello world"), no_pages,
                                      sample("clean_multipage.pdf").substr(100)}) {
            auto r = rebuild(in);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == ErrorCode::Malformed);
            CHECK(r.error().what == "cdr.pdf.malformed");
        }
    }
}

TEST_CASE("cdr.pdf: a damaged cross-reference table is rebuilt by qpdf and reported") {
    std::string in = sample("clean_multipage.pdf");
    const auto pos = in.rfind("startxref\n");
    REQUIRE(pos != std::string::npos);
    in = in.substr(0, pos) + "startxref\n12345\n%%EOF\n";
    auto r = rebuild(in);
    REQUIRE(r);
    CHECK(dump(r->removed) == dump(std::vector<Removed>{{"pdf.repaired", "file structure", ""}}));
    const Seen s = inspect(r->bytes);
    CHECK_FALSE(s.warnings);
    CHECK(s.pages == 3);
}

TEST_CASE("cdr.pdf: actions in odd places and orphaned annotations are swept") {
    // A JavaScript action behind an unknown key of the page, an annotation that is not in
    // /Annots but reached through a popup's /Parent, a /JS key in the document info, and a
    // trailer key that keeps a Launch action reachable.
    const std::string in =
        build_pdf({one_page_catalog, one_page_pages,
                   "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [5 0 R] "
                   "/Custom << /S /JavaScript /JS (x) >> >>",
                   "<< /Title (t) /JS (y) >>",
                   "<< /Type /Annot /Subtype /Popup /Rect [0 0 10 10] /Parent 6 0 R >>",
                   "<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] /FS (a.exe) >>",
                   "<< /S /Launch /F (calc.exe) >>"},
                  " /Info 4 0 R /Extra 7 0 R");
    auto r = rebuild(in);
    REQUIRE(r);
    const auto k = kinds(*r);
    CHECK(std::count(k.begin(), k.end(), "pdf.javascript") == 2);
    CHECK(std::count(k.begin(), k.end(), "pdf.embedded_file") == 1);
    const Seen s = inspect(r->bytes);
    CHECK_FALSE(has(s.keys, "/JS"));
    CHECK_FALSE(has(s.keys, "/Custom"));
    CHECK_FALSE(has(s.keys, "/Extra"));
    CHECK(s.annotations == std::multiset<std::string>{"/Popup"});
    CHECK(r->bytes.find("calc.exe") == std::string::npos);
    CHECK(r->bytes.find("a.exe") == std::string::npos);
}

TEST_CASE("cdr.pdf: stream bombs are bounded") {
    SUBCASE("a page content stream is copied compressed, never inflated") {
        const std::string bomb = deflate_repeat(' ', 1ULL << 30U); // 1 GiB of spaces
        const std::string in =
            build_pdf({one_page_catalog, one_page_pages,
                       "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
                       stream_obj(" /Filter /FlateDecode", bomb)});
        auto r = rebuild(in);
        REQUIRE(r);
        CHECK(r->removed.empty());
        CHECK(r->bytes.size() < in.size() + 1024);
    }
    SUBCASE("an object stream that inflates beyond the budget") {
        // Object 3 (the page) lives in object stream 4, which inflates to 256 MiB.
        const std::string body = deflate_repeat(' ', 256ULL << 20U);
        std::string in = "%PDF-1.7\n";
        std::vector<std::size_t> off;
        auto add = [&](const std::string& s) {
            off.push_back(in.size());
            in += std::to_string(off.size()) + " 0 obj\n" + s + "\nendobj\n";
        };
        add(one_page_catalog);
        add(one_page_pages);
        add("null");
        add(stream_obj(" /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", body));
        std::string xref;
        auto entry = [&](int type, std::size_t f1, int f2) {
            xref.push_back(static_cast<char>(type));
            for (int i = 3; i >= 0; --i) {
                xref.push_back(static_cast<char>((f1 >> (8 * i)) & 0xffU));
            }
            xref.push_back(static_cast<char>((f2 >> 8) & 0xff));
            xref.push_back(static_cast<char>(f2 & 0xff));
        };
        entry(0, 0, 65535);
        entry(1, off[0], 0);
        entry(1, off[1], 0);
        entry(2, 4, 0);
        entry(1, off[3], 0);
        entry(1, in.size(), 0);
        const std::size_t xref_at = in.size();
        in += "5 0 obj\n" + stream_obj(" /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R", xref) +
              "\nendobj\nstartxref\n" + std::to_string(xref_at) + "\n%%EOF\n";
        auto r = rebuild(in);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "cdr.pdf.decode_limit");
    }
    SUBCASE("a cross-reference stream that inflates beyond the budget") {
        const std::string body = deflate_repeat('\0', 256ULL << 20U);
        std::string in = build_pdf({one_page_catalog, one_page_pages, one_page});
        in = in.substr(0, in.find("xref\n"));
        const std::size_t xref_at = in.size();
        in += "4 0 obj\n" +
              stream_obj(" /Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode", body) +
              "\nendobj\nstartxref\n" + std::to_string(xref_at) + "\n%%EOF\n";
        auto r = rebuild(in);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "cdr.pdf.too_many_objects");
    }
    SUBCASE("more objects than allowed") {
        // 1.1 million two-byte entries (/W [1 1 0]: type 1, offset 0) in a small xref stream.
        const std::size_t n = 1'100'000;
        std::string in = build_pdf({one_page_catalog, one_page_pages, one_page});
        in = in.substr(0, in.find("xref\n"));
        const std::size_t xref_at = in.size();
        std::string entries;
        for (std::size_t i = 0; i < n; ++i) {
            entries += "\1";
            entries.push_back('\0');
        }
        const std::string body = deflate_string(entries);
        in += std::to_string(n) + " 0 obj\n" +
              stream_obj(" /Type /XRef /Size " + std::to_string(n + 1) + " /Index [1 " +
                             std::to_string(n) + "] /W [1 1 0] /Root 1 0 R /Filter /FlateDecode",
                         body) +
              "\nendobj\nstartxref\n" + std::to_string(xref_at) + "\n%%EOF\n";
        auto r = rebuild(in);
        REQUIRE_FALSE(r);
        CHECK(r.error().what == "cdr.pdf.too_many_objects");
    }
    SUBCASE("LZW object streams are not decoded") {
        std::string in = sample("objstm_actions.pdf");
        const auto pos = in.find("/Filter /FlateDecode");
        REQUIRE(pos != std::string::npos);
        in.replace(pos, 20, "/Filter /LZWDecode  ");
        auto r = rebuild(in);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::Malformed);
    }
}

TEST_CASE("cdr.pdf: deeply nested arrays neither crash nor pass unchecked") {
    std::string deep(100000, '[');
    deep += std::string(100000, ']');
    const std::string in =
        build_pdf({one_page_catalog, one_page_pages,
                   "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Deep " + deep + " >>"});
    // qpdf stops at 500 levels and reads the object as null: the page is lost, the file refused.
    auto r = rebuild(in);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::Malformed);
    CHECK(r.error().what == "cdr.pdf.malformed");
}

TEST_CASE("cdr.pdf: pdf_flatten renders every page to one image") {
    Options o;
    o.pdf_flatten = true;
    o.flatten_dpi = 50;
    SUBCASE("pages become images; the removals of the cleaning pass are still reported") {
        auto r = rebuild(sample("openaction_js_embedded.pdf"), o);
        REQUIRE(r);
        const auto k = kinds(*r);
        CHECK(k == std::vector<std::string>{"pdf.javascript", "pdf.embedded_file",
                                            "pdf.embedded_file", "pdf.flattened"});
        const Seen s = inspect(r->bytes);
        CHECK(s.pages == 1);
        CHECK_FALSE(has(s.keys, "/Font"));
        CHECK(s.annotations.empty());
        CHECK(r->bytes.find("Invoice") == std::string::npos);
    }
    SUBCASE("the image shows the page (RGB order, orientation)") {
        o.flatten_dpi = 72;
        const std::string content = "1 0 0 rg 0 0 50 100 re f\n"; // left half red
        const std::string in =
            build_pdf({one_page_catalog, one_page_pages,
                       "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>",
                       stream_obj("", content)});
        auto r = rebuild(in, o);
        REQUIRE(r);
        QPDF q;
        q.processMemoryFile("flat", r->bytes.data(), r->bytes.size());
        auto page = QPDFPageDocumentHelper(q).getAllPages().at(0);
        auto img = page.getObjectHandle().getKey("/Resources").getKey("/XObject").getKey("/Im0");
        REQUIRE(img.isStream());
        CHECK(img.getDict().getKey("/Width").getIntValue() == 100);
        CHECK(img.getDict().getKey("/Height").getIntValue() == 100);
        auto px = img.getStreamData();
        REQUIRE(px->getSize() == 100U * 100U * 3U);
        const unsigned char* p = px->getBuffer();
        auto at = [&](int x, int y) { return p + (y * 100 + x) * 3; };
        CHECK(at(10, 50)[0] == 255);
        CHECK(at(10, 50)[1] == 0);
        CHECK(at(10, 50)[2] == 0);
        CHECK(at(90, 50)[0] == 255);
        CHECK(at(90, 50)[1] == 255);
        CHECK(at(90, 50)[2] == 255);
    }
    SUBCASE("page rotation is applied") {
        o.flatten_dpi = 72;
        const std::string in =
            build_pdf({one_page_catalog, one_page_pages,
                       "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 200] /Rotate 90 >>"});
        auto r = rebuild(in, o);
        REQUIRE(r);
        QPDF q;
        q.processMemoryFile("flat", r->bytes.data(), r->bytes.size());
        auto box =
            QPDFPageDocumentHelper(q).getAllPages().at(0).getObjectHandle().getKey("/MediaBox");
        CHECK(box.getArrayItem(2).getNumericValue() == doctest::Approx(200));
        CHECK(box.getArrayItem(3).getNumericValue() == doctest::Approx(100));
    }
    SUBCASE("max_pixels lowers the resolution of a page") {
        o.flatten_dpi = 300;
        o.max_pixels = 200'000;
        auto r = rebuild(sample("clean_multipage.pdf"), o);
        REQUIRE(r);
        QPDF q;
        q.processMemoryFile("flat", r->bytes.data(), r->bytes.size());
        auto pages = QPDFPageDocumentHelper(q).getAllPages();
        REQUIRE(pages.size() == 3);
        for (auto& page : pages) {
            auto img =
                page.getObjectHandle().getKey("/Resources").getKey("/XObject").getKey("/Im0");
            const auto w = img.getDict().getKey("/Width").getIntValue();
            const auto h = img.getDict().getKey("/Height").getIntValue();
            CHECK(w * h <= 200'000);
            CHECK(w * h > 150'000);
            // The page keeps its size in points.
            auto box = page.getObjectHandle().getKey("/MediaBox");
            CHECK(box.getArrayItem(2).getNumericValue() == doctest::Approx(612).epsilon(0.01));
            CHECK(box.getArrayItem(3).getNumericValue() == doctest::Approx(792).epsilon(0.01));
        }
    }
    SUBCASE("an image larger than max_pixels is refused before rendering") {
        const std::string in = build_pdf(
            {one_page_catalog, one_page_pages,
             "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R "
             "/Resources << /XObject << /I 5 0 R >> >> >>",
             stream_obj("", "q 100 0 0 100 0 0 cm /I Do Q\n"),
             stream_obj(" /Type /XObject /Subtype /Image /Width 100000 /Height 100000 "
                        "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                        deflate_string(std::string(1000, '\0')))});
        auto r = rebuild(in, o);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "cdr.pdf.image_too_large");
        o.pdf_flatten = false; // without rendering, the image is copied as it is
        CHECK(rebuild(in, o));
    }
}

TEST_CASE("cdr.pdf: the sample script rebuilds every sample byte for byte") {
    // One directory per process: the default and asan builds may run this test at once.
    const auto dir = std::filesystem::temp_directory_path() /
                     ("mugaika-pdf-samples-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    const std::string cmd =
        "python3 '" + (samples / "make_pdf_samples.py").string() + "' '" + dir.string() + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        CAPTURE(e.path().filename().string());
        CHECK(read_file(e.path()) == read_file(samples / e.path().filename()));
        ++n;
    }
    CHECK(n == 9);
    std::filesystem::remove_all(dir);
}

TEST_CASE("cdr.pdf: nesting within qpdf's limit and reference loops are walked without recursion") {
    std::string deep(450, '[');
    deep += std::string(450, ']');
    // A GoTo whose /Next chain is a JavaScript action pointing back to the GoTo, and an
    // outline whose items point at each other.
    const std::string in = build_pdf(
        {"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R /Outlines 6 0 R >>", one_page_pages,
         "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Deep " + deep + " >>",
         "<< /S /GoTo /D [3 0 R /Fit] /Next 5 0 R >>", "<< /S /JavaScript /JS (x) /Next 4 0 R >>",
         "<< /Type /Outlines /First 7 0 R >>",
         "<< /Title (a) /Parent 6 0 R /Next 8 0 R /A << /S /URI /URI (http://a.example/) >> >>",
         "<< /Title (b) /Parent 6 0 R /Next 7 0 R /First 7 0 R >>"});
    auto r = rebuild(in);
    REQUIRE(r);
    const std::vector<Removed> expected{
        {"pdf.javascript", "catalog /OpenAction /Next", ""},
        {"pdf.action", "catalog /OpenAction /Next", ""},
        {"pdf.uri", "outline item 1", "http://a.example/"},
    };
    CHECK(dump(r->removed) == dump(expected));
    const Seen s = inspect(r->bytes);
    CHECK(s.pages == 1);
    CHECK_FALSE(s.warnings);
    CHECK(s.actions == std::multiset<std::string>{"/GoTo"});
}
