// What the API's route handlers share: JSON answers, problems as HTTP, and
// reading a request's JSON body and numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "http/message.h"
#include "problem/problem.h"

namespace ozy::api {

// Compact JSON; text that is not UTF-8 is replaced, never refused.
http::Response jsonResponse(int status, const nlohmann::json& body);
http::Response problem(const Problem& p);
http::Response methodNotAllowed(const http::Request& req, std::string_view allow);
Result<nlohmann::json, Problem> jsonBody(const http::Request& req);
// A decimal number and nothing else.
std::optional<std::uint64_t> parseNumber(std::string_view text);

}  // namespace ozy::api
