#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/budget.hpp"
#include "filters/core/part.hpp"
#include "filters/core/result.hpp"

namespace mugaika::filters::text {

/// Hard ceiling for HtmlPolicy::max_depth. libxml2's HTML parser matches every end tag by a linear
/// walk of its open-element stack, so its cost per end tag grows with depth; keeping that stack at
/// most this deep keeps hostile input (100k unclosed tags followed by stray end tags) near-linear.
/// Larger policy values are clamped to it; the config validator should reject them.
inline constexpr std::size_t html_max_depth_limit = 4096;

/// Longest URL (bytes) that is shown or recorded; longer ones are dropped and counted.
inline constexpr std::size_t html_max_url_length = 2048;

/// Most attributes passed to libxml2 per start tag. libxml2 2.9 checks each attribute of a tag
/// against all earlier ones (quadratic, with no callback in between), so the excess is cut from the
/// bytes before they reach the parser and counted in HtmlCounts::attributes_dropped. Tag names
/// and attribute names longer than 100 bytes count once per 100 bytes, as libxml2 splits them.
inline constexpr std::size_t html_max_attributes = 256;

/// Most URLs kept in HtmlText::urls; the rest are counted in HtmlCounts::urls_dropped.
inline constexpr std::size_t html_max_urls = 1000;

/// Audit note codes produced by HtmlToText (stable; listed in docs/).
namespace html_note {
inline constexpr std::string_view script_removed = "html.script_removed";
inline constexpr std::string_view style_removed = "html.style_removed";
inline constexpr std::string_view form_removed = "html.form_removed";
inline constexpr std::string_view iframe_removed = "html.iframe_removed";
inline constexpr std::string_view object_removed = "html.object_removed";
inline constexpr std::string_view remote_image_removed = "html.remote_image_removed";
inline constexpr std::string_view image_replaced = "html.image_replaced";
inline constexpr std::string_view link_shown = "html.link_shown";
inline constexpr std::string_view dangerous_link_removed = "html.dangerous_link_removed";
inline constexpr std::string_view long_url_removed = "html.long_url_removed";
inline constexpr std::string_view link_text_mismatch = "html.link_text_mismatch";
inline constexpr std::string_view hidden_removed = "html.hidden_removed";
inline constexpr std::string_view comment_removed = "html.comment_removed";
inline constexpr std::string_view depth_exceeded = "html.depth_exceeded";
inline constexpr std::string_view meta_refresh_removed = "html.meta_refresh_removed";
inline constexpr std::string_view event_handler_removed = "html.event_handler_removed";
inline constexpr std::string_view invalid_utf8_replaced = "html.invalid_utf8_replaced";
inline constexpr std::string_view url_list_capped = "html.url_list_capped";
inline constexpr std::string_view attributes_capped = "html.attributes_capped";
} // namespace html_note

/// Error codes returned by HtmlToText::run (Error::what).
namespace html_error {
inline constexpr std::string_view time_exceeded = "html.time_exceeded";     ///< LimitExceeded
inline constexpr std::string_view output_exceeded = "html.output_exceeded"; ///< LimitExceeded
inline constexpr std::string_view parser_failed = "html.parser_failed";     ///< Internal
} // namespace html_error

/// How HTML is rendered to text.
/// Makes every http://, https:// and ftp:// in `text` unclickable, in place and of the same
/// length: hxxp://, hxxps://, fxp:// (what HtmlPolicy::defang_links does to converted HTML).
void defang_links(std::string& text);

struct HtmlPolicy {
    /// Rewrite every http/https/ftp URL in the output (shown links and text alike) so that mail
    /// clients do not make it clickable: https://x -> hxxps://x, http -> hxxp, ftp -> fxp.
    bool defang_links = false;
    /// Structural depth kept (implied html and body count). Deeper elements are flattened: text is
    /// still extracted, hidden/script/style suppression still holds (it may extend to the end of
    /// the enclosing kept element, never less), and a "html.depth_exceeded" note is added.
    /// Clamped to [3, html_max_depth_limit].
    std::size_t max_depth = 256;
    /// Most bytes of text output; more is the error "html.output_exceeded", never truncation.
    std::size_t max_output = std::size_t{16} << 20;
};

/// What the HTML contained. Counted everywhere, including inside hidden or removed content.
struct HtmlCounts {
    std::size_t links = 0;            ///< <a>/<area> with a shown (non-fragment) href
    std::size_t scripts = 0;          ///< <script> elements
    std::size_t styles = 0;           ///< <style> elements
    std::size_t forms = 0;            ///< <form> elements
    std::size_t form_controls = 0;    ///< input/select/textarea/button (content dropped)
    std::size_t iframes = 0;          ///< iframe/frame
    std::size_t objects = 0;          ///< object/embed/applet
    std::size_t remote_images = 0;    ///< images fetched from the network: http(s) or //host src of
                                      ///< <img>/<input type=image>, background= attributes (a 1x1
                                      ///< tracking pixel counts too)
    std::size_t images = 0;           ///< every <img> (remote, cid:, data:, relative)
    std::size_t hidden = 0;           ///< elements dropped for hidden / display:none /
                                      ///< visibility:hidden / mso-hide:all
    std::size_t comments = 0;         ///< comments, incl. Outlook conditional comments
    std::size_t event_handlers = 0;   ///< on* attributes (dropped ones included)
    std::size_t meta_refresh = 0;     ///< <meta http-equiv=refresh>
    std::size_t dangerous_links = 0;  ///< javascript:/vbscript:/data: hrefs dropped (text kept)
    std::size_t long_urls = 0;        ///< URLs longer than html_max_url_length, dropped
    std::size_t mismatched_links = 0; ///< link text looks like a URL for another host
    std::size_t conditional_markers = 0; ///< Outlook <![if ...]> / <![endif]> markers removed
    std::size_t invalid_utf8 = 0;        ///< invalid UTF-8 sequences replaced by U+FFFD
    std::size_t urls_dropped = 0;        ///< URL occurrences not kept because urls was full
    std::size_t attributes_dropped = 0;  ///< attributes beyond html_max_attributes in a start tag,
                                         ///< cut before parsing (their on* names still counted)
    std::size_t max_depth_seen = 0;      ///< deepest element nesting (implied html/body count)
};

/// The text rendering of one HTML part.
struct HtmlText {
    std::string text; ///< UTF-8, LF line ends, no trailing spaces, at most one blank line, trimmed
    HtmlCounts counts;
    /// Every link or remote-resource URL that was shown or removed, in document order,
    /// deduplicated, at most html_max_urls (javascript:/vbscript:/data:/cid: are not URLs here).
    std::vector<std::string> urls;
    std::vector<AuditNote> notes; ///< one note per non-zero finding, detail "count=N"
    bool depth_exceeded = false;  ///< nesting went deeper than the (clamped) max_depth
};

/// Renders HTML to plain text the way a text browser dump would (w3m-like), for the gateway's
/// text/plain replacement: active, hidden and non-visible content never reaches the text.
/// Uses libxml2's HTML parser in SAX push mode: no tree is built, memory stays about linear in
/// the output. Thread-safe: run() is const and keeps all per-call state on its own stack.
/// The constructor calls xmlInitParser(); construct the first instance before starting threads.
class HtmlToText {
public:
    explicit HtmlToText(HtmlPolicy policy);

    /// Renders `utf8_html` (already decoded to UTF-8 by the charset step; charset declarations in
    /// the document are ignored, invalid bytes become U+FFFD). The view is only read during the
    /// call. Checks `budget` time between 64 KiB chunks and reserves the final text size from its
    /// output allowance. Attributes beyond html_max_attributes in one start tag are cut before
    /// parsing (counted, noted "html.attributes_capped"); the rest of the document is unaffected.
    /// Errors: LimitExceeded "html.time_exceeded" when the budget's deadline passes;
    /// LimitExceeded "html.output_exceeded" when the text would exceed policy.max_output or the
    /// budget's output allowance; Internal "html.parser_failed" when libxml2 fails (no memory).
    [[nodiscard]] Result<HtmlText> run(std::string_view utf8_html, Budget& budget) const;

    [[nodiscard]] const HtmlPolicy& policy() const noexcept { return policy_; }

private:
    HtmlPolicy policy_;
};

} // namespace mugaika::filters::text
