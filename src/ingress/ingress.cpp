#include "ingress/ingress.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "ingress/worker.h"

namespace ozy::ingress {

using error_code = boost::system::error_code;

namespace {

constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

std::string listenFailure(const error_code& ec) {
  if (ec == net::error::address_in_use) return "the port is in use (another ingress or program has it)";
  if (ec == net::error::access_denied) return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
  if (ec == boost::system::errc::address_not_available) return "no interface of this host has that address";
  return ec.message();
}

}  // namespace

class Ingress::Impl {
 public:
  explicit Impl(IngressConfig config) : shared_(std::move(config)) {
    const int threads = std::max(1, shared_.config.threads);
    for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(shared_));
    acceptor_.emplace(workers_.front()->ioc);
    retryTimer_.emplace(workers_.front()->ioc);
  }
  ~Impl() { stop(); }

  std::string listen() {
    const auto& c = shared_.config;
    error_code ec;
    address_ = net::ip::make_address(c.address, ec);
    if (ec) return fmt::format("cannot listen on {}:{}: \"{}\" is not an IP address", c.address, c.port, c.address);
    const tcp::endpoint endpoint(address_, c.port);
    open(*acceptor_, endpoint, ec);
    if (!ec) port_ = acceptor_->local_endpoint(ec).port();
    if (ec) return fmt::format("cannot listen on {}:{}: {}", c.address, c.port, listenFailure(ec));
    return {};
  }

  void run() {
    net::post(workers_.front()->ioc, [this] { accept(); });
    for (auto& worker : workers_) worker->thread = std::thread([w = worker.get()] { w->run(); });
  }

  void setRoutes(std::shared_ptr<const RouteTable> table) {
    std::vector<std::uint16_t> ports = table->tcpPorts();
    shared_.setRoutes(std::move(table));
    net::post(workers_.front()->ioc, [this, ports = std::move(ports)] { listenTcp(ports); });
  }

  std::uint16_t port() const { return port_; }

  std::vector<std::uint16_t> tcpPorts() const {
    std::lock_guard lock(tcpMutex_);
    return tcpOpen_;
  }

  std::vector<RequestCount> requestCounts() const {
    std::map<std::pair<std::string, int>, std::uint64_t> sum;
    for (const auto& worker : workers_) {
      for (const auto& [key, count] : worker->counts()) sum[key] += count;
    }
    std::vector<RequestCount> out;
    for (const auto& [key, count] : sum) out.push_back(RequestCount{key.first, key.second, count});
    return out;
  }

  std::vector<RequestDurations> requestDurations() const {
    std::map<std::string, RequestDurations> sum;
    for (const auto& worker : workers_) {
      for (const auto& [job, d] : worker->durations()) {
        RequestDurations& total = sum[job];
        total.job = job;
        for (std::size_t i = 0; i < d.bucketCounts.size(); ++i) total.bucketCounts[i] += d.bucketCounts[i];
        total.sumSeconds += d.sumSeconds;
      }
    }
    std::vector<RequestDurations> out;
    for (auto& [job, d] : sum) out.push_back(std::move(d));
    return out;
  }

  void stop() {
    std::lock_guard lock(stopMutex_);
    if (stopped_) return;
    stopped_ = true;
    net::post(workers_.front()->ioc, [this] {
      error_code ignored;
      acceptor_->close(ignored);
      retryTimer_->cancel();
      for (auto& [port, acceptor] : tcpAcceptors_) acceptor->close(ignored);
    });
    // Idle connections close now, busy ones after their response.
    shared_.registry.closeAll(shared_.config.stopTimeout);
    // What is left (pooled backend connections, tunnels) ends with the
    // workers' loops.
    for (auto& worker : workers_) {
      worker->release();
      worker->ioc.stop();
    }
    for (auto& worker : workers_) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }

 private:
  static void open(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, error_code& ec) {
    acceptor.open(endpoint.protocol(), ec);
    // A restarted agent must be able to bind while connections of its
    // previous run sit in TIME_WAIT.
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  }

  Worker& nextWorker() { return *workers_[next_++ % workers_.size()]; }

