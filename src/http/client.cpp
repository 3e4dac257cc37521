// HttpClient over Beast. Each step starts one asynchronous operation and runs
// a private io_context until it completes, so the stream's expiry enforces
// the one deadline while the code reads top to bottom. stream()'s body has
// no deadline: its reads run the io_context in slices instead, and between
// slices ask whether to give up (cancelled, or idle for too long).
#include "http/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <limits>
#include <vector>

#include "http/beast_sync.h"
#include "http/tls_context.h"

namespace ozy::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

struct ClientTls {
  TlsContextPtr context;
};

namespace {

using detail::await;
using detail::awaitUnless;
using detail::toStd;

// How often stream() asks StreamOptions::cancelled while it waits.
constexpr std::chrono::milliseconds kCancelPoll{100};
// The most stream() reads before handing a piece over.
constexpr std::size_t kPieceSize = 16 * 1024;

std::string durationText(std::chrono::milliseconds duration) {
  return duration.count() % 1000 == 0 ? fmt::format("{}s", duration.count() / 1000)
                                      : fmt::format("{}ms", duration.count());
}

std::string lowerFirst(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

// Words for an error_code that a user can act on.
std::string reason(error_code ec, const HttpClientConfig& config) {
  if (ec == beast::error::timeout) {
    return fmt::format("no answer within the {} deadline", durationText(config.deadline));
  }
  if (ec == bhttp::error::body_limit) {
    return fmt::format("the response body is larger than the limit of {} bytes", config.bodyLimit);
  }
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == net::error::eof) {
    return "the server closed the connection before the response was complete";
  }
  return lowerFirst(ec.message());
}

std::string invalidRequest(const ClientRequest& request) {
  if (!isValidFieldName(request.method))
    return fmt::format("invalid HTTP method \"{}\"", request.method);
  const bool visible = std::all_of(request.path.begin(), request.path.end(),
                                   [](char c) { return c > 0x20 && c < 0x7f; });
  if (request.path.empty() || request.path.front() != '/' || !visible) {
    return fmt::format(
        "invalid request path \"{}\": it must start with \"/\" and be "
        "percent-encoded",
        request.path);
  }
  for (const auto& [name, value] : request.headers) {
    if (!isValidFieldName(name) || !isValidFieldValue(value)) {
      return fmt::format("invalid request header \"{}\"", name);
    }
  }
  return {};
}

Result<std::vector<tcp::endpoint>, std::string> endpointsFor(net::io_context& ioc,
                                                             const BaseUrl& url) {
  error_code ec;
  const auto address = net::ip::make_address(url.host, ec);
  if (!ec) return std::vector<tcp::endpoint>{{address, url.port}};
  // Name lookups run getaddrinfo, which no deadline can interrupt; the
  // resolver's own timeouts (resolv.conf) bound them.
  tcp::resolver resolver(ioc);
  std::vector<tcp::endpoint> endpoints;
  resolver.async_resolve(url.host, std::to_string(url.port),
                         [&](error_code resolveEc, const tcp::resolver::results_type& results) {
                           ec = resolveEc;
                           for (const auto& entry : results) endpoints.push_back(entry.endpoint());
                         });
  ioc.run();
  if (ec) return fail(fmt::format("cannot resolve {}: {}", url.host, lowerFirst(ec.message())));
  return endpoints;
}

Headers headersOf(const bhttp::response_header<>& message) {
  Headers headers;
  for (const auto& field : message) {
    headers.add(std::string(toStd(field.name_string())), std::string(toStd(field.value())));
  }
  return headers;
}

ClientResponse toClientResponse(bhttp::response<bhttp::string_body>&& message) {
  ClientResponse response;
  response.status = static_cast<int>(message.result_int());
  response.headers = headersOf(message);
  response.body = std::move(message.body());
  return response;
}

}  // namespace

HttpClient::HttpClient(HttpClientConfig config, BaseUrl url, std::shared_ptr<const ClientTls> tls)
    : config_(std::move(config)), url_(std::move(url)), tls_(std::move(tls)) {}

