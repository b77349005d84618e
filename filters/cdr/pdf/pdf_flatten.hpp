#pragma once
// pdf_flatten: every page rendered by poppler and written as one image per page.

#include <cstddef>
#include <string>
#include <string_view>

#include <qpdf/QPDF.hh>

#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr::pdf {

/// Fails with LimitExceeded "cdr.pdf.image_too_large" when an image XObject of `doc` declares
/// more than `max_pixels` pixels: poppler would decode it whole while rendering.
[[nodiscard]] Result<void> check_image_sizes(QPDF& doc, std::uint64_t max_pixels);

/// Renders each page of `pdf` (a document this engine has already rebuilt: unencrypted, with
/// `pages` pages) at options.flatten_dpi, lowered for a page whose image would exceed
/// options.max_pixels, and returns a new PDF with one image per page (Flate, or DCT when
/// smaller) and nothing else. `pdf` is borrowed for the call. Errors: "cdr.pdf.render_failed"
/// (Internal), "cdr.output_too_large" (LimitExceeded).
[[nodiscard]] Result<std::string> flatten(std::string_view pdf, std::size_t pages,
                                          const Options& options);

/// True when every page of `doc` draws nothing but one image: /Resources holds only
/// /XObject, and every XObject is an /Image.
[[nodiscard]] bool image_only(QPDF& doc);

/// Silences poppler's error printing (process-wide, once). Thread-safe.
void quiet_poppler();

} // namespace mugaika::filters::cdr::pdf
