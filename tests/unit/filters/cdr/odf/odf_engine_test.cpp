#include <doctest/doctest.h>

#include "filters/cdr/cdr.hpp"
#include "filters/cdr/office/zip_package.hpp"
#include "tests/unit/filters/cdr/office/package_checks.hpp"

using namespace mugaika::filters;
using namespace mugaika::filters::cdr;
using namespace mugaika::test_office;

namespace {

Result<Output> run(const std::string& bytes, std::string_view name, const Options& o = {}) {
    return find_engine("odf")->rebuild(as_bytes(bytes), name, o);
}

bool contains(const std::string& s, std::string_view p) {
    return s.find(p) != std::string::npos;
}

/// The ODF invariants: mimetype first and stored, every XML member parses, the manifest lists
/// exactly the members (plus the root and folders).
void check_odf(const std::string& bytes, std::string_view mimetype) {
    auto entries = office::list_zip(bytes, "t");
    REQUIRE(entries.has_value());
    REQUIRE_FALSE(entries->empty());
    CHECK(entries->front().name == "mimetype");
    CHECK(entries->front().stored);
    const Unzipped z = unzip(bytes);
    CHECK(z.files.at("mimetype") == mimetype);
    for (const auto& [name, data] : z.files) {
        if (name.ends_with(".xml")) {
            pugi::xml_document doc;
            CHECK_MESSAGE(office::parse_xml(data, doc), "does not parse: " << name);
        }
    }
    auto manifest = parse(z.files.at("META-INF/manifest.xml"));
    std::set<std::string> listed;
    for (pugi::xml_node e : manifest.document_element().children()) {
        const std::string path = e.attribute("manifest:full-path").value();
        if (path == "/") {
            CHECK(std::string_view(e.attribute("manifest:media-type").value()) == mimetype);
        } else if (!path.ends_with("/")) {
            CHECK_MESSAGE(z.files.contains(path), "manifest lists a missing " << path);
            listed.insert(path);
        }
    }
    for (const auto& [name, data] : z.files) {
        if (name != "mimetype" && name != "META-INF/manifest.xml") {
            CHECK_MESSAGE(listed.contains(name), "not in the manifest: " << name);
        }
    }
}

} // namespace

TEST_CASE("cdr.odf: an odt loses its Basic macros, event listeners, embedded object and link "
          "targets; the object's replacement image stays") {
    const std::string in = read_sample("basic_macro.odt");
    auto r = run(in, "letter.odt");
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : std::string(r.error().what) + r.error().detail));
    CHECK(r->filename == "letter.odt");
    CHECK(r->content_type == "application/vnd.oasis.opendocument.text");
    CHECK(has_location(r->removed, "odf.macro", "Basic/Standard"));
    CHECK(has_location(r->removed, "odf.macro", "Basic/script-lc.xml"));
    CHECK(has_location(r->removed, "odf.embedded_object", "Object 1"));
    CHECK(has_location(r->removed, "odf.event_listener", "content.xml count=1"));
    CHECK(has_removed(r->removed, "odf.hyperlink", "https://example.com/odf"));
    CHECK(has_removed(r->removed, "odf.macro_link"));
    CHECK(has_removed(r->removed, "odf.template", "http://attacker.example/t.ott"));
    check_odf(r->bytes, "application/vnd.oasis.opendocument.text");
    const Unzipped z = unzip(r->bytes);
    for (const auto& name : z.order) {
        CHECK_FALSE(name.starts_with("Basic/"));
        CHECK_FALSE(name.starts_with("Object 1/"));
    }
    CHECK(z.files.contains("ObjectReplacements/Object 1"));
    const std::string& content = z.files.at("content.xml");
    CHECK_FALSE(contains(content, "event-listener"));
    CHECK_FALSE(contains(content, "vnd.sun.star.script"));
    CHECK_FALSE(contains(content, "draw:object"));
    CHECK_FALSE(contains(content, "https://example.com/odf"));
    CHECK(contains(content, "our site"));
    CHECK(contains(content, "run this"));
    CHECK(contains(content, "./ObjectReplacements/Object 1"));
    CHECK(contains(content, "<text:p>  spaces  </text:p>"));
    CHECK_FALSE(contains(z.files.at("meta.xml"), "attacker.example"));
    CHECK_FALSE(contains(z.files.at("META-INF/manifest.xml"), "Basic"));

    auto again = run(r->bytes, r->filename);
    REQUIRE(again.has_value());
    CHECK(again->removed.empty());
    CHECK(again->bytes == r->bytes);
}

