// HttpClient against real and deliberately broken servers: deadlines,
// refused connections, body limits and what it puts on the wire.
#include "http/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "support/raw_socket.h"
#include "support/test_server.h"

namespace ozy::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::RawListener;
using testing::startServer;
using testing::testServerConfig;
using testing::textResponse;
using Clock = std::chrono::steady_clock;

HttpClientConfig configFor(std::uint16_t port) {
  HttpClientConfig config;
  config.baseUrl = "http://127.0.0.1:" + std::to_string(port);
  config.deadline = 5s;
  return config;
}

TEST(HttpClient, GivesUpWithinTheDeadlineWhenTheServerNeverAnswers) {
  auto silent = RawListener::open(true);
  ASSERT_TRUE(silent);
  auto config = configFor(silent->port());
  config.deadline = 300ms;
  const auto client = testing::clientFor(config);
  const auto start = Clock::now();

  const auto response = client.send(testing::request("GET", "/v1/jobs"));

  const auto elapsed = Clock::now() - start;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error(),
            "cannot read the response from 127.0.0.1:" + std::to_string(silent->port()) +
                ": no answer within the 300ms deadline");
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(HttpClient, ReportsAConnectionRefused) {
  auto closed = RawListener::open(false);
  ASSERT_TRUE(closed);
  const auto client = testing::clientFor(configFor(closed->port()));

  const auto response = client.send(testing::request("GET", "/"));

  ASSERT_FALSE(response);
  EXPECT_EQ(response.error(), "cannot connect to 127.0.0.1:" + std::to_string(closed->port()) +
                                  ": connection refused");
}

TEST(HttpClient, RefusesAResponseBodyOverItsLimit) {
  auto server = startServer(
      testServerConfig(), [](const Request&) { return textResponse(200, std::string(4096, 'x')); });
  ASSERT_TRUE(server);
  auto config = configFor(server->port());
  config.bodyLimit = 1024;
  const auto client = testing::clientFor(config);

  const auto response = client.send(testing::request("GET", "/"));

  ASSERT_FALSE(response);
  EXPECT_THAT(response.error(), HasSubstr("larger than the limit of 1024 bytes"));
}

TEST(HttpClient, SendsItsHeadersBodyAndBearerToken) {
  std::mutex mutex;
  std::optional<Request> seen;
  auto server = startServer(testServerConfig(), [&](const Request& request) {
    std::lock_guard lock(mutex);
    seen = request;
    return textResponse(200, "ok");
  });
  ASSERT_TRUE(server);
  auto config = configFor(server->port());
  config.bearerToken = "s3cret";
  const auto client = testing::clientFor(config);

  const auto response = client.send(
      testing::request("PUT", "/v1/jobs/web", {{"Content-Type", "application/json"}}, "{}"));

  ASSERT_TRUE(response) << response.error();
  std::lock_guard lock(mutex);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->method, "PUT");
  EXPECT_EQ(seen->headers.get("Authorization"), "Bearer s3cret");
  EXPECT_EQ(seen->headers.get("Content-Type"), "application/json");
  EXPECT_EQ(seen->headers.get("Host"), "127.0.0.1:" + std::to_string(server->port()));
  EXPECT_EQ(seen->body, "{}");
}

TEST(HttpClient, ReturnsErrorStatusesAsResponses) {
  auto server = startServer(testServerConfig(),
                            [](const Request&) { return textResponse(404, "no such job"); });
  ASSERT_TRUE(server);
  const auto client = testing::clientFor(configFor(server->port()));

  const auto response = client.send(testing::request("GET", "/v1/jobs/nope"));

  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "no such job");
}

TEST(HttpClient, RefusesARequestThatWouldInjectIntoTheRequestLineOrHeaders) {
  const auto client = testing::clientFor(configFor(1));

  EXPECT_FALSE(client.send(testing::request("GET", "/ HTTP/1.1\r\nX-Injected: 1\r\n")));
  EXPECT_FALSE(client.send(testing::request("GET", "no-slash")));
  EXPECT_FALSE(client.send(testing::request("GET /", "/")));
  EXPECT_FALSE(client.send(testing::request("GET", "/", {{"X-Evil", "a\r\nX-Injected: 1"}})));
}

TEST(HttpClient, RefusesABadBaseUrlOrTokenAtCreation) {
  HttpClientConfig config;
  config.baseUrl = "127.0.0.1:7700";
  EXPECT_FALSE(HttpClient::create(config));
  config.baseUrl = "http://127.0.0.1:7700";
  config.bearerToken = "two words";
  EXPECT_FALSE(HttpClient::create(config));
}

}  // namespace
}  // namespace ozy::http
