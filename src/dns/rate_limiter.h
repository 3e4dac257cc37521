// RateLimiter: how many of a client's queries the DNS server answers, as a
// token bucket per client address. Pure: the caller says what time it is.
//
// A client's bucket holds at most `burst` tokens and refills at
// `queriesPerSecond`; every query takes a token, and a query that finds none
// is limited. A limited query is dropped, except every `slip`-th in a row,
// which gets an empty truncated response (see Verdict::kTruncate). The
// scheme follows BIND's response rate limiting (its "slip") with a token
// bucket in place of its per-second window.
//
// The table of clients is bounded (`maxClients`): a new client beyond it
// evicts the one heard from least recently. A bucket left alone refills in
// burst / queriesPerSecond (2 s by default), so evicting a client quiet for
// longer than that forgets nothing. Under a flood of forged UDP sources the
// table churns, and a real client's bucket may be forgotten while it is
// limited: per-address limits cannot stop a flood of forged addresses, and
// the bound is there so that such a flood costs no more than the table.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/client_address.h"

namespace ozy::dns {

// The defaults. 100 queries a second is several times what a busy pod's
// resolver asks of the cluster domain (a lookup is an A and an AAAA query,
// times the search domains), yet keeps any one client to a small share of
// a responder thread. The burst of 200 (two seconds' worth) lets a client
// that opens many connections at once resolve them all without waiting.
inline constexpr std::uint32_t kDefaultQueriesPerSecond = 100;
inline constexpr std::uint32_t kDefaultBurst = 200;
// More than the pods of any node; about 100 bytes each, so 0.5 MB a table.
inline constexpr std::size_t kDefaultMaxClients = 4096;
// Every second limited query is answered truncated, as BIND's default does.
inline constexpr std::uint32_t kDefaultSlip = 2;

struct RateLimit {
  std::uint32_t queriesPerSecond = kDefaultQueriesPerSecond;  // 0: no limit
  std::uint32_t burst = kDefaultBurst;                        // at least 1 with a limit
  std::size_t maxClients = kDefaultMaxClients;                // at least 1 with a limit
  std::uint32_t slip = kDefaultSlip;  // every slip-th limited query in a row; 0: none
};

// What is wrong with `limit`, one sentence per field; empty when usable.
std::vector<std::string> rateLimitProblems(const RateLimit& limit);

enum class Verdict {
  kAnswer,
  // Over the limit: an empty response with TC set, no larger than the query
  // (so nothing is amplified towards a forged source), tells a real client
  // to ask again over TCP, where its address is not forged.
  kTruncate,
  kDrop,  // over the limit: no response at all
};

struct Admission {
  Verdict verdict = Verdict::kAnswer;
  // The first limited query since the client was last answered: worth a log line.
  bool startsLimiting = false;
};

class RateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `limit` as rateLimitProblems() accepts it. `seed` keys the table's hash
  // (client_address.h): pass something unpredictable.
  RateLimiter(const RateLimit& limit, std::uint64_t seed);

  // Whether the query `client` sent at `now` is answered. Times earlier than
  // one already seen count as that one.
  Admission admit(const ClientAddress& client, TimePoint now);

  std::size_t trackedClients() const { return clients_.size(); }
  bool tracks(const ClientAddress& client) const { return clients_.contains(client); }

 private:
  struct Client {
    double tokens = 0;
    TimePoint refilled;
    std::uint32_t limitedInARow = 0;
    std::list<ClientAddress>::iterator recency;  // its place in recency_
  };

  Client& find(const ClientAddress& client, TimePoint now);

  const RateLimit limit_;
  // Most recently heard first, so the one to evict is at the back.
  std::list<ClientAddress> recency_;
  std::unordered_map<ClientAddress, Client, ClientAddressHash> clients_;
};

}  // namespace ozy::dns
