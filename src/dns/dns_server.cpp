#include "dns/dns_server.h"

#include <algorithm>
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

DnsServer::DnsServer(const DnsServerConfig& config, Store& store)
    : config_(config), prefix_(domainPrefix(config.domain)), store_(store) {
  resolve_ = [this](const Question& question) {
    std::lock_guard lock(tableMutex_);
    return resolve(table_, config_.domain, question);
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
  std::unique_ptr<DnsServer> server(new DnsServer(config, store));
  server->sockets_ = std::move(sockets).value();
  auto records = server->resync();
  if (!records) {
    return fail(fmt::format("cannot read the records under {} from etcd: {}", server->prefix_,
                            records.error().message));
  }
  DnsServer* raw = server.get();
  server->udpListener_ =
      std::make_unique<UdpListener>(raw->sockets_.udp.get(), config.rateLimit, randomSeed(),
                                    raw->resolve_, config.onServingRound);
  server->tcpListener_ =
      std::make_unique<TcpListener>(raw->sockets_.tcp.get(), config.tcp, config.rateLimit,
                                    randomSeed(), raw->resolve_, config.onServingRound);
  // A reader that failed may have left the table half updated: its next run
  // starts by reading everything again.
  auto maintainOnce = [raw, first = true]() mutable {
    if (!first) {
      std::lock_guard lock(raw->mutex_);
      raw->needResync_ = true;
    }
    first = false;
    return raw->maintain();
  };
  server->maintainer_ = std::make_unique<RestartingThread>(
      "DNS: the reader of the records in etcd", config.restartBackoff, std::move(maintainOnce));
  server->udpThread_ = std::make_unique<RestartingThread>(
      "DNS: the UDP listener", config.restartBackoff,
      [raw] { return raw->udpListener_->serve(raw->stopping_); });
  server->tcpThread_ = std::make_unique<RestartingThread>(
      "DNS: the TCP listener", config.restartBackoff,
      [raw] { return raw->tcpListener_->serve(raw->stopping_); });
  spdlog::info("DNS: answering for {} on {} port {} (UDP and TCP), {}; records read from etcd: {}",
               config.domain, config.address, server->port(), describe(config.rateLimit), *records);
  return server;
}

DnsServer::~DnsServer() {
  stop();
}

void DnsServer::stop() {
  std::lock_guard stopLock(stopMutex_);
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto* thread : {maintainer_.get(), udpThread_.get(), tcpThread_.get()}) {
    if (thread) thread->stop();
  }
  watch_.reset();
  sockets_ = ListeningSockets();
}

// Reads every record and watches from just after the read, so nothing in
// between is missed. Returns how many records the table holds.
Result<std::size_t, StoreError> DnsServer::resync() {
  // The old watch (ended, or about to be replaced) goes first, so none of
  // its events lands on the fresh table.
  watch_.reset();
  auto read = store_.getPrefix(prefix_);
  if (!read) return fail(std::move(read).error());
  std::vector<std::string> refused;
  std::size_t count = 0;
  {
    std::lock_guard lock(tableMutex_);
    refused = table_.replaceAll(read->kvs);
    count = table_.size();
  }
  for (const auto& reason : refused) {
    spdlog::warn("DNS: not serving a record: {}; rewrite or delete the key", reason);
  }
  auto onEvents = [this](std::vector<WatchEvent> events, std::int64_t) { applyEvents(events); };
  auto onError = [this](const StoreError& error) {
    spdlog::warn("DNS: the watch on {} ended ({}); reading the records again", prefix_,
                 error.message);
    {
      std::lock_guard lock(mutex_);
      needResync_ = true;
    }
    wake_.notify_all();
  };
  watch_ = store_.watch(prefix_, read->revision + 1, onEvents, onError);
  return count;
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

Result<Done, std::string> DnsServer::maintain() {
  std::unique_lock lock(mutex_);
  auto backoff = config_.resyncBackoff;
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || needResync_; });
    if (stopping_) return Done{};
    needResync_ = false;
    lock.unlock();
    auto records = resync();
    lock.lock();
    if (records) {
      spdlog::info("DNS: read the records under {} again: {}", prefix_, *records);
      backoff = config_.resyncBackoff;
      continue;
    }
    spdlog::warn(
        "DNS: cannot read the records under {} from etcd ({}); answering from the last ones read, "
        "retrying in {} ms",
        prefix_, records.error().message, backoff.count());
    wake_.wait_for(lock, backoff, [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, config_.resyncBackoffMax);
    needResync_ = true;
  }
}

}  // namespace ozy::dns
