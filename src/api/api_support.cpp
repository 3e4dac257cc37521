#include "api/api_support.h"

#include <charconv>

#include <fmt/format.h>

#include "http/http_problems.h"
#include "http/problem_response.h"

namespace ozy::api {

using nlohmann::json;

http::Response jsonResponse(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.contentType = "application/json";
  // Compact: a 10,000-instance answer stays small and quick to write.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

http::Response problem(const Problem& p) { return http::problemResponse(p); }

http::Response methodNotAllowed(const http::Request& req, std::string_view allow) {
  http::Response r = problem(makeProblem(
      problems::kMethodNotAllowed,
      fmt::format("{} is not allowed on {}; use {}.", req.method.substr(0, 16), req.path.substr(0, 200), allow)));
  r.headers.set("Allow", std::string(allow));
  return r;
}

Result<json, Problem> jsonBody(const http::Request& req) {
  try {
    return json::parse(req.body);
  } catch (const json::exception& e) {
    return fail(makeProblem(problems::kBadRequest, fmt::format("The body is not JSON: {}.", e.what())));
  }
}

std::optional<std::uint64_t> parseNumber(std::string_view text) {
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

}  // namespace ozy::api
