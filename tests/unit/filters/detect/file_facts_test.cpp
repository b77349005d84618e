#include "filters/detect/file_facts.hpp"

#include <algorithm>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "filters/core/part.hpp"
#include "filters/detect/type_detector.hpp"

namespace {

using namespace mugaika::filters::detect;

FileFacts facts(std::string_view name, std::string_view declared = "application/octet-stream",
                std::string_view detected = "application/octet-stream") {
    return file_facts(name, declared, detected, NamePolicy{});
}

// Columns as file_facts counts them, for the scripts the tests use (ASCII, kana, kanji, markers).
std::size_t columns(std::string_view s) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++w;
            ++i;
        } else if (b >= 0xE0 && b < 0xF0) {
            // "…" (E2 80 A6) is one column; the kana and kanji used here are two.
            w += (b == 0xE2) ? 1 : 2;
            i += 3;
        } else {
            w += 1;
            i += (b >= 0xF0) ? 4 : 2;
        }
    }
    return w;
}

bool has_hidden(std::string_view s) {
    // Bidi, invisible and control characters never reach name_shown.
    constexpr std::string_view forbidden[] = {
        "\u202A", "\u202B",     "\u202C",     "\u202D", "\u202E", "\u2066", "\u2067",
        "\u2068", "\u2069",     "\u200E",     "\u200F", "\u061C", "\u200B", "\u200C",
        "\u200D", "\u2060",     "\uFEFF",     "\u00AD", "\u180E", "\u3164", "\u115F",
        "\u1160", "\U000E0001", "\U000E0041", "\u0085", "\u2028"};
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7F) {
            return true;
        }
    }
    for (std::string_view f : forbidden) {
        if (s.find(f) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

struct TrickRow {
    std::string_view label;
    std::string_view name;
    NameTrick trick;
};

} // namespace

TEST_CASE("file_facts: each name trick is flagged") {
    const std::string long_name = std::string(300, 'a') + ".pdf";
    const TrickRow rows[] = {
        {"double extension", "invoice.pdf.exe", NameTrick::DoubleExtension},
        {"double extension, upper case", "INVOICE.PDF.EXE", NameTrick::DoubleExtension},
        {"double extension, script", "scan.jpg.js", NameTrick::DoubleExtension},
        {"double extension, shortcut", "report.docx.lnk", NameTrick::DoubleExtension},
        {"double extension, disk image", "order.xlsx.iso", NameTrick::DoubleExtension},
        {"double extension, hta", "notice.txt.hta", NameTrick::DoubleExtension},
        {"double extension, spaces between", "invoice.pdf   .exe", NameTrick::DoubleExtension},
        {"double extension, many dots", "invoice.pdf....scr", NameTrick::DoubleExtension},
        {"double extension, ideographic space", "請求書.pdf\u3000.exe", NameTrick::DoubleExtension},
        {"double extension, dot name", ".pdf.exe", NameTrick::DoubleExtension},
        {"double extension behind trailing dots", "a.pdf.exe..", NameTrick::DoubleExtension},
        {"double extension hidden by zero width space", "a.pdf.e\u200Bxe",
         NameTrick::DoubleExtension},
        {"RLO", "invoice_\u202Eexe.pdf", NameTrick::BidiControl},
        {"LRO", "a\u202D.pdf", NameTrick::BidiControl},
        {"RLI", "a\u2067b.pdf", NameTrick::BidiControl},
        {"PDI", "a\u2069b.pdf", NameTrick::BidiControl},
        {"RLM", "a\u200Fb.pdf", NameTrick::BidiControl},
        {"LRM", "a\u200Eb.pdf", NameTrick::BidiControl},
        {"Arabic letter mark", "a\u061Cb.pdf", NameTrick::BidiControl},
        {"zero width space", "a\u200Bb.pdf", NameTrick::Invisible},
        {"zero width joiner", "a\u200Db.pdf", NameTrick::Invisible},
        {"word joiner", "a\u2060b.pdf", NameTrick::Invisible},
        {"BOM", "\uFEFFa.pdf", NameTrick::Invisible},
        {"soft hyphen", "ex\u00ADe.pdf", NameTrick::Invisible},
        {"Mongolian vowel separator", "a\u180E.pdf", NameTrick::Invisible},
        {"Hangul filler", "a\u3164.pdf", NameTrick::Invisible},
        {"Hangul choseong filler", "a\u115F.pdf", NameTrick::Invisible},
        {"Hangul jungseong filler", "a\u1160.pdf", NameTrick::Invisible},
        {"tag character", "a\U000E0065.pdf", NameTrick::Invisible},
        {"too long", long_name, NameTrick::TooLong},
        {"slash", "../../etc/passwd", NameTrick::PathSeparator},
        {"backslash", "C:\\Users\\x\\a.pdf", NameTrick::PathSeparator},
        {"fullwidth solidus", "dir\uFF0Fa.pdf", NameTrick::PathSeparator},
        {"fullwidth reverse solidus", "dir\uFF3Ca.pdf", NameTrick::PathSeparator},
        {"dot dot alone", "..", NameTrick::PathSeparator},
        {"trailing dot", "a.exe.", NameTrick::TrailingDotOrSpace},
        {"trailing space", "a.exe ", NameTrick::TrailingDotOrSpace},
        {"trailing dot and space", "a.pdf. ", NameTrick::TrailingDotOrSpace},
        {"tab", "a\tb.pdf", NameTrick::ControlChar},
        {"newline", "a\nb.pdf", NameTrick::ControlChar},
        {"NUL", std::string_view("a\0b.pdf", 7), NameTrick::ControlChar},
        {"DEL", "a\x7F.pdf", NameTrick::ControlChar},
        {"C1 NEL", "a\u0085.pdf", NameTrick::ControlChar},
        {"line separator", "a\u2028.pdf", NameTrick::ControlChar},
        {"invalid UTF-8", "a\xFF\xFE.pdf", NameTrick::ControlChar},
        {"truncated UTF-8", "a\xE8\xAB.pdf", NameTrick::ControlChar},
        {"overlong UTF-8 slash", "a\xC0\xAF.pdf", NameTrick::ControlChar},
        {"CON", "CON", NameTrick::ReservedDeviceName},
        {"nul with extension", "nul.txt", NameTrick::ReservedDeviceName},
        {"COM1", "com1.pdf", NameTrick::ReservedDeviceName},
        {"LPT9 with trailing space stem", "LPT9 .docx", NameTrick::ReservedDeviceName},
        {"COM superscript one", "COM\u00B9.txt", NameTrick::ReservedDeviceName},
        {"AUX", "aux.tar.gz", NameTrick::ReservedDeviceName},
        {"many spaces", "invoice.pdf      .exe", NameTrick::ManySpaces},
        {"many ideographic spaces", "請求書\u3000\u3000\u3000\u3000\u3000.txt",
         NameTrick::ManySpaces},
    };
    for (const TrickRow& row : rows) {
        SUBCASE(std::string(row.label).c_str()) {
            const FileFacts f = facts(row.name);
            INFO("tricks=" << tricks_to_string(f.tricks));
            CHECK(has_trick(f.tricks, row.trick));
            CHECK(f.name_received == row.name);
            CHECK_FALSE(f.name_shown.empty());
            CHECK_FALSE(has_hidden(f.name_shown));
        }
    }
}

TEST_CASE("file_facts: ordinary names carry no trick") {
    const std::string_view names[] = {
        "archive.tar.gz",
        "report.v2.pdf",
        "請求書.pdf",
        "見積書（改）.xlsx",
        "議事録 2024年4月.docx",
        "写真　一覧.zip",
        "jquery.min.js",
        "setup.exe",
        "Fwd..final.pdf",
        "data.backup.2024.csv",
        "console.log",
        "com10.txt",
        "A  B.txt",
        "README",
        ".profile",
        "caf\u00E9.pdf",
        "e\u0301t\u00E9.docx",
        "葛\U000E0100城市.pdf",
        "👍.png",
        "",
    };
    for (std::string_view name : names) {
        SUBCASE(std::string(name).c_str()) {
            const FileFacts f = facts(name);
            CHECK_MESSAGE(f.tricks == 0, tricks_to_string(f.tricks));
            CHECK(f.name_received == name);
            CHECK(f.name_shown == name);
        }
    }
}

TEST_CASE("file_facts: the extension is the last one, lower-case, as Windows reads it") {
    const struct {
        std::string_view name;
        std::string_view ext;
        FileKind kind;
    } rows[] = {
        {"archive.tar.gz", "gz", FileKind::Archive},
        {"invoice.pdf.exe", "exe", FileKind::Executable},
        {"A.PDF", "pdf", FileKind::Pdf},
        {"a.exe. . ", "exe", FileKind::Executable},
        {"a.e\u200Bx\u200De", "exe", FileKind::Executable},
        {"invoice_\u202Eexe.pdf", "pdf", FileKind::Pdf},
        {"dir/x.lnk", "lnk", FileKind::Executable},
        {"dir\\x.docm", "docm", FileKind::Office},
        {"x.pdf/", "", FileKind::Other},
        {"README", "", FileKind::Other},
        {".bashrc", "bashrc", FileKind::Other},
        {"見積書（改）.xlsx", "xlsx", FileKind::Office},
        {"予定.ics", "ics", FileKind::Calendar},
        {"fwd.eml", "eml", FileKind::Email},
        {"x.ＥＸＥ", "ＥＸＥ", FileKind::Other},
    };
    for (const auto& row : rows) {
        SUBCASE(std::string(row.name).c_str()) {
            const FileFacts f = facts(row.name);
            CHECK(f.extension == row.ext);
            CHECK(f.extension_kind == row.kind);
        }
    }
}

TEST_CASE("file_facts: the shown name makes the trick visible and drops path components") {
    const struct {
        std::string_view name;
        std::string_view shown;
    } rows[] = {
        {"invoice_\u202Eexe.pdf", "invoice_[U+202E]exe.pdf"},
        {"a\u200Bb.pdf", "a[U+200B]b.pdf"},
        {"\uFEFFa.pdf", "[U+FEFF]a.pdf"},
        {"a\tb.pdf", "a[U+0009]b.pdf"},
        {"a\xFF.pdf", "a[0xFF].pdf"},
        {"a\U000E0065.pdf", "a[U+E0065].pdf"},
        {"invoice.pdf      .exe", "invoice.pdf[6 spaces].exe"},
        {"../../etc/passwd", "passwd"},
        {"C:\\Users\\x\\請求書.pdf", "請求書.pdf"},
        {"dir\uFF0Fa.pdf", "a.pdf"},
        {"a/", "a/"},
        {"..", ".."},
        {"a.exe. ", "a.exe. "},
    };
    for (const auto& row : rows) {
        SUBCASE(std::string(row.name).c_str()) {
            const FileFacts f = facts(row.name);
            CHECK(f.name_shown == row.shown);
            CHECK(f.name_received == row.name);
        }
    }
}

TEST_CASE("file_facts: a 2000-character Japanese name is flagged and shown within the width") {
    std::string name;
    for (int i = 0; i < 2000; ++i) {
        name += "請";
    }
    name += "\u202E.pdf";
    const NamePolicy policy;
    const FileFacts f = file_facts(name, "application/pdf", "application/pdf", policy);
    CHECK(has_trick(f.tricks, NameTrick::TooLong));
    CHECK(has_trick(f.tricks, NameTrick::BidiControl));
    CHECK(f.name_received == name);
    CHECK(columns(f.name_shown) <= policy.shown_width);
    CHECK(columns(f.name_shown) >= policy.shown_width - 2);
    CHECK_FALSE(has_hidden(f.name_shown));
    CHECK(f.name_shown.find("\u2026") != std::string::npos);
    // The end, where the extension and the trick are, stays visible.
    CHECK(f.name_shown.ends_with("[U+202E].pdf"));
    CHECK(f.name_shown.starts_with("請請請"));
    CHECK(f.extension == "pdf");
}

TEST_CASE("file_facts: the shown name is capped for any width and never empty") {
    const std::string name = "a-rather-long-but-ordinary-file-name-for-a-quarterly-report.pdf";
    for (std::size_t width : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{7},
                              std::size_t{20}, std::size_t{63}, std::size_t{64}}) {
        CAPTURE(width);
        const FileFacts f = file_facts(name, "", "", NamePolicy{255, width});
        CHECK_FALSE(f.name_shown.empty());
        CHECK(columns(f.name_shown) <= std::max<std::size_t>(width, 1));
    }
    CHECK(file_facts(name, "", "", NamePolicy{255, 64}).name_shown == name);
    CHECK(file_facts(name, "", "", NamePolicy{255, 20}).name_shown == "a-rather-long\u2026rt.pdf");
    // A marker is never cut in half.
    const FileFacts m =
        file_facts("abcdefgh\u202Eijklmnopqrstuvwxyz.pdf", "", "", NamePolicy{255, 16});
    CHECK(m.name_shown == "abcdefgh\u2026z.pdf");
}

