// The API's admission rules as a table: Host, Origin, token and body type,
// each refused with its own status while the rest of the request is right.
#include "http/request_policy.h"

#include <gtest/gtest.h>

namespace ozy::http {
namespace {

constexpr const char* kToken = "the-token";

RequestPolicy policy(bool anyAddress = false) {
  RequestPolicyConfig config;
  config.token = kToken;
  config.hosts = {"127.0.0.1", "localhost", "node-1", "api.example"};
  config.anyAddress = anyAddress;
  config.origins = {"https://ui.example"};
  config.publicPaths = {"/docs/errors.md"};
  return RequestPolicy(config);
}

// A request every rule admits, to be spoilt one field at a time.
Request goodRequest() {
  Request request;
  request.method = "POST";
  request.path = "/v1/jobs";
  request.headers = {{"Host", "127.0.0.1:7700"},
                     {"Authorization", std::string("Bearer ") + kToken},
                     {"Content-Type", "application/yaml"},
                     {"Content-Length", "12"}};
  return request;
}

Request with(std::string name, std::string value) {
  Request request = goodRequest();
  request.headers.set(std::move(name), std::move(value));
  return request;
}

int statusOf(const RequestPolicy& p, const Request& request) {
  const auto refusal = p.admit(request);
  return refusal ? refusal->status : 0;
}

TEST(RequestPolicy, AdmitsARequestThatFollowsEveryRule) {
  EXPECT_EQ(statusOf(policy(), goodRequest()), 0);
}

TEST(RequestPolicy, RefusesEachBrowserShapeWithItsOwnStatus) {
  struct Case {
    const char* name;
    const char* value;
    int status;
  };
  const Case cases[] = {
      {"Host", "evil.example", 421},  // DNS rebinding: the page's own name
      {"Host", "evil.example:7700", 421},
      {"Host", "10.1.2.3:7700", 421},  // an address the listener does not have
      {"Host", "localhost:7700", 0},
      {"Host", "LOCALHOST.", 0},
      {"Host", "[::1]:7700", 421},  // not listed here
      {"Host", "api.example", 0},
      {"Host", "127.0.0.1:x", 400},
      {"Origin", "http://evil.example", 403},
      {"Origin", "null", 403},
      {"Origin", "https://ui.example", 0},
      {"Authorization", "Bearer wrong", 401},
      {"Content-Type", "text/plain", 415},
      {"Content-Type", "application/x-www-form-urlencoded", 415},
      {"Content-Type", "multipart/form-data; boundary=x", 415},
      {"Content-Type", "application/json; charset=utf-8", 0},
      {"Content-Type", "Application/YAML", 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(statusOf(policy(), with(c.name, c.value)), c.status) << c.name << ": " << c.value;
  }
}

TEST(RequestPolicy, AWildcardListenerAnswersForAnyAddressButNoUnlistedName) {
  EXPECT_EQ(statusOf(policy(true), with("Host", "10.1.2.3:7700")), 0);
  EXPECT_EQ(statusOf(policy(true), with("Host", "[fd00::1]:7700")), 0);
  EXPECT_EQ(statusOf(policy(true), with("Host", "evil.example")), 421);
}

TEST(RequestPolicy, AnswersForConfiguredIpv6AddressesInAnySpelling) {
  RequestPolicyConfig config;
  config.token = kToken;
  config.hosts = {"::1", "fd00::5"};
  const RequestPolicy p(config);
  EXPECT_EQ(statusOf(p, with("Host", "[::1]:7700")), 0);
  EXPECT_EQ(statusOf(p, with("Host", "[0:0::1]")), 0);
  EXPECT_EQ(statusOf(p, with("Host", "[fd00:0::5]:80")), 0);
  EXPECT_EQ(statusOf(p, with("Host", "[fd00::6]:80")), 421);
  EXPECT_EQ(statusOf(p, with("Host", "127.0.0.1")), 421);
}

TEST(RequestPolicy, RefusesTwoHostFields) {
  Request request = goodRequest();
  request.headers.add("Host", "evil.example");
  EXPECT_EQ(statusOf(policy(), request), 400);
}

TEST(RequestPolicy, ABodyWithoutAContentTypeIsRefusedButNoBodyNeedsNone) {
  Request body = goodRequest();
  body.headers = {{"Host", "127.0.0.1"}, {"Authorization", std::string("Bearer ") + kToken},
                  {"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(statusOf(policy(), body), 415);
  Request get = goodRequest();
  get.method = "GET";
  get.headers = {{"Host", "127.0.0.1"}, {"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(statusOf(policy(), get), 0);
}

TEST(RequestPolicy, PublicPathsNeedNoTokenButStillTheRightHost) {
  Request docs;
  docs.method = "GET";
  docs.path = "/docs/errors.md";
  docs.headers = {{"Host", "127.0.0.1"}};
  EXPECT_EQ(statusOf(policy(), docs), 0);
  docs.headers.set("Host", "evil.example");
  EXPECT_EQ(statusOf(policy(), docs), 421);
  docs.method = "POST";
  docs.headers.set("Host", "127.0.0.1");
  EXPECT_EQ(statusOf(policy(), docs), 401);
}

TEST(RequestPolicy, ReadsTheHostOutOfAHostField) {
  EXPECT_EQ(hostOfHeader("Node-1:7700"), "node-1");
  EXPECT_EQ(hostOfHeader("[::1]:80"), "::1");
  EXPECT_EQ(hostOfHeader("[::1]"), "::1");
  EXPECT_EQ(hostOfHeader("example."), "example");
  EXPECT_FALSE(hostOfHeader(""));
  EXPECT_FALSE(hostOfHeader(":80"));
  EXPECT_FALSE(hostOfHeader("[::1"));
  EXPECT_FALSE(hostOfHeader("a:b"));
  EXPECT_FALSE(hostOfHeader("a:"));
}

}  // namespace
}  // namespace ozy::http
