// The ingress over loopback, as a specification of where requests go: by
// Host to a healthy instance, in turn; around an instance that refuses
// connections; again on another instance when one fails, if the request may
// be sent twice; and what the ingress answers itself when nobody can (404,
// 503, 502, 504), with what it counts and logs meanwhile.
#include "ingress/ingress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "ingress/access_log.h"
#include "ingress/ingress_problems.h"
#include "support/backends.h"
#include "support/ingress_fixture.h"
#include "support/temp_dir.h"
#include "support/test_client.h"
#include "unit/support/source_files.h"

namespace ozy::ingress::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Which echo server answered.
std::string serverOf(const std::optional<Response>& response) {
  if (!response) return "<no response>";
  if (response->result_int() != 200)
    return "<status " + std::to_string(response->result_int()) + ": " + response->body() + ">";
  const auto echo = nlohmann::json::parse(response->body(), nullptr, false);
  return echo.is_object() ? echo.value("server", "<no server>") : "<not json>";
}

// A raw backend's answer naming the backend, so a test can tell who served.
RawBackend::Script answerAs(std::string name) {
  return serveEach([name](const RawRequest&) { return okResponse(name); });
}

std::string bodyOf(const std::optional<Response>& response) {
  if (!response) return "<no response>";
  if (response->result_int() != 200)
    return "<status " + std::to_string(response->result_int()) + ": " + response->body() + ">";
  return response->body();
}

void expectProblem(const std::optional<Response>& response, const ProblemType& type) {
  ASSERT_TRUE(response.has_value()) << "no response";
  EXPECT_EQ(response->result_int(), static_cast<unsigned>(type.status)) << response->body();
  EXPECT_EQ((*response)[bhttp::field::content_type], "application/problem+json");
  const auto json = nlohmann::json::parse(response->body(), nullptr, false);
  ASSERT_TRUE(json.is_object()) << response->body();
  EXPECT_EQ(json.value("type", ""), "/docs/errors.md#" + std::string(type.slug));
  EXPECT_EQ(json.value("status", 0), type.status);
  EXPECT_FALSE(json.value("detail", "").empty());
}

// ---- starting ----

TEST(Ingress, StartSaysWhatItCannotServe) {
  auto first = startIngress();
  ASSERT_TRUE(first);
  // clang-format off
  const struct {
    const char* name;
    std::function<void(IngressConfig&)> change;
    const char* error;
  } cases[] = {
      {"a port in use", [&](IngressConfig& c) { c.port = first->port(); }, "the port is in use"},
      {"not an address", [](IngressConfig& c) { c.address = "ingress.example"; }, "is not an IP address"},
      {"an address of no interface", [](IngressConfig& c) { c.address = "192.0.2.1"; }, "no interface"},
      {"no threads", [](IngressConfig& c) { c.threads = 0; }, "threads must be 1 to 256"},
  };
  // clang-format on
  for (const auto& c : cases) {
    auto config = testConfig();
    c.change(config);
    const auto ingress = Ingress::start(config);
    ASSERT_FALSE(ingress.ok()) << c.name << ": started";
    EXPECT_THAT(ingress.error(), HasSubstr(c.error)) << c.name;
  }
}

// ---- routing ----

TEST(Ingress, RoutesARequestByItsHostToTheJobThatClaimsIt) {
  auto shop = startEchoServer(instanceAddress(0), 0, "shop-1");
  auto blog = startEchoServer(instanceAddress(1), 0, "blog-1");
  ASSERT_TRUE(shop && blog);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, shop->port())
                         .instance("shop", instanceAddress(0))
                         .job("blog", {"blog.example", "www.blog.example"}, blog->port())
                         .instance("blog", instanceAddress(1))
                         .build());
  EXPECT_EQ(serverOf(get(ingress->port(), "shop.example")), "shop-1");
  EXPECT_EQ(serverOf(get(ingress->port(), "blog.example")), "blog-1");
  EXPECT_EQ(serverOf(get(ingress->port(), "WWW.Blog.Example:8080")), "blog-1")
      << "case and port aside";
}

