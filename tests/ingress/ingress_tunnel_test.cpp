// Byte relays through the ingress, over loopback: a WebSocket after its
// handshake (Boost.Beast's websocket at both ends), and a TCP route's
// connections to a raw echo backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>

#include "ingress/ingress.h"
#include "support/backends.h"
#include "support/ingress_fixture.h"
#include "support/test_client.h"

namespace ozy::ingress::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using ::testing::Contains;
using ::testing::IsEmpty;

// A WebSocket backend: greets, then sends back every message as it came.
// Beast's blocking websocket over the raw backend's socket (a duplicate of
// its descriptor: the backend's stop shuts the socket down, which wakes it).
RawBackend::Script webSocketEcho() {
  return [](RawPeer& peer) {
    net::io_context ioc;
    tcp::socket socket(ioc);
    error_code ec;
    socket.assign(tcp::v4(), ::dup(peer.fd()), ec);
    if (ec) return;
    websocket::stream<tcp::socket> ws(std::move(socket));
    ws.accept(ec);
    if (ec) return;
    ws.text(true);
    ws.write(net::buffer(std::string("hello from the instance")), ec);
    while (!ec) {
      beast::flat_buffer message;
      ws.read(message, ec);
      if (ec) return;
      ws.text(ws.got_text());
      ws.write(message.data(), ec);
    }
  };
}

// A WebSocket client whose every step is bounded by its stream's expiry.
class WebSocketClient {
 public:
  bool open(std::uint16_t port, const std::string& host, const std::string& target) {
    auto& lowest = beast::get_lowest_layer(ws_);
    lowest.expires_after(kWait);
    if (run([&](auto handler) {
          lowest.async_connect({net::ip::make_address("127.0.0.1"), port}, handler);
        })) {
      return false;
    }
    lowest.expires_after(kWait);
    return !run([&](auto handler) { ws_.async_handshake(response_, host, target, handler); });
  }
  bool send(const std::string& message, bool text) {
    ws_.text(text);
    beast::get_lowest_layer(ws_).expires_after(kWait);
    return !run([&](auto handler) { ws_.async_write(net::buffer(message), handler); });
  }
  std::optional<std::string> receive() {
    beast::flat_buffer buffer;
    beast::get_lowest_layer(ws_).expires_after(kWait);
    if (run([&](auto handler) { ws_.async_read(buffer, handler); })) return std::nullopt;
    return beast::buffers_to_string(buffer.data());
  }
  bool close() {
    beast::get_lowest_layer(ws_).expires_after(kWait);
    return !run([&](auto handler) { ws_.async_close(websocket::close_code::normal, handler); });
  }
  const websocket::response_type& handshakeResponse() const { return response_; }

