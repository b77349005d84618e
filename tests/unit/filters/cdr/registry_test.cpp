#include <doctest/doctest.h>

#include "filters/cdr/cdr.hpp"

using namespace mugaika::filters::cdr;

TEST_CASE("cdr: files are routed to their engine by detected type and extension") {
    CHECK(engine_for("application/pdf", "pdf") == "pdf");
    CHECK(engine_for("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     "docx") == "ooxml");
    CHECK(engine_for("application/vnd.ms-word.document.macroenabled.12", "docm") == "ooxml");
    CHECK(engine_for("application/zip", "xlsm") == "ooxml"); // libmagic's name for some packages
    CHECK(engine_for("application/zip", "zip") == "archive");
    CHECK(engine_for("application/encrypted", "docx") == "ooxml"); // refused there, by name
    CHECK(engine_for("application/vnd.oasis.opendocument.text", "odt") == "odf");
    CHECK(engine_for("application/msword", "doc") == "office");
    CHECK(engine_for("text/rtf", "rtf") == "office");
    CHECK(engine_for("image/jpeg", "jpg") == "image");
    CHECK(engine_for("image/x-ms-bmp", "bmp") == "image");
    CHECK(engine_for("text/plain", "txt") == "text");
    CHECK(engine_for("text/csv", "csv") == "text");
    // Nothing rebuilds programs, scripts or unknown data: the caller strips them.
    CHECK(engine_for("application/vnd.microsoft.portable-executable", "exe").empty());
    CHECK(engine_for("text/x-shellscript", "sh").empty());
    CHECK(engine_for("application/octet-stream", "bin").empty());
    CHECK(engine_for("text/html", "html").empty());
    CHECK(engine_for("text/plain", "exe").empty()); // text bytes under a program's name
    CHECK(engine_for("text/html", "").empty());
    CHECK(engine_for("text/x-shellscript", "txt") == "text"); // under .txt nothing runs it
}

TEST_CASE("cdr: every engine is registered under its own name") {
    const auto& names = engine_names();
    REQUIRE(names.size() == 7);
    for (std::string_view n : names) {
        const Engine* e = find_engine(n);
        REQUIRE(e != nullptr);
        CHECK(e->name() == n);
    }
    CHECK(find_engine("flash") == nullptr);
    auto r = rebuild_with("flash", {}, "x", Options{});
    REQUIRE_FALSE(r);
    CHECK(r.error().what == "cdr.no_engine");
}
