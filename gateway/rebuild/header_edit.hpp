#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mugaika::gateway {

/// One header field as an MTA reports it: the name and the value after the colon, folds as
/// received (CRLF or LF), leading white space included or not.
struct HeaderField {
    std::string name;
    std::string value;
};

/// One change to the MTA's copy of the header, in the order it must be applied.
struct HeaderEdit {
    enum class Kind : std::uint8_t {
        Change, ///< replace occurrence `index` (1-based) of `name` with `value`
        Remove, ///< remove occurrence `index` of `name`
        Insert, ///< insert a new field at the top of the header
        Append, ///< add a new field at the end of the header
    };
    Kind kind = Kind::Append;
    std::string name;
    int index = 0;
    std::string value; ///< without leading white space; folds as "\n\t" or "\n " (LF only)
};

/// The header fields of a message: from its start to the first empty line.
[[nodiscard]] std::vector<HeaderField> split_header_block(std::string_view message);

/// The body of a message: everything after the first empty line ("" when there is none).
[[nodiscard]] std::string_view body_of(std::string_view message) noexcept;

/// The edits that turn the `received` header into the `wanted` one. Fields are compared per
/// name (case-insensitive) and occurrence, ignoring leading white space and CRLF/LF differences;
/// removals come last and from the highest occurrence down so that indexes stay valid. New
/// X-Mugaika-* fields are inserted at the top, other new fields appended. Thread-safe (pure).
[[nodiscard]] std::vector<HeaderEdit> plan_header_edits(const std::vector<HeaderField>& received,
                                                        const std::vector<HeaderField>& wanted);

} // namespace mugaika::gateway
