#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mugaika::milter {

/// Chooses the direction of a message from the MTA's facts: the {daemon_name} macro first, then
/// whether the client address lies in one of `outbound_networks`; "" when neither decides (the
/// gateway then applies its default direction). Thread-safe (pure).
[[nodiscard]] std::string choose_direction(std::string_view daemon_name,
                                           std::string_view client_addr,
                                           const std::vector<std::string>& inbound_daemons,
                                           const std::vector<std::string>& outbound_daemons,
                                           const std::vector<std::string>& outbound_networks);

/// Whether an IPv4 or IPv6 address lies in "net/bits" (or equals a bare address).
[[nodiscard]] bool address_in_network(std::string_view address, std::string_view network);

} // namespace mugaika::milter