Result<HttpClient, std::string> HttpClient::create(HttpClientConfig config) {
  auto url = parseBaseUrl(config.baseUrl);
  if (!url) return fail(std::move(url).error());
  const auto& token = config.bearerToken;
  if (!std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return fail(std::string("the bearer token must be one word of visible ASCII characters"));
  }
  if (config.deadline.count() <= 0)
    return fail(std::string("the HTTP client deadline must be positive"));
  std::shared_ptr<const ClientTls> tls;
  if (url->tls) {
    auto context = makeClientTlsContext(config.caFile, config.verifyServer);
    if (!context) return fail(std::move(context).error());
    tls = std::make_shared<ClientTls>(ClientTls{std::move(context).value()});
  }
  return HttpClient(std::move(config), std::move(url).value(), std::move(tls));
}

namespace {

using BeastRequest = bhttp::request<bhttp::string_body>;

// Writes the request and reads the response on a connected (and, for TLS,
// handshaken) stream.
template <class Stream>
Result<ClientResponse, std::string> exchange(net::io_context& ioc, Stream& stream,
                                             BeastRequest& message, const HttpClientConfig& config,
                                             const std::string& authority) {
  if (auto ec = await(ioc, [&](auto handler) { bhttp::async_write(stream, message, handler); })) {
    return fail(fmt::format("cannot send the request to {}: {}", authority, reason(ec, config)));
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(config.bodyLimit);

  if (message.method() == bhttp::verb::head) parser.skip(true);
  // Header first: Beast 1.74's eager parsing (async_read) loses the
  // body_limit error for a Content-Length that arrives with body bytes.
  auto ec =
      await(ioc, [&](auto handler) { bhttp::async_read_header(stream, buffer, parser, handler); });
  if (!ec && !parser.is_done()) {
    ec = await(ioc, [&](auto handler) { bhttp::async_read(stream, buffer, parser, handler); });
  }
  if (ec) {
    return fail(fmt::format("cannot read the response from {}: {}", authority, reason(ec, config)));
  }
  return toClientResponse(parser.release());
}

// Why stream() stopped waiting, when it was not the operation's own end.
enum class GaveUp { No, Cancelled, Idle };

// Writes the request and hands the response over as it arrives.
template <class Stream>
Result<int, std::string> streamExchange(net::io_context& ioc, Stream& stream, BeastRequest& message,
                                        const HttpClientConfig& config,
                                        const std::string& authority,
                                        const StreamHandlers& handlers,
                                        const StreamOptions& options) {
  if (auto ec = await(ioc, [&](auto handler) { bhttp::async_write(stream, message, handler); })) {
    return fail(fmt::format("cannot send the request to {}: {}", authority, reason(ec, config)));
  }
  // Each wait ends with the operation, or early when the caller cancels or
  // (for a 2xx body) the server has been quiet for the idle timeout.
  GaveUp gaveUp = GaveUp::No;
  std::chrono::milliseconds idleLimit{0};  // none until a 2xx body begins
  auto wait = [&](auto start) {
    const auto idleDeadline = Clock::now() + idleLimit;
    return awaitUnless(
        ioc, kCancelPoll, start,
        [&] {
          if (options.cancelled && options.cancelled()) {
            gaveUp = GaveUp::Cancelled;
          } else if (idleLimit.count() > 0 && Clock::now() >= idleDeadline) {
            gaveUp = GaveUp::Idle;
          }
          return gaveUp != GaveUp::No;
        },
        [&] { beast::get_lowest_layer(stream).close(); });
  };

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  // A 2xx stream may never end; other bodies are counted below. (Not
  // boost::none: Beast 1.74 then refuses every Content-Length.)
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (message.method() == bhttp::verb::head) parser.skip(true);
  const auto header =
      wait([&](auto handler) { bhttp::async_read_header(stream, buffer, parser, handler); });
  if (!header) {
    return fail(fmt::format("the request to {} was cancelled before the response header arrived",
                            authority));
  }
  if (*header) {
    return fail(
        fmt::format("cannot read the response from {}: {}", authority, reason(*header, config)));
  }
  const int status = static_cast<int>(parser.get().result_int());
  if (handlers.onHead && !handlers.onHead(status, headersOf(parser.get()))) return status;

  const bool success = status >= 200 && status <= 299;
  if (success) {
    // From here on the body may take as long as it takes.
    beast::get_lowest_layer(stream).expires_never();
    idleLimit = options.idleTimeout;
  }
  std::array<char, kPieceSize> piece;
  std::size_t received = 0;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    // Some: a piece is handed over as soon as it arrives, not once the
    // buffer is full.
    auto read =
        wait([&](auto handler) { bhttp::async_read_some(stream, buffer, parser, handler); });
    if (!read) {
      if (gaveUp == GaveUp::Cancelled) return status;
      return fail(fmt::format("the response from {} stopped: nothing arrived for {}", authority,
                              durationText(options.idleTimeout)));
    }
    if (*read == bhttp::error::need_buffer) *read = {};  // the piece is full
    if (*read) {
      return fail(
          fmt::format("cannot read the response from {}: {}", authority, reason(*read, config)));
    }
    const std::size_t size = piece.size() - parser.get().body().size;
    received += size;
    if (!success && received > config.bodyLimit) {
      return fail(fmt::format("cannot read the response from {}: {}", authority,
                              reason(bhttp::error::body_limit, config)));
    }
    if (size > 0 && handlers.onChunk && !handlers.onChunk({piece.data(), size})) return status;
  }
  return status;
}

BeastRequest toBeast(const ClientRequest& request, const HttpClientConfig& config,
                     const std::string& authority) {
  BeastRequest message;
  message.method_string(request.method);
  message.target(request.path);
  message.version(11);
  for (const auto& [name, value] : request.headers) message.insert(name, value);
  // A Host of the caller's own names a virtual host behind the address
  // (the ingress routes by it); otherwise the URL's authority.
  if (!request.headers.contains("Host")) message.set(bhttp::field::host, authority);
  message.set(bhttp::field::user_agent, "ozy");
  message.set(bhttp::field::connection, "close");
  if (!config.bearerToken.empty()) {
    message.set(bhttp::field::authorization, "Bearer " + config.bearerToken);
  }
  message.body() = request.body;
  message.prepare_payload();
  return message;
}

// Connects (and for https, handshakes) within the deadline, then runs
// `run(ioc, stream, message)` on the plain or TLS stream, whose expiry is
// still the deadline.
template <class T, class Run>
Result<T, std::string> withConnection(const ClientRequest& request, const HttpClientConfig& config,
                                      const BaseUrl& url, const ClientTls* tls, Run&& run) {
  if (std::string why = invalidRequest(request); !why.empty()) return fail(std::move(why));
  const auto deadline = Clock::now() + config.deadline;
  const std::string authority = url.authority();
  net::io_context ioc;
  auto endpoints = endpointsFor(ioc, url);
  if (!endpoints) return fail(std::move(endpoints).error());

  beast::tcp_stream plain(ioc);
  plain.expires_at(deadline);  // covers every later step: expiry is per stream
  if (auto ec = await(ioc, [&](auto handler) { plain.async_connect(*endpoints, handler); })) {
    return fail(fmt::format("cannot connect to {}: {}", authority, reason(ec, config)));
  }
  BeastRequest message = toBeast(request, config, authority);
  if (tls == nullptr) return run(ioc, plain, message, authority);

  beast::ssl_stream<beast::tcp_stream> stream(std::move(plain), *tls->context);
  beast::get_lowest_layer(stream).expires_at(deadline);  // not left to the move to carry
  if (!expectServerName(stream.native_handle(), url.host)) {
    return fail(fmt::format("cannot set up TLS for the server name \"{}\"", url.host));
  }
  if (auto ec = await(ioc, [&](auto handler) {
        stream.async_handshake(net::ssl::stream_base::client, handler);
      })) {
    const std::string untrusted = verificationFailure(stream.native_handle());
    const std::string why =
        untrusted.empty() ? reason(ec, config)
                          : fmt::format("the server's certificate is not trusted: {}", untrusted);
    return fail(fmt::format("TLS handshake with {} failed: {}", authority, why));
  }
  return run(ioc, stream, message, authority);
}

}  // namespace

Result<ClientResponse, std::string> HttpClient::send(const ClientRequest& request) const {
  return withConnection<ClientResponse>(
      request, config_, url_, tls_.get(),
      [&](net::io_context& ioc, auto& stream, BeastRequest& message, const std::string& authority) {
        return exchange(ioc, stream, message, config_, authority);
      });
}

Result<int, std::string> HttpClient::stream(const ClientRequest& request,
                                            const StreamHandlers& handlers,
                                            const StreamOptions& options) const {
  return withConnection<int>(
      request, config_, url_, tls_.get(),
      [&](net::io_context& ioc, auto& stream, BeastRequest& message, const std::string& authority) {
        return streamExchange(ioc, stream, message, config_, authority, handlers, options);
      });
}

}  // namespace ozy::http
