#include "filters/detect/file_facts.hpp"

#include <array>
#include <vector>

namespace mugaika::filters::detect {

namespace {

// ---------------------------------------------------------------------------------------------
// Formats. One row per format: its kind, the container it is built on, the MIME types that name
// it (libmagic 5.44's first, then the aliases seen in mail) and its extensions.
//
// Container::Zip and Container::Ole matter for the mismatch table: libmagic often answers with
// the container (application/zip for a docx or a jar, application/x-ole-storage or cdfv2 for a
// doc/xls/msi prefix), which is no contradiction of a label naming a format built on it.
// ---------------------------------------------------------------------------------------------

enum class Container : std::uint8_t { None, Zip, Ole };

struct Format {
    std::string_view token; // short stable name, "" for families whose subtypes we do not compare
    FileKind kind;
    Container container;
    std::string_view mimes; // space-separated
    std::string_view exts;  // space-separated
};

using K = FileKind;
using C = Container;

// clang-format off
constexpr std::array formats{
    // Executable
    Format{"pe", K::Executable, C::None,
           "application/vnd.microsoft.portable-executable application/x-dosexec "
           "application/x-msdownload application/x-msdos-program application/x-ms-dos-executable "
           "application/exe application/x-exe application/dos-exe application/x-winexe "
           "application/x-ms-ne-executable",
           "exe scr com pif cpl dll ocx sys drv efi"},
    Format{"elf", K::Executable, C::None,
           "application/x-executable application/x-pie-executable application/x-sharedlib "
           "application/x-elf application/x-object",
           "elf so"},
    Format{"macho", K::Executable, C::None, "application/x-mach-binary application/x-mach-o",
           "dylib"},
    Format{"msi", K::Executable, C::Ole,
           "application/x-msi application/x-ms-installer application/x-windows-installer "
           "application/vnd.ms-msi",
           "msi msp mst"},
    Format{"jar", K::Executable, C::Zip,
           "application/java-archive application/x-java-archive application/x-jar", "jar"},
    Format{"class", K::Executable, C::None, "application/x-java-applet application/java-vm",
           "class"},
    Format{"apk", K::Executable, C::Zip, "application/vnd.android.package-archive", "apk"},
    Format{"msix", K::Executable, C::Zip, "application/msix application/appx",
           "appx appxbundle msix msixbundle"},
    Format{"shortcut", K::Executable, C::None,
           "application/x-ms-shortcut application/x-mswinurl", "lnk url scf"},
    Format{"chm", K::Executable, C::None, "application/vnd.ms-htmlhelp", "chm"},
    // Script
    Format{"sh", K::Script, C::None,
           "text/x-shellscript application/x-sh application/x-shellscript text/x-sh",
           "sh bash zsh ksh csh command"},
    Format{"js", K::Script, C::None,
           "application/javascript text/javascript application/x-javascript "
           "application/ecmascript text/ecmascript text/jscript",
           "js jse mjs"},
    Format{"vbs", K::Script, C::None,
           "text/vbscript application/x-vbscript text/x-vbscript application/x-vbs "
           "text/vbs",
           "vbs vbe"},
    Format{"wsf", K::Script, C::None, "application/x-wsf", "wsf wsh wsc sct"},
    Format{"batch", K::Script, C::None,
           "text/x-msdos-batch application/x-msdos-batch application/bat application/x-bat",
           "bat cmd"},
    Format{"powershell", K::Script, C::None,
           "application/x-powershell text/x-powershell application/powershell",
           "ps1 psm1 psd1 ps1xml psc1"},
    Format{"hta", K::Script, C::None, "application/hta application/x-hta text/hta", "hta"},
    Format{"python", K::Script, C::None,
           "text/x-script.python text/x-python application/x-python application/x-python-code",
           "py pyw pyc"},
    Format{"perl", K::Script, C::None, "text/x-perl application/x-perl", "pl"},
    Format{"php", K::Script, C::None, "text/x-php application/x-php application/x-httpd-php",
           "php"},
    Format{"ruby", K::Script, C::None, "text/x-ruby application/x-ruby", "rb"},
    Format{"tcl", K::Script, C::None, "text/x-tcl application/x-tcl", "tcl"},
    Format{"awk", K::Script, C::None, "text/x-awk", "awk"},
    Format{"lua", K::Script, C::None, "text/x-lua", "lua"},
    Format{"autoit", K::Script, C::None, "", "au3 a3x"},
    Format{"reg", K::Script, C::None, "text/x-ms-regedit", "reg"},
    // Html
    Format{"html", K::Html, C::None, "text/html application/xhtml+xml",
           "html htm xhtml shtml mht mhtml"},
    Format{"svg", K::Html, C::None, "image/svg+xml", "svg"},
    // Pdf
    Format{"pdf", K::Pdf, C::None,
           "application/pdf application/x-pdf application/acrobat applications/vnd.pdf "
           "text/pdf text/x-pdf",
           "pdf"},
    // Office: OLE2
    Format{"ole", K::Office, C::Ole,
           "application/x-ole-storage application/cdfv2 application/cdfv2-corrupt "
           "application/cdfv2-unknown",
           ""},
    Format{"doc", K::Office, C::Ole, "application/msword application/vnd.ms-word",
           "doc dot wbk"},
    Format{"xls", K::Office, C::Ole,
           "application/vnd.ms-excel application/msexcel application/x-msexcel "
           "application/x-excel application/x-ms-excel",
           "xls xlt xla xlw"},
    Format{"ppt", K::Office, C::Ole,
           "application/vnd.ms-powerpoint application/mspowerpoint application/x-mspowerpoint",
           "ppt pot pps ppa"},
    Format{"visio", K::Office, C::Ole, "application/vnd.visio", "vsd vss vst"},
    Format{"publisher", K::Office, C::Ole, "application/x-mspublisher application/vnd.ms-publisher",
           "pub"},
    // Office: OOXML (docm is reported as docx by libmagic; one token per application)
    Format{"docx", K::Office, C::Zip,
           "application/vnd.openxmlformats-officedocument.wordprocessingml.document "
           "application/vnd.openxmlformats-officedocument.wordprocessingml.template "
           "application/vnd.ms-word.document.macroenabled.12 "
           "application/vnd.ms-word.template.macroenabled.12",
           "docx dotx docm dotm"},
    Format{"xlsx", K::Office, C::Zip,
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet "
           "application/vnd.openxmlformats-officedocument.spreadsheetml.template "
           "application/vnd.ms-excel.sheet.macroenabled.12 "
           "application/vnd.ms-excel.template.macroenabled.12 "
           "application/vnd.ms-excel.sheet.binary.macroenabled.12 "
           "application/vnd.ms-excel.addin.macroenabled.12",
           "xlsx xltx xlsm xltm xlsb xlam"},
    Format{"pptx", K::Office, C::Zip,
           "application/vnd.openxmlformats-officedocument.presentationml.presentation "
           "application/vnd.openxmlformats-officedocument.presentationml.slideshow "
           "application/vnd.openxmlformats-officedocument.presentationml.template "
           "application/vnd.ms-powerpoint.presentation.macroenabled.12 "
           "application/vnd.ms-powerpoint.slideshow.macroenabled.12 "
           "application/vnd.ms-powerpoint.template.macroenabled.12 "
           "application/vnd.ms-powerpoint.addin.macroenabled.12",
           "pptx ppsx potx pptm ppsm potm ppam"},
    Format{"vsdx", K::Office, C::Zip, "application/vnd.ms-visio.drawing", "vsdx vsdm"},
    // Office: ODF
    Format{"odt", K::Office, C::Zip,
           "application/vnd.oasis.opendocument.text "
           "application/vnd.oasis.opendocument.text-template",
           "odt ott"},
    Format{"ods", K::Office, C::Zip,
           "application/vnd.oasis.opendocument.spreadsheet "
           "application/vnd.oasis.opendocument.spreadsheet-template",
           "ods ots"},
    Format{"odp", K::Office, C::Zip,
           "application/vnd.oasis.opendocument.presentation "
           "application/vnd.oasis.opendocument.presentation-template",
           "odp otp"},
    Format{"odg", K::Office, C::Zip, "application/vnd.oasis.opendocument.graphics", "odg otg"},
    Format{"odf", K::Office, C::Zip, "application/vnd.oasis.opendocument.formula", "odf"},
    // Office: others
    Format{"rtf", K::Office, C::None, "text/rtf application/rtf application/x-rtf text/richtext",
           "rtf"},
    Format{"onenote", K::Office, C::None, "application/onenote application/msonenote",
           "one onepkg"},
    Format{"ichitaro", K::Office, C::None, "application/x-js-taro", "jtd jtt jaw jbw"},
    Format{"webquery", K::Office, C::None, "text/x-ms-iqy", "iqy slk"},
    // Archive
    Format{"zip", K::Archive, C::Zip,
           "application/zip application/x-zip-compressed application/x-zip multipart/x-zip",
           "zip zipx"},
    Format{"7z", K::Archive, C::None, "application/x-7z-compressed", "7z"},
    Format{"rar", K::Archive, C::None,
           "application/vnd.rar application/x-rar application/x-rar-compressed", "rar"},
    Format{"gzip", K::Archive, C::None, "application/gzip application/x-gzip", "gz tgz"},
    Format{"bzip2", K::Archive, C::None, "application/x-bzip2 application/x-bzip",
           "bz2 tbz tbz2"},
    Format{"xz", K::Archive, C::None, "application/x-xz", "xz txz"},
    Format{"zstd", K::Archive, C::None, "application/zstd application/x-zstd", "zst"},
    Format{"lzma", K::Archive, C::None, "application/x-lzma application/x-lzip", "lzma lz"},
    Format{"tar", K::Archive, C::None, "application/x-tar application/x-gtar application/x-ustar",
           "tar"},
    Format{"lzh", K::Archive, C::None,
           "application/x-lzh-compressed application/x-lzh application/x-lha", "lzh lha"},
    Format{"cab", K::Archive, C::None, "application/vnd.ms-cab-compressed application/x-cab",
           "cab"},
    Format{"arj", K::Archive, C::None, "application/x-arj", "arj"},
    Format{"ace", K::Archive, C::None, "application/x-ace-compressed application/x-ace", "ace"},
    Format{"cpio", K::Archive, C::None, "application/x-cpio", "cpio"},
    Format{"szdd", K::Archive, C::None, "application/x-ms-compress-szdd", ""},
    Format{"binhex", K::Archive, C::None, "application/mac-binhex40", "hqx"},
    Format{"tnef", K::Archive, C::None, "application/vnd.ms-tnef application/ms-tnef", ""},
    Format{"iso", K::Archive, C::None,
           "application/x-iso9660-image application/x-cd-image application/x-iso-image", "iso"},
    Format{"img", K::Archive, C::None, "application/x-raw-disk-image", "img"},
    Format{"vhd", K::Archive, C::None, "application/x-vhd application/x-virtualbox-vhd",
           "vhd vhdx"},
    Format{"dmg", K::Archive, C::None, "application/x-apple-diskimage", "dmg"},
    // Email, Calendar
    Format{"eml", K::Email, C::None, "message/rfc822 message/global message/news", "eml"},
    Format{"msg", K::Email, C::Ole, "application/vnd.ms-outlook", "msg"},
    Format{"mbox", K::Email, C::None, "application/mbox", "mbox"},
    Format{"ics", K::Calendar, C::None,
           "text/calendar application/ics text/x-vcalendar application/x-vcalendar",
           "ics ifb vcs"},
    // Text: one family token, libmagic does not tell CSV or XML reliably from text
    Format{"", K::Text, C::None,
           "text/plain text/csv text/tab-separated-values text/xml application/xml "
           "application/json text/markdown text/vcard text/x-vcard",
           "txt text csv tsv log md xml json vcf"},
    // Image
    Format{"jpeg", K::Image, C::None, "image/jpeg image/jpg image/pjpeg",
           "jpg jpeg jpe jfif"},
    Format{"png", K::Image, C::None, "image/png image/x-png image/apng", "png apng"},
    Format{"gif", K::Image, C::None, "image/gif", "gif"},
    Format{"bmp", K::Image, C::None, "image/bmp image/x-ms-bmp image/x-bmp", "bmp dib"},
    Format{"tiff", K::Image, C::None, "image/tiff image/x-tiff", "tif tiff"},
    Format{"webp", K::Image, C::None, "image/webp", "webp"},
    Format{"heic", K::Image, C::None, "image/heic image/heif image/heic-sequence", "heic heif"},
    Format{"avif", K::Image, C::None, "image/avif", "avif"},
    Format{"ico", K::Image, C::None, "image/vnd.microsoft.icon image/x-icon", "ico"},
    Format{"metafile", K::Image, C::None,
           "image/emf image/wmf image/x-emf image/x-wmf application/x-msmetafile", "emf wmf"},
    // Audio, Video: families, subtype names vary too much between libmagic and mailers
    Format{"", K::Audio, C::None, "application/ogg",
           "mp3 wav ogg oga opus m4a aac flac wma mid midi aif aiff amr"},
    Format{"", K::Video, C::None, "",
           "mp4 m4v mov avi wmv mkv webm mpg mpeg flv 3gp"},
    // Empty
    Format{"", K::Empty, C::None, "application/x-empty inode/x-empty", ""},
};
// clang-format on

// Declared types that say "some bytes" and claim nothing; they are Other, like unknown types.
constexpr std::string_view generic_mimes =
    "application/octet-stream application/x-download application/force-download "
    "application/download application/unknown application/x-unknown binary/octet-stream "
    "application/binary application/data application/x-binary application/save "
    "unknown/unknown unknown";

struct FormatRef {
    const Format* format = nullptr; // null: only the kind is known (prefix rules) or nothing
    FileKind kind = FileKind::Other;
};

bool in_list(std::string_view list, std::string_view word) noexcept {
    while (!list.empty()) {
        const std::size_t sp = list.find(' ');
        const std::string_view w = list.substr(0, sp);
        if (w == word) {
            return true;
        }
        if (sp == std::string_view::npos) {
            break;
        }
        list.remove_prefix(sp + 1);
    }
    return false;
}

char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = ascii_lower(c);
    }
    return out;
}