TEST(Ingress, ANewRouteTableTakesEffectAtTheNextRequest) {
  auto servers = onOnePort(2, [](const std::string& address, std::uint16_t port) {
    return startEchoServer(address, port, address);
  });
  ASSERT_EQ(servers.size(), 2u);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, servers[0]->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  EXPECT_EQ(serverOf(client->read()), instanceAddress(0));

  // Instance 1 moved: the same client connection follows it.
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, servers[0]->port())
                         .instance("shop", instanceAddress(1))
                         .build());
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  EXPECT_EQ(serverOf(client->read()), instanceAddress(1));
}

TEST(Ingress, AnUnknownHostIsAnswered404AndTheConnectionStaysOpen) {
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes().job("shop", {"shop.example"}, 8080).build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
    const auto response = client->read();
    expectProblem(response, problems::kUnknownHost);
    if (response) {
      EXPECT_THAT(response->body(), HasSubstr("nobody.example"));
    }
  }
  // The answer to HEAD has the header of the answer to GET, and no body.
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::head, "/", "nobody.example")));
  const auto head = client->read(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->result_int(), 404u);
  EXPECT_NE((*head)[bhttp::field::content_length], "0");
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
  expectProblem(client->read(), problems::kUnknownHost);
}

TEST(Ingress, AKnownHostWithoutAHealthyInstanceIsAnswered503WithRetryAfter) {
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, 8080)
                         .instance("shop", instanceAddress(0), InstanceState::kStarting)
                         .instance("shop", instanceAddress(1), InstanceState::kUnhealthy)
                         .build());
  const auto response = get(ingress->port(), "shop.example");
  expectProblem(response, problems::kNoHealthyInstance);
  ASSERT_TRUE(response);
  EXPECT_EQ((*response)[bhttp::field::retry_after], "1");
  EXPECT_THAT(response->body(), HasSubstr("shop"));
}

// ---- balancing and passive health ----

TEST(Ingress, RoundRobinSendsEachRequestToTheNextInstance) {
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
  std::vector<std::string> served;
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
    served.push_back(serverOf(client->read()));
  }
  const std::string a = instanceAddress(0), b = instanceAddress(1), c = instanceAddress(2);
  EXPECT_THAT(served, ElementsAre(a, b, c, a, b, c, a, b, c));
}

// Instance 2 of three (127.0.0.3) has nothing listening: its connection is
// refused. Every request still succeeds; and once refused it is passed over
// for passiveEjection, which the test makes long and then observes by
// starting a listener there that must see no connection.
TEST(Ingress, AnInstanceRefusingConnectionsIsSkippedAndThenPassedOver) {
  auto servers = onOnePort(3, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(address, port, answerAs(address));
  });
  ASSERT_EQ(servers.size(), 3u);
  const std::uint16_t port = servers[0]->port();
  servers[1].reset();  // refused from now on
  auto config = testConfig();
  config.passiveEjection = std::chrono::hours(1);
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  Routes routes;
  routes.job("shop", {"shop.example"}, port);
  for (int i = 0; i < 3; ++i) routes.instance("shop", instanceAddress(i));
  ingress->setRoutes(routes.build());

  for (int i = 0; i < 6; ++i) {
    const std::string body = bodyOf(get(ingress->port(), "shop.example"));
    EXPECT_TRUE(body == instanceAddress(0) || body == instanceAddress(2))
        << "request " << i << ": " << body;
  }
  servers[1] = RawBackend::start(instanceAddress(1), port, answerAs(instanceAddress(1)));
  ASSERT_TRUE(servers[1]);
  std::set<std::string> served;
  for (int i = 0; i < 6; ++i) served.insert(bodyOf(get(ingress->port(), "shop.example")));
  EXPECT_THAT(served, UnorderedElementsAre(instanceAddress(0), instanceAddress(2)));
  EXPECT_EQ(servers[1]->accepted(), 0) << "an ejected instance was tried within its ejection";
}