TEST_CASE("file_facts: too long is counted in bytes against the policy") {
    const std::string name = std::string(251, 'a') + ".pdf"; // 255 bytes
    CHECK_FALSE(has_trick(facts(name).tricks, NameTrick::TooLong));
    CHECK(has_trick(facts(name + "x").tricks, NameTrick::TooLong));
    CHECK(has_trick(file_facts("abc.pdf", "", "", NamePolicy{6, 80}).tricks, NameTrick::TooLong));
}

TEST_CASE("file_facts: tricks_to_string lists stable codes in bit order") {
    CHECK(tricks_to_string(0).empty());
    CHECK(tricks_to_string(static_cast<std::uint16_t>(NameTrick::DoubleExtension)) ==
          "name.double_extension");
    const std::uint16_t all = std::uint16_t{0} | NameTrick::DoubleExtension |
                              NameTrick::BidiControl | NameTrick::Invisible | NameTrick::TooLong |
                              NameTrick::PathSeparator | NameTrick::TrailingDotOrSpace |
                              NameTrick::ControlChar | NameTrick::ReservedDeviceName |
                              NameTrick::ManySpaces;
    CHECK(tricks_to_string(all) ==
          "name.double_extension,name.bidi_control,name.invisible,name.too_long,"
          "name.path_separator,name.trailing_dot_or_space,name.control_char,"
          "name.reserved_device_name,name.many_spaces");
    CHECK(tricks_to_string(0x8000) == "");
    CHECK((NameTrick::BidiControl | NameTrick::Invisible) != NameTrick::None);
    CHECK(((NameTrick::BidiControl | NameTrick::Invisible) & NameTrick::Invisible) ==
          NameTrick::Invisible);
    CHECK_FALSE(has_trick(all, NameTrick::None));
    CHECK(to_string(NameTrick::ManySpaces) == "name.many_spaces");
    const FileFacts f = facts("invoice\u202Efdp.pdf.exe");
    CHECK(tricks_to_string(f.tricks) == "name.double_extension,name.bidi_control");
}

