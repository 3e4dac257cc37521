// HttpServer: the HTTP/1.1 (optionally TLS) listener in front of a Handler.
//
// One io_context run by a fixed pool of threads; one session per connection
// in Beast's asynchronous style (Boost 1.74 does not enable co_await for
// clang with libstdc++). Every limit is explicit: request read timeout (which
// also closes idle keep-alive connections), header and body size, number of
// connections and of streamed responses, and how long stop() waits for
// requests in flight.
//
// A streamed response (Response::stream) may run for hours, so it has no
// overall deadline; instead each chunk's write is bounded by the request
// timeout, a read stays pending on the connection so that a client that
// leaves is noticed while the producer waits for data, and stop() ends it.
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

// Decides on a request from its request line and header alone, before any
// of its body is read: a refusal (nullopt admits it) is answered at once and
// the connection closed, so an unauthenticated client cannot make the server
// buffer a body. The Request has everything but the body. Runs on the I/O
// threads: it must not block.
using Admission = std::function<std::optional<Response>(const Request& head)>;

struct HttpServerConfig {
  std::string address = "127.0.0.1";  // an IP address; "0.0.0.0" or "::" for all
  std::uint16_t port = 0;             // 0: the kernel picks; see HttpServer::port()
  std::optional<TlsFiles> tls;        // absent: plain HTTP
  // Threads doing socket I/O only; handlers run in their own pool.
  int threads = 2;
  // Threads running handlers, and how many requests may wait for one; a
  // request beyond that is answered 503 with Retry-After at once.
  int handlerThreads = 4;
  std::size_t handlerQueue = 64;
  // Streamed responses at once. Each producer holds a thread of this pool
  // (not a handler thread) for as long as its stream lasts, so that long
  // streams such as log follows never starve ordinary requests; a stream
  // beyond the bound is answered 503 with Retry-After instead.
  int streamThreads = 16;
  // Time a client has to deliver a request's line and header, counted from
  // the connection's start or the previous response; an idle keep-alive
  // connection is closed when it runs out.
  std::chrono::milliseconds headerTimeout{std::chrono::seconds(10)};
  // Time a client has to deliver the whole request (header and body) from
  // the same start. Also bounds each response write, and each chunk's write
  // of a streamed response.
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(30)};
  std::size_t bodyLimit = std::size_t{1} << 20;
  // The request line and header fields. The read buffer is bounded by this
  // plus a little, so a chunk-size line, chunk extensions or trailers can
  // never make the server hold more.
  std::size_t headerLimit = std::size_t{16} << 10;
  // Open connections in all, and from one client address. At either bound
  // the connection that has waited longest for a request is closed for the
  // newcomer (http/connection_registry.h).
  std::size_t maxConnections = 512;
  std::size_t maxConnectionsPerAddress = 64;
  // How long stop() lets requests in flight finish before closing them.
  // Streams are ended at once (their producers see BodyWriter::open() turn
  // false) and waited for as long.
  std::chrono::milliseconds stopTimeout{std::chrono::seconds(10)};
  Admission admit;  // empty: every well-formed request is admitted
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

  // Stops accepting, closes idle connections, ends streams, lets requests in
  // flight finish (up to stopTimeout, then closes them too) and joins the
  // threads. A handler or producer still running is waited for: handlers
  // must have deadlines, and producers must return once their stream ends.
  // Idempotent; call it from any thread except the pool's.
  void stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ozy::http
