#include "dns/dns_server.h"

#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "dns/resolver.h"
#include "dns/skydns.h"
#include "dns/tcp_listener.h"
#include "dns/udp_listener.h"

namespace ozy::dns {
namespace {

// Keys the hashes of the client tables (client_address.h): unpredictable
// from outside the process.
std::uint64_t randomSeed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) | device();
}

std::string describe(const RateLimit& limit) {
  if (limit.queriesPerSecond == 0) return "no rate limit per client";
  return fmt::format("at most {} queries a second per client (burst {})", limit.queriesPerSecond,
                     limit.burst);
}

}  // namespace

DnsServer::DnsServer(const DnsServerConfig& config)
    : config_(config), prefix_(domainPrefix(config.domain)) {
  resolve_ = [this](const Question& question) {
    Answer answer;
    {
      std::lock_guard lock(tableMutex_);
      answer = resolve(table_, config_.domain, question);
    }
    if (config_.onAnswer) config_.onAnswer(answer.rcode);
    return answer;
  };
}

Result<std::unique_ptr<DnsServer>, std::string> DnsServer::start(const DnsServerConfig& config,
                                                                 Store& store) {
  if (!isDomain(config.domain)) {
    return fail(fmt::format(
        "\"{}\" is not a cluster domain (lowercase DNS labels separated by dots, e.g. ozy.local)",
        config.domain));
  }
  if (auto problems = rateLimitProblems(config.rateLimit); !problems.empty()) {
    return fail(fmt::format("{}", fmt::join(problems, "; ")));
  }
  auto sockets = bindSockets(config.address, config.port);
  if (!sockets) return fail(std::move(sockets).error());
  std::unique_ptr<DnsServer> server(new DnsServer(config));
  server->sockets_ = std::move(sockets).value();
  DnsServer* raw = server.get();
  auto follower = PrefixFollower::start(
      store,
      {.prefixes = {server->prefix_},
       .name = "DNS: the records",
       .retryBackoff = config.resyncBackoff,
       .retryBackoffMax = config.resyncBackoffMax},
      {.onSnapshot = [raw](std::vector<KeyValue> kvs, std::int64_t) { raw->replaceAll(kvs); },
       .onEvents = [raw](std::vector<WatchEvent> events,
                         std::int64_t) { raw->applyEvents(events); },
       .onWatchEnded = {}});
  if (!follower) {
    return fail(fmt::format("cannot read the records under {} from etcd: {}", server->prefix_,
                            follower.error().message));
  }
  server->follower_ = std::move(follower).value();
  std::size_t records = 0;
  {
    std::lock_guard lock(server->tableMutex_);
    records = server->table_.size();
  }
  server->udpListener_ =
      std::make_unique<UdpListener>(raw->sockets_.udp.get(), config.rateLimit, randomSeed(),
                                    raw->resolve_, config.onServingRound);
  server->tcpListener_ =
      std::make_unique<TcpListener>(raw->sockets_.tcp.get(), config.tcp, config.rateLimit,
                                    randomSeed(), raw->resolve_, config.onServingRound);
  server->udpThread_ = std::make_unique<RestartingThread>(
      "DNS: the UDP listener", config.restartBackoff,
      [raw] { return raw->udpListener_->serve(raw->stopping_); });
  server->tcpThread_ = std::make_unique<RestartingThread>(
      "DNS: the TCP listener", config.restartBackoff,
      [raw] { return raw->tcpListener_->serve(raw->stopping_); });
  spdlog::info("DNS: answering for {} on {} port {} (UDP and TCP), {}; records read from etcd: {}",
               config.domain, config.address, server->port(), describe(config.rateLimit), records);
  return server;
}

DnsServer::~DnsServer() {
  stop();
}

void DnsServer::stop() {
  std::lock_guard stopLock(stopMutex_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  for (auto* thread : {udpThread_.get(), tcpThread_.get()}) {
    if (thread) thread->stop();
  }
  if (follower_) follower_->stop();
  sockets_ = ListeningSockets();
}

void DnsServer::replaceAll(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> refused;
  {
    std::lock_guard lock(tableMutex_);
    refused = table_.replaceAll(kvs);
  }
  for (const auto& reason : refused) {
    spdlog::warn("DNS: not serving a record: {}; rewrite or delete the key", reason);
  }
}

void DnsServer::applyEvents(const std::vector<WatchEvent>& events) {
  std::vector<std::string> refused;
  {
    std::lock_guard lock(tableMutex_);
    for (const WatchEvent& event : events) {
      if (event.type == WatchEvent::kDelete) {
        table_.remove(event.kv.key);
      } else if (auto stored = table_.put(event.kv.key, event.kv.value); !stored) {
        refused.push_back(stored.error());
      }
    }
  }
  for (const auto& reason : refused) {
    spdlog::warn("DNS: not serving a record: {}; rewrite or delete the key", reason);
  }
}

}  // namespace ozy::dns
