// ClientAddress: the IP address a query came from, the key of the DNS
// server's per-client limits (rate_limiter.h, the TCP connection caps).
//
// Only the address counts, not the port: a client gets a new source port
// for every UDP query, and a new one for every TCP connection.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ozy::dns {

struct ClientAddress {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first four
  bool v6 = false;
  bool operator==(const ClientAddress&) const = default;
};

// The address of a peer as recvfrom() or accept() filled it in. Anything but
// IPv4 and IPv6 (which a UDP or TCP socket of ours cannot report) is the
// all-zero IPv4 address.
ClientAddress clientAddressOf(const sockaddr_storage& peer);
// "10.0.0.1", "fd00::1"; nullopt for anything else. For tests and tools.
std::optional<ClientAddress> parseClientAddress(std::string_view text);
// As inet_ntop writes it, for log lines.
std::string toString(const ClientAddress& address);

// A hash keyed by a secret seed: a client who chooses source addresses (and
// spoofed UDP sources are free) cannot make them collide on purpose and turn
// a table lookup into a walk over every client. Not cryptographic; it only
// has to be unpredictable from outside the process.
struct ClientAddressHash {
  std::uint64_t seed = 0;
  std::size_t operator()(const ClientAddress& address) const;
};

}  // namespace ozy::dns
