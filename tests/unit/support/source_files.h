// Test support: reading files of the source tree (examples, docs) by their
// path relative to the project root, which CMake passes as OZY_SOURCE_DIR.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace ozy::testing_support {

// The whole file, or nothing when it cannot be opened.
inline std::optional<std::string> readSourceFile(std::string_view relativePath) {
  std::ifstream in(std::string(OZY_SOURCE_DIR) + "/" + std::string(relativePath), std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ozy::testing_support
