// Streamed responses end to end over real sockets: the server's
// Response::stream (chunks as they are produced, a client that leaves or
// stops reading, stop(), keep-alive after a stream, HEAD, HTTP/1.0, the
// stream pool's bound, bearer-token admission, TLS) and the client's
// HttpClient::stream (pieces as they arrive, cancellation, the idle timeout,
// every kind of body framing, error statuses).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/auth.h"
#include "http/beast_sync.h"
#include "http/client.h"
#include "http/server.h"
#include "support/certificates.h"
#include "support/raw_socket.h"
#include "support/temp_dir.h"
#include "support/test_server.h"

namespace ozy::http {
namespace {

using namespace std::chrono_literals;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RawConnection;
using testing::startServer;
using ::testing::StartsWith;
using testing::testServerConfig;
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "correct-horse-battery-staple";

// Something that happens once, and when. Waits are bounded so that a broken
// server fails the test instead of hanging it.
class Event {
 public:
  void notify() {
    std::lock_guard lock(mutex_);
    if (!when_) when_ = Clock::now();
    changed_.notify_all();
  }
  bool waitFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return when_.has_value(); });
  }
  bool happened() {
    std::lock_guard lock(mutex_);
    return when_.has_value();
  }
  Clock::time_point when() {
    std::lock_guard lock(mutex_);
    return when_.value_or(Clock::time_point::max());
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Clock::time_point> when_;
};

std::vector<std::string> numberedLines(int count) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) lines.push_back("line " + std::to_string(i) + "\n");
  return lines;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string text;
  for (const auto& piece : pieces) text += piece;
  return text;
}

Response streamed(BodyProducer producer) {
  Response response;
  response.contentType = "text/plain";
  response.stream = std::move(producer);
  return response;
}

// Writes the chunks one by one.
Response streamOf(std::vector<std::string> chunks) {
  return streamed([chunks = std::move(chunks)](BodyWriter& writer) {
    for (const auto& chunk : chunks) {
      if (!writer.write(chunk)) return;
    }
  });
}

// Writes "ready\n", then waits for data that never comes, as a log follow
// does, until the stream is over; `ended` is notified when it returns.
Response waitingStream(const std::shared_ptr<Event>& ended) {
  return streamed([ended](BodyWriter& writer) {
    const auto giveUp = Clock::now() + 20s;  // only if the server never says
    if (writer.write("ready\n")) {
      while (writer.open() && Clock::now() < giveUp) std::this_thread::sleep_for(5ms);
    }
    ended->notify();
  });
}

// Writes chunks as fast as the client takes them until a write fails.
Response endlessStream(const std::shared_ptr<Event>& ended) {
  return streamed([ended](BodyWriter& writer) {
    const auto giveUp = Clock::now() + 20s;
    while (writer.write("more data\n") && Clock::now() < giveUp) {
    }
    ended->notify();
  });
}

// What HttpClient::stream() handed over.
struct Streamed {
  int status = 0;
  Headers headers;
  std::vector<std::string> pieces;
  std::string body() const { return joined(pieces); }
};

StreamHandlers collectInto(Streamed& streamed, std::function<void()> onFirstPiece = {}) {
  return StreamHandlers{[&streamed](int status, const Headers& headers) {
                          streamed.status = status;
                          streamed.headers = headers;
                          return true;
                        },
                        [&streamed, onFirstPiece](std::string_view piece) {
                          streamed.pieces.emplace_back(piece);
                          if (streamed.pieces.size() == 1 && onFirstPiece) onFirstPiece();
                          return true;
                        }};
}

RawConnection connectTo(const HttpServer& server, int receiveBuffer = 0) {
  auto connection = RawConnection::open(server.port(), receiveBuffer);
  if (!connection) throw std::runtime_error("cannot connect to the test server");
  return std::move(*connection);
}

// Answers /stream with the lines, anything else with "plain".
Handler linesOrPlain(std::vector<std::string> lines, std::shared_ptr<std::atomic<int>> produced) {
  return [lines = std::move(lines), produced](const Request& request) {
    if (request.path != "/stream") return testing::textResponse(200, "plain");
    return streamed([lines, produced](BodyWriter& writer) {
      ++*produced;
      for (const auto& line : lines) writer.write(line);
    });
  };
}

