// `ozy job validate`: check a job file and print it normalised.
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/input_file.h"
#include "cli/report.h"
#include "job/job_format.h"
#include "job/job_parser.h"

namespace ozy {
namespace {

struct ValidateOptions {
  std::string file;
  std::string output = "yaml";
};

int runValidate(const ValidateOptions& options) {
  const bool json = options.output == "json";
  auto job = loadJobFile(options.file, json);
  if (!job) return exit_code::kInvalidInput;
  if (json) {
    std::cout << toJson(*job).dump(2) << '\n';
  } else {
    std::cout << toYaml(*job);
  }
  return exit_code::kOk;
}

}  // namespace

void addJobCommands(CLI::App& app, Action& action) {
  auto* job = app.add_subcommand("job", "Work with jobs");
  job->require_subcommand(1);
  auto options = std::make_shared<ValidateOptions>();
  auto* validate = job->add_subcommand(
      "validate", "Check a job file; print it normalised, or every problem found");
  validate->add_option("FILE", options->file, "Job file (YAML or JSON); - reads standard input")
      ->required();
  validate->add_option("-o,--output", options->output, "Output format")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  validate->callback([options, &action] { action = [options] { return runValidate(*options); }; });
}

}  // namespace ozy
