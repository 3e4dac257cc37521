// Reading untrusted YAML: loadYaml()'s limits (size, alias expansion in values
// and in bytes, list length, depth, one document), FieldReader's reporting of
// unknown and repeated keys and bad values with their paths, and shell-like
// splitting of command strings.
#include "job/yaml_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "../support/field_errors.h"

namespace ozy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_support::fieldError;
using Kind = YamlLoadError::Kind;

// The error loadYaml() gives for `text`; fails the test if it loads.
YamlLoadError loadError(std::string_view text, const YamlLimits& limits = {}) {
  auto loaded = loadYaml(text, limits);
  if (loaded.ok()) {
    ADD_FAILURE() << "loaded without error:\n" << text.substr(0, 200);
    return YamlLoadError{Kind::kInvalid, FieldError{}};
  }
  return loaded.error();
}

// "[[[...]]]" nested `depth` times.
std::string nestedLists(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// A flow list of one anchored string of `length` x's and `aliases` aliases of it.
std::string aliasedLongString(std::size_t length, std::size_t aliases) {
  std::string text = "[&a \"" + std::string(length, 'x') + "\"";
  text.reserve(text.size() + aliases * 4 + 2);
  for (std::size_t i = 0; i < aliases; ++i) text += ", *a";
  return text + "]\n";
}

// "[0, 0, ...]" with `entries` entries.
std::string flowList(std::size_t entries) {
  std::string text = "[";
  for (std::size_t i = 0; i < entries; ++i) text += i ? ", 0" : "0";
  return text + "]";
}

// "{k0: 0, k1: 0, ...}" with `entries` entries.
std::string flowMapping(std::size_t entries) {
  std::string text = "{";
  for (std::size_t i = 0; i < entries; ++i) text += (i ? ", k" : "k") + std::to_string(i) + ": 0";
  return text + "}";
}

constexpr std::size_t kKiB = 1024;

// ---- loadYaml -------------------------------------------------------------

TEST(LoadYaml, LoadsOneDocument) {
  auto loaded = loadYaml("name: web\nnumInstances: 3\n");
  ASSERT_TRUE(loaded.ok()) << loaded.error().error.toString();
  EXPECT_TRUE(loaded->IsMap());
  EXPECT_EQ((*loaded)["name"].Scalar(), "web");
}

TEST(LoadYaml, LoadsJsonAsYaml) {
  auto loaded = loadYaml(R"({"name": "web", "containers": {"app": {"image": "nginx"}}})");
  ASSERT_TRUE(loaded.ok()) << loaded.error().error.toString();
  EXPECT_EQ((*loaded)["containers"]["app"]["image"].Scalar(), "nginx");
}

TEST(LoadYaml, AllowsModestUseOfAliases) {
  auto loaded = loadYaml("a: &a [1, 2]\nb: &b [*a, *a]\nc: [*b, *b]\n");
  ASSERT_TRUE(loaded.ok()) << loaded.error().error.toString();
  EXPECT_EQ((*loaded)["c"][1][0][1].Scalar(), "2");
}

TEST(LoadYaml, RefusesTextOverTheByteLimitBeforeParsingIt) {
  const YamlLimits limits{.maxBytes = 100};
  // Unparseable on purpose: the size is checked first, so this is "too large".
  const YamlLoadError error = loadError(std::string(101, '['), limits);
  EXPECT_EQ(error.kind, Kind::kTooLarge);
  EXPECT_THAT(error.error.message, HasSubstr("101 bytes; at most 100 are accepted"));
  EXPECT_TRUE(loadYaml(std::string(100, 'a'), limits).ok());
}

TEST(LoadYaml, RefusesOneMebibyteAndMoreByDefault) {
  const std::string text = "a: " + std::string(1024 * 1024, 'x');
  EXPECT_EQ(loadError(text).kind, Kind::kTooLarge);
}

// Ten anchors, each a list of ten aliases of the one before: 10^10 values
// once expanded, from a few hundred bytes of text.
TEST(LoadYaml, RefusesABillionLaughsAliasBombQuickly) {
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 10; ++level) {
    const std::string alias = "*l" + std::to_string(level - 1);
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + alias;
    text += "]\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const YamlLoadError error = loadError(text);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("too complex"));
  EXPECT_THAT(error.error.message, HasSubstr("aliases are expanded"));
  EXPECT_GT(error.error.line, 0);
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST(LoadYaml, CountsAnAliasAsEverythingItRefersTo) {
  // 11 values as written, 20 with each *a expanded to its list of three.
  const std::string_view text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n";
  EXPECT_TRUE(loadYaml(text, YamlLimits{.maxNodes = 20}).ok());
  const YamlLoadError error = loadError(text, YamlLimits{.maxNodes = 19});
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("more than 19 values"));
}

// The shape of a reported attack: under 1 MiB as written, but a 400 KiB string
// repeated 140,000 times once expanded (56 GB), while it counts as only
// 140,001 values.
TEST(LoadYaml, RefusesALongStringAliasedManyTimes) {
  const std::string text = aliasedLongString(400 * kKiB, 140'000);
  ASSERT_LT(text.size(), YamlLimits{}.maxBytes);
  const YamlLoadError error = loadError(text);
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_EQ(error.error.message,
            "the document is too large once aliases are expanded: more than 4194304 bytes");
  EXPECT_EQ(error.error.line, 1);
  EXPECT_GT(error.error.column, 1);
}

TEST(LoadYaml, AcceptsALongStringAliasedWithinTheByteLimit) {
  // Ten copies of 400 KiB: 4,000 KiB of the 4 MiB allowed.
  auto loaded = loadYaml(aliasedLongString(400 * kKiB, 9));
  ASSERT_TRUE(loaded.ok()) << loaded.error().error.toString();
  ASSERT_EQ(loaded->size(), 10u);
  EXPECT_EQ((*loaded)[9].Scalar().size(), 400 * kKiB);
}

TEST(LoadYaml, CountsAnAliasAsTheBytesOfEverythingItRefersTo) {
  // Keys count too: "a" + "abc" + "de" + "b" as written, and 2 x 5 for the aliases.
  const std::string_view text = "a: &a [abc, de]\nb: [*a, *a]\n";
  EXPECT_TRUE(loadYaml(text, YamlLimits{.maxExpandedBytes = 17}).ok());
  const YamlLoadError error = loadError(text, YamlLimits{.maxExpandedBytes = 16});
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("more than 16 bytes"));
  EXPECT_EQ(error.error.line, 2);
}

TEST(LoadYaml, AcceptsListsOfTenThousandEntriesAndRefusesLonger) {
  EXPECT_TRUE(loadYaml("list: " + flowList(10'000)).ok());
  const YamlLoadError error = loadError("name: x\nlist: " + flowList(10'001));
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_EQ(error.error.message, "a list has more than 10000 entries");
  // Where the list starts, not where it crossed the limit.
  EXPECT_EQ(error.error.line, 2);
  EXPECT_EQ(error.error.column, 7);
}

TEST(LoadYaml, AcceptsMappingsOfTenThousandEntriesAndRefusesLonger) {
  EXPECT_TRUE(loadYaml("map: " + flowMapping(10'000)).ok());
  const YamlLoadError error = loadError("map: " + flowMapping(10'001));
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_EQ(error.error.message, "a mapping has more than 10000 entries");
  EXPECT_EQ(error.error.line, 1);
}

TEST(LoadYaml, CountsAliasesAsEntriesOfTheirList) {
  const std::string_view text = "a: &a x\nb: [*a, *a, *a]\n";
  EXPECT_TRUE(loadYaml(text, YamlLimits{.maxEntries = 3}).ok());
  EXPECT_THAT(loadError(text, YamlLimits{.maxEntries = 2}).error.message,
              HasSubstr("a list has more than 2 entries"));
}

TEST(LoadYaml, RefusesAnAliasInsideTheNodeItNames) {
  const YamlLoadError error = loadError("&a [*a]");
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("refers to the node that contains it"));

  const YamlLoadError inMapping = loadError("a: &a\n  b: *a\n");
  EXPECT_THAT(inMapping.error.message, HasSubstr("refers to the node that contains it"));
}

TEST(LoadYaml, RefusesAnAliasToAnUndefinedAnchor) {
  const YamlLoadError error = loadError("a: *nowhere\n");
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("not valid YAML"));
}

TEST(LoadYaml, AcceptsSixtyFourLevelsOfNestingAndRefusesMore) {
  EXPECT_TRUE(loadYaml(nestedLists(64)).ok());
  const YamlLoadError error = loadError(nestedLists(65));
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("nests deeper than 64 levels"));
  // Far deeper input is refused the same way, without exhausting the stack.
  EXPECT_THAT(loadError(nestedLists(100000)).error.message, HasSubstr("nests deeper"));
}

TEST(LoadYaml, CountsNestedMappingsAsLevelsToo) {
  std::string text;
  for (int i = 0; i < 65; ++i) text += std::string(2 * i, ' ') + "a:\n";
  text += std::string(130, ' ') + "b: 1\n";
  EXPECT_THAT(loadError(text).error.message, HasSubstr("nests deeper than 64 levels"));
}

TEST(LoadYaml, RefusesMoreThanOneDocument) {
  const YamlLoadError error = loadError("name: a\n---\nname: b\n");
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("more than one YAML document"));
}

TEST(LoadYaml, RefusesAnEmptyFile) {
  const std::string_view cases[] = {"", "\n\n", "# only a comment\n", "---\n", "~\n", "null\n"};
  for (auto text : cases) {
    SCOPED_TRACE(text);
    const YamlLoadError error = loadError(text);
    EXPECT_EQ(error.kind, Kind::kInvalid);
    EXPECT_THAT(error.error.message, HasSubstr("the file is empty"));
  }
}

TEST(LoadYaml, ReportsASyntaxErrorWithItsLine) {
  const YamlLoadError error = loadError("name: web\ncontainers:\n  app: [nginx\n  db: x\n");
  EXPECT_EQ(error.kind, Kind::kInvalid);
  EXPECT_THAT(error.error.message, HasSubstr("not valid YAML"));
  EXPECT_GE(error.error.line, 3);
  EXPECT_THAT(error.error.toString(), HasSubstr("(line "));

  const YamlLoadError tab = loadError("name: web\n\tnumInstances: 3\n");
  EXPECT_EQ(tab.error.line, 2);
}

// ---- FieldReader ----------------------------------------------------------

constexpr std::array<std::string_view, 3> kKnown = {"image", "memory", "restart"};

class FieldReaderTest : public ::testing::Test {
 protected:
  YAML::Node load(std::string_view text) {
    auto loaded = loadYaml(text);
    EXPECT_TRUE(loaded.ok()) << loaded.error().error.toString();
    return loaded.ok() ? *loaded : YAML::Node();
  }

  std::vector<FieldError> errors;
  FieldReader reader{errors};
};

TEST_F(FieldReaderTest, AcceptsAMappingOfKnownKeys) {
  EXPECT_TRUE(reader.mapping(load("image: nginx\nmemory: 1G\n"), "containers.app", kKnown));
  EXPECT_THAT(errors, IsEmpty());
}

TEST_F(FieldReaderTest, ReportsAnUnknownKeyWithTheKnownOneItResembles) {
  EXPECT_TRUE(reader.mapping(load("image: nginx\nmemroy: 1G\n"), "containers.app", kKnown));
  EXPECT_THAT(errors, ElementsAre(fieldError("containers.app.memroy",
                                             "is not a known field (did you mean \"memory\"?)")));
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_EQ(errors[0].column, 1);
}

TEST_F(FieldReaderTest, ReportsAnUnknownKeyWithoutAGuessWhenNothingIsClose) {
  reader.mapping(load("cpu: 2\n"), "containers.app", kKnown);
  ASSERT_THAT(errors, ElementsAre(fieldError("containers.app.cpu", "is not a known field")));
  EXPECT_THAT(errors[0].message, ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(FieldReaderTest, ShortensAVeryLongUnknownKeyInThePath) {
  const std::string key(500, 'k');
  reader.mapping(load(key + ": 1\n"), "", kKnown);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, std::string(60, 'k') + "...");
}

TEST_F(FieldReaderTest, ReportsARepeatedKeyAtItsSecondOccurrence) {
  const YAML::Node node = load("image: first\nmemory: 1G\nimage: second\n");
  EXPECT_TRUE(reader.mapping(node, "containers.app", kKnown));
  EXPECT_THAT(errors, ElementsAre(fieldError("containers.app.image", "is given more than once")));
  EXPECT_EQ(errors[0].line, 3);
  // The first value is the one read.
  EXPECT_EQ(FieldReader::field(node, "image").Scalar(), "first");
}

TEST_F(FieldReaderTest, ReportsRepeatedNamesInAMappingOfUserChosenNames) {
  const YAML::Node node = load("app: {}\nanything: {}\napp: {}\n");
  EXPECT_TRUE(reader.namedMapping(node, "containers"));
  EXPECT_THAT(errors, ElementsAre(fieldError("containers.app", "is given more than once")));
}

TEST_F(FieldReaderTest, ReportsAKeyThatIsNotAPlainName) {
  reader.mapping(load("[a, b]: 1\n"), "containers.app", kKnown);
  EXPECT_THAT(errors,
              ElementsAre(fieldError("containers.app", "has a key that is not a plain name")));
}

TEST_F(FieldReaderTest, SaysWhatItFoundWhereAMappingBelongs) {
  EXPECT_FALSE(reader.mapping(load("[1, 2]"), "containers", kKnown));
  EXPECT_FALSE(reader.namedMapping(load("just text"), "containers"));
  EXPECT_FALSE(reader.sequence(load("a: 1"), "ports"));
  EXPECT_THAT(errors, ElementsAre(fieldError("containers", "must be a mapping, not a list"),
                                  fieldError("containers", "must be a mapping, not a single value"),
                                  fieldError("ports", "must be a list, not a mapping")));
}

TEST_F(FieldReaderTest, TreatsAnEmptyValueAsNotGiven) {
  const YAML::Node node = load("image:\nmemory: ~\nrestart: always\n");
  EXPECT_FALSE(FieldReader::present(FieldReader::field(node, "image")));
  EXPECT_FALSE(FieldReader::present(FieldReader::field(node, "memory")));
  EXPECT_FALSE(FieldReader::present(FieldReader::field(node, "command")));
  EXPECT_EQ(FieldReader::field(node, "restart").Scalar(), "always");
  EXPECT_FALSE(FieldReader::field(load("[1]"), "image").IsDefined());
}

TEST_F(FieldReaderTest, ReadsWholeNumbersWithinRange) {
  const struct {
    std::string_view text;
    std::optional<std::int64_t> value;
    std::string_view message;
  } cases[] = {
      {"0", 0, ""},
      {"100", 100, ""},
      {"-1", std::nullopt, "\"-1\" is out of range (0 to 100)"},
      {"101", std::nullopt, "\"101\" is out of range (0 to 100)"},
      {"99999999999999999999", std::nullopt, "is out of range (0 to 100)"},
      {"2.5", std::nullopt, "\"2.5\" is not a whole number"},
      {"three", std::nullopt, "\"three\" is not a whole number"},
      {"0x10", std::nullopt, "is not a whole number"},
      {"1e2", std::nullopt, "is not a whole number"},
      {"''", std::nullopt, "\"\" is not a whole number"},
      {"[1]", std::nullopt, "must be a single value, not a list"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    errors.clear();
    EXPECT_EQ(reader.integer(load(c.text), "numInstances", 0, 100), c.value);
    if (c.value) {
      EXPECT_THAT(errors, IsEmpty());
    } else {
      EXPECT_THAT(errors, ElementsAre(fieldError("numInstances", std::string(c.message))));
    }
  }
}

TEST_F(FieldReaderTest, ReportsSizeAndDurationErrorsAtTheFieldsPath) {
  EXPECT_EQ(reader.size(load("2X"), "containers.app.memory"), std::nullopt);
  EXPECT_EQ(reader.duration(load("soon"), "containers.app.healthcheck.timeout"), std::nullopt);
  EXPECT_EQ(reader.size(load("2G"), "x"), 2 * kGiB);
  EXPECT_THAT(errors, ElementsAre(fieldError("containers.app.memory", "\"2X\" is not a size"),
                                  fieldError("containers.app.healthcheck.timeout",
                                             "\"soon\" is not a duration")));
}

TEST_F(FieldReaderTest, ReadsAChoiceAndSuggestsTheClosestOnATypo) {
  constexpr std::array<std::string_view, 3> kRestart = {"always", "on-failure", "no"};
  EXPECT_EQ(reader.choice(load("on-failure"), "restart", kRestart), 1u);
  EXPECT_EQ(reader.choice(load("alway"), "restart", kRestart), std::nullopt);
  EXPECT_EQ(reader.choice(load("sometimes"), "restart", kRestart), std::nullopt);
  EXPECT_THAT(errors,
              ElementsAre(fieldError("restart",
                                     "\"alway\" is not one of always, on-failure, no (did you "
                                     "mean \"always\"?)"),
                          fieldError("restart",
                                     "\"sometimes\" is not one of always, "
                                     "on-failure, no")));
  EXPECT_THAT(errors[1].message, ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(FieldReaderTest, RefusesTextWithANulCharacter) {
  EXPECT_EQ(reader.string(load("\"a\\0b\""), "containers.app.image"), std::nullopt);
  EXPECT_THAT(errors, ElementsAre(fieldError("containers.app.image", "contains a NUL character")));
}

TEST_F(FieldReaderTest, RefusesTextThatIsNotUtf8) {
  EXPECT_EQ(reader.string(load("caf\xe9"), "name"), std::nullopt);
  EXPECT_THAT(errors, ElementsAre(fieldError("name", "is not valid UTF-8 text")));
}

// ---- isValidUtf8 ----------------------------------------------------------

TEST(IsValidUtf8, AcceptsWellFormedText) {
  for (std::string_view text :
       {"", "plain ascii", "caf\u00e9", "\u65e5\u672c", "\U0001F600", "\u007f", "\U0010FFFF"}) {
    EXPECT_TRUE(isValidUtf8(text)) << text;
  }
}

TEST(IsValidUtf8, RefusesMalformedSequences) {
  const struct {
    std::string_view bytes;
    std::string_view why;
  } cases[] = {
      {"\xff", "never valid in UTF-8"},
      {"\x80", "a continuation byte alone"},
      {"caf\xe9", "Latin-1, not UTF-8"},
      {"\xc3", "truncated two-byte sequence"},
      {"\xe6\x97", "truncated three-byte sequence"},
      {"\xc0\xaf", "overlong '/'"},
      {"\xe0\x80\xaf", "overlong '/' in three bytes"},
      {"\xed\xa0\x80", "a UTF-16 surrogate"},
      {"\xf4\x90\x80\x80", "past U+10FFFF"},
      {"\xf8\x88\x80\x80\x80", "five-byte form"},
      {"\xc3(", "bad continuation byte"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(isValidUtf8(c.bytes)) << c.why;
  }
}

// ---- splitShellWords ------------------------------------------------------

TEST(SplitShellWords, SplitsLikeAPosixShellWithoutExpanding) {
  using Words = std::vector<std::string>;
  const struct {
    std::string_view text;
    Words words;
  } cases[] = {
      {"", {}},
      {"   ", {}},
      {"bin/rails s", {"bin/rails", "s"}},
      {"  a \t b\nc  ", {"a", "b", "c"}},
      {"echo 'hello world'", {"echo", "hello world"}},
      {"echo \"hello world\"", {"echo", "hello world"}},
      {"a'b c'd", {"ab cd"}},
      {"echo ''", {"echo", ""}},
      {"echo \"\"", {"echo", ""}},
      {"a\\ b", {"a b"}},
      {"\\'", {"'"}},
      {"'a\\b'", {"a\\b"}},      // no escapes inside single quotes
      {"\"a\\\"b\"", {"a\"b"}},  // \" inside double quotes
      {"\"a\\\\b\"", {"a\\b"}},  // \\ inside double quotes
      {"\"a\\nb\"", {"a\\nb"}},  // other backslashes stay
      {"\"$HOME\" `x` *", {"$HOME", "`x`", "*"}},
      {"sh -c 'echo \"$1\"'", {"sh", "-c", "echo \"$1\""}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto words = splitShellWords(c.text);
    ASSERT_TRUE(words.ok()) << words.error();
    EXPECT_EQ(*words, c.words);
  }
}

TEST(SplitShellWords, RefusesAnUnclosedQuote) {
  auto single = splitShellWords("echo 'oops");
  ASSERT_FALSE(single.ok());
  EXPECT_THAT(single.error(), HasSubstr("unclosed ' quote"));
  auto dbl = splitShellWords("echo \"oops\\\"");
  ASSERT_FALSE(dbl.ok());
  EXPECT_THAT(dbl.error(), HasSubstr("unclosed \" quote"));
}

}  // namespace
}  // namespace ozy
