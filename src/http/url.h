// Base URLs of an agent's API, as the CLI and tests name them:
// "http://host:port" or "https://host:port". Nothing more of URL syntax.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ozy::http {

struct BaseUrl {
  bool tls = false;
  std::string host;  // a DNS name or an IP address, without IPv6 brackets
  std::uint16_t port = 0;

  // "host:port", bracketing IPv6 addresses; used in Host headers and errors.
  std::string authority() const;
  std::string toString() const;  // "https://host:port"
};

// Accepts a scheme (http or https, any case), a host, an optional port
// (default 80 or 443) and an optional trailing "/"; refuses paths, queries,
// user information and anything else, saying what is wrong.
Result<BaseUrl, std::string> parseBaseUrl(std::string_view url);

}  // namespace ozy::http