TEST(Ingress, AnEjectedInstanceIsTriedAgainWhenItsEjectionEnds) {
  auto servers = onOnePort(2, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(address, port, answerAs(address));
  });
  ASSERT_EQ(servers.size(), 2u);
  const std::uint16_t port = servers[0]->port();
  servers[1].reset();
  auto config = testConfig();
  config.passiveEjection = 200ms;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, port)
                         .instance("shop", instanceAddress(0))
                         .instance("shop", instanceAddress(1))
                         .build());
  // The second request goes to the refusing instance first, then to the other.
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(bodyOf(get(ingress->port(), "shop.example")), instanceAddress(0));

  servers[1] = RawBackend::start(instanceAddress(1), port, answerAs(instanceAddress(1)));
  ASSERT_TRUE(servers[1]);
  EXPECT_TRUE(eventually([&] {
    return bodyOf(get(ingress->port(), "shop.example")) == instanceAddress(1);
  })) << "the instance back on its feet never got a request again";
}

// When every untried instance is ejected, one is tried anyway: a request that
// may well succeed beats a certain 502.
TEST(Ingress, WhenEveryInstanceIsEjectedOneIsTriedAnyway) {
  auto servers = onOnePort(1, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(address, port, answerAs(address));
  });
  ASSERT_EQ(servers.size(), 1u);
  const std::uint16_t port = servers[0]->port();
  servers[0].reset();
  auto config = testConfig();
  config.passiveEjection = std::chrono::hours(1);
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(
      Routes().job("shop", {"shop.example"}, port).instance("shop", instanceAddress(0)).build());
  expectProblem(get(ingress->port(), "shop.example"), problems::kUpstreamFailed);

  servers[0] = RawBackend::start(instanceAddress(0), port, answerAs("back"));
  ASSERT_TRUE(servers[0]);
  EXPECT_EQ(bodyOf(get(ingress->port(), "shop.example")), "back");
}

// An instance status is data from the store; one whose address does not
// parse must reach nobody. (Connecting to the unspecified address 0.0.0.0
// would reach this very host.)
TEST(Ingress, AnInstanceWhoseAddressDoesNotParseReachesNobody) {
  auto local = RawBackend::start("127.0.0.1", 0, answerAs("this host"));
  ASSERT_TRUE(local);
  auto good = RawBackend::start(instanceAddress(0), local->port(), answerAs("instance"));
  ASSERT_TRUE(good);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, local->port())
                         .instance("shop", "10.244.1.300")
                         .instance("shop", instanceAddress(0))
                         .job("lost", {"lost.example"}, local->port())
                         .instance("lost", "not an address")
                         .build());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(bodyOf(get(ingress->port(), "shop.example")), "instance");
  expectProblem(get(ingress->port(), "lost.example"), problems::kUpstreamFailed);
  EXPECT_EQ(local->accepted(), 0) << "a request went to this host";
}

// ---- retries ----

TEST(Ingress, AGetAnInstanceClosedWithoutAnswerIsRetriedOnAnother) {
  auto servers = onOnePort(2, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(
        address, port, address == instanceAddress(0) ? closeAfterRequest() : answerAs("second"));
  });
  ASSERT_EQ(servers.size(), 2u);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, servers[0]->port())
                         .instance("shop", instanceAddress(0))
                         .instance("shop", instanceAddress(1))
                         .build());
  EXPECT_EQ(bodyOf(get(ingress->port(), "shop.example")), "second");
  EXPECT_EQ(servers[0]->accepted(), 1);
  EXPECT_EQ(servers[1]->accepted(), 1);
}

TEST(Ingress, APostAnInstanceClosedWithoutAnswerIs502AndNotRetried) {
  auto servers = onOnePort(2, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(
        address, port, address == instanceAddress(0) ? closeAfterRequest() : answerAs("second"));
  });
  ASSERT_EQ(servers.size(), 2u);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, servers[0]->port())
                         .instance("shop", instanceAddress(0))
                         .instance("shop", instanceAddress(1))
                         .build());
  expectProblem(roundTrip(ingress->port(),
                          makeRequest(bhttp::verb::post, "/orders", "shop.example", "{\"n\":1}")),
                problems::kUpstreamFailed);
  EXPECT_EQ(servers[0]->accepted(), 1);
  EXPECT_EQ(servers[1]->accepted(), 0) << "a POST that may have been processed was sent again";
}

