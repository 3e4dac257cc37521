// IPv4 addresses and CIDR networks; see ipv4.h.
#include "network/ipv4.h"

#include <fmt/format.h>

#include <boost/asio/ip/address_v4.hpp>

namespace ozy {
namespace {

// The mask of a prefix length 0..32 (a shift by 32 would be undefined).
std::uint32_t maskOf(int prefixLength) {
  return prefixLength == 0 ? 0 : ~std::uint32_t{0} << (32 - prefixLength);
}

// A prefix length as written after '/' or '-': 0..32, decimal, no sign, no
// leading zero, so that every network has exactly one spelling.
std::optional<int> parsePrefixLength(std::string_view text) {
  if (text.empty() || text.size() > 2) return std::nullopt;
  if (text.size() == 2 && text[0] == '0') return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > 32) return std::nullopt;
  return value;
}

Result<Ipv4Cidr, std::string> parseWithSeparator(std::string_view text, char separator,
                                                 std::string_view example) {
  const auto at = text.rfind(separator);
  if (at == std::string_view::npos) {
    return fail(
        fmt::format("\"{}\" is not a network: it has no prefix length (as in {})", text, example));
  }
  auto address = Ipv4Address::parse(text.substr(0, at));
  if (!address) return fail(fmt::format("\"{}\" is not a network: {}", text, address.error()));
  const auto length = parsePrefixLength(text.substr(at + 1));
  if (!length) {
    return fail(
        fmt::format("\"{}\" is not a network: the prefix length \"{}\" is not a number "
                    "from 0 to 32",
                    text, text.substr(at + 1)));
  }
  const auto network = Ipv4Cidr::of(*address, *length);
  if (!network) {
    const Ipv4Address base(address->toUint() & maskOf(*length));
    return fail(fmt::format("\"{}\" has host bits set: the network is {}{}{}", text,
                            base.toString(), separator, *length));
  }
  return *network;
}

}  // namespace

Result<Ipv4Address, std::string> Ipv4Address::parse(std::string_view text) {
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address_v4(std::string(text), error);
  if (error) {
    return fail(
        fmt::format("\"{}\" is not an IPv4 address (four numbers 0 to 255 without "
                    "leading zeros, as in 10.0.0.5)",
                    text));
  }
  return Ipv4Address(address.to_uint());
}

std::string Ipv4Address::toString() const {
  return boost::asio::ip::address_v4(value_).to_string();
}

std::optional<Ipv4Cidr> Ipv4Cidr::of(Ipv4Address base, int prefixLength) {
  if (prefixLength < 0 || prefixLength > 32) return std::nullopt;
  if ((base.toUint() & ~maskOf(prefixLength)) != 0) return std::nullopt;
  return Ipv4Cidr(base, prefixLength);
}

Result<Ipv4Cidr, std::string> Ipv4Cidr::parse(std::string_view text) {
  return parseWithSeparator(text, '/', "10.244.0.0/16");
}

Result<Ipv4Cidr, std::string> Ipv4Cidr::fromFlannelKey(std::string_view text) {
  return parseWithSeparator(text, '-', "10.244.3.0-24");
}

Ipv4Address Ipv4Cidr::last() const {
  return Ipv4Address(base_.toUint() | ~maskOf(prefixLength_));
}

bool Ipv4Cidr::contains(Ipv4Address address) const {
  return (address.toUint() & maskOf(prefixLength_)) == base_.toUint();
}

bool Ipv4Cidr::contains(const Ipv4Cidr& other) const {
  return other.prefixLength_ >= prefixLength_ && contains(other.base_);
}

bool Ipv4Cidr::overlaps(const Ipv4Cidr& other) const {
  return contains(other) || other.contains(*this);
}

std::uint64_t Ipv4Cidr::subnetCount(int subnetLength) const {
  if (subnetLength < prefixLength_ || subnetLength > 32) return 0;
  return std::uint64_t{1} << (subnetLength - prefixLength_);
}

std::optional<Ipv4Cidr> Ipv4Cidr::subnet(int subnetLength, std::uint64_t index) const {
  if (index >= subnetCount(subnetLength)) return std::nullopt;
  const std::uint64_t step = std::uint64_t{1} << (32 - subnetLength);
  return Ipv4Cidr(Ipv4Address(static_cast<std::uint32_t>(base_.toUint() + index * step)),
                  subnetLength);
}

std::string Ipv4Cidr::toString() const {
  return fmt::format("{}/{}", base_.toString(), prefixLength_);
}

std::string Ipv4Cidr::toFlannelKey() const {
  return fmt::format("{}-{}", base_.toString(), prefixLength_);
}

}  // namespace ozy
