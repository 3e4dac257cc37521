// DnsServer against a scripted Store: serving over UDP and TCP, following
// watch events, re-reading after the watch ends (with retries while etcd
// does not answer), starting and stopping; the limits that keep it serving
// (rate per client, TCP connections and their deadlines) and listeners
// started again after they fail. Hermetic: loopback, port 0.
#include "dns/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ldns_test_support.h"

namespace ozy::dns {
namespace {

using namespace std::chrono_literals;
using namespace ozy::dns::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

KeyValue kv(const std::string& name, const std::string& host) {
  KeyValue out;
  out.key = *keyOfName(name);
  out.value = encode(SkyRecord{host, 80, 10, 10, 30});
  return out;
}

WatchEvent putEvent(const std::string& name, const std::string& value) {
  WatchEvent event;
  event.kv.key = *keyOfName(name);
  event.kv.value = value;
  return event;
}

WatchEvent deleteEvent(const std::string& name) {
  WatchEvent event;
  event.type = WatchEvent::kDelete;
  event.kv.key = *keyOfName(name);
  return event;
}

// A Store whose reads return what the test says, and whose one watch the
// test drives by hand. Everything else fails: the server must not use it.
class ScriptedStore final : public Store {
 public:
  void setRecords(std::vector<KeyValue> kvs, std::int64_t revision) {
    std::lock_guard lock(mutex_);
    kvs_ = std::move(kvs);
    revision_ = revision;
  }
  void failReads(bool fail) {
    std::lock_guard lock(mutex_);
    failing_ = fail;
  }
  bool waitForReads(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return reads_ >= count; });
  }
  bool waitForWatchFrom(std::int64_t revision) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return watchFrom_ == revision; });
  }
  std::string watchedPrefix() {
    std::lock_guard lock(mutex_);
    return watchPrefix_;
  }
  // Called as the watch's own thread would.
  void deliver(std::vector<WatchEvent> events, std::int64_t revision) {
    WatchEventsFn fn;
    {
      std::lock_guard lock(mutex_);
      fn = onEvents_;
    }
    fn(std::move(events), revision);
  }
  void endWatch(const StoreError& error) {
    WatchErrorFn fn;
    {
      std::lock_guard lock(mutex_);
      fn = onError_;
    }
    fn(error);
  }

  Result<RangeResult, StoreError> getPrefix(const std::string& prefix, bool) override {
    std::lock_guard lock(mutex_);
    ++reads_;
    changed_.notify_all();
    if (failing_) return fail(StoreError{StoreError::kUnavailable, "etcd is away"});
    RangeResult result;
    result.revision = revision_;
    for (const KeyValue& item : kvs_) {
      if (item.key.starts_with(prefix)) result.kvs.push_back(item);
    }
    return result;
  }
  std::unique_ptr<Watch> watch(const std::string& prefix, std::int64_t startRevision,
                               WatchEventsFn onEvents, WatchErrorFn onError) override {
    std::lock_guard lock(mutex_);
    watchPrefix_ = prefix;
    watchFrom_ = startRevision;
    onEvents_ = std::move(onEvents);
    onError_ = std::move(onError);
    changed_.notify_all();
    return std::make_unique<NoWatch>();
  }

  Result<RangeResult, StoreError> get(const std::string&) override { return unscripted(); }
  Result<std::int64_t, StoreError> put(const std::string&, const std::string&,
                                       std::int64_t) override {
    return unscripted();
  }
  Result<DeleteResult, StoreError> remove(const std::string&) override { return unscripted(); }
  Result<DeleteResult, StoreError> removePrefix(const std::string&) override {
    return unscripted();
  }
  Result<TxnResult, StoreError> txn(const Txn&) override { return unscripted(); }
  Result<Lease, StoreError> grantLease(std::int64_t) override { return unscripted(); }
  Result<std::int64_t, StoreError> keepAliveOnce(std::int64_t) override { return unscripted(); }
  Result<Done, StoreError> revokeLease(std::int64_t) override { return unscripted(); }
  Result<std::int64_t, StoreError> leaseTimeToLive(std::int64_t) override { return unscripted(); }

 private:
  struct NoWatch final : Watch {
    void stop() override {}
  };
  static Err<StoreError> unscripted() {
    ADD_FAILURE() << "DnsServer called a Store method it has no business with";
    return fail(StoreError{StoreError::kOther, "not scripted"});
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<KeyValue> kvs_;
  std::int64_t revision_ = 1;
  bool failing_ = false;
  int reads_ = 0;
  std::string watchPrefix_;
  std::int64_t watchFrom_ = -1;
  WatchEventsFn onEvents_;
  WatchErrorFn onError_;
};