TEST(Ingress, RetriesStopAtTheConfiguredAttempts) {
  auto servers = onOnePort(3, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(address, port, closeAfterRequest());
  });
  ASSERT_EQ(servers.size(), 3u);
  auto config = testConfig();
  config.attempts = 2;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  Routes routes;
  routes.job("shop", {"shop.example"}, servers[0]->port());
  for (int i = 0; i < 3; ++i) routes.instance("shop", instanceAddress(i));
  ingress->setRoutes(routes.build());
  expectProblem(get(ingress->port(), "shop.example"), problems::kUpstreamFailed);
  EXPECT_EQ(servers[0]->accepted() + servers[1]->accepted() + servers[2]->accepted(), 2);
}

TEST(Ingress, AnInstanceThatDoesNotAnswerInTimeIs504) {
  auto backend = RawBackend::start(instanceAddress(0), 0, neverAnswer());
  ASSERT_TRUE(backend);
  auto config = testConfig();
  config.upstreamTimeout = kShortTimeout;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  expectProblem(get(ingress->port(), "shop.example"), problems::kUpstreamTimeout);
}

TEST(Ingress, APutIsRetriedOnAnotherInstanceWithItsBody) {
  auto servers = onOnePort(2, [](const std::string& address, std::uint16_t port) {
    return RawBackend::start(
        address, port,
        address == instanceAddress(0)
            ? closeAfterRequest()
            : serveEach([](const RawRequest& request) { return okResponse(request.body); }));
  });
  ASSERT_EQ(servers.size(), 2u);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, servers[0]->port())
                         .instance("shop", instanceAddress(0))
                         .instance("shop", instanceAddress(1))
                         .build());
  EXPECT_EQ(bodyOf(roundTrip(ingress->port(),
                             makeRequest(bhttp::verb::put, "/item/7", "shop.example", "new item"))),
            "new item");
}

// Several workers, several clients at once: every request is answered, by
// the instance it was sent to, and counted once.
TEST(Ingress, ManyClientsAtOnceAreAllServed) {
  auto servers = onOnePort(3, [](const std::string& address, std::uint16_t port) {
    return startEchoServer(address, port, address);
  });
  ASSERT_EQ(servers.size(), 3u);
  auto config = testConfig();
  config.threads = 3;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  Routes routes;
  routes.job("shop", {"shop.example"}, servers[0]->port());
  for (int i = 0; i < 3; ++i) routes.instance("shop", instanceAddress(i));
  ingress->setRoutes(routes.build());

  constexpr int kClients = 8;
  constexpr int kRequests = 25;
  std::atomic<int> served{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = TestClient::connect(ingress->port());
      if (!client) return;
      for (int r = 0; r < kRequests; ++r) {
        const std::string target = "/" + std::to_string(c) + "/" + std::to_string(r);
        if (!client->send(makeRequest(bhttp::verb::get, target, "shop.example"))) return;
        const auto response = client->read();
        if (!response || response->result_int() != 200) return;
        const auto echo = nlohmann::json::parse(response->body(), nullptr, false);
        if (echo.is_object() && echo.value("path", "") == target) ++served;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(served.load(), kClients * kRequests);
  const std::vector<RequestCount> expected = {{"shop", 200, kClients * kRequests}};
  EXPECT_TRUE(eventually([&] { return ingress->requestCounts() == expected; }))
      << ::testing::PrintToString(ingress->requestCounts());
  // Every request's time is in the job's histogram, and on loopback none
  // took a second.
  const auto durations = ingress->requestDurations();
  ASSERT_EQ(durations.size(), 1u);
  EXPECT_EQ(durations[0].job, "shop");
  std::uint64_t timed = 0;
  std::uint64_t withinASecond = 0;
  for (std::size_t i = 0; i < durations[0].bucketCounts.size(); ++i) {
    timed += durations[0].bucketCounts[i];
    if (i < kRequestDurationBounds.size() && kRequestDurationBounds[i] <= 1) withinASecond += durations[0].bucketCounts[i];
  }
  EXPECT_EQ(timed, std::uint64_t{kClients * kRequests});
  EXPECT_EQ(withinASecond, timed);
  EXPECT_GT(durations[0].sumSeconds, 0);
}

// ---- pooling ----

TEST(Ingress, ConnectionsToAnInstanceAreKeptAliveAndReused) {
  auto backend = RawBackend::start(instanceAddress(0), 0, answerAs("pooled"));
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());

  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
    ASSERT_EQ(bodyOf(client->read()), "pooled") << "request " << i;
  }
  // The pool belongs to the worker, not to the client's connection.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(bodyOf(get(ingress->port(), "shop.example")), "pooled");
  EXPECT_EQ(backend->accepted(), 1);
}

