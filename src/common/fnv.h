// FNV-1a, 64 bits: a hash that is the same in every process and build, for
// values that agents compare with each other or keep across restarts.
#pragma once

#include <cstdint>
#include <string_view>

namespace ozy {

constexpr std::uint64_t kFnvOffset = 1469598103934665603ULL;

constexpr std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = kFnvOffset) {
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace ozy