std::string normalize_mime(std::string_view m) {
    m = m.substr(0, m.find(';'));
    while (!m.empty() && (m.front() == ' ' || m.front() == '\t')) {
        m.remove_prefix(1);
    }
    while (!m.empty() && (m.back() == ' ' || m.back() == '\t')) {
        m.remove_suffix(1);
    }
    return lower_ascii(m);
}

FormatRef format_of_mime(std::string_view raw) {
    const std::string m = normalize_mime(raw);
    if (m.empty() || in_list(generic_mimes, m)) {
        return {};
    }
    for (const Format& f : formats) {
        if (in_list(f.mimes, m)) {
            return {&f, f.kind};
        }
    }
    const auto starts = [&m](std::string_view p) { return m.starts_with(p); };
    const auto ends = [&m](std::string_view p) { return m.ends_with(p); };
    if (starts("application/vnd.openxmlformats-officedocument.") ||
        starts("application/vnd.oasis.opendocument.")) {
        return {nullptr, FileKind::Office};
    }
    if (starts("text/x-script.")) {
        return {nullptr, FileKind::Script};
    }
    if (starts("image/")) {
        return {nullptr, FileKind::Image};
    }
    if (starts("audio/")) {
        return {nullptr, FileKind::Audio};
    }
    if (starts("video/")) {
        return {nullptr, FileKind::Video};
    }
    if (starts("message/")) {
        return {nullptr, FileKind::Email};
    }
    if (starts("text/") || ends("+xml") || ends("+json")) {
        return {nullptr, FileKind::Text};
    }
    if (ends("+zip")) {
        return {nullptr, FileKind::Archive};
    }
    return {};
}

