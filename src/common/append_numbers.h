// Appends numbers to text, comma separated: the hot path of writing the
// thousands of instance ids a large job's records and answers hold
// (fmt::join through a back_inserter costs several times more).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace ozy {

inline void appendNumbers(std::string& out, const std::vector<std::uint32_t>& numbers) {
  out.reserve(out.size() + numbers.size() * 7);
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (i > 0) out += ',';
    const fmt::format_int text(numbers[i]);
    out.append(text.data(), text.size());
  }
}

}  // namespace ozy
