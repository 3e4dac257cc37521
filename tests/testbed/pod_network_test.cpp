// The pod network across hosts that are really separate (test-bed hosts,
// each its own network namespace and podman), with a real etcd and real
// agents: subnets leased in flannel's layout, host-gw routes, pods reaching
// pods on other hosts by DNS name with their own source addresses.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include <fmt/format.h>

#include "network/subnet_lease.h"
#include "testbed/testbed_cluster.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using node_testing::waitFor;
using testing_support::AgentProcess;

// Answers /cgi-bin/ip with the address the request came from.
constexpr const char* kWebJob = R"(name: web
numInstances: 2
containers:
  app:
    image: localhost/ozy-test-busybox:2
    pull: never
    memory: 16M
    ports: ["8080:80"]
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www"]
    healthcheck: {type: tcp, port: 80, interval: 1s, timeout: 1s}
)";

class PodNetworkTest : public testbed_testing::TestBedCluster {
 protected:
  std::map<std::string, SubnetLease> leasesByAddress() {
    std::map<std::string, SubnetLease> out;
    auto listing = listSubnetLeases(*store_);
    if (!listing) return out;
    for (const auto& l : listing->table.leases) out[l.publicIp.toString()] = l;
    return out;
  }

  // host i's agent routes (ip route show proto 211), as "SUBNET via IP" lines.
  std::string routesOf(int i) {
    return bed_->run(i, {"/usr/sbin/ip", "-4", "route", "show", "proto", "211"}).output;
  }

};

TEST_F(PodNetworkTest, APodReachesAPodOnAnotherHostByNameAndIsSeenWithItsOwnAddress) {
  ASSERT_NO_FATAL_FAILURE(up(2));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2}));
  AgentProcess& first = *agents_.at(1);
  const std::string job = dir_.path() + "/web.yaml";
  std::ofstream(job) << kWebJob;
  auto submitted =
      testing_support::runOzy(OZY_BINARY, {"job", "run", job, "--address", first.url()}, first.ozyEnv());
  ASSERT_EQ(submitted.exitCode, 0) << submitted.stdoutText << submitted.stderrText;
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 2, InstanceState::kHealthy); }, 90s))
      << describe("web");

  const auto statuses = node_testing::statuses(*store_, "web");
  const auto leases = leasesByAddress();
  ASSERT_EQ(leases.size(), 2u);
  std::map<std::string, std::string> ipOfNode;
  for (const auto& [id, s] : statuses) ipOfNode[s.node] = s.podIp;
  ASSERT_EQ(ipOfNode.size(), 2u) << "one instance per host (host port 8080)";
  for (int i = 1; i <= 2; ++i) {
    auto ip = Ipv4Address::parse(ipOfNode[node(i)]);
    ASSERT_TRUE(ip) << describe("web");
    EXPECT_TRUE(leases.at(bed_->host(i).address()).subnet.contains(*ip))
        << ipOfNode[node(i)] << " is not in " << node(i) << "'s subnet";
  }
  EXPECT_NE(leases.at(bed_->host(1).address()).subnet, leases.at(bed_->host(2).address()).subnet);

  // From host 1's pod to host 2's, by the instance's DNS name.
  std::uint32_t there = 0;
  for (const auto& [id, s] : statuses) {
    if (s.node == node(2)) there = id;
  }
  std::uint32_t here = there == 0 ? 1 : 0;
  const std::string container = fmt::format("ozy-web-{}.{}.app", here, node(1));
  const auto fetched = bed_->run(1, {"podman", "exec", container, "wget", "-q", "-O", "-",
                                     fmt::format("http://{}.web.ozy.local/cgi-bin/ip", there)});
  EXPECT_EQ(fetched.exitCode, 0) << fetched.output << describe("web");
  // busybox httpd writes an IPv4 peer in the IPv6 form: [::ffff:10.244.3.2].
  EXPECT_EQ(fetched.output, "[::ffff:" + ipOfNode[node(1)] + "]\n")
      << "host 2's server must see host 1's pod address";
}

