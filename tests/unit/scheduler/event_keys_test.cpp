// Event keys (keys::event, keys::parseEvent): they sort by time, carry the
// writer and its serial, read back, and nothing else reads as one.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "scheduler/keys.h"

namespace ozy {
namespace {

TEST(EventKeys, LiveUnderTheJobsEventPrefix) {
  EXPECT_EQ(keys::eventsOf("web"), "/ozy/events/web/");
  EXPECT_EQ(keys::event("web", 1795683600123, "node-a", 0x2a),
            "/ozy/events/web/1795683600123-node-a-000000000000002a");
  // One job's prefix holds none of another's, even one whose name extends it.
  EXPECT_FALSE(keys::event("web2", 1, "n", 1).starts_with(keys::eventsOf("web")));
}

TEST(EventKeys, SortByTimeWhateverTheNodeAndSerial) {
  // Times of different widths, nodes whose names sort the other way round,
  // serials from different writers.
  const std::vector<std::int64_t> times = {
      0, 9, 10, 999, 1000, 1795683600000, 1795683600001, keys::kMaxEventMs};
  std::vector<std::string> keysInTimeOrder;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const std::string node = i % 2 == 0 ? "zz-last" : "a";
    keysInTimeOrder.push_back(keys::event("web", times[i], node, ~std::uint64_t{0} - i));
  }
  EXPECT_TRUE(std::is_sorted(keysInTimeOrder.begin(), keysInTimeOrder.end()));
}

TEST(EventKeys, OneWritersKeysInOneMillisecondSortByItsCounter) {
  const std::uint64_t incarnation = std::uint64_t{0xdeadbeef} << 32;
  std::vector<std::string> written;
  for (std::uint32_t counter : {0u, 1u, 9u, 10u, 255u, 256u, 0xffffffffu}) {
    written.push_back(keys::event("web", 42, "node-a", incarnation | counter));
  }
  EXPECT_TRUE(std::is_sorted(written.begin(), written.end()));
}

TEST(EventKeys, WritersWithoutCoordinationNeverShareAKey) {
  // The same time from two nodes, from two incarnations of one node, and
  // many events of one writer: every key differs.
  std::set<std::string> seen;
  std::size_t made = 0;
  for (const char* node : {"node-a", "node-b", "node-a-b"}) {
    for (std::uint64_t incarnation : {1u, 2u}) {
      for (std::uint64_t counter = 0; counter < 50; ++counter) {
        seen.insert(keys::event("web", 1000, node, incarnation << 32 | counter));
        ++made;
      }
    }
  }
  EXPECT_EQ(seen.size(), made);
}

TEST(EventKeys, ClampTimesOutsideTheirWidth) {
  EXPECT_EQ(keys::event("web", -5, "n", 1), keys::event("web", 0, "n", 1));
  EXPECT_EQ(keys::event("web", keys::kMaxEventMs + 1, "n", 1),
            keys::event("web", keys::kMaxEventMs, "n", 1));
}

TEST(EventKeys, ReadBackTheirParts) {
  // A node name with dashes and dots, as host names may have.
  const std::string key = keys::event("web-1", 1795683600123, "rack-2.node-a", 0xabc0000000000017);
  auto parsed = keys::parseEvent(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->job, "web-1");
  EXPECT_EQ(parsed->atMs, 1795683600123);
  EXPECT_EQ(parsed->node, "rack-2.node-a");
  EXPECT_EQ(parsed->serial, 0xabc0000000000017u);
}

TEST(EventKeys, OtherKeysDoNotReadAsEventKeys) {
  const std::string serial = "000000000000002a";
  for (const std::string& key : std::vector<std::string>{
           std::string("/ozy/jobs/web"),
           std::string("/ozy/events/web"),
           std::string("/ozy/events/web/"),
           "/ozy/events//1795683600123-n-" + serial,
           "/ozy/events/web/1795683600123--" + serial,             // no node
           "/ozy/events/web/179568360012-node-" + serial,          // 12 digits
           "/ozy/events/web/-795683600123-node-" + serial,         // a sign
           "/ozy/events/web/1795683600123-node-000000000000002A",  // upper case
           "/ozy/events/web/1795683600123-node-00000000000002a",   // 15 hex digits
           "/ozy/events/web/1795683600123-a/b-" + serial,          // a slash
           "/ozy/events/web/1795683600123_node_" + serial,
       }) {
    EXPECT_FALSE(keys::parseEvent(key)) << key;
  }
}

}  // namespace
}  // namespace ozy
