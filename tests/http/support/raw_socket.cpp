// POSIX socket helpers for the HTTP tests.
#include "support/raw_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <utility>

namespace ozy::http::testing {

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int millisecondsUntil(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

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

RawResponse parseHead(const std::string& head) {
  RawResponse response;
  std::size_t lineStart = 0;
  bool first = true;
  while (lineStart < head.size()) {
    std::size_t lineEnd = head.find("\r\n", lineStart);
    if (lineEnd == std::string::npos) lineEnd = head.size();
    const std::string line = head.substr(lineStart, lineEnd - lineStart);
    lineStart = lineEnd + 2;
    if (first) {
      first = false;
      const auto space = line.find(' ');
      if (space != std::string::npos) response.status = std::atoi(line.c_str() + space + 1);
      continue;
    }
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      response.headers[lowercase(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
  }
  return response;
}

}  // namespace

std::optional<RawConnection> RawConnection::open(std::uint16_t port, int receiveBuffer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  // Before connecting: the window the connection starts with depends on it.
  if (receiveBuffer > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const sockaddr_in address = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return RawConnection(fd);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), pending_(std::move(other.pending_)) {}

RawConnection::~RawConnection() {
  close();
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

RawConnection::Received RawConnection::receive(Clock::time_point deadline) {
  pollfd descriptor{fd_, POLLIN, 0};
  if (::poll(&descriptor, 1, millisecondsUntil(deadline)) <= 0) return Received::TimedOut;
  char chunk[4096];
  const ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
  if (received <= 0) return Received::Closed;
  pending_.append(chunk, static_cast<std::size_t>(received));
  return Received::Some;
}

std::optional<std::string> RawConnection::readUntil(std::string_view marker,
                                                    std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t found;
  while ((found = pending_.find(marker)) == std::string::npos) {
    if (!receiveMore(deadline)) return std::nullopt;
  }
  std::string text = pending_.substr(0, found + marker.size());
  pending_.erase(0, found + marker.size());
  return text;
}

std::optional<std::string> RawConnection::readUntilClosed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    switch (receive(deadline)) {
      case Received::Some:
        continue;
      case Received::Closed:
        return std::exchange(pending_, std::string());
      case Received::TimedOut:
        return std::nullopt;
    }
  }
}

std::optional<RawResponse> RawConnection::readResponse(std::chrono::milliseconds timeout,
                                                       bool headRequest) {
  const auto deadline = Clock::now() + timeout;
  std::size_t headEnd;
  while ((headEnd = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!receiveMore(deadline)) return std::nullopt;
  }
  RawResponse response = parseHead(pending_.substr(0, headEnd));
  const std::string length = response.header("content-length");
  const std::size_t bodySize = length.empty() || headRequest ? 0 : std::stoul(length);
  const std::size_t total = headEnd + 4 + bodySize;
  while (pending_.size() < total) {
    if (!receiveMore(deadline)) return std::nullopt;
  }
  response.body = pending_.substr(headEnd + 4, bodySize);
  pending_.erase(0, total);
  return response;
}

bool RawConnection::closedWithin(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd descriptor{fd_, POLLIN, 0};
    if (::poll(&descriptor, 1, millisecondsUntil(deadline)) <= 0) return false;
    char chunk[4096];
    if (::recv(fd_, chunk, sizeof chunk, 0) <= 0) return true;
  }
}

std::optional<RawListener> RawListener::open(bool listen) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address = loopback(0);
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      (listen && ::listen(fd, 16) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return RawListener(fd, ntohs(address.sin_port));
}

std::optional<RawConnection> RawListener::accept(std::chrono::milliseconds timeout) {
  pollfd descriptor{fd_, POLLIN, 0};
  if (::poll(&descriptor, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  return RawConnection(fd);
}

RawListener::RawListener(RawListener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_) {}

RawListener::~RawListener() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace ozy::http::testing
