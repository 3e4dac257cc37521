// The ingress's HTTP/1.1 on the wire, over loopback: what reaches a backend
// (X-Forwarded-*, no hop-by-hop fields, a body de-chunked), what reaches the
// client (chunked when the backend's framing cannot be passed on, no body
// for HEAD, big bodies intact, answers in order), and what never gets
// through: the request smuggling shapes and requests over the limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "http/http_problems.h"
#include "ingress/ingress.h"
#include "ingress/ingress_problems.h"
#include "support/backends.h"
#include "support/ingress_fixture.h"
#include "support/test_client.h"

namespace ozy::ingress::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// An ingress with one job, "shop" for shop.example, in front of one backend.
struct OneBackend {
  template <typename Backend>
  static OneBackend with(Backend backend, std::uint16_t port, IngressConfig config = testConfig()) {
    OneBackend setup;
    setup.ingress = startIngress(std::move(config));
    if (setup.ingress) {
      setup.ingress->setRoutes(Routes()
                                   .job("shop", {"shop.example"}, port)
                                   .instance("shop", instanceAddress(0))
                                   .build());
    }
    setup.keep = std::make_shared<Backend>(std::move(backend));
    return setup;
  }
  std::uint16_t port() const { return ingress->port(); }
  std::shared_ptr<void> keep;        // the backend, which outlives
  std::unique_ptr<Ingress> ingress;  // the ingress in front of it
};

// What the echo server received, or null.
nlohmann::json echoOf(const std::optional<Response>& response) {
  if (!response || response->result_int() != 200) return nullptr;
  return nlohmann::json::parse(response->body(), nullptr, false);
}

// The values of a field the echo server received, in order.
std::vector<std::string> receivedField(const nlohmann::json& echo, std::string_view name) {
  std::vector<std::string> values;
  if (!echo.is_object()) return {"<no echo>"};
  for (const auto& field : echo["headers"]) {
    const std::string fieldName = field[0].get<std::string>();
    if (boost::beast::iequals(fieldName, boost::beast::string_view(name.data(), name.size()))) {
      values.push_back(field[1].get<std::string>());
    }
  }
  return values;
}

// The requests a raw backend received.
class Recorder {
 public:
  RawBackend::Script answering(std::string response) {
    return [this, response](RawPeer& peer) {
      while (auto request = peer.readRequest()) {
        {
          std::lock_guard lock(mutex_);
          requests_.push_back(*request);
        }
        if (!peer.write(response)) return;
      }
    };
  }
  std::vector<RawRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<RawRequest> requests_;
};

void expectStatus(const std::optional<Response>& response, unsigned status, std::string_view slug) {
  ASSERT_TRUE(response.has_value()) << "no response";
  EXPECT_EQ(response->result_int(), status) << response->body();
  EXPECT_EQ(problemType(*response), "/docs/errors.md#" + std::string(slug));
}

// ---- what reaches the backend ----

TEST(IngressHttp, XForwardedFieldsOfAnUntrustedClientAreReplaced) {
  auto setup = [] {
    auto server = startEchoServer(instanceAddress(0), 0, "shop-1");
    const std::uint16_t port = server ? server->port() : 0;
    return OneBackend::with(std::move(server), port);
  }();
  ASSERT_TRUE(setup.ingress);
  auto request = makeRequest(bhttp::verb::get, "/", "shop.example");
  request.set("X-Forwarded-For", "203.0.113.1");
  request.set("X-Forwarded-Proto", "https");
  request.set("X-Forwarded-Host", "bank.example");
  request.set("Forwarded", "for=203.0.113.1");
  const auto echo = echoOf(roundTrip(setup.port(), std::move(request)));
  EXPECT_THAT(receivedField(echo, "X-Forwarded-For"), ElementsAre("127.0.0.1"));
  EXPECT_THAT(receivedField(echo, "X-Forwarded-Proto"), ElementsAre("http"));
  EXPECT_THAT(receivedField(echo, "X-Forwarded-Host"), ElementsAre("shop.example"));
  EXPECT_THAT(receivedField(echo, "Forwarded"), IsEmpty());
}