  void accept() {
    if (shared_.registry.stopping() || !acceptor_->is_open()) return;
    const bool room = shared_.registry.hasRoomOrNotify(
        [this] { net::post(workers_.front()->ioc, [this] { accept(); }); });
    if (!room) return;  // resumed when a connection closes
    Worker& worker = nextWorker();
    acceptor_->async_accept(worker.ioc, [this, &worker](error_code ec, Socket socket) {
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
      if (ec) {
        shared_.logError(fmt::format("ingress: accept failed: {}", ec.message()));
        retryTimer_->expires_after(kAcceptRetryDelay);
        retryTimer_->async_wait([this](error_code waitEc) {
          if (!waitEc) accept();
        });
        return;
      }
      net::post(worker.ioc, [&worker, s = std::move(socket)]() mutable { startHttpSession(worker, std::move(s)); });
      accept();
    });
  }

  // On the first worker's thread: one listener per TCP route's port.
  void listenTcp(const std::vector<std::uint16_t>& ports) {
    for (auto it = tcpAcceptors_.begin(); it != tcpAcceptors_.end();) {
      if (std::find(ports.begin(), ports.end(), it->first) == ports.end()) {
        error_code ignored;
        it->second->close(ignored);
        it = tcpAcceptors_.erase(it);
      } else {
        ++it;
      }
    }
    if (!shared_.registry.stopping()) {
      for (std::uint16_t port : ports) {
        if (tcpAcceptors_.contains(port)) continue;
        auto acceptor = std::make_shared<tcp::acceptor>(workers_.front()->ioc);
        error_code ec;
        open(*acceptor, tcp::endpoint(address_, port), ec);
        if (ec) {
          // Tried again with the next table (every status change brings one).
          shared_.logError(fmt::format("ingress: cannot listen on {}:{} for a TCP route: {}",
                                       address_.to_string(), port, listenFailure(ec)));
          continue;
        }
        tcpAcceptors_[port] = acceptor;
        acceptTcp(acceptor, port);
      }
    }
    std::lock_guard lock(tcpMutex_);
    tcpOpen_.clear();
    for (const auto& [port, acceptor] : tcpAcceptors_) tcpOpen_.push_back(port);
  }

  void acceptTcp(const std::shared_ptr<tcp::acceptor>& acceptor, std::uint16_t port) {
    Worker& worker = nextWorker();
    acceptor->async_accept(worker.ioc, [this, acceptor, port, &worker](error_code ec, Socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (ec) {
        // Out of file descriptors, most likely: accepting again at once
        // would spin.
        shared_.logError(fmt::format("ingress: accept on TCP route port {} failed: {}", port, ec.message()));
        auto timer = std::make_shared<net::steady_timer>(workers_.front()->ioc, kAcceptRetryDelay);
        timer->async_wait([this, acceptor, port, timer](error_code waitEc) {
          if (!waitEc && acceptor->is_open()) acceptTcp(acceptor, port);
        });
        return;
      }
      net::post(worker.ioc,
                [&worker, port, s = std::move(socket)]() mutable { startTcpSession(worker, std::move(s), port); });
      acceptTcp(acceptor, port);
    });
  }

  Shared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> retryTimer_;
  net::ip::address address_;
  std::uint16_t port_ = 0;
  std::size_t next_ = 0;
  std::map<std::uint16_t, std::shared_ptr<tcp::acceptor>> tcpAcceptors_;
  mutable std::mutex tcpMutex_;
  std::vector<std::uint16_t> tcpOpen_;
  std::mutex stopMutex_;
  bool stopped_ = false;
};

Result<std::unique_ptr<Ingress>, std::string> Ingress::start(IngressConfig config) {
  if (config.threads < 1 || config.threads > 256) return fail(std::string("ingress threads must be 1 to 256"));
  auto impl = std::make_unique<Impl>(std::move(config));
  if (std::string error = impl->listen(); !error.empty()) return fail(std::move(error));
  impl->run();
  return std::unique_ptr<Ingress>(new Ingress(std::move(impl)));
}

Ingress::Ingress(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ingress::~Ingress() {
  stop();
}
void Ingress::setRoutes(std::shared_ptr<const RouteTable> table) {
  impl_->setRoutes(std::move(table));
}
std::uint16_t Ingress::port() const {
  return impl_->port();
}
std::vector<std::uint16_t> Ingress::tcpPorts() const {
  return impl_->tcpPorts();
}
std::vector<RequestCount> Ingress::requestCounts() const {
  return impl_->requestCounts();
}

std::vector<RequestDurations> Ingress::requestDurations() const { return impl_->requestDurations(); }
void Ingress::stop() {
  impl_->stop();
}

}  // namespace ozy::ingress
