// Starting servers and clients on 127.0.0.1 for the tests, with short
// timeouts so that nothing a test does can hang it for long.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "http/client.h"
#include "http/server.h"

namespace ozy::http::testing {

using namespace std::chrono_literals;

inline HttpServerConfig testServerConfig() {
  HttpServerConfig config;
  config.address = "127.0.0.1";
  config.port = 0;
  config.threads = 2;
  config.headerTimeout = 5s;
  config.requestTimeout = 5s;
  config.stopTimeout = 5s;
  return config;
}

// Null (and a test failure) when the server cannot start.
inline std::unique_ptr<HttpServer> startServer(HttpServerConfig config, Handler handler) {
  auto server = HttpServer::start(std::move(config), std::move(handler));
  if (!server) {
    ADD_FAILURE() << "server did not start: " << server.error();
    return nullptr;
  }
  return std::move(server).value();
}

inline HttpClientConfig testClientConfig(const HttpServer& server) {
  HttpClientConfig config;
  config.baseUrl =
      (server.tls() ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(server.port());
  config.deadline = 5s;
  return config;
}

inline HttpClient clientFor(HttpClientConfig config) {
  auto client = HttpClient::create(std::move(config));
  if (!client) throw std::runtime_error("test client: " + client.error());
  return std::move(client).value();
}

inline ClientRequest request(std::string method, std::string path, Headers headers = {},
                             std::string body = {}) {
  return ClientRequest{std::move(method), std::move(path), std::move(headers), std::move(body)};
}

inline Response textResponse(int status, std::string body) {
  return Response{status, "text/plain", std::move(body), {}};
}

// A latch a handler waits on until the test opens it. Shared through a
// shared_ptr so that a handler never outlives it; the wait is bounded so that
// a failed test cannot leave a handler (and with it stop()) waiting forever.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void markEntered() {
    std::lock_guard lock(mutex_);
    entered_ = true;
    changed_.notify_all();
  }
  bool waitEntered(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return entered_; });
  }
  void waitOpen(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  bool entered_ = false;
};

}  // namespace ozy::http::testing
