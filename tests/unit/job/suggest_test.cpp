// "Did you mean ...?": the edit distance behind it, and when a misspelt word
// is close enough to a known one to suggest it.
#include "job/suggest.h"

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ozy {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  const struct {
    std::string_view a;
    std::string_view b;
    std::size_t distance;
  } cases[] = {
      {"", "", 0},
      {"image", "image", 0},
      {"", "abc", 3},
      {"abc", "", 3},
      {"imag", "image", 1},    // insertion
      {"imagee", "image", 1},  // deletion
      {"imaqe", "image", 1},   // substitution
      {"imgae", "image", 2},   // a transposition is two edits
      {"kitten", "sitting", 3},
      {"depends-on", "depends_on", 1},
      {"flaw", "lawn", 2},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.a) + " / " + std::string(c.b));
    EXPECT_EQ(editDistance(c.a, c.b), c.distance);
    EXPECT_EQ(editDistance(c.b, c.a), c.distance) << "not symmetric";
  }
}

TEST(EditDistance, IgnoresCase) {
  EXPECT_EQ(editDistance("Image", "image"), 0u);
  EXPECT_EQ(editDistance("NUMINSTANCES", "numInstances"), 0u);
  EXPECT_EQ(editDistance("Imag", "image"), 1u);
}

constexpr std::array<std::string_view, 9> kContainerFields = {
    "image",      "restart", "command",     "environment", "ports",
    "depends_on", "memory",  "healthcheck", "volumes"};

TEST(ClosestMatch, SuggestsTheCandidateATypoWasMeantToBe) {
  const struct {
    std::string_view word;
    std::string_view expected;
  } cases[] = {
      {"imag", "image"},
      {"Image", "image"},
      {"memroy", "memory"},  // two edits are allowed in six letters
      {"dependson", "depends_on"},
      {"depends-on", "depends_on"},
      {"enviroment", "environment"},
      {"helthcheck", "healthcheck"},
      {"volume", "volumes"},
      {"port", "ports"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.word);
    EXPECT_EQ(closestMatch(c.word, kContainerFields), std::optional<std::string>(c.expected));
  }
}

TEST(ClosestMatch, SuggestsNothingForAWordThatIsNotATypo) {
  const std::string_view cases[] = {"cpu", "labels", "network", "x", ""};
  for (auto word : cases) {
    SCOPED_TRACE(word);
    EXPECT_EQ(closestMatch(word, kContainerFields), std::nullopt);
  }
}

TEST(ClosestMatch, AllowsOneEditInAShortWord) {
  constexpr std::array<std::string_view, 3> kRestart = {"always", "on-failure", "no"};
  EXPECT_EQ(closestMatch("alway", kRestart), "always");
  EXPECT_EQ(closestMatch("n", kRestart), "no");
  EXPECT_EQ(closestMatch("on-failur", kRestart), "on-failure");
  EXPECT_EQ(closestMatch("nope", kRestart), std::nullopt);  // two edits in four letters
}

TEST(ClosestMatch, PrefersTheNearestAndThenTheFirstListed) {
  constexpr std::array<std::string_view, 3> kCandidates = {"tcp", "http", "udp"};
  EXPECT_EQ(closestMatch("htp", kCandidates), "http");  // distance 1 beats "tcp" at 2
  constexpr std::array<std::string_view, 2> kTied = {"bat", "cat"};
  EXPECT_EQ(closestMatch("at", kTied), "bat");
}

TEST(ClosestMatch, SuggestsNothingWithoutCandidates) {
  EXPECT_EQ(closestMatch("image", std::span<const std::string_view>{}), std::nullopt);
}

TEST(ClosestMatch, GivesUpOnVeryLongWords) {
  const std::string longWord(65, 'a');
  const std::array<std::string_view, 1> candidates = {std::string_view(longWord)};
  EXPECT_EQ(closestMatch(longWord, candidates), std::nullopt);
  const std::string limit(64, 'a');
  EXPECT_EQ(closestMatch(limit, std::array<std::string_view, 1>{limit}), limit);
}

}  // namespace
}  // namespace ozy
