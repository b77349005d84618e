#pragma once

#include <string_view>

namespace mugaika::gateway {

/// Writes all of `data` to `fd`, retrying short writes and EINTR. False on any other error
/// (errno says why). Thread-safe for distinct descriptors.
[[nodiscard]] bool write_all(int fd, std::string_view data);

} // namespace mugaika::gateway