TEST(IngressHttp, XForwardedForOfATrustedProxyIsAppendedTo) {
  auto config = testConfig();
  config.trustedProxies = TrustedNetworks::parse({"127.0.0.0/8"}).value();
  auto setup = [&] {
    auto server = startEchoServer(instanceAddress(0), 0, "shop-1");
    const std::uint16_t port = server ? server->port() : 0;
    return OneBackend::with(std::move(server), port, config);
  }();
  ASSERT_TRUE(setup.ingress);
  auto request = makeRequest(bhttp::verb::get, "/", "shop.example");
  request.insert("X-Forwarded-For", "203.0.113.1");
  request.insert("X-Forwarded-For", "198.51.100.2");
  request.set("X-Forwarded-Proto", "https");
  const auto echo = echoOf(roundTrip(setup.port(), std::move(request)));
  EXPECT_THAT(receivedField(echo, "X-Forwarded-For"),
              ElementsAre("203.0.113.1, 198.51.100.2, 127.0.0.1"));
  EXPECT_THAT(receivedField(echo, "X-Forwarded-Proto"), ElementsAre("https"));
  EXPECT_THAT(receivedField(echo, "X-Forwarded-Host"), ElementsAre("shop.example"));
}

TEST(IngressHttp, HopByHopFieldsGoNoFurtherEitherWay) {
  Recorder recorder;
  auto backend =
      RawBackend::start(instanceAddress(0), 0,
                        recorder.answering(okResponse("ok",
                                                      "Connection: keep-alive, X-Internal\r\n"
                                                      "X-Internal: node-7\r\n"
                                                      "Keep-Alive: timeout=5\r\n"
                                                      "Proxy-Authenticate: Basic\r\n"
                                                      "X-Kept: yes\r\n")));
  ASSERT_TRUE(backend);
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->write("GET / HTTP/1.1\r\nHost: shop.example\r\n"
                    "Connection: keep-alive, X-Secret\r\n"
                    "X-Secret: s3cr3t\r\n"
                    "Keep-Alive: 300\r\n"
                    "TE: trailers\r\n"
                    "Proxy-Authorization: Basic eDp5\r\n"
                    "Upgrade: h2c\r\n"
                    "X-Kept: yes\r\n\r\n"));
  const auto response = client->read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body(), "ok");
  for (const char* name : {"X-Internal", "Keep-Alive", "Proxy-Authenticate"}) {
    EXPECT_EQ(response->count(name), 0u) << name << " reached the client";
  }
  EXPECT_EQ(response->count("Connection"), 0u) << "keep-alive is HTTP/1.1's default";
  EXPECT_EQ((*response)["X-Kept"], "yes");

  const auto received = recorder.requests();
  ASSERT_EQ(received.size(), 1u);
  for (const char* name : {"x-secret", "keep-alive", "te", "proxy-authorization", "upgrade"}) {
    EXPECT_EQ(received[0].headers.count(name), 0u) << name << " reached the backend";
  }
  EXPECT_EQ(received[0].header("x-kept"), "yes");
  EXPECT_EQ(received[0].header("host"), "shop.example");
}

// The ingress is the backend's client: it sends origin-form, as RFC 9112
// section 3.2.1 asks of a request to an origin server.
TEST(IngressHttp, AnAbsoluteFormTargetReachesTheBackendAsAPath) {
  auto setup = [] {
    auto server = startEchoServer(instanceAddress(0), 0, "shop-1");
    const std::uint16_t port = server ? server->port() : 0;
    return OneBackend::with(std::move(server), port);
  }();
  ASSERT_TRUE(setup.ingress);
  const auto echo = echoOf(roundTrip(
      setup.port(), makeRequest(bhttp::verb::get, "http://shop.example/a/b?x=1", "shop.example")));
  ASSERT_TRUE(echo.is_object());
  EXPECT_EQ(echo["path"], "/a/b");
  EXPECT_EQ(echo["query"], "x=1");
}

