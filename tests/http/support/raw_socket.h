// Plain POSIX sockets for tests that must speak bytes, not HTTP: malformed or
// slow requests, keep-alive on one connection, clients that stop reading, and
// servers that never answer or answer in bytes of the test's choosing.
// Every wait has a timeout, so a broken server fails a test instead of
// hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ozy::http::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;

  std::string header(const std::string& lowercaseName) const {
    auto it = headers.find(lowercaseName);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A client connection to 127.0.0.1 (or one RawListener accepted).
class RawConnection {
 public:
  // A receiveBuffer above 0 shrinks the socket's receive buffer to about
  // that many bytes, so that a client that stops reading stalls the server
  // soon.
  static std::optional<RawConnection> open(std::uint16_t port, int receiveBuffer = 0);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection();

  bool send(std::string_view bytes);
  // Reads one response framed by Content-Length (absent: no body). A
  // response to HEAD has none whatever its Content-Length: say headRequest.
  std::optional<RawResponse> readResponse(std::chrono::milliseconds timeout,
                                          bool headRequest = false);
  // Everything up to and including the first `marker`, once it has arrived;
  // what follows it stays for the next read.
  std::optional<std::string> readUntil(std::string_view marker, std::chrono::milliseconds timeout);
  // Everything that arrives until the peer closes the connection; nullopt
  // when it does not close within the timeout.
  std::optional<std::string> readUntilClosed(std::chrono::milliseconds timeout);
  // True when the server closes the connection (end of stream or reset)
  // within the timeout; bytes arriving meanwhile are discarded.
  bool closedWithin(std::chrono::milliseconds timeout);
  void close();

 private:
  friend class RawListener;
  explicit RawConnection(int fd) : fd_(fd) {}
  enum class Received { Some, Closed, TimedOut };
  // Appends what arrives before the deadline.
  Received receive(std::chrono::steady_clock::time_point deadline);
  bool receiveMore(std::chrono::steady_clock::time_point deadline) {
    return receive(deadline) == Received::Some;
  }

  int fd_ = -1;
  std::string pending_;
};

// A socket bound to a free port of 127.0.0.1. With listen=true it listens,
// and accepts only when the test asks: until then the kernel completes
// connections and buffers requests, and nobody answers. With listen=false it
// only holds the port, so connecting to it is refused.
class RawListener {
 public:
  static std::optional<RawListener> open(bool listen);
  RawListener(RawListener&& other) noexcept;
  RawListener& operator=(RawListener&&) = delete;
  ~RawListener();
  std::uint16_t port() const { return port_; }
  // The next connection, once a client has made one within the timeout.
  std::optional<RawConnection> accept(std::chrono::milliseconds timeout);

 private:
  RawListener(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace ozy::http::testing
