// The request rules as tables: which requests the ingress accepts and for
// which host, which it refuses and as what problem, how a request and its
// response are rewritten on the way through, and whose X-Forwarded-* fields
// are believed. Pure: Beast headers in, Beast headers out.
#include "ingress/request_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <string>
#include <utility>
#include <vector>

#include "http/http_problems.h"
#include "ingress/ingress_problems.h"

namespace ozy::ingress {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string toStd(boost::beast::string_view text) {
  return std::string(text.data(), text.size());
}

bhttp::request_header<> request(std::string_view method, std::string_view target,
                                const Fields& fields, unsigned version = 11) {
  bhttp::request_header<> header;
  header.method_string(boost::beast::string_view(method.data(), method.size()));
  header.target(boost::beast::string_view(target.data(), target.size()));
  header.version(version);
  for (const auto& [name, value] : fields) header.insert(name, value);
  return header;
}

template <bool isRequest>
std::vector<std::string> valuesOf(const bhttp::header<isRequest>& header, std::string_view name) {
  std::vector<std::string> values;
  auto [begin, end] = header.equal_range(boost::beast::string_view(name.data(), name.size()));
  for (auto it = begin; it != end; ++it) values.push_back(toStd(it->value()));
  return values;
}

template <bool isRequest>
std::vector<std::string> namesOf(const bhttp::header<isRequest>& header) {
  std::vector<std::string> names;
  for (const auto& field : header) names.push_back(toStd(field.name_string()));
  return names;
}

// ---- checkRequest: what is accepted, and for which host ----

TEST(CheckRequest, AcceptsARequestForTheHostItNames) {
  // clang-format off
  const struct {
    const char* name;
    const char* method;
    const char* target;
    Fields fields;
    const char* host;
  } cases[] = {
      {"origin-form", "GET", "/path?q=1", {{"Host", "shop.example"}}, "shop.example"},
      {"Host lowercased, its port dropped", "GET", "/", {{"Host", "Shop.EXAMPLE:8080"}}, "shop.example"},
      {"Host with a trailing dot", "GET", "/", {{"Host", "shop.example."}}, "shop.example"},
      {"IPv6 literal", "GET", "/", {{"Host", "[fd00::1]:80"}}, "fd00::1"},
      {"absolute-form agreeing with Host", "GET", "http://shop.example/a", {{"Host", "shop.example"}}, "shop.example"},
      {"absolute-form, case and port aside", "GET", "HTTP://Shop.Example:80/a", {{"Host", "shop.example:80"}},
       "shop.example"},
      {"absolute-form https, no path", "GET", "https://shop.example", {{"Host", "shop.example"}}, "shop.example"},
      {"asterisk-form with OPTIONS", "OPTIONS", "*", {{"Host", "shop.example"}}, "shop.example"},
      {"a body by Content-Length", "POST", "/", {{"Host", "a"}, {"Content-Length", "12"}}, "a"},
      {"a chunked body", "POST", "/", {{"Host", "a"}, {"Transfer-Encoding", "chunked"}}, "a"},
      {"chunked in another case", "POST", "/", {{"Host", "a"}, {"Transfer-Encoding", "Chunked"}}, "a"},
      {"an unknown method", "PURGE", "/", {{"Host", "a"}}, "a"},
  };
  // clang-format on
  for (const auto& c : cases) {
    const auto host = checkRequest(request(c.method, c.target, c.fields));
    ASSERT_TRUE(host.ok()) << c.name << ": refused: " << host.error().detail;
    EXPECT_EQ(*host, c.host) << c.name;
  }
}

// Each of these is how a front proxy and a backend are made to disagree on
// where a request ends or whom it is for (request smuggling), or asks the
// ingress to be what it is not (a forward proxy).
TEST(CheckRequest, RefusesSmugglingShapesAndForwardProxyForms) {
  const ProblemType& bad = problems::kBadRequest;
  const ProblemType& proxy = problems::kNotAForwardProxy;
  // clang-format off
  const struct {
    const char* name;
    const char* method;
    const char* target;
    Fields fields;
    const ProblemType& type;
  } cases[] = {
      {"Content-Length with Transfer-Encoding", "POST", "/",
       {{"Host", "a"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, bad},
      {"Transfer-Encoding with Content-Length", "POST", "/",
       {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}, bad},
      {"two Content-Lengths, equal", "POST", "/", {{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "5"}}, bad},
      {"two Content-Lengths, differing", "POST", "/",
       {{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "6"}}, bad},
      {"a Content-Length list", "POST", "/", {{"Host", "a"}, {"Content-Length", "5, 5"}}, bad},
      {"a signed Content-Length", "POST", "/", {{"Host", "a"}, {"Content-Length", "+5"}}, bad},
      {"a hexadecimal Content-Length", "POST", "/", {{"Host", "a"}, {"Content-Length", "0x5"}}, bad},
      {"an empty Content-Length", "POST", "/", {{"Host", "a"}, {"Content-Length", ""}}, bad},
      {"a coding other than chunked", "POST", "/", {{"Host", "a"}, {"Transfer-Encoding", "gzip"}}, bad},
      {"chunked after another coding", "POST", "/", {{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}}, bad},
      {"chunked twice in two fields", "POST", "/",
       {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, bad},
      {"a look-alike of chunked", "POST", "/", {{"Host", "a"}, {"Transfer-Encoding", "xchunked"}}, bad},
      {"a control character in the target", "GET", "/a\x01" "b", {{"Host", "a"}}, bad},
      {"a tab in the target", "GET", "/a\tb", {{"Host", "a"}}, bad},
      {"a space in the target", "GET", "/a b", {{"Host", "a"}}, bad},
      {"DEL in the target", "GET", "/a\x7f", {{"Host", "a"}}, bad},
      {"no Host", "GET", "/", {}, bad},
      {"an empty Host", "GET", "/", {{"Host", ""}}, bad},
      {"a Host that is not a name", "GET", "/", {{"Host", "a:b"}}, bad},
      {"a second, differing Host", "GET", "/", {{"Host", "a"}, {"Host", "b"}}, bad},
      {"a second, equal Host", "GET", "/", {{"Host", "a"}, {"Host", "a"}}, bad},
      {"absolute-form differing from Host", "GET", "http://b/", {{"Host", "a"}}, bad},
      {"absolute-form with user info", "GET", "http://evil@a/", {{"Host", "a"}}, bad},
      {"CONNECT", "CONNECT", "a:443", {{"Host", "a:443"}}, proxy},
      {"authority-form without CONNECT", "GET", "a:443", {{"Host", "a"}}, proxy},
      {"asterisk-form without OPTIONS", "GET", "*", {{"Host", "a"}}, proxy},
      {"a scheme other than http", "GET", "ftp://a/file", {{"Host", "a"}}, proxy},
  };
  // clang-format on
  for (const auto& c : cases) {
    const auto host = checkRequest(request(c.method, c.target, c.fields));
    ASSERT_FALSE(host.ok()) << c.name << ": accepted for host " << *host;
    EXPECT_EQ(host.error().type.slug, c.type.slug) << c.name << ": " << host.error().detail;
    EXPECT_FALSE(host.error().detail.empty()) << c.name;
  }
}

// ---- toUpstream: the request as a backend sees it ----

const Client kUntrusted{"192.0.2.7", false};
const Client kTrusted{"10.0.0.9", true};

TEST(ToUpstream, StripsHopByHopFields) {
  const char* hopByHop[] = {"Connection",
                            "Keep-Alive",
                            "TE",
                            "Trailer",
                            "Transfer-Encoding",
                            "Upgrade",
                            "Proxy-Authorization",
                            "Proxy-Connection",
                            "Proxy-Whatever",
                            "Expect"};
  for (const char* name : hopByHop) {
    auto header = request("GET", "/", {{"Host", "a"}, {name, "x"}, {"Accept", "text/html"}});
    toUpstream(header, kUntrusted, false);
    EXPECT_THAT(valuesOf(header, name), IsEmpty()) << name;
    EXPECT_THAT(valuesOf(header, "Accept"), ElementsAre("text/html")) << name;
  }
}

TEST(ToUpstream, StripsTheFieldsConnectionNamesButNeverHost) {
  auto header = request("GET", "/",
                        {{"Host", "shop.example"},
                         {"Connection", "keep-alive, X-Secret"},
                         {"connection", "x-other , HOST"},
                         {"X-Secret", "1"},
                         {"X-Other", "2"},
                         {"X-Kept", "3"}});
  toUpstream(header, kUntrusted, false);
  EXPECT_THAT(valuesOf(header, "X-Secret"), IsEmpty());
  EXPECT_THAT(valuesOf(header, "X-Other"), IsEmpty());
  EXPECT_THAT(valuesOf(header, "Connection"), IsEmpty());
  EXPECT_THAT(valuesOf(header, "X-Kept"), ElementsAre("3"));
  EXPECT_THAT(valuesOf(header, "Host"), ElementsAre("shop.example"))
      << "the route is the ingress's own";
}

// A backend is an origin server: it expects a path, and may refuse a URL.
TEST(ToUpstream, AnAbsoluteFormTargetIsSentInOriginForm) {
  // clang-format off
  const struct {
    const char* target;
    const char* sent;
  } cases[] = {
      {"http://shop.example/a/b?x=1", "/a/b?x=1"},
      {"HTTPS://shop.example:443/a", "/a"},
      {"http://shop.example", "/"},
      {"http://shop.example?x=1", "/?x=1"},
      {"/already/a/path?x", "/already/a/path?x"},
      {"*", "*"},
  };
  // clang-format on
  for (const auto& c : cases) {
    auto header = request(std::string_view(c.target) == "*" ? "OPTIONS" : "GET", c.target,
                          {{"Host", "shop.example"}});
    toUpstream(header, kUntrusted, false);
    EXPECT_EQ(toStd(header.target()), c.sent) << c.target;
  }
}

TEST(ToUpstream, SetsXForwardedForByWhoTheClientIs) {
  // clang-format off
  const struct {
    const char* name;
    Client client;
    Fields given;
    const char* forwardedFor;
  } cases[] = {
      {"untrusted, none given", kUntrusted, {}, "192.0.2.7"},
      {"untrusted, one given: replaced", kUntrusted, {{"X-Forwarded-For", "203.0.113.1"}}, "192.0.2.7"},
      {"trusted, none given", kTrusted, {}, "10.0.0.9"},
      {"trusted, one given: appended to", kTrusted, {{"X-Forwarded-For", "203.0.113.1"}}, "203.0.113.1, 10.0.0.9"},
      {"trusted, several fields: one list",
       kTrusted,
       {{"X-Forwarded-For", "203.0.113.1"}, {"x-forwarded-for", "198.51.100.2, 198.51.100.3"}},
       "203.0.113.1, 198.51.100.2, 198.51.100.3, 10.0.0.9"},
  };
  // clang-format on
  for (const auto& c : cases) {
    Fields fields = c.given;
    fields.insert(fields.begin(), {"Host", "shop.example"});
    auto header = request("GET", "/", fields);
    toUpstream(header, c.client, false);
    EXPECT_THAT(valuesOf(header, "X-Forwarded-For"), ElementsAre(c.forwardedFor)) << c.name;
  }
}

TEST(ToUpstream, SetsXForwardedProtoAndHostUnlessATrustedProxyDid) {
  // clang-format off
  const struct {
    const char* name;
    Client client;
    Fields given;
    const char* proto;
    const char* host;
  } cases[] = {
      {"untrusted, none given", kUntrusted, {}, "http", "shop.example:8080"},
      {"untrusted claims https and another host", kUntrusted,
       {{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "bank.example"}}, "http", "shop.example:8080"},
      {"trusted, none given", kTrusted, {}, "http", "shop.example:8080"},
      {"trusted says https and the public host", kTrusted,
       {{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "www.example"}}, "https", "www.example"},
  };
  // clang-format on
  for (const auto& c : cases) {
    Fields fields = c.given;
    fields.insert(fields.begin(), {"Host", "shop.example:8080"});
    auto header = request("GET", "/", fields);
    toUpstream(header, c.client, false);
    EXPECT_THAT(valuesOf(header, "X-Forwarded-Proto"), ElementsAre(c.proto)) << c.name;
    EXPECT_THAT(valuesOf(header, "X-Forwarded-Host"), ElementsAre(c.host)) << c.name;
  }
}

TEST(ToUpstream, ForwardedAndXForwardedPortAreDroppedFromAnUntrustedClient) {
  const Fields fields = {
      {"Host", "a"}, {"Forwarded", "for=203.0.113.1;proto=https"}, {"X-Forwarded-Port", "443"}};
  auto untrusted = request("GET", "/", fields);
  toUpstream(untrusted, kUntrusted, false);
  EXPECT_THAT(valuesOf(untrusted, "Forwarded"), IsEmpty());
  EXPECT_THAT(valuesOf(untrusted, "X-Forwarded-Port"), IsEmpty());

  auto trusted = request("GET", "/", fields);
  toUpstream(trusted, kTrusted, false);
  EXPECT_THAT(valuesOf(trusted, "Forwarded"), ElementsAre("for=203.0.113.1;proto=https"));
  EXPECT_THAT(valuesOf(trusted, "X-Forwarded-Port"), ElementsAre("443"));
}

TEST(ToUpstream, SpeaksHttp11WithKeepAliveToTheBackend) {
  auto header = request("GET", "/", {{"Host", "a"}, {"Connection", "close"}}, 10);
  toUpstream(header, kUntrusted, false);
  EXPECT_EQ(header.version(), 11u);
  EXPECT_TRUE(bhttp::request<bhttp::empty_body>(header).keep_alive());
  EXPECT_THAT(valuesOf(header, "Connection"), IsEmpty());
}

TEST(ToUpstream, AWebSocketUpgradeKeepsUpgradeAndConnection) {
  auto header = request("GET", "/chat",
                        {{"Host", "a"},
                         {"Connection", "keep-alive, Upgrade"},
                         {"Upgrade", "websocket"},
                         {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                         {"Sec-WebSocket-Version", "13"}});
  ASSERT_TRUE(isWebSocketUpgrade(header));
  toUpstream(header, kUntrusted, true);
  EXPECT_THAT(valuesOf(header, "Upgrade"), ElementsAre("websocket"));
  EXPECT_THAT(valuesOf(header, "Connection"), ElementsAre("upgrade"));
  EXPECT_THAT(valuesOf(header, "Sec-WebSocket-Key"), ElementsAre("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_THAT(valuesOf(header, "Sec-WebSocket-Version"), ElementsAre("13"));
}

TEST(IsWebSocketUpgrade, NeedsAGetWithConnectionUpgradeAndUpgradeWebsocket) {
  // clang-format off
  const struct {
    const char* name;
    const char* method;
    Fields fields;
    bool upgrade;
  } cases[] = {
      {"the handshake", "GET", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, true},
      {"tokens in lists, any case", "GET", {{"Connection", "keep-alive, UPGRADE"}, {"Upgrade", "WebSocket"}}, true},
      {"another protocol", "GET", {{"Connection", "Upgrade"}, {"Upgrade", "h2c"}}, false},
      {"Upgrade without Connection naming it", "GET", {{"Upgrade", "websocket"}}, false},
      {"a POST", "POST", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, false},
  };
  // clang-format on
  for (const auto& c : cases) {
    Fields fields = c.fields;
    fields.insert(fields.begin(), {"Host", "a"});
    EXPECT_EQ(isWebSocketUpgrade(request(c.method, "/", fields)), c.upgrade) << c.name;
  }
}

TEST(ToUpstream, AnUpgradeToAnotherProtocolIsDropped) {
  auto header = request("GET", "/",
                        {{"Host", "a"},
                         {"Connection", "Upgrade, HTTP2-Settings"},
                         {"Upgrade", "h2c"},
                         {"HTTP2-Settings", "AAMAAABkAAQAAP__"}});
  toUpstream(header, kUntrusted, isWebSocketUpgrade(header));
  EXPECT_THAT(valuesOf(header, "Upgrade"), IsEmpty());
  EXPECT_THAT(valuesOf(header, "HTTP2-Settings"), IsEmpty());
  EXPECT_THAT(valuesOf(header, "Connection"), IsEmpty());
}

TEST(IsIdempotent, FollowsRfc9110) {
  // clang-format off
  const struct {
    bhttp::verb method;
    bool idempotent;
  } cases[] = {
      {bhttp::verb::get, true},     {bhttp::verb::head, true},   {bhttp::verb::options, true},
      {bhttp::verb::trace, true},   {bhttp::verb::put, true},    {bhttp::verb::delete_, true},
      {bhttp::verb::post, false},   {bhttp::verb::patch, false}, {bhttp::verb::unknown, false},
  };
  // clang-format on
  for (const auto& c : cases)
    EXPECT_EQ(isIdempotent(c.method), c.idempotent) << bhttp::to_string(c.method);
}

// ---- toDownstream: the response as the client sees it ----

bhttp::response_header<> response(unsigned status, const Fields& fields) {
  bhttp::response_header<> header;
  header.result(status);
  header.version(11);
  for (const auto& [name, value] : fields) header.insert(name, value);
  return header;
}

TEST(ToDownstream, StripsHopByHopFieldsAndWhatConnectionNames) {
  auto header = response(200, {{"Content-Type", "text/plain"},
                               {"Connection", "keep-alive, X-Internal"},
                               {"X-Internal", "node-7"},
                               {"Keep-Alive", "timeout=5"},
                               {"Transfer-Encoding", "chunked"},
                               {"Trailer", "X-Checksum"},
                               {"TE", "trailers"},
                               {"Upgrade", "h2c"},
                               {"Proxy-Authenticate", "Basic"},
                               {"Set-Cookie", "a=1"},
                               {"Set-Cookie", "b=2"}});
  toDownstream(header, false);
  EXPECT_THAT(namesOf(header), ElementsAre("Content-Type", "Set-Cookie", "Set-Cookie"));
  EXPECT_THAT(valuesOf(header, "Set-Cookie"), ElementsAre("a=1", "b=2"));
}

// Connection may name any field, but a response that lost its
// Content-Length would be read to the connection's end, or misread.
TEST(ToDownstream, KeepsContentLengthEvenIfConnectionNamesIt) {
  auto header = response(200, {{"Content-Length", "5"}, {"Connection", "Content-Length"}});
  toDownstream(header, false);
  EXPECT_THAT(valuesOf(header, "Content-Length"), ElementsAre("5"));
}

TEST(ToDownstream, ASwitchKeepsUpgradeAndConnection) {
  auto header = response(101, {{"Connection", "Upgrade"},
                               {"Upgrade", "websocket"},
                               {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}});
  toDownstream(header, true);
  EXPECT_THAT(valuesOf(header, "Upgrade"), ElementsAre("websocket"));
  EXPECT_THAT(valuesOf(header, "Connection"), ElementsAre("upgrade"));
  EXPECT_THAT(valuesOf(header, "Sec-WebSocket-Accept"),
              ElementsAre("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

// ---- TrustedNetworks ----

TEST(TrustedNetworks, RefusesWhatIsNotAnAddressOrCidr) {
  const char* refused[] = {
      "",           "proxy.example", "10.0.0.0/",   "10.0.0.0/33", "10.0.0.0/-1",
      "10.0.0.0/x", "10.0.0.0/8/8",  "10.0.0.0/ 8", "fd00::/129",  "10.0.0.256",
      "fd00::/"};
  for (const char* cidr : refused) {
    const auto networks = TrustedNetworks::parse({"192.168.0.0/16", cidr});
    ASSERT_FALSE(networks.ok()) << '"' << cidr << "\" accepted";
    EXPECT_THAT(networks.error(), ::testing::HasSubstr(cidr)) << "the error names what is wrong";
  }
}

TEST(TrustedNetworks, ContainsTheAddressesOfItsNetworks) {
  // clang-format off
  const struct {
    std::vector<std::string> cidrs;
    const char* address;
    bool contained;
  } cases[] = {
      {{"10.0.0.0/8"}, "10.1.2.3", true},
      {{"10.0.0.0/8"}, "11.0.0.1", false},
      {{"10.1.2.3/8"}, "10.200.0.1", true},  // host bits ignored
      {{"192.168.1.7"}, "192.168.1.7", true},
      {{"192.168.1.7"}, "192.168.1.8", false},
      {{"192.168.1.6/31"}, "192.168.1.7", true},
      {{"192.168.1.6/31"}, "192.168.1.8", false},
      {{"0.0.0.0/0"}, "203.0.113.9", true},
      {{"0.0.0.0/0"}, "2001:db8::1", false},
      {{"fd00::/8"}, "fd12:3456::1", true},
      {{"fd00::/8"}, "fe80::1", false},
      {{"2001:db8::/33"}, "2001:db8:7fff::1", true},  // a prefix that ends inside a byte
      {{"2001:db8::/33"}, "2001:db8:8000::1", false},
      {{"2001:db8::5"}, "2001:db8::5", true},
      {{"2001:db8::5"}, "2001:db8::6", false},
      {{"::/0"}, "2001:db8::1", true},
      {{"::/0"}, "198.51.100.1", false},
      // A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6.
      {{"10.0.0.0/8"}, "::ffff:10.1.2.3", true},
      {{"10.0.0.0/8"}, "::ffff:11.1.2.3", false},
      {{"10.0.0.0/8", "fd00::/8"}, "fd00::2", true},
      {{}, "127.0.0.1", false},
  };
  // clang-format on
  for (const auto& c : cases) {
    const auto networks = TrustedNetworks::parse(c.cidrs);
    ASSERT_TRUE(networks.ok()) << networks.error();
    EXPECT_EQ(networks->contains(boost::asio::ip::make_address(c.address)), c.contained)
        << ::testing::PrintToString(c.cidrs) << " contains " << c.address;
  }
}

TEST(TrustedNetworks, IsEmptyWithoutNetworks) {
  EXPECT_TRUE(TrustedNetworks().empty());
  EXPECT_TRUE(TrustedNetworks::parse({})->empty());
  EXPECT_FALSE(TrustedNetworks::parse({"fd00::/8"})->empty());
}

}  // namespace
}  // namespace ozy::ingress