TEST_CASE("file_facts: kind_of_mime maps libmagic's and declared types") {
    const struct {
        std::string_view mime;
        FileKind kind;
    } rows[] = {
        {"application/vnd.microsoft.portable-executable", FileKind::Executable},
        {"application/x-dosexec", FileKind::Executable},
        {"application/x-msdownload", FileKind::Executable},
        {"application/x-executable", FileKind::Executable},
        {"application/x-pie-executable", FileKind::Executable},
        {"application/x-sharedlib", FileKind::Executable},
        {"application/x-ms-shortcut", FileKind::Executable},
        {"application/x-msi", FileKind::Executable},
        {"text/x-shellscript", FileKind::Script},
        {"text/x-script.python", FileKind::Script},
        {"application/javascript", FileKind::Script},
        {"text/x-msdos-batch", FileKind::Script},
        {"application/hta", FileKind::Script},
        {"text/vbscript", FileKind::Script},
        {"application/x-powershell", FileKind::Script},
        {"application/zip", FileKind::Archive},
        {"application/x-7z-compressed", FileKind::Archive},
        {"application/vnd.rar", FileKind::Archive},
        {"application/x-rar", FileKind::Archive},
        {"application/gzip", FileKind::Archive},
        {"application/x-bzip2", FileKind::Archive},
        {"application/x-xz", FileKind::Archive},
        {"application/x-tar", FileKind::Archive},
        {"application/x-lzh-compressed", FileKind::Archive},
        {"application/vnd.ms-cab-compressed", FileKind::Archive},
        {"application/x-iso9660-image", FileKind::Archive},
        {"message/rfc822", FileKind::Email},
        {"text/calendar", FileKind::Calendar},
        {"application/pdf", FileKind::Pdf},
        {"text/html", FileKind::Html},
        {"image/svg+xml", FileKind::Html},
        {"image/png", FileKind::Image},
        {"image/x-unknown-raster", FileKind::Image},
        {"audio/mpeg", FileKind::Audio},
        {"video/mp4", FileKind::Video},
        {"text/plain", FileKind::Text},
        {"text/csv", FileKind::Text},
        {"text/x-c", FileKind::Text},
        {"application/msword", FileKind::Office},
        {"application/x-ole-storage", FileKind::Office},
        {"application/cdfv2", FileKind::Office},
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         FileKind::Office},
        {"application/vnd.ms-excel.sheet.macroenabled.12", FileKind::Office},
        {"application/vnd.oasis.opendocument.text", FileKind::Office},
        {"text/rtf", FileKind::Office},
        {"application/x-empty", FileKind::Empty},
        {"inode/x-empty", FileKind::Empty},
        {"application/octet-stream", FileKind::Other},
        {"application/x-something-new", FileKind::Other},
        {"unknown", FileKind::Other},
        {"", FileKind::Other},
        {"Application/PDF; name=\"a.pdf\"", FileKind::Pdf},
        {"  text/plain ; charset=utf-8", FileKind::Text},
    };
    for (const auto& row : rows) {
        SUBCASE(std::string(row.mime).c_str()) {
            CHECK(kind_of_mime(row.mime) == row.kind);
        }
    }
}

