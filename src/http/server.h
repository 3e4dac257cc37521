// HttpServer: the HTTP/1.1 (optionally TLS) listener in front of a Handler.
//
// One io_context run by a fixed pool of threads; one session per connection
// in Beast's asynchronous style (Boost 1.74 does not enable co_await for
// clang with libstdc++). Every limit is explicit: request read timeout (which
// also closes idle keep-alive connections), header and body size, number of
// connections, and how long stop() waits for requests in flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/message.h"

namespace ozy::http {

struct TlsFiles {
  std::filesystem::path certificate;  // PEM chain, server certificate first
  std::filesystem::path privateKey;   // PEM
};

struct HttpServerConfig {
  std::string address = "127.0.0.1";  // an IP address; "0.0.0.0" or "::" for all
  std::uint16_t port = 0;             // 0: the kernel picks; see HttpServer::port()
  std::optional<TlsFiles> tls;        // absent: plain HTTP
  int threads = 4;
  // Time a client has to deliver a whole request (headers and body), counted
  // from the connection's start or the previous response; an idle keep-alive
  // connection is closed when it runs out. Also bounds each response write.
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(30)};
  std::size_t bodyLimit = std::size_t{1} << 20;
  std::size_t headerLimit = std::size_t{16} << 10;
  // Beyond this many open connections the server stops accepting until one
  // closes; new clients wait in the kernel's listen queue.
  std::size_t maxConnections = 512;
  // How long stop() lets requests in flight finish before closing them.
  std::chrono::milliseconds stopTimeout{std::chrono::seconds(10)};
  // Errors nobody else sees (a handler threw, accept failed). Called from pool
  // threads, so it must be thread-safe. Default: dropped.
  std::function<void(std::string_view message)> logError;
};

class HttpServer {
 public:
  // Binds, listens and starts the pool. Errors say what to fix, e.g.
  // "cannot listen on 0.0.0.0:7700: address already in use".
  static Result<std::unique_ptr<HttpServer>, std::string> start(HttpServerConfig config,
                                                                Handler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound (useful with port 0).
  std::uint16_t port() const;
  bool tls() const;

  // Stops accepting, closes idle connections, lets requests in flight finish
  // (up to stopTimeout, then closes them too) and joins the threads. A
  // handler still running is waited for: handlers must have deadlines.
  // Idempotent; call it from any thread except the pool's.
  void stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ozy::http
