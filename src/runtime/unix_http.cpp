// UnixHttpClient over Beast and asio::local::stream_protocol. Like
// http::HttpClient, each step starts one asynchronous operation and runs a
// private io_context until it completes, so the stream's expiry enforces the
// deadlines while the code reads top to bottom.
#include "runtime/unix_http.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdint>
#include <limits>
#include <vector>

#include "http/beast_sync.h"

namespace ozy::runtime {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using local = net::local::stream_protocol;
using error_code = boost::system::error_code;
using Stream = beast::basic_stream<local, net::any_io_executor, beast::unlimited_rate_policy>;

namespace {

using ozy::http::detail::await;
using ozy::http::detail::toStd;

std::string lowerFirst(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

UnixHttpError failure(error_code ec, std::string_view step, const std::string& socket,
                      std::chrono::milliseconds deadline, std::size_t bodyLimit) {
  UnixHttpError error;
  error.timedOut = ec == beast::error::timeout;
  std::string why;
  if (error.timedOut) {
    why = fmt::format("no answer within {}ms", deadline.count());
  } else if (ec == bhttp::error::body_limit) {
    why = fmt::format("the response body is larger than the limit of {} bytes", bodyLimit);
  } else if (ec == bhttp::error::partial_message || ec == net::error::eof ||
             ec == bhttp::error::end_of_stream) {
    why = "the server closed the connection before the response was complete";
  } else {
    why = lowerFirst(ec.message());
  }
  error.message = fmt::format("cannot {} {}: {}", step, socket, why);
  return error;
}

bhttp::request<bhttp::string_body> toBeast(const http::ClientRequest& request) {
  bhttp::request<bhttp::string_body> message;
  message.method_string(request.method);
  message.target(request.path);
  message.version(11);
  for (const auto& [name, value] : request.headers) message.insert(name, value);
  // The Host is required by HTTP/1.1 but meaningless on a UNIX socket.
  message.set(bhttp::field::host, "localhost");
  message.set(bhttp::field::user_agent, "ozy");
  message.set(bhttp::field::connection, "close");
  message.body() = request.body;
  message.prepare_payload();
  return message;
}

template <class Fields>
http::ClientResponse headOf(const bhttp::response_header<Fields>& message) {
  http::ClientResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.add(std::string(toStd(field.name_string())),
                         std::string(toStd(field.value())));
  }
  return response;
}

http::ClientResponse toClientResponse(bhttp::response<bhttp::string_body>&& message) {
  http::ClientResponse response = headOf(message);
  response.body = std::move(message.body());
  return response;
}

bool isValid(const http::ClientRequest& request) {
  return http::isValidFieldName(request.method) && !request.path.empty() &&
         request.path.front() == '/';
}

UnixHttpError invalid(const http::ClientRequest& request) {
  return UnixHttpError{false, false, false,
                       fmt::format("invalid request {} {}", request.method, request.path)};
}

}  // namespace

Result<http::ClientResponse, UnixHttpError> UnixHttpClient::send(
    const http::ClientRequest& request, std::optional<std::chrono::milliseconds> deadline,
    std::stop_token stop) const {
  const auto budget = deadline.value_or(config_.deadline);
  const std::string& socket = config_.socketPath;
  auto fault = [&](error_code ec, std::string_view step) {
    auto error = failure(ec, step, socket, budget, config_.bodyLimit);
    error.stopped = stop.stop_requested();
    return fail(std::move(error));
  };
  if (!isValid(request)) return fail(invalid(request));
  net::io_context ioc;
  Stream stream(ioc);
  stream.expires_after(budget);  // covers every later step: expiry is per stream
  // Runs on the thread that asks for the stop: the cancellation is posted to
  // the io_context, which the stream's own handlers run on. One posted
  // while no step is under way runs when the next one starts.
  std::stop_callback onStop(stop, [&] { net::post(ioc, [&] { stream.cancel(); }); });
  if (auto ec = await(ioc, [&](auto h) { stream.async_connect(local::endpoint(socket), h); })) {
    auto error = failure(ec, "connect to", socket, budget, config_.bodyLimit);
    error.connectFailed = true;
    return fail(std::move(error));
  }
  auto message = toBeast(request);
  if (auto ec = await(ioc, [&](auto h) { bhttp::async_write(stream, message, h); })) {
    return fault(ec, "send the request to");
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(config_.bodyLimit);
  if (message.method() == bhttp::verb::head) parser.skip(true);
  // Header first: Beast 1.74's eager parsing loses the body_limit error for
  // a Content-Length that arrives together with body bytes.
  auto ec = await(ioc, [&](auto h) { bhttp::async_read_header(stream, buffer, parser, h); });
  if (!ec && !parser.is_done()) {
    ec = await(ioc, [&](auto h) { bhttp::async_read(stream, buffer, parser, h); });
  }
  if (ec) return fault(ec, "read the response from");
  return toClientResponse(parser.release());
}

Result<StreamEnd, UnixHttpError> UnixHttpClient::sendStreaming(
    const http::ClientRequest& request, const StreamDeadlines& deadlines,
    const std::function<bool(const http::ClientResponse& head)>& onHead,
    const std::function<bool(std::string_view piece)>& onBodyPiece, std::stop_token stop) const {
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  const std::string& socket = config_.socketPath;
  if (!isValid(request)) return fail(invalid(request));
  if (stop.stop_requested()) return StreamEnd::kStopped;
  const auto start = Clock::now();
  net::io_context ioc;
  Stream stream(ioc);
  // Each bound is absolute, from the start; the stream's expiry holds
  // across the steps it covers.
  const auto expireAfter = [&](std::optional<milliseconds> bound) {
    if (bound) {
      stream.expires_at(start + *bound);
    } else {
      stream.expires_never();
    }
  };
  // As in send(): the cancellation runs on the io_context's thread, and one
  // posted between steps cancels the next.
  std::stop_callback onStop(stop, [&] { net::post(ioc, [&] { stream.cancel(); }); });
  // A step cancelled by a stop ends the exchange as asked, not as a failure.
  const auto fault = [&](error_code ec, std::string_view step,
                         milliseconds bound) -> Result<StreamEnd, UnixHttpError> {
    if (stop.stop_requested()) return StreamEnd::kStopped;
    return fail(failure(ec, step, socket, bound, 0));
  };

  expireAfter(deadlines.connect);
  if (auto ec = await(ioc, [&](auto h) { stream.async_connect(local::endpoint(socket), h); })) {
    if (stop.stop_requested()) return StreamEnd::kStopped;
    auto error = failure(ec, "connect to", socket, deadlines.connect, 0);
    error.connectFailed = true;
    return fail(std::move(error));
  }
  auto message = toBeast(request);
  if (auto ec = await(ioc, [&](auto h) { bhttp::async_write(stream, message, h); })) {
    return fault(ec, "send the request to", deadlines.connect);
  }

  expireAfter(deadlines.head);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  // The callbacks bound what they keep. (Not boost::none: Beast 1.74 then
  // compares a Content-Length with the empty optional and refuses any body.)
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (message.method() == bhttp::verb::head) parser.skip(true);
  if (auto ec = await(ioc, [&](auto h) { bhttp::async_read_header(stream, buffer, parser, h); })) {
    return fault(ec, "read the response from", deadlines.head.value_or(milliseconds(0)));
  }
  if (!onHead(headOf(parser.get()))) return StreamEnd::kDeclined;
  if (stop.stop_requested()) return StreamEnd::kStopped;

  expireAfter(deadlines.whole);
  std::vector<char> piece(std::size_t{64} << 10);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    // read_some, not read: a followed log trickles, and each piece is
    // wanted as soon as it arrives, not once 64 KiB have.
    auto ec = await(ioc, [&](auto h) { bhttp::async_read_some(stream, buffer, parser, h); });
    if (ec == bhttp::error::need_buffer) ec = {};  // the piece is full
    if (ec) {
      return fault(ec, "read the whole response from", deadlines.whole.value_or(milliseconds(0)));
    }
    const std::size_t size = piece.size() - parser.get().body().size;
    if (size > 0 && !onBodyPiece(std::string_view(piece.data(), size))) {
      return StreamEnd::kDeclined;
    }
    if (stop.stop_requested()) return StreamEnd::kStopped;
  }
  return StreamEnd::kComplete;
}

}  // namespace ozy::runtime
