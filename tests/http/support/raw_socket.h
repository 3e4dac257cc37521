// Plain POSIX sockets for tests that must speak bytes, not HTTP: malformed or
// slow requests, keep-alive on one connection, and servers that never answer.
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

// A client connection to 127.0.0.1.
class RawConnection {
 public:
  static std::optional<RawConnection> open(std::uint16_t port);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection();

  bool send(std::string_view bytes);
  // Reads one response framed by Content-Length (absent: no body). A
  // response to HEAD has none whatever its Content-Length: say headRequest.
  std::optional<RawResponse> readResponse(std::chrono::milliseconds timeout,
                                          bool headRequest = false);
  // True when the server closes the connection (end of stream or reset)
  // within the timeout; bytes arriving meanwhile are discarded.
  bool closedWithin(std::chrono::milliseconds timeout);
  void close();

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  // Appends what arrives before the deadline; false on timeout or close.
  bool receiveMore(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string pending_;
};

// A socket bound to a free port of 127.0.0.1. With listen=true it listens but
// never accepts: the kernel completes connections and buffers requests, and
// nobody ever answers. With listen=false it only holds the port, so
// connecting to it is refused.
class RawListener {
 public:
  static std::optional<RawListener> open(bool listen);
  RawListener(RawListener&& other) noexcept;
  RawListener& operator=(RawListener&&) = delete;
  ~RawListener();
  std::uint16_t port() const { return port_; }

 private:
  RawListener(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace ozy::http::testing
