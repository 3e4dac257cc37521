// The ingress's internals: what its workers share, and what each worker
// keeps for itself (its view of the route table, its round-robin cursors
// and passive-health verdicts, its pool of idle backend connections).
// Internal to src/ingress.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/rate_policy.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/connection_registry.h"
#include "ingress/ingress.h"
#include "ingress/route_table.h"

namespace ozy::ingress {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
// Sockets and streams bound to a worker's io_context by type, not through
// Asio's type-erased executor, whose copies cost on every operation.
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using Timer = net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Executor>;

// Everything the workers share. Owned by Ingress::Impl, which outlives them.
struct Shared {
  explicit Shared(IngressConfig c)
      : config(std::move(c)), registry(config.maxConnections, config.maxConnectionsPerClient) {}

  const IngressConfig config;
  http::ConnectionRegistry registry;

  void setRoutes(std::shared_ptr<const RouteTable> next) {
    std::lock_guard lock(tableMutex);
    table = std::move(next);
    version.fetch_add(1, std::memory_order_release);
  }
  void logError(std::string_view message) const {
    if (config.logError) config.logError(message);
  }

  std::mutex tableMutex;
  std::shared_ptr<const RouteTable> table = std::make_shared<const RouteTable>();
  std::atomic<std::uint64_t> version{1};
};

// Round robin over a route's backends, passing over the ones that refused a
// connection lately (passive health: the health checks notice later).
class Balancer {
 public:
  void reset(std::size_t routes) { cursors_.assign(routes, 0); }
  // The next backend of route `index` not in `tried` and not ejected; if
  // all untried ones are ejected, the next untried one anyway (better a try
  // than a certain error). Null when every backend has been tried (or has
  // no address).
  std::optional<std::size_t> pick(std::size_t index, const std::vector<tcp::endpoint>& endpoints,
                                  const std::vector<tcp::endpoint>& tried, Clock::time_point now);
  void eject(const tcp::endpoint& endpoint, Clock::time_point until) { ejected_[endpoint] = until; }

 private:
  std::vector<std::uint32_t> cursors_;
  std::map<tcp::endpoint, Clock::time_point> ejected_;
};

// Idle keep-alive connections to backends, newest last.
class UpstreamPool {
 public:
  UpstreamPool(std::size_t perBackend, std::chrono::milliseconds idleTimeout)
      : perBackend_(perBackend), idleTimeout_(idleTimeout) {}
  // An idle connection that still looks open, or null. `check`: make
  // sure the backend has not closed it, even if it was in use just now.
  std::unique_ptr<Stream> take(const tcp::endpoint& endpoint, Clock::time_point now, bool check = true);
  void put(const tcp::endpoint& endpoint, std::unique_ptr<Stream> stream, Clock::time_point now);
  // Closes the connections to backends not in `keep`.
  void retain(const std::vector<tcp::endpoint>& keep);
  void clear() { idle_.clear(); }

 private:
  struct Idle {
    std::unique_ptr<Stream> stream;
    Clock::time_point since;
  };
  const std::size_t perBackend_;
  const std::chrono::milliseconds idleTimeout_;
  std::map<tcp::endpoint, std::deque<Idle>> idle_;
};

// A worker's view of one route table: the table, and each route's backends
// as endpoints (parsed once per table, not per request). A session holds the
// view its request was routed with, so a new table mid-request changes
// nothing under it.
struct RouteView {
  std::shared_ptr<const RouteTable> table;
  std::vector<std::vector<tcp::endpoint>> endpoints;  // by route index, as route.backends
};

class Worker {
 public:
  explicit Worker(Shared& shared)
      : shared_(shared),
        pool(shared.config.poolPerBackend, shared.config.poolIdleTimeout),
        keepRunning_(net::make_work_guard(ioc)) {}

  // The current view, made anew when setRoutes() replaced the table. Call
  // on this worker's thread only.
  const std::shared_ptr<const RouteView>& routes();

  // `seconds`: how long a request took; none for a TCP connection, which
  // counts by status only.
  void count(const std::string& job, int status, std::optional<double> seconds = std::nullopt);
  std::map<std::pair<std::string, int>, std::uint64_t> counts() const;
  std::map<std::string, RequestDurations> durations() const;

  void run();
  void release() { keepRunning_.reset(); }

  Shared& shared_;
  net::io_context ioc{1};
  Balancer balancer;
  UpstreamPool pool;
  std::thread thread;

 private:
  net::executor_work_guard<net::io_context::executor_type> keepRunning_;
  std::shared_ptr<const RouteView> view_;
  std::uint64_t version_ = 0;
  mutable std::mutex countsMutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;
  std::map<std::string, RequestDurations> durations_;
};

// Serves one client connection on `worker`'s thread until it closes.
void startHttpSession(Worker& worker, Socket socket);

// Relays bytes both ways between two connected streams until both sides
// have finished (a half-close is passed on) or neither spoke for `idle`.
// `toB` and `toA` are bytes already read from A (for B) and from B (for A).
void startTunnel(Stream a, Stream b, std::string toB, std::string toA,
                 std::chrono::milliseconds idle);

// Connects a TCP-route client to a backend of route `port` and tunnels.
void startTcpSession(Worker& worker, Socket socket, std::uint16_t port);

}  // namespace ozy::ingress
