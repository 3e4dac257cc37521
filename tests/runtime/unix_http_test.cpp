// UnixHttpClient against canned answers from a one-shot UNIX-socket server:
// framing (Content-Length, chunked, read-until-close), limits, deadlines,
// and streamed bodies with their stops.
#include "runtime/unix_http.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace ozy::runtime {
namespace {

using namespace std::chrono_literals;

// Accepts one connection, reads the request head, writes `answer` and closes
// (unless `silent`, when it holds the connection open without answering, or
// `hold`, when it answers and then holds it open), until the client closes.
class CannedServer {
 public:
  explicit CannedServer(std::string answer, bool silent = false, bool hold = false) {
    path_ = (std::filesystem::temp_directory_path() /
             ("ozy-unix-http-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_)))
                .string();
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 1);
    thread_ = std::thread([this, answer = std::move(answer), silent, hold] {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      request_ = request;
      if (!silent) ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
      if (silent || hold) ::recv(client, buffer, sizeof buffer, 0);  // until the client gives up
      ::close(client);
    });
  }
  ~CannedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& request() const { return request_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
  std::string request_;
};

http::ClientRequest get(std::string path) {
  http::ClientRequest request;
  request.path = std::move(path);
  return request;
}

TEST(UnixHttpClient, ReadsAContentLengthBody) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
  UnixHttpClient client({server.path()});
  auto response = client.send(get("/_ping"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "OK");
  EXPECT_EQ(server.request().rfind("GET /_ping HTTP/1.1\r\n", 0), 0u) << server.request();
}

TEST(UnixHttpClient, ReadsAChunkedBody) {
  CannedServer server(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  UnixHttpClient client({server.path()});
  auto response = client.send(get("/events"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "hello world");
}

TEST(UnixHttpClient, ReadsABodyThatEndsWithTheConnection) {
  // podman's attached exec answers this way (a raw stream, no framing).
  CannedServer server(
      "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nraw");
  UnixHttpClient client({server.path()});
  auto response = client.send(get("/exec/x/start"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "raw");
}

TEST(UnixHttpClient, RefusesABodyOverTheLimit) {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
  UnixHttpClient client({server.path(), 5s, 4});
  auto response = client.send(get("/"));
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().message.find("limit of 4 bytes"), std::string::npos)
      << response.error().message;
}

TEST(UnixHttpClient, GivesUpAtTheDeadline) {
  CannedServer server("", /*silent=*/true);
  UnixHttpClient client({server.path(), 200ms});
  const auto before = std::chrono::steady_clock::now();
  auto response = client.send(get("/"));
  ASSERT_FALSE(response);
  EXPECT_TRUE(response.error().timedOut) << response.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
}

TEST(UnixHttpClient, SaysWhichSocketIsMissing) {
  UnixHttpClient client({"/nonexistent/ozy.sock"});
  auto response = client.send(get("/"));
  ASSERT_FALSE(response);
  EXPECT_TRUE(response.error().connectFailed);
  EXPECT_NE(response.error().message.find("/nonexistent/ozy.sock"), std::string::npos)
      << response.error().message;
}

// Collects what a streamed exchange hands over.
struct Received {
  int status = 0;
  std::vector<std::string> pieces;
  std::string body() const {
    std::string all;
    for (const std::string& piece : pieces) all += piece;
    return all;
  }
};

Result<StreamEnd, UnixHttpError> stream(const UnixHttpClient& client, Received& received,
                                        const StreamDeadlines& deadlines,
                                        std::stop_token stop = {}) {
  return client.sendStreaming(
      get("/logs"), deadlines,
      [&](const http::ClientResponse& head) {
        received.status = head.status;
        return true;
      },
      [&](std::string_view piece) {
        received.pieces.emplace_back(piece);
        return true;
      },
      std::move(stop));
}

TEST(UnixHttpClientStreaming, HandsOverAChunkedBodyToItsEnd) {
  CannedServer server(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  UnixHttpClient client({server.path()});
  Received received;
  auto ended = stream(client, received, {5s, 5s, 5s});
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, StreamEnd::kComplete);
  EXPECT_EQ(received.status, 200);
  EXPECT_EQ(received.body(), "hello world");
}

TEST(UnixHttpClientStreaming, HandsOverAContentLengthBody) {
  // podman's error answers come this way (a 404 for a missing container).
  CannedServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
      "{\"cause\":\"x\"}");
  UnixHttpClient client({server.path()});
  Received received;
  auto ended = stream(client, received, {5s, 5s, 5s});
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, StreamEnd::kComplete);
  EXPECT_EQ(received.status, 404);
  EXPECT_EQ(received.body(), R"({"cause":"x"})");
}

TEST(UnixHttpClientStreaming, HandsOverABodyThatEndsWithTheConnection) {
  CannedServer server("HTTP/1.1 200 OK\r\n\r\n" + std::string(200000, 'x'));
  UnixHttpClient client({server.path(), 5s, /*bodyLimit=*/16});  // the limit does not apply
  Received received;
  auto ended = stream(client, received, {5s, 5s, 5s});
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, StreamEnd::kComplete);
  EXPECT_EQ(received.body(), std::string(200000, 'x'));
  for (const std::string& piece : received.pieces) EXPECT_LE(piece.size(), std::size_t{64} << 10);
}

TEST(UnixHttpClientStreaming, HandsOverWhatHasArrivedWithoutWaitingForMore) {
  // The server holds the connection open after the first chunk: the piece
  // must come without the body ending, and the callback's false ends it.
  CannedServer server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                      /*silent=*/false, /*hold=*/true);
  UnixHttpClient client({server.path()});
  std::string seen;
  auto ended = client.sendStreaming(
      get("/logs"), {5s, 5s, std::nullopt}, [](const http::ClientResponse&) { return true; },
      [&](std::string_view piece) {
        seen += piece;
        return false;
      });
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, StreamEnd::kDeclined);
  EXPECT_EQ(seen, "first");
}

