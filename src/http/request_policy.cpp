// The API's admission rules; see request_policy.h for why each exists.
#include "http/request_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "http/http_problems.h"
#include "http/problem_response.h"

namespace ozy::http {

namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The canonical text of an IP address ("::0001" -> "::1"), or nullopt.
std::optional<std::string> canonicalIp(const std::string& host) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return address.to_string();
}

bool hasBody(const Request& head) {
  if (head.headers.contains("Transfer-Encoding")) return true;
  const auto length = head.headers.get("Content-Length");
  return length && trimWhitespace(*length) != "0";
}

// application/json and application/yaml (and its older name), with any
// parameters such as charset.
bool isAcceptedBodyType(std::string_view contentType) {
  const std::string type = lowercase(trimWhitespace(contentType.substr(0, contentType.find(';'))));
  return type == "application/json" || type == "application/yaml" || type == "application/x-yaml";
}

Response refusal(const ProblemType& type, std::string detail) {
  return problemResponse(makeProblem(type, std::move(detail)));
}

}  // namespace

std::optional<std::string> hostOfHeader(std::string_view value) {
  value = trimWhitespace(value);
  if (value.empty()) return std::nullopt;
  std::string_view host;
  std::string_view rest;
  if (value.front() == '[') {
    const auto close = value.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = value.substr(1, close - 1);
    rest = value.substr(close + 1);
  } else {
    const auto colon = value.find(':');
    host = value.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : value.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() == 1 ||
        rest.substr(1).find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
  }
  if (host.empty()) return std::nullopt;
  std::string out = lowercase(host);
  if (out.back() == '.') out.pop_back();  // "localhost." is "localhost"
  return out;
}

RequestPolicy::RequestPolicy(RequestPolicyConfig config)
    : config_(std::move(config)), token_(config_.token) {
  for (const auto& host : config_.hosts) {
    // A bare IPv6 address has colons that are not a port's.
    if (auto ip = canonicalIp(host)) {
      hosts_.insert(*ip);
    } else if (auto parsed = hostOfHeader(host)) {
      hosts_.insert(*parsed);
    }
  }
}

bool RequestPolicy::hostAllowed(std::string_view host) const {
  const std::string name(host);
  if (const auto ip = canonicalIp(name)) return hosts_.contains(*ip) || config_.anyAddress;
  return hosts_.contains(name);
}

std::optional<Response> RequestPolicy::admit(const Request& head) const {
  const auto hosts = head.headers.getAll("Host");
  if (hosts.size() > 1) return refusal(problems::kBadRequest, "The request has more than one Host field.");
  // HTTP/1.0 clients may send no Host; browsers always send one.
  if (hosts.size() == 1) {
    const auto host = hostOfHeader(hosts.front());
    if (!host) return refusal(problems::kBadRequest, "The Host field is not a host name or address.");
    if (!hostAllowed(*host)) {
      return refusal(problems::kHostNotAllowed,
                     fmt::format("This API does not answer for the host \"{}\"; use the agent's "
                                 "address, or have the operator add the name with --api-host.",
                                 host->substr(0, 100)));
    }
  }
  if (const auto origin = head.headers.get("Origin")) {
    const auto& allowed = config_.origins;
    if (std::find(allowed.begin(), allowed.end(), *origin) == allowed.end()) {
      return refusal(problems::kOriginNotAllowed,
                     "Requests from web pages are refused unless the operator allows their "
                     "origin with --allow-origin.");
    }
  }
  const bool isPublic =
      (head.method == "GET" || head.method == "HEAD") &&
      std::find(config_.publicPaths.begin(), config_.publicPaths.end(), head.path) !=
          config_.publicPaths.end();
  if (!isPublic) {
    if (auto denied = token_.check(head)) return denied;
  }
  if (hasBody(head) && !isAcceptedBodyType(head.headers.get("Content-Type").value_or(""))) {
    return refusal(problems::kUnsupportedMediaType,
                   "The request body must be JSON or YAML: send Content-Type: application/json "
                   "or application/yaml.");
  }
  return std::nullopt;
}

}  // namespace ozy::http
