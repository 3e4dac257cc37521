#include "problem/problem.h"

#include <fmt/format.h>

namespace ozy {

std::string FieldError::toString() const {
  std::string out = path.empty() ? message : fmt::format("{}: {}", path, message);
  if (line > 0) out += fmt::format(" (line {})", line);
  return out;
}

std::string Problem::typeUri() const { return fmt::format("{}{}", kProblemTypeBase, type.slug); }

nlohmann::json Problem::toJson() const {
  nlohmann::json out = extensions.is_object() ? extensions : nlohmann::json::object();
  // The standard members win over any extension of the same name.
  out["type"] = typeUri();
  out["title"] = std::string(type.title);
  out["status"] = type.status;
  out["detail"] = detail;
  return out;
}

std::string Problem::dump(int indent) const {
  return toJson().dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

Problem makeProblem(ProblemType type, std::string detail, nlohmann::json extensions) {
  return Problem{type, std::move(detail), std::move(extensions)};
}

nlohmann::json toJson(const FieldError& error) {
  nlohmann::json out{{"path", error.path}, {"message", error.message}};
  if (error.line > 0) {
    out["line"] = error.line;
    out["column"] = error.column;
  }
  return out;
}

Problem makeFieldProblem(ProblemType type, std::string detail,
                         const std::vector<FieldError>& errors, nlohmann::json extensions) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : errors) list.push_back(toJson(e));
  extensions["errors"] = std::move(list);
  return makeProblem(type, std::move(detail), std::move(extensions));
}

}  // namespace ozy
