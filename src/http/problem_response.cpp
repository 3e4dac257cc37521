// Problem -> Response.
#include "http/problem_response.h"

namespace ozy::http {

Response problemResponse(const Problem& problem) {
  Response response;
  response.status = problem.type.status;
  response.contentType = std::string(kProblemContentType);
  response.body = problem.dump();
  return response;
}

}  // namespace ozy::http