FormatRef format_of_extension(std::string_view raw) {
    if (!raw.empty() && raw.front() == '.') {
        raw.remove_prefix(1);
    }
    const std::string e = lower_ascii(raw);
    if (e.empty()) {
        return {};
    }
    for (const Format& f : formats) {
        if (in_list(f.exts, e)) {
            return {&f, f.kind};
        }
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// The mismatch table.
//
// A label (the declared type, the extension) makes a claim when its kind is neither Other
// (generic such as application/octet-stream, unknown, absent) nor Empty. Only claims are compared
// with the detected type; rules see detected_kind whatever the labels say.
//
// A claim AGREES with the content when any of these holds:
//   1. same kind (png named .jpg, rtf named .doc, gzip declared x-tar, docx detected for .xlsm);
//      when both formats are known and differ, the detail names them but it is no mismatch;
//   2. same container and one side is the bare container: libmagic's application/zip vs
//      docx/xlsx/pptx/odt/jar/apk/msix, and the reverse (a docx declared application/zip);
//      x-ole-storage/cdfv2 vs doc/xls/ppt/msi/msg;
//   3. text family: content Text, Html, Email or Calendar vs a label Text, Html, Email or
//      Calendar (libmagic's html and rfc822 answers are heuristics over text);
//   4. content Html vs a Script label (a real .hta is detected as text/html);
//   5. content Text vs a Script label (libmagic reports js, vbs, ps1, wsf as text/plain);
//      content Text vs application/vnd.ms-excel or .xls (CSV is routinely declared so).
//
// type_mismatch = the content kind matters (Executable, Script, Archive, Office, Pdf, Html,
// Email) and some claim does not agree. Content that is Text, Image, Audio, Video or Calendar
// with a disagreeing claim (text named .exe, png named .pdf) is recorded in mismatch_detail only:
// the label is the more dangerous side and rules see it in extension_kind / declared_kind.
// Content Other (application/octet-stream: libmagic did not know; a PDF with junk before %PDF-)
// or Empty never mismatches.
// ---------------------------------------------------------------------------------------------

bool claims(const FormatRef& r) noexcept {
    return r.kind != FileKind::Other && r.kind != FileKind::Empty;
}

bool matters(FileKind k) noexcept {
    switch (k) {
    case FileKind::Executable:
    case FileKind::Script:
    case FileKind::Archive:
    case FileKind::Office:
    case FileKind::Pdf:
    case FileKind::Html:
    case FileKind::Email:
        return true;
    default:
        return false;
    }
}

bool text_family(FileKind k) noexcept {
    return k == FileKind::Text || k == FileKind::Html || k == FileKind::Email ||
           k == FileKind::Calendar;
}

Container container_of(const FormatRef& r) noexcept {
    return r.format != nullptr ? r.format->container : Container::None;
}

bool bare_container(const FormatRef& r) noexcept {
    return r.format != nullptr && (r.format->token == "zip" || r.format->token == "ole");
}

bool agrees(const FormatRef& content, const FormatRef& label) noexcept {
    if (content.kind == label.kind) {
        return true;
    }
    const Container cc = container_of(content);
    if (cc != Container::None && cc == container_of(label) &&
        (bare_container(content) || bare_container(label))) {
        return true;
    }
    if (text_family(content.kind) && text_family(label.kind)) {
        return true;
    }
    if ((content.kind == FileKind::Html || content.kind == FileKind::Text) &&
        label.kind == FileKind::Script) {
        return true;
    }
    return content.kind == FileKind::Text && label.format != nullptr &&
           label.format->token == "xls";
}

// Both formats known, same kind, different formats; a bare container (libmagic's "ole" for a doc)
// is no other format.
bool format_differs(const FormatRef& content, const FormatRef& label) noexcept {
    return content.kind == label.kind && content.format != nullptr && label.format != nullptr &&
           !content.format->token.empty() && !label.format->token.empty() &&
           content.format->token != label.format->token && !bare_container(content) &&
           !bare_container(label);
}

// ---------------------------------------------------------------------------------------------
// UTF-8 and character classes.
// ---------------------------------------------------------------------------------------------

struct CodePoint {
    char32_t cp = 0;
    std::size_t offset = 0;
    std::size_t length = 1;
    bool valid = true;
};

// Decodes one code point at s[i]; an invalid, overlong, surrogate or truncated sequence is one
// invalid byte.
CodePoint decode_at(std::string_view s, std::size_t i) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        return {b0, i, 1, true};
    }
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        cp = b0 & 0x1Fu;
        min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        cp = b0 & 0x0Fu;
        min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        cp = b0 & 0x07u;
        min = 0x10000;
    } else {
        return {b0, i, 1, false};
    }
    if (i + len > s.size()) {
        return {b0, i, 1, false};
    }
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0u) != 0x80u) {
            return {b0, i, 1, false};
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return {b0, i, 1, false};
    }
    return {cp, i, len, true};
}

