// Ingress: every node's HTTP/1.1 (and TCP) entry to the cluster's jobs
// (docs/ingress.md). It routes a request by its Host to a healthy instance of
// the job that claims the host, anywhere in the cluster, over the pod
// network, and a TCP connection to a claimed port byte for byte likewise.
//
// Threads: `threads` workers, each with its own io_context, so a connection,
// its backend connections and the worker's pool and balancer state are only
// ever touched by one thread and need no locks. One acceptor hands new
// connections to the workers in turn. The route table is swapped in whole
// (setRoutes) and picked up by each worker before its next request.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "ingress/request_rules.h"
#include "ingress/route_table.h"

namespace ozy::ingress {

class AccessLog;

struct IngressConfig {
  std::string address = "0.0.0.0";  // an IP address; TCP routes listen on it too
  std::uint16_t port = 0;           // 0: the kernel picks (tests); see Ingress::port()
  int threads = 2;
  TrustedNetworks trustedProxies;   // whose X-Forwarded-* are kept
  // Client side. The header of a request must arrive within headerTimeout
  // of the connection's start; between requests a keep-alive connection
  // may stay silent for idleTimeout; the body must arrive within
  // requestTimeout of its header.
  std::chrono::milliseconds headerTimeout{std::chrono::seconds(10)};
  std::chrono::milliseconds idleTimeout{std::chrono::seconds(60)};
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(60)};
  std::size_t headerLimit = std::size_t{16} << 10;  // 431 above
  std::size_t bodyLimit = std::size_t{16} << 20;    // 413 above
  std::size_t maxConnections = 10'000;
  std::size_t maxConnectionsPerClient = 1'000;
  // Backend side.
  std::chrono::milliseconds connectTimeout{std::chrono::seconds(2)};
  // For the response's header, and between pieces of its body.
  std::chrono::milliseconds upstreamTimeout{std::chrono::seconds(60)};
  // Idle keep-alive connections kept per backend and worker, and for how
  // long (below the common backend keep-alive timeouts of 5 s and more, so
  // the backend is rarely the one to close first).
  std::size_t poolPerBackend = 64;
  std::chrono::milliseconds poolIdleTimeout{std::chrono::seconds(4)};
  // A backend that refuses a connection is passed over this long.
  std::chrono::milliseconds passiveEjection{std::chrono::seconds(5)};
  // Backends tried per request, at most.
  int attempts = 3;
  // A WebSocket or TCP connection silent both ways this long is closed.
  std::chrono::milliseconds tunnelIdleTimeout{std::chrono::hours(1)};
  // How long stop() lets requests in flight finish.
  std::chrono::milliseconds stopTimeout{std::chrono::seconds(10)};
  std::shared_ptr<AccessLog> accessLog;  // null: none
  std::function<void(std::string_view message)> logError;  // thread-safe; default: dropped
};

// Requests answered, per job and status ("" for requests no job claims).
struct RequestCount {
  std::string job;
  int status = 0;
  std::uint64_t count = 0;
  bool operator==(const RequestCount&) const = default;
};

// Upper bounds, in seconds, of the buckets requestDurations() counts in.
inline constexpr std::array<double, 13> kRequestDurationBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25,  0.5,    1,     2.5,  5,     10};

// How long requests of one job ("" for those no job claims) took, from
// their first byte to the answer's last: bucketCounts[i] answered within
// kRequestDurationBounds[i] but not within the bound before; the last
// entry counts those slower than every bound.
struct RequestDurations {
  std::string job;
  std::array<std::uint64_t, kRequestDurationBounds.size() + 1> bucketCounts{};
  double sumSeconds = 0;
};

class Ingress {
 public:
  // Binds and starts serving with an empty table (every host unknown).
  // Errors say what to fix: "cannot listen on 0.0.0.0:80: address in use".
  static Result<std::unique_ptr<Ingress>, std::string> start(IngressConfig config);
  ~Ingress();  // stop()
  Ingress(const Ingress&) = delete;
  Ingress& operator=(const Ingress&) = delete;

  // From any thread. Requests already routed finish where they were sent.
  void setRoutes(std::shared_ptr<const RouteTable> table);
  std::uint16_t port() const;
  // TCP ports listened on for TCP routes now.
  std::vector<std::uint16_t> tcpPorts() const;
  std::vector<RequestCount> requestCounts() const;
  std::vector<RequestDurations> requestDurations() const;
  // Stops accepting, lets requests in flight finish (stopTimeout), closes
  // the rest and joins the workers. Safe to call twice.
  void stop();

  class Impl;

 private:
  explicit Ingress(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ozy::ingress