TEST(UnixHttpClientStreaming, AStopEndsTheWaitForMoreOfABodyAtOnce) {
  CannedServer server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                      /*silent=*/false, /*hold=*/true);
  UnixHttpClient client({server.path()});
  std::stop_source stop;
  Received received;
  std::thread stopper;
  std::chrono::steady_clock::time_point stopAsked;
  // After the first piece the client waits for more, which never comes and
  // has no deadline: only the stop, asked from another thread, ends it.
  auto ended = client.sendStreaming(
      get("/logs"), {5s, 5s, std::nullopt}, [](const http::ClientResponse&) { return true; },
      [&](std::string_view piece) {
        received.pieces.emplace_back(piece);
        stopper = std::thread([&] {
          std::this_thread::sleep_for(200ms);  // the client is waiting by then
          stopAsked = std::chrono::steady_clock::now();
          stop.request_stop();
        });
        return true;
      },
      stop.get_token());
  const auto returned = std::chrono::steady_clock::now();
  stopper.join();
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, StreamEnd::kStopped);
  EXPECT_EQ(received.body(), "first");
  EXPECT_LT(returned - stopAsked, 250ms);
}

TEST(UnixHttpClientStreaming, AStopEndsTheWaitForAHeaderWithoutADeadline) {
  CannedServer server("", /*silent=*/true);
  UnixHttpClient client({server.path()});
  std::stop_source stop;
  Received received;
  const auto before = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);  // long enough to be waiting for the header
    stop.request_stop();
  });
  auto ended = stream(client, received, {5s, std::nullopt, std::nullopt}, stop.get_token());
  stopper.join();
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, StreamEnd::kStopped);
  EXPECT_EQ(received.status, 0);  // no header came
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
}

TEST(UnixHttpClientStreaming, GivesUpAtTheHeadDeadline) {
  CannedServer server("", /*silent=*/true);
  UnixHttpClient client({server.path()});
  Received received;
  const auto before = std::chrono::steady_clock::now();
  auto ended = stream(client, received, {5s, 200ms, std::nullopt});
  ASSERT_FALSE(ended);
  EXPECT_TRUE(ended.error().timedOut) << ended.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
}

TEST(UnixHttpClientStreaming, GivesUpAtTheWholeDeadlineOfABodyThatDoesNotEnd) {
  CannedServer server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                      /*silent=*/false, /*hold=*/true);
  UnixHttpClient client({server.path()});
  Received received;
  auto ended = stream(client, received, {5s, 5s, 300ms});
  ASSERT_FALSE(ended);
  EXPECT_TRUE(ended.error().timedOut) << ended.error().message;
  EXPECT_EQ(received.body(), "first");
}

TEST(UnixHttpClientStreaming, SaysWhichSocketIsMissing) {
  UnixHttpClient client({"/nonexistent/ozy.sock"});
  Received received;
  auto ended = stream(client, received, {5s, 5s, 5s});
  ASSERT_FALSE(ended);
  EXPECT_TRUE(ended.error().connectFailed);
  EXPECT_NE(ended.error().message.find("/nonexistent/ozy.sock"), std::string::npos);
}

}  // namespace
}  // namespace ozy::runtime
