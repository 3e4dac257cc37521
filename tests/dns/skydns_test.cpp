// The SkyDNS format: DNS names and etcd keys map onto each other, and record
// values are read strictly enough that the responder can serve every one it
// accepts.
#include "dns/skydns.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using ::testing::HasSubstr;

TEST(SkyDns, AcceptsLowercaseDottedLabelsAsDomain) {
  struct Case {
    std::string domain;
    bool valid;
  };
  const Case cases[] = {
      {"ozy.local", true},
      {"a", true},
      {"cluster-1.example.org", true},
      {"", false},
      {"Ozy.local", false},
      {"ozy.local.", false},
      {".ozy.local", false},
      {"ozy..local", false},
      {"-ozy.local", false},
      {"ozy-.local", false},
      {"oz_y.local", false},
      {"ozy/x.local", false},
      {std::string(64, 'a') + ".local", false},
      {std::string(63, 'a') + ".local", true},
  };
  for (const Case& c : cases) EXPECT_EQ(isDomain(c.domain), c.valid) << '"' << c.domain << '"';
}

TEST(SkyDns, BuildsKeysUnderTheReversedDomain) {
  EXPECT_EQ(domainPrefix("ozy.local"), "/skydns/local/ozy/");
  EXPECT_EQ(jobPrefix("ozy.local", "web"), "/skydns/local/ozy/web/");
  EXPECT_EQ(instanceKey("ozy.local", "web", 3), "/skydns/local/ozy/web/3");
  EXPECT_EQ(instanceKey("a.b.c", "api", 0), "/skydns/c/b/a/api/0");
}

TEST(SkyDns, NamesAndKeysRoundTrip) {
  const char* names[] = {"3.web.ozy.local", "web.ozy.local", "local", "x.y.z.a.b"};
  for (const char* name : names) {
    auto key = keyOfName(name);
    ASSERT_TRUE(key.has_value()) << name;
    EXPECT_EQ(nameOfKey(*key), name);
  }
  EXPECT_EQ(keyOfName("3.web.ozy.local"), "/skydns/local/ozy/web/3");
  EXPECT_EQ(nameOfKey(instanceKey("ozy.local", "web", 3)), "3.web.ozy.local");
}

TEST(SkyDns, KeyOfNameIgnoresCaseAndTheTrailingDot) {
  EXPECT_EQ(keyOfName("3.Web.OZY.local."), "/skydns/local/ozy/web/3");
  EXPECT_EQ(keyOfName("web.ozy.local."), keyOfName("web.ozy.local"));
}

TEST(SkyDns, KeyOfNameRefusesEmptyLabelsAndSlashes) {
  EXPECT_FALSE(keyOfName(""));
  EXPECT_FALSE(keyOfName("."));
  EXPECT_FALSE(keyOfName("web..ozy.local"));
  EXPECT_FALSE(keyOfName(".web.ozy.local"));
  EXPECT_FALSE(keyOfName("web.ozy.local.."));
  // "a/b.ozy.local" would otherwise address the key of b.a.ozy.local.
  EXPECT_FALSE(keyOfName("a/b.ozy.local"));
}

TEST(SkyDns, NameOfKeyOutsideTheRootIsEmpty) {
  EXPECT_EQ(nameOfKey("/ozy/nodes/a"), "");
  EXPECT_EQ(nameOfKey("/skydns"), "");
  EXPECT_EQ(nameOfKey("/skydnsx/local"), "");
}

TEST(SkyDns, RecordsRoundTrip) {
  const SkyRecord v4{"10.0.0.7", 8080, 1, 2, 60};
  EXPECT_EQ(*decodeSkyRecord(encode(v4)), v4);
  const SkyRecord v6{"fd00::7", 0, 65535, 0, 0};
  EXPECT_EQ(*decodeSkyRecord(encode(v6)), v6);
}

TEST(SkyDns, EncodeWritesTheCoreDnsMembers) {
  EXPECT_EQ(encode(SkyRecord{"10.0.0.1", 80, 10, 10, 30}),
            R"({"host":"10.0.0.1","port":80,"priority":10,"weight":10,"ttl":30})");
}

TEST(SkyDns, DecodeDefaultsMissingNumbersAndIgnoresUnknownMembers) {
  auto record = decodeSkyRecord(R"({"host":"10.0.0.1","text":"hi","targetstrip":1})");
  ASSERT_TRUE(record.ok()) << record.error();
  EXPECT_EQ(*record, (SkyRecord{"10.0.0.1", 0, 10, 10, 30}));
}

TEST(SkyDns, DecodeRefusesWhatCannotBeServed) {
  struct Case {
    const char* json;
    const char* says;
  };
  const Case cases[] = {
      {"not json", "not JSON"},
      {"", "not JSON"},
      {R"(["10.0.0.1"])", "not a JSON object"},
      {R"({"port":80})", "\"host\" is missing"},
      {R"({"host":42})", "\"host\" must be an IPv4 or IPv6 address"},
      {R"({"host":"web.example.org"})", "\"host\" must be an IPv4 or IPv6 address"},
      {R"({"host":"10.0.0.256"})", "\"host\" must be an IPv4 or IPv6 address"},
      {R"({"host":"10.0.0.1","port":65536})", "\"port\" must be a whole number from 0 to 65535"},
      {R"({"host":"10.0.0.1","port":-1})", "\"port\""},
      {R"({"host":"10.0.0.1","port":"80"})", "\"port\""},
      {R"({"host":"10.0.0.1","port":80.5})", "\"port\""},
      {R"({"host":"10.0.0.1","priority":70000})", "\"priority\""},
      {R"({"host":"10.0.0.1","weight":true})", "\"weight\""},
      {R"({"host":"10.0.0.1","ttl":2147483648})",
       "\"ttl\" must be a whole number from 0 to 2147483647"},
  };
  for (const Case& c : cases) {
    auto record = decodeSkyRecord(c.json);
    ASSERT_FALSE(record.ok()) << c.json;
    EXPECT_THAT(record.error(), HasSubstr(c.says)) << c.json;
  }
}

TEST(SkyDns, DecodeReportsEveryProblemAtOnce) {
  auto record = decodeSkyRecord(R"({"port":70000,"ttl":-5})");
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.error(), HasSubstr("\"host\" is missing"));
  EXPECT_THAT(record.error(), HasSubstr("\"port\""));
  EXPECT_THAT(record.error(), HasSubstr("\"ttl\""));
}

}  // namespace
}  // namespace ozy::dns
