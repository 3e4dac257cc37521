// The etcd client's pure parts, without an etcd: key ranges for prefixes,
// endpoint URLs, configuration errors and the mapping of etcd's errors.
#include <gtest/gtest.h>

#include <functional>

#include <string>
#include <vector>

#include "store/etcd_convert.h"
#include "store/etcd_endpoints.h"
#include "store/etcd_errors.h"
#include "store/etcd_store.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;

TEST(EtcdPrefixRangeTest, EndIsThePrefixWithItsLastByteIncremented) {
  EXPECT_EQ(prefixRange("/jobs/").key, "/jobs/");
  EXPECT_EQ(prefixRange("/jobs/").rangeEnd, "/jobs0");
  EXPECT_EQ(prefixRange("a").rangeEnd, "b");
}

TEST(EtcdPrefixRangeTest, TrailingFfBytesAreDroppedBeforeIncrementing) {
  EXPECT_EQ(prefixRange("a\xff\xff").rangeEnd, "b");
  EXPECT_EQ(prefixRange(std::string("\x01\xff", 2)).rangeEnd, "\x02");
}

TEST(EtcdPrefixRangeTest, PrefixOfOnlyFfBytesRunsToTheLastKey) {
  EXPECT_EQ(prefixRange("\xff\xff").rangeEnd, std::string(1, '\0'));
}

TEST(EtcdPrefixRangeTest, EmptyPrefixMeansEveryKey) {
  const KeyRange all = prefixRange("");
  EXPECT_EQ(all.key, std::string(1, '\0'));
  EXPECT_EQ(all.rangeEnd, std::string(1, '\0'));
}

struct UrlCase {
  std::string url;
  bool valid;
  std::string target;
  bool tls;
};

TEST(EtcdEndpointUrlTest, AcceptsHttpAndHttpsWithHostAndPort) {
  const std::vector<UrlCase> cases = {
      {"http://127.0.0.1:2379", true, "127.0.0.1:2379", false},
      {"https://etcd.example:2379/", true, "etcd.example:2379", true},
      {"https://[::1]:2379", true, "[::1]:2379", true},
      {"127.0.0.1:2379", false, "", false},
      {"unix:///run/etcd.sock", false, "", false},
      {"http://127.0.0.1", false, "", false},
      {"http://[::1]", false, "", false},
      {"http://:2379", false, "", false},
      {"http://host:0", false, "", false},
      {"http://host:65536", false, "", false},
      {"http://host:23x9", false, "", false},
      {"http://host:2379/v3", false, "", false},
  };
  for (const UrlCase& c : cases) {
    auto parsed = parseEndpointUrl(c.url);
    EXPECT_EQ(parsed.ok(), c.valid) << c.url;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, StoreError::kInvalidArgument);
      EXPECT_NE(parsed.error().message.find(c.url), std::string::npos) << parsed.error().message;
      continue;
    }
    EXPECT_EQ(parsed->target, c.target) << c.url;
    EXPECT_EQ(parsed->tls, c.tls) << c.url;
  }
}

StoreError::Code createError(EtcdConfig config) {
  auto store = EtcdStore::create(std::move(config));
  return store.ok() ? StoreError::kOther : store.error().code;
}

// A config with these endpoints, changed by `change`. (Designated
// initializers would read better, but g++ 12 warns on every member left
// out of them.)
EtcdConfig configWith(std::vector<std::string> endpoints,
                      const std::function<void(EtcdConfig&)>& change = {}) {
  EtcdConfig config;
  config.endpoints = std::move(endpoints);
  if (change) change(config);
  return config;
}

TEST(EtcdStoreConfigTest, RejectsConfigurationsThatCannotWork) {
  EXPECT_EQ(createError({}), StoreError::kInvalidArgument);  // no endpoints
  EXPECT_EQ(createError(configWith({"etcd:2379"})), StoreError::kInvalidArgument);
  EXPECT_EQ(createError(configWith({"http://a:1"}, [](auto& c) { c.timeout = 0ms; })),
            StoreError::kInvalidArgument);
  EXPECT_EQ(createError(configWith({"http://a:1"}, [](auto& c) { c.pageSize = 0; })),
            StoreError::kInvalidArgument);
  // TLS files with only http:// endpoints are almost surely a mistake.
  EXPECT_EQ(createError(configWith({"http://a:1"}, [](auto& c) { c.caFile = "/etc/hostname"; })),
            StoreError::kInvalidArgument);
  // A client certificate without its key (or the reverse).
  EXPECT_EQ(createError(configWith({"https://a:1"}, [](auto& c) { c.certFile = "/etc/hostname"; })),
            StoreError::kInvalidArgument);
}

