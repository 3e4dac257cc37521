// Byte relays: a WebSocket after its handshake, and every TCP route's
// connection. Both directions run at once; an end of stream on one side is
// passed on as a half-close, and the tunnel ends when both have ended, on
// any error, or when neither side spoke for the idle time.
#include <fmt/format.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "ingress/ingress_problems.h"
#include "ingress/worker.h"

namespace ozy::ingress {

using error_code = boost::system::error_code;

namespace {

constexpr std::size_t kPiece = 16 << 10;

class Tunnel final : public std::enable_shared_from_this<Tunnel> {
 public:
  Tunnel(Stream a, Stream b, std::chrono::milliseconds idle)
      : a_(std::move(a)), b_(std::move(b)), idle_(idle), timer_(a_.get_executor()) {}

  void start(std::string toB, std::string toA) {
    lastActivity_ = Clock::now();
    watchIdle();
    begin(a_, b_, std::move(toB), ab_);
    begin(b_, a_, std::move(toA), ba_);
  }

 private:
  struct Direction {
    std::array<char, kPiece> buffer{};
    std::string pending;
    bool done = false;
  };

  void begin(Stream& from, Stream& to, std::string already, Direction& d) {
    if (already.empty()) return pump(from, to, d);
    d.pending = std::move(already);
    net::async_write(to.socket(), net::buffer(d.pending),
                     [self = shared_from_this(), &from, &to, &d](error_code ec, std::size_t) {
                       if (ec) return self->end();
                       d.pending.clear();
                       self->pump(from, to, d);
                     });
  }

  void pump(Stream& from, Stream& to, Direction& d) {
    from.socket().async_read_some(
        net::buffer(d.buffer), [self = shared_from_this(), &from, &to, &d](error_code ec, std::size_t n) {
          if (ec == net::error::eof) {
            // Half-close: the other side may still have things to say.
            error_code ignored;
            to.socket().shutdown(Socket::shutdown_send, ignored);
            d.done = true;
            if (self->ab_.done && self->ba_.done) self->end();
            return;
          }
          if (ec) return self->end();
          self->lastActivity_ = Clock::now();
          net::async_write(to.socket(), net::buffer(d.buffer.data(), n),
                           [self, &from, &to, &d](error_code writeEc, std::size_t) {
                             if (writeEc) return self->end();
                             self->pump(from, to, d);
                           });
        });
  }

  void watchIdle() {
    timer_.expires_at(lastActivity_ + idle_);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->ended_) return;
      if (Clock::now() - self->lastActivity_ >= self->idle_) return self->end();
      self->watchIdle();
    });
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    error_code ignored;
    a_.socket().close(ignored);
    b_.socket().close(ignored);
    timer_.cancel();
  }

  Stream a_;
  Stream b_;
  const std::chrono::milliseconds idle_;
  Timer timer_;
  Clock::time_point lastActivity_;
  Direction ab_;
  Direction ba_;
  bool ended_ = false;
};

// A TCP route's client: a backend is chosen as for HTTP (round robin,
// passing over ejected ones, another one when a connect fails), then bytes
// flow both ways.
class TcpSession final : public std::enable_shared_from_this<TcpSession> {
 public:
  TcpSession(Worker& worker, Socket socket, std::uint16_t port)
      : worker_(worker), client_(std::move(socket)), port_(port) {}

  void start() {
    view_ = worker_.routes();
    route_ = view_->table->tcp(port_);
    if (route_ == nullptr) return;  // the route went while this connection was accepted
    index_ = view_->table->indexOf(route_);
    attempt();
  }

 private:
  void attempt() {
    const auto& config = worker_.shared_.config;
    auto pick = worker_.balancer.pick(index_, view_->endpoints[index_], tried_, Clock::now());
    if (!pick || static_cast<int>(tried_.size()) >= config.attempts) {
      worker_.count(route_->job, 502);
      return;  // closing is all a raw TCP client can be told
    }
    endpoint_ = view_->endpoints[index_][*pick];
    upstream_.emplace(worker_.ioc);
    upstream_->expires_after(config.connectTimeout);
    upstream_->async_connect(endpoint_, [self = shared_from_this()](error_code ec) {
      const auto& c = self->worker_.shared_.config;
      if (ec) {
        self->worker_.balancer.eject(self->endpoint_, Clock::now() + c.passiveEjection);
        self->tried_.push_back(self->endpoint_);
        self->upstream_.reset();
        return self->attempt();
      }
      self->worker_.count(self->route_->job, 200);
      self->upstream_->expires_never();
      error_code ignored;
      self->upstream_->socket().set_option(tcp::no_delay(true), ignored);
      self->client_.socket().set_option(tcp::no_delay(true), ignored);
      startTunnel(std::move(self->client_), std::move(*self->upstream_), {}, {}, c.tunnelIdleTimeout);
    });
  }

  Worker& worker_;
  Stream client_;
  const std::uint16_t port_;
  std::shared_ptr<const RouteView> view_;
  const Route* route_ = nullptr;
  std::size_t index_ = 0;
  std::vector<tcp::endpoint> tried_;
  tcp::endpoint endpoint_;
  std::optional<Stream> upstream_;
};

}  // namespace

void startTunnel(Stream a, Stream b, std::string toB, std::string toA,
                 std::chrono::milliseconds idle) {
  std::make_shared<Tunnel>(std::move(a), std::move(b), idle)->start(std::move(toB), std::move(toA));
}

void startTcpSession(Worker& worker, Socket socket, std::uint16_t port) {
  std::make_shared<TcpSession>(worker, std::move(socket), port)->start();
}

}  // namespace ozy::ingress
