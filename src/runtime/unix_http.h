// UnixHttpClient: synchronous HTTP/1.1 over a UNIX stream socket, for
// talking to local daemons such as podman's API service.
//
// One request per connection (podman hijacks connections for some endpoints,
// so reuse buys little and risks much); a single deadline covers connecting,
// writing the request and reading the whole response. Chunked and
// read-until-close bodies both work. Failures come back as text naming the
// socket, e.g. "cannot connect to /run/podman/podman.sock: no such file or
// directory"; any HTTP status is a response, not a failure.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stop_token>
#include <string>

#include "common/result.h"
#include "http/client.h"  // ClientRequest, ClientResponse

namespace ozy::runtime {

struct UnixHttpConfig {
  std::string socketPath;
  std::chrono::milliseconds deadline{std::chrono::seconds(10)};
  std::size_t bodyLimit = std::size_t{16} << 20;
};

// Why an exchange failed: timeouts are told apart so callers can say "slow"
// rather than "down".
struct UnixHttpError {
  bool timedOut = false;
  bool connectFailed = false;
  bool stopped = false;  // abandoned through the stop token
  std::string message;
};

class UnixHttpClient {
 public:
  explicit UnixHttpClient(UnixHttpConfig config) : config_(std::move(config)) {}

  // `deadline` overrides the configured one for calls that legitimately take
  // long (a stop that waits for its timeout, an exec). A stop requested
  // through `stop` abandons the exchange at once (an image pull that would
  // hold an agent's shutdown for its whole deadline). Thread-safe.
  Result<http::ClientResponse, UnixHttpError> send(
      const http::ClientRequest& request,
      std::optional<std::chrono::milliseconds> deadline = std::nullopt,
      std::stop_token stop = {}) const;

  const UnixHttpConfig& config() const { return config_; }

 private:
  UnixHttpConfig config_;
};

}  // namespace ozy::runtime
