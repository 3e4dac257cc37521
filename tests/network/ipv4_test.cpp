// IPv4 addresses and networks: strict parsing, formatting, containment,
// subnets, and flannel's key form.
#include "network/ipv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ozy {
namespace {

using ::testing::HasSubstr;

Ipv4Address address(std::string_view text) {
  auto parsed = Ipv4Address::parse(text);
  EXPECT_TRUE(parsed) << parsed.error();
  return parsed ? *parsed : Ipv4Address();
}

Ipv4Cidr cidr(std::string_view text) {
  auto parsed = Ipv4Cidr::parse(text);
  EXPECT_TRUE(parsed) << parsed.error();
  return parsed ? *parsed : Ipv4Cidr();
}

TEST(Ipv4AddressTest, ParsesAndFormatsDottedQuads) {
  EXPECT_EQ(address("10.244.3.7").toUint(), 0x0af40307u);
  EXPECT_EQ(address("10.244.3.7").toString(), "10.244.3.7");
  EXPECT_EQ(address("0.0.0.0").toUint(), 0u);
  EXPECT_EQ(address("255.255.255.255").toUint(), 0xffffffffu);
  EXPECT_LT(address("10.0.0.9"), address("10.0.0.10"));
}

TEST(Ipv4AddressTest, RejectsAnythingButFourPlainDecimalOctets) {
  for (const char* text :
       {"", "10.244.3", "10.244.3.7.1", "256.0.0.1", "10.244.3.-1", "010.0.0.1", "10.0.0.01",
        "0x0a.0.0.1", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1/32", "::1", "ten.0.0.1"}) {
    SCOPED_TRACE(text);
    auto parsed = Ipv4Address::parse(text);
    ASSERT_FALSE(parsed);
    EXPECT_THAT(parsed.error(), HasSubstr("is not an IPv4 address"));
    EXPECT_THAT(parsed.error(), HasSubstr(std::string("\"") + text + "\""));
  }
}

TEST(Ipv4CidrTest, ParsesAndFormatsNetworks) {
  const Ipv4Cidr network = cidr("10.244.0.0/16");
  EXPECT_EQ(network.base(), address("10.244.0.0"));
  EXPECT_EQ(network.prefixLength(), 16);
  EXPECT_EQ(network.last(), address("10.244.255.255"));
  EXPECT_EQ(network.size(), 65536u);
  EXPECT_EQ(network.toString(), "10.244.0.0/16");
  EXPECT_EQ(cidr("0.0.0.0/0").size(), std::uint64_t{1} << 32);
  EXPECT_EQ(cidr("10.0.0.5/32").last(), address("10.0.0.5"));
}

TEST(Ipv4CidrTest, RejectsHostBitsAndNamesTheNetworkMeant) {
  auto parsed = Ipv4Cidr::parse("10.244.0.1/16");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error(), "\"10.244.0.1/16\" has host bits set: the network is 10.244.0.0/16");
}

TEST(Ipv4CidrTest, RejectsBadPrefixLengthsAndAddresses) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"10.244.0.0", "has no prefix length"},
                        Case{"10.244.0.0/", "prefix length \"\" is not a number"},
                        Case{"10.244.0.0/33", "prefix length \"33\" is not a number from 0 to 32"},
                        Case{"10.244.0.0/016", "prefix length \"016\""},
                        Case{"10.244.0.0/08", "prefix length \"08\""},
                        Case{"10.244.0.0/+8", "prefix length \"+8\""},
                        Case{"10.244.0.0/ 8", "prefix length \" 8\""},
                        Case{"10.244.0.0/1a", "prefix length \"1a\""},
                        Case{"10.244.00.0/16", "is not an IPv4 address"},
                        Case{"10.244.0.0/16/16", "is not an IPv4 address"}}) {
    SCOPED_TRACE(c.text);
    auto parsed = Ipv4Cidr::parse(c.text);
    ASSERT_FALSE(parsed);
    EXPECT_THAT(parsed.error(), HasSubstr(c.says));
  }
}

TEST(Ipv4CidrTest, OfChecksLengthAndAlignment) {
  EXPECT_TRUE(Ipv4Cidr::of(address("10.244.3.0"), 24));
  EXPECT_FALSE(Ipv4Cidr::of(address("10.244.3.0"), 16));
  EXPECT_FALSE(Ipv4Cidr::of(address("10.244.3.0"), 33));
  EXPECT_FALSE(Ipv4Cidr::of(address("10.244.3.0"), -1));
  EXPECT_TRUE(Ipv4Cidr::of(address("0.0.0.0"), 0));
}

TEST(Ipv4CidrTest, ContainsAddressesAndNetworks) {
  const Ipv4Cidr network = cidr("10.244.0.0/16");
  EXPECT_TRUE(network.contains(address("10.244.0.0")));
  EXPECT_TRUE(network.contains(address("10.244.255.255")));
  EXPECT_FALSE(network.contains(address("10.245.0.0")));
  EXPECT_FALSE(network.contains(address("10.243.255.255")));
  EXPECT_TRUE(network.contains(cidr("10.244.3.0/24")));
  EXPECT_TRUE(network.contains(network));
  EXPECT_FALSE(network.contains(cidr("10.244.0.0/15")));
  EXPECT_FALSE(network.contains(cidr("10.245.3.0/24")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(address("255.1.2.3")));

  EXPECT_TRUE(network.overlaps(cidr("10.244.0.0/15")));
  EXPECT_TRUE(cidr("10.244.3.0/24").overlaps(network));
  EXPECT_FALSE(cidr("10.244.3.0/24").overlaps(cidr("10.244.4.0/24")));
}

TEST(Ipv4CidrTest, NumbersItsSubnetsInAddressOrder) {
  const Ipv4Cidr network = cidr("10.244.0.0/16");
  EXPECT_EQ(network.subnetCount(24), 256u);
  EXPECT_EQ(network.subnetCount(16), 1u);
  EXPECT_EQ(network.subnetCount(15), 0u);
  EXPECT_EQ(network.subnetCount(33), 0u);
  EXPECT_EQ(network.subnet(24, 0), cidr("10.244.0.0/24"));
  EXPECT_EQ(network.subnet(24, 3), cidr("10.244.3.0/24"));
  EXPECT_EQ(network.subnet(24, 255), cidr("10.244.255.0/24"));
  EXPECT_EQ(network.subnet(24, 256), std::nullopt);
  EXPECT_EQ(network.subnet(30, 1), cidr("10.244.0.4/30"));
  EXPECT_EQ(cidr("0.0.0.0/0").subnet(1, 1), cidr("128.0.0.0/1"));
}

TEST(Ipv4CidrTest, ReadsAndWritesFlannelsKeyForm) {
  EXPECT_EQ(cidr("10.244.3.0/24").toFlannelKey(), "10.244.3.0-24");
  auto parsed = Ipv4Cidr::fromFlannelKey("10.244.3.0-24");
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(*parsed, cidr("10.244.3.0/24"));

  for (const char* bad : {"10.244.3.0/24", "10.244.3.1-24", "10.244.3.0-", "10.244.3.0-024",
                          "10.244.3-24", "10.244.3.0-24-24"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(Ipv4Cidr::fromFlannelKey(bad));
  }
}

}  // namespace
}  // namespace ozy
