// A client of the ingress for the tests: one connection, driven one step at
// a time (write these bytes, read a response, read until closed), each step
// bounded by a timeout so that a broken ingress fails a test instead of
// hanging it. Responses are parsed by Beast, so chunked and EOF-delimited
// bodies read as any other.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "support/backends.h"

namespace ozy::ingress::testing {

namespace bhttp = boost::beast::http;
using Response = bhttp::response<bhttp::string_body>;
using Request = bhttp::request<bhttp::string_body>;

class TestClient {
 public:
  // Null (and a test failure) when the connection cannot be made.
  static std::unique_ptr<TestClient> connect(std::uint16_t port,
                                             const std::string& address = "127.0.0.1");

  bool write(std::string_view bytes);
  bool send(Request request);
  // The next response; nullopt if none arrives complete within `timeout`
  // (or the connection ends first). `head`: the answer to a HEAD request,
  // which has no body whatever its Content-Length says.
  std::optional<Response> read(bool head = false, std::chrono::milliseconds timeout = kWait);
  // Every byte until the ingress closes the connection; nullopt if it is
  // still open after `timeout`.
  std::optional<std::string> readUntilClosed(std::chrono::milliseconds timeout = kWait);
  void shutdownWrite();
  boost::beast::tcp_stream& stream() { return stream_; }
  boost::asio::io_context& ioc() { return ioc_; }

 private:
  TestClient() : stream_(ioc_) {}
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool ended_ = false;  // a read has seen the end of the stream
};

// GET (or `method`) `target` for `host`, with a body and its Content-Length
// when `body` is not empty.
Request makeRequest(bhttp::verb method, std::string_view target, std::string_view host,
                    std::string body = {});
// One request on a connection of its own.
std::optional<Response> roundTrip(std::uint16_t port, Request request);
std::optional<Response> get(std::uint16_t port, std::string_view host,
                            std::string_view target = "/");

// The problem document's "type", or "" when the response is not one.
std::string problemType(const Response& response);

}  // namespace ozy::ingress::testing
