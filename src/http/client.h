// HttpClient: a synchronous HTTP/1.1 client for the CLI and for tests.
//
// One request per connection; a single deadline covers connecting, the TLS
// handshake, writing the request and reading the response. Failures come back
// as text that says what failed and where, e.g. "cannot connect to
// 127.0.0.1:7700: connection refused".
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

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

struct ClientTls;  // the TLS context, kept out of this header

class HttpClient {
 public:
  // Checks the URL, the token and (for https) loads the CA file.
  static Result<HttpClient, std::string> create(HttpClientConfig config);

  // Any HTTP status is a response; only a failed exchange is an error.
  // Safe to call from several threads at once.
  Result<ClientResponse, std::string> send(const ClientRequest& request) const;

  const BaseUrl& baseUrl() const { return url_; }

 private:
  HttpClient(HttpClientConfig config, BaseUrl url, std::shared_ptr<const ClientTls> tls);

  HttpClientConfig config_;
  BaseUrl url_;
  std::shared_ptr<const ClientTls> tls_;  // null for http
};

}  // namespace ozy::http
