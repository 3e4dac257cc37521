// RecordTable: what the responder holds of etcd's records, and which of them
// a name finds.
#include "dns/record_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string at(const std::string& host, std::uint16_t port = 80) {
  return encode(SkyRecord{host, port, 10, 10, 30});
}

std::vector<std::string> namesOf(const std::vector<NamedRecord>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) names.push_back(r.name);
  return names;
}

class RecordTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* key :
         {"/skydns/local/ozy/web/1", "/skydns/local/ozy/web/2", "/skydns/local/ozy/web2/1",
          "/skydns/local/ozy/web-x/1", "/skydns/local/ozy/api/1"}) {
      ASSERT_TRUE(table_.put(key, at("10.0.0.1")).ok()) << key;
    }
  }
  RecordTable table_;
};

TEST_F(RecordTableTest, NameFindsItsOwnRecordAndEveryRecordUnderIt) {
  EXPECT_THAT(namesOf(table_.lookup("web.ozy.local")),
              ElementsAre("1.web.ozy.local", "2.web.ozy.local"));
  EXPECT_THAT(namesOf(table_.lookup("2.web.ozy.local")), ElementsAre("2.web.ozy.local"));
  EXPECT_EQ(table_.lookup("ozy.local").size(), 5u);
}

TEST_F(RecordTableTest, NameDoesNotFindSiblingsSharingItsPrefix) {
  // web2 and web-x start with "web" but are other names.
  for (const auto& r : table_.lookup("web.ozy.local")) {
    EXPECT_THAT(r.name, testing::EndsWith(".web.ozy.local"));
  }
  EXPECT_THAT(namesOf(table_.lookup("web2.ozy.local")), ElementsAre("1.web2.ozy.local"));
}

TEST_F(RecordTableTest, RecordAtANameComesBeforeThoseUnderIt) {
  ASSERT_TRUE(table_.put("/skydns/local/ozy/web", at("10.0.0.9")).ok());
  auto found = table_.lookup("WEB.ozy.local.");
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].name, "web.ozy.local");
  EXPECT_EQ(found[0].record.host, "10.0.0.9");
}

TEST_F(RecordTableTest, UnknownOrMalformedNamesFindNothing) {
  EXPECT_THAT(table_.lookup("db.ozy.local"), IsEmpty());
  EXPECT_THAT(table_.lookup("3.web.ozy.local"), IsEmpty());
  EXPECT_THAT(table_.lookup("web..ozy.local"), IsEmpty());
  EXPECT_THAT(table_.lookup(""), IsEmpty());
}

TEST_F(RecordTableTest, LookupStopsAtTheLimit) {
  EXPECT_EQ(table_.lookup("ozy.local", 2).size(), 2u);
  EXPECT_THAT(table_.lookup("web.ozy.local", 0), IsEmpty());
}

TEST_F(RecordTableTest, PutReplacesAndRemoveForgets) {
  ASSERT_TRUE(table_.put("/skydns/local/ozy/web/1", at("10.0.0.5", 9000)).ok());
  auto found = table_.lookup("1.web.ozy.local");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].record, (SkyRecord{"10.0.0.5", 9000, 10, 10, 30}));

  EXPECT_TRUE(table_.remove("/skydns/local/ozy/web/1"));
  EXPECT_FALSE(table_.remove("/skydns/local/ozy/web/1"));
  EXPECT_THAT(namesOf(table_.lookup("web.ozy.local")), ElementsAre("2.web.ozy.local"));
}

TEST_F(RecordTableTest, BrokenUpdateRefusesAndDropsTheOldRecord) {
  auto stored = table_.put("/skydns/local/ozy/web/1", R"({"host":"nowhere"})");
  ASSERT_FALSE(stored.ok());
  EXPECT_THAT(stored.error(), HasSubstr("/skydns/local/ozy/web/1"));
  EXPECT_THAT(stored.error(), HasSubstr("host"));
  EXPECT_THAT(table_.lookup("1.web.ozy.local"), IsEmpty());
}

TEST_F(RecordTableTest, RefusesKeysNoNameMapsTo) {
  const std::size_t before = table_.size();
  for (const char* key : {"/skydns/local/ozy/web/", "/skydns/local/ozy//1",
                          "/skydns/local/ozy/Web/1", "/ozy/nodes/a", "/skydns"}) {
    auto stored = table_.put(key, at("10.0.0.1"));
    ASSERT_FALSE(stored.ok()) << key;
    EXPECT_THAT(stored.error(), HasSubstr("not the key of a DNS name")) << key;
  }
  EXPECT_EQ(table_.size(), before);
}

TEST_F(RecordTableTest, ReplaceAllKeepsOnlyTheNewRecordsAndReportsRefusals) {
  std::vector<KeyValue> kvs(3);
  kvs[0].key = "/skydns/local/ozy/db/1";
  kvs[0].value = at("10.0.1.1");
  kvs[1].key = "/skydns/local/ozy/db/2";
  kvs[1].value = "{";
  kvs[2].key = "/skydns/local/ozy/db/3";
  kvs[2].value = at("fd00::3");
  auto refused = table_.replaceAll(kvs);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_THAT(refused[0], HasSubstr("/skydns/local/ozy/db/2"));
  EXPECT_EQ(table_.size(), 2u);
  EXPECT_THAT(table_.lookup("web.ozy.local"), IsEmpty());
  EXPECT_THAT(namesOf(table_.lookup("db.ozy.local")),
              ElementsAre("1.db.ozy.local", "3.db.ozy.local"));
}

}  // namespace
}  // namespace ozy::dns