TEST(IngressHttp, AChunkedRequestBodyReachesTheBackendWithAContentLength) {
  auto setup = [] {
    auto server = startEchoServer(instanceAddress(0), 0, "shop-1");
    const std::uint16_t port = server ? server->port() : 0;
    return OneBackend::with(std::move(server), port);
  }();
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write(
      "POST /upload HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  const auto echo = echoOf(client->read());
  ASSERT_TRUE(echo.is_object());
  EXPECT_EQ(echo["body"], "hello world");
  EXPECT_THAT(receivedField(echo, "Content-Length"), ElementsAre("11"));
  EXPECT_THAT(receivedField(echo, "Transfer-Encoding"), IsEmpty());
}

TEST(IngressHttp, ABodyWithinTheLimitIsForwardedWhateverItsSize) {
  auto setup = [] {
    auto server = startEchoServer(instanceAddress(0), 0, "shop-1");
    const std::uint16_t port = server ? server->port() : 0;
    return OneBackend::with(std::move(server), port);  // bodyLimit: the default 16 MiB
  }();
  ASSERT_TRUE(setup.ingress);
  const std::string body(3 << 20, 'b');
  const auto echo = echoOf(
      roundTrip(setup.port(), makeRequest(bhttp::verb::post, "/upload", "shop.example", body)));
  ASSERT_TRUE(echo.is_object());
  EXPECT_EQ(echo["body"].get<std::string>().size(), body.size());
}

TEST(IngressHttp, ExpectContinueIsAnsweredByTheIngress) {
  auto setup = [] {
    auto server = startEchoServer(instanceAddress(0), 0, "shop-1");
    const std::uint16_t port = server ? server->port() : 0;
    return OneBackend::with(std::move(server), port);
  }();
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->write("PUT /file HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue\r\n\r\n"));
  const auto interim = client->read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result_int(), 100u);
  ASSERT_TRUE(client->write("hello"));
  const auto echo = echoOf(client->read());
  ASSERT_TRUE(echo.is_object());
  EXPECT_EQ(echo["body"], "hello");
  EXPECT_THAT(receivedField(echo, "Expect"), IsEmpty());
}

// ---- what reaches the client ----

TEST(IngressHttp, PipelinedRequestsAreAnsweredInOrder) {
  auto servers = onOnePort(3, [](const std::string& address, std::uint16_t port) {
    return startEchoServer(address, port, address);
  });
  ASSERT_EQ(servers.size(), 3u);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  Routes routes;
  routes.job("shop", {"shop.example"}, servers[0]->port());
  for (int i = 0; i < 3; ++i) routes.instance("shop", instanceAddress(i));
  ingress->setRoutes(routes.build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->write("GET /one HTTP/1.1\r\nHost: shop.example\r\n\r\n"
                    "GET /two HTTP/1.1\r\nHost: shop.example\r\n\r\n"
                    "GET /three HTTP/1.1\r\nHost: shop.example\r\n\r\n"));
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    const auto echo = echoOf(client->read());
    paths.push_back(echo.is_object() ? echo["path"].get<std::string>() : "<none>");
  }
  EXPECT_THAT(paths, ElementsAre("/one", "/two", "/three"));
}

TEST(IngressHttp, AChunkedResponseIsRelayedChunked) {
  auto backend = RawBackend::start(instanceAddress(0), 0, serveEach([](const RawRequest&) {
                                     return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
                                   }));
  ASSERT_TRUE(backend);
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  for (int i = 0; i < 2; ++i) {  // and the connection is fit for the next request
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
    const auto response = client->read();
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_TRUE(response->chunked());
    EXPECT_EQ(response->body(), "hello world");
  }
}

TEST(IngressHttp, AResponseEndedByCloseIsRelayedChunkedToAnHttp11Client) {
  auto backend = RawBackend::start(instanceAddress(0), 0, [](RawPeer& peer) {
    if (peer.readRequest()) peer.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world");
  });
  ASSERT_TRUE(backend);
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
    const auto response = client->read();
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_TRUE(response->chunked());
    EXPECT_TRUE(response->keep_alive()) << "the backend's close is not the client's";
    EXPECT_EQ(response->body(), "hello world");
  }
}

