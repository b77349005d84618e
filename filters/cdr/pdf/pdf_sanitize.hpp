#pragma once
// The PDF cleaning pass: removes active content, embedded files and external references from a
// document opened with qpdf, and the check that a rebuilt document holds none of them.

#include <string>
#include <vector>

#include <qpdf/QPDF.hh>

#include "filters/cdr/cdr.hpp"

namespace mugaika::filters::cdr::pdf {

/// Removes from `doc`, in place, everything docs/cdr/pdf.md lists, and appends one Removed per
/// removal to `removed` (URLs and paths of external references only when `list_urls`).
/// First a pass over the catalog, the pages and their annotations, the form fields and the
/// outline (precise locations), then a sweep over every object reachable from the trailer
/// (location "object N"). May throw what qpdf throws on damaged input.
void sanitize(QPDF& doc, bool list_urls, std::vector<Removed>& removed);

/// Walks every object of `doc` (all indirect objects and the trailer, with every direct object
/// inside them) and describes the first construct that sanitize() would remove ("object 12
/// /JS"), or returns "" when there is none. May throw what qpdf throws.
[[nodiscard]] std::string find_forbidden(QPDF& doc);

} // namespace mugaika::filters::cdr::pdf
