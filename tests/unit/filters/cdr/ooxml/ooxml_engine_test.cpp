#include <doctest/doctest.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/zip_package.hpp"
#include "tests/unit/filters/cdr/office/package_checks.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;
using namespace mugaika::test_office;

namespace {

Result<Output> run(const std::string& bytes, std::string_view name, const Options& o = {}) {
    return find_engine("ooxml")->rebuild(as_bytes(bytes), name, o);
}

Output must_rebuild(std::string_view sample, std::string_view name) {
    const std::string in = read_sample(sample);
    auto r = run(in, name);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : std::string(r.error().what) + " " + r.error().detail));
    return std::move(*r);
}

bool contains(const std::string& s, std::string_view p) {
    return s.find(p) != std::string::npos;
}

/// A minimal docx whose document.xml is `document` (for hostile cases built in the test).
std::string docx_with(const std::string& document) {
    using office::ZipMember;
    std::vector<ZipMember> m;
    m.push_back({"[Content_Types].xml",
                 R"(<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">)"
                 R"(<Default Extension="rels" ContentType="application/vnd.openxmlformats-)"
                 R"(package.relationships+xml"/><Override PartName="/word/document.xml" )"
                 R"(ContentType="application/vnd.openxmlformats-officedocument.)"
                 R"(wordprocessingml.document.main+xml"/></Types>)",
                 false});
    m.push_back({"_rels/.rels",
                 R"(<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/)"
                 R"(relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.)"
                 R"(org/officeDocument/2006/relationships/officeDocument" )"
                 R"(Target="word/document.xml"/></Relationships>)",
                 false});
    m.push_back({"word/document.xml", document, false});
    auto z = office::write_zip(m, "t");
    REQUIRE(z.has_value());
    return *z;
}

} // namespace

