#include "ingress/request_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cctype>
#include <charconv>

#include "http/framing.h"
#include "http/http_problems.h"
#include "http/message.h"
#include "http/request_policy.h"
#include "ingress/ingress_problems.h"

namespace ozy::ingress {

namespace net = boost::asio;

namespace {

std::string_view toStd(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

Refusal badRequest(std::string detail) {
  return Refusal{problems::kBadRequest, std::move(detail)};
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The comma-separated tokens of every field named `name`, lowercased.
std::vector<std::string> tokens(const bhttp::fields& fields, bhttp::field name) {
  std::vector<std::string> out;
  auto [begin, end] = fields.equal_range(name);
  for (auto it = begin; it != end; ++it) {
    std::string_view rest = toStd(it->value());
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view token = http::trimWhitespace(rest.substr(0, comma));
      if (!token.empty()) out.push_back(lower(token));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool hasToken(const bhttp::fields& fields, bhttp::field name, std::string_view token) {
  const auto all = tokens(fields, name);
  return std::find(all.begin(), all.end(), token) != all.end();
}

// Connection and what it names, and the fields RFC 9110 section 7.6.1 and
// DESIGN.md call hop-by-hop. `keepUpgrade`: a WebSocket handshake's own.
template <bool isRequest>
void stripHopByHop(bhttp::header<isRequest, bhttp::fields>& header, bool keepUpgrade) {
  for (const std::string& named : tokens(header, bhttp::field::connection)) {
    // Never let a sender make the ingress drop Host (the route is its own)
    // or Content-Length (a response without it would lose its framing).
    if (named == "host" || named == "content-length" || (keepUpgrade && named == "upgrade")) continue;
    header.erase(boost::beast::string_view(named.data(), named.size()));
  }
  header.erase(bhttp::field::connection);
  header.erase(bhttp::field::keep_alive);
  header.erase(bhttp::field::te);
  header.erase(bhttp::field::trailer);
  header.erase(bhttp::field::transfer_encoding);
  if (!keepUpgrade) header.erase(bhttp::field::upgrade);
  // Erased as found (erasing one field leaves the others' iterators valid);
  // compared in place, as this runs for every request.
  constexpr std::string_view kProxy = "proxy-";
  for (auto it = header.begin(); it != header.end();) {
    const std::string_view name = toStd(it->name_string());
    const bool proxy = name.size() > kProxy.size() &&
                       boost::beast::iequals(boost::beast::string_view(name.data(), kProxy.size()),
                                             boost::beast::string_view(kProxy.data(), kProxy.size()));
    it = proxy ? header.erase(it) : std::next(it);
  }
}

bool hasControlOrSpace(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

// "http://Host:80/path" -> "host:80" (the authority), or nullopt when the
// target is not absolute-form with an http or https scheme.
std::optional<std::string_view> absoluteAuthority(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() &&
        boost::beast::iequals(boost::beast::string_view(target.data(), scheme.size()),
                              boost::beast::string_view(scheme.data(), scheme.size()))) {
      std::string_view rest = target.substr(scheme.size());
      return rest.substr(0, rest.find_first_of("/?"));
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::string, Refusal> checkRequest(const bhttp::request_header<>& header) {
  if (std::string why = http::framingProblem(header); !why.empty()) return fail(badRequest(why));
  const std::string_view target = toStd(header.target());
  if (target.empty() || hasControlOrSpace(target)) {
    return fail(badRequest("the request target has control characters or spaces"));
  }
  if (header.method() == bhttp::verb::connect) {
    return fail(Refusal{problems::kNotAForwardProxy,
                        "the ingress serves the cluster's jobs; it does not open tunnels (CONNECT)"});
  }
  const auto hosts = header.count(bhttp::field::host);
  if (hosts == 0) return fail(badRequest("the request has no Host field, so it names no job"));
  if (hosts > 1) return fail(badRequest("the request has more than one Host field"));
  auto host = http::hostOfHeader(toStd(header[bhttp::field::host]));
  if (!host || host->empty()) {
    return fail(badRequest(fmt::format("Host \"{}\" is not a host name or address",
                                       toStd(header[bhttp::field::host]))));
  }
  if (target.front() != '/') {
    if (target == "*" && header.method() == bhttp::verb::options) return std::move(*host);
    const auto authority = absoluteAuthority(target);
    if (!authority) {
      return fail(Refusal{problems::kNotAForwardProxy,
                          "the request target must be a path (\"/...\") or an http URL"});
    }
    // RFC 9112 section 3.2.2: the target's authority wins over Host; two
    // that differ are how a front proxy and a backend are made to disagree.
    auto named = http::hostOfHeader(*authority);
    if (!named || *named != *host) {
      return fail(badRequest("the request target's host differs from its Host field"));
    }
  }
  return std::move(*host);
}

Result<TrustedNetworks, std::string> TrustedNetworks::parse(const std::vector<std::string>& cidrs) {
  TrustedNetworks networks;
  for (const std::string& text : cidrs) {
    const auto slash = text.find('/');
    boost::system::error_code ec;
    const auto address = net::ip::make_address(text.substr(0, slash), ec);
    if (ec) return fail(fmt::format("\"{}\" is not an IP address or CIDR", text));
    const unsigned maxBits = address.is_v4() ? 32 : 128;
    unsigned bits = maxBits;
    if (slash != std::string::npos) {
      const std::string_view digits = std::string_view(text).substr(slash + 1);
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || bits > maxBits) {
        return fail(fmt::format("\"{}\": the prefix length must be 0 to {}", text, maxBits));
      }
    }
    if (address.is_v4()) {
      const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
      networks.v4_.emplace_back(address.to_v4().to_uint() & mask, mask);
    } else {
      networks.v6_.emplace_back(address.to_v6().to_bytes(), bits);
    }
  }
  return networks;
}

bool TrustedNetworks::contains(const net::ip::address& given) const {
  net::ip::address address = given;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  if (address.is_v4()) {
    const std::uint32_t value = address.to_v4().to_uint();
    return std::any_of(v4_.begin(), v4_.end(),
                       [&](const auto& net4) { return (value & net4.second) == net4.first; });
  }
  const auto bytes = address.to_v6().to_bytes();
  return std::any_of(v6_.begin(), v6_.end(), [&](const auto& net6) {
    unsigned bits = net6.second;
    for (std::size_t i = 0; i < bytes.size() && bits > 0; ++i) {
      const unsigned take = std::min(bits, 8u);
      const auto mask = static_cast<unsigned char>(0xff << (8 - take));
      if ((bytes[i] & mask) != (net6.first[i] & mask)) return false;
      bits -= take;
    }
    return true;
  });
}

bool isWebSocketUpgrade(const bhttp::request_header<>& header) {
  return header.method() == bhttp::verb::get && hasToken(header, bhttp::field::connection, "upgrade") &&
         hasToken(header, bhttp::field::upgrade, "websocket");
}

bool isIdempotent(bhttp::verb method) {
  switch (method) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::trace:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
      return true;
    default:
      return false;
  }
}

void toUpstream(bhttp::request_header<>& header, const Client& client, bool websocket) {
  const std::string upgrade(toStd(header[bhttp::field::upgrade]));
  stripHopByHop(header, websocket);
  header.erase(bhttp::field::expect);
  const std::string host(toStd(header[bhttp::field::host]));
  if (client.trusted) {
    // Several X-Forwarded-For fields are one list (RFC 9110 section 5.3).
    std::string chain;
    auto [begin, end] = header.equal_range("X-Forwarded-For");
    for (auto it = begin; it != end; ++it) {
      if (!chain.empty()) chain += ", ";
      chain += toStd(it->value());
    }
    chain += chain.empty() ? client.address : ", " + client.address;
    header.set("X-Forwarded-For", chain);
    if (header.count("X-Forwarded-Proto") == 0) header.set("X-Forwarded-Proto", "http");
    if (header.count("X-Forwarded-Host") == 0) header.set("X-Forwarded-Host", host);
  } else {
    // A client could otherwise claim any address, or https.
    header.erase("Forwarded");
    header.erase("X-Forwarded-Port");
    header.set("X-Forwarded-For", client.address);
    header.set("X-Forwarded-Proto", "http");
    header.set("X-Forwarded-Host", host);
  }
  // A backend is an origin server, to which a client sends origin-form
  // (RFC 9112 section 3.2.1); checkRequest made sure the authority is Host.
  const std::string_view target = toStd(header.target());
  if (const auto authority = absoluteAuthority(target)) {
    const std::string_view rest = target.substr(static_cast<std::size_t>(authority->data() - target.data()) +
                                                authority->size());
    const std::string origin = rest.starts_with('/') ? std::string(rest) : "/" + std::string(rest);
    header.target(origin);
  }
  header.version(11);
  if (websocket) {
    header.set(bhttp::field::connection, "upgrade");
    header.set(bhttp::field::upgrade, upgrade);
  }
}

void toDownstream(bhttp::response_header<>& header, bool upgraded) {
  const std::string upgrade(toStd(header[bhttp::field::upgrade]));
  stripHopByHop(header, upgraded);
  if (upgraded) {
    header.set(bhttp::field::connection, "upgrade");
    header.set(bhttp::field::upgrade, upgrade);
  }
}

}  // namespace ozy::ingress