// The server listens on 127.0.0.1; a client's address is its source, any
// of 127.0.0.0/8 (all loopback on Linux), so tests can be several clients.
constexpr const char* kClient = "127.0.0.1";
constexpr const char* kOtherClient = "127.0.0.2";

sockaddr_in loopback(std::uint16_t port, const char* address = kClient) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &to.sin_addr);
  return to;
}

class Socket {
 public:
  // Bound to `source` (any port), so the server sees that client address.
  explicit Socket(int type, const char* source = kClient)
      : fd_(::socket(AF_INET, type | SOCK_CLOEXEC, 0)) {
    const sockaddr_in from = loopback(0, source);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&from), sizeof from), 0);
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  bool readable(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }
  bool connect(std::uint16_t port) {
    const sockaddr_in to = loopback(port);
    return ::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0;
  }
  // Whether the connection was reset or closed by the server within
  // `timeout`, whatever the socket still holds unread.
  bool hungUp(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLRDHUP, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
           (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0;
  }
  // Whether the server closed the connection within `timeout`; the test
  // clients never get anything else unasked.
  bool closedByServer(std::chrono::milliseconds timeout) const {
    if (!readable(timeout)) return false;
    std::uint8_t byte;
    return ::recv(fd_, &byte, 1, MSG_DONTWAIT) <= 0;
  }

 private:
  int fd_;
};

std::vector<std::uint8_t> framed(const std::vector<std::uint8_t>& wire) {
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(wire.size() >> 8),
                                static_cast<std::uint8_t>(wire.size() & 0xff)};
  out.insert(out.end(), wire.begin(), wire.end());
  return out;
}

std::vector<std::uint8_t> queryWire(const std::string& name, std::uint16_t id = 4242) {
  return toWire(makeQuery(name, LDNS_RR_TYPE_A, id).get());
}

// Sends `wire` over UDP from `source`; the response, or nothing within `timeout`.
std::optional<std::vector<std::uint8_t>> exchangeUdp(std::uint16_t port,
                                                     const std::vector<std::uint8_t>& wire,
                                                     std::chrono::milliseconds timeout = 2s,
                                                     const char* source = kClient) {
  Socket socket(SOCK_DGRAM, source);
  const sockaddr_in to = loopback(port);
  ::sendto(socket.fd(), wire.data(), wire.size(), 0, reinterpret_cast<const sockaddr*>(&to),
           sizeof to);
  if (!socket.readable(timeout)) return std::nullopt;
  std::vector<std::uint8_t> buffer(65535);
  const ssize_t got = ::recv(socket.fd(), buffer.data(), buffer.size(), 0);
  if (got < 0) return std::nullopt;
  buffer.resize(static_cast<std::size_t>(got));
  return buffer;
}

Packet queryUdp(std::uint16_t port, const std::string& name, ldns_rr_type type = LDNS_RR_TYPE_A,
                const char* source = kClient) {
  auto response = exchangeUdp(port, toWire(makeQuery(name, type).get()), 2s, source);
  return response ? parse(*response) : nullptr;
}

std::vector<std::string> addressesOf(std::uint16_t port, const std::string& name,
                                     const char* source = kClient) {
  auto response = queryUdp(port, name, LDNS_RR_TYPE_A, source);
  if (!response) return {"(no response)"};
  return answerAddresses(response.get());
}

