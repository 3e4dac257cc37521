// The relay: one thread, poll() over every pair of sockets.
#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ozy::testing_support {

namespace {

struct Pair {
  int client = -1;
  int server = -1;
};

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int connectTo(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Moves what one side has sent to the other; false when either end closed.
bool relay(int from, int to) {
  char buffer[16384];
  const ssize_t n = ::recv(from, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  for (ssize_t sent = 0; sent < n;) {
    const ssize_t m = ::send(to, buffer + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
    if (m <= 0) return false;
    sent += m;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<TcpProxy>, std::string> TcpProxy::start(const std::string& targetHost,
                                                               std::uint16_t targetPort) {
  std::unique_ptr<TcpProxy> proxy(new TcpProxy());
  proxy->targetHost_ = targetHost;
  proxy->targetPort_ = targetPort;
  proxy->listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(proxy->listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(proxy->listenFd_, 64) != 0 ||
      ::getsockname(proxy->listenFd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(proxy->wakeFd_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return fail(std::string("cannot start the TCP proxy: ") + std::strerror(errno));
  }
  proxy->port_ = ntohs(address.sin_port);
  proxy->thread_ = std::thread([raw = proxy.get()] { raw->run(); });
  return proxy;
}

TcpProxy::~TcpProxy() { stop(); }

void TcpProxy::cut() {
  cut_ = true;
  (void)!::write(wakeFd_[1], "c", 1);
}

void TcpProxy::heal() {
  healed_ = true;
  cut_ = false;
  (void)!::write(wakeFd_[1], "h", 1);
}

void TcpProxy::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  (void)!::write(wakeFd_[1], "s", 1);
  thread_.join();
  closeFd(listenFd_);
  closeFd(wakeFd_[0]);
  closeFd(wakeFd_[1]);
}

void TcpProxy::run() {
  std::vector<Pair> pairs;
  while (!stopping_) {
    if (healed_.exchange(false)) {
      // Connections that lived through the cut are in no state to go on.
      for (auto& p : pairs) closeFd(p.client), closeFd(p.server);
      pairs.clear();
    }
    const bool blackhole = cut_;
    std::vector<pollfd> fds{{wakeFd_[0], POLLIN, 0}};
    // While cut, new clients wait unanswered in the listen queue.
    if (!blackhole) fds.push_back({listenFd_, POLLIN, 0});
    if (!blackhole) {
      for (const auto& p : pairs) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (::read(wakeFd_[0], drain, sizeof drain) > 0) {
      }
      continue;  // the state changed: look again
    }
    if (blackhole) continue;
    if (fds[1].revents & POLLIN) {
      const int client = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        const int server = connectTo(targetHost_, targetPort_);
        if (server < 0) {
          ::close(client);
        } else {
          pairs.push_back({client, server});
        }
      }
    }
    for (std::size_t i = 0; i < pairs.size() && 2 + 2 * i + 1 < fds.size(); ++i) {
      const auto clientEvents = fds[2 + 2 * i].revents;
      const auto serverEvents = fds[2 + 2 * i + 1].revents;
      bool open = true;
      if (clientEvents & (POLLIN | POLLHUP | POLLERR)) open = relay(pairs[i].client, pairs[i].server);
      if (open && (serverEvents & (POLLIN | POLLHUP | POLLERR))) open = relay(pairs[i].server, pairs[i].client);
      if (!open) closeFd(pairs[i].client), closeFd(pairs[i].server);
    }
    std::erase_if(pairs, [](const Pair& p) { return p.client < 0; });
  }
  for (auto& p : pairs) closeFd(p.client), closeFd(p.server);
}

}  // namespace ozy::testing_support
