// One client connection to the ingress, in Beast's asynchronous style, on
// one worker's thread (so no strand: nothing else touches it).
//
// A request's life: read its header (checkRequest, the route by Host) ->
// [100 Continue] -> read its body whole (bounded by bodyLimit, so a retry on
// another backend can resend it) -> pick a backend (round robin, passing
// over ejected ones) -> a pooled connection or a new one -> write the
// request -> read the response header -> relay the response, its body in
// pieces, to the client -> the backend connection back to the pool -> the
// client's next request. Requests of one connection are served one after
// the other, so pipelined requests are answered in order.
#include <fmt/format.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>

#include "http/http_problems.h"
#include "ingress/access_log.h"
#include "ingress/ingress_problems.h"
#include "ingress/request_rules.h"
#include "ingress/worker.h"

namespace ozy::ingress {

namespace bhttp = boost::beast::http;
using error_code = boost::system::error_code;

namespace {

std::string_view toStd(beast::string_view text) {
  return {text.data(), text.size()};
}

// The read buffer holds the largest header allowed plus the start of what
// follows; a longer header fails the read instead of growing the buffer.
constexpr std::size_t kBufferSlack = 4096;
// The piece of a response body relayed at a time.
constexpr std::size_t kRelayChunk = 16 << 10;
// After an error response on a connection being closed, what the client
// still sends is read and dropped this long, so that closing does not reset
// the connection before the client has read the response.
constexpr auto kLinger = std::chrono::seconds(1);
// A response body may be of any size: it is relayed, not held. Not
// boost::none, which Beast 1.74 compares as a limit below every
// Content-Length (boostorg/beast#2070, fixed in 1.75).
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

std::string clientAddress(const tcp::endpoint& peer) {
  auto address = peer.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

class HttpSession final : public http::Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(Worker& worker, Socket socket, tcp::endpoint peer)
      : worker_(worker),
        config_(worker.shared_.config),
        client_(std::move(socket)),
        readTimer_(client_.get_executor()),
        peer_(std::move(peer)),
        buffer_(config_.headerLimit + kBufferSlack) {
    client_info_.address = clientAddress(peer_);
    client_info_.trusted = config_.trustedProxies.contains(peer_.address());
  }
  ~HttpSession() override { worker_.shared_.registry.remove(this); }

  void start() {
    error_code ignored;
    client_.socket().set_option(tcp::no_delay(true), ignored);
    readRequest();
  }

  void closeIfIdle() override {
    net::post(client_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->client_.socket().cancel();
    });
  }
  void closeNow() override {
    net::post(client_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      self->client_.socket().close(ignored);
      if (self->upstream_) self->upstream_->socket().close(ignored);
    });
  }

 private:
  // ---- the client's request ----