// Asks for `name` over a new TCP connection from `source`; the response,
// or nullptr when none came within `timeout`.
Packet queryTcp(std::uint16_t port, const std::string& name, const char* source = kClient,
                std::chrono::milliseconds timeout = 2s) {
  Socket socket(SOCK_STREAM, source);
  if (!socket.connect(port)) return nullptr;
  const auto stream = framed(queryWire(name));
  if (::send(socket.fd(), stream.data(), stream.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(stream.size())) {
    return nullptr;
  }
  std::vector<std::uint8_t> received;
  while (socket.readable(timeout)) {
    std::uint8_t chunk[4096];
    const ssize_t n = ::recv(socket.fd(), chunk, sizeof chunk, 0);
    if (n <= 0) return nullptr;
    received.insert(received.end(), chunk, chunk + n);
    if (received.size() < 2) continue;
    const std::size_t length = (std::size_t{received[0]} << 8) | received[1];
    if (received.size() >= 2 + length) {
      return parse({received.begin() + 2, received.begin() + 2 + static_cast<long>(length)});
    }
  }
  return nullptr;
}

std::vector<std::string> tcpAddressesOf(std::uint16_t port, const std::string& name,
                                        const char* source = kClient) {
  auto response = queryTcp(port, name, source);
  if (!response) return {"(no response)"};
  return answerAddresses(response.get());
}

// A TCP connection from `source` that sends nothing.
std::unique_ptr<Socket> silentConnection(std::uint16_t port, const char* source = kClient) {
  auto socket = std::make_unique<Socket>(SOCK_STREAM, source);
  EXPECT_TRUE(socket->connect(port));
  return socket;
}

// Polls until `name` resolves to exactly `expected` (in any order).
bool eventuallyResolves(std::uint16_t port, const std::string& name,
                        std::vector<std::string> expected) {
  std::sort(expected.begin(), expected.end());
  for (int i = 0; i < 500; ++i) {
    auto got = addressesOf(port, name);
    std::sort(got.begin(), got.end());
    if (got == expected) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.setRecords({kv("1.web.ozy.local", "10.0.0.1"), kv("1.api.ozy.local", "10.0.0.9")}, 5);
  }
  std::unique_ptr<DnsServer> start(DnsServerConfig config = {}) {
    config.resyncBackoff = 10ms;
    config.resyncBackoffMax = 40ms;
    config.restartBackoff = {10ms, 40ms};
    auto server = DnsServer::start(config, store_);
    EXPECT_TRUE(server.ok()) << server.error();
    return server.ok() ? std::move(server).value() : nullptr;
  }
  ScriptedStore store_;
};

TEST_F(DnsServerTest, AnswersFromTheRecordsReadAtStartAndWatchesFromTheNextRevision) {
  auto server = start();
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_EQ(store_.watchedPrefix(), "/skydns/local/ozy/");
  EXPECT_TRUE(store_.waitForWatchFrom(6));
}

TEST_F(DnsServerTest, FollowsWatchEvents) {
  auto server = start();
  ASSERT_TRUE(server);
  store_.deliver({putEvent("2.web.ozy.local", encode(SkyRecord{"10.0.0.2", 80, 10, 10, 30})),
                  deleteEvent("1.web.ozy.local")},
                 7);
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.2"));

  // An unusable value is not served, and does not stop later events.
  store_.deliver({putEvent("2.web.ozy.local", "{\"host\": 1}"),
                  putEvent("3.web.ozy.local", encode(SkyRecord{"10.0.0.3", 80, 10, 10, 30}))},
                 8);
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.3"));
}

TEST_F(DnsServerTest, RereadsEverythingWhenTheWatchEndsRetryingWhileEtcdIsAway) {
  auto server = start();
  ASSERT_TRUE(server);
  ASSERT_TRUE(store_.waitForReads(1));
  store_.failReads(true);
  store_.setRecords({kv("2.web.ozy.local", "10.0.0.2")}, 9);
  store_.endWatch(StoreError{StoreError::kCompacted, "revision 6 has been compacted"});

  // Two failed re-reads at least (the first and a retry after back-off)...
  ASSERT_TRUE(store_.waitForReads(3));
  // ...meanwhile the last records read are still served.
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));

  store_.failReads(false);
  EXPECT_TRUE(eventuallyResolves(server->port(), "web.ozy.local.", {"10.0.0.2"}));
  EXPECT_TRUE(store_.waitForWatchFrom(10));
  // Records gone by the time of the re-read are gone from the answers.
  auto api = queryUdp(server->port(), "api.ozy.local.");
  ASSERT_TRUE(api);
  EXPECT_EQ(ldns_pkt_get_rcode(api.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsServerTest, AnswersOverTcpIncludingQueriesSentBackToBack) {
  auto server = start();
  ASSERT_TRUE(server);
  Socket socket(SOCK_STREAM);
  const sockaddr_in to = loopback(server->port());
  ASSERT_EQ(::connect(socket.fd(), reinterpret_cast<const sockaddr*>(&to), sizeof to), 0);

  std::vector<std::uint8_t> stream;
  for (std::uint16_t id : {1, 2}) {
    const auto wire =
        toWire(makeQuery(id == 1 ? "web.ozy.local." : "api.ozy.local.", LDNS_RR_TYPE_A, id).get());
    stream.push_back(static_cast<std::uint8_t>(wire.size() >> 8));
    stream.push_back(static_cast<std::uint8_t>(wire.size() & 0xff));
    stream.insert(stream.end(), wire.begin(), wire.end());
  }
  ASSERT_EQ(::send(socket.fd(), stream.data(), stream.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(stream.size()));

  std::vector<std::uint8_t> received;
  std::vector<Packet> responses;
  while (responses.size() < 2 && socket.readable(2s)) {
    std::uint8_t chunk[4096];
    const ssize_t n = ::recv(socket.fd(), chunk, sizeof chunk, 0);
    ASSERT_GT(n, 0);
    received.insert(received.end(), chunk, chunk + n);
    while (received.size() >= 2) {
      const std::size_t length = (std::size_t{received[0]} << 8) | received[1];
      if (received.size() < 2 + length) break;
      responses.push_back(parse({received.begin() + 2, received.begin() + 2 + length}));
      received.erase(received.begin(), received.begin() + 2 + length);
    }
  }
  ASSERT_EQ(responses.size(), 2u);
  ASSERT_TRUE(responses[0] && responses[1]);
  EXPECT_EQ(ldns_pkt_id(responses[0].get()), 1);
  EXPECT_THAT(answerAddresses(responses[0].get()), ElementsAre("10.0.0.1"));
  EXPECT_EQ(ldns_pkt_id(responses[1].get()), 2);
  EXPECT_THAT(answerAddresses(responses[1].get()), ElementsAre("10.0.0.9"));
}

TEST_F(DnsServerTest, IgnoresJunkAndKeepsServing) {
  auto server = start();
  ASSERT_TRUE(server);
  EXPECT_FALSE(exchangeUdp(server->port(), {0xde, 0xad, 0xbe, 0xef}, 300ms));
  EXPECT_THAT(addressesOf(server->port(), "1.web.ozy.local."), ElementsAre("10.0.0.1"));
}

TEST_F(DnsServerTest, StartFailsWhenEtcdCannotBeRead) {
  store_.failReads(true);
  auto server = DnsServer::start(DnsServerConfig{}, store_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.error(), HasSubstr("/skydns/local/ozy/"));
  EXPECT_THAT(server.error(), HasSubstr("etcd is away"));
}

TEST_F(DnsServerTest, StartRefusesABadDomainOrAddress) {
  DnsServerConfig badDomain;
  badDomain.domain = "Ozy.Local.";
  auto server = DnsServer::start(badDomain, store_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.error(), HasSubstr("Ozy.Local."));

  DnsServerConfig badAddress;
  badAddress.address = "localhost";
  server = DnsServer::start(badAddress, store_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.error(), HasSubstr("\"localhost\" is not an IPv4 or IPv6 address"));
}

TEST_F(DnsServerTest, StartFailsOnAPortInUse) {
  auto first = start();
  ASSERT_TRUE(first);
  DnsServerConfig config;
  config.port = first->port();
  auto second = DnsServer::start(config, store_);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.error(), HasSubstr("in use"));
}

TEST_F(DnsServerTest, StopIsPromptSilencesTheServerAndFreesThePort) {
  auto server = start();
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();
  const auto before = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  server->stop();  // a second stop is harmless
  EXPECT_FALSE(exchangeUdp(port, toWire(makeQuery("web.ozy.local.", LDNS_RR_TYPE_A).get()), 300ms));

  DnsServerConfig again;
  again.port = port;
  auto restarted = start(again);
  ASSERT_TRUE(restarted);
  EXPECT_EQ(restarted->port(), port);
  EXPECT_THAT(addressesOf(port, "web.ozy.local."), ElementsAre("10.0.0.1"));
}

// --- Rate limit ---

TEST_F(DnsServerTest, AFloodFromOneClientIsLimitedWhileAnotherKeepsItsAnswers) {
  DnsServerConfig config;
  config.rateLimit.queriesPerSecond = 1;
  config.rateLimit.burst = 5;
  auto server = start(config);
  ASSERT_TRUE(server);

  Socket flooder(SOCK_DGRAM);
  const sockaddr_in to = loopback(server->port());
  constexpr int kFlood = 40;
  for (int id = 1; id <= kFlood; ++id) {
    const auto wire = queryWire("web.ozy.local.", static_cast<std::uint16_t>(id));
    ASSERT_EQ(::sendto(flooder.fd(), wire.data(), wire.size(), 0,
                       reinterpret_cast<const sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(wire.size()));
  }
  int answered = 0;
  int truncated = 0;
  // The responses come at once; half a second of silence means no more.
  std::vector<std::uint8_t> buffer(65535);
  while (flooder.readable(500ms)) {
    const ssize_t got = ::recv(flooder.fd(), buffer.data(), buffer.size(), 0);
    ASSERT_GT(got, 0);
    auto response = parse({buffer.begin(), buffer.begin() + got});
    ASSERT_TRUE(response);
    if (ldns_pkt_tc(response.get())) {
      ++truncated;
      EXPECT_EQ(ldns_pkt_ancount(response.get()), 0);
    } else {
      ++answered;
      EXPECT_THAT(answerAddresses(response.get()), ElementsAre("10.0.0.1"));
    }
  }
  // The burst, and what refilled at one a second while the flood went on.
  EXPECT_GE(answered, 5);
  EXPECT_LE(answered, 7);
  // Every second limited query is answered truncated, the others not at all.
  EXPECT_NEAR(truncated, (kFlood - answered) / 2, 2);

  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local.", kOtherClient), ElementsAre("10.0.0.1"));
}

TEST_F(DnsServerTest, ALimitedClientIsToldToAskOverTcpAndIsAnsweredThere) {
  DnsServerConfig config;
  config.rateLimit.queriesPerSecond = 1;
  config.rateLimit.burst = 1;
  auto server = start(config);
  ASSERT_TRUE(server);

  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_FALSE(exchangeUdp(server->port(), queryWire("web.ozy.local."), 300ms));
  auto response = queryUdp(server->port(), "web.ozy.local.");
  ASSERT_TRUE(response);
  EXPECT_TRUE(ldns_pkt_tc(response.get()));
  EXPECT_EQ(ldns_pkt_ancount(response.get()), 0);
  // UDP and TCP count apart: forged UDP cannot cost a client its TCP answers.
  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
}

TEST_F(DnsServerTest, ATcpClientOverItsLimitIsDisconnected) {
  DnsServerConfig config;
  config.rateLimit.queriesPerSecond = 1;
  config.rateLimit.burst = 2;
  auto server = start(config);
  ASSERT_TRUE(server);

  Socket socket(SOCK_STREAM);
  ASSERT_TRUE(socket.connect(server->port()));
  std::vector<std::uint8_t> stream;
  for (std::uint16_t id = 1; id <= 3; ++id) {
    const auto query = framed(queryWire("web.ozy.local.", id));
    stream.insert(stream.end(), query.begin(), query.end());
  }
  ASSERT_EQ(::send(socket.fd(), stream.data(), stream.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(stream.size()));
  // Two responses, then the end of the stream.
  std::vector<std::uint8_t> received;
  while (socket.readable(2s)) {
    std::uint8_t chunk[4096];
    const ssize_t n = ::recv(socket.fd(), chunk, sizeof chunk, 0);
    if (n <= 0) break;
    received.insert(received.end(), chunk, chunk + n);
  }
  int responses = 0;
  for (std::size_t at = 0; at + 2 <= received.size(); ++responses) {
    at += 2 + ((std::size_t{received[at]} << 8) | received[at + 1]);
  }
  EXPECT_EQ(responses, 2);
  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local.", kOtherClient),
              ElementsAre("10.0.0.1"));
}

// --- Slow and silent TCP clients ---

TEST_F(DnsServerTest, SilentAndHalfSentTcpClientsDelayNobody) {
  auto server = start();
  ASSERT_TRUE(server);
  auto silent = silentConnection(server->port());
  auto half = silentConnection(server->port());
  const std::uint8_t halfAPrefix = 0;
  ASSERT_EQ(::send(half->fd(), &halfAPrefix, 1, MSG_NOSIGNAL), 1);

  const auto before = std::chrono::steady_clock::now();
  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
}

TEST_F(DnsServerTest, SilentConnectionsCloseAtTheIdleTimeoutAndHalfQueriesAtTheReadTimeout) {
  DnsServerConfig config;
  config.tcp.idleTimeout = 300ms;
  config.tcp.readTimeout = 200ms;
  auto server = start(config);
  ASSERT_TRUE(server);
  auto silent = silentConnection(server->port());
  auto half = silentConnection(server->port());
  const std::uint8_t halfAPrefix = 0;
  ASSERT_EQ(::send(half->fd(), &halfAPrefix, 1, MSG_NOSIGNAL), 1);
  EXPECT_TRUE(silent->closedByServer(2s));
  EXPECT_TRUE(half->closedByServer(2s));
}

TEST_F(DnsServerTest, AClientTricklingAQueryIsCutOffAtTheReadTimeout) {
  DnsServerConfig config;
  config.tcp.readTimeout = 300ms;
  auto server = start(config);
  ASSERT_TRUE(server);
  Socket socket(SOCK_STREAM);
  ASSERT_TRUE(socket.connect(server->port()));
  const auto stream = framed(queryWire("web.ozy.local."));
  // A byte every 50 ms: progress all along, but the query takes 1.5 s.
  std::size_t sent = 0;
  bool closed = false;
  while (sent < stream.size() && !closed) {
    ::send(socket.fd(), &stream[sent++], 1, MSG_NOSIGNAL);
    closed = socket.closedByServer(50ms);
  }
  EXPECT_TRUE(closed) << "the query went through whole, a byte at a time";
  EXPECT_LT(sent, stream.size());
}

TEST_F(DnsServerTest, ManySilentConnectionsFromOneClientDoNotLockOthersOut) {
  auto server = start();  // at most 64 connections, 8 per client
  ASSERT_TRUE(server);
  std::vector<std::unique_ptr<Socket>> hogs;
  for (int i = 0; i < 70; ++i) hogs.push_back(silentConnection(server->port()));

  // Every connection past the client's eight is closed at once.
  std::vector<bool> closed(hogs.size(), false);
  std::size_t closedCount = 0;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (closedCount < 62 && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < hogs.size(); ++i) {
      if (!closed[i] && hogs[i]->closedByServer(0ms)) {
        closed[i] = true;
        ++closedCount;
      }
    }
    if (closedCount < 62) hogs.front()->readable(10ms);  // a pause that cannot miss anything
  }
  EXPECT_EQ(closedCount, 62u);
  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local.", kOtherClient),
              ElementsAre("10.0.0.1"));
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local.", kOtherClient), ElementsAre("10.0.0.1"));
}