TEST(IngressHttp, AResponseEndedByCloseReachesAnHttp10ClientUntilClose) {
  auto backend = RawBackend::start(instanceAddress(0), 0, [](RawPeer& peer) {
    if (peer.readRequest()) peer.write("HTTP/1.1 200 OK\r\n\r\nhello world");
  });
  ASSERT_TRUE(backend);
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write("GET / HTTP/1.0\r\nHost: shop.example\r\n\r\n"));
  const auto bytes = client->readUntilClosed();
  ASSERT_TRUE(bytes);
  EXPECT_THAT(*bytes, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(*bytes, Not(HasSubstr("chunked")));
  EXPECT_THAT(*bytes, ::testing::EndsWith("\r\n\r\nhello world"));
}

TEST(IngressHttp, AResponseToHeadHasNoBody) {
  auto backend = RawBackend::start(instanceAddress(0), 0, serveEach([](const RawRequest& request) {
                                     const std::string head =
                                         "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
                                     return request.method == "HEAD" ? head : head + "hello world";
                                   }));
  ASSERT_TRUE(backend);
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  auto client = TestClient::connect(setup.port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::head, "/", "shop.example")));
  const auto head = client->read(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->result_int(), 200u);
  EXPECT_EQ((*head)[bhttp::field::content_length], "11");
  // Had a body followed the HEAD answer, it would be read as this answer.
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  const auto full = client->read();
  ASSERT_TRUE(full);
  EXPECT_EQ(full->result_int(), 200u);
  EXPECT_EQ(full->body(), "hello world");
}

TEST(IngressHttp, AFiveMegabyteResponseArrivesIntact) {
  std::string big(5 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  auto backend = RawBackend::start(instanceAddress(0), 0,
                                   serveEach([big](const RawRequest&) { return okResponse(big); }));
  ASSERT_TRUE(backend);
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  const auto response = get(setup.port(), "shop.example");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 200u);
  EXPECT_EQ(response->body().size(), big.size());
  EXPECT_TRUE(response->body() == big) << "the body arrived changed";
}

// ---- what never gets through ----

