// TcpProxy: a TCP relay on 127.0.0.1 in front of one server, which a test can
// cut and heal: the network partition between one agent and etcd that etcd's
// own functional tests make with a proxy.
//
// A cut blackholes: bytes already sent are not delivered, nothing new is
// relayed and new connections are held unanswered, as when packets are
// dropped (no reset tells the client). Healing closes the connections that
// lived through the cut, so clients reconnect, and relays again.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"

namespace ozy::testing_support {

class TcpProxy {
 public:
  // Relays 127.0.0.1:<a free port> to targetHost:targetPort.
  static Result<std::unique_ptr<TcpProxy>, std::string> start(const std::string& targetHost,
                                                              std::uint16_t targetPort);
  ~TcpProxy();  // stop()
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void cut();
  void heal();
  void stop();

 private:
  TcpProxy() = default;
  void run();

  std::string targetHost_;
  std::uint16_t targetPort_ = 0;
  std::uint16_t port_ = 0;
  int listenFd_ = -1;
  int wakeFd_[2] = {-1, -1};  // a pipe that interrupts poll()
  std::atomic<bool> cut_{false};
  std::atomic<bool> healed_{false};  // set by heal(), consumed by the relay thread
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ozy::testing_support
