#include "cli/report.h"

#include <iostream>

#include <fmt/format.h>

#include "cli/input_file.h"
#include "job/job_parser.h"

namespace ozy {

void printProblem(const Problem& problem, bool json) {
  if (json) {
    std::cout << problem.dump(2) << '\n';
    return;
  }
  std::cerr << fmt::format("error: {}: {}\n", problem.type.title, problem.detail);
  const auto errors = problem.extensions.find("errors");
  if (errors != problem.extensions.end() && errors->size() > 1) {
    for (const auto& e : *errors) {
      FieldError fe{e.value("path", ""), e.value("message", ""), e.value("line", 0),
                    e.value("column", 0)};
      std::cerr << "  " << fe.toString() << '\n';
    }
  }
  std::cerr << fmt::format("  see docs/errors.md#{}\n", problem.type.slug);
}

std::optional<Job> loadJobFile(const std::string& path, bool json) {
  const YamlLimits limits;
  auto text = readInputFile(path, limits.maxBytes);
  if (!text) {
    if (text.error().tooLarge) {
      printProblem(makeProblem(problems::kJobFileTooLarge,
                               fmt::format("The job file is too large: {}.", text.error().message),
                               {{"file", path}}),
                   json);
    } else if (json) {
      printProblem(makeProblem(problems::kInvalidJob, text.error().message, {{"file", path}}), true);
    } else {
      std::cerr << "error: " << text.error().message << '\n';
    }
    return std::nullopt;
  }
  auto job = parseJob(*text, limits);
  if (!job) {
    Problem problem = toProblem(job.error());
    problem.extensions["file"] = path;
    if (!json) problem.detail = fmt::format("{}: {}", path, problem.detail);
    printProblem(problem, json);
    return std::nullopt;
  }
  return std::move(job).value();
}

}  // namespace ozy