// Each of these makes a front proxy and a backend disagree on where a
// request ends or whom it is for. The ingress answers 400 and closes: after
// such a request it cannot know where the next one starts.
TEST(IngressHttp, SmugglingShapesAreRefusedWith400AndTheConnectionClosed) {
  auto backend = RawBackend::start(instanceAddress(0), 0,
                                   serveEach([](const RawRequest&) { return okResponse("ok"); }));
  ASSERT_TRUE(backend);
  RawBackend& seen = *backend;
  const std::uint16_t port = backend->port();
  auto setup = OneBackend::with(std::move(backend), port);
  ASSERT_TRUE(setup.ingress);
  // clang-format off
  const struct {
    const char* name;
    std::string bytes;
  } cases[] = {
      {"Content-Length with Transfer-Encoding",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"Transfer-Encoding with Content-Length",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
      {"two differing Content-Lengths",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
      {"two equal Content-Lengths",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
      {"a Content-Length list", "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5, 5\r\n\r\nhello"},
      {"a signed Content-Length", "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: +5\r\n\r\nhello"},
      {"a coding other than chunked",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: gzip\r\n\r\nhello"},
      {"chunked after another coding",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
      {"a look-alike of chunked",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
      {"a control character in the target", std::string("GET /a\x01" "b HTTP/1.1\r\nHost: shop.example\r\n\r\n")},
      {"DEL in the target", "GET /a\x7f HTTP/1.1\r\nHost: shop.example\r\n\r\n"},
      {"a second, differing Host", "GET / HTTP/1.1\r\nHost: shop.example\r\nHost: evil.example\r\n\r\n"},
      {"no Host", "GET / HTTP/1.1\r\n\r\n"},
      {"absolute-form differing from Host", "GET http://evil.example/ HTTP/1.1\r\nHost: shop.example\r\n\r\n"},
      {"white space before a field's colon", "GET / HTTP/1.1\r\nHost : shop.example\r\n\r\n"},
      {"a malformed chunk size",
       "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
  };
  // clang-format on
  for (const auto& c : cases) {
    auto client = TestClient::connect(setup.port());
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->write(c.bytes)) << c.name;
    const auto answer = client->readUntilClosed();
    ASSERT_TRUE(answer.has_value()) << c.name << ": the connection stayed open";
    EXPECT_THAT(*answer, StartsWith("HTTP/1.1 400 ")) << c.name;
    EXPECT_THAT(*answer, HasSubstr("bad-request")) << c.name;
  }
  EXPECT_EQ(seen.accepted(), 0) << "a refused request reached the backend";
}

TEST(IngressHttp, ConnectIsRefusedAsNotAForwardProxy) {
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write("CONNECT shop.example:443 HTTP/1.1\r\nHost: shop.example:443\r\n\r\n"));
  const auto answer = client->readUntilClosed();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(*answer, HasSubstr("not-a-forward-proxy"));
}

TEST(IngressHttp, AHeaderOverTheLimitIs431) {
  auto config = testConfig();
  config.headerLimit = 2048;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(
      Routes().job("shop", {"shop.example"}, 8080).instance("shop", instanceAddress(0)).build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write(
      "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n"));
  const auto response = client->read();
  expectStatus(response, 431, problems::kRequestHeadersTooLarge.slug);
  EXPECT_TRUE(client->readUntilClosed().has_value()) << "the connection stayed open";
}

TEST(IngressHttp, ABodyOverTheLimitIs413) {
  auto config = testConfig();
  config.bodyLimit = 1000;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(
      Routes().job("shop", {"shop.example"}, 8080).instance("shop", instanceAddress(0)).build());
  // clang-format off
  const struct {
    const char* name;
    std::string bytes;
  } cases[] = {
      {"by Content-Length", "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1001\r\n\r\n" +
                                std::string(1001, 'x')},
      {"chunked", "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "200\r\n" + std::string(512, 'x') + "\r\n200\r\n" + std::string(512, 'x') + "\r\n0\r\n\r\n"},
  };
  // clang-format on
  for (const auto& c : cases) {
    auto client = TestClient::connect(ingress->port());
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->write(c.bytes)) << c.name;
    const auto response = client->read();
    expectStatus(response, 413, problems::kRequestTooLarge.slug);
    EXPECT_TRUE(client->readUntilClosed().has_value()) << c.name << ": the connection stayed open";
  }
}

TEST(IngressHttp, AHeaderThatDoesNotArriveInTimeIs408) {
  auto config = testConfig();
  config.headerTimeout = kShortTimeout;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write("GET / HTTP/1.1\r\nHost: shop.example\r\n"));  // and no end
  const auto response = client->read();
  expectStatus(response, 408, problems::kRequestTimeout.slug);
  EXPECT_TRUE(client->readUntilClosed().has_value()) << "the connection stayed open";
}

TEST(IngressHttp, ABodyThatDoesNotArriveInTimeIs408) {
  auto config = testConfig();
  config.requestTimeout = kShortTimeout;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(
      Routes().job("shop", {"shop.example"}, 8080).instance("shop", instanceAddress(0)).build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->write("POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 10\r\n\r\nhalf"));
  const auto response = client->read();
  expectStatus(response, 408, problems::kRequestTimeout.slug);
  EXPECT_TRUE(client->readUntilClosed().has_value()) << "the connection stayed open";
}

TEST(IngressHttp, ASilentConnectionIsClosedWithoutAnAnswer) {
  // clang-format off
  const struct {
    const char* name;
    bool oneRequestFirst;
  } cases[] = {{"nothing ever sent (headerTimeout)", false}, {"idle after a request (idleTimeout)", true}};
  // clang-format on
  auto config = testConfig();
  config.headerTimeout = kShortTimeout;
  config.idleTimeout = kShortTimeout;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  for (const auto& c : cases) {
    auto client = TestClient::connect(ingress->port());
    ASSERT_TRUE(client);
    if (c.oneRequestFirst) {
      ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
      ASSERT_TRUE(client->read()) << c.name;
    }
    const auto rest = client->readUntilClosed();
    ASSERT_TRUE(rest.has_value()) << c.name << ": the connection stayed open";
    EXPECT_EQ(*rest, "") << c.name;
  }
}

}  // namespace
}  // namespace ozy::ingress::testing
