// IPv4 addresses and CIDR networks, as the pod network writes and reads them.
//
// Parsing is strict, because these strings come from users and from values in
// etcd that anyone may have written: a dotted quad of four decimal octets
// without leading zeros (Boost.Asio's address_v4 parser, which is inet_pton's),
// and a CIDR whose address has no host bits set ("10.244.0.1/16" is refused:
// it names an address, not a network). Errors are sentences that quote the
// input and say what would be right.
//
// The rest of the project only asks "is this an IP address?" (inet_pton in
// job/, dns/, agent/); this is the one place that does arithmetic on them.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ozy {

class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(std::uint32_t value) : value_(value) {}

  // "10.244.3.0"; the error quotes `text`.
  static Result<Ipv4Address, std::string> parse(std::string_view text);

  constexpr std::uint32_t toUint() const { return value_; }
  std::string toString() const;

  auto operator<=>(const Ipv4Address&) const = default;

 private:
  std::uint32_t value_ = 0;
};

// A network: its first address and prefix length (0..32), host bits zero.
class Ipv4Cidr {
 public:
  constexpr Ipv4Cidr() = default;

  // The network of `prefixLength` bits starting at `base`; nullopt when the
  // length is out of range or `base` has host bits set.
  static std::optional<Ipv4Cidr> of(Ipv4Address base, int prefixLength);
  // "10.244.0.0/16".
  static Result<Ipv4Cidr, std::string> parse(std::string_view text);
  // flannel's subnet key form, "10.244.3.0-24".
  static Result<Ipv4Cidr, std::string> fromFlannelKey(std::string_view text);

  Ipv4Address base() const { return base_; }
  int prefixLength() const { return prefixLength_; }
  // The last address of the network (its broadcast address).
  Ipv4Address last() const;
  // How many addresses it holds: 2^(32 - prefixLength).
  std::uint64_t size() const { return std::uint64_t{1} << (32 - prefixLength_); }

  bool contains(Ipv4Address address) const;
  bool contains(const Ipv4Cidr& other) const;  // every address of `other` is in this one
  bool overlaps(const Ipv4Cidr& other) const;

  // How many subnets of `subnetLength` bits this network holds (0 when
  // `subnetLength` is shorter than the network's prefix or over 32).
  std::uint64_t subnetCount(int subnetLength) const;
  // The index-th of them, in address order; nullopt past the end.
  std::optional<Ipv4Cidr> subnet(int subnetLength, std::uint64_t index) const;

  std::string toString() const;      // "10.244.3.0/24"
  std::string toFlannelKey() const;  // "10.244.3.0-24"

  auto operator<=>(const Ipv4Cidr&) const = default;

 private:
  constexpr Ipv4Cidr(Ipv4Address base, int prefixLength)
      : base_(base), prefixLength_(prefixLength) {}

  Ipv4Address base_;
  int prefixLength_ = 0;
};

}  // namespace ozy
