// The pod network config: flannel's format, its defaults, every rule and the
// message that explains it, and the problem document built from them.
#include "network/network_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ozy {
namespace {

using ::testing::HasSubstr;

NetworkConfig decodeOk(std::string_view json) {
  auto config = decodeNetworkConfig(json);
  EXPECT_TRUE(config) << (config ? "" : config.error().front().toString());
  return config ? *config : NetworkConfig{};
}

// The errors of a config that must be refused, as "path: message" lines.
std::vector<std::string> errorsOf(std::string_view json) {
  auto config = decodeNetworkConfig(json);
  EXPECT_FALSE(config) << "accepted: " << json;
  std::vector<std::string> out;
  if (!config) {
    for (const FieldError& error : config.error()) out.push_back(error.toString());
  }
  return out;
}

TEST(NetworkConfigTest, ReadsTheIssuesExampleWithFlannelsDefaults) {
  const NetworkConfig config =
      decodeOk(R"({"Network": "10.244.0.0/16", "SubnetLen": 24, "Backend": {"Type": "host-gw"}})");
  EXPECT_EQ(config.network.toString(), "10.244.0.0/16");
  EXPECT_EQ(config.subnetLen, 24);
  EXPECT_EQ(config.subnetMin.toString(), "10.244.1.0") << "flannel leaves the first subnet out";
  EXPECT_EQ(config.subnetMax.toString(), "10.244.255.0");
  EXPECT_EQ(config.backendType, "host-gw");
  EXPECT_EQ(describe(config),
            "10.244.0.0/16 (/24 subnets from 10.244.1.0 to 10.244.255.0, host-gw)");
}

TEST(NetworkConfigTest, DefaultsSubnetLenAndBackendAsFlannelDoes) {
  EXPECT_EQ(decodeOk(R"({"Network": "10.0.0.0/8"})").subnetLen, 24);
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/22"})").subnetLen, 24);
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/23"})").subnetLen, 25);
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/28"})").subnetLen, 30);
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/16"})").backendType, "host-gw");
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/16", "Backend": {}})").backendType, "host-gw");
}

TEST(NetworkConfigTest, HonoursSubnetMinAndMax) {
  const NetworkConfig config = decodeOk(
      R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.0.0", "SubnetMax": "10.244.9.0"})");
  EXPECT_EQ(config.subnetMin.toString(), "10.244.0.0");
  EXPECT_EQ(config.subnetMax.toString(), "10.244.9.0");
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.7.0",
                         "SubnetMax": "10.244.7.0"})")
                .subnetMax.toString(),
            "10.244.7.0");
}

TEST(NetworkConfigTest, EncodesEveryFieldAndDecodesBackToTheSame) {
  const NetworkConfig config = decodeOk(R"({"Network": "10.244.0.0/16", "SubnetLen": 26})");
  const std::string text = encode(config);
  EXPECT_EQ(text, R"({"Network":"10.244.0.0/16","SubnetLen":26,"SubnetMin":"10.244.0.64",)"
                  R"("SubnetMax":"10.244.255.192","Backend":{"Type":"host-gw"}})");
  EXPECT_EQ(decodeOk(text), config);
}

TEST(NetworkConfigTest, SameMeaningComparesEqualWhateverWasSpelledOut) {
  EXPECT_EQ(decodeOk(R"({"Network": "10.244.0.0/16"})"),
            decodeOk(R"({"SubnetLen": 24, "Network": "10.244.0.0/16", "SubnetMin": "10.244.1.0",
                         "Backend": {"Type": "host-gw"}})"));
  EXPECT_NE(decodeOk(R"({"Network": "10.244.0.0/16"})"),
            decodeOk(R"({"Network": "10.244.0.0/16", "SubnetLen": 25})"));
}

