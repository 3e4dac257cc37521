#include "support/test_client.h"

#include <gtest/gtest.h>

#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

namespace ozy::ingress::testing {

namespace net = boost::asio;
using error_code = boost::system::error_code;

namespace {

// Runs one asynchronous operation to its end. Every operation here is
// bounded by the stream's expiry, so run() always returns.
template <typename Start>
error_code complete(net::io_context& ioc, Start start) {
  error_code result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

}  // namespace

std::unique_ptr<TestClient> TestClient::connect(std::uint16_t port, const std::string& address) {
  std::unique_ptr<TestClient> client(new TestClient());
  const net::ip::tcp::endpoint endpoint(net::ip::make_address(address), port);
  client->stream_.expires_after(kWait);
  const error_code ec = complete(client->ioc_, [&](auto handler) {
    client->stream_.async_connect(endpoint, std::move(handler));
  });
  if (ec) {
    ADD_FAILURE() << "cannot connect to " << address << ":" << port << ": " << ec.message();
    return nullptr;
  }
  return client;
}

bool TestClient::write(std::string_view bytes) {
  stream_.expires_after(kWait);
  return !complete(ioc_, [&](auto handler) {
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()), std::move(handler));
  });
}

bool TestClient::send(Request request) {
  stream_.expires_after(kWait);
  return !complete(ioc_,
                   [&](auto handler) { bhttp::async_write(stream_, request, std::move(handler)); });
}

std::optional<Response> TestClient::read(bool head, std::chrono::milliseconds timeout) {
  bhttp::response_parser<bhttp::string_body> parser;
  // A number, not boost::none: Beast 1.74 takes "no limit" for a limit of
  // nothing (boostorg/beast#2070).
  parser.body_limit(std::uint64_t{1} << 30);
  if (head) parser.skip(true);
  stream_.expires_after(timeout);
  const error_code ec = complete(
      ioc_, [&](auto handler) { bhttp::async_read(stream_, buffer_, parser, std::move(handler)); });
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) ended_ = true;
  if (ec) return std::nullopt;
  return parser.release();
}

std::optional<std::string> TestClient::readUntilClosed(std::chrono::milliseconds timeout) {
  std::string bytes(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  buffer_.clear();
  // A stream known to have ended is not read again: a second read after
  // the end was seen to wait for the expiry instead of seeing it.
  if (ended_) return bytes;
  stream_.expires_after(timeout);
  char chunk[16384];
  for (;;) {
    std::size_t got = 0;
    error_code ec;
    stream_.async_read_some(net::buffer(chunk), [&](error_code readEc, std::size_t n) {
      ec = readEc;
      got = n;
    });
    ioc_.restart();
    ioc_.run();
    bytes.append(chunk, got);
    if (ec == net::error::eof || ec == net::error::connection_reset) return bytes;
    if (ec) return std::nullopt;  // timed out
  }
}

void TestClient::shutdownWrite() {
  error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
}

Request makeRequest(bhttp::verb method, std::string_view target, std::string_view host,
                    std::string body) {
  Request request(method, boost::beast::string_view(target.data(), target.size()), 11);
  request.set(bhttp::field::host, boost::beast::string_view(host.data(), host.size()));
  if (!body.empty()) {
    request.body() = std::move(body);
    request.prepare_payload();
  }
  return request;
}

std::optional<Response> roundTrip(std::uint16_t port, Request request) {
  const bool head = request.method() == bhttp::verb::head;
  auto client = TestClient::connect(port);
  if (!client || !client->send(std::move(request))) return std::nullopt;
  return client->read(head);
}

std::optional<Response> get(std::uint16_t port, std::string_view host, std::string_view target) {
  return roundTrip(port, makeRequest(bhttp::verb::get, target, host));
}

std::string problemType(const Response& response) {
  if (response[bhttp::field::content_type] != "application/problem+json") return {};
  const auto json = nlohmann::json::parse(response.body(), nullptr, false);
  if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) return {};
  return json["type"].get<std::string>();
}

}  // namespace ozy::ingress::testing
