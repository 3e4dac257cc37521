// UnixHttpClient against canned answers from a one-shot UNIX-socket server:
// framing (Content-Length, chunked, read-until-close), limits, deadlines.
#include "runtime/unix_http.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

namespace ozy::runtime {
namespace {

using namespace std::chrono_literals;

// Accepts one connection, reads the request head, writes `answer` and closes
// (unless `silent`, when it holds the connection open without answering).
class CannedServer {
 public:
  explicit CannedServer(std::string answer, bool silent = false) {
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
    thread_ = std::thread([this, answer = std::move(answer), silent] {
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
      if (silent) {
        ::recv(client, buffer, sizeof buffer, 0);  // until the client gives up
      } else {
        ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
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

}  // namespace
}  // namespace ozy::runtime