// A backend may close a kept-alive connection whenever it likes (its own
// idle timeout, a restart); the next request must not pay for it, even one
// that may not be sent twice.
TEST(Ingress, AKeptAliveConnectionTheInstanceClosedIsNotAFailure) {
  auto backend = RawBackend::start(instanceAddress(0), 0, [](RawPeer& peer) {
    if (peer.readRequest()) peer.write(okResponse("once"));  // then closes, unannounced
  });
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(bodyOf(roundTrip(ingress->port(),
                               makeRequest(bhttp::verb::post, "/", "shop.example", "x"))),
              "once")
        << "request " << i;
    // Closed before the next request, as a backend's idle timeout would:
    // one that closes while a request is on its way is a failure for a
    // request that may not be sent twice, by any proxy (RFC 9110 9.2.2),
    // and a busy machine can delay the backend's close past the answer.
    ASSERT_TRUE(eventually([&] { return backend->finished() == i + 1; }));
  }
  EXPECT_EQ(backend->accepted(), 5);
}

// The header of a response goes to the client with the first piece of its
// body: a response that fails before that can still be answered for.
TEST(Ingress, AResponseThatBreaksOffBeforeAnyOfItIsRelayedIs502) {
  auto backend = RawBackend::start(instanceAddress(0), 0, [](RawPeer& peer) {
    if (peer.readRequest()) peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
  });
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  expectProblem(client->read(), problems::kUpstreamFailed);
  EXPECT_EQ(backend->accepted(), 1) << "a request the backend has seen was sent again";
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  expectProblem(client->read(), problems::kUpstreamFailed);  // on the same connection
}

TEST(Ingress, AResponseThatStallsBeforeAnyOfItIsRelayedIs504) {
  auto backend = RawBackend::start(instanceAddress(0), 0, [](RawPeer& peer) {
    if (!peer.readRequest()) return;
    peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
    peer.waitForClose();
  });
  ASSERT_TRUE(backend);
  auto config = testConfig();
  config.upstreamTimeout = kShortTimeout;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  expectProblem(get(ingress->port(), "shop.example"), problems::kUpstreamTimeout);
}

TEST(Ingress, AResponseThatBreaksOffMidwayEndsTheClientsConnection) {
  const std::string part(40000, 'p');
  auto backend = RawBackend::start(instanceAddress(0), 0, [part](RawPeer& peer) {
    if (peer.readRequest()) peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + part);
  });
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  const auto bytes = client->readUntilClosed();
  ASSERT_TRUE(bytes.has_value()) << "the client's connection stayed open";
  EXPECT_THAT(*bytes, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(*bytes, HasSubstr("Content-Length: 100000\r\n"));
  EXPECT_LT(bytes->size(), 100000u) << "more came than the backend sent";
}

// 1xx answers other than 101 are the hop's business (nginx and HAProxy drop
// them too); the client gets the final answer.
TEST(Ingress, AnInterimResponseIsPassedOver) {
  auto backend = RawBackend::start(
      instanceAddress(0), 0, serveEach([](const RawRequest&) {
        return "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
               okResponse("final");
      }));
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
    EXPECT_EQ(bodyOf(client->read()), "final") << "request " << i;
  }
}

