// The DNS server's sockets: a descriptor that closes itself, and binding one
// port for both UDP and TCP.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace ozy::dns {

// A socket descriptor, closed when it goes.
class SocketFd {
 public:
  explicit SocketFd(int fd = -1) : fd_(fd) {}
  SocketFd(SocketFd&& other) noexcept : fd_(other.release()) {}
  SocketFd& operator=(SocketFd&& other) noexcept;
  ~SocketFd();
  int get() const { return fd_; }
  int release();

 private:
  int fd_;
};

struct ListeningSockets {
  SocketFd udp;
  SocketFd tcp;  // listening
  std::uint16_t port = 0;
};

// Non-blocking UDP and TCP sockets bound to address:port. With port 0 the
// kernel picks a port free for both. Fails on an address that is not IPv4 or
// IPv6, or a port in use.
Result<ListeningSockets, std::string> bindSockets(const std::string& address, std::uint16_t port);

}  // namespace ozy::dns
