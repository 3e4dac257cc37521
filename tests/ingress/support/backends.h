// Backends for the ingress tests, on loopback addresses other than the
// ingress's own (127.0.0.2, .3, .4: one per instance, all on one port, as the
// instances of a route share its container port).
//
// RawBackend runs a script per accepted connection on a thread of its own,
// over a plain socket: for backends that count connections, answer in odd
// framings, close mid-response or never answer. startEchoServer() is the
// project's own HttpServer answering with what it received, as JSON.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http/server.h"

namespace ozy::ingress::testing {

using namespace std::chrono_literals;

// What the tests wait for at most. Generous: a wait that runs out is a
// failure, never a step of a passing test.
inline constexpr std::chrono::milliseconds kWait = 10s;

// The loopback addresses instance n (0, 1, 2) of a route listens on.
std::string instanceAddress(int n);

struct RawRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased; the last of repeated ones
  std::string body;                            // by Content-Length
  std::string header(const std::string& lowercaseName) const;
};

// One accepted connection, seen from the backend's script.
class RawPeer {
 public:
  explicit RawPeer(int fd) : fd_(fd) {}
  // The next request's head and its body (by Content-Length); nullopt when
  // the connection ends first or nothing complete comes within `timeout`.
  std::optional<RawRequest> readRequest(std::chrono::milliseconds timeout = kWait);
  // What arrives next (at least one byte), or nullopt at its end.
  std::optional<std::string> readSome(std::chrono::milliseconds timeout = kWait);
  bool write(std::string_view bytes);
  void shutdownWrite();
  // Returns when the other side closes (or the backend stops).
  void waitForClose();
  int fd() const { return fd_; }

 private:
  bool receiveMore(std::chrono::steady_clock::time_point deadline);
  int fd_;
  std::string pending_;
};

class RawBackend {
 public:
  using Script = std::function<void(RawPeer&)>;
  // Null when the address and port cannot be bound.
  static std::unique_ptr<RawBackend> start(const std::string& address, std::uint16_t port,
                                           Script script);
  ~RawBackend();  // stops: no more accepts, every connection shut, threads joined
  RawBackend(const RawBackend&) = delete;
  RawBackend& operator=(const RawBackend&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  std::string endpoint() const { return address_ + ":" + std::to_string(port_); }
  // Connections accepted so far.
  int accepted() const { return accepted_.load(); }
  // Connections whose script has ended and which the backend has shut.
  int finished() const { return finished_.load(); }

 private:
  RawBackend(int listenFd, std::string address, std::uint16_t port, Script script);
  void acceptLoop();

  const int listenFd_;
  const std::string address_;
  const std::uint16_t port_;
  const Script script_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// "HTTP/1.1 200 OK" with a Content-Length body and `extraFields` (each line
// ending in \r\n).
std::string okResponse(std::string_view body, std::string_view extraFields = {});

// Scripts.
// Answers every request of the connection with `answer(request)`.
RawBackend::Script serveEach(std::function<std::string(const RawRequest&)> answer);
// Reads one request and closes without a word.
RawBackend::Script closeAfterRequest();
// Reads one request and never answers (until the ingress gives up).
RawBackend::Script neverAnswer();
// Sends back every byte it receives; passes a half-close on.
RawBackend::Script echoBytes();

// An HttpServer on `address`:`port` whose every answer is a JSON object:
// {"server": name, "method", "path", "query" (the raw query, "a=1&b=2"),
//  "headers": [[name, value], ...] in arrival order, "body", "remote"}.
// Null when it cannot listen there.
std::unique_ptr<http::HttpServer> startEchoServer(const std::string& address, std::uint16_t port,
                                                  std::string name);

// Starts `count` backends on instanceAddress(0..count-1), all on one port:
// the first on a port the kernel picks, the others on the same. Tries a few
// ports in case one is taken at another address. Empty on failure.
template <typename Start>
auto onOnePort(int count, Start start)
    -> std::vector<decltype(start(std::string(), std::uint16_t{}))> {
  using Server = decltype(start(std::string(), std::uint16_t{}));
  for (int round = 0; round < 20; ++round) {
    std::vector<Server> servers;
    servers.push_back(start(instanceAddress(0), 0));
    if (!servers.back()) return {};
    const std::uint16_t port = servers.back()->port();
    for (int i = 1; i < count && servers.back(); ++i)
      servers.push_back(start(instanceAddress(i), port));
    if (servers.back()) return servers;
  }
  return {};
}

}  // namespace ozy::ingress::testing
