#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mugaika::filters::detect {

/// What a file is, coarsely: the unit rules and the type-mismatch table work in.
enum class FileKind : std::uint8_t {
    Text,       ///< plain text, CSV, XML, JSON, source code libmagic cannot tell from text
    Html,       ///< HTML, XHTML and SVG (markup that can carry script)
    Pdf,        ///< PDF
    Image,      ///< raster images and metafiles (SVG is Html)
    Office,     ///< OOXML, OLE2 (doc/xls/ppt), ODF, RTF, OneNote, Ichitaro
    Archive,    ///< zip, 7z, rar, gzip, bzip2, xz, tar, lzh, cab, and disk images (iso, img, vhd)
    Executable, ///< PE, ELF, Mach-O, MSI, Java (jar, class), APK/MSIX, shortcuts (lnk, url), CHM
    Script,     ///< shell, batch, JavaScript, VBScript, PowerShell, HTA, WSF, Python, Perl, ...
    Email,      ///< message/rfc822, Outlook .msg, mbox
    Calendar,   ///< iCalendar, vCalendar
    Audio,      ///< audio/*
    Video,      ///< video/*
    Other,      ///< unknown or generic (application/octet-stream, no or unknown extension)
    Empty,      ///< no content (application/x-empty)
};

/// Stable lower-case name of a kind ("executable"), as used in audit details and rules.
[[nodiscard]] std::string_view to_string(FileKind kind) noexcept;

/// The kind of a MIME type, libmagic's or a declared one. Case-insensitive; parameters after ';'
/// and surrounding blanks are ignored. Generic types (application/octet-stream and the like), an
/// empty string and unknown types are Other; application/x-empty and inode/x-empty are Empty.
/// Thread-safe (pure).
[[nodiscard]] FileKind kind_of_mime(std::string_view mime_type);

/// The kind of a file name extension, without the dot (a leading dot is ignored), ASCII
/// case-insensitive. Unknown and empty extensions are Other. Thread-safe (pure).
[[nodiscard]] FileKind kind_of_extension(std::string_view ext);

/// One way a file name can mislead; the values are bits of FileFacts::tricks.
enum class NameTrick : std::uint16_t {
    None = 0,                 ///< nothing found
    DoubleExtension = 1,      ///< a document-like extension before a dangerous one: a.pdf.exe
    BidiControl = 2,          ///< U+202A–202E, U+2066–2069, U+200E/200F, U+061C
    Invisible = 4,            ///< zero-width and filler characters, soft hyphen, tag characters
    TooLong = 8,              ///< more bytes than NamePolicy::max_name_bytes
    PathSeparator = 16,       ///< '/', '\\', U+FF0F, U+FF3C, or a ".." component
    TrailingDotOrSpace = 32,  ///< ends in '.' or ' ' (Windows drops them: "a.exe. ")
    ControlChar = 64,         ///< C0, DEL, C1, U+2028/2029, or bytes that are not UTF-8
    ReservedDeviceName = 128, ///< CON, PRN, AUX, NUL, COM0–9, LPT0–9 (also with an extension)
    ManySpaces = 256,         ///< a run of many_spaces_run or more spaces: "a.pdf      .exe"
};

/// Bitwise or of two tricks.
[[nodiscard]] constexpr NameTrick operator|(NameTrick a, NameTrick b) noexcept {
    return static_cast<NameTrick>(
        static_cast<std::uint16_t>(static_cast<unsigned>(a) | static_cast<unsigned>(b)));
}
/// Bitwise and of two tricks.
[[nodiscard]] constexpr NameTrick operator&(NameTrick a, NameTrick b) noexcept {
    return static_cast<NameTrick>(
        static_cast<std::uint16_t>(static_cast<unsigned>(a) & static_cast<unsigned>(b)));
}
/// Adds a trick to a bit set such as FileFacts::tricks.
[[nodiscard]] constexpr std::uint16_t operator|(std::uint16_t set, NameTrick t) noexcept {
    return static_cast<std::uint16_t>(set | static_cast<unsigned>(t));
}
/// Whether every bit of t is in the set (false for NameTrick::None).
[[nodiscard]] constexpr bool has_trick(std::uint16_t set, NameTrick t) noexcept {
    const auto bits = static_cast<unsigned>(t);
    return bits != 0 && (set & bits) == bits;
}

/// Stable code of one trick ("name.double_extension"); empty for None and for combinations.
[[nodiscard]] std::string_view to_string(NameTrick trick) noexcept;

/// The codes of all tricks in a bit set, in bit order, comma-separated:
/// "name.double_extension,name.bidi_control". Empty for 0. Unknown bits are ignored.
[[nodiscard]] std::string tricks_to_string(std::uint16_t tricks);

/// Runs of at least this many spaces (any Unicode space, ideographic included) are ManySpaces.
inline constexpr std::size_t many_spaces_run = 5;

/// What is known about one attachment from its name, its declared type and libmagic's type.
struct FileFacts {
    /// The name as decoded (UTF-8), unchanged; kept for the audit.
    std::string name_received;
    /// Safe to display: the last path component only; bidi, invisible and control characters
    /// and bytes that are not UTF-8 replaced by visible markers ("[U+202E]", "[0xFF]"), runs of
    /// many spaces by "[N spaces]"; capped at NamePolicy::shown_width columns (East Asian wide
    /// characters count two) by cutting the middle and putting "…" there, so the extension stays
    /// visible. Never empty unless the received name was.
    std::string name_shown;
    /// ASCII lower-case last extension of the last path component, after dropping bidi,
    /// invisible and control characters and trailing dots and spaces; empty when there is none.
    std::string extension;
    /// Declared and detected MIME types, lower-case, parameters removed.
    std::string declared_type;
    std::string detected_type;
    FileKind declared_kind = FileKind::Other;
    FileKind detected_kind = FileKind::Other;
    FileKind extension_kind = FileKind::Other;
    /// The content is a kind that matters (Executable, Script, Archive, Office, Pdf, Html, Email)
    /// and the declared type or the extension claims a kind it cannot be. See file_facts.cpp,
    /// "The mismatch table".
    bool type_mismatch = false;
    /// Set when a label disagrees with the content, whether or not it is a type_mismatch:
    /// "detected=executable declared=pdf extension=pdf"; when only the format differs within one
    /// kind, the formats follow: "... detected_format=png extension_format=jpeg". Empty otherwise.
    std::string mismatch_detail;
    /// NameTrick bits.
    std::uint16_t tricks = 0;
};

/// Limits for file names.
struct NamePolicy {
    std::size_t max_name_bytes = 255; ///< longer names are NameTrick::TooLong
    std::size_t shown_width = 80;     ///< display columns of FileFacts::name_shown
};

/// Facts about one attachment. `name` is the decoded file name (UTF-8 expected; bytes that are
/// not UTF-8 are treated as control characters), `declared_type` the Content-Type, and
/// `detected_type` libmagic's answer ("unknown" or empty when detection failed). The views are
/// read during the call only; the result owns its strings. Never fails. Thread-safe (pure).
[[nodiscard]] FileFacts file_facts(std::string_view name, std::string_view declared_type,
                                   std::string_view detected_type, const NamePolicy& policy);

} // namespace mugaika::filters::detect
