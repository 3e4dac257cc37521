// A server-side HTTP/1.1 session in Beast's asynchronous style.
//
// Life of a connection: [TLS handshake] -> read header -> check framing ->
// admit (authentication and the like, before any body is read) ->
// [100 Continue] -> read body -> run the handler in the handler pool ->
// write the response -> read the next request (keep-alive) or close. The
// phase tells stop() whether a request is in flight, and the registry which
// connections it may close for room. The header must arrive within the
// header timeout, the whole request within the request timeout; all
// completion handlers of one session run on its strand.
//
// A streamed response (Response::stream) takes a detour after the handler:
// its producer runs in the stream pool and hands chunks over through a
// StreamChannel, while the session writes the header, then each chunk as it
// comes (each write bounded by the request timeout), then the last chunk.
// Meanwhile a read stays pending without a timeout, so that a client that
// closes is noticed while no chunk is being written; it also keeps what a
// pipelining client sends for the next request.
#include "http/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <type_traits>

#include "http/framing.h"
#include "http/http_problems.h"
#include "http/problem_response.h"
#include "http/request_target.h"
#include "http/stream_channel.h"

namespace ozy::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

namespace {

// Beast in Boost 1.74 speaks boost::string_view.
std::string_view toStd(beast::string_view text) {
  return {text.data(), text.size()};
}

bool isServerOwned(std::string_view name) {
  for (std::string_view owned :
       {"content-length", "transfer-encoding", "connection", "keep-alive", "server"}) {
    if (equalsIgnoringCase(name, owned)) return true;
  }
  return false;
}

// Everything of the request but its body.
Result<Request, std::string> headOf(const BeastRequest::header_type& message,
                                    const tcp::endpoint& peer) {
  auto target = parseRequestTarget(toStd(message.target()));
  if (!target) return fail(std::move(target).error());
  Request request;
  request.method = std::string(toStd(message.method_string()));
  request.path = std::move(target->path);
  request.query = std::move(target->query);
  for (const auto& field : message) {
    request.headers.add(std::string(toStd(field.name_string())), std::string(toStd(field.value())));
  }
  request.remoteAddress = peer.address().to_string();
  request.remotePort = peer.port();
  return request;
}

// Only final statuses the handler can mean; anything else is its bug.
bool isValidStatus(int status) {
  return status >= 200 && status <= 599;
}

// A read buffer this much larger than the header limit holds the largest
// header plus the start of what follows; a chunk-size line or trailer longer
// than that fails the read instead of growing the buffer.
constexpr std::size_t kBufferSlack = 4096;

Response busy() {
  Response response = problemResponse(
      makeProblem(problems::kServerBusy,
                  "The server is handling as many requests as it can; try again shortly."));
  response.headers.set("Retry-After", "1");
  return response;
}

Response tooManyStreams() {
  Response response = problemResponse(
      makeProblem(problems::kServerBusy,
                  "The server is sending as many streams as it can; try again shortly."));
  response.headers.set("Retry-After", "1");
  return response;
}

// Statuses that never carry a body, streamed or not.
bool hasNoBody(int status) {
  return status == 204 || status == 304;
}

// The size of each read while a streamed response is written: small, as
// it mostly waits to learn that the client has gone.
constexpr std::size_t kStreamReadSize = 1024;

Response internalError() {
  return problemResponse(makeProblem(problems::kInternalError,
                                     "The server failed while handling the request; its log "
                                     "has the details."));
}

}  // namespace