  void readRequest() {
    if (worker_.shared_.registry.stopping()) return close();
    setIdle(true);
    head_.emplace();
    head_->header_limit(static_cast<std::uint32_t>(config_.headerLimit));
    // Beast checks a Content-Length against the limit when the header ends,
    // with the limit of the parser that reads the header: its default (1 MiB)
    // unless set here. The body's parser does not check it again.
    head_->body_limit(config_.bodyLimit);
    readWithin(served_ == 0 ? config_.headerTimeout : config_.idleTimeout);
    bhttp::async_read_header(client_, buffer_, *head_,
                             [self = shared_from_this()](error_code ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(error_code ec) {
    if (readDone() && ec == net::error::operation_aborted) ec = beast::error::timeout;
    // What the access log says of this request, refused or not: only what
    // was read of it, never the previous request's.
    const auto& header = head_->get();
    method_ = std::string(toStd(header.method_string()));
    target_ = std::string(toStd(header.target()));
    host_.clear();
    if (ec) {
      const bool nothing = !head_->got_some() && buffer_.size() == 0;
      if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted || nothing) return close();
      if (ec == beast::error::timeout) {
        return refuse(makeProblem(problems::kRequestTimeout,
                                  fmt::format("the request's header did not arrive within {} ms",
                                              served_ == 0 ? config_.headerTimeout.count()
                                                           : config_.idleTimeout.count())));
      }
      if (ec == bhttp::error::header_limit) {
        return refuse(makeProblem(problems::kRequestHeadersTooLarge,
                                  fmt::format("the request line and header are larger than {} bytes",
                                              config_.headerLimit)));
      }
      if (ec == bhttp::error::body_limit) {
        return refuse(makeProblem(problems::kRequestTooLarge,
                                  fmt::format("the request body is larger than {} bytes", config_.bodyLimit)));
      }
      return refuse(makeProblem(problems::kBadRequest,
                                fmt::format("the request is not valid HTTP/1.1: {}", ec.message())));
    }
    setIdle(false);
    started_ = Clock::now();
    auto host = checkRequest(header);
    if (!host) {
      return refuse(makeProblem(host.error().type, host.error().detail));
    }
    host_ = std::move(host).value();
    clientKeepAlive_ = header.keep_alive();
    clientVersion_ = header.version();
    websocket_ = isWebSocketUpgrade(header);
    head_method_ = header.method() == bhttp::verb::head;
    view_ = worker_.routes();
    route_ = view_->table->http(host_);
    const bool bodyPending = !head_->is_done();
    if (route_ == nullptr) {
      return answer(makeProblem(problems::kUnknownHost,
                                fmt::format("no job serves the host \"{}\" (docs/ingress.md)", host_)),
                    bodyPending);
    }
    routeIndex_ = view_->table->indexOf(route_);
    if (route_->backends.empty()) {
      return answer(makeProblem(problems::kNoHealthyInstance,
                                fmt::format("job {} has no healthy instance for host \"{}\" now", route_->job,
                                            host_)),
                    bodyPending, "1");
    }
    hadBody_ = header.has_content_length() || header.chunked();
    if (bodyPending && beast::iequals(header[bhttp::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      client_.expires_after(config_.requestTimeout);
      return net::async_write(client_, net::buffer(kContinue),
                              [self = shared_from_this()](error_code writeEc, std::size_t) {
                                if (writeEc) return self->close();
                                self->readBody();
                              });
    }
    readBody();
  }

  void readBody() {
    body_.emplace(std::move(*head_));
    head_.reset();
    body_->body_limit(config_.bodyLimit);
    if (body_->is_done()) return forward();
    readWithin(config_.requestTimeout);
    bhttp::async_read(client_, buffer_, *body_,
                      [self = shared_from_this()](error_code ec, std::size_t) { self->onBody(ec); });
  }

  void onBody(error_code ec) {
    if (readDone() && ec == net::error::operation_aborted) ec = beast::error::timeout;
    if (ec == bhttp::error::body_limit) {
      return refuse(makeProblem(problems::kRequestTooLarge,
                                fmt::format("the request body is larger than {} bytes", config_.bodyLimit)));
    }
    if (ec == beast::error::timeout) {
      return refuse(makeProblem(problems::kRequestTimeout,
                                fmt::format("the request body did not arrive within {} ms",
                                            config_.requestTimeout.count())));
    }
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted) return close();
      return refuse(makeProblem(problems::kBadRequest, fmt::format("the request body: {}", ec.message())));
    }
    forward();
  }

  // The client's header and body are awaited with a timer of their own, not
  // the stream's expiry: a Stream closes its socket when its time
  // runs out, and a 408 needs the socket to be sent on.
  void readWithin(std::chrono::milliseconds limit) {
    client_.expires_never();
    readTimedOut_ = false;
    readTimer_.expires_after(limit);
    readTimer_.async_wait([self = shared_from_this(), deadline = ++readDeadline_](error_code ec) {
      if (ec || deadline != self->readDeadline_) return;  // the read ended first
      self->readTimedOut_ = true;
      error_code ignored;
      self->client_.socket().cancel(ignored);
    });
  }

  // The read ended; true when it was because its time ran out.
  bool readDone() {
    ++readDeadline_;
    readTimer_.cancel();
    return readTimedOut_;
  }

  // ---- to a backend ----

  void forward() {
    client_.expires_never();
    request_ = body_->release();
    body_.reset();
    toUpstream(request_.base(), client_info_, websocket_);
    if (hadBody_ || !request_.body().empty()) {
      request_.content_length(request_.body().size());
    } else {
      request_.erase(bhttp::field::content_length);
    }
    tried_.clear();
    attempts_ = 0;
    attempt();
  }

  void attempt() {
    const auto& endpoints = view_->endpoints[routeIndex_];
    const auto now = Clock::now();
    auto pick = worker_.balancer.pick(routeIndex_, endpoints, tried_, now);
    if (!pick || attempts_ >= config_.attempts) {
      return answer(makeProblem(problems::kUpstreamFailed,
                                fmt::format("no instance of job {} took the connection ({} tried{})", route_->job,
                                            tried_.size(), lastError_.empty() ? "" : ": " + lastError_)),
                    false, "1");
    }
    ++attempts_;
    backend_ = &route_->backends[*pick];
    endpoint_ = endpoints[*pick];
    if (auto pooled = worker_.pool.take(endpoint_, now, !isIdempotent(request_.method()))) {
      upstream_ = std::move(pooled);
      reused_ = true;
      return send();
    }
    reused_ = false;
    upstream_ = std::make_unique<Stream>(worker_.ioc);
    upstream_->expires_after(config_.connectTimeout);
    upstream_->async_connect(endpoint_, [self = shared_from_this()](error_code ec) { self->onConnect(ec); });
  }

  void onConnect(error_code ec) {
    if (ec) {
      // Nothing was sent: any request may go to another instance, and this
      // one is passed over for a while.
      lastError_ = fmt::format("{}: {}", upstreamName(), ec == beast::error::timeout ? "connect timed out" : ec.message());
      worker_.balancer.eject(endpoint_, Clock::now() + config_.passiveEjection);
      tried_.push_back(endpoint_);
      upstream_.reset();
      return attempt();
    }
    error_code ignored;
    upstream_->socket().set_option(tcp::no_delay(true), ignored);
    send();
  }

  void send() {
    upstream_->expires_after(config_.upstreamTimeout);
    bhttp::async_write(*upstream_, request_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->upstreamFailed(ec, false, false);
      self->readResponseHeader();
    });
  }

  void readResponseHeader() {
    upstreamBuffer_.clear();
    awaitResponseHeader();
  }

  // A fresh parser for the next response header; what the buffer already
  // holds belongs to it.
  void awaitResponseHeader() {
    response_.emplace();
    response_->body_limit(kNoBodyLimit);
    if (head_method_) response_->skip(true);
    bhttp::async_read_header(*upstream_, upstreamBuffer_, *response_,
                             [self = shared_from_this()](error_code ec, std::size_t) { self->onResponseHeader(ec); });
  }

  void onResponseHeader(error_code ec) {
    if (ec) return upstreamFailed(ec, true, response_->got_some());
    auto& message = response_->get();
    const unsigned status = message.result_int();
    if (status == 101) {
      if (!websocket_) return upstreamFailed(bhttp::error::bad_version, true, true);
      return upgrade();
    }
    if (status >= 100 && status < 200) {
      // An interim response (103 Early Hints): the final one follows.
      return awaitResponseHeader();
    }
    status_ = static_cast<int>(status);
    upstreamKeepAlive_ = message.keep_alive();
    const bool upstreamChunked = message.chunked();
    const bool lengthKnown = message.has_content_length();
    toDownstream(message.base(), false);
    message.version(11);
    const bool bodyless = head_method_ || status == 204 || status == 304;
    closeAfter_ = !clientKeepAlive_ || worker_.shared_.registry.stopping();
    upstreamFramed_ = lengthKnown || upstreamChunked || bodyless;
    if (!bodyless && !lengthKnown) {
      // Chunked from the backend, or ended by its close: chunked to a
      // client that speaks HTTP/1.1; an HTTP/1.0 client reads to the close.
      if (clientVersion_ >= 11) {
        message.chunked(true);
      } else {
        closeAfter_ = true;
      }
    }
    message.keep_alive(!closeAfter_);
    serializer_.emplace(message);
    if (!chunk_) chunk_ = std::make_unique<char[]>(kRelayChunk);
    sent_ = 0;
    relay();
  }

  // Reads a piece of the body (if any is left), then writes what it has:
  // the first write carries the header too, so a small response is one
  // write.
  void relay() {
    auto& body = response_->get().body();
    if (!response_->is_done()) {
      body.data = chunk_.get();
      body.size = kRelayChunk;
      // The first piece is still under the deadline set when the request
      // was sent (it mostly came with the header); later ones get their own.
      if (sent_ > 0) upstream_->expires_after(config_.upstreamTimeout);
      return bhttp::async_read(*upstream_, upstreamBuffer_, *response_,
                               [self = shared_from_this()](error_code ec, std::size_t) {
                                 if (ec == bhttp::error::need_buffer) ec = {};
                                 if (ec) return self->relayFailed(ec);
                                 auto& b = self->response_->get().body();
                                 const std::size_t got = kRelayChunk - b.size;
                                 b.size = got;
                                 b.data = self->chunk_.get();
                                 b.more = !self->response_->is_done();
                                 self->sent_ += got;
                                 self->writePiece();
                               });
    }
    body.data = nullptr;
    body.size = 0;
    body.more = false;
    writePiece();
  }

  void writePiece() {
    client_.expires_after(config_.requestTimeout);
    bhttp::async_write(client_, *serializer_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) return self->close();
      if (!self->serializer_->is_done()) return self->relay();
      self->finished();
    });
  }

  void finished() {
    // The backend connection is fit for another request only if the
    // response ended by its framing, not by a close, and left nothing over.
    const bool reusable =
        upstreamKeepAlive_ && upstreamFramed_ && response_->is_done() && upstreamBuffer_.size() == 0;
    if (reusable && upstream_) {
      worker_.pool.put(endpoint_, std::move(upstream_), Clock::now());
    }
    upstream_.reset();
    record(status_);
    serializer_.reset();
    response_.reset();
    ++served_;
    if (closeAfter_) return shutdown();
    readRequest();
  }

  void relayFailed(error_code ec) {
    worker_.shared_.logError(fmt::format("ingress: response of {} for {} broke off: {}", upstreamName(), host_,
                                         ec.message()));
    if (!serializer_->is_header_done()) {
      // Nothing of the response has reached the client (its header goes
      // with the first piece of its body): the client can still be told,
      // with a 502 or 504, and keep its connection. Not sent again: the
      // backend has seen the request.
      serializer_.reset();
      response_.reset();
      return upstreamFailed(ec, true, true);
    }
    // Part of the response is on its way to the client: nothing to do but
    // end the connection, so the client sees the response is incomplete.
    record(status_);
    close();
  }

  // `sent`: the whole request was written; `gotSome`: a byte of the
  // response came back.
  void upstreamFailed(error_code ec, bool sent, bool gotSome) {
    upstream_.reset();
    lastError_ = fmt::format("{}: {}", upstreamName(), ec == beast::error::timeout ? "timed out" : ec.message());
    const bool timedOut = ec == beast::error::timeout;
    // A pooled connection the backend had closed fails the write: the
    // backend saw no whole request, so any may go again. A request that may
    // have reached a backend (written whole, and nothing came back) goes
    // again only if it is idempotent (RFC 9110 section 9.2.2).
    const bool unseen = reused_ && !sent;
    if (!gotSome && !timedOut && (unseen || isIdempotent(request_.method()))) {
      if (!reused_) tried_.push_back(endpoint_);
      return attempt();
    }
    if (timedOut) {
      return answer(makeProblem(problems::kUpstreamTimeout,
                                fmt::format("instance {} of job {} did not answer within {} ms", backend_->instance,
                                            route_->job, config_.upstreamTimeout.count())),
                    false);
    }
    answer(makeProblem(problems::kUpstreamFailed,
                       fmt::format("instance {} of job {} failed: {}", backend_->instance, route_->job, lastError_)),
           false);
  }

  // ---- WebSocket ----

  void upgrade() {
    auto& message = response_->get();
    toDownstream(message.base(), true);
    status_ = 101;
    auto head = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::response_header<>(message.base()));
    bhttp::async_write(client_, *head, [self = shared_from_this(), head](error_code ec, std::size_t) {
      if (ec) return self->close();
      self->record(101);
      std::string toBackend(static_cast<const char*>(self->buffer_.data().data()), self->buffer_.size());
      std::string toClient(static_cast<const char*>(self->upstreamBuffer_.data().data()),
                           self->upstreamBuffer_.size());
      self->client_.expires_never();
      self->upstream_->expires_never();
      startTunnel(std::move(self->client_), std::move(*self->upstream_), std::move(toBackend),
                  std::move(toClient), self->config_.tunnelIdleTimeout);
      self->upstream_.reset();
    });
  }

  // ---- answers of the ingress's own ----

  // A problem document; the connection stays open unless `close` (a body
  // still unread, an unsound request) or the client asked to close.
  void answer(const Problem& problem, bool closeAfter, std::string_view retryAfter = {}) {
    status_ = problem.type.status;
    closeAfter_ = closeAfter || !clientKeepAlive_ || worker_.shared_.registry.stopping();
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>();
    response->result(static_cast<unsigned>(problem.type.status));
    response->version(11);
    response->set(bhttp::field::content_type, "application/problem+json");
    if (!retryAfter.empty()) response->set(bhttp::field::retry_after, beast::string_view(retryAfter.data(), retryAfter.size()));
    response->body() = head_method_ ? std::string() : problem.dump();
    response->content_length(head_method_ ? problem.dump().size() : response->body().size());
    response->keep_alive(!closeAfter_);
    sent_ = response->body().size();
    upstream_.reset();
    client_.expires_after(config_.requestTimeout);
    bhttp::async_write(client_, *response, [self = shared_from_this(), response](error_code ec, std::size_t) {
      self->record(self->status_);
      ++self->served_;
      if (ec) return self->close();
      if (self->closeAfter_) return self->shutdown();
      self->head_.reset();
      self->body_.reset();
      self->readRequest();
    });
  }

  // A request whose framing cannot be trusted: answered, then closed.
  void refuse(const Problem& problem) {
    setIdle(false);
    if (started_ == Clock::time_point()) started_ = Clock::now();
    clientKeepAlive_ = false;
    answer(problem, true);
  }

  void record(int status) {
    const std::string& job = route_ ? route_->job : kNoJob;
    const std::chrono::duration<double> took =
        started_ == Clock::time_point() ? std::chrono::duration<double>(0) : Clock::now() - started_;
    worker_.count(job, status, took.count());
    auto& log = config_.accessLog;
    if (log && log->sample()) {
      AccessEntry entry;
      entry.client = client_info_.address;
      entry.method = method_;
      entry.host = host_;
      entry.target = target_;
      entry.status = status;
      entry.job = job;
      entry.instance = backend_ ? backend_->instance : 0;
      upstreamName_ = upstreamName();
      entry.upstream = upstreamName_;
      entry.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
      entry.bytes = sent_;
      log->write(entry);
    }
    route_ = nullptr;
    backend_ = nullptr;
    started_ = Clock::time_point();
  }

  // ---- closing ----

  void setIdle(bool idle) {
    if (idle == idle_) return;
    idle_ = idle;
    worker_.shared_.registry.setIdle(this, idle);
  }

  void shutdown() {
    error_code ignored;
    client_.socket().shutdown(Socket::shutdown_send, ignored);
    linger();
  }

  void linger() {
    client_.expires_after(kLinger);
    if (!scratch_) scratch_ = std::make_unique<char[]>(kRelayChunk);
    client_.async_read_some(net::buffer(scratch_.get(), kRelayChunk),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->linger();
                            });
  }

  void close() {
    error_code ignored;
    client_.socket().close(ignored);
    upstream_.reset();
  }

  static inline const std::string kNoJob;

  Worker& worker_;
  const IngressConfig& config_;
  Stream client_;
  Timer readTimer_;
  std::uint64_t readDeadline_ = 0;  // which read the timer is for
  bool readTimedOut_ = false;
  const tcp::endpoint peer_;
  Client client_info_;
  beast::flat_buffer buffer_;
  bool idle_ = true;  // the registry counts a new connection idle
  std::uint64_t served_ = 0;

  // The request being served.
  std::optional<bhttp::request_parser<bhttp::empty_body>> head_;
  std::optional<bhttp::request_parser<bhttp::string_body>> body_;
  bhttp::request<bhttp::string_body> request_;
  Clock::time_point started_;
  std::string method_;
  std::string target_;
  std::string host_;
  unsigned clientVersion_ = 11;
  bool clientKeepAlive_ = true;
  bool websocket_ = false;
  bool head_method_ = false;
  bool hadBody_ = false;
  bool closeAfter_ = false;
  std::shared_ptr<const RouteView> view_;
  const Route* route_ = nullptr;
  std::size_t routeIndex_ = 0;

  // Its backend.
  std::vector<tcp::endpoint> tried_;
  int attempts_ = 0;
  std::string lastError_;
  const Backend* backend_ = nullptr;
  tcp::endpoint endpoint_;
  std::string upstreamName_;  // for the access log line being written

  // "address:port" of the backend, made only when a message needs it (not
  // per request).
  std::string upstreamName() const {
    return backend_ ? fmt::format("{}:{}", backend_->address, backend_->port) : std::string();
  }
  // By pointer: moving a Beast stream allocates a new one (its timers
  // included), and a pooled connection would be moved twice a request.
  std::unique_ptr<Stream> upstream_;
  bool reused_ = false;
  beast::flat_buffer upstreamBuffer_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> response_;
  std::optional<bhttp::serializer<false, bhttp::buffer_body>> serializer_;
  std::unique_ptr<char[]> chunk_;
  std::unique_ptr<char[]> scratch_;
  bool upstreamKeepAlive_ = false;
  bool upstreamFramed_ = false;  // the response ends by its own framing, not a close
  int status_ = 0;
  std::uint64_t sent_ = 0;
};

}  // namespace

void startHttpSession(Worker& worker, Socket socket) {
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return;
  auto session = std::make_shared<HttpSession>(worker, std::move(socket), peer);
  if (!worker.shared_.registry.add(session, clientAddress(peer))) return;
  session->start();
}

}  // namespace ozy::ingress