bool is_bidi(char32_t c) noexcept {
    return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E ||
           c == 0x200F || c == 0x061C;
}

bool is_invisible(char32_t c) noexcept {
    return (c >= 0x200B && c <= 0x200D) || (c >= 0x2060 && c <= 0x2064) ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || c == 0x00AD || c == 0x180E ||
           c == 0x3164 || c == 0xFFA0 || c == 0x115F || c == 0x1160 ||
           (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0x1BCA0 && c <= 0x1BCA3) ||
           (c >= 0x1D173 && c <= 0x1D17A) || (c >= 0xE0000 && c <= 0xE007F);
}

bool is_control(char32_t c) noexcept {
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029;
}

bool is_separator(char32_t c) noexcept {
    return c == '/' || c == '\\' || c == 0xFF0F || c == 0xFF3C;
}

bool is_space(char32_t c) noexcept {
    return c == ' ' || c == 0x00A0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// Not rendered, or rendered in a way that hides or reorders the name.
bool is_hidden(const CodePoint& p) noexcept {
    return !p.valid || is_bidi(p.cp) || is_invisible(p.cp) || is_control(p.cp);
}

// Columns a character takes in a terminal or a mail client's list; 0 for combining marks and
// variation selectors (they join the character before).
unsigned width_of(char32_t c) noexcept {
    if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
        (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
        (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFE20 && c <= 0xFE2F) ||
        (c >= 0x3099 && c <= 0x309A) || (c >= 0xE0100 && c <= 0xE01EF)) {
        return 0;
    }
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
        (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
        (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
        (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
        (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
        (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
        (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD)) {
        return 2;
    }
    return 1;
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

std::string hex(std::uint32_t v, int min_digits) {
    constexpr std::string_view digits = "0123456789ABCDEF";
    std::string out;
    while (v != 0 || min_digits > 0) {
        out.insert(out.begin(), digits[v & 0xFu]);
        v >>= 4;
        --min_digits;
    }
    return out;
}

std::string marker(const CodePoint& p) {
    if (!p.valid) {
        return "[0x" + hex(p.cp, 2) + "]";
    }
    return "[U+" + hex(p.cp, 4) + "]";
}

// ---------------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------------

std::string_view trim_spaces(std::string_view s) {
    // Trims ASCII and Unicode spaces (all are encoded as whole code points, so decoding from the
    // ends is safe for valid UTF-8; anything else stops the trim).
    while (!s.empty()) {
        const CodePoint p = decode_at(s, 0);
        if (!p.valid || !is_space(p.cp)) {
            break;
        }
        s.remove_prefix(p.length);
    }
    while (!s.empty()) {
        std::size_t start = s.size() - 1;
        while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0u) == 0x80u) {
            --start;
        }
        const CodePoint p = decode_at(s, start);
        if (!p.valid || start + p.length != s.size() || !is_space(p.cp)) {
            break;
        }
        s.remove_suffix(p.length);
    }
    return s;
}

bool dangerous_final(std::string_view ext) {
    const FileKind k = kind_of_extension(ext);
    return k == FileKind::Executable || k == FileKind::Script || ext == "iso" || ext == "img" ||
           ext == "vhd" || ext == "vhdx";
}

bool document_like(std::string_view ext) {
    const FileKind k = kind_of_extension(ext);
    return k != FileKind::Other && k != FileKind::Empty && k != FileKind::Executable &&
           k != FileKind::Script && !dangerous_final(ext);
}

// `base` is the cleaned last path component with trailing dots and spaces removed.
bool double_extension(std::string_view base, std::string_view ext) {
    if (ext.empty() || !dangerous_final(ext)) {
        return false;
    }
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = base.find('.', start);
        segments.push_back(base.substr(start, dot - start));
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    // segments.back() is the final extension; look for the nearest non-blank segment before it
    // that follows a dot (index >= 1): "a.pdf.exe", "a.pdf   .exe", "a.pdf...exe", ".pdf.exe".
    for (std::size_t i = segments.size() - 1; i-- > 1;) {
        const std::string_view seg = trim_spaces(segments[i]);
        if (seg.empty()) {
            continue;
        }
        return document_like(lower_ascii(seg));
    }
    return false;
}

bool reserved_device(std::string_view base) {
    std::string_view stem = base.substr(0, base.find('.'));
    while (!stem.empty() && stem.back() == ' ') {
        stem.remove_suffix(1);
    }
    const std::string s = lower_ascii(stem);
    if (s == "con" || s == "prn" || s == "aux" || s == "nul" || s == "conin$" || s == "conout$") {
        return true;
    }
    if (s.size() < 4 || (!s.starts_with("com") && !s.starts_with("lpt"))) {
        return false;
    }
    const std::string_view digit = std::string_view(s).substr(3);
    // COM0-9, LPT0-9 and the superscript digits Windows also reserves.
    return (digit.size() == 1 && digit[0] >= '0' && digit[0] <= '9') || digit == "\u00B9" ||
           digit == "\u00B2" || digit == "\u00B3";
}

struct Unit {
    std::string text;
    std::size_t width = 0;
};

std::string cap_width(const std::vector<Unit>& units, std::size_t max_width) {
    std::size_t total = 0;
    for (const Unit& u : units) {
        total += u.width;
    }
    std::string out;
    if (total <= max_width) {
        for (const Unit& u : units) {
            out += u.text;
        }
        return out;
    }
    // Keep the start and, in about a third of the room, the end (where the extension is).
    const std::size_t room = max_width > 0 ? max_width - 1 : 0; // "…" takes one column
    const std::size_t tail_room = room / 3;
    const std::size_t head_room = room - tail_room;
    std::size_t head = 0;
    std::size_t used = 0;
    while (head < units.size() && used + units[head].width <= head_room) {
        used += units[head].width;
        ++head;
    }
    std::size_t tail = units.size();
    used = 0;
    while (tail > head && used + units[tail - 1].width <= tail_room) {
        used += units[tail - 1].width;
        --tail;
    }
    for (std::size_t i = 0; i < head; ++i) {
        out += units[i].text;
    }
    out += "\u2026";
    for (std::size_t i = tail; i < units.size(); ++i) {
        out += units[i].text;
    }
    return out;
}

std::string shown_name(const std::vector<CodePoint>& cps, std::string_view name,
                       std::size_t max_width) {
    std::vector<Unit> units;
    units.reserve(cps.size());
    for (std::size_t i = 0; i < cps.size();) {
        const CodePoint& p = cps[i];
        if (is_hidden(p)) {
            std::string m = marker(p);
            const std::size_t w = m.size();
            units.push_back({std::move(m), w});
            ++i;
            continue;
        }
        if (is_space(p.cp)) {
            std::size_t j = i;
            while (j < cps.size() && cps[j].valid && is_space(cps[j].cp)) {
                ++j;
            }
            if (j - i >= many_spaces_run) {
                std::string m = "[" + std::to_string(j - i) + " spaces]";
                const std::size_t w = m.size();
                units.push_back({std::move(m), w});
                i = j;
                continue;
            }
        }
        const unsigned w = width_of(p.cp);
        if (w == 0 && !units.empty()) {
            units.back().text += name.substr(p.offset, p.length);
        } else {
            units.push_back({std::string(name.substr(p.offset, p.length)), w});
        }
        ++i;
    }
    return cap_width(units, max_width);
}

} // namespace

std::string_view to_string(FileKind kind) noexcept {
    switch (kind) {
    case FileKind::Text:
        return "text";
    case FileKind::Html:
        return "html";
    case FileKind::Pdf:
        return "pdf";
    case FileKind::Image:
        return "image";
    case FileKind::Office:
        return "office";
    case FileKind::Archive:
        return "archive";
    case FileKind::Executable:
        return "executable";
    case FileKind::Script:
        return "script";
    case FileKind::Email:
        return "email";
    case FileKind::Calendar:
        return "calendar";
    case FileKind::Audio:
        return "audio";
    case FileKind::Video:
        return "video";
    case FileKind::Other:
        return "other";
    case FileKind::Empty:
        return "empty";
    }
    return "other";
}

FileKind kind_of_mime(std::string_view mime_type) {
    return format_of_mime(mime_type).kind;
}

FileKind kind_of_extension(std::string_view ext) {
    return format_of_extension(ext).kind;
}

std::string_view to_string(NameTrick trick) noexcept {
    switch (trick) {
    case NameTrick::None:
        return "";
    case NameTrick::DoubleExtension:
        return "name.double_extension";
    case NameTrick::BidiControl:
        return "name.bidi_control";
    case NameTrick::Invisible:
        return "name.invisible";
    case NameTrick::TooLong:
        return "name.too_long";
    case NameTrick::PathSeparator:
        return "name.path_separator";
    case NameTrick::TrailingDotOrSpace:
        return "name.trailing_dot_or_space";
    case NameTrick::ControlChar:
        return "name.control_char";
    case NameTrick::ReservedDeviceName:
        return "name.reserved_device_name";
    case NameTrick::ManySpaces:
        return "name.many_spaces";
    }
    return "";
}

std::string tricks_to_string(std::uint16_t tricks) {
    std::string out;
    for (unsigned bit = 1; bit <= 0x8000u; bit <<= 1) {
        if ((tricks & bit) == 0) {
            continue;
        }
        const std::string_view code = to_string(static_cast<NameTrick>(bit));
        if (code.empty()) {
            continue;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += code;
    }
    return out;
}

FileFacts file_facts(std::string_view name, std::string_view declared_type,
                     std::string_view detected_type, const NamePolicy& policy) {
    FileFacts f;
    f.name_received = std::string(name);

    std::vector<CodePoint> cps;
    cps.reserve(name.size());
    for (std::size_t i = 0; i < name.size();) {
        const CodePoint p = decode_at(name, i);
        cps.push_back(p);
        i += p.length;
    }

    std::uint16_t tricks = 0;
    if (name.size() > policy.max_name_bytes) {
        tricks = tricks | NameTrick::TooLong;
    }
    std::size_t base_begin = 0; // index into cps of the last path component
    std::size_t component_begin = 0;
    std::size_t space_run = 0;
    for (std::size_t i = 0; i <= cps.size(); ++i) {
        if (i == cps.size() || (cps[i].valid && is_separator(cps[i].cp))) {
            const std::size_t b = i == cps.size() ? name.size() : cps[i].offset;
            const std::size_t a = component_begin < cps.size() ? cps[component_begin].offset : b;
            if (name.substr(a, b - a) == "..") {
                tricks = tricks | NameTrick::PathSeparator;
            }
            if (i < cps.size()) {
                tricks = tricks | NameTrick::PathSeparator;
                component_begin = i + 1;
                base_begin = i + 1;
            }
            space_run = 0;
            continue;
        }
        const CodePoint& p = cps[i];
        if (!p.valid || is_control(p.cp)) {
            tricks = tricks | NameTrick::ControlChar;
        } else if (is_bidi(p.cp)) {
            tricks = tricks | NameTrick::BidiControl;
        } else if (is_invisible(p.cp)) {
            tricks = tricks | NameTrick::Invisible;
        }
        space_run = p.valid && is_space(p.cp) ? space_run + 1 : 0;
        if (space_run >= many_spaces_run) {
            tricks = tricks | NameTrick::ManySpaces;
        }
    }

    // The last path component without hidden characters, as Windows would read it.
    std::string base;
    base.reserve(name.size());
    for (std::size_t i = base_begin; i < cps.size(); ++i) {
        if (!is_hidden(cps[i])) {
            append_utf8(base, cps[i].cp);
        }
    }
    std::string_view trimmed = base;
    while (!trimmed.empty() && (trimmed.back() == '.' || trimmed.back() == ' ')) {
        trimmed.remove_suffix(1);
        tricks = tricks | NameTrick::TrailingDotOrSpace;
    }
    const std::size_t dot = trimmed.rfind('.');
    if (dot != std::string_view::npos) {
        f.extension = lower_ascii(trimmed.substr(dot + 1));
    }
    if (double_extension(trimmed, f.extension)) {
        tricks = tricks | NameTrick::DoubleExtension;
    }
    if (reserved_device(trimmed)) {
        tricks = tricks | NameTrick::ReservedDeviceName;
    }
    f.tricks = tricks;

    // Shown: the last path component, or the whole name when that component is empty or a dot
    // name ("a/", ".."), so that a non-empty name never shows as nothing.
    std::vector<CodePoint> shown(cps.begin() + static_cast<std::ptrdiff_t>(base_begin), cps.end());
    bool dots_only = true;
    for (const CodePoint& p : shown) {
        dots_only = dots_only && p.valid && p.cp == '.';
    }
    if (dots_only) {
        shown = cps;
    }
    f.name_shown = shown_name(shown, name, policy.shown_width);

    // Types.
    f.declared_type = normalize_mime(declared_type);
    f.detected_type = normalize_mime(detected_type);
    const FormatRef declared = format_of_mime(f.declared_type);
    const FormatRef detected = format_of_mime(f.detected_type);
    const FormatRef by_ext = format_of_extension(f.extension);
    f.declared_kind = declared.kind;
    f.detected_kind = detected.kind;
    f.extension_kind = by_ext.kind;

    if (!claims(detected)) {
        return f;
    }
    const bool declared_disagrees = claims(declared) && !agrees(detected, declared);
    const bool ext_disagrees = claims(by_ext) && !agrees(detected, by_ext);
    const bool declared_format = claims(declared) && format_differs(detected, declared);
    const bool ext_format = claims(by_ext) && format_differs(detected, by_ext);
    f.type_mismatch = matters(detected.kind) && (declared_disagrees || ext_disagrees);
    if (declared_disagrees || ext_disagrees || declared_format || ext_format) {
        f.mismatch_detail = "detected=";
        f.mismatch_detail += to_string(detected.kind);
        f.mismatch_detail += " declared=";
        f.mismatch_detail += to_string(declared.kind);
        f.mismatch_detail += " extension=";
        f.mismatch_detail += to_string(by_ext.kind);
        if (!declared_disagrees && !ext_disagrees) {
            f.mismatch_detail += " detected_format=";
            f.mismatch_detail += detected.format->token;
            if (declared_format) {
                f.mismatch_detail += " declared_format=";
                f.mismatch_detail += declared.format->token;
            }
            if (ext_format) {
                f.mismatch_detail += " extension_format=";
                f.mismatch_detail += by_ext.format->token;
            }
        }
    }
    return f;
}

} // namespace mugaika::filters::detect
