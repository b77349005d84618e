// CDR of Office files: MB/s of the ooxml and odf engines on generated packages of a few MB
// (many parts, pictures, links), of legacy detection (OLE2 and RTF), and the time of one
// LibreOffice conversion when soffice is installed. `--quick` shrinks everything for ctest.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/soffice.hpp"
#include "filters/cdr/office/zip_package.hpp"

using namespace mugaika::filters::cdr;
using office::ZipMember;

namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

/// Deterministic filler that does not compress to nothing (pictures).
std::string noise(std::size_t n, std::uint32_t seed) {
    std::string out(n, '\0');
    for (char& c : out) {
        seed = seed * 1664525U + 1013904223U;
        c = static_cast<char>(seed >> 24U);
    }
    return out;
}

std::string must_zip(const std::vector<ZipMember>& m) {
    auto z = office::write_zip(m, "bench");
    if (!z) {
        std::fprintf(stderr, "cannot build input\n");
        std::exit(1);
    }
    return *z;
}

constexpr const char* rel_ns =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/";

/// A docm: `paras` paragraphs with hyperlinks every 10, `headers` header parts, `images`
/// pictures of 20 KB, and a VBA project.
std::string make_docx(std::size_t paras, std::size_t headers, std::size_t images) {
    std::string types =
        R"(<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.)"
        R"(org/package/2006/content-types"><Default Extension="rels" ContentType="application/)"
        R"(vnd.openxmlformats-package.relationships+xml"/><Default Extension="png" )"
        R"(ContentType="image/png"/><Default Extension="bin" ContentType="application/vnd.ms-)"
        R"(office.vbaProject"/><Override PartName="/word/document.xml" ContentType=")"
        R"(application/vnd.ms-word.document.macroEnabled.main+xml"/>)";
    std::string rels = R"(<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://)"
                       R"(schemas.openxmlformats.org/package/2006/relationships">)";
    std::vector<ZipMember> m;
    for (std::size_t h = 0; h < headers; ++h) {
        const std::string name = "header" + std::to_string(h) + ".xml";
        types += R"(<Override PartName="/word/)" + name +
                 R"(" ContentType="application/vnd.openxmlformats-officedocument.)"
                 R"(wordprocessingml.header+xml"/>)";
        rels += R"(<Relationship Id="rH)" + std::to_string(h) + R"(" Type=")" + rel_ns +
                R"(header" Target=")" + name + R"("/>)";
        m.push_back({"word/" + name,
                     R"(<w:hdr xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/)"
                     R"(2006/main"><w:p><w:r><w:t>Header</w:t></w:r></w:p></w:hdr>)",
                     false});
    }
    for (std::size_t i = 0; i < images; ++i) {
        const std::string name = "media/image" + std::to_string(i) + ".png";
        rels += R"(<Relationship Id="rI)" + std::to_string(i) + R"(" Type=")" + rel_ns +
                R"(image" Target=")" + name + R"("/>)";
        m.push_back(
            {"word/" + name, "\x89PNG" + noise(20000, static_cast<std::uint32_t>(i)), false});
    }
    rels += R"(<Relationship Id="rV" Type="http://schemas.microsoft.com/office/2006/)"
            R"(relationships/vbaProject" Target="vbaProject.bin"/>)";
    m.push_back({"word/vbaProject.bin", noise(30000, 7), false});
    std::string doc = R"(<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://)"
                      R"(schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://)"
                      R"(schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body>)";
    for (std::size_t p = 0; p < paras; ++p) {
        if (p % 10 == 0) {
            const std::string id = "rL" + std::to_string(p);
            rels += R"(<Relationship Id=")" + id + R"(" Type=")" + rel_ns +
                    R"(hyperlink" Target="https://example.com/)" + std::to_string(p) +
                    R"(" TargetMode="External"/>)";
            doc += R"(<w:p><w:hyperlink r:id=")" + id +
                   R"("><w:r><w:t>link text</w:t></w:r></w:hyperlink></w:p>)";
        } else {
            doc += R"(<w:p><w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">Paragraph )" +
                   std::to_string(p) +
                   R"( of the benchmark document, some words to make it look real. </w:t>)"
                   R"(</w:r></w:p>)";
        }
    }
    doc += "</w:body></w:document>";
    types += "</Types>";
    rels += "</Relationships>";
    m.insert(m.begin(),
             {{"[Content_Types].xml", types, false},
              {"_rels/.rels",
               R"(<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.)"
               R"(openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" )"
               R"(Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/)"
               R"(officeDocument" Target="word/document.xml"/></Relationships>)",
               false},
              {"word/document.xml", doc, false},
              {"word/_rels/document.xml.rels", rels, false}});
    return must_zip(m);
}