 private:
  template <typename Start>
  error_code run(Start start) {
    error_code result;
    start([&result](error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  websocket::response_type response_;
};

TEST(IngressTunnel, AWebSocketIsRelayedBothWays) {
  auto backend = RawBackend::start(instanceAddress(0), 0, webSocketEcho());
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("chat", {"chat.example"}, backend->port())
                         .instance("chat", instanceAddress(0))
                         .build());

  WebSocketClient client;
  ASSERT_TRUE(client.open(ingress->port(), "chat.example", "/socket"));
  EXPECT_EQ(client.handshakeResponse().result_int(), 101u);
  EXPECT_EQ(client.receive(), "hello from the instance");
  ASSERT_TRUE(client.send("ping", true));
  EXPECT_EQ(client.receive(), "ping");
  std::string binary(256 << 10, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 31);
  ASSERT_TRUE(client.send(binary, false));
  EXPECT_EQ(client.receive(), binary);
  EXPECT_TRUE(client.close());
  EXPECT_TRUE(eventually([&] {
    return ::testing::Value(ingress->requestCounts(), Contains(RequestCount{"chat", 101, 1}));
  }));
}

// A backend that does not take the upgrade is answered as any request.
TEST(IngressTunnel, AWebSocketUpgradeTheInstanceRefusesIsRelayedAsAnAnswer) {
  auto backend = RawBackend::start(
      instanceAddress(0), 0, serveEach([](const RawRequest&) {
        return std::string("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way");
      }));
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("chat", {"chat.example"}, backend->port())
                         .instance("chat", instanceAddress(0))
                         .build());
  WebSocketClient client;
  EXPECT_FALSE(client.open(ingress->port(), "chat.example", "/socket"));
  EXPECT_EQ(client.handshakeResponse().result_int(), 403u);
  EXPECT_EQ(client.handshakeResponse().body(), "no way");
}

// A TCP route's port, free when the test asked for it. Ingress TCP routes
// name their port, so the test cannot let the kernel pick one at bind.
std::uint16_t freePort() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

bool listsPort(const Ingress& ingress, std::uint16_t port) {
  const auto ports = ingress.tcpPorts();
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

TEST(IngressTunnel, ATcpRouteRelaysBytesToAnInstanceByteForByte) {
  auto backend = RawBackend::start(instanceAddress(0), 0, echoBytes());
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  const std::uint16_t port = freePort();
  ingress->setRoutes(
      Routes().job("db", {}, backend->port(), port).instance("db", instanceAddress(0)).build());
  ASSERT_TRUE(eventually([&] { return listsPort(*ingress, port); }))
      << "no listener on the TCP route's port";

  auto client = TestClient::connect(port);
  ASSERT_TRUE(client);
  std::string bytes(64 << 10, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 13 + 7);
  bytes.replace(0, 28, "GET / HTTP/1.1\r\nnot http\r\n\r\n");  // never parsed: bytes are bytes
  ASSERT_TRUE(client->write(bytes));
  client->shutdownWrite();
  const auto echoed = client->readUntilClosed();
  ASSERT_TRUE(echoed.has_value()) << "the half-close did not come back";
  EXPECT_EQ(echoed->size(), bytes.size());
  EXPECT_TRUE(*echoed == bytes) << "the bytes came back changed";
  EXPECT_TRUE(eventually([&] {
    return ::testing::Value(ingress->requestCounts(), Contains(RequestCount{"db", 200, 1}));
  }));

  // The route goes, and its listener with it.
  ingress->setRoutes(Routes().build());
  EXPECT_TRUE(eventually([&] { return ingress->tcpPorts().empty(); }));
}

TEST(IngressTunnel, ATcpRoutePassesOverAnInstanceRefusingConnections) {
  auto servers = onOnePort(2, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(address, port, echoBytes());
  });
  ASSERT_EQ(servers.size(), 2u);
  servers[0].reset();  // refused from now on
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  const std::uint16_t port = freePort();
  ingress->setRoutes(Routes()
                         .job("db", {}, servers[1]->port(), port)
                         .instance("db", instanceAddress(0))
                         .instance("db", instanceAddress(1))
                         .build());
  ASSERT_TRUE(eventually([&] { return listsPort(*ingress, port); }));
  for (int i = 0; i < 3; ++i) {
    auto client = TestClient::connect(port);
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->write("hello " + std::to_string(i)));
    client->shutdownWrite();
    EXPECT_EQ(client->readUntilClosed(), "hello " + std::to_string(i));
  }
}

TEST(IngressTunnel, ATcpRouteToAnInstanceWhoseAddressDoesNotParseReachesNobody) {
  auto local = RawBackend::start("127.0.0.1", 0, echoBytes());
  ASSERT_TRUE(local);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  const std::uint16_t port = freePort();
  ingress->setRoutes(
      Routes().job("db", {}, local->port(), port).instance("db", "10.244.1.300").build());
  ASSERT_TRUE(eventually([&] { return listsPort(*ingress, port); }));
  auto client = TestClient::connect(port);
  ASSERT_TRUE(client);
  client->write("hello");  // may fail: the ingress may have closed already
  EXPECT_EQ(client->readUntilClosed(), "") << "the bytes reached somebody";
  EXPECT_EQ(local->accepted(), 0) << "a connection went to this host";
}

TEST(IngressTunnel, ATunnelSilentForItsIdleTimeIsClosed) {
  auto backend = RawBackend::start(instanceAddress(0), 0, echoBytes());
  ASSERT_TRUE(backend);
  auto config = testConfig();
  config.tunnelIdleTimeout = kShortTimeout;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  const std::uint16_t port = freePort();
  ingress->setRoutes(
      Routes().job("db", {}, backend->port(), port).instance("db", instanceAddress(0)).build());
  ASSERT_TRUE(eventually([&] { return listsPort(*ingress, port); }));
  auto client = TestClient::connect(port);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write("x"));
  const auto bytes = client->readUntilClosed();
  ASSERT_TRUE(bytes.has_value()) << "the silent tunnel stayed open";
  EXPECT_EQ(*bytes, "x");
}

TEST(IngressTunnel, ATcpRouteWithoutAHealthyInstanceClosesTheConnection) {
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  const std::uint16_t port = freePort();
  ingress->setRoutes(Routes().job("db", {}, 5432, port).build());
  ASSERT_TRUE(eventually([&] { return listsPort(*ingress, port); }));
  auto client = TestClient::connect(port);
  ASSERT_TRUE(client);
  const auto bytes = client->readUntilClosed();
  ASSERT_TRUE(bytes.has_value()) << "the connection stayed open";
  EXPECT_THAT(*bytes, IsEmpty());
  EXPECT_TRUE(eventually([&] {
    return ::testing::Value(ingress->requestCounts(), Contains(RequestCount{"db", 502, 1}));
  }));
}

}  // namespace
}  // namespace ozy::ingress::testing