TEST(HttpStream, DeliversEveryChunkToTheStreamingClient) {
  const auto lines = numberedLines(100);
  auto server = startServer(testServerConfig(), [&](const Request&) { return streamOf(lines); });
  ASSERT_TRUE(server);
  const auto client = testing::clientFor(testing::testClientConfig(*server));

  Streamed received;
  const auto status = client.stream(testing::request("GET", "/logs"), collectInto(received));

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(received.status, 200);
  EXPECT_EQ(received.headers.get("Content-Type"), "text/plain");
  EXPECT_EQ(received.headers.get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(received.headers.contains("Content-Length"));
  EXPECT_EQ(received.body(), joined(lines));
}

TEST(HttpStream, BufferedSendReadsAStreamWhole) {
  const auto lines = numberedLines(100);
  auto server = startServer(testServerConfig(), [&](const Request&) { return streamOf(lines); });
  ASSERT_TRUE(server);

  const auto response =
      testing::clientFor(testing::testClientConfig(*server)).send(testing::request("GET", "/"));

  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, joined(lines));
}

TEST(HttpStream, HandsEachChunkToTheClientBeforeTheNextIsProduced) {
  auto firstArrived = std::make_shared<Event>();
  auto sawFirstBeforeSecond = std::make_shared<std::atomic<bool>>(false);
  auto server = startServer(testServerConfig(), [=](const Request&) {
    return streamed([=](BodyWriter& writer) {
      if (!writer.write("first\n")) return;
      *sawFirstBeforeSecond = firstArrived->waitFor(5s);
      writer.write("second\n");
    });
  });
  ASSERT_TRUE(server);

  Streamed received;
  const auto status = testing::clientFor(testing::testClientConfig(*server))
                          .stream(testing::request("GET", "/"),
                                  collectInto(received, [&] { firstArrived->notify(); }));

  ASSERT_TRUE(status) << status.error();
  EXPECT_TRUE(*sawFirstBeforeSecond) << "the first chunk was held back until the second";
  EXPECT_EQ(received.body(), "first\nsecond\n");
}

TEST(HttpStream, AStreamOutlivesTheRequestTimeoutAndTheClientDeadline) {
  auto config = testServerConfig();
  config.headerTimeout = 300ms;
  config.requestTimeout = 300ms;
  auto server = startServer(config, [](const Request&) {
    return streamed([](BodyWriter& writer) {
      // Paced like a log: 1.2 s in all, each write well inside the timeout.
      for (int i = 0; i < 8; ++i) {
        if (!writer.write("tick\n")) return;
        std::this_thread::sleep_for(150ms);
      }
    });
  });
  ASSERT_TRUE(server);
  auto clientConfig = testing::testClientConfig(*server);
  clientConfig.deadline = 500ms;

  Streamed received;
  const auto status =
      testing::clientFor(clientConfig).stream(testing::request("GET", "/"), collectInto(received));

  ASSERT_TRUE(status) << status.error();
  std::string ticks;
  for (int i = 0; i < 8; ++i) ticks += "tick\n";
  EXPECT_EQ(received.body(), ticks);
}

