#include "milter/direction.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace mugaika::milter {
namespace {

/// Parses an address into 16 bytes (IPv4 as v4-mapped IPv6); false when it is not one.
bool parse(std::string_view text, std::array<unsigned char, 16>& out, bool& v4) {
    std::string s(text);
    if (!s.empty() && s.front() == '[' && s.back() == ']') {
        s = s.substr(1, s.size() - 2);
    }
    if (s.rfind("IPv6:", 0) == 0) {
        s = s.substr(5);
    }
    out.fill(0);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
        out[10] = 0xff;
        out[11] = 0xff;
        std::memcpy(out.data() + 12, buf, 4);
        v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        std::memcpy(out.data(), buf, 16);
        v4 = false;
        return true;
    }
    return false;
}

} // namespace

bool address_in_network(std::string_view address, std::string_view network) {
    const auto slash = network.find('/');
    std::array<unsigned char, 16> a{};
    std::array<unsigned char, 16> n{};
    bool a4 = false;
    bool n4 = false;
    if (!parse(address, a, a4) || !parse(network.substr(0, slash), n, n4)) {
        return false;
    }
    int bits = n4 ? 32 : 128;
    if (slash != std::string_view::npos) {
        bits = 0;
        for (char c : network.substr(slash + 1)) {
            if (c < '0' || c > '9') {
                return false;
            }
            bits = bits * 10 + (c - '0');
        }
    }
    if (n4) {
        bits += 96;
    }
    bits = std::min(bits, 128);
    for (int i = 0; i < bits; ++i) {
        const int byte = i / 8;
        const int mask = 0x80 >> (i % 8);
        if ((a[static_cast<std::size_t>(byte)] & mask) !=
            (n[static_cast<std::size_t>(byte)] & mask)) {
            return false;
        }
    }
    return true;
}

std::string choose_direction(std::string_view daemon_name, std::string_view client_addr,
                             const std::vector<std::string>& inbound_daemons,
                             const std::vector<std::string>& outbound_daemons,
                             const std::vector<std::string>& outbound_networks) {
    if (!daemon_name.empty()) {
        if (std::find(inbound_daemons.begin(), inbound_daemons.end(), daemon_name) !=
            inbound_daemons.end()) {
            return "inbound";
        }
        if (std::find(outbound_daemons.begin(), outbound_daemons.end(), daemon_name) !=
            outbound_daemons.end()) {
            return "outbound";
        }
    }
    for (const std::string& net : outbound_networks) {
        if (address_in_network(client_addr, net)) {
            return "outbound";
        }
    }
    return {};
}

} // namespace mugaika::milter
