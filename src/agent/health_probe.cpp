#include "agent/health_probe.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/client.h"

namespace ozy {
namespace {

std::string hostPort(const std::string& ip, std::uint16_t port) {
  return ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", ip, port)
                                           : fmt::format("{}:{}", ip, port);
}

ProbeResult httpProbe(const CheckTarget& t) {
  http::HttpClientConfig config;
  config.baseUrl = "http://" + hostPort(t.podIp, t.check.port);
  config.deadline = t.check.timeout;
  config.bodyLimit = std::size_t{1} << 20;
  auto client = http::HttpClient::create(config);
  if (!client) return {false, client.error()};
  http::ClientRequest request;
  request.path = t.check.path.empty() ? "/" : t.check.path;
  request.headers.set("User-Agent", "ozy-health-check");
  auto response = client->send(request);
  if (!response) return {false, response.error()};
  if (response->status >= 200 && response->status < 400) return {true, {}};
  return {false, fmt::format("GET {} answered HTTP {}", request.path, response->status)};
}

ProbeResult tcpProbe(const CheckTarget& t) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(t.podIp, ec);
  if (ec) return {false, fmt::format("the pod's address \"{}\" is not an IP address", t.podIp)};
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code result = asio::error::would_block;
  socket.async_connect({address, t.check.port},
                       [&](const boost::system::error_code& e) { result = e; });
  io.run_for(t.check.timeout);
  if (result == asio::error::would_block) {
    return {false, fmt::format("no connection to {} within {} ms", hostPort(t.podIp, t.check.port),
                               t.check.timeout.count())};
  }
  if (result)
    return {false,
            fmt::format("connect to {}: {}", hostPort(t.podIp, t.check.port), result.message())};
  return {true, {}};
}

ProbeResult execProbe(const CheckTarget& t, runtime::ContainerRuntime& runtime) {
  auto ran = runtime.exec(t.container, t.check.command, t.check.timeout);
  if (!ran) return {false, ran.error().message};
  if (ran->exitCode == 0) return {true, {}};
  return {false, fmt::format("the check command exited with code {}", ran->exitCode)};
}

}  // namespace

ProbeResult runProbe(const CheckTarget& target, runtime::ContainerRuntime& runtime) {
  switch (target.check.type) {
    case HealthCheckType::kHttp:
      return target.podIp.empty() ? ProbeResult{false, "the pod has no address yet"}
                                  : httpProbe(target);
    case HealthCheckType::kTcp:
      return target.podIp.empty() ? ProbeResult{false, "the pod has no address yet"}
                                  : tcpProbe(target);
    case HealthCheckType::kExec:
      return execProbe(target, runtime);
  }
  return {false, "unknown check type"};
}

}  // namespace ozy
