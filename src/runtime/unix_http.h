// UnixHttpClient: synchronous HTTP/1.1 over a UNIX stream socket, for
// talking to local daemons such as podman's API service.
//
// One request per connection (podman hijacks connections for some endpoints,
// so reuse buys little and risks much). send() buffers the whole response
// under a single deadline; sendStreaming() hands the body over as it
// arrives, for bodies that are large or endless (a followed log). Chunked
// and read-until-close bodies both work. Failures come back as text naming the
// socket, e.g. "cannot connect to /run/podman/podman.sock: no such file or
// directory"; any HTTP status is a response, not a failure.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

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

// The bounds of a streamed exchange, each counted from its start.
struct StreamDeadlines {
  // Connecting and sending the request: always bounded.
  std::chrono::milliseconds connect{std::chrono::seconds(10)};
  // Until the response header has arrived. nullopt: no bound but the stop
  // token, for a server that sends its header only with the first piece of
  // an endless body (podman 4.3.1 following a silent container's log).
  std::optional<std::chrono::milliseconds> head;
  // Until the body has ended; nullopt: likewise.
  std::optional<std::chrono::milliseconds> whole;
};

// How a streamed exchange that did not fail came to its end.
enum class StreamEnd {
  kComplete,  // the whole response was read
  kDeclined,  // a callback returned false
  kStopped,   // the stop token asked for it (before or after the header)
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

  // Sends `request` and hands the response over as it arrives: its status
  // and headers to `onHead` (body empty), then its body in pieces (at most
  // 64 KiB each) to `onBodyPiece`, until the body ends, a callback returns
  // false or `stop` is requested (which ends it at once, whatever it waits
  // for). The configured body limit does not apply: the callbacks keep what
  // they choose. The callbacks run on the calling thread. Thread-safe.
  Result<StreamEnd, UnixHttpError> sendStreaming(
      const http::ClientRequest& request, const StreamDeadlines& deadlines,
      const std::function<bool(const http::ClientResponse& head)>& onHead,
      const std::function<bool(std::string_view piece)>& onBodyPiece,
      std::stop_token stop = {}) const;

  const UnixHttpConfig& config() const { return config_; }

 private:
  UnixHttpConfig config_;
};

}  // namespace ozy::runtime
