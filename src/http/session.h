// One HTTP/1.1 connection on the server side, plain or TLS. Internal to
// src/http: HttpServer accepts sockets and hands them here.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <string_view>

#include "http/connection_registry.h"
#include "http/message.h"
#include "http/server.h"
#include "http/worker_pool.h"

namespace ozy::http {

// What every session of one server shares. Owned by the server, which
// outlives its sessions.
struct SessionContext {
  const HttpServerConfig& config;
  const Handler& handler;
  ConnectionRegistry& registry;
  WorkerPool& handlers;
  WorkerPool& streams;  // producers of streamed responses
  // After an error response the session reads and discards what the client
  // still sends, for at most this long, so that closing does not reset the
  // connection before the client has read the response.
  std::chrono::milliseconds lingerTime;

  void logError(std::string_view message) const {
    if (config.logError) config.logError(message);
  }
};

// Serves the connection until it closes. With a TLS context the session
// begins with the handshake. The socket's executor must be a strand.
void startSession(boost::asio::ip::tcp::socket socket, const SessionContext& context,
                  boost::asio::ssl::context* tls);

}  // namespace ozy::http