template <class Stream>
class Session final : public Connection, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, const SessionContext& context, tcp::endpoint peer)
      : stream_(std::move(stream)),
        context_(context),
        peer_(std::move(peer)),
        buffer_(context.config.headerLimit + kBufferSlack) {}
  ~Session() override { context_.registry.remove(this); }

  void start() { net::dispatch(stream_.get_executor(), bind(&Session::begin)); }

  void closeIfIdle() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      // A stream has no end to wait for: it ends now, without its last
      // chunk, so its client can tell it was cut off.
      if (self->phase_ == Phase::Streaming) return self->close();
      if (self->phase_ != Phase::Busy) self->tcp().cancel();
    });
  }

  void closeNow() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  // Reading covers the handshake, waiting for a request and reading it;
  // Busy is from a complete request until its response is written;
  // Streaming from a streamed response's header until its last chunk.
  enum class Phase { Reading, Busy, Streaming, Closing };

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }
  const HttpServerConfig& config() const { return context_.config; }

  template <class Member, class... Args>
  auto bind(Member member, Args... args) {
    return beast::bind_front_handler(member, this->shared_from_this(), args...);
  }

  void begin() {
    if constexpr (kTls) {
      tcp().expires_after(config().requestTimeout);
      stream_.async_handshake(net::ssl::stream_base::server, bind(&Session::onHandshake));
    } else {
      readHeader();
    }
  }

  void onHandshake(error_code ec) {
    // A failed handshake has nobody to answer; scanners cause plenty, so
    // they are not logged either.
    if (ec) return close();
    readHeader();
  }

  void readHeader() {
    // stop() may have asked before this read existed; it sets stopping first.
    if (context_.registry.stopping()) return shutdown();
    phase_ = Phase::Reading;
    context_.registry.setIdle(this, true);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(config().headerLimit));
    parser_->body_limit(config().bodyLimit);
    requestStart_ = std::chrono::steady_clock::now();
    tcp().expires_after(config().headerTimeout);
    // The header alone first: Beast 1.74's eager parsing (async_read) drops
    // errors found at the end of the header, such as body_limit.
    bhttp::async_read_header(stream_, buffer_, *parser_, bind(&Session::onHeader));
  }

  void onHeader(error_code ec, std::size_t) {
    if (ec) return onReadError(ec);
    context_.registry.setIdle(this, false);
    const auto& header = parser_->get();
    if (std::string why = framingProblem(header); !why.empty()) {
      return reject(
          makeProblem(problems::kBadRequest, fmt::format("Bad request framing: {}.", why)));
    }
    auto head = headOf(header, peer_);
    if (!head) {
      return reject(
          makeProblem(problems::kBadRequest, fmt::format("Bad request target: {}.", head.error())));
    }
    if (config().admit) {
      if (auto refusal = config().admit(*head)) return refuse(std::move(*refusal));
    }
    request_ = std::move(head).value();
    // The rest of the request shares the header's start: a body trickled in
    // a byte at a time cannot hold the connection past the request timeout.
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - requestStart_);
    tcp().expires_after(std::max(config().requestTimeout - spent, std::chrono::milliseconds(1)));
    const bool bodyFollows = !parser_->is_done();
    if (bodyFollows && header.version() >= 11 &&
        beast::iequals(header[bhttp::field::expect], "100-continue")) {
      // Clients such as curl wait for this before sending a body.
      continue_ = {bhttp::status::continue_, header.version()};
      return bhttp::async_write(stream_, continue_, bind(&Session::onContinueSent));
    }
    readBody();
  }

  void onContinueSent(error_code ec, std::size_t) {
    if (ec) return close();
    readBody();
  }

  void readBody() {
    if (parser_->is_done()) return serve();
    bhttp::async_read(stream_, buffer_, *parser_, bind(&Session::onBody));
  }

  void onBody(error_code ec, std::size_t) {
    if (ec) return onReadError(ec);
    serve();
  }

  void onReadError(error_code ec) {
    if (ec == bhttp::error::buffer_overflow) {
      return reject(makeProblem(
          problems::kRequestHeadersTooLarge,
          fmt::format("A header, chunk-size line, chunk extension or trailer is longer than "
                      "the limit of {} bytes.",
                      config().headerLimit)));
    }
    if (ec == bhttp::error::body_limit) {
      return reject(
          makeProblem(problems::kRequestTooLarge,
                      fmt::format("The request body is larger than the limit of {} bytes.",
                                  config().bodyLimit)));
    }
    if (ec == bhttp::error::header_limit) {
      return reject(makeProblem(problems::kRequestHeadersTooLarge,
                                fmt::format("The request line and headers are larger than the "
                                            "limit of {} bytes.",
                                            config().headerLimit)));
    }
    if (isMalformed(ec)) {
      return reject(
          makeProblem(problems::kBadRequest,
                      fmt::format("The request is not valid HTTP/1.1: {}.", ec.message())));
    }
    // Timeout, the client went away, or stop(): there is nobody to answer.
    close();
  }

  static bool isMalformed(error_code ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
           ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
           ec != bhttp::error::need_more;
  }

  void serve() {
    phase_ = Phase::Busy;
    BeastRequest message = parser_->release();
    const unsigned version = message.version();
    const bool keepAlive = message.keep_alive();
    const bool head = message.method() == bhttp::verb::head;
    request_.body = std::move(message.body());
    auto self = this->shared_from_this();
    // The server keeps its I/O threads running until stop() is done with the
    // pool, so the response posted back is always written.
    const bool queued = context_.handlers.trySubmit([self, version, keepAlive, head] {
      Response response = self->callHandler(self->request_);
      if (response.stream && !head && !hasNoBody(response.status)) {
        return self->startStream(std::move(response), version, keepAlive);
      }
      self->post([self, response = std::move(response), version, keepAlive, head]() mutable {
        self->send(std::move(response), version, keepAlive, head, false);
      });
    });
    if (!queued) send(busy(), version, false, head, false);
  }

  template <class Function>
  void post(Function&& function) {
    net::post(stream_.get_executor(), std::forward<Function>(function));
  }

  // On the handler's thread: hands the producer to the stream pool, or
  // answers 503 when every stream thread is taken.
  void startStream(Response response, unsigned version, bool keepAlive) {
    auto self = this->shared_from_this();
    // Weak: the channel lives as long as the session's stream, and a strong
    // reference would make a cycle of the two.
    std::weak_ptr<Session> weak = self;
    auto channel = std::make_shared<StreamChannel>([weak] {
      if (auto session = weak.lock()) session->post([session] { session->pumpStream(); });
    });
    BodyProducer producer = std::exchange(response.stream, nullptr);
    const bool started = context_.streams.trySubmit(
        [self, channel, producer, response, version, keepAlive]() mutable {
          // Posted before the producer can offer a chunk, so the strand
          // always begins the stream before it is asked for chunks.
          self->post([self, channel, response = std::move(response), version, keepAlive]() mutable {
            self->beginStream(std::move(response), version, keepAlive, std::move(channel));
          });
          channel->finish(self->runProducer(producer, *channel));
        });
    if (!started) {
      post([self, version] { self->send(tooManyStreams(), version, false, false, false); });
    }
  }

  // On a stream-pool thread. False when the producer threw.
  bool runProducer(const BodyProducer& producer, StreamChannel& channel) {
    std::string failure;
    try {
      producer(channel);
      return true;
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception that is not a std::exception";
    }
    context_.logError(fmt::format("HTTP stream for {} {} from {} threw: {}; the body was cut short",
                                  request_.method, request_.path, request_.remoteAddress, failure));
    return false;
  }

  Response callHandler(const Request& request) {
    std::string failure;
    try {
      Response response = context_.handler(request);
      if (isValidStatus(response.status)) return response;
      failure = fmt::format("returned the invalid status {}", response.status);
    } catch (const std::exception& e) {
      failure = fmt::format("threw: {}", e.what());
    } catch (...) {
      failure = "threw an exception that is not a std::exception";
    }
    context_.logError(fmt::format("HTTP handler for {} {} from {} {}", request.method, request.path,
                                  request.remoteAddress, failure));
    return internalError();
  }

  // Error responses are the last on their connection: after a framing error
  // nobody knows where the next request would start.
  void reject(const Problem& problem) { refuse(problemResponse(problem)); }

  // Likewise for a request refused before its body was read: the body would
  // be taken for the next request.
  void refuse(Response response) {
    phase_ = Phase::Busy;
    // Evictable from here on, answer and linger included: a refused request
    // costs its sender nothing, so its connection must never keep a
    // newcomer out.
    context_.registry.setIdle(this, true);
    send(std::move(response), 11, false, false, true);
  }

  void send(Response response, unsigned version, bool keepAlive, bool head, bool linger) {
    response_ = toBeast(std::move(response), version, head);
    response_.keep_alive(keepAlive && !context_.registry.stopping());
    tcp().expires_after(config().requestTimeout);
    bhttp::async_write(stream_, response_, bind(&Session::onWritten, linger));
  }

  BeastResponse toBeast(Response response, unsigned version, bool head) {
    BeastResponse out;
    fillHead(response, version, out);
    if (hasNoBody(response.status)) return out;
    // A HEAD answer for a stream names no length: nobody knows it. (RFC
    // 9110 lets a HEAD response leave out the framing fields.)
    if (response.stream && head) return out;
    out.content_length(response.body.size());
    if (!head) out.body() = std::move(response.body);
    return out;
  }

  // The status line and header fields, without any framing field.
  void fillHead(const Response& response, unsigned version, bhttp::response_header<>& out) {
    out.version(version);
    out.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) {
      if (isServerOwned(name)) continue;
      if (!isValidFieldName(name) || !isValidFieldValue(value)) {
        context_.logError(
            fmt::format("HTTP handler set an invalid header field \"{}\"; dropped", name));
        continue;
      }
      out.insert(name, value);
    }
    if (!response.contentType.empty() && isValidFieldValue(response.contentType)) {
      out.set(bhttp::field::content_type, response.contentType);
    }
    out.set(bhttp::field::server, "ozy");  // no version: it only helps attackers
  }

  void onWritten(bool linger, error_code ec, std::size_t) {
    if (ec) return close();
    if (linger) return lingerThenClose();
    if (!response_.keep_alive() || context_.registry.stopping()) return shutdown();
    readHeader();
  }

  // A streamed response, on the strand. HTTP/1.1 gets chunks; HTTP/1.0
  // knows no chunks, so there the body is sent as is and ends with the
  // connection.
  void beginStream(Response response, unsigned version, bool keepAlive,
                   std::shared_ptr<StreamChannel> channel) {
    channel_ = std::move(channel);
    // stop() came while the handler ran: the producer finds its stream over.
    if (context_.registry.stopping() || phase_ != Phase::Busy) return close();
    phase_ = Phase::Streaming;
    chunked_ = version >= 11;
    streamSerializer_.reset();
    streamHead_ = {};
    fillHead(response, version, streamHead_);
    streamHead_.chunked(chunked_);
    streamHead_.keep_alive(chunked_ && keepAlive);
    // The pending read has no timeout (the stream has no deadline); the
    // writes started while it is pending get their own.
    tcp().expires_never();
    readDuringStream();
    tcp().expires_after(config().requestTimeout);
    streamWriting_ = true;
    streamSerializer_.emplace(streamHead_);
    bhttp::async_write_header(stream_, *streamSerializer_, bind(&Session::onStreamHeadWritten));
  }

  void onStreamHeadWritten(error_code ec, std::size_t) {
    streamWriting_ = false;
    if (ec) return close();
    pumpStream();
  }

  // Writes what the producer has handed over, if nothing is being written:
  // the next chunk, or the end of the body once the producer returned.
  void pumpStream() {
    if (phase_ != Phase::Streaming || streamWriting_ || streamEnded_) return;
    if (auto chunk = channel_->take()) {
      chunk_ = std::move(*chunk);
      streamWriting_ = true;
      tcp().expires_after(config().requestTimeout);  // the write alone: a read is pending
      if (chunked_) {
        net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)),
                         bind(&Session::onChunkWritten));
      } else {
        net::async_write(stream_, net::buffer(chunk_), bind(&Session::onChunkWritten));
      }
      return;
    }
    switch (channel_->end()) {
      case StreamChannel::End::NotYet:
        return;  // woken again by the next chunk or the producer's end
      case StreamChannel::End::Aborted:
        return close();
      case StreamChannel::End::Complete:
        if (!chunked_) return endStream();  // the close ends an HTTP/1.0 body
        streamWriting_ = true;
        tcp().expires_after(config().requestTimeout);
        net::async_write(stream_, bhttp::make_chunk_last(), bind(&Session::onLastChunkWritten));
        return;
    }
  }

  void onChunkWritten(error_code ec, std::size_t) {
    streamWriting_ = false;
    // A timeout has closed the socket already; the pending read ends too.
    if (ec) return close();
    chunk_.clear();
    channel_->markWritten();
    pumpStream();
  }

  void onLastChunkWritten(error_code ec, std::size_t) {
    streamWriting_ = false;
    if (ec) return close();
    endStream();
  }

  // The body is complete. The pending read must finish before the next
  // request can be read: it is cancelled, and keeps what it read.
  void endStream() {
    streamEnded_ = true;
    channel_.reset();
    if (!streamReading_) return afterStream();
    error_code ignored;
    tcp().socket().cancel(ignored);
  }

  void afterStream() {
    streamEnded_ = false;
    streamSerializer_.reset();
    if (!streamHead_.keep_alive() || context_.registry.stopping()) return shutdown();
    readHeader();
  }

  void readDuringStream() {
    const std::size_t room = buffer_.max_size() - buffer_.size();
    // A client that pipelines a full buffer's worth of requests behind a
    // stream is left unread; a write that stalls still ends the stream.
    if (room == 0) return;
    streamReading_ = true;
    stream_.async_read_some(buffer_.prepare(std::min(room, kStreamReadSize)),
                            bind(&Session::onStreamRead));
  }

  void onStreamRead(error_code ec, std::size_t bytes) {
    streamReading_ = false;
    buffer_.commit(bytes);  // the start of a pipelined request
    if (phase_ != Phase::Streaming) return;
    if (streamEnded_) return afterStream();
    // The client closed (or half-closed, which a follower does not do),
    // reset the connection, or a write timed out and closed the socket.
    if (ec) return close();
    readDuringStream();
  }

  void lingerThenClose() {
    phase_ = Phase::Closing;
    if constexpr (!kTls) {
      error_code ignored;
      tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    tcp().expires_after(context_.lingerTime);
    discardInput();
  }

  void discardInput() {
    stream_.async_read_some(net::buffer(discard_), bind(&Session::onDiscarded));
  }

  void onDiscarded(error_code ec, std::size_t) {
    if (ec) return close();  // end of stream, timeout or stop: done lingering
    discardInput();
  }

  // A polite close: TLS sends close_notify (bounded by the timeout), plain
  // TCP half-closes and the socket closes when the session ends.
  void shutdown() {
    phase_ = Phase::Closing;
    if constexpr (kTls) {
      tcp().expires_after(context_.lingerTime);
      stream_.async_shutdown(bind(&Session::onShutdown));
    } else {
      error_code ignored;
      tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  void onShutdown(error_code) { close(); }

  void close() {
    phase_ = Phase::Closing;
    if (channel_) channel_->close();
    tcp().close();
  }

  Stream stream_;
  const SessionContext& context_;
  tcp::endpoint peer_;
  Phase phase_ = Phase::Reading;
  std::chrono::steady_clock::time_point requestStart_;
  beast::flat_buffer buffer_;
  Request request_;  // the head once admitted; the body joins it when read
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::empty_body> continue_;
  BeastResponse response_;
  std::array<char, 4096> discard_{};
  // A streamed response in progress (phase Streaming).
  std::shared_ptr<StreamChannel> channel_;
  bhttp::response<bhttp::empty_body> streamHead_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> streamSerializer_;
  std::string chunk_;  // the chunk being written
  bool chunked_ = false;
  bool streamWriting_ = false;
  bool streamReading_ = false;
  bool streamEnded_ = false;  // the body is complete; waiting for the read to end
};

namespace {

template <class Stream>
void launch(std::shared_ptr<Session<Stream>> session, ConnectionRegistry& registry,
            const std::string& address) {
  // Refused while stopping, or when the client's address has as many busy
  // connections as it may: dropping the session closes the socket.
  if (registry.add(session, address)) session->start();
}

}  // namespace

void startSession(tcp::socket socket, const SessionContext& context, net::ssl::context* tls) {
  error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return;  // the client already left
  const std::string address = peer.address().to_string();
  if (tls != nullptr) {
    using TlsStream = beast::ssl_stream<beast::tcp_stream>;
    launch(std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), *tls), context, peer),
           context.registry, address);
  } else {
    launch(std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)),
                                                        context, peer),
           context.registry, address);
  }
}

}  // namespace ozy::http
