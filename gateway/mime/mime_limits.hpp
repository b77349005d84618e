#pragma once

#include <cstddef>

namespace mugaika::gateway {

/// Limits applied while parsing and walking one message.
struct MimeLimits {
    std::size_t max_depth = 32;          ///< nesting of multiparts and message/rfc822
    std::size_t max_parts = 1000;        ///< entities of any kind
    std::size_t max_header_size = 65536; ///< one header field, name and folded value
};

} // namespace mugaika::gateway
