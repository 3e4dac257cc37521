// TcpListener: accepts DNS-over-TCP connections on the server's listening
// socket and answers their queries, all non-blocking on one thread (poll),
// so a slow or silent client holds nothing but its own connection. Bounds:
// connections in all and per client address, the deadlines of
// tcp_connection.h, and each client's rate limit (rate_limiter.h). When
// serve() fails the server runs it again (restarting_thread.h) on the same
// socket; the connections of the failed run are closed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "dns/ldns_message.h"
#include "dns/log_throttle.h"
#include "dns/rate_limiter.h"
#include "dns/tcp_connection.h"
#include "store/store.h"  // Done

namespace ozy::dns {

class TcpListener {
 public:
  // `fd` a listening non-blocking TCP socket, owned by the caller. `hook`,
  // if any, is called at the start of every round of serving (see
  // DnsServerConfig::onServingRound).
  TcpListener(int fd, const TcpLimits& limits, const RateLimit& limit, std::uint64_t seed,
              Resolve resolve, std::function<void(Transport)> hook);

  // Serves until `stopping` is set, then returns Done; an error when the
  // listening socket fails.
  Result<Done, std::string> serve(const std::atomic<bool>& stopping);

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  void acceptWaiting(std::vector<TcpConnection>& connections, TimePoint now);
  // False when the connection is to be closed.
  bool service(TcpConnection& connection, short revents, TimePoint now);
  void answerReceived(TcpConnection& connection, TimePoint now);

  const int fd_;
  const TcpLimits limits_;
  const RateLimit limit_;
  RateLimiter limiter_;
  const Resolve resolve_;
  const std::function<void(Transport)> hook_;
  // accept() failing for want of descriptors leaves the socket readable:
  // accepting pauses briefly instead of spinning.
  TimePoint acceptPausedUntil_;
  LogThrottle limitedLog_;
  LogThrottle crowdedLog_;
};

}  // namespace ozy::dns
