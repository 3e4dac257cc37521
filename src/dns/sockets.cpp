#include "dns/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ozy::dns {
namespace {

// Tries at finding a port free for both UDP and TCP when asked for port 0.
constexpr int kPortAttempts = 20;

struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};

Result<Endpoint, std::string> parseEndpoint(const std::string& address, std::uint16_t port) {
  Endpoint endpoint;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&endpoint.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&endpoint.address);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    endpoint.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    endpoint.length = sizeof(sockaddr_in6);
  } else {
    return fail(fmt::format("listen address \"{}\" is not an IPv4 or IPv6 address", address));
  }
  return endpoint;
}

std::uint16_t portOf(const Endpoint& endpoint) {
  return ntohs(endpoint.address.ss_family == AF_INET
                   ? reinterpret_cast<const sockaddr_in*>(&endpoint.address)->sin_port
                   : reinterpret_cast<const sockaddr_in6*>(&endpoint.address)->sin6_port);
}

void setPort(Endpoint& endpoint, std::uint16_t port) {
  if (endpoint.address.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&endpoint.address)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&endpoint.address)->sin6_port = htons(port);
  }
}

// Binds a non-blocking socket of `type`; the error keeps errno for the
// caller, which may retry on EADDRINUSE.
Result<SocketFd, int> bindSocket(Endpoint& endpoint, int type) {
  SocketFd fd(::socket(endpoint.address.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(errno);
  if (type == SOCK_STREAM) {
    // Lets a restarted responder take its port back from connections in TIME_WAIT.
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.length) !=
      0) {
    return fail(errno);
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), SOMAXCONN) != 0) return fail(errno);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&endpoint.address), &endpoint.length) !=
      0) {
    return fail(errno);
  }
  return fd;
}

}  // namespace

SocketFd& SocketFd::operator=(SocketFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

SocketFd::~SocketFd() {
  if (fd_ >= 0) ::close(fd_);
}

int SocketFd::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

// With port 0 the kernel picks a free UDP port, which TCP may hold already:
// then another is tried.
Result<ListeningSockets, std::string> bindSockets(const std::string& address, std::uint16_t port) {
  auto endpoint = parseEndpoint(address, port);
  if (!endpoint) return fail(std::move(endpoint).error());
  const int attempts = port == 0 ? kPortAttempts : 1;
  int error = 0;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    setPort(*endpoint, port);
    auto udp = bindSocket(*endpoint, SOCK_DGRAM);
    if (!udp) {
      error = udp.error();
      break;
    }
    auto tcp = bindSocket(*endpoint, SOCK_STREAM);
    if (tcp) {
      return ListeningSockets{std::move(udp).value(), std::move(tcp).value(), portOf(*endpoint)};
    }
    error = tcp.error();
    if (error != EADDRINUSE) break;
  }
  return fail(fmt::format(
      "cannot listen on {} port {}: {}{}", address, port, std::strerror(error),
      error == EADDRINUSE ? " (another DNS server runs there? choose another port)" : ""));
}

}  // namespace ozy::dns
