// Turning an RFC 7807 Problem into the HTTP response that carries it.
#pragma once

#include "http/message.h"
#include "problem/problem.h"

namespace ozy::http {

inline constexpr std::string_view kProblemContentType = "application/problem+json";

// Status from the problem's type, Content-Type application/problem+json,
// body Problem::dump().
Response problemResponse(const Problem& problem);

}  // namespace ozy::http
