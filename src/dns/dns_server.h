// DnsServer: the node's DNS responder for the cluster domain, answering from
// the SkyDNS records the agents keep in etcd (skydns.h).
//
// A PrefixFollower (store/prefix_follower.h) keeps a RecordTable current
// with the domain's records: one read fills it, a watch from the read's
// revision applies the changes, and when the watch ends (etcd compacted the
// revision it needed) the records are read again and watched anew; a re-read
// that fails is retried with back-off, answering from the last known records
// meanwhile. Queries are served over UDP and TCP on one port, each by its
// own thread (udp_listener.h, tcp_listener.h), so neither transport waits
// for the other; what they get is resolver.h's business, the wire format
// ldns_message.h's.
//
// Safe by default: every client address gets a rate limit (rate_limiter.h),
// TCP connections are bounded in number and time (tcp_connection.h), and a
// thread that fails is logged and started again (restarting_thread.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "dns/ldns_message.h"
#include "dns/rate_limiter.h"
#include "dns/record_table.h"
#include "dns/restarting_thread.h"
#include "dns/sockets.h"
#include "dns/tcp_connection.h"
#include "store/prefix_follower.h"
#include "store/store.h"

namespace ozy::dns {

class UdpListener;
class TcpListener;

struct DnsServerConfig {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 address to listen on
  std::uint16_t port = 0;             // UDP and TCP; 0: any free port (see port())
  std::string domain = "ozy.local";   // as isDomain() accepts it
  // Delay before retrying a failed re-read of etcd; doubles up to the maximum.
  std::chrono::milliseconds resyncBackoff{500};
  std::chrono::milliseconds resyncBackoffMax{30000};
  // Queries answered per client address, over UDP and TCP alike. Each
  // transport keeps its own table of clients: UDP queries forged with a
  // client's address then cost that client its UDP answers only, and the
  // truncated responses it gets send it to TCP, where it is answered.
  RateLimit rateLimit;
  TcpLimits tcp;
  // Before starting a listener again whose thread failed.
  RestartBackoff restartBackoff;
  // For tests: called by the UDP and TCP listener threads at the start of
  // every round of serving, a few times a second at least; a test throws
  // from it to make a listener fail. Empty otherwise.
  std::function<void(Transport)> onServingRound;
  // Told the response code of every question answered, from the listener
  // threads (for the metrics); must be quick. Empty: nobody is told.
  std::function<void(Rcode)> onAnswer;
};

class DnsServer {
 public:
  // Reads the domain's records, starts the watch, binds address:port (UDP and
  // TCP) and starts serving. Fails on an invalid domain, address or rate
  // limit, a port that is taken, or an etcd that does not answer the first
  // read.
  static Result<std::unique_ptr<DnsServer>, std::string> start(const DnsServerConfig& config,
                                                               Store& store);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // The port serving UDP and TCP (the one chosen when the config said 0).
  std::uint16_t port() const { return sockets_.port; }
  // Stops serving and watching; returns once every thread has ended.
  void stop();

 private:
  explicit DnsServer(const DnsServerConfig& config);
  // The follower's callbacks: they run one at a time.
  void replaceAll(const std::vector<KeyValue>& kvs);
  void applyEvents(const std::vector<WatchEvent>& events);

  const DnsServerConfig config_;
  const std::string prefix_;  // domainPrefix(config_.domain)
  Resolve resolve_;
  ListeningSockets sockets_;

  std::mutex tableMutex_;
  RecordTable table_;

  std::mutex stopMutex_;  // held by stop() throughout, so a second caller waits too
  bool stopped_ = false;
  std::atomic<bool> stopping_ = false;
  std::unique_ptr<PrefixFollower> follower_;
  std::unique_ptr<UdpListener> udpListener_;
  std::unique_ptr<TcpListener> tcpListener_;
  std::unique_ptr<RestartingThread> udpThread_;
  std::unique_ptr<RestartingThread> tcpThread_;
};

}  // namespace ozy::dns
