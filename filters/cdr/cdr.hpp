#pragma once
// Content disarm and reconstruction: each engine takes the decoded bytes of one file and returns
// a rebuilt file plus the list of what it removed, or an error. An engine never returns its input
// unchanged as "rebuilt" without having parsed and rewritten it, and never passes content it
// could not read: every failure is an Error, and the caller strips the part.
//
// Engines are pure: no logging, no global state, no files outside what Options names. They run
// inside the `mugaika-cdr` helper process (gateway/cdr/), which the gateway kills when the time
// limit passes, so an engine need not check time itself; it must bound memory by the sizes in
// Options (pixel counts, inflated bytes, output size).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::filters::cdr {

/// One thing an engine removed or changed.
struct Removed {
    /// Stable dotted code: "pdf.javascript", "pdf.embedded_file", "pdf.uri", "ooxml.vba_project",
    /// "ooxml.external_relationship", "ooxml.dde_field", "odf.macro", "image.metadata",
    /// "image.trailing_data", "archive.member_dropped", "text.control_chars", ... Each engine
    /// lists its codes in docs/cdr/<engine>.md.
    std::string kind;
    /// Where it was: "object 12 /OpenAction", "page 3 annotation 2", "word/vbaProject.bin",
    /// "EXIF", "docs/setup.exe". Never content.
    std::string location;
    /// For links and external references: the target URL or path, else "".
    std::string url;

    friend bool operator==(const Removed&, const Removed&) = default;
};

/// What the engines may do; from the [cdr] config section.
struct Options {
    /// PDF URI actions (links): "text" removes the actions and lists every URL (Removed::url),
    /// so the notice shows them as plain text; "remove" removes them without listing.
    std::string pdf_links = "text";
    /// PDF: render every page to an image (poppler) and write an image-only PDF instead.
    bool pdf_flatten = false;
    unsigned flatten_dpi = 150;
    /// Images: most pixels (width x height, per frame) decoded; more is "cdr.image.too_large".
    std::uint64_t max_pixels = 100'000'000;
    /// Archives: deepest nesting rebuilt, most members, most inflated bytes.
    unsigned max_archive_depth = 3;
    std::uint64_t max_archive_members = 10000;
    std::uint64_t max_expanded_size = 500ULL << 20U;
    /// Largest rebuilt file; larger is "cdr.output_too_large".
    std::uint64_t max_output_size = 64ULL << 20U;
    /// Legacy Office (doc/xls/ppt) and RTF: convert to PDF with LibreOffice (then the PDF engine)
    /// when true and `soffice` exists; else such files are refused ("cdr.office.legacy").
    bool office_convert = false;
    std::string soffice = "/usr/bin/soffice";
    /// A private directory the engine may write temporary files to (LibreOffice needs one).
    std::string work_dir;
};

/// A rebuilt file.
struct Output {
    std::string bytes;    ///< the rebuilt file
    std::string filename; ///< the input's name, or changed (".docm" -> ".docx", ".doc" -> ".pdf")
    std::string content_type; ///< the MIME type of `bytes`
    std::vector<Removed> removed;
};

/// One file kind.
class Engine {
public:
    Engine() = default;
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    virtual ~Engine() = default;

    /// Stable name: "pdf", "ooxml", "odf", "office", "image", "archive", "text".
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;

    /// Rebuilds `in` (borrowed for the call). The result has been re-opened by the engine's own
    /// library and checked (no removed construct remains) before it is returned. Errors, all
    /// named "cdr.<engine>.<what>": Malformed (unreadable, truncated, encrypted input),
    /// Unsupported (a kind the engine refuses, e.g. legacy Office with macros and no
    /// conversion), LimitExceeded (pixels, members, sizes), Internal (a library failure).
    [[nodiscard]] virtual Result<Output> rebuild(std::span<const std::byte> in,
                                                 std::string_view filename,
                                                 const Options& options) const = 0;
};

/// The engine for a file, from libmagic's type and the file name's extension (lower-case, no
/// dot); "" when no engine handles it (executables, scripts, unknown data).
[[nodiscard]] std::string_view engine_for(std::string_view detected_type,
                                          std::string_view extension) noexcept;

/// The engine named `name`; nullptr when unknown. Engines are stateless and live for the
/// process. Thread-safe.
[[nodiscard]] const Engine* find_engine(std::string_view name) noexcept;

/// Every engine name, in a fixed order.
[[nodiscard]] const std::vector<std::string_view>& engine_names();

/// find_engine(name)->rebuild(...); error "cdr.no_engine" (Unsupported) for an unknown name.
/// The archive engine uses it for members.
[[nodiscard]] Result<Output> rebuild_with(std::string_view engine, std::span<const std::byte> in,
                                          std::string_view filename, const Options& options);

// The engines, one directory each (filters/cdr/<name>/).
[[nodiscard]] std::unique_ptr<Engine> make_pdf_engine();
[[nodiscard]] std::unique_ptr<Engine> make_ooxml_engine();
[[nodiscard]] std::unique_ptr<Engine> make_odf_engine();
[[nodiscard]] std::unique_ptr<Engine> make_office_engine();
[[nodiscard]] std::unique_ptr<Engine> make_image_engine();
[[nodiscard]] std::unique_ptr<Engine> make_archive_engine();
[[nodiscard]] std::unique_ptr<Engine> make_text_engine();

} // namespace mugaika::filters::cdr
