#include "support/backends.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace ozy::ingress::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

int millisecondsUntil(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

}  // namespace

std::string instanceAddress(int n) {
  return "127.0.0." + std::to_string(2 + n);
}

std::string RawRequest::header(const std::string& lowercaseName) const {
  const auto it = headers.find(lowercaseName);
  return it == headers.end() ? std::string() : it->second;
}

bool RawPeer::receiveMore(Clock::time_point deadline) {
  pollfd descriptor{fd_, POLLIN, 0};
  if (::poll(&descriptor, 1, millisecondsUntil(deadline)) <= 0) return false;
  char chunk[16384];
  const ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
  if (received <= 0) return false;
  pending_.append(chunk, static_cast<std::size_t>(received));
  return true;
}

std::optional<RawRequest> RawPeer::readRequest(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t headEnd;
  while ((headEnd = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!receiveMore(deadline)) return std::nullopt;
  }
  RawRequest request;
  const std::string head = pending_.substr(0, headEnd);
  std::size_t lineStart = 0;
  bool first = true;
  while (lineStart <= head.size()) {
    std::size_t lineEnd = head.find("\r\n", lineStart);
    if (lineEnd == std::string::npos) lineEnd = head.size();
    const std::string line = head.substr(lineStart, lineEnd - lineStart);
    lineStart = lineEnd + 2;
    if (first) {
      first = false;
      const auto space = line.find(' ');
      request.method = line.substr(0, space);
      const auto second = line.find(' ', space + 1);
      request.target = line.substr(space + 1, second - space - 1);
      continue;
    }
    const auto colon = line.find(':');
    if (colon != std::string::npos)
      request.headers[lowercase(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  const std::string length = request.header("content-length");
  const std::size_t bodySize = length.empty() ? 0 : std::stoul(length);
  const std::size_t total = headEnd + 4 + bodySize;
  while (pending_.size() < total) {
    if (!receiveMore(deadline)) return std::nullopt;
  }
  request.body = pending_.substr(headEnd + 4, bodySize);
  pending_.erase(0, total);
  return request;
}

std::optional<std::string> RawPeer::readSome(std::chrono::milliseconds timeout) {
  if (pending_.empty() && !receiveMore(Clock::now() + timeout)) return std::nullopt;
  return std::exchange(pending_, std::string());
}

bool RawPeer::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

void RawPeer::shutdownWrite() {
  ::shutdown(fd_, SHUT_WR);
}

void RawPeer::waitForClose() {
  char chunk[4096];
  while (::recv(fd_, chunk, sizeof chunk, 0) > 0) {
  }
}

std::unique_ptr<RawBackend> RawBackend::start(const std::string& address, std::uint16_t port,
                                              Script script) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_port = htons(port);
  socklen_t size = sizeof bound;
  if (::inet_pton(AF_INET, address.c_str(), &bound.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&bound), sizeof bound) != 0 ||
      ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<RawBackend>(
      new RawBackend(fd, address, ntohs(bound.sin_port), std::move(script)));
}

RawBackend::RawBackend(int listenFd, std::string address, std::uint16_t port, Script script)
    : listenFd_(listenFd), address_(std::move(address)), port_(port), script_(std::move(script)) {
  acceptor_ = std::thread([this] { acceptLoop(); });
}

RawBackend::~RawBackend() {
  stopping_ = true;
  // shutdown() wakes a thread blocked in accept() or recv() on the socket.
  ::shutdown(listenFd_, SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& thread : threads_) thread.join();
  for (int fd : connections_) ::close(fd);
  ::close(listenFd_);
}

void RawBackend::acceptLoop() {
  for (;;) {
    const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    ++accepted_;
    connections_.push_back(fd);
    threads_.emplace_back([this, fd] {
      RawPeer peer(fd);
      script_(peer);
      // The script is done with the connection: the other side sees it end.
      // The descriptor stays open until the backend stops, so that it is
      // never reused under another thread.
      ::shutdown(fd, SHUT_RDWR);
      ++finished_;
    });
  }
}

std::string okResponse(std::string_view body, std::string_view extraFields) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extraFields) + "\r\n" + std::string(body);
}

RawBackend::Script serveEach(std::function<std::string(const RawRequest&)> answer) {
  return [answer = std::move(answer)](RawPeer& peer) {
    while (auto request = peer.readRequest()) {
      if (!peer.write(answer(*request))) return;
    }
  };
}

RawBackend::Script closeAfterRequest() {
  return [](RawPeer& peer) { peer.readRequest(); };
}

RawBackend::Script neverAnswer() {
  return [](RawPeer& peer) {
    peer.readRequest();
    peer.waitForClose();
  };
}

RawBackend::Script echoBytes() {
  return [](RawPeer& peer) {
    while (auto bytes = peer.readSome()) {
      if (!peer.write(*bytes)) return;
    }
    peer.shutdownWrite();
    peer.waitForClose();
  };
}

std::unique_ptr<http::HttpServer> startEchoServer(const std::string& address, std::uint16_t port,
                                                  std::string name) {
  http::HttpServerConfig config;
  config.address = address;
  config.port = port;
  config.threads = 1;
  config.handlerThreads = 2;
  config.bodyLimit = std::size_t{64} << 20;
  config.headerTimeout = kWait;
  config.requestTimeout = kWait;
  config.stopTimeout = 2s;
  auto server = http::HttpServer::start(config, [name](const http::Request& request) {
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& [field, value] : request.headers) headers.push_back({field, value});
    std::string query;
    for (const auto& parameter : request.query) {
      query += (query.empty() ? "" : "&") + parameter.name + "=" + parameter.value;
    }
    const nlohmann::json echo = {{"server", name},
                                 {"method", request.method},
                                 {"path", request.path},
                                 {"query", query},
                                 {"headers", headers},
                                 {"body", request.body},
                                 {"remote", request.remoteAddress}};
    return http::Response{200, "application/json", echo.dump(), {}};
  });
  if (!server) return nullptr;
  return std::move(server).value();
}

}  // namespace ozy::ingress::testing
