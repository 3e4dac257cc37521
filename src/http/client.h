// HttpClient: a synchronous HTTP/1.1 client for the CLI, for relaying
// between agents and for tests.
//
// One request per connection. send() reads the whole response, and a single
// deadline covers connecting, the TLS handshake, writing the request and
// reading the response. stream() hands the body over piece by piece as it
// arrives, for bodies that may never end (a log follow): the deadline covers
// everything up to the response header, and after it an idle timeout and a
// cancellation check bound the waits. Failures come back as text that says
// what failed and where, e.g. "cannot connect to 127.0.0.1:7700: connection
// refused".
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/message.h"
#include "http/url.h"

namespace ozy::http {

struct HttpClientConfig {
  std::string baseUrl;  // "http://host:port" or "https://host:port"
  // HTTPS: the PEM CA bundle that signed the server's certificate; empty for
  // the system's trust store. The server's name or IP address must appear in
  // its certificate.
  std::filesystem::path caFile;
  bool verifyServer = true;  // false only for experiments: anyone can pose as the server
  std::string bearerToken;   // empty: no Authorization header
  std::chrono::milliseconds deadline{std::chrono::seconds(10)};
  // The largest body send() reads, and stream() for a status other than 2xx.
  std::size_t bodyLimit = std::size_t{16} << 20;
};

struct ClientRequest {
  std::string method = "GET";
  std::string path = "/";  // origin form, already percent-encoded; may end in "?query"
  Headers headers;         // Connection and Content-Length are set by the client, Host unless given
  std::string body;
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// What stream() calls, on the caller's thread. Either may be empty; either
// returning false ends the exchange there (the connection is closed), and
// stream() returns the status.
struct StreamHandlers {
  // The status and header, before any of the body.
  std::function<bool(int status, const Headers& headers)> onHead;
  // Each piece of the body as it arrives, framing removed. Pieces have
  // nothing to do with the server's chunks: one may hold several, or part of
  // one.
  std::function<bool(std::string_view piece)> onChunk;
};

struct StreamOptions {
  // The longest wait for the next bytes of a 2xx body; 0: no limit.
  std::chrono::milliseconds idleTimeout{0};
  // Asked at least every 250 ms while waiting for the response header or
  // the body; true ends the exchange early. Empty: never.
  std::function<bool()> cancelled;
};

struct ClientTls;  // the TLS context, kept out of this header

class HttpClient {
 public:
  // Checks the URL, the token and (for https) loads the CA file.
  static Result<HttpClient, std::string> create(HttpClientConfig config);

  // Any HTTP status is a response; only a failed exchange is an error.
  // Safe to call from several threads at once.
  Result<ClientResponse, std::string> send(const ClientRequest& request) const;

  // Sends the request and reads the response's body piece by piece as it
  // arrives (chunked, Content-Length, or until the server closes), calling
  // the handlers; returns the status once the body is complete or a
  // handler or `cancelled` ended the exchange. The configured deadline covers
  // connecting, sending and the response header only; a 2xx body has no
  // deadline and no size limit, only options.idleTimeout between pieces. A
  // body of any other status (a problem document) is read as send() reads
  // it: within the deadline and bodyLimit. An error is a failed exchange,
  // including a body cut short, cancellation before the header, and the
  // idle timeout. Safe to call from several threads at once.
  Result<int, std::string> stream(const ClientRequest& request, const StreamHandlers& handlers,
                                  const StreamOptions& options = {}) const;

  const BaseUrl& baseUrl() const { return url_; }

 private:
  HttpClient(HttpClientConfig config, BaseUrl url, std::shared_ptr<const ClientTls> tls);

  HttpClientConfig config_;
  BaseUrl url_;
  std::shared_ptr<const ClientTls> tls_;  // null for http
};

}  // namespace ozy::http