TEST_CASE("cdr.odf: an ods loses its DDE link and external table source, keeps its cells") {
    auto r = run(read_sample("dde_link.ods"), "book.ods");
    REQUIRE(r.has_value());
    CHECK(has_removed(r->removed, "odf.dde", "cmd|/c calc"));
    CHECK(has_removed(r->removed, "odf.external_link", "file:///server/share/book.ods"));
    check_odf(r->bytes, "application/vnd.oasis.opendocument.spreadsheet");
    const std::string content = unzip(r->bytes).files.at("content.xml");
    CHECK_FALSE(contains(content, "dde"));
    CHECK_FALSE(contains(content, "table-source"));
    CHECK(contains(content, "kept text"));
}

TEST_CASE("cdr.odf: broken, encrypted and foreign packages fail closed") {
    auto truncated = run(read_sample("truncated.odt"), "a.odt");
    REQUIRE_FALSE(truncated.has_value());
    CHECK(truncated.error().code == ErrorCode::Malformed);
    CHECK(truncated.error().what == "cdr.odf.not_zip");

    auto docx = run(read_sample("clean.docx"), "a.odt");
    REQUIRE_FALSE(docx.has_value());
    CHECK(docx.error().what == "cdr.odf.not_odf");

    std::vector<office::ZipMember> m{
        {"mimetype", "application/vnd.oasis.opendocument.text", true},
        {"META-INF/manifest.xml",
         R"(<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:)"
         R"(manifest:1.0"><manifest:file-entry manifest:full-path="content.xml" )"
         R"(manifest:media-type="text/xml"><manifest:encryption-data/></manifest:file-entry>)"
         R"(</manifest:manifest>)",
         false},
        {"content.xml", "binary-looking ciphertext", false}};
    auto zipped = office::write_zip(m, "t");
    REQUIRE(zipped.has_value());
    auto enc = run(*zipped, "secret.odt");
    REQUIRE_FALSE(enc.has_value());
    CHECK(enc.error().code == ErrorCode::Malformed);
    CHECK(enc.error().what == "cdr.odf.encrypted");

    m[0].data = "application/vnd.oasis.opendocument.base";
    zipped = office::write_zip(m, "t");
    auto db = run(*zipped, "data.odb");
    REQUIRE_FALSE(db.has_value());
    CHECK(db.error().code == ErrorCode::Unsupported);
    CHECK(db.error().what == "cdr.odf.unknown_type");

    Options o;
    o.max_expanded_size = 100;
    auto big = run(read_sample("basic_macro.odt"), "a.odt", o);
    REQUIRE_FALSE(big.has_value());
    CHECK(big.error().code == ErrorCode::LimitExceeded);
    CHECK(big.error().what == "cdr.odf.too_large");
}

TEST_CASE("cdr.odf: a member not listed in the manifest is dropped") {
    std::vector<office::ZipMember> m{
        {"mimetype", "application/vnd.oasis.opendocument.text", true},
        {"META-INF/manifest.xml",
         R"(<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:)"
         R"(manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type=")"
         R"(application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path=)"
         R"("content.xml" manifest:media-type="text/xml"/></manifest:manifest>)",
         false},
        {"content.xml",
         R"(<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:)"
         R"(office:1.0"/>)",
         false},
        {"payload.exe", "MZ", false}};
    auto zipped = office::write_zip(m, "t");
    REQUIRE(zipped.has_value());
    auto r = run(*zipped, "a.odt");
    REQUIRE(r.has_value());
    CHECK(has_location(r->removed, "odf.orphan_part", "payload.exe"));
    CHECK_FALSE(unzip(r->bytes).files.contains("payload.exe"));
    check_odf(r->bytes, "application/vnd.oasis.opendocument.text");
}