TEST_F(PodNetworkTest, AgentsStartedTogetherLeaseDifferentSubnetsAndARestartKeepsIts) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2}));
  auto leases = leasesByAddress();
  ASSERT_EQ(leases.size(), 2u);
  const Ipv4Cidr subnet1 = leases.at(bed_->host(1).address()).subnet;
  const Ipv4Cidr subnet2 = leases.at(bed_->host(2).address()).subnet;
  EXPECT_NE(subnet1, subnet2);
  // Each routes the other's subnet via the other's address.
  ASSERT_TRUE(waitFor([&] { return routesOf(1).find(subnet2.toString() + " via " + bed_->host(2).address()) != std::string::npos; }, 10s))
      << routesOf(1);
  ASSERT_TRUE(waitFor([&] { return routesOf(2).find(subnet1.toString() + " via " + bed_->host(1).address()) != std::string::npos; }, 10s))
      << routesOf(2);

  // Restarted (SIGKILL: no goodbye), host 1's agent takes its subnet back;
  // a SIGTERM of a node that is not drained keeps it too.
  agents_.at(1)->kill();
  ASSERT_NO_FATAL_FAILURE(startAgents({1}));
  EXPECT_EQ(leasesByAddress().at(bed_->host(1).address()).subnet, subnet1);
  agents_.at(1)->terminate();
  EXPECT_EQ(leasesByAddress().at(bed_->host(1).address()).subnet, subnet1);
  ASSERT_NO_FATAL_FAILURE(startAgents({1}));

  // A third host joins: the first two route it, from the watch.
  ASSERT_NO_FATAL_FAILURE(startAgents({3}));
  const Ipv4Cidr subnet3 = leasesByAddress().at(bed_->host(3).address()).subnet;
  for (int i = 1; i <= 2; ++i) {
    EXPECT_TRUE(waitFor([&] { return routesOf(i).find(subnet3.toString() + " via " + bed_->host(3).address()) != std::string::npos; }, 10s))
        << node(i) << ": " << routesOf(i);
  }
  // Drained and stopped, it leaves: its subnet goes back, the routes go.
  auto drained = testing_support::runOzy(OZY_BINARY, {"node", "drain", node(3), "--address", agents_.at(1)->url()},
                                         agents_.at(1)->ozyEnv());
  ASSERT_EQ(drained.exitCode, 0) << drained.stdoutText << drained.stderrText;
  agents_.at(3)->terminate();
  EXPECT_NE(agents_.at(3)->log().find("gave its pod subnet " + subnet3.toString() + " back"), std::string::npos)
      << agents_.at(3)->log();
  EXPECT_FALSE(leasesByAddress().contains(bed_->host(3).address()));
  for (int i = 1; i <= 2; ++i) {
    EXPECT_TRUE(waitFor([&] { return routesOf(i).find(subnet3.toString()) == std::string::npos; }, 10s))
        << node(i) << ": " << routesOf(i);
  }
}

TEST_F(PodNetworkTest, ADeadHostsInstanceComesBackOnAnotherHostAndIsReachedFromTheThird) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2, 3}));
  const std::string job = dir_.path() + "/web.yaml";
  std::string one = kWebJob;
  one.replace(one.find("numInstances: 2"), 15, "numInstances: 1");
  std::ofstream(job) << one;
  auto submitted = testing_support::runOzy(OZY_BINARY, {"job", "run", job, "--address", agents_.at(1)->url()},
                                           agents_.at(1)->ozyEnv());
  ASSERT_EQ(submitted.exitCode, 0) << submitted.stdoutText << submitted.stderrText;
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 1, InstanceState::kHealthy); }, 60s))
      << describe("web");
  const std::string first = node_testing::statuses(*store_, "web").at(0).node;
  const int dead = first[1] - '0';

  // The host dies: its agent, and its pods with it.
  agents_.at(dead)->kill();
  // podman 4.3 sometimes fails a removal with "userdata/shm: device or
  // resource busy" (PodmanRuntime::removePod retries it too): try again.
  std::string removal;
  ASSERT_TRUE(waitFor(
      [&] {
        const auto removed = bed_->run(dead, {"sh", "-c", "podman pod rm -f -t 0 $(podman pod ps -q)"});
        removal = removed.output;
        return removed.exitCode == 0;
      },
      20s))
      << removal;
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = node_testing::statuses(*store_, "web");
        return s.size() == 1 && s.at(0).node != first && s.at(0).state == InstanceState::kHealthy;
      },
      60s))
      << describe("web");
  const InstanceStatus moved = node_testing::statuses(*store_, "web").at(0);
  const auto leases = leasesByAddress();
  const int now = moved.node[1] - '0';
  EXPECT_TRUE(leases.at(bed_->host(now).address()).subnet.contains(*Ipv4Address::parse(moved.podIp)));
  // The third host reaches it at its new address, through the routes.
  const int third = 6 - dead - now;
  const auto fetched = bed_->run(third, {"curl", "-s", "--max-time", "5",
                                         fmt::format("http://{}/cgi-bin/ip", moved.podIp)});
  EXPECT_EQ(fetched.exitCode, 0) << fetched.output << routesOf(third);
  EXPECT_EQ(fetched.output, "[::ffff:" + bed_->host(third).address() + "]\n");
}

}  // namespace
}  // namespace ozy
