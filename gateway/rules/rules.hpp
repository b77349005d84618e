#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::gateway {

/// What happens to a part, or to the whole message.
enum class Action : std::uint8_t {
    Text,       ///< convert to plain text (bodies; text-like attachments)
    Keep,       ///< pass the part through unchanged
    Cdr,        ///< rebuild the part with its CDR engine (filters/cdr); stripped if that fails
    Strip,      ///< remove the part and list it in the notice
    Reject,     ///< refuse the whole message (SMTP 5xx)
    Tempfail,   ///< refuse the whole message for now (SMTP 4xx); never chosen by rules
    Quarantine, ///< accept the whole message, deliver nothing, hold the original for an admin
    Discard,    ///< accept the whole message and deliver nothing (the original is still kept)
};

/// Stable lower-case name ("strip").
[[nodiscard]] std::string_view to_string(Action a) noexcept;
/// Parses a rule action name; nullopt for anything else.
[[nodiscard]] std::optional<Action> parse_action(std::string_view s) noexcept;

/// Which role a part plays in the message.
enum class Role : std::uint8_t {
    Body,       ///< text meant to be read: the body, an alternative, an inline text part
    Attachment, ///< everything else
    Any,        ///< matches both (rules only)
};
[[nodiscard]] std::string_view to_string(Role r) noexcept;

/// One rule: every condition given must hold (lists match when any entry does).
struct Rule {
    std::string id;
    std::string description;
    std::string direction; ///< "inbound", "outbound" or "" for any
    Role role = Role::Any;
    std::vector<std::string> senders;        ///< "user@dom" or "@dom" / "dom"
    std::vector<std::string> recipients;     ///< as senders; any recipient matching is enough
    std::vector<std::string> declared_types; ///< "text/html", "image/*", "*/*"
    std::vector<std::string> detected_types; ///< as declared_types, from libmagic
    std::vector<std::string> extensions;     ///< "pdf", lower-case, no dot
    std::optional<std::uint64_t> min_size;   ///< bytes, inclusive
    std::optional<std::uint64_t> max_size;   ///< bytes, inclusive
    std::vector<std::string> av;             ///< "clean", "infected", "incomplete", "unscanned"
    std::optional<bool> mismatch;            ///< the true type contradicts the label
    std::optional<bool> name_trick;          ///< the file name misleads (double extension, ...)
    std::vector<std::string>
        archive;                   ///< "none", "listed", "encrypted", "limit_exceeded", "corrupt"
    std::optional<bool> encrypted; ///< an archive (or a member) is password-protected
    std::uint32_t contains = 0;    ///< content_bit()s: the archive holds any of these
    std::optional<bool> cdr;       ///< a CDR engine can rebuild the part
    Action action = Action::Strip;
    int line = 0; ///< where the rule starts in its file
};

/// The facts a rule is matched against.
struct PartFacts {
    std::string_view direction;
    std::string_view sender;
    const std::vector<std::string>* recipients = nullptr;
    Role role = Role::Attachment;
    std::string_view declared_type;
    std::string_view detected_type;
    std::string_view filename;
    std::uint64_t size = 0;
    std::string_view av = "unscanned"; ///< ClamAV's verdict on the part
    bool mismatch = false;
    bool name_trick = false;
    std::string_view archive = "none"; ///< the archive verdict (see Rule::archive)
    bool encrypted = false;
    std::uint32_t contains = 0;  ///< content_bit()s of what an archive holds, all levels
    std::string_view cdr_engine; ///< the engine that would rebuild the part, "" when none
};

/// The bit of a content class that `contains` matches: a file kind name ("executable",
/// "script", "office", "archive", "pdf", "html", "image", ... as filters::detect::to_string
/// names them) or "macro" (a macro-enabled Office document or a VBA project). nullopt for
/// anything else.
[[nodiscard]] std::optional<std::uint32_t> content_bit(std::string_view name) noexcept;
/// The names of the bits set, comma-separated in bit order ("executable,macro"); "" for 0.
[[nodiscard]] std::string content_names(std::uint32_t bits);
/// Every name content_bit() accepts, comma-separated (for error messages).
[[nodiscard]] std::string content_names_all();

/// The decision for one part: the action and the id of the rule that chose it.
struct Decision {
    Action action = Action::Strip;
    std::string_view rule; ///< borrowed from the rule set (or a static built-in id)
};

/// Built-in id used when no rule matches: bodies become text, everything else is stripped.
inline constexpr std::string_view fallback_rule_id = "builtin-fallback";

/// First matching rule wins; with no match the fail-closed fallback applies. Thread-safe (pure).
[[nodiscard]] Decision decide(const std::vector<Rule>& rules, const PartFacts& facts);

/// Lower-case extension of a file name without the dot ("PDF.exe" -> "exe"), "" when none.
[[nodiscard]] std::string extension_of(std::string_view filename);

/// Whether an address matches a pattern: "user@dom" exactly, "@dom" or "dom" by domain
/// (subdomains of dom match too when the pattern starts with "."). Case-insensitive.
[[nodiscard]] bool address_matches(std::string_view address, std::string_view pattern) noexcept;

/// Whether a MIME type matches "type/sub", "type/*" or "*/*". Case-insensitive.
[[nodiscard]] bool type_matches(std::string_view type, std::string_view pattern) noexcept;

} // namespace mugaika::gateway
