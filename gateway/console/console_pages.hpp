#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/audit_views.hpp"
#include "gateway/audit/timezone.hpp"
#include "gateway/console/request_params.hpp"
#include "gateway/console/users_file.hpp"
#include "gateway/quarantine/release.hpp"

/// The console's HTML pages: server-rendered, no script, every stored string escaped. Japanese
/// by default, English on request. Pure functions (no I/O): the server feeds them.
namespace mugaika::gateway::console {

/// `&`, `<`, `>`, `"`, `'` as entities; invalid UTF-8 as U+FFFD.
[[nodiscard]] std::string html_escape(std::string_view text);

/// A JSON string literal (with the quotes): invalid UTF-8 as U+FFFD, quotes, backslashes and
/// control characters escaped.
[[nodiscard]] std::string json_quote(std::string_view text);

/// A label in "ja" (default) or "en": the key itself when unknown.
[[nodiscard]] std::string_view label(std::string_view lang, std::string_view key);

/// What every page around the content needs.
struct PageContext {
    std::string lang = "ja"; ///< "ja" or "en"
    std::string user;        ///< "" on the login page
    ConsoleRole role = ConsoleRole::Auditor;
    std::string csrf; ///< the session's token, for the logout form
    std::string path; ///< the current path with query, for the language switch
};

/// A whole HTML document: header with navigation, the language switch and logout, then `body`
/// (already HTML).
[[nodiscard]] std::string page(const PageContext& ctx, std::string_view title,
                               std::string_view body);

/// The login form; `error` (plain text) is shown above it; `token` is the login form token.
[[nodiscard]] std::string login_page(const PageContext& ctx, std::string_view error,
                                     std::string_view token);

/// The search form (filled with `params`) and, when `rows` is set, the results table with
/// paging links. `error` is shown instead of results.
[[nodiscard]] std::string search_page(const PageContext& ctx, const Params& params,
                                      const std::vector<AuditRow>* rows, std::size_t offset,
                                      std::size_t limit, std::optional<std::size_t> next_offset,
                                      const TimeZone& tz, std::string_view error);

/// The story of one mail: envelope, headers, sizes and hashes, each step with its part, file
/// name, types, hashes, action, rule and reason, then the related records.
[[nodiscard]] std::string story_page(const PageContext& ctx, const AuditStory& story,
                                     const TimeZone& tz);

/// The month chooser for the report (`month` pre-filled), with `error` when set.
[[nodiscard]] std::string report_form_page(const PageContext& ctx, std::string_view month,
                                           std::string_view error);

/// The chain status.
[[nodiscard]] std::string verify_page(const PageContext& ctx, const VerifyReport& report);

/// Pending release requests; admins get approve and refuse forms. `message` (plain text) is the
/// result of the last decision.
[[nodiscard]] std::string releases_page(const PageContext& ctx,
                                        const std::vector<ReleaseRequest>& requests,
                                        const TimeZone& tz, std::string_view message);

/// An error page with a status line and a plain-text message.
[[nodiscard]] std::string error_page(const PageContext& ctx, int status, std::string_view message);

/// The stylesheet served at /static/console.css.
[[nodiscard]] std::string_view console_css();

} // namespace mugaika::gateway::console
