// HttpServer: listening, the accept loop, the thread pool and stop().
#include "http/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <thread>
#include <vector>

#include "http/connection_registry.h"
#include "http/session.h"
#include "http/tls_context.h"

namespace ozy::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// A full stop time for a lingering close or a TLS close_notify: long enough
// for a client to read its response, short enough not to hold stop() up.
constexpr std::chrono::milliseconds kMaxLinger{2000};
// A failing accept (out of file descriptors) is retried after this pause
// instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

std::chrono::milliseconds lingerTime(const HttpServerConfig& config) {
  return std::min(config.requestTimeout, kMaxLinger);
}

std::string endpointText(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return v6 ? fmt::format("[{}]:{}", address, port) : fmt::format("{}:{}", address, port);
}

// "Address already in use" -> "address already in use (...what to do...)".
std::string listenFailure(const error_code& ec) {
  std::string text = ec.message();
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  if (ec == boost::system::errc::address_in_use) {
    text += " (another process is listening there; stop it or choose another port)";
  } else if (ec == boost::system::errc::permission_denied) {
    text += " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
  } else if (ec == boost::system::errc::address_not_available) {
    text += " (no network interface of this machine has that address)";
  }
  return text;
}

std::string invalidConfig(const HttpServerConfig& config, const Handler& handler) {
  if (!handler) return "the HTTP server needs a handler";
  if (config.threads < 1)
    return fmt::format("HTTP server threads must be at least 1, not {}", config.threads);
  if (config.handlerThreads < 1) {
    return fmt::format("HTTP handler threads must be at least 1, not {}", config.handlerThreads);
  }
  if (config.streamThreads < 1) {
    return fmt::format("HTTP stream threads must be at least 1, not {}", config.streamThreads);
  }
  if (config.maxConnections < 1 || config.maxConnectionsPerAddress < 1) {
    return "the HTTP server's connection limits must be at least 1";
  }
  if (config.requestTimeout.count() <= 0 || config.headerTimeout.count() <= 0) {
    return "the HTTP header and request timeouts must be positive";
  }
  return {};
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerConfig config, Handler handler, TlsContextPtr tls)
      : config_(std::move(config)),
        handler_(std::move(handler)),
        tls_(std::move(tls)),
        registry_(config_.maxConnections, config_.maxConnectionsPerAddress),
        handlers_(config_.handlerThreads, config_.handlerQueue),
        // No queue: a stream that waited for a thread would wait for
        // another stream to end, which may take hours.
        streams_(config_.streamThreads, 0),
        sessionContext_{config_, handler_, registry_, handlers_, streams_, lingerTime(config_)},
        ioc_(config_.threads),
        keepRunning_(net::make_work_guard(ioc_)),
        acceptor_(net::make_strand(ioc_)),
        retryTimer_(acceptor_.get_executor()) {}

  std::string listen();
  void run();
  void stop();

  std::uint16_t port() const { return port_; }
  bool tls() const { return tls_ != nullptr; }

 private:
  void accept();
  void onAccept(error_code ec, tcp::socket socket);
  void runThread();

  // Destruction runs bottom-up: the io_context and the worker pools go
  // before the registry and the TLS context, because destroying them
  // destroys the sessions still queued in them, and those use both.
  HttpServerConfig config_;
  Handler handler_;
  TlsContextPtr tls_;
  ConnectionRegistry registry_;
  WorkerPool handlers_;
  WorkerPool streams_;  // the producers of streamed responses
  SessionContext sessionContext_;
  net::io_context ioc_;
  // Without it the I/O threads would return whenever no I/O is pending (a
  // paused accept loop, every request in the handler pool), and never come
  // back for the work posted afterwards. Released by stop().
  net::executor_work_guard<net::io_context::executor_type> keepRunning_;
  tcp::acceptor acceptor_;
  net::steady_timer retryTimer_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::mutex stopMutex_;
  bool stopped_ = false;
};

std::string HttpServer::Impl::listen() {
  const std::string where = endpointText(config_.address, config_.port);
  error_code ec;
  const auto address = net::ip::make_address(config_.address, ec);
  if (ec)
    return fmt::format("cannot listen on {}: \"{}\" is not an IP address", where, config_.address);
  const tcp::endpoint endpoint(address, config_.port);
  // Without SO_REUSEADDR a restarted agent could not bind while connections
  // of its previous run sit in TIME_WAIT. (Linux still refuses a second
  // listener on the same port.)
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (!ec) port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return fmt::format("cannot listen on {}: {}", where, listenFailure(ec));
  return {};
}

void HttpServer::Impl::run() {
  net::post(acceptor_.get_executor(), [this] { accept(); });
  threads_.reserve(static_cast<std::size_t>(config_.threads));
  for (int i = 0; i < config_.threads; ++i) threads_.emplace_back([this] { runThread(); });
}

void HttpServer::Impl::runThread() {
  // Completion handlers are not meant to throw; if one does, the server logs
  // it and keeps serving rather than taking the whole agent down.
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      sessionContext_.logError(fmt::format("HTTP server: unexpected exception: {}", e.what()));
    }
  }
}

void HttpServer::Impl::accept() {
  if (registry_.stopping() || !acceptor_.is_open()) return;
  const bool room = registry_.hasRoomOrNotify(
      [this] { net::post(acceptor_.get_executor(), [this] { accept(); }); });
  if (!room) return;  // resumed when a connection closes
  acceptor_.async_accept(net::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
    onAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::onAccept(error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    sessionContext_.logError(fmt::format("HTTP server: accept failed: {}", ec.message()));
    retryTimer_.expires_after(kAcceptRetryDelay);
    retryTimer_.async_wait([this](error_code waitEc) {
      if (!waitEc) accept();
    });
    return;
  }
  startSession(std::move(socket), sessionContext_, tls_.get());
  accept();
}

void HttpServer::Impl::stop() {
  std::lock_guard lock(stopMutex_);
  if (stopped_) return;
  stopped_ = true;
  net::post(acceptor_.get_executor(), [this] {
    error_code ignored;
    acceptor_.close(ignored);
    retryTimer_.cancel();
  });
  registry_.closeAll(config_.stopTimeout);
  // Requests still queued are dropped (their connections were closed); one
  // still running is waited for. Handlers first: one finishing now may
  // still hand a stream to the stream pool, whose producer then finds its
  // stream over at once.
  handlers_.stop();
  streams_.stop();
  keepRunning_.reset();
  // The I/O threads return once the last session and the acceptor are gone.
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  error_code ignored;
  acceptor_.close(ignored);  // when the pool never ran the posted close
}

Result<std::unique_ptr<HttpServer>, std::string> HttpServer::start(HttpServerConfig config,
                                                                   Handler handler) {
  if (std::string why = invalidConfig(config, handler); !why.empty()) return fail(why);
  TlsContextPtr tls;
  if (config.tls) {
    auto context = makeServerTlsContext(config.tls->certificate, config.tls->privateKey);
    if (!context) return fail(std::move(context).error());
    tls = std::move(context).value();
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(handler), std::move(tls));
  if (std::string error = impl->listen(); !error.empty()) return fail(std::move(error));
  impl->run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

std::uint16_t HttpServer::port() const {
  return impl_->port();
}

bool HttpServer::tls() const {
  return impl_->tls();
}

void HttpServer::stop() {
  impl_->stop();
}

}  // namespace ozy::http