TEST(EtcdStoreConfigTest, UnreadableTlsFileIsNamedInTheError) {
  auto store = EtcdStore::create(configWith({"https://a:1"}, [](auto& c) { c.caFile = "/nonexistent/ca.pem"; }));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, StoreError::kInvalidArgument);
  EXPECT_NE(store.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(EtcdStoreConfigTest, ValidConfigurationDoesNotContactEtcd) {
  auto store = EtcdStore::create(configWith({"http://127.0.0.1:1", "http://127.0.0.1:2"}));
  EXPECT_TRUE(store.ok());
}

struct StatusCase {
  grpc::StatusCode grpcCode;
  std::string message;
  StoreError::Code expected;
};

TEST(EtcdErrorsTest, MapsEtcdsErrorsToStoreErrorCodes) {
  using grpc::StatusCode;
  const std::vector<StatusCase> cases = {
      {StatusCode::UNAVAILABLE, "failed to connect to all addresses", StoreError::kUnavailable},
      {StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded", StoreError::kDeadlineExceeded},
      {StatusCode::OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted",
       StoreError::kCompacted},
      {StatusCode::OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision",
       StoreError::kInvalidArgument},
      {StatusCode::INVALID_ARGUMENT, "etcdserver: too many operations in txn request",
       StoreError::kTxnTooLarge},
      {StatusCode::INVALID_ARGUMENT, "etcdserver: request is too large", StoreError::kTxnTooLarge},
      {StatusCode::RESOURCE_EXHAUSTED, "grpc: received message larger than max (5 vs. 4)",
       StoreError::kTxnTooLarge},
      {StatusCode::INVALID_ARGUMENT, "etcdserver: key is not provided",
       StoreError::kInvalidArgument},
      {StatusCode::NOT_FOUND, "etcdserver: requested lease not found", StoreError::kNotFound},
      {StatusCode::PERMISSION_DENIED, "etcdserver: permission denied", StoreError::kOther},
  };
  for (const StatusCase& c : cases) {
    const StoreError error =
        storeErrorFromStatus(grpc::Status(c.grpcCode, c.message), "http://e:2379", "put 'k'", 5s);
    EXPECT_EQ(error.code, c.expected) << c.message;
    EXPECT_NE(error.message.find("http://e:2379"), std::string::npos) << error.message;
    EXPECT_NE(error.message.find(c.message), std::string::npos) << error.message;
  }
}

TEST(EtcdErrorsTest, CombinedFailureKeepsTheLastCodeAndEveryMessage) {
  const StoreError combined = combineFailures(
      {{StoreError::kUnavailable, "first down"}, {StoreError::kDeadlineExceeded, "second slow"}},
      3);
  EXPECT_EQ(combined.code, StoreError::kDeadlineExceeded);
  EXPECT_NE(combined.message.find("2 of 3"), std::string::npos) << combined.message;
  EXPECT_NE(combined.message.find("first down"), std::string::npos);
  EXPECT_NE(combined.message.find("second slow"), std::string::npos);
}

TEST(EtcdErrorsTest, QuotedKeysArePrintableAndShort) {
  EXPECT_EQ(quoteKey("/jobs/web"), "'/jobs/web'");
  EXPECT_EQ(quoteKey(std::string("a\0\n'", 4)), "'a\\x00\\x0a\\''");
  const std::string quoted = quoteKey(std::string(500, 'k'));
  EXPECT_LT(quoted.size(), 200u);
  EXPECT_NE(quoted.find("380 more bytes"), std::string::npos) << quoted;
}

TEST(EtcdErrorsTest, LeasesAreNamedInHexLikeEtcdctlDoes) {
  EXPECT_EQ(leaseName(0x694d7c7e5b0b8d04), "lease 694d7c7e5b0b8d04");
}

TEST(EtcdTxnConversionTest, BuildsComparesAndOpsInOrder) {
  Txn txn;
  txn.compares = {Compare::modRevision("/a", Compare::kLess, 7),
                  Compare::valueIs("/b", Compare::kNotEqual, "x")};
  txn.success = {TxnOp::put("/a", "1", 42), TxnOp::getPrefix("/p/")};
  txn.failure = {TxnOp::removePrefix("/q/")};
  auto request = toProto(txn);
  ASSERT_TRUE(request.ok());
  ASSERT_EQ(request->compare_size(), 2);
  EXPECT_EQ(request->compare(0).target(), etcdserverpb::Compare::MOD);
  EXPECT_EQ(request->compare(0).result(), etcdserverpb::Compare::LESS);
  EXPECT_EQ(request->compare(0).mod_revision(), 7);
  EXPECT_EQ(request->compare(1).value(), "x");
  EXPECT_EQ(request->compare(1).result(), etcdserverpb::Compare::NOT_EQUAL);
  EXPECT_EQ(request->success(0).request_put().lease(), 42);
  EXPECT_EQ(request->success(1).request_range().range_end(), "/p0");
  EXPECT_EQ(request->failure(0).request_delete_range().range_end(), "/q0");
}

TEST(EtcdTxnConversionTest, PrefixCompareCoversTheWholePrefixRange) {
  Txn txn;
  txn.compares = {Compare::noKeyUnder("/p/"), Compare::createRevision("/p/", Compare::kEqual, 0)};
  auto request = toProto(txn);
  ASSERT_TRUE(request.ok());
  ASSERT_EQ(request->compare_size(), 2);
  EXPECT_EQ(request->compare(0).key(), "/p/");
  EXPECT_EQ(request->compare(0).range_end(), "/p0");
  EXPECT_EQ(request->compare(0).target(), etcdserverpb::Compare::CREATE);
  EXPECT_EQ(request->compare(0).create_revision(), 0);
  EXPECT_EQ(request->compare(1).range_end(), "") << "a plain compare names one key";
}

}  // namespace
}  // namespace ozy