TEST_CASE("file_facts: kind_of_extension maps the extensions mail carries") {
    const struct {
        std::string_view exts;
        FileKind kind;
    } rows[] = {
        {"exe scr com pif cpl dll msi jar lnk", FileKind::Executable},
        {"bat cmd js jse vbs vbe wsf hta ps1 sh py", FileKind::Script},
        {"iso img zip 7z rar lzh lha cab gz tgz bz2 xz tar vhd", FileKind::Archive},
        {"pdf", FileKind::Pdf},
        {"doc docx docm dotm xls xlsx xlsm ppt pptx pptm odt ods odp rtf one jtd",
         FileKind::Office},
        {"txt csv xml json", FileKind::Text},
        {"html htm svg", FileKind::Html},
        {"jpg jpeg png gif bmp tif tiff webp heic", FileKind::Image},
        {"ics", FileKind::Calendar},
        {"eml msg", FileKind::Email},
        {"mp3 wav m4a", FileKind::Audio},
        {"mp4 mov avi", FileKind::Video},
        {"dat bin xyz", FileKind::Other},
    };
    for (const auto& row : rows) {
        SUBCASE(std::string(row.exts).c_str()) {
            std::string_view list = row.exts;
            while (!list.empty()) {
                const std::size_t sp = list.find(' ');
                const std::string_view ext = list.substr(0, sp);
                CAPTURE(ext);
                CHECK(kind_of_extension(ext) == row.kind);
                list.remove_prefix(sp == std::string_view::npos ? list.size() : sp + 1);
            }
        }
    }
    CHECK(kind_of_extension(".EXE") == FileKind::Executable);
    CHECK(kind_of_extension("") == FileKind::Other);
}