/// An xlsx with `sheets` sheets of `rows` rows x 8 cells, a few external formulas per sheet.
std::string make_xlsx(std::size_t sheets, std::size_t rows) {
    const std::string x = "application/vnd.openxmlformats-officedocument.spreadsheetml.";
    std::string types =
        R"(<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.)"
        R"(org/package/2006/content-types"><Default Extension="rels" ContentType="application/)"
        R"(vnd.openxmlformats-package.relationships+xml"/><Override PartName="/xl/workbook.)"
        R"(xml" ContentType=")" +
        x + R"(sheet.main+xml"/>)";
    std::string wb = R"(<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/)"
                     R"(main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/)"
                     R"(relationships"><sheets>)";
    std::string rels = R"(<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/)"
                       R"(relationships">)";
    std::vector<ZipMember> m;
    for (std::size_t s = 0; s < sheets; ++s) {
        const std::string n = std::to_string(s + 1);
        types += R"(<Override PartName="/xl/worksheets/sheet)" + n + R"(.xml" ContentType=")" + x +
                 R"(worksheet+xml"/>)";
        wb += R"(<sheet name="S)" + n + R"(" sheetId=")" + n + R"(" r:id="rId)" + n + R"("/>)";
        rels += R"(<Relationship Id="rId)" + n + R"(" Type=")" + rel_ns +
                R"(worksheet" Target="worksheets/sheet)" + n + R"(.xml"/>)";
        std::string sheet = R"(<worksheet xmlns="http://schemas.openxmlformats.org/)"
                            R"(spreadsheetml/2006/main"><sheetData>)";
        for (std::size_t r = 1; r <= rows; ++r) {
            sheet += "<row r=\"" + std::to_string(r) + "\">";
            for (char c = 'A'; c < 'I'; ++c) {
                const std::string ref = std::string(1, c) + std::to_string(r);
                if (r % 500 == 0 && c == 'A') {
                    sheet += "<c r=\"" + ref + "\"><f>[1]Other!A1</f><v>1</v></c>";
                } else if (c == 'H') {
                    sheet += "<c r=\"" + ref + "\"><f>SUM(A" + std::to_string(r) + ":G" +
                             std::to_string(r) + ")</f><v>28</v></c>";
                } else {
                    sheet += "<c r=\"" + ref + "\"><v>" + std::to_string(r * 7 + c) + "</v></c>";
                }
            }
            sheet += "</row>";
        }
        sheet += "</sheetData></worksheet>";
        m.push_back({"xl/worksheets/sheet" + n + ".xml", sheet, false});
    }
    wb += "</sheets></workbook>";
    types += "</Types>";
    rels += "</Relationships>";
    m.insert(m.begin(),
             {{"[Content_Types].xml", types, false},
              {"_rels/.rels",
               R"(<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/)"
               R"(relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.)"
               R"(org/officeDocument/2006/relationships/officeDocument" )"
               R"(Target="xl/workbook.xml"/></Relationships>)",
               false},
              {"xl/workbook.xml", wb, false},
              {"xl/_rels/workbook.xml.rels", rels, false}});
    return must_zip(m);
}

/// An odt with `paras` paragraphs (links every 10), `images` pictures and a Basic library.
std::string make_odt(std::size_t paras, std::size_t images) {
    const std::string mt = "application/vnd.oasis.opendocument.text";
    std::string manifest =
        R"(<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:)"
        R"(manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" )"
        R"(manifest:media-type=")" +
        mt +
        R"("/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type=")"
        R"(text/xml"/><manifest:file-entry manifest:full-path="Basic/Standard/Module1.xml" )"
        R"(manifest:media-type="text/xml"/>)";
    std::vector<ZipMember> m{{"mimetype", mt, true}};
    std::string content =
        R"(<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:)"
        R"(office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" )"
        R"(xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" )"
        R"(xmlns:xlink="http://www.w3.org/1999/xlink"><office:body><office:text>)";
    for (std::size_t i = 0; i < images; ++i) {
        const std::string name = "Pictures/p" + std::to_string(i) + ".png";
        manifest += R"(<manifest:file-entry manifest:full-path=")" + name +
                    R"(" manifest:media-type="image/png"/>)";
        m.push_back({name, "\x89PNG" + noise(20000, static_cast<std::uint32_t>(i) + 99), false});
        content += R"(<text:p><draw:frame><draw:image xlink:href=")" + name +
                   R"("/></draw:frame></text:p>)";
    }
    for (std::size_t p = 0; p < paras; ++p) {
        if (p % 10 == 0) {
            content += R"(<text:p><text:a xlink:type="simple" xlink:href="https://example.com/)" +
                       std::to_string(p) + R"(">link</text:a></text:p>)";
        } else {
            content += "<text:p>Paragraph " + std::to_string(p) +
                       " of the benchmark document, some words to make it look real.</text:p>";
        }
    }
    content += "</office:text></office:body></office:document-content>";
    manifest += "</manifest:manifest>";
    m.push_back({"META-INF/manifest.xml", manifest, false});
    m.push_back({"content.xml", content, false});
    m.push_back({"Basic/Standard/Module1.xml", "<script:module xmlns:script=\"x\"/>", false});
    return must_zip(m);
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return std::move(s).str();
}

