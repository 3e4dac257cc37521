// Cluster description files for `ozy plan`: the example reads as the nodes it
// lists, and mistakes are reported with the path of the field, all at once.
#include "cli/cluster_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "../support/field_errors.h"
#include "../support/source_files.h"

namespace ozy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using testing_support::fieldError;
using testing_support::readSourceFile;

std::vector<FieldError> errorsOf(std::string_view text) {
  auto cluster = parseClusterFile(text);
  if (cluster.ok()) return {};
  return cluster.error();
}

TEST(ClusterFile, ParsesTheExample) {
  const auto text = readSourceFile("examples/cluster.yaml");
  ASSERT_TRUE(text.has_value()) << "examples/cluster.yaml is missing";
  auto cluster = parseClusterFile(*text);
  ASSERT_TRUE(cluster.ok()) << ::testing::PrintToString(cluster.error());

  EXPECT_EQ(cluster->sharedCapacity, 50 * kGiB);
  EXPECT_EQ(cluster->sharedUsed, 0u);
  ASSERT_THAT(cluster->nodes, SizeIs(3));

  const NodeState& a = cluster->nodes[0];
  EXPECT_EQ(a.name, "node-a");
  EXPECT_EQ(a.capacity, (Resources{16 * kGiB, 200 * kGiB}));
  EXPECT_EQ(a.used, (Resources{0, 0}));
  EXPECT_THAT(a.portsInUse, IsEmpty());

  const NodeState& b = cluster->nodes[1];
  EXPECT_EQ(b.name, "node-b");
  EXPECT_EQ(b.capacity, (Resources{16 * kGiB, 200 * kGiB}));
  EXPECT_EQ(b.used, (Resources{4 * kGiB, 20 * kGiB}));
  EXPECT_THAT(b.portsInUse,
              ElementsAre(HostPort{22, Protocol::kTcp}, HostPort{53, Protocol::kUdp}));

  const NodeState& c = cluster->nodes[2];
  EXPECT_EQ(c.name, "node-c");
  EXPECT_EQ(c.capacity, (Resources{8 * kGiB, 100 * kGiB}));
  EXPECT_THAT(c.portsInUse, IsEmpty());
}

TEST(ClusterFile, AcceptsDottedHostNamesAndNoSharedPool) {
  auto cluster =
      parseClusterFile("nodes:\n  - {name: node-1.rack-2.example.com, memory: 1G, disk: 1G}\n");
  ASSERT_TRUE(cluster.ok()) << ::testing::PrintToString(cluster.error());
  EXPECT_EQ(cluster->nodes[0].name, "node-1.rack-2.example.com");
  EXPECT_EQ(cluster->sharedCapacity, 0u);
}

TEST(ClusterFile, RejectsNodeWithoutMemoryOrDisk) {
  EXPECT_THAT(errorsOf("nodes:\n  - {name: a, disk: 1G}\n  - {name: b, memory: 1G}\n"),
              ElementsAre(fieldError("nodes[0].memory", "is required"),
                          fieldError("nodes[1].disk", "is required")));
}

TEST(ClusterFile, RejectsNodeWithoutName) {
  EXPECT_THAT(errorsOf("nodes:\n  - {memory: 1G, disk: 1G}\n"),
              ElementsAre(fieldError("nodes[0].name", "is required")));
}

TEST(ClusterFile, RejectsDuplicateNodeName) {
  EXPECT_THAT(errorsOf("nodes:\n"
                       "  - {name: node-a, memory: 1G, disk: 1G}\n"
                       "  - {name: node-b, memory: 1G, disk: 1G}\n"
                       "  - {name: node-a, memory: 2G, disk: 1G}\n"),
              ElementsAre(fieldError("nodes[2].name", "\"node-a\" is listed twice")));
}

TEST(ClusterFile, RejectsNodeNamesThatAreNotHostNames) {
  for (std::string_view name : {"Node-A", "node_a", "node..a", ".node", "node.", "-node"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(
        errorsOf("nodes:\n  - {name: \"" + std::string(name) + "\", memory: 1G, disk: 1G}\n"),
        ElementsAre(fieldError("nodes[0].name", "is not a host name")));
  }
}

TEST(ClusterFile, RejectsBadPortsInUse) {
  EXPECT_THAT(
      errorsOf("nodes:\n  - name: a\n    memory: 1G\n    disk: 1G\n"
               "    portsInUse: [\"22\", \"80:8080\", \"http\", \"0\", \"127.0.0.1::53\", "
               "\"53/sctp\"]\n"),
      ElementsAre(fieldError("nodes[0].portsInUse[1]", "\"80:8080\" is not a port"),
                  fieldError("nodes[0].portsInUse[2]", "\"http\" is not a port"),
                  fieldError("nodes[0].portsInUse[3]", "\"0\" is not a port"),
                  fieldError("nodes[0].portsInUse[4]", "is not a port"),
                  fieldError("nodes[0].portsInUse[5]", "is not a port (e.g. 80 or 53/udp)")));
}

// Longer than any list a job file may hold: there is no range syntax, so a
// node with a whole range taken lists each port.
TEST(ClusterFile, AcceptsANodeWithEveryTcpPortInUse) {
  std::string ports;
  for (int port = 1; port <= 65535; ++port) ports += (port > 1 ? ", " : "") + std::to_string(port);
  auto cluster = parseClusterFile("nodes:\n  - {name: a, memory: 1G, disk: 1G, portsInUse: [" +
                                  ports + "]}\n");
  ASSERT_TRUE(cluster.ok()) << ::testing::PrintToString(cluster.error());
  EXPECT_THAT(cluster->nodes[0].portsInUse, SizeIs(65535));
}

TEST(ClusterFile, RejectsUnknownFieldWithSuggestion) {
  EXPECT_THAT(errorsOf("nodes:\n  - {name: a, memroy: 1G, memory: 1G, disk: 1G}\n"),
              ElementsAre(fieldError("nodes[0].memroy",
                                     "is not a known field (did you mean \"memory\"?)")));
  EXPECT_THAT(errorsOf("node:\n  - {name: a, memory: 1G, disk: 1G}\n"),
              UnorderedElementsAre(fieldError("node", "did you mean \"nodes\"?"),
                                   fieldError("nodes", "is required")));
}

TEST(ClusterFile, RejectsSizesThatAreNotSizes) {
  EXPECT_THAT(errorsOf("sharedSpace: lots\nnodes:\n  - {name: a, memory: 16X, disk: 1G, "
                       "usedDisk: -1}\n"),
              ElementsAre(fieldError("sharedSpace", "\"lots\" is not a size"),
                          fieldError("nodes[0].memory", "\"16X\" is not a size"),
                          fieldError("nodes[0].usedDisk", "\"-1\" is not a size")));
}

TEST(ClusterFile, RejectsNodesThatAreNotAList) {
  EXPECT_THAT(errorsOf("nodes: {name: a}\n"),
              ElementsAre(fieldError("nodes", "must be a list, not a mapping")));
}

TEST(ClusterFile, PassesOnYamlLoadErrors) {
  EXPECT_THAT(errorsOf(""), ElementsAre(fieldError("", "the file is empty")));
  EXPECT_THAT(errorsOf("nodes: [\n"), ElementsAre(fieldError("", "not valid YAML")));
}

}  // namespace
}  // namespace ozy
