#include "cli/config_file.h"

#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "job/suggest.h"

namespace ozy {

Result<std::monostate, std::string> applyConfigFile(CLI::App& command, const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    return fail(fmt::format("--config {}: no such file", path));
  }
  CLI::ConfigTOML format;
  std::vector<CLI::ConfigItem> items;
  try {
    items = format.from_file(path);
  } catch (const CLI::ParseError& e) {
    return fail(fmt::format("{}: {}", path, e.what()));
  }
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    if (!option->get_lnames().empty()) names.push_back(option->get_lnames().front());
  }
  const std::vector<std::string_view> candidates(names.begin(), names.end());
  for (const CLI::ConfigItem& item : items) {
    // Section markers ("++", "--") and a [section] of their own: flags live
    // at the top of the file.
    if (item.name == "++" || item.name == "--") continue;
    if (!item.parents.empty()) {
      return fail(fmt::format("{}: {}: sections are not read; put the flags at the top of the file",
                              path, item.fullname()));
    }
    CLI::Option* option = command.get_option_no_throw("--" + item.name);
    if (option == nullptr || item.name == "config") {
      std::string message = fmt::format("{}: {} is not a flag of `ozy {}`", path, item.name, command.get_name());
      if (auto guess = closestMatch(item.name, candidates)) message += fmt::format(" (did you mean {}?)", *guess);
      return fail(message);
    }
    if (option->count() > 0) continue;  // the command line wins
    try {
      if (option->get_expected_min() == 0) {
        option->add_result(option->get_flag_value(item.name, format.to_flag(item)));
      } else {
        option->add_result(item.inputs);
      }
      option->run_callback();
    } catch (const CLI::Error& e) {
      return fail(fmt::format("{}: {}: {}", path, item.name, e.what()));
    }
  }
  return std::monostate{};
}

}  // namespace ozy