TEST(HttpStream, AWaitingProducerSeesTheClientLeaveWithinASecond) {
  auto ended = std::make_shared<Event>();
  auto server =
      startServer(testServerConfig(), [=](const Request&) { return waitingStream(ended); });
  ASSERT_TRUE(server);
  auto connection = connectTo(*server);
  connection.send("GET /logs?follow=true HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(connection.readUntil("ready\n", 5s));

  connection.close();
  const auto left = Clock::now();

  ASSERT_TRUE(ended->waitFor(5s)) << "the producer never learned that the client left";
  EXPECT_LT(ended->when() - left, 1s);
}

TEST(HttpStream, AWriteToAClientThatStopsReadingFailsAfterTheRequestTimeout) {
  auto config = testServerConfig();
  config.requestTimeout = 500ms;
  auto ended = std::make_shared<Event>();
  auto lastWriteOk = std::make_shared<std::atomic<bool>>(true);
  auto openAfter = std::make_shared<std::atomic<bool>>(true);
  auto server = startServer(config, [=](const Request&) {
    return streamed([=](BodyWriter& writer) {
      const std::string chunk(64 * 1024, 'x');
      const auto giveUp = Clock::now() + 20s;
      while (Clock::now() < giveUp) {
        if (!writer.write(chunk)) break;
      }
      *lastWriteOk = Clock::now() >= giveUp;
      *openAfter = writer.open();
      ended->notify();
    });
  });
  ASSERT_TRUE(server);
  auto connection = connectTo(*server, 4096);
  connection.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");  // and never reads

  ASSERT_TRUE(ended->waitFor(15s)) << "a client that stopped reading held the producer";
  EXPECT_FALSE(*lastWriteOk);
  EXPECT_FALSE(*openAfter);
}

TEST(HttpStream, StopEndsAProducerThatIsWaitingForData) {
  auto ended = std::make_shared<Event>();
  auto server =
      startServer(testServerConfig(), [=](const Request&) { return waitingStream(ended); });
  ASSERT_TRUE(server);
  const auto client = testing::clientFor(testing::testClientConfig(*server));
  auto ready = std::make_shared<Event>();
  Streamed received;
  auto following = std::async(std::launch::async, [&] {
    return client.stream(testing::request("GET", "/logs"),
                         collectInto(received, [ready] { ready->notify(); }));
  });
  ASSERT_TRUE(ready->waitFor(5s));

  const auto start = Clock::now();
  server->stop();
  const auto stopTook = Clock::now() - start;
  const auto result = following.get();

  EXPECT_TRUE(ended->happened()) << "stop() returned before the producer";
  EXPECT_LT(stopTook, 2s) << "stop() waited for the stop timeout instead of ending the stream";
  ASSERT_FALSE(result) << "a stream cut by stop() must not look complete";
  EXPECT_THAT(result.error(), HasSubstr("closed the connection before the response was complete"));
  EXPECT_EQ(received.body(), "ready\n");
}

TEST(HttpStream, KeepsTheConnectionForTheNextRequestAfterAStream) {
  auto produced = std::make_shared<std::atomic<int>>(0);
  auto server = startServer(testServerConfig(), linesOrPlain({"one\n", "two\n"}, produced));
  ASSERT_TRUE(server);
  auto connection = connectTo(*server);

  connection.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto stream = connection.readUntil("\r\n0\r\n\r\n", 5s);
  connection.send("GET /plain HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto plain = connection.readResponse(5s);

  ASSERT_TRUE(stream);
  EXPECT_THAT(*stream, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(*stream, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(*stream, Not(HasSubstr("Connection: close")));
  EXPECT_THAT(*stream, EndsWith("\r\n\r\n4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->body, "plain");
}

TEST(HttpStream, AnswersARequestPipelinedBehindAStreamAfterIt) {
  auto produced = std::make_shared<std::atomic<int>>(0);
  auto server = startServer(testServerConfig(), linesOrPlain({"one\n", "two\n"}, produced));
  ASSERT_TRUE(server);
  auto connection = connectTo(*server);

  connection.send(
      "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n"
      "GET /plain HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto stream = connection.readUntil("\r\n0\r\n\r\n", 5s);
  const auto plain = connection.readResponse(5s);

  ASSERT_TRUE(stream);
  EXPECT_THAT(*stream, EndsWith("4\r\ntwo\n\r\n0\r\n\r\n"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body, "plain");
}

TEST(HttpStream, AnswersHeadWithoutALengthAndWithoutRunningTheProducer) {
  auto produced = std::make_shared<std::atomic<int>>(0);
  auto server = startServer(testServerConfig(), linesOrPlain({"one\n"}, produced));
  ASSERT_TRUE(server);
  auto connection = connectTo(*server);

  connection.send("HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto head = connection.readResponse(5s, true);
  // Body bytes after the head would spoil the next response.
  connection.send("GET /plain HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto plain = connection.readResponse(5s);

  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-type"), "text/plain");
  EXPECT_EQ(head->header("content-length"), "");
  EXPECT_EQ(*produced, 0);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body, "plain");
}

TEST(HttpStream, StreamsToAnHttp10ClientUntilTheConnectionCloses) {
  auto produced = std::make_shared<std::atomic<int>>(0);
  auto server = startServer(testServerConfig(), linesOrPlain({"one\n", "two\n"}, produced));
  ASSERT_TRUE(server);
  auto connection = connectTo(*server);

  connection.send("GET /stream HTTP/1.0\r\n\r\n");
  const auto all = connection.readUntilClosed(5s);

  ASSERT_TRUE(all) << "an HTTP/1.0 body ends with the connection";
  EXPECT_THAT(*all, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(*all, Not(HasSubstr("Transfer-Encoding")));
  EXPECT_THAT(*all, Not(HasSubstr("Content-Length")));
  EXPECT_THAT(*all, EndsWith("\r\n\r\none\ntwo\n"));
}

TEST(HttpStream, AProducerThatThrowsCutsTheBodyShortAndIsLogged) {
  std::mutex mutex;
  std::vector<std::string> logged;
  auto config = testServerConfig();
  config.logError = [&](std::string_view message) {
    std::lock_guard lock(mutex);
    logged.emplace_back(message);
  };
  auto server = startServer(config, [](const Request&) {
    return streamed([](BodyWriter& writer) {
      writer.write("partial\n");
      throw std::runtime_error("the log file vanished");
    });
  });
  ASSERT_TRUE(server);

  Streamed received;
  const auto status = testing::clientFor(testing::testClientConfig(*server))
                          .stream(testing::request("GET", "/logs"), collectInto(received));
  server->stop();

  ASSERT_FALSE(status);
  EXPECT_THAT(status.error(), HasSubstr("closed the connection before the response was complete"));
  EXPECT_EQ(received.body(), "partial\n");
  std::lock_guard lock(mutex);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], HasSubstr("GET /logs"));
  EXPECT_THAT(logged[0], HasSubstr("the log file vanished"));
}

TEST(HttpStream, AnswersBusyWhenEveryStreamThreadIsTaken) {
  auto config = testServerConfig();
  config.streamThreads = 1;
  auto ended = std::make_shared<Event>();
  auto server = startServer(config, [=](const Request& request) {
    if (request.path == "/plain") return testing::textResponse(200, "plain");
    return waitingStream(ended);
  });
  ASSERT_TRUE(server);
  const auto client = testing::clientFor(testing::testClientConfig(*server));
  auto ready = std::make_shared<Event>();
  std::atomic<bool> cancel = false;
  auto following = std::async(std::launch::async, [&] {
    Streamed received;
    return client.stream(testing::request("GET", "/logs"),
                         collectInto(received, [ready] { ready->notify(); }),
                         StreamOptions{0ms, [&] { return cancel.load(); }});
  });
  ASSERT_TRUE(ready->waitFor(5s));

  const auto second = client.send(testing::request("GET", "/logs"));
  const auto plain = client.send(testing::request("GET", "/plain"));
  cancel = true;

  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->status, 503);
  EXPECT_EQ(second->headers.get("Retry-After"), "1");
  EXPECT_THAT(second->body, HasSubstr("streams"));
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(plain->status, 200) << "ordinary requests do not wait for streams";
  const auto first = following.get();
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(*first, 200);
}

TEST(HttpStream, StreamsBehindTheBearerTokenAdmissionAndRefusesWithoutTheToken) {
  auto config = testServerConfig();
  auto check = std::make_shared<BearerToken>(kToken);
  config.admit = [check](const Request& head) { return check->check(head); };
  const auto lines = numberedLines(5);
  auto server = startServer(config, [&](const Request&) { return streamOf(lines); });
  ASSERT_TRUE(server);
  auto clientConfig = testing::testClientConfig(*server);
  const auto anonymous = testing::clientFor(clientConfig);
  clientConfig.bearerToken = kToken;
  const auto authorized = testing::clientFor(clientConfig);

  Streamed refused;
  const auto refusedStatus = anonymous.stream(testing::request("GET", "/"), collectInto(refused));
  Streamed admitted;
  const auto admittedStatus =
      authorized.stream(testing::request("GET", "/"), collectInto(admitted));

  ASSERT_TRUE(refusedStatus) << refusedStatus.error();
  EXPECT_EQ(*refusedStatus, 401);
  EXPECT_EQ(refused.headers.get("Content-Type"), "application/problem+json");
  EXPECT_THAT(refused.body(), HasSubstr("bearer token")) << "the problem document arrives too";
  ASSERT_TRUE(admittedStatus) << admittedStatus.error();
  EXPECT_EQ(*admittedStatus, 200);
  EXPECT_EQ(admitted.body(), joined(lines));
}

TEST(HttpStream, AHandlerThatWrapsAnotherPassesItsStreamThrough) {
  auto check = std::make_shared<BearerToken>(kToken);
  const auto lines = numberedLines(5);
  const Handler inner = [&](const Request&) {
    Response response = streamOf(lines);
    response.headers.set("Cache-Control", "no-store");
    return response;
  };
  auto server = startServer(testServerConfig(), [&](const Request& request) {
    if (auto denied = check->check(request)) return *denied;
    return inner(request);
  });
  ASSERT_TRUE(server);
  auto clientConfig = testing::testClientConfig(*server);
  clientConfig.bearerToken = kToken;

  Streamed received;
  const auto status =
      testing::clientFor(clientConfig).stream(testing::request("GET", "/"), collectInto(received));

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(received.headers.get("Cache-Control"), "no-store");
  EXPECT_EQ(received.body(), joined(lines));
}

TEST(HttpStreamClient, CancelEndsTheReadOfAQuietEndlessStreamPromptly) {
  auto ended = std::make_shared<Event>();
  auto server =
      startServer(testServerConfig(), [=](const Request&) { return waitingStream(ended); });
  ASSERT_TRUE(server);
  const auto client = testing::clientFor(testing::testClientConfig(*server));
  auto ready = std::make_shared<Event>();
  std::atomic<bool> cancel = false;
  Streamed received;
  auto following = std::async(std::launch::async, [&] {
    return client.stream(testing::request("GET", "/logs"),
                         collectInto(received, [ready] { ready->notify(); }),
                         StreamOptions{0ms, [&] { return cancel.load(); }});
  });
  ASSERT_TRUE(ready->waitFor(5s));

  cancel = true;
  const auto cancelledAt = Clock::now();
  const bool returned = following.wait_for(2s) == std::future_status::ready;

  ASSERT_TRUE(returned) << "the client kept waiting after it was cancelled";
  EXPECT_LT(Clock::now() - cancelledAt, 500ms);
  const auto status = following.get();
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(received.body(), "ready\n");
  EXPECT_TRUE(ended->waitFor(2s)) << "the server's producer learned the client left";
}

TEST(HttpStreamClient, CancelBeforeTheHeaderIsAnError) {
  auto gate = std::make_shared<testing::Gate>();
  auto server = startServer(testServerConfig(), [gate](const Request&) {
    gate->markEntered();
    gate->waitOpen();
    return testing::textResponse(200, "late");
  });
  ASSERT_TRUE(server);
  const auto client = testing::clientFor(testing::testClientConfig(*server));

  const auto status = client.stream(testing::request("GET", "/"), {},
                                    StreamOptions{0ms, [gate] { return gate->waitEntered(0ms); }});
  gate->open();

  ASSERT_FALSE(status);
  EXPECT_THAT(status.error(), HasSubstr("cancelled before the response header arrived"));
}

TEST(HttpStreamClient, AHandlerReturningFalseEndsAnEndlessStream) {
  auto ended = std::make_shared<Event>();
  auto server =
      startServer(testServerConfig(), [=](const Request&) { return endlessStream(ended); });
  ASSERT_TRUE(server);
  int pieces = 0;

  const auto status = testing::clientFor(testing::testClientConfig(*server))
                          .stream(testing::request("GET", "/"),
                                  {nullptr, [&](std::string_view) { return ++pieces < 3; }});

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(pieces, 3);
  EXPECT_TRUE(ended->waitFor(5s)) << "the server kept writing to a client that left";
}

TEST(HttpStreamClient, OnHeadReturningFalseEndsTheExchangeBeforeTheBody) {
  auto ended = std::make_shared<Event>();
  auto server =
      startServer(testServerConfig(), [=](const Request&) { return endlessStream(ended); });
  ASSERT_TRUE(server);
  int pieces = 0;

  const auto status =
      testing::clientFor(testing::testClientConfig(*server))
          .stream(testing::request("GET", "/"), {[](int, const Headers&) { return false; },
                                                 [&](std::string_view) { return ++pieces > 0; }});

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(pieces, 0);
  EXPECT_TRUE(ended->waitFor(5s));
}

TEST(HttpStreamClient, TheIdleTimeoutEndsAStreamThatGoesQuiet) {
  auto ended = std::make_shared<Event>();
  auto server =
      startServer(testServerConfig(), [=](const Request&) { return waitingStream(ended); });
  ASSERT_TRUE(server);
  Streamed received;

  const auto start = Clock::now();
  const auto status = testing::clientFor(testing::testClientConfig(*server))
                          .stream(testing::request("GET", "/"), collectInto(received),
                                  StreamOptions{300ms, nullptr});
  const auto took = Clock::now() - start;

  ASSERT_FALSE(status);
  EXPECT_THAT(status.error(), HasSubstr("nothing arrived for 300ms"));
  EXPECT_EQ(received.body(), "ready\n");
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
}

TEST(HttpStreamClient, ReadsAContentLengthBodyInPieces) {
  const std::string body(200 * 1024, 'b');
  auto server = startServer(testServerConfig(),
                            [&](const Request&) { return testing::textResponse(200, body); });
  ASSERT_TRUE(server);

  Streamed received;
  const auto status = testing::clientFor(testing::testClientConfig(*server))
                          .stream(testing::request("GET", "/"), collectInto(received));

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(received.headers.get("Content-Length"), std::to_string(body.size()));
  EXPECT_GT(received.pieces.size(), 1u);
  EXPECT_EQ(received.body(), body);
}

TEST(HttpStreamClient, ReadsABodyThatEndsWithTheConnection) {
  auto listener = testing::RawListener::open(true);
  ASSERT_TRUE(listener);
  auto answering = std::async(std::launch::async, [&] {
    auto connection = listener->accept(5s);
    if (!connection || !connection->readUntil("\r\n\r\n", 5s)) return false;
    connection->send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
    connection->send("until ");
    connection->send("the end");
    connection->close();
    return true;
  });
  HttpClientConfig config;
  config.baseUrl = "http://127.0.0.1:" + std::to_string(listener->port());
  config.deadline = 5s;

  Streamed received;
  const auto status =
      testing::clientFor(config).stream(testing::request("GET", "/"), collectInto(received));

  EXPECT_TRUE(answering.get());
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(received.body(), "until the end");
}

TEST(HttpStreamClient, ReadsTheProblemOfAnErrorStatusWithinTheBodyLimit) {
  auto server = startServer(testServerConfig(), [](const Request&) {
    return Response{404, "application/problem+json", R"({"type":"/docs/errors.md#not-found"})", {}};
  });
  ASSERT_TRUE(server);
  auto config = testing::testClientConfig(*server);

  Streamed received;
  const auto status =
      testing::clientFor(config).stream(testing::request("GET", "/"), collectInto(received));
  config.bodyLimit = 10;
  Streamed tooLarge;
  const auto overLimit =
      testing::clientFor(config).stream(testing::request("GET", "/"), collectInto(tooLarge));

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 404);
  EXPECT_EQ(received.body(), R"({"type":"/docs/errors.md#not-found"})");
  ASSERT_FALSE(overLimit);
  EXPECT_THAT(overLimit.error(), HasSubstr("larger than the limit of 10 bytes"));
}

// Over TLS: the same streams, a client that leaves, and keep-alive after a
// stream (the read kept pending during the stream is cancelled under TLS).
class HttpStreamTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>();
    if (!dir_->ok()) return;
    auto made = testing::makeTestCertificates(dir_->path());
    if (made) {
      certificates_ = std::make_unique<testing::TestCertificates>(std::move(made).value());
    } else {
      error_ = made.error();
    }
  }
  static void TearDownTestSuite() {
    certificates_.reset();
    dir_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(certificates_) << "cannot make test certificates: " << error_;
  }

  static std::unique_ptr<HttpServer> startTlsServer(Handler handler) {
    auto config = testServerConfig();
    config.tls = TlsFiles{certificates_->serverCertificate, certificates_->serverKey};
    return startServer(config, std::move(handler));
  }
  static HttpClient tlsClient(const HttpServer& server) {
    auto config = testing::testClientConfig(server);
    config.caFile = certificates_->caCertificate;
    return testing::clientFor(config);
  }

  static inline std::unique_ptr<testing::TempDir> dir_;
  static inline std::unique_ptr<testing::TestCertificates> certificates_;
  static inline std::string error_;
};

TEST_F(HttpStreamTls, DeliversEveryChunk) {
  const auto lines = numberedLines(100);
  auto server = startTlsServer([&](const Request&) { return streamOf(lines); });
  ASSERT_TRUE(server);

  Streamed received;
  const auto status =
      tlsClient(*server).stream(testing::request("GET", "/"), collectInto(received));

  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(received.body(), joined(lines));
}

TEST_F(HttpStreamTls, AWaitingProducerSeesTheClientLeave) {
  auto ended = std::make_shared<Event>();
  auto server = startTlsServer([=](const Request&) { return waitingStream(ended); });
  ASSERT_TRUE(server);

  Clock::time_point left;
  const auto status =
      tlsClient(*server).stream(testing::request("GET", "/"), {nullptr, [&](std::string_view) {
                                                                 left = Clock::now();
                                                                 return false;
                                                               }});

  ASSERT_TRUE(status) << status.error();
  ASSERT_TRUE(ended->waitFor(5s));
  EXPECT_LT(ended->when() - left, 1s);
}

TEST_F(HttpStreamTls, KeepsTheConnectionForTheNextRequestAfterAStream) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  namespace bhttp = boost::beast::http;
  auto produced = std::make_shared<std::atomic<int>>(0);
  auto server = startTlsServer(linesOrPlain({"one\n", "two\n"}, produced));
  ASSERT_TRUE(server);
  net::io_context ioc;
  net::ssl::context tls(net::ssl::context::tls_client);
  tls.load_verify_file(certificates_->caCertificate.string());
  tls.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_after(5s);  // bounds every step below
  const net::ip::tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), server->port());
  using detail::await;
  ASSERT_FALSE(await(ioc, [&](auto handler) { tcp.async_connect(endpoint, handler); }));
  ASSERT_FALSE(await(
      ioc, [&](auto handler) { stream.async_handshake(net::ssl::stream_base::client, handler); }));
  beast::flat_buffer buffer;
  auto get = [&](const std::string& target) {
    bhttp::request<bhttp::empty_body> request{bhttp::verb::get, target, 11};
    request.set(bhttp::field::host, "127.0.0.1");
    bhttp::response<bhttp::string_body> response;
    auto ec = await(ioc, [&](auto handler) { bhttp::async_write(stream, request, handler); });
    if (!ec)
      ec = await(ioc, [&](auto handler) { bhttp::async_read(stream, buffer, response, handler); });
    EXPECT_FALSE(ec) << target << ": " << ec.message();
    return response;
  };

  const auto first = get("/stream");
  const auto second = get("/plain");

  EXPECT_TRUE(first.chunked());
  EXPECT_TRUE(first.keep_alive());
  EXPECT_EQ(first.body(), "one\ntwo\n");
  EXPECT_EQ(second.body(), "plain");
}

}  // namespace
}  // namespace ozy::http
