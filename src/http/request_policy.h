// RequestPolicy: who may talk to the agent's API, decided from a request's
// header before its body is read (HttpServerConfig::admit).
//
// Loopback is not a trust boundary: every local user and every page in a
// local browser can reach it. So, in this order:
//   1. Host must name the listener (an address it listens on, or a name the
//      operator configured): a page that rebinds its own domain to 127.0.0.1
//      sends its own name, and gets 421.
//   2. Origin, when present, must be one the operator allowed: browsers send
//      it on cross-origin requests, which get 403.
//   3. The bearer token (http/auth.h), on everything but the public paths.
//   4. A body must be JSON or YAML by its Content-Type (415 otherwise): the
//      types an HTML form or a "simple" cross-origin request can send
//      (text/plain, form encodings) are refused even if the rest got through.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http/auth.h"
#include "http/message.h"

namespace ozy::http {

struct RequestPolicyConfig {
  std::string token;
  // Host names and IP addresses the Host header may name (its port is not
  // compared: a proxy or port forward may change it).
  std::vector<std::string> hosts;
  // The listener takes every address ("0.0.0.0", "::"): any IP address in
  // Host is one of its own or a forward's. A name still has to be listed.
  bool anyAddress = false;
  // Origin values allowed, exactly as browsers send them ("https://ui:8443").
  std::vector<std::string> origins;
  // Paths anyone may GET without a token (documentation).
  std::vector<std::string> publicPaths;
};

class RequestPolicy {
 public:
  explicit RequestPolicy(RequestPolicyConfig config);

  // Nullopt admits the request; otherwise the response that refuses it.
  std::optional<Response> admit(const Request& head) const;

 private:
  bool hostAllowed(std::string_view host) const;

  RequestPolicyConfig config_;
  BearerToken token_;
  std::set<std::string> hosts_;  // lowercased
};

// The host part of a Host header value ("[::1]:7700" -> "::1",
// "Node.Example:80" -> "node.example"); nullopt when it is malformed.
std::optional<std::string> hostOfHeader(std::string_view value);

}  // namespace ozy::http