TEST_F(DnsServerTest, WhenEveryConnectionIsTakenTheOneQuietTheLongestMakesRoom) {
  DnsServerConfig config;
  config.tcp.maxConnections = 4;
  auto server = start(config);
  ASSERT_TRUE(server);
  std::vector<std::unique_ptr<Socket>> hogs;
  for (int i = 0; i < 4; ++i) hogs.push_back(silentConnection(server->port()));

  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local.", kOtherClient),
              ElementsAre("10.0.0.1"));
  EXPECT_TRUE(hogs.front()->closedByServer(2s));
  EXPECT_FALSE(hogs.back()->closedByServer(0ms));
}

TEST_F(DnsServerTest, AClientThatNeverReadsItsAnswersDelaysNobodyAndIsCutOffAtTheWriteTimeout) {
  std::vector<KeyValue> records;
  for (int i = 1; i <= 100; ++i) {
    records.push_back(kv(std::to_string(i) + ".big.ozy.local", "10.0.1." + std::to_string(i)));
  }
  records.push_back(kv("1.web.ozy.local", "10.0.0.1"));
  store_.setRecords(records, 5);
  DnsServerConfig config;
  config.rateLimit.queriesPerSecond = 0;  // it is not its rate that is in question
  config.tcp.writeTimeout = 300ms;
  auto server = start(config);
  ASSERT_TRUE(server);

  Socket reader(SOCK_STREAM);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(reader.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  ASSERT_TRUE(reader.connect(server->port()));
  // Queries for 1.7 kB answers, far more of them than the socket buffers
  // hold: sent as long as the server takes them, never read.
  std::vector<std::uint8_t> stream;
  for (int i = 0; i < 100; ++i) {
    const auto query = framed(queryWire("big.ozy.local."));
    stream.insert(stream.end(), query.begin(), query.end());
  }
  for (int i = 0; i < 50; ++i) {
    if (::send(reader.fd(), stream.data(), stream.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) break;
  }

  const auto before = std::chrono::steady_clock::now();
  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);

  // Past the write timeout the server closes the connection, with answers
  // and queries still unsent and unread: the client sees it reset.
  EXPECT_TRUE(reader.hungUp(2s));
}

// --- Listeners that fail ---

TEST_F(DnsServerTest, AUdpListenerThatFailsIsStartedAgain) {
  std::atomic<bool> failed = false;
  std::atomic<int> roundsAfter = 0;
  DnsServerConfig config;
  config.onServingRound = [&](Transport transport) {
    if (transport != Transport::kUdp) return;
    if (!failed.exchange(true)) throw std::runtime_error("injected failure");
    ++roundsAfter;
  };
  auto server = start(config);
  ASSERT_TRUE(server);
  EXPECT_TRUE(eventuallyResolves(server->port(), "web.ozy.local.", {"10.0.0.1"}));
  EXPECT_TRUE(failed);
  EXPECT_GT(roundsAfter, 0);
}

TEST_F(DnsServerTest, ATcpListenerThatKeepsFailingIsStartedAgainWhileUdpServesOn) {
  std::atomic<int> failuresLeft = 3;
  DnsServerConfig config;
  config.onServingRound = [&](Transport transport) {
    if (transport == Transport::kTcp && failuresLeft.fetch_sub(1) > 0) {
      throw std::runtime_error("injected failure");
    }
  };
  auto server = start(config);
  ASSERT_TRUE(server);
  EXPECT_THAT(addressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  // Connections wait in the backlog while the listener is down.
  EXPECT_THAT(tcpAddressesOf(server->port(), "web.ozy.local."), ElementsAre("10.0.0.1"));
  EXPECT_LE(failuresLeft, 0);
}

}  // namespace
}  // namespace ozy::dns
