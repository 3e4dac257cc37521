// What the ingress accepts from a client, and how a request and its response
// are rewritten on the way through. Pure: Beast headers in, Beast headers out,
// no sockets (docs/ingress.md#http).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "problem/problem.h"

namespace ozy::ingress {

namespace bhttp = boost::beast::http;

struct Refusal {
  ProblemType type;
  std::string detail;
};

// The host the request is for (lowercase, without a port), or why it is
// refused; a refused request's connection is closed after the answer,
// because its framing can no longer be trusted. Refused: the smuggling shapes
// of http/framing.h; a target with control characters or spaces; no Host,
// more than one, or one that is not a host name or address; an
// absolute-form target whose authority is not the Host; CONNECT and other
// forward-proxy forms.
Result<std::string, Refusal> checkRequest(const bhttp::request_header<>& header);

// Networks whose X-Forwarded-* headers are believed (a load balancer in front
// of the ingress). Anyone else's are replaced by what the ingress saw.
class TrustedNetworks {
 public:
  TrustedNetworks() = default;
  // CIDRs such as "10.0.0.0/8" or "fd00::/8"; an address alone is one host.
  static Result<TrustedNetworks, std::string> parse(const std::vector<std::string>& cidrs);
  bool contains(const boost::asio::ip::address& address) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }

 private:
  std::vector<std::pair<std::uint32_t, std::uint32_t>> v4_;  // network, mask
  std::vector<std::pair<boost::asio::ip::address_v6::bytes_type, unsigned>> v6_;
};

// Who sent a request, as the rewrite needs it.
struct Client {
  std::string address;  // the peer's IP address, IPv4-mapped ones as IPv4
  bool trusted = false; // its X-Forwarded-* headers are kept (and appended to)
};

bool isWebSocketUpgrade(const bhttp::request_header<>& header);
// RFC 9110 section 9.2.2: may be sent twice with the effect of once.
bool isIdempotent(bhttp::verb method);

// The request as sent to a backend: hop-by-hop fields gone (Connection and
// every field it names, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
// Upgrade, Expect, which the ingress answers itself), X-Forwarded-For,
// -Proto and -Host set (appended to when the client is trusted), an
// absolute-form target made origin-form, HTTP/1.1 with keep-alive. A
// WebSocket upgrade keeps Upgrade and Connection: upgrade. The body's framing
// is the caller's to set.
void toUpstream(bhttp::request_header<>& header, const Client& client, bool websocket);

// The response as sent to the client: hop-by-hop fields gone (a 101's
// Upgrade and Connection kept). Framing and keep-alive are the caller's.
void toDownstream(bhttp::response_header<>& header, bool upgraded);

}  // namespace ozy::ingress
