// "Did you mean ...?" for misspelt keys and enum values.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ozy {

// Levenshtein distance, case-insensitive; for short identifiers only.
std::size_t editDistance(std::string_view a, std::string_view b);

// The closest candidate when it is close enough to be a plausible typo
// (at most a third of the word's length edited, and at least one edit allowed).
std::optional<std::string> closestMatch(std::string_view word,
                                        std::span<const std::string_view> candidates);

}  // namespace ozy