TEST(Ingress, AClientAskingToCloseIsAnsweredThenClosed) {
  auto backend = RawBackend::start(instanceAddress(0), 0, answerAs("bye"));
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  auto request = makeRequest(bhttp::verb::get, "/", "shop.example");
  request.keep_alive(false);
  ASSERT_TRUE(client->send(std::move(request)));
  const auto response = client->read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body(), "bye");
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(client->readUntilClosed().has_value()) << "the connection stayed open";
}

// ---- connection limits ----

// Idle connections cost an attacker nothing; at the bound the one that has
// waited longest for a request makes room (http/connection_registry.h).
TEST(Ingress, AtAClientsLimitItsLongestIdleConnectionMakesRoom) {
  auto config = testConfig();
  config.maxConnectionsPerClient = 2;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  auto oldest = TestClient::connect(ingress->port());
  auto newer = TestClient::connect(ingress->port());
  ASSERT_TRUE(oldest && newer);
  for (TestClient* client : {oldest.get(), newer.get()}) {  // so that they are idle in this order
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
    ASSERT_TRUE(client->read());
  }
  auto newest = TestClient::connect(ingress->port());
  ASSERT_TRUE(newest);
  ASSERT_TRUE(newest->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
  EXPECT_TRUE(newest->read()) << "the newcomer was not served";
  EXPECT_TRUE(oldest->readUntilClosed().has_value()) << "the longest idle connection was kept";
  ASSERT_TRUE(newer->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
  EXPECT_TRUE(newer->read()) << "the other one was closed too";
}

TEST(Ingress, AtTheTotalLimitTheLongestIdleConnectionMakesRoom) {
  auto config = testConfig();
  config.maxConnections = 2;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  auto oldest = TestClient::connect(ingress->port());
  auto newer = TestClient::connect(ingress->port());
  ASSERT_TRUE(oldest && newer);
  for (TestClient* client : {oldest.get(), newer.get()}) {
    ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
    ASSERT_TRUE(client->read());
  }
  auto newest = TestClient::connect(ingress->port());  // within its client's limit (1000)
  ASSERT_TRUE(newest);
  ASSERT_TRUE(newest->send(makeRequest(bhttp::verb::get, "/", "nobody.example")));
  EXPECT_TRUE(newest->read()) << "the newcomer was not served";
  EXPECT_TRUE(oldest->readUntilClosed().has_value()) << "the longest idle connection was kept";
}

// ---- what it counts and logs ----

TEST(Ingress, CountsRequestsPerJobAndStatus) {
  auto backend = RawBackend::start(instanceAddress(0), 0, answerAs("ok"));
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .job("blog", {"blog.example"}, 8080)
                         .build());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(bodyOf(get(ingress->port(), "shop.example")), "ok");
  expectProblem(get(ingress->port(), "blog.example"), problems::kNoHealthyInstance);
  expectProblem(get(ingress->port(), "nobody.example"), problems::kUnknownHost);

  const std::vector<RequestCount> expected = {{"", 404, 1}, {"blog", 503, 1}, {"shop", 200, 3}};
  EXPECT_TRUE(eventually([&] { return ingress->requestCounts() == expected; }))
      << ::testing::PrintToString(ingress->requestCounts());
}

TEST(Ingress, WritesAnAccessLogLinePerRequest) {
  testing_support::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/access.log";
  auto log = AccessLog::open(path, 1);
  ASSERT_TRUE(log) << log.error();
  auto backend = RawBackend::start(instanceAddress(0), 0, answerAs("hello"));
  ASSERT_TRUE(backend);
  auto config = testConfig();
  config.accessLog = *log;
  config.headerLimit = 2048;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());

  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/cart?item=7", "Shop.Example")));
  ASSERT_EQ(bodyOf(client->read()), "hello");
  expectProblem(
      roundTrip(ingress->port(), makeRequest(bhttp::verb::delete_, "/x", "nobody.example")),
      problems::kUnknownHost);
  // Refused before its Host was looked at: the line says only what was read.
  ASSERT_TRUE(client->write("GET /big HTTP/1.1\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n"));
  ASSERT_TRUE(client->read());

  std::vector<std::string> lines;
  EXPECT_TRUE(eventually([&] {
    std::ifstream in(path);
    lines.clear();
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines.size() >= 3;
  }));
  ASSERT_EQ(lines.size(), 3u);
  const std::string time = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";
  const std::regex served(time + R"( 127\.0\.0\.1 GET shop\.example /cart\?item=7 200 shop/1@)" +
                          std::regex_replace(backend->endpoint(), std::regex(R"(\.)"), R"(\.)") +
                          R"( \d+\.\d{3}ms 5)");
  EXPECT_TRUE(std::regex_match(lines[0], served)) << lines[0];
  const std::regex unknown(time +
                           R"( 127\.0\.0\.1 DELETE nobody\.example /x 404 - \d+\.\d{3}ms \d+)");
  EXPECT_TRUE(std::regex_match(lines[1], unknown)) << lines[1];
  const std::regex refused(time + R"( 127\.0\.0\.1 GET - /big 431 - \d+\.\d{3}ms \d+)");
  EXPECT_TRUE(std::regex_match(lines[2], refused)) << lines[2];
}