TEST_CASE("cdr.ooxml: a docm loses its VBA project, template, ribbon and link targets and "
          "becomes a docx") {
    const Output out = must_rebuild("vba_template.docm", "report.docm");
    CHECK(out.filename == "report.docx");
    CHECK(out.content_type ==
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    CHECK(has_location(out.removed, "ooxml.vba_project", "word/vbaProject.bin"));
    CHECK(has_location(out.removed, "ooxml.vba_project", "word/vbaData.xml"));
    CHECK(has_removed(out.removed, "ooxml.attached_template", "http://attacker.example/t.dotm"));
    CHECK(has_removed(out.removed, "ooxml.hyperlink", "https://example.com/login"));
    CHECK(has_location(out.removed, "ooxml.custom_ui", "customUI/customUI14.xml"));
    CHECK(has_removed(out.removed, "ooxml.macro_enabled_type"));
    for (const auto& r : out.removed) {
        CHECK(r.location.find("Shell") == std::string::npos); // locations carry no content
    }

    const Unzipped z = unzip(out.bytes);
    check_opc(z);
    CHECK_FALSE(z.files.contains("word/vbaProject.bin"));
    CHECK_FALSE(z.files.contains("word/vbaData.xml"));
    CHECK_FALSE(z.files.contains("word/_rels/vbaProject.bin.rels"));
    CHECK_FALSE(z.files.contains("customUI/customUI14.xml"));
    const std::string& types = z.files.at("[Content_Types].xml");
    CHECK(contains(types, "wordprocessingml.document.main+xml"));
    CHECK_FALSE(contains(types, "macroEnabled"));
    CHECK_FALSE(contains(types, "vbaProject"));
    const std::string& doc = z.files.at("word/document.xml");
    CHECK(contains(doc, "our site"));            // the link text stays
    CHECK_FALSE(contains(doc, "r:id=\"rId3\"")); // its target is gone
    CHECK(contains(doc, "  two spaces kept  ")); // whitespace survives the rewrite
    CHECK_FALSE(contains(z.files.at("word/settings.xml"), "attachedTemplate"));
    CHECK_FALSE(contains(z.files.at("word/_rels/document.xml.rels"), "vbaProject"));
}

TEST_CASE("cdr.ooxml: DDE, DDEAUTO and INCLUDEPICTURE fields lose their code, keep their text") {
    const Output out = must_rebuild("dde_fields.docx", "fields.docx");
    CHECK(out.filename == "fields.docx");
    std::size_t dde = 0;
    for (const auto& r : out.removed) {
        dde += r.kind == "ooxml.dde_field" ? 1 : 0;
    }
    CHECK(dde == 2);
    CHECK(has_removed(out.removed, "ooxml.external_field", "http://tracker.example/p.png"));
    const Unzipped z = unzip(out.bytes);
    check_opc(z);
    const std::string& doc = z.files.at("word/document.xml");
    CHECK_FALSE(contains(doc, "DDE"));
    CHECK_FALSE(contains(doc, "AUTO c:"));
    CHECK_FALSE(contains(doc, "INCLUDEPICTURE"));
    CHECK_FALSE(contains(doc, "fldSimple"));
    CHECK(contains(doc, "shown result"));
    CHECK(contains(doc, "simple result"));
    CHECK(contains(doc, " PAGE ")); // a harmless field stays whole
    CHECK(contains(doc, "fldCharType=\"separate\""));
}

TEST_CASE("cdr.ooxml: an OLE object and an ActiveX control go, the preview picture stays") {
    const Output out = must_rebuild("ole_activex.docx", "ole.docx");
    CHECK(has_location(out.removed, "ooxml.ole_object", "word/embeddings/oleObject1.bin"));
    CHECK(has_location(out.removed, "ooxml.activex", "word/activeX/activeX1.xml"));
    CHECK(has_location(out.removed, "ooxml.activex", "word/activeX/activeX1.bin"));
    const Unzipped z = unzip(out.bytes);
    check_opc(z);
    for (const auto& name : z.order) {
        CHECK(name.find("embeddings/") == std::string::npos);
        CHECK(name.find("activeX") == std::string::npos);
    }
    const std::string& doc = z.files.at("word/document.xml");
    CHECK_FALSE(contains(doc, "OLEObject"));
    CHECK_FALSE(contains(doc, "w:control"));
    CHECK_FALSE(contains(doc, "w:object"));
    CHECK(contains(doc, "<w:pict><v:shape id=\"_x0000_i1025\""));
    CHECK(contains(doc, "v:imagedata r:id=\"rId2\""));
    CHECK(z.files.contains("word/media/image1.png"));
}

TEST_CASE("cdr.ooxml: an xlsx loses external links, its DDE link, external formulas, link "
          "targets and printer settings") {
    const Output out = must_rebuild("external_link_dde.xlsx", "book.xlsx");
    CHECK(out.filename == "book.xlsx");
    CHECK(has_location(out.removed, "ooxml.external_link", "xl/externalLinks/externalLink1.xml"));
    CHECK(
        has_removed(out.removed, "ooxml.external_link", "file:///\\\\server\\share\\budget.xlsx"));
    CHECK(has_removed(out.removed, "ooxml.dde_link", "cmd|/c calc"));
    CHECK(has_removed(out.removed, "ooxml.hyperlink", "https://example.com/report"));
    CHECK(has_location(out.removed, "ooxml.printer_settings",
                       "xl/printerSettings/printerSettings1.bin"));
    CHECK(
        has_location(out.removed, "ooxml.external_formula", "xl/worksheets/sheet1.xml formulas=2"));
    CHECK(has_location(out.removed, "ooxml.external_formula", "xl/workbook.xml name Remote"));
    const Unzipped z = unzip(out.bytes);
    check_opc(z);
    CHECK_FALSE(z.files.contains("xl/externalLinks/externalLink1.xml"));
    CHECK_FALSE(z.files.contains("xl/externalLinks/externalLink2.xml"));
    const std::string& wb = z.files.at("xl/workbook.xml");
    CHECK_FALSE(contains(wb, "externalReference"));
    CHECK_FALSE(contains(wb, "Remote"));
    CHECK(contains(wb, "<definedName name=\"Local\">"));
    const std::string& sheet = z.files.at("xl/worksheets/sheet1.xml");
    CHECK_FALSE(contains(sheet, "[1]"));
    CHECK_FALSE(contains(sheet, "cmd|"));
    CHECK(contains(sheet, "<c r=\"A1\"><v>42</v></c>")); // the cached value stays
    CHECK(contains(sheet, "<f>SUM(1,2)</f>"));
    CHECK(contains(sheet, "\"|\" is fine"));
    CHECK_FALSE(contains(sheet, "hyperlink"));
    CHECK(contains(sheet, "<pageSetup orientation=\"portrait\"/>"));
}

TEST_CASE("cdr.ooxml: a pptm loses its VBA project and macro actions and becomes a pptx") {
    const Output out = must_rebuild("macro.pptm", "deck.pptm");
    CHECK(out.filename == "deck.pptx");
    CHECK(out.content_type ==
          "application/vnd.openxmlformats-officedocument.presentationml.presentation");
    CHECK(has_location(out.removed, "ooxml.vba_project", "ppt/vbaProject.bin"));
    CHECK(has_removed(out.removed, "ooxml.macro_binding"));
    CHECK(has_removed(out.removed, "ooxml.hyperlink", "http://example.org/slides"));
    const Unzipped z = unzip(out.bytes);
    check_opc(z);
    const std::string& slide = z.files.at("ppt/slides/slide1.xml");
    CHECK_FALSE(contains(slide, "ppaction://macro"));
    CHECK_FALSE(contains(slide, "hlinkClick"));
    CHECK(contains(slide, "Click me"));
}

TEST_CASE("cdr.ooxml: a clean docx comes back with the same parts and nothing listed") {
    const std::string in = read_sample("clean.docx");
    const Output out = must_rebuild("clean.docx", "clean.docx");
    CHECK(out.removed.empty());
    const Unzipped before = unzip(in);
    const Unzipped after = unzip(out.bytes);
    CHECK(before.files == after.files);
    check_opc(after);
}

TEST_CASE("cdr.ooxml: a rebuilt file rebuilt again is unchanged and lists nothing") {
    for (const char* sample : {"vba_template.docm", "dde_fields.docx", "ole_activex.docx",
                               "external_link_dde.xlsx", "macro.pptm"}) {
        CAPTURE(sample);
        const Output first = must_rebuild(sample, sample);
        auto second = run(first.bytes, first.filename);
        REQUIRE(second.has_value());
        CHECK(second->removed.empty());
        CHECK(second->bytes == first.bytes);
    }
}

TEST_CASE("cdr.ooxml: broken, encrypted and hostile packages fail closed") {
    struct Case {
        const char* sample;
        ErrorCode code;
        std::string_view what;
    };
    for (const Case& c : {Case{"encrypted.docx", ErrorCode::Malformed, "cdr.ooxml.encrypted"},
                          Case{"zip_encrypted.docx", ErrorCode::Malformed, "cdr.ooxml.encrypted"},
                          Case{"truncated.docx", ErrorCode::Malformed, "cdr.ooxml.not_zip"},
                          Case{"garbage.docx", ErrorCode::Malformed, "cdr.ooxml.not_zip"},
                          Case{"traversal.docx", ErrorCode::Malformed, "cdr.ooxml.bad_name"},
                          Case{"basic_macro.odt", ErrorCode::Malformed, "cdr.ooxml.not_ooxml"},
                          Case{"macro.doc", ErrorCode::Malformed, "cdr.ooxml.not_zip"}}) {
        CAPTURE(c.sample);
        auto r = run(read_sample(c.sample), c.sample);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == c.code);
        CHECK(r.error().what == c.what);
    }
    SUBCASE("a part that inflates past the limit") {
        Options o;
        o.max_expanded_size = 8U << 20U;
        auto r = run(read_sample("bomb.xlsx"), "bomb.xlsx", o);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "cdr.ooxml.too_large");
        // Within a larger limit the same file is rebuilt.
        o.max_expanded_size = 64U << 20U;
        CHECK(run(read_sample("bomb.xlsx"), "bomb.xlsx", o).has_value());
    }
    SUBCASE("more members than allowed") {
        Options o;
        o.max_archive_members = 3;
        auto r = run(read_sample("vba_template.docm"), "a.docm", o);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "cdr.ooxml.too_many_parts");
    }
    SUBCASE("an output larger than allowed") {
        Options o;
        o.max_output_size = 100;
        auto r = run(read_sample("clean.docx"), "a.docx", o);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "cdr.output_too_large");
    }
    SUBCASE("add-ins are refused") {
        auto r = run(read_sample("vba_template.docm"), "tool.xlam");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::Unsupported);
        CHECK(r.error().what == "cdr.ooxml.addin");
    }
    SUBCASE("a part that is not XML") {
        const std::string bad = docx_with("<w:document><w:body>");
        auto r = run(bad, "a.docx");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().what == "cdr.ooxml.bad_xml");
    }
}

