// flannel's subnet keys and values, and how entries written by others (by
// flannel, by hand, broken) are read.
#include "network/flannel_layout.h"

#include <gtest/gtest.h>

namespace ozy {
namespace {

Ipv4Cidr cidr(std::string_view text) {
  return *Ipv4Cidr::parse(text);
}

TEST(FlannelLayoutTest, KeysAreFlannels) {
  EXPECT_EQ(flannel::kConfigKey, "/coreos.com/network/config");
  EXPECT_EQ(flannel::subnetKey(cidr("10.244.3.0/24")), "/coreos.com/network/subnets/10.244.3.0-24");
}

TEST(FlannelLayoutTest, SubnetValueRoundTrips) {
  const std::string value = encodeSubnetValue(*Ipv4Address::parse("10.0.0.5"), "host-gw");
  EXPECT_EQ(value, R"({"PublicIP":"10.0.0.5","BackendType":"host-gw"})");
  auto lease = decodeSubnetLease("/coreos.com/network/subnets/10.244.3.0-24", value);
  ASSERT_TRUE(lease) << lease.error().reason;
  EXPECT_EQ(lease->subnet, cidr("10.244.3.0/24"));
  EXPECT_EQ(lease->publicIp.toString(), "10.0.0.5");
  EXPECT_EQ(lease->backendType, "host-gw");
  EXPECT_EQ(lease->leaseId, 0);
}

TEST(FlannelLayoutTest, ReadsWhatFlanneldWritesIgnoringItsExtraMembers) {
  auto lease =
      decodeSubnetLease("/coreos.com/network/subnets/10.244.7.0-24",
                        R"({"PublicIP":"192.168.1.20","PublicIPv6":null,"BackendType":"vxlan",)"
                        R"("BackendData":{"VNI":1,"VtepMAC":"8a:1b:2c:3d:4e:5f"}})");
  ASSERT_TRUE(lease) << lease.error().reason;
  EXPECT_EQ(lease->backendType, "vxlan");
  EXPECT_EQ(lease->publicIp.toString(), "192.168.1.20");
}

TEST(FlannelLayoutTest, BadEntriesAreSkippedWithAReasonAndKeepTheirSubnetWhenKnown) {
  struct Case {
    const char* key;
    const char* value;
    bool subnetKnown;
    const char* reason;
  };
  const Case cases[] = {
      {"/coreos.com/network/subnets/10.244.3.0-24", "{", true, "the value is not a JSON object"},
      {"/coreos.com/network/subnets/10.244.3.0-24", R"("10.0.0.5")", true,
       "the value is not a JSON object"},
      {"/coreos.com/network/subnets/10.244.3.0-24", R"({"BackendType":"host-gw"})", true,
       "the value has no PublicIP string"},
      {"/coreos.com/network/subnets/10.244.3.0-24",
       R"({"PublicIP":"10.0.0.300","BackendType":"host-gw"})", true,
       "PublicIP \"10.0.0.300\" is not an IPv4 address"},
      {"/coreos.com/network/subnets/10.244.3.0-24", R"({"PublicIP":"10.0.0.5"})", true,
       "the value has no BackendType string"},
      {"/coreos.com/network/subnets/10.244.3.1-24",
       R"({"PublicIP":"10.0.0.5","BackendType":"host-gw"})", false,
       "the key does not name a subnet: \"10.244.3.1-24\" has host bits set"},
      {"/coreos.com/network/subnets/junk", "{}", false, "the key does not name a subnet"},
      {"/coreos.com/network/config", "{}", false,
       "the key is not under /coreos.com/network/subnets/"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.key) + " = " + c.value);
    auto lease = decodeSubnetLease(c.key, c.value);
    ASSERT_FALSE(lease);
    EXPECT_EQ(lease.error().key, c.key);
    EXPECT_EQ(lease.error().subnet.has_value(), c.subnetKnown);
    EXPECT_NE(lease.error().reason.find(c.reason), std::string::npos) << lease.error().reason;
  }
}

}  // namespace
}  // namespace ozy