// Each rule, and the message a user reads for it.
TEST(NetworkConfigTest, RefusesEachBrokenRuleWithAMessageSayingWhatIsRight) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"(not json)", "the pod network config is not JSON"},
      {R"(["10.244.0.0/16"])",
       "the pod network config must be a JSON object such as "
       "{\"Network\": \"10.244.0.0/16\"}"},
      {R"({})",
       "Network: is required: the IPv4 network the nodes' subnets are taken from, such "
       "as \"10.244.0.0/16\""},
      {R"({"Network": 16})", "Network: must be a string such as \"10.244.0.0/16\""},
      {R"({"Network": "10.244.0.1/16"})",
       "Network: \"10.244.0.1/16\" has host bits set: the network is 10.244.0.0/16"},
      {R"({"Network": "10.244.0.0"})",
       "Network: \"10.244.0.0\" is not a network: it has no prefix length (as in 10.244.0.0/16)"},
      {R"({"Network": "10.244.0.0/29"})",
       "Network: 10.244.0.0/29 is too small to give each node a subnet: use a network of /28 or "
       "shorter, such as 10.244.0.0/16"},
      {R"({"Network": "10.244.0.0/16", "SubnetLen": 16})",
       "SubnetLen: 16 is out of range: it must be from 17 to 30 (longer than the Network's /16, "
       "and at most /30 so that a subnet holds two usable addresses)"},
      {R"({"Network": "10.244.0.0/16", "SubnetLen": 31})", "SubnetLen: 31 is out of range"},
      {R"({"Network": "10.244.0.0/16", "SubnetLen": "24"})",
       "SubnetLen: must be a whole number from 17 to 30"},
      {R"({"Network": "10.244.0.0/16", "SubnetLen": 24.5})",
       "SubnetLen: must be a whole number from 17 to 30"},
      {R"({"Network": "10.244.0.0/16", "SubnetMin": "10.245.0.0"})",
       "SubnetMin: 10.245.0.0 is not inside the Network 10.244.0.0/16"},
      {R"({"Network": "10.244.0.0/16", "SubnetMax": "10.244.3.7"})",
       "SubnetMax: 10.244.3.7 is not the start of a /24 subnet (the subnet holding it starts at "
       "10.244.3.0)"},
      {R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.01.0"})",
       "SubnetMin: \"10.244.01.0\" is not an IPv4 address"},
      {R"({"Network": "10.244.0.0/16", "SubnetMin": 3})",
       "SubnetMin: must be a string such as \"10.244.1.0\": the first address of a subnet"},
      {R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.9.0", "SubnetMax": "10.244.3.0"})",
       "SubnetMax: 10.244.3.0 is below SubnetMin 10.244.9.0: no subnet could be leased"},
      {R"({"Network": "10.244.0.0/16", "SubnetMax": "10.244.0.0"})",
       "SubnetMax: leaves no subnet to lease: SubnetMin 10.244.1.0 is above SubnetMax 10.244.0.0"},
      {R"({"Network": "10.244.0.0/16", "Backend": "host-gw"})",
       "Backend: must be an object such as {\"Type\": \"host-gw\"}"},
      {R"({"Network": "10.244.0.0/16", "Backend": {"Type": 1}})",
       "Backend.Type: must be a string such as \"host-gw\""},
      {R"({"Network": "10.244.0.0/16", "Backend": {"Type": "host-gw", "Port": 8472}})",
       "Backend.Port: is not a setting of the host-gw backend (it has none)"},
      {R"({"Network": "10.244.0.0/16", "SubnetLenn": 24})",
       "SubnetLenn: is not a field of a pod network config (did you mean \"SubnetLen\"?)"},
      {R"({"Network": "10.244.0.0/16", "Cluster": "x"})",
       "Cluster: is not a field of a pod network config (the fields are Network, SubnetLen, "
       "SubnetMin, SubnetMax, Backend)"},
      {R"({"Network": "10.244.0.0/16", "EnableIPv6": true})",
       "EnableIPv6: IPv6 pod networks are not supported: this agent leases IPv4 subnets only"},
      {R"({"Network": "10.244.0.0/16", "EnableIPv4": false})",
       "EnableIPv4: must be true: this agent leases IPv4 subnets only"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    const auto errors = errorsOf(c.json);
    ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
    EXPECT_THAT(errors.front(), HasSubstr(c.error));
  }
}

TEST(NetworkConfigTest, RefusesEveryBackendButHostGwAndSaysWhy) {
  for (const char* type : {"vxlan", "wireguard", "udp", "ipip", "ipsec", "HOST-GW"}) {
    SCOPED_TRACE(type);
    const auto errors = errorsOf(
        std::string(R"({"Network": "10.244.0.0/16", "Backend": {"Type": ")") + type + "\"}}");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors.front(),
              std::string("Backend.Type: \"") + type +
                  "\" is not supported: this agent supports only host-gw (routes to each node's "
                  "subnet via the node's address), because these machines' kernel has no vxlan, "
                  "geneve or ipip devices for an overlay; docs/network.md says what one would "
                  "take");
  }
}

TEST(NetworkConfigTest, AcceptsFlannelsHarmlessIpFamilyFlags) {
  const NetworkConfig config = decodeOk(R"({"Network": "10.244.0.0/16", "EnableIPv4": true, "EnableIPv6": false})");
  EXPECT_EQ(config.network.toString(), "10.244.0.0/16");
}

TEST(NetworkConfigTest, ReportsEveryBrokenRuleNotJustTheFirst) {
  const auto errors = errorsOf(
      R"({"Network": "10.244.0.1/16", "SubnetLen": 40, "SubnetMin": "x", "Backend": {"Type": "vxlan"}})");
  ASSERT_EQ(errors.size(), 4u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], HasSubstr("Network:"));
  EXPECT_THAT(errors[1], HasSubstr("SubnetLen: 40 is out of range: it must be from 1 to 30"));
  EXPECT_THAT(errors[2], HasSubstr("SubnetMin:"));
  EXPECT_THAT(errors[3], HasSubstr("Backend.Type:"));
}

TEST(NetworkConfigTest, ProblemListsTheErrorsUnderInvalidNetworkConfig) {
  auto config = decodeNetworkConfig(R"({"Network": "10.244.0.1/16", "SubnetLen": 40})");
  ASSERT_FALSE(config);
  const nlohmann::json json = invalidNetworkConfigProblem(config.error()).toJson();
  EXPECT_EQ(json["type"], "/docs/errors.md#invalid-network-config");
  EXPECT_EQ(json["status"], 422);
  EXPECT_EQ(json["detail"],
            "The pod network config is not valid: Network: \"10.244.0.1/16\" has host bits set: "
            "the network is 10.244.0.0/16 (and 1 more).");
  ASSERT_EQ(json["errors"].size(), 2u);
  EXPECT_EQ(json["errors"][1]["path"], "SubnetLen");
}

}  // namespace
}  // namespace ozy