TEST_CASE("cdr.ooxml: a DDE field is found whatever prefix names the WordprocessingML "
          "namespace, and nested hostile markup is removed safely") {
    const std::string doc =
        R"(<x:document xmlns:x="http://schemas.openxmlformats.org/wordprocessingml/2006/main">)"
        R"(<x:body><x:p><x:fldSimple x:instr="DDEAUTO cmd &quot;/c calc&quot;"><x:r><x:t>)"
        R"(a</x:t></x:r></x:fldSimple></x:p><x:p><x:r><x:fldChar x:fldCharType="begin"/>)"
        R"(</x:r><x:r><x:instrText>DDE x <x:fldSimple x:instr="DDE y z"><x:r><x:t>b</x:t>)"
        R"(</x:r></x:fldSimple></x:instrText></x:r><x:r><x:fldChar x:fldCharType="begin"/>)"
        R"(</x:r></x:p></x:body></x:document>)";
    auto r = run(docx_with(doc), "x.docx");
    REQUIRE(r.has_value());
    const Unzipped z = unzip(r->bytes);
    check_opc(z);
    const std::string& out = z.files.at("word/document.xml");
    CHECK_FALSE(contains(out, "DDE"));
    CHECK(contains(out, "<x:t>a</x:t>"));
}

TEST_CASE("cdr.ooxml: 100000 levels of nesting are cleaned without recursion") {
    std::string doc = R"(<w:document xmlns:w="http://schemas.openxmlformats.org/)"
                      R"(wordprocessingml/2006/main"><w:body>)";
    constexpr int depth = 100000;
    for (int i = 0; i < depth; ++i) {
        doc += "<w:sdt>";
    }
    doc += R"(<w:fldSimple w:instr="DDEAUTO cmd x"><w:r><w:t>deep</w:t></w:r></w:fldSimple>)";
    for (int i = 0; i < depth; ++i) {
        doc += "</w:sdt>";
    }
    doc += "</w:body></w:document>";
    auto r = run(docx_with(doc), "deep.docx");
    REQUIRE(r.has_value());
    CHECK(has_removed(r->removed, "ooxml.dde_field"));
    const Unzipped z = unzip(r->bytes);
    CHECK_FALSE(contains(z.files.at("word/document.xml"), "DDEAUTO"));
    CHECK(contains(z.files.at("word/document.xml"), "<w:t>deep</w:t>"));
}
