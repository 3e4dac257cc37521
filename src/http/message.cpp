// Headers' case-insensitive lookup and Request's query lookup.
#include "http/message.h"

#include <algorithm>

namespace ozy::http {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
}  // namespace

std::string_view trimWhitespace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool isValidFieldName(std::string_view name) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

bool isValidFieldValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void Headers::add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::set(std::string name, std::string value) {
  std::erase_if(fields_, [&](const Field& f) { return equalsIgnoringCase(f.first, name); });
  add(std::move(name), std::move(value));
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& [fieldName, value] : fields_) {
    if (equalsIgnoringCase(fieldName, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::getAll(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const auto& [fieldName, value] : fields_) {
    if (equalsIgnoringCase(fieldName, name)) values.emplace_back(value);
  }
  return values;
}

std::optional<std::string_view> Request::queryParameter(std::string_view name) const {
  for (const auto& parameter : query) {
    if (parameter.name == name) return std::string_view(parameter.value);
  }
  return std::nullopt;
}

}  // namespace ozy::http
