#include "dns/client_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/fnv.h"

namespace ozy::dns {

ClientAddress clientAddressOf(const sockaddr_storage& peer) {
  ClientAddress out;
  if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    std::memcpy(out.bytes.data(), &v4.sin_addr, sizeof v4.sin_addr);
  } else if (peer.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
    std::memcpy(out.bytes.data(), &v6.sin6_addr, sizeof v6.sin6_addr);
    out.v6 = true;
  }
  return out;
}

std::optional<ClientAddress> parseClientAddress(std::string_view text) {
  const std::string terminated(text);
  ClientAddress out;
  if (inet_pton(AF_INET, terminated.c_str(), out.bytes.data()) == 1) return out;
  if (inet_pton(AF_INET6, terminated.c_str(), out.bytes.data()) == 1) {
    out.v6 = true;
    return out;
  }
  return std::nullopt;
}

std::string toString(const ClientAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), text, sizeof text);
  return text;
}

std::size_t ClientAddressHash::operator()(const ClientAddress& address) const {
  const std::string_view bytes(reinterpret_cast<const char*>(address.bytes.data()),
                               address.v6 ? address.bytes.size() : 4);
  return static_cast<std::size_t>(fnv1a(bytes, kFnvOffset ^ seed));
}

}  // namespace ozy::dns
