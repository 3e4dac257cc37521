// EtcdStore's connections: unreachable and silent endpoints fail within the
// deadline, calls fail over to a later endpoint, and TLS with client
// certificates works (and fails cleanly without one).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "etcd_test_support.h"
#include "support/temp_dir.h"
#include "support/test_certs.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using testing_support::EtcdProcessOptions;

// A loopback TCP socket that is bound, and listening if asked, but never
// accepts: connecting to it either is refused (not listening) or completes in
// the kernel and then hears nothing (listening), like a hung server.
class DeadPort {
 public:
  explicit DeadPort(bool listening) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    if (listening) ::listen(fd_, 16);
    port_ = ntohs(addr.sin_port);
  }
  ~DeadPort() { ::close(fd_); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::unique_ptr<EtcdStore> storeFor(std::vector<std::string> endpoints,
                                    std::chrono::milliseconds timeout = 1s) {
  EtcdConfig config;
  config.endpoints = std::move(endpoints);
  config.timeout = timeout;
  auto store = EtcdStore::create(std::move(config));
  EXPECT_TRUE(isOk(store));
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(EtcdConnectionTest, UnreachableEndpointFailsPromptlyAndNamesTheEndpoint) {
  DeadPort closed(/*listening=*/false);
  auto store = storeFor({closed.endpoint()});
  ASSERT_NE(store, nullptr);
  const auto begin = std::chrono::steady_clock::now();
  auto got = store->get("/x");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.error().code == StoreError::kUnavailable ||
              got.error().code == StoreError::kDeadlineExceeded)
      << got.error();
  EXPECT_NE(got.error().message.find(closed.endpoint()), std::string::npos) << got.error();
}

TEST(EtcdConnectionTest, SilentEndpointFailsWithinTheDeadlineInsteadOfHanging) {
  DeadPort silent(/*listening=*/true);
  auto store = storeFor({silent.endpoint()});
  ASSERT_NE(store, nullptr);
  for (int call = 0; call < 2; ++call) {  // the second finds the channel mid-connect
    const auto begin = std::chrono::steady_clock::now();
    auto written = store->put("/x", "v");
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
    ASSERT_FALSE(written.ok());
    EXPECT_TRUE(written.error().code == StoreError::kDeadlineExceeded ||
                written.error().code == StoreError::kUnavailable)
        << written.error();
  }
}

class EtcdFailoverTest : public EtcdTest {};

TEST_F(EtcdFailoverTest, CallsFailOverFromADeadEndpointToALiveOne) {
  DeadPort closed(/*listening=*/false);
  auto store = storeFor({closed.endpoint(), etcd_->endpoint()});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(isOk(store->put("/f/a", "1")));
  auto got = store->get("/f/a");
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got->kvs.size(), 1u);

  WatchLog log;
  auto watch = store->watch("/f/", 1, log.onEvents(), log.onError());
  EXPECT_TRUE(log.waitForEvents(1));
}

TEST_F(EtcdFailoverTest, WhenEveryEndpointFailsTheErrorNamesEachOfThem) {
  DeadPort first(false);
  DeadPort second(false);
  auto store = storeFor({first.endpoint(), second.endpoint()});
  ASSERT_NE(store, nullptr);
  auto got = store->get("/x");
  ASSERT_TRUE(failsWith(got, StoreError::kUnavailable));
  EXPECT_NE(got.error().message.find(first.endpoint()), std::string::npos) << got.error();
  EXPECT_NE(got.error().message.find(second.endpoint()), std::string::npos) << got.error();
}

// etcd serving clients over TLS and requiring a client certificate.
class EtcdTlsTest : public EtcdTest {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto made = testing_support::makeTestCerts(dir_.path());
    ASSERT_TRUE(made.ok()) << made.error();
    certs_ = std::move(made).value();
    startEtcd(EtcdProcessOptions{
        .extraArgs = {"--cert-file=" + certs_.serverCert, "--key-file=" + certs_.serverKey,
                      "--trusted-ca-file=" + certs_.caCert, "--client-cert-auth"},
        .https = true});
  }
  Result<std::unique_ptr<EtcdStore>, StoreError> tlsStore(bool withClientCert, bool withCa = true) {
    EtcdConfig config;
    config.endpoints = {etcd_->endpoint()};
    config.timeout = 2s;
    if (withCa) config.caFile = certs_.caCert;
    if (withClientCert) {
      config.certFile = certs_.clientCert;
      config.keyFile = certs_.clientKey;
    }
    return EtcdStore::create(config);
  }

  testing_support::TempDir dir_;
  testing_support::TestCerts certs_;
};

TEST_F(EtcdTlsTest, ConnectsWithAClientCertificate) {
  ASSERT_EQ(etcd_->endpoint().rfind("https://", 0), 0u);
  auto store = tlsStore(/*withClientCert=*/true);
  ASSERT_TRUE(isOk(store));
  ASSERT_TRUE(isOk((*store)->put("/tls/a", "secret")));
  auto got = (*store)->get("/tls/a");
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got->kvs.front().value, "secret");

  WatchLog log;
  auto watch = (*store)->watch("/tls/", 1, log.onEvents(), log.onError());
  EXPECT_TRUE(log.waitForEvents(1));
}

TEST_F(EtcdTlsTest, WithoutAClientCertificateFailsCleanly) {
  auto store = tlsStore(/*withClientCert=*/false);
  ASSERT_TRUE(isOk(store));
  const auto begin = std::chrono::steady_clock::now();
  auto written = (*store)->put("/tls/b", "v");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
  EXPECT_TRUE(failsWith(written, StoreError::kUnavailable));
}

TEST_F(EtcdTlsTest, ServerSignedByAnUnknownCaIsRefused) {
  auto store = tlsStore(/*withClientCert=*/true, /*withCa=*/false);
  ASSERT_TRUE(isOk(store));
  EXPECT_TRUE(failsWith((*store)->get("/tls/a"), StoreError::kUnavailable));
}

TEST_F(EtcdTlsTest, PlainHttpClientIsRefused) {
  auto store = storeFor({"http://" + etcd_->endpoint().substr(8)}, 2s);
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->get("/tls/a").ok());
}

}  // namespace
}  // namespace ozy
