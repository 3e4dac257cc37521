// The resolver: which response code and records each question gets.
#include "dns/resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr std::string_view kDomain = "ozy.local";

}  // namespace

// Readable failure messages.
void PrintTo(const ResourceRecord& rr, std::ostream* out) {
  *out << rr.name << " " << rr.ttl << " type " << rr.type << " " << rr.address << rr.priority << " "
       << rr.weight << " " << rr.port << " " << rr.target;
}

namespace {

ResourceRecord address(std::string name, std::uint16_t type, std::uint32_t ttl, std::string ip) {
  ResourceRecord rr;
  rr.name = std::move(name);
  rr.type = type;
  rr.ttl = ttl;
  rr.address = std::move(ip);
  return rr;
}

ResourceRecord service(std::string name, std::uint32_t ttl, std::uint16_t priority,
                       std::uint16_t weight, std::uint16_t port, std::string target) {
  ResourceRecord rr;
  rr.name = std::move(name);
  rr.type = kTypeSrv;
  rr.ttl = ttl;
  rr.priority = priority;
  rr.weight = weight;
  rr.port = port;
  rr.target = std::move(target);
  return rr;
}

class ResolverTest : public ::testing::Test {
 protected:
  void put(const std::string& name, SkyRecord record) {
    ASSERT_TRUE(table_.put(*keyOfName(name), encode(record)).ok()) << name;
  }
  Answer ask(std::string name, std::uint16_t type = kTypeA, std::uint16_t qclass = kClassIn) {
    return resolve(table_, kDomain, Question{std::move(name), type, qclass});
  }
  RecordTable table_;
};

TEST_F(ResolverTest, ResponseCodeFollowsWhereTheNameIs) {
  put("1.web.ozy.local", {"10.0.0.1", 80, 10, 10, 30});
  struct Case {
    const char* name;
    std::uint16_t type;
    Rcode rcode;
    bool authoritative;
    std::size_t answers;
  };
  const Case cases[] = {
      {"1.web.ozy.local.", kTypeA, Rcode::kNoError, true, 1},
      {"web.ozy.local.", kTypeA, Rcode::kNoError, true, 1},
      {"web.ozy.local.", kTypeAaaa, Rcode::kNoError, true, 0},  // NODATA
      {"web.ozy.local.", 16 /* TXT */, Rcode::kNoError, true, 0},
      {"2.web.ozy.local.", kTypeA, Rcode::kNxDomain, true, 0},
      {"db.ozy.local.", kTypeA, Rcode::kNxDomain, true, 0},
      {"x.1.web.ozy.local.", kTypeA, Rcode::kNxDomain, true, 0},
      {"ozy.local.", kTypeA, Rcode::kNoError, true, 1},  // the apex holds everything
      {"example.org.", kTypeA, Rcode::kRefused, false, 0},
      {"local.", kTypeA, Rcode::kRefused, false, 0},
      {"notozy.local.", kTypeA, Rcode::kRefused, false, 0},
      {"web.ozy.local.example.org.", kTypeA, Rcode::kRefused, false, 0},
      {".", kTypeA, Rcode::kRefused, false, 0},
  };
  for (const Case& c : cases) {
    const Answer answer = ask(c.name, c.type);
    EXPECT_EQ(answer.rcode, c.rcode) << c.name;
    EXPECT_EQ(answer.authoritative, c.authoritative) << c.name;
    EXPECT_EQ(answer.answers.size(), c.answers) << c.name;
  }
}

TEST_F(ResolverTest, EmptyApexExistsWithoutRecords) {
  const Answer answer = ask("ozy.local.");
  EXPECT_EQ(answer.rcode, Rcode::kNoError);
  EXPECT_THAT(answer.answers, IsEmpty());
}

TEST_F(ResolverTest, OnlyClassInIsAnswered) {
  put("1.web.ozy.local", {"10.0.0.1", 80, 10, 10, 30});
  EXPECT_EQ(ask("web.ozy.local.", kTypeA, 3 /* CH */).rcode, Rcode::kRefused);
}

TEST_F(ResolverTest, AddressSetsSplitByFamilyWithEachAddressOnceAndTheSmallestTtl) {
  put("1.web.ozy.local", {"10.0.0.1", 80, 10, 10, 30});
  put("2.web.ozy.local", {"10.0.0.1", 81, 10, 10, 5});  // host networking: same address
  put("3.web.ozy.local", {"10.0.0.3", 80, 10, 10, 60});
  put("4.web.ozy.local", {"fd00::4", 80, 10, 10, 20});

  EXPECT_THAT(ask("Web.ozy.local.").answers,
              ElementsAre(address("Web.ozy.local.", kTypeA, 5, "10.0.0.1"),
                          address("Web.ozy.local.", kTypeA, 5, "10.0.0.3")));
  EXPECT_THAT(ask("web.ozy.local.", kTypeAaaa).answers,
              ElementsAre(address("web.ozy.local.", kTypeAaaa, 20, "fd00::4")));
  EXPECT_THAT(ask("3.web.ozy.local", kTypeA).answers,
              ElementsAre(address("3.web.ozy.local.", kTypeA, 60, "10.0.0.3")));
  EXPECT_EQ(ask("web.ozy.local.", kTypeAny).answers.size(), 3u);
}

TEST_F(ResolverTest, SrvNamesEachInstanceAndAddsItsAddress) {
  put("1.web.ozy.local", {"10.0.0.1", 8080, 1, 5, 30});
  put("2.web.ozy.local", {"fd00::2", 8081, 2, 6, 40});

  const Answer answer = ask("web.ozy.local.", kTypeSrv);
  EXPECT_EQ(answer.rcode, Rcode::kNoError);
  EXPECT_TRUE(answer.authoritative);
  EXPECT_THAT(answer.answers,
              UnorderedElementsAre(service("web.ozy.local.", 30, 1, 5, 8080, "1.web.ozy.local."),
                                   service("web.ozy.local.", 30, 2, 6, 8081, "2.web.ozy.local.")));
  EXPECT_THAT(answer.additional,
              UnorderedElementsAre(address("1.web.ozy.local.", kTypeA, 30, "10.0.0.1"),
                                   address("2.web.ozy.local.", kTypeAaaa, 40, "fd00::2")));

  EXPECT_THAT(ask("2.web.ozy.local.", kTypeSrv).answers,
              ElementsAre(service("2.web.ozy.local.", 40, 2, 6, 8081, "2.web.ozy.local.")));
}

TEST_F(ResolverTest, AnswersFollowTheTable) {
  put("1.web.ozy.local", {"10.0.0.1", 80, 10, 10, 30});
  ASSERT_EQ(ask("web.ozy.local.").answers.size(), 1u);
  table_.remove(*keyOfName("1.web.ozy.local"));
  EXPECT_EQ(ask("web.ozy.local.").rcode, Rcode::kNxDomain);
}

}  // namespace
}  // namespace ozy::dns
