#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace mugaika::filters {

/// Why a step could not finish. A finding about the content is a Verdict, never an Error.
enum class ErrorCode : std::uint8_t {
    Malformed,     ///< the input cannot be read as what it claims to be
    LimitExceeded, ///< a configured limit (size, depth, count, time) was hit
    Unsupported,   ///< a valid input the step cannot handle (unknown charset, format)
    Transient,     ///< a resource was temporarily unavailable; retrying may succeed
    Internal,      ///< a bug or an unexpected library failure
};

/// Stable lower-case name of an error code ("limit_exceeded").
[[nodiscard]] constexpr std::string_view to_string(ErrorCode c) noexcept {
    switch (c) {
    case ErrorCode::Malformed:
        return "malformed";
    case ErrorCode::LimitExceeded:
        return "limit_exceeded";
    case ErrorCode::Unsupported:
        return "unsupported";
    case ErrorCode::Transient:
        return "transient";
    case ErrorCode::Internal:
        return "internal";
    }
    return "internal";
}

/// A failure: a class, a stable dotted code for audit and logs, and an optional runtime detail.
struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string_view what; ///< static stable code, e.g. "mime.depth_exceeded"
    std::string detail;    ///< optional runtime detail (never message content)
};

/// The return type of every fallible function.
template <class T> using Result = tl::expected<T, Error>;

/// Shorthand for building an unexpected Error.
[[nodiscard]] inline tl::unexpected<Error> fail(ErrorCode code, std::string_view what,
                                                std::string detail = {}) {
    return tl::unexpected<Error>(Error{code, what, std::move(detail)});
}

} // namespace mugaika::filters
