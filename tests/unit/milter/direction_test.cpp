#include "milter/direction.hpp"

#include <doctest/doctest.h>

using namespace mugaika::milter;

TEST_CASE("direction: the daemon name decides first, then the client network") {
    const std::vector<std::string> in{"internet"};
    const std::vector<std::string> out{"lgwan"};
    const std::vector<std::string> nets{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"};
    CHECK(choose_direction("internet", "10.1.2.3", in, out, nets) == "inbound");
    CHECK(choose_direction("lgwan", "198.51.100.1", in, out, nets) == "outbound");
    CHECK(choose_direction("other", "10.1.2.3", in, out, nets) == "outbound");
    CHECK(choose_direction("", "[IPv6:2001:db8::1]", in, out, nets) == "outbound");
    CHECK(choose_direction("", "192.0.2.7", in, out, nets) == "outbound");
    CHECK(choose_direction("", "192.0.2.8", in, out, nets).empty());
    CHECK(choose_direction("", "", in, out, nets).empty());
}

TEST_CASE("direction: network matching is exact at the prefix boundary") {
    CHECK(address_in_network("10.255.255.255", "10.0.0.0/8"));
    CHECK_FALSE(address_in_network("11.0.0.0", "10.0.0.0/8"));
    CHECK(address_in_network("192.168.1.129", "192.168.1.128/25"));
    CHECK_FALSE(address_in_network("192.168.1.127", "192.168.1.128/25"));
    CHECK(address_in_network("203.0.113.5", "0.0.0.0/0"));
    CHECK_FALSE(address_in_network("2001:db8::1", "10.0.0.0/8"));
    CHECK_FALSE(address_in_network("not-an-address", "10.0.0.0/8"));
    CHECK_FALSE(address_in_network("10.0.0.1", "10.0.0.0/x"));
}
