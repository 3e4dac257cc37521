// UdpListener: answers the DNS queries that arrive on the server's UDP
// socket, within each client's rate limit (rate_limiter.h). One thread runs
// serve(); when it fails the server runs it again (restarting_thread.h) on
// the same socket, with the same limiter.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "dns/ldns_message.h"
#include "dns/log_throttle.h"
#include "dns/rate_limiter.h"
#include "store/store.h"  // Done

namespace ozy::dns {

class UdpListener {
 public:
  // `fd` a bound non-blocking UDP socket, owned by the caller.
  // `hook`, if any, is called at the start of every round of serving (see
  // DnsServerConfig::onServingRound).
  UdpListener(int fd, const RateLimit& limit, std::uint64_t seed, Resolve resolve,
              std::function<void(Transport)> hook);

  // Answers until `stopping` is set, then returns Done; an error when the
  // socket fails.
  Result<Done, std::string> serve(const std::atomic<bool>& stopping);

 private:
  void answerWaiting(std::vector<std::uint8_t>& buffer);

  const int fd_;
  const RateLimit limit_;
  RateLimiter limiter_;
  const Resolve resolve_;
  const std::function<void(Transport)> hook_;
  LogThrottle limitedLog_;
};

}  // namespace ozy::dns
