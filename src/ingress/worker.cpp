#include "ingress/worker.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

namespace ozy::ingress {

std::optional<std::size_t> Balancer::pick(std::size_t index, const std::vector<tcp::endpoint>& endpoints,
                                          const std::vector<tcp::endpoint>& tried, Clock::time_point now) {
  const std::size_t n = endpoints.size();
  if (n == 0 || index >= cursors_.size()) return std::nullopt;
  std::optional<std::size_t> fallback;
  const std::uint32_t start = cursors_[index];
  for (std::size_t step = 0; step < n; ++step) {
    const std::size_t i = (start + step) % n;
    const tcp::endpoint& candidate = endpoints[i];
    // An address that did not parse (Worker::routes) reaches nobody: as
    // 0.0.0.0 it would reach this very host.
    if (candidate.address().is_unspecified()) continue;
    if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
    if (!ejected_.empty()) {
      const auto it = ejected_.find(candidate);
      if (it != ejected_.end()) {
        if (it->second > now) {
          if (!fallback) fallback = i;
          continue;
        }
        ejected_.erase(it);
      }
    }
    cursors_[index] = static_cast<std::uint32_t>(i + 1);
    return i;
  }
  if (fallback) cursors_[index] = static_cast<std::uint32_t>(*fallback + 1);
  return fallback;
}

namespace {

// An idle connection the backend has closed (or sent something on, which a
// backend must not do unasked) reads as ready: it cannot carry a request.
bool looksOpen(Stream& stream) {
  char byte = 0;
  const ssize_t n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

constexpr auto kTrustedIdle = std::chrono::milliseconds(250);

}  // namespace

std::unique_ptr<Stream> UpstreamPool::take(const tcp::endpoint& endpoint, Clock::time_point now,
                                                    bool check) {
  const auto it = idle_.find(endpoint);
  if (it == idle_.end()) return nullptr;
  auto& idle = it->second;
  while (!idle.empty()) {
    Idle entry = std::move(idle.back());
    idle.pop_back();
    // For a request that may go again (idempotent), a connection back in
    // the pool for less than kTrustedIdle is taken without the check's
    // system call: under load that is nearly every one, a backend that
    // closes so soon after answering is rare, and should one have, the
    // request goes to another connection. Any other request gets the check.
    const auto idleFor = now - entry.since;
    if (idleFor < idleTimeout_ && ((!check && idleFor < kTrustedIdle) || looksOpen(*entry.stream))) {
      if (idle.empty()) idle_.erase(it);
      return std::move(entry.stream);
    }
  }
  idle_.erase(it);
  return nullptr;
}

void UpstreamPool::put(const tcp::endpoint& endpoint, std::unique_ptr<Stream> stream, Clock::time_point now) {
  auto& idle = idle_[endpoint];
  // The oldest are closest to the backend's own timeout: they go first.
  while (!idle.empty() && (idle.size() >= perBackend_ || now - idle.front().since >= idleTimeout_)) {
    idle.pop_front();
  }
  if (perBackend_ == 0) return;
  stream->expires_never();
  idle.push_back(Idle{std::move(stream), now});
}

void UpstreamPool::retain(const std::vector<tcp::endpoint>& keep) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    it = std::find(keep.begin(), keep.end(), it->first) == keep.end() ? idle_.erase(it) : std::next(it);
  }
}

const std::shared_ptr<const RouteView>& Worker::routes() {
  const std::uint64_t current = shared_.version.load(std::memory_order_acquire);
  if (current == version_ && view_) return view_;
  auto view = std::make_shared<RouteView>();
  {
    std::lock_guard lock(shared_.tableMutex);
    view->table = shared_.table;
    version_ = shared_.version.load(std::memory_order_relaxed);
  }
  std::vector<tcp::endpoint> all;
  for (const Route& route : view->table->routes()) {
    std::vector<tcp::endpoint> list;
    for (const Backend& backend : route.backends) {
      boost::system::error_code ec;
      const auto address = net::ip::make_address(backend.address, ec);
      // A status with an address that does not parse reaches nobody; the
      // list keeps its place so indices match route.backends.
      list.emplace_back(ec ? net::ip::address() : address, backend.port);
    }
    all.insert(all.end(), list.begin(), list.end());
    view->endpoints.push_back(std::move(list));
  }
  balancer.reset(view->table->routeCount());
  // Connections to instances that left (stopped, unhealthy, moved) go now;
  // requests in flight on them finish first (they are not in the pool).
  pool.retain(all);
  view_ = std::move(view);
  return view_;
}

void Worker::count(const std::string& job, int status, std::optional<double> seconds) {
  std::lock_guard lock(countsMutex_);
  ++counts_[{job, status}];
  if (!seconds) return;
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kRequestDurationBounds.begin(), kRequestDurationBounds.end(), *seconds) -
      kRequestDurationBounds.begin());
  RequestDurations& d = durations_[job];
  d.job = job;
  ++d.bucketCounts[bucket];
  d.sumSeconds += *seconds;
}

std::map<std::string, RequestDurations> Worker::durations() const {
  std::lock_guard lock(countsMutex_);
  return durations_;
}

std::map<std::pair<std::string, int>, std::uint64_t> Worker::counts() const {
  std::lock_guard lock(countsMutex_);
  return counts_;
}

void Worker::run() {
  // A handler is not meant to throw; if one does, the worker logs it and
  // goes on serving its other connections.
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      shared_.logError(fmt::format("ingress: unexpected exception: {}", e.what()));
    }
  }
}

}  // namespace ozy::ingress