/// Runs `fn` until `min_seconds` pass (at least once); returns seconds per run.
double time_per_run(double min_seconds, const std::function<void()>& fn) {
    const auto start = std::chrono::steady_clock::now();
    std::size_t runs = 0;
    double elapsed = 0;
    do {
        fn();
        ++runs;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < min_seconds);
    return elapsed / static_cast<double>(runs);
}

int bench_engine(const char* label, const char* engine, const std::string& in, const char* filename,
                 double min_seconds, bool expect_ok) {
    bool ok = true;
    std::size_t removed = 0;
    const double t = time_per_run(min_seconds, [&] {
        auto r = rebuild_with(engine, bytes_of(in), filename, Options{});
        ok = r.has_value() == expect_ok;
        removed = r ? r->removed.size() : 0;
    });
    if (!ok) {
        std::fprintf(stderr, "%s: unexpected result\n", label);
        return 1;
    }
    // Zip inputs: also the inflated size, which is what the XML work scales with.
    double inflated = 0;
    if (auto m = office::read_zip(bytes_of(in), {}, {"a", "b", "c", "d", "e"})) {
        for (const auto& member : *m) {
            inflated += static_cast<double>(member.data.size());
        }
    }
    std::printf("%-34s %6.2f MB (%6.2f MB inflated) %8.2f ms/file %7.1f MB/s (%6.1f inflated)"
                "  removed=%zu\n",
                label, static_cast<double>(in.size()) / 1e6, inflated / 1e6, t * 1e3,
                static_cast<double>(in.size()) / 1e6 / t, inflated / 1e6 / t, removed);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string_view(argv[1]) == "--quick";
    const double min_s = quick ? 0.0 : 2.0;
    const std::size_t scale = quick ? 1 : 20;
    int failures = 0;

    failures += bench_engine("ooxml docm (paras, images, links)", "ooxml",
                             make_docx(1000 * scale, 20, 5 * scale), "bench.docm", min_s, true);
    failures += bench_engine("ooxml xlsx (sheets of cells)", "ooxml",
                             make_xlsx(quick ? 2 : 10, 200 * scale), "bench.xlsx", min_s, true);
    failures += bench_engine("odf odt (paras, images, links)", "odf",
                             make_odt(1000 * scale, 5 * scale), "bench.odt", min_s, true);

    const std::string dir = std::string(MUGAIKA_SOURCE_DIR) + "/samples/files/office/";
    const std::string doc = read_file(dir + "macro.doc");
    failures +=
        bench_engine("office detect: macro.doc (8 KB)", "office", doc, "macro.doc", min_s, false);
    std::string rtf = "{\\rtf1\\ansi ";
    while (rtf.size() < 400'000 * scale) {
        rtf += "{\\b bold} plain text \\par {\\object\\objemb{\\*\\objdata 0105000002}}\n";
    }
    rtf += "}";
    failures +=
        bench_engine("office detect: generated rtf", "office", rtf, "big.rtf", min_s, false);

    const char* soffice = "/usr/bin/soffice";
    if (!quick && access(soffice, X_OK) == 0) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mugaika-bench-XXXXXX");
        if (mkdtemp(tmpl.data()) == nullptr) {
            return 1;
        }
        office::ConvertSettings s;
        s.soffice = soffice;
        s.work_dir = tmpl;
        for (const char* name : {"plain.rtf", "objdata.rtf"}) {
            const std::string in = read_file(dir + name);
            const auto start = std::chrono::steady_clock::now();
            auto r = office::convert_to_pdf(bytes_of(in), "rtf", s);
            const double t =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::printf("%-34s %9.2f s/document  %s\n",
                        (std::string("soffice convert: ") + name).c_str(), t,
                        r ? "pdf" : std::string(r.error().what).c_str());
            failures += r ? 0 : 1;
        }
        std::error_code ec;
        std::filesystem::remove_all(tmpl, ec);
    } else if (!quick) {
        std::printf("soffice convert: skipped (no %s)\n", soffice);
    }
    return failures == 0 ? 0 : 1;
}
