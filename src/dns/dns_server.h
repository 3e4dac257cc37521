// DnsServer: the node's DNS responder for the cluster domain, answering from
// the SkyDNS records the agents keep in etcd (skydns.h).
//
// One read of the domain's records fills a RecordTable and a watch from the
// read's revision keeps it current. When the watch ends (etcd compacted the
// revision it needed) the records are read again and watched anew; a re-read
// that fails is retried with back-off, answering from the last known records
// meanwhile. Queries are served over UDP and TCP on one port by one thread
// (poll with a short timeout, so stop() is prompt); what they get is
// resolver.h's business, the wire format ldns_message.h's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "dns/ldns_message.h"
#include "dns/record_table.h"
#include "dns/sockets.h"
#include "store/store.h"

namespace ozy::dns {

struct DnsServerConfig {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 address to listen on
  std::uint16_t port = 0;             // UDP and TCP; 0: any free port (see port())
  std::string domain = "ozy.local";   // as isDomain() accepts it
  // Delay before retrying a failed re-read of etcd; doubles up to the maximum.
  std::chrono::milliseconds resyncBackoff{500};
  std::chrono::milliseconds resyncBackoffMax{30000};
};

class DnsServer {
 public:
  // Reads the domain's records, starts the watch, binds address:port (UDP and
  // TCP) and starts serving. Fails on an invalid domain or address, a port
  // that is taken, or an etcd that does not answer the first read.
  static Result<std::unique_ptr<DnsServer>, std::string> start(const DnsServerConfig& config,
                                                               Store& store);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // The port serving UDP and TCP (the one chosen when the config said 0).
  std::uint16_t port() const { return port_; }
  // Stops serving and watching; returns once both threads have ended.
  void stop();

 private:
  struct TcpConnection;

  DnsServer(const DnsServerConfig& config, Store& store);
  Result<std::size_t, StoreError> resync();
  void applyEvents(const std::vector<WatchEvent>& events);
  void maintain();
  void serve();
  void answerUdp(std::vector<std::uint8_t>& buffer);
  void acceptTcp(std::vector<TcpConnection>& connections);
  bool serviceTcp(TcpConnection& connection, short events);

  const DnsServerConfig config_;
  const std::string prefix_;  // domainPrefix(config_.domain)
  Store& store_;
  Resolve resolve_;
  SocketFd udp_;
  SocketFd tcp_;
  std::uint16_t port_ = 0;

  std::mutex tableMutex_;
  RecordTable table_;

  std::mutex stopMutex_;  // held by stop() throughout, so a second caller waits too
  bool stopped_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool needResync_ = false;
  std::atomic<bool> stopping_ = false;
  std::unique_ptr<Watch> watch_;  // touched by start(), the maintainer, then stop()
  std::thread maintainer_;
  std::thread server_;
};

}  // namespace ozy::dns
