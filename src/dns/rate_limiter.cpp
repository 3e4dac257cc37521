#include "dns/rate_limiter.h"

#include <algorithm>

#include <fmt/format.h>

namespace ozy::dns {

std::vector<std::string> rateLimitProblems(const RateLimit& limit) {
  std::vector<std::string> problems;
  if (limit.queriesPerSecond == 0) return problems;
  if (limit.burst == 0) {
    problems.push_back(
        fmt::format("a rate limit of {} queries a second needs a burst of at least 1 query",
                    limit.queriesPerSecond));
  }
  if (limit.maxClients == 0) {
    problems.push_back("a rate limit needs room for at least 1 client in its table");
  }
  return problems;
}

RateLimiter::RateLimiter(const RateLimit& limit, std::uint64_t seed)
    : limit_(limit), clients_(0, ClientAddressHash{seed}) {}

RateLimiter::Client& RateLimiter::find(const ClientAddress& client, TimePoint now) {
  if (auto found = clients_.find(client); found != clients_.end()) {
    recency_.splice(recency_.begin(), recency_, found->second.recency);
    return found->second;
  }
  if (clients_.size() >= limit_.maxClients) {
    clients_.erase(recency_.back());
    recency_.pop_back();
  }
  recency_.push_front(client);
  Client fresh;
  fresh.tokens = limit_.burst;
  fresh.refilled = now;
  fresh.recency = recency_.begin();
  return clients_.emplace(client, fresh).first->second;
}

Admission RateLimiter::admit(const ClientAddress& client, TimePoint now) {
  if (limit_.queriesPerSecond == 0) return {};
  Client& c = find(client, now);
  if (now > c.refilled) {
    const double elapsed = std::chrono::duration<double>(now - c.refilled).count();
    c.tokens = std::min<double>(limit_.burst, c.tokens + elapsed * limit_.queriesPerSecond);
    c.refilled = now;
  }
  if (c.tokens >= 1) {
    c.tokens -= 1;
    c.limitedInARow = 0;
    return {};
  }
  ++c.limitedInARow;
  Admission out;
  out.startsLimiting = c.limitedInARow == 1;
  out.verdict =
      limit_.slip != 0 && c.limitedInARow % limit_.slip == 0 ? Verdict::kTruncate : Verdict::kDrop;
  return out;
}

}  // namespace ozy::dns