TEST_CASE("file_facts: the mismatch table") {
    constexpr std::string_view pe = "application/vnd.microsoft.portable-executable";
    const struct {
        std::string_view label;
        std::string_view name;
        std::string_view declared;
        std::string_view detected;
        bool mismatch;
        std::string_view detail;
    } rows[] = {
        // Content that matters under a label that says otherwise.
        {"exe declared pdf named pdf", "invoice.pdf", "application/pdf", pe, true,
         "detected=executable declared=pdf extension=pdf"},
        {"exe declared octet-stream named pdf", "invoice.pdf", "application/octet-stream", pe, true,
         "detected=executable declared=other extension=pdf"},
        {"exe declared pdf, no extension", "invoice", "application/pdf", pe, true,
         "detected=executable declared=pdf extension=other"},
        {"zip declared text/plain", "notes.txt", "text/plain", "application/zip", true,
         "detected=archive declared=text extension=text"},
        {"zip declared text/plain, no name", "", "text/plain", "application/zip", true,
         "detected=archive declared=text extension=other"},
        {"shell script named txt", "readme.txt", "text/plain", "text/x-shellscript", true,
         "detected=script declared=text extension=text"},
        {"html named pdf", "invoice.pdf", "application/pdf", "text/html", true,
         "detected=html declared=pdf extension=pdf"},
        {"html declared msword", "a.doc", "application/msword", "text/html", true,
         "detected=html declared=office extension=office"},
        {"rtf named txt", "a.txt", "text/plain", "text/rtf", true,
         "detected=office declared=text extension=text"},
        {"zip named doc (doc is OLE)", "a.doc", "application/msword", "application/zip", true,
         "detected=archive declared=office extension=office"},
        {"docx named jar", "a.jar", "application/java-archive",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true,
         "detected=office declared=executable extension=executable"},
        {"msi named doc", "a.doc", "application/msword", "application/x-msi", true,
         "detected=executable declared=office extension=office"},
        {"pdf named exe", "a.exe", "application/x-msdownload", "application/pdf", true,
         "detected=pdf declared=executable extension=executable"},
        {"rfc822 named pdf", "a.pdf", "application/pdf", "message/rfc822", true,
         "detected=email declared=pdf extension=pdf"},
        {"RLO name: exe whose real extension is pdf", "invoice_\u202Eexe.pdf", "application/pdf",
         pe, true, "detected=executable declared=pdf extension=pdf"},
        // Agreements.
        {"exe named exe", "setup.exe", "application/x-msdownload", pe, false, ""},
        {"exe named scr", "a.scr", "application/octet-stream", "application/x-dosexec", false, ""},
        {"octet-stream declared, right extension", "a.pdf", "application/octet-stream",
         "application/pdf", false, ""},
        {"nothing declared, right extension", "a.pdf", "", "application/pdf", false, ""},
        {"docx detected as zip", "a.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/zip", false, ""},
        {"docx detected as docx", "a.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false, ""},
        {"docm detected as docx", "a.docm", "application/vnd.ms-word.document.macroenabled.12",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false, ""},
        {"xlsx pptx odt detected as zip", "a.xlsx", "application/octet-stream", "application/zip",
         false, ""},
        {"pptx detected as zip", "a.pptx", "", "application/zip", false, ""},
        {"odt detected as zip", "a.odt", "", "application/zip", false, ""},
        {"docx declared application/zip", "a.zip", "application/zip",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false, ""},
        {"jar detected as zip", "a.jar", "application/java-archive", "application/zip", false, ""},
        {"ole prefix vs doc", "a.doc", "application/msword", "application/x-ole-storage", false,
         ""},
        {"cdfv2 vs xls", "a.xls", "application/vnd.ms-excel", "application/cdfv2", false, ""},
        {"ole vs ppt", "a.ppt", "", "application/x-ole-storage", false, ""},
        {"ole vs msi", "a.msi", "application/x-msi", "application/x-ole-storage", false, ""},
        {"ole vs outlook msg", "a.msg", "application/vnd.ms-outlook", "application/cdfv2", false,
         ""},
        {"csv is text", "a.csv", "text/csv", "text/plain", false, ""},
        {"csv declared as excel", "a.csv", "application/vnd.ms-excel", "text/plain", false, ""},
        {"tar.gz", "a.tar.gz", "application/x-gzip", "application/gzip", false, ""},
        {"tgz", "a.tgz", "application/x-compressed-tar", "application/gzip", false, ""},
        {"hta detected as html", "a.hta", "application/hta", "text/html", false, ""},
        {"js detected as text", "a.js", "application/javascript", "text/plain", false, ""},
        {"eml declared text/plain", "a.eml", "text/plain", "message/rfc822", false, ""},
        {"text detected as html", "a.txt", "text/plain", "text/html", false, ""},
        {"ics", "予定.ics", "text/calendar", "text/calendar", false, ""},
        {"empty", "a.pdf", "application/pdf", "application/x-empty", false, ""},
        {"generic detected", "a.pdf", "application/pdf", "application/octet-stream", false, ""},
        {"detection failed", "a.exe", "application/pdf", "unknown", false, ""},
        {"Japanese name", "請求書.pdf", "application/pdf", "application/pdf", false, ""},
        {"Japanese name with fullwidth parens", "見積書（改）.xlsx",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/zip",
         false, ""},
        {"unknown declared type claims nothing", "a", "application/x-foo", pe, false, ""},
        // Same kind, other format: recorded, not a mismatch.
        {"png named jpg", "photo.jpg", "image/jpeg", "image/png", false,
         "detected=image declared=image extension=image detected_format=png "
         "declared_format=jpeg extension_format=jpeg"},
        {"png named jpg, octet-stream", "photo.jpg", "application/octet-stream", "image/png", false,
         "detected=image declared=other extension=image detected_format=png "
         "extension_format=jpeg"},
        {"rtf named doc", "a.doc", "application/msword", "text/rtf", false,
         "detected=office declared=office extension=office detected_format=rtf "
         "declared_format=doc extension_format=doc"},
        {"shell script named bat", "a.bat", "", "text/x-shellscript", false,
         "detected=script declared=other extension=script detected_format=sh "
         "extension_format=batch"},
        // Harmless content under a more dangerous label: recorded, not a mismatch.
        {"text named exe", "a.exe", "application/octet-stream", "text/plain", false,
         "detected=text declared=other extension=executable"},
        {"png named pdf", "a.pdf", "application/pdf", "image/png", false,
         "detected=image declared=pdf extension=pdf"},
    };
    for (const auto& row : rows) {
        SUBCASE(std::string(row.label).c_str()) {
            const FileFacts f = facts(row.name, row.declared, row.detected);
            CHECK(f.type_mismatch == row.mismatch);
            CHECK(f.mismatch_detail == row.detail);
        }
    }
}

TEST_CASE("file_facts: types are recorded lower-case without parameters, kinds alongside") {
    const FileFacts f = facts("Invoice.PDF", "Application/PDF; name=\"Invoice.PDF\"",
                              "application/vnd.microsoft.portable-executable");
    CHECK(f.declared_type == "application/pdf");
    CHECK(f.detected_type == "application/vnd.microsoft.portable-executable");
    CHECK(f.declared_kind == FileKind::Pdf);
    CHECK(f.detected_kind == FileKind::Executable);
    CHECK(f.extension_kind == FileKind::Pdf);
    CHECK(f.extension == "pdf");
    CHECK(f.type_mismatch);
    CHECK(to_string(FileKind::Executable) == "executable");
    CHECK(to_string(FileKind::Empty) == "empty");
}

TEST_CASE("file_facts: libmagic's answers for real content map to the expected kinds") {
    auto detector = TypeDetector::create();
    REQUIRE(detector.has_value());
    constexpr char png_bytes[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    constexpr char gz_bytes[] = "\x1f\x8b\x08\0\0\0\0\0\0\x03\x03\0\0\0\0\0\0\0\0\0";
    const std::string png(png_bytes, sizeof png_bytes - 1);
    const std::string gz(gz_bytes, sizeof gz_bytes - 1);
    const struct {
        std::string_view label;
        std::string content;
        FileKind kind;
    } rows[] = {
        {"pdf", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", FileKind::Pdf},
        {"shell script", "#!/bin/sh\necho hello\n", FileKind::Script},
        {"python script", "#!/usr/bin/env python3\nprint(1)\n", FileKind::Script},
        {"batch", "@echo off\r\necho hello\r\n", FileKind::Script},
        {"html", "<html><body><p>hello</p></body></html>\n", FileKind::Html},
        {"plain text", "hello, this is a plain note\n", FileKind::Text},
        {"calendar", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", FileKind::Calendar},
        {"png", png, FileKind::Image},
        {"gzip", gz, FileKind::Archive},
        {"empty", "", FileKind::Empty},
    };
    for (const auto& row : rows) {
        SUBCASE(std::string(row.label).c_str()) {
            const auto type = detector->mime_type(mugaika::filters::as_bytes(row.content));
            REQUIRE(type.has_value());
            CAPTURE(*type);
            CHECK(kind_of_mime(*type) == row.kind);
        }
    }
    // The headline case end to end: a shell script sent as notes.txt.
    const auto type = detector->mime_type(mugaika::filters::as_bytes("#!/bin/sh\nrm -rf ~\n"));
    REQUIRE(type.has_value());
    const FileFacts f = file_facts("notes.txt", "text/plain", *type, NamePolicy{});
    CHECK(f.type_mismatch);
    CHECK(f.mismatch_detail == "detected=script declared=text extension=text");
}

TEST_CASE("file_facts: arbitrary bytes as a name give a bounded, safe shown name") {
    std::mt19937 rng(20240501);
    const std::string_view pieces[] = {
        "a",      ".",  " ",    "/",        "\\", "exe",        "pdf",    "\u202E", "\u200B",
        "\u3000", "請", "\xFF", "\xE8\xAB", "\t", "\U000E0041", "\u0301", "\uFF0F", ".."};
    const NamePolicy policy{64, 24};
    for (int round = 0; round < 2000; ++round) {
        std::string name;
        const std::size_t n = rng() % 200;
        for (std::size_t i = 0; i < n; ++i) {
            if (rng() % 4 == 0) {
                name.push_back(static_cast<char>(rng() % 256));
            } else {
                name += pieces[rng() % std::size(pieces)];
            }
        }
        const FileFacts f = file_facts(name, "text/plain", "application/zip", policy);
        CHECK(f.name_received == name);
        CHECK(f.name_shown.empty() == name.empty());
        CHECK(f.name_shown.size() <= 4 * policy.shown_width + 16);
        CHECK_FALSE(has_hidden(f.name_shown));
        CHECK(f.type_mismatch);
    }
}