TEST(Ingress, AnAccessLogOfOneInNLogsEveryNthRequest) {
  testing_support::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/access.log";
  auto log = AccessLog::open(path, 3);
  ASSERT_TRUE(log) << log.error();
  auto config = testConfig();
  config.accessLog = *log;
  auto ingress = startIngress(config);
  ASSERT_TRUE(ingress);
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(get(ingress->port(), "nobody.example", "/" + std::to_string(i)));
  std::vector<std::string> lines;
  EXPECT_TRUE(eventually([&] {
    std::ifstream in(path);
    lines.clear();
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines.size() >= 3;
  }));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr(" /0 404 "));
  EXPECT_THAT(lines[1], HasSubstr(" /3 404 "));
  EXPECT_THAT(lines[2], HasSubstr(" /6 404 "));
}

// ---- stopping ----

// A backend answer held back until the test lets it go.
class Gate {
 public:
  void enter() {
    std::lock_guard lock(mutex_);
    entered_ = true;
    changed_.notify_all();
  }
  bool waitEntered() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kWait, [this] { return entered_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void waitOpen() {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kWait, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool open_ = false;
};

bool accepts(std::uint16_t port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

TEST(Ingress, StopLetsARequestInFlightFinish) {
  auto gate = std::make_shared<Gate>();
  auto backend = RawBackend::start(instanceAddress(0), 0, [gate](RawPeer& peer) {
    if (!peer.readRequest()) return;
    gate->enter();
    gate->waitOpen();
    peer.write(okResponse("finished"));
  });
  ASSERT_TRUE(backend);
  auto ingress = startIngress();
  ASSERT_TRUE(ingress);
  ingress->setRoutes(Routes()
                         .job("shop", {"shop.example"}, backend->port())
                         .instance("shop", instanceAddress(0))
                         .build());
  auto client = TestClient::connect(ingress->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(makeRequest(bhttp::verb::get, "/", "shop.example")));
  ASSERT_TRUE(gate->waitEntered());

  std::thread stopper([&] { ingress->stop(); });
  const std::uint16_t port = ingress->port();
  EXPECT_TRUE(eventually([&] { return !accepts(port); })) << "stop() did not stop accepting";
  gate->open();
  EXPECT_EQ(bodyOf(client->read()), "finished");
  EXPECT_TRUE(client->readUntilClosed().has_value()) << "the connection outlived stop()";
  stopper.join();
}

// ---- the problem documents ----

// Every problem type's URI is a heading of docs/errors.md, which explains
// the cause and the fix (as ProblemCatalogue checks for the others).
TEST(IngressProblems, EveryTypeHasAHeadingInDocsErrorsMd) {
  const auto text = testing_support::readSourceFile("docs/errors.md");
  ASSERT_TRUE(text.has_value()) << "docs/errors.md is missing";
  std::set<std::string> headings;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.rfind("## ", 0) == 0) headings.insert(line.substr(3));
  }
  for (const ProblemType& type : problems::kIngressAll) {
    EXPECT_TRUE(headings.contains(std::string(type.slug)))
        << "docs/errors.md has no heading \"## " << type.slug << "\"";
  }
}

}  // namespace
}  // namespace ozy::ingress::testing
