// The event record: kinds and their words, the JSON form's round trip, the
// decoder's refusals of hostile or broken values, and messages cut to their
// bound on UTF-8 boundaries.
#include "events/event.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ozy {
namespace {

using ::testing::HasSubstr;

Event fullEvent() {
  Event e;
  e.atMs = 1795683600123;
  e.job = "web";
  e.instance = 7;
  e.node = "node-b.example";
  e.kind = EventKind::kReplaced;
  e.message = "moved off node-a: its lease expired — «ünïcödé» 🚀";
  e.exitCode = -1;
  e.version = 18446744073709551615u;
  e.fromNode = "node-a";
  return e;
}

// A valid value with one field replaced by raw JSON text (or removed, with
// an empty replacement).
std::string withField(const std::string& name, const std::string& rawValue) {
  std::string out = R"({"atMs":1,"job":"web","node":"n1","kind":"placed","message":"m")";
  const std::string needle = "\"" + name + "\":";
  const auto at = out.find(needle);
  if (at != std::string::npos) {
    // Remove the existing field (values above hold no ',' or '}').
    auto end = out.find_first_of(",}", at);
    out.erase(at, end - at + (out[end] == ',' ? 1 : 0));
    if (out.back() == ',') out.pop_back();
  }
  if (!rawValue.empty()) {
    if (out.back() != '{') out += ",";
    out += needle + rawValue;
  }
  return out + "}";
}

TEST(EventKind, EveryKindHasOneKebabCaseWordThatParsesBack) {
  std::set<std::string_view> words;
  for (EventKind kind : kEventKinds) {
    const std::string_view word = toString(kind);
    EXPECT_TRUE(words.insert(word).second) << "two kinds share \"" << word << "\"";
    for (char c : word) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '-') << word;
    EXPECT_EQ(parseEventKind(word), kind) << word;
  }
  EXPECT_EQ(toString(EventKind::kPodCreated), "pod-created");
  EXPECT_EQ(toString(EventKind::kOomKilled), "oom-killed");
}

TEST(EventKind, UnknownWordsDoNotParse) {
  for (const char* word :
       {"", "Placed", "pod_created", "podcreated", "placed ", "oom", "deleted"}) {
    EXPECT_EQ(parseEventKind(word), std::nullopt) << word;
  }
}

TEST(Event, RoundTripsEveryField) {
  const Event e = fullEvent();
  auto decoded = decodeEvent(encode(e));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(*decoded, e);
}

TEST(Event, RoundTripsAJobLevelEventWithoutOptionalFields) {
  Event e;
  e.atMs = 5;
  e.job = "batch-7";
  e.kind = EventKind::kDeployment;
  e.message = "";
  const std::string text = encode(e);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("instance")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("fromNode")));
  auto decoded = decodeEvent(text);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(*decoded, e);
}

TEST(Event, RoundTripsEveryKind) {
  for (EventKind kind : kEventKinds) {
    Event e = fullEvent();
    e.kind = kind;
    auto decoded = decodeEvent(encode(e));
    ASSERT_TRUE(decoded.ok()) << toString(kind) << ": " << decoded.error();
    EXPECT_EQ(decoded->kind, kind);
  }
}

TEST(Event, EncodingCutsAnOversizedMessageSoItStillDecodes) {
  Event e = fullEvent();
  e.message = std::string(10 * kMaxEventMessageBytes, 'x') + "\xff";
  auto decoded = decodeEvent(encode(e));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_LE(decoded->message.size(), kMaxEventMessageBytes);
  EXPECT_THAT(decoded->message, ::testing::EndsWith("\xE2\x80\xA6"));
}

TEST(Event, EncodingReplacesBytesThatAreNoUtf8) {
  Event e = fullEvent();
  e.message = "exit \xC3(\xff)";
  auto decoded = decodeEvent(encode(e));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->message, "exit \xEF\xBF\xBD(\xEF\xBF\xBD)");
}

TEST(Event, FieldsItDoesNotKnowAreIgnored) {
  auto decoded = decodeEvent(withField("addedLater", R"({"deep":[1,2,3]})"));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->job, "web");
}

TEST(Event, NullOptionalFieldsReadAsAbsent) {
  auto decoded = decodeEvent(withField("instance", "null"));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->instance, std::nullopt);
}

struct Refusal {
  std::string text;
  std::string says;  // part of the error
};

TEST(Event, RefusesHostileOrBrokenValues) {
  const std::vector<Refusal> table = {
      {"", "not a JSON object"},
      {"not json", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {"\"a string\"", "not a JSON object"},
      {"{\"atMs\":1", "not a JSON object"},
      {std::string(kMaxEventBytes + 1, ' '), "over the bound"},
      {std::string(5000, '[') + std::string(5000, ']'), "over the bound"},
      {std::string(2000, '[') + std::string(2000, ']'), "not a JSON object"},
      {withField("atMs", ""), "\"atMs\" is missing"},
      {withField("atMs", "-1"), "\"atMs\" is out of range"},
      {withField("atMs", "1.5"), "\"atMs\" is not an integer"},
      {withField("atMs", "\"1\""), "\"atMs\" is not an integer"},
      {withField("atMs", "10000000000000"), "\"atMs\" is out of range"},
      {withField("atMs", "18446744073709551615"), "\"atMs\" is out of range"},
      {withField("atMs", "1e400"), "not a JSON object"},
      {withField("job", ""), "\"job\" is missing"},
      {withField("job", "\"\""), "not a job name"},
      {withField("job", "\"../../ozy/jobs\""), "not a job name"},
      {withField("job", "\"Web\""), "not a job name"},
      {withField("job", "\"" + std::string(64, 'a') + "\""), "over the bound"},
      {withField("job", "7"), "\"job\" is not a string"},
      {withField("instance", "-1"), "\"instance\" is out of range"},
      {withField("instance", "4294967296"), "\"instance\" is out of range"},
      {withField("instance", "\"3\""), "\"instance\" is not an integer"},
      {withField("node", ""), "\"node\" is missing"},
      {withField("node", "\"a/b\""), "\"node\" is not a host name"},
      {withField("node", "\"" + std::string(300, 'a') + "\""), "over the bound"},
      {withField("fromNode", "\"-x\""), "\"fromNode\" is not a host name"},
      {withField("kind", ""), "\"kind\" is missing"},
      {withField("kind", "\"exploded\""), "unknown kind \"exploded\""},
      {withField("kind", "1"), "\"kind\" is not a string"},
      {withField("message", ""), "\"message\" is missing"},
      {withField("message", "[]"), "\"message\" is not a string"},
      {withField("message", "\"" + std::string(kMaxEventMessageBytes + 1, 'x') + "\""),
       "over the bound"},
      {withField("message", "\"\xff\""), "not a JSON object"},
      {withField("message", "\"\xC0\x80\""), "not a JSON object"},
      {withField("exitCode", "2147483648"), "\"exitCode\" is out of range"},
      {withField("exitCode", "-2147483649"), "\"exitCode\" is out of range"},
      {withField("exitCode", "true"), "\"exitCode\" is not an integer"},
      {withField("version", "-3"), "\"version\" is not a version number"},
      {withField("version", "2.0"), "\"version\" is not a version number"},
  };
  for (const auto& row : table) {
    auto decoded = decodeEvent(row.text);
    if (decoded.ok()) {
      ADD_FAILURE() << "decoded: " << row.text.substr(0, 200);
      continue;
    }
    EXPECT_THAT(decoded.error(), HasSubstr(row.says)) << row.text.substr(0, 200);
    EXPECT_THAT(decoded.error(), HasSubstr("stored event is unreadable"));
  }
}

TEST(Event, TheLargestValidValueIsWithinTheBound) {
  Event e = fullEvent();
  e.job = std::string(63, 'j');
  e.node = std::string(63, 'n') + "." + std::string(63, 'n') + "." + std::string(63, 'n');
  e.fromNode = e.node;
  e.message = std::string(kMaxEventMessageBytes, '\x01');  // each escaped to six bytes
  const std::string text = encode(e);
  EXPECT_LE(text.size(), kMaxEventBytes);
  EXPECT_TRUE(decodeEvent(text).ok());
}

TEST(CutUtf8, LeavesShortValidTextAlone) {
  EXPECT_EQ(cutUtf8("", 10), "");
  EXPECT_EQ(cutUtf8("héllo", 6), "héllo");
  EXPECT_EQ(cutUtf8("🚀", 4), "🚀");
}

TEST(CutUtf8, CutsLongTextOnACharacterBoundaryAndMarksTheCut) {
  // "aé🚀b": 1 + 2 + 4 + 1 bytes; the ellipsis is 3.
  const std::string text =
      "a\xC3\xA9\xF0\x9F\x9A\x80"
      "b";
  struct Row {
    std::size_t bound;
    std::string expected;
  };
  const std::vector<Row> table = {
      {7, "a\xC3\xA9\xE2\x80\xA6"},  // the rocket would split: cut before it
      {8,
       "a\xC3\xA9\xF0\x9F\x9A\x80"
       "b"},
      {6, "a\xC3\xA9\xE2\x80\xA6"},
      {5, "a\xE2\x80\xA6"},
      {4, "a\xE2\x80\xA6"},
      {3, "\xE2\x80\xA6"},
      {2, ""},
      {0, ""},
  };
  for (const auto& row : table) {
    const std::string cut = cutUtf8(text, row.bound);
    EXPECT_EQ(cut, row.expected) << "bound " << row.bound;
    EXPECT_LE(cut.size(), row.bound);
  }
}

TEST(CutUtf8, ReplacesEachByteOfAnInvalidSequence) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(cutUtf8("a\x80z", 100), "a" + replacement + "z");      // stray continuation
  EXPECT_EQ(cutUtf8("\xC3", 100), replacement);                    // truncated at the end
  EXPECT_EQ(cutUtf8("\xC0\xAF", 100), replacement + replacement);  // overlong '/'
  EXPECT_EQ(cutUtf8("\xED\xA0\x80", 100), replacement + replacement + replacement);  // surrogate
  EXPECT_EQ(cutUtf8("\xF4\x90\x80\x80", 100),
            replacement + replacement + replacement + replacement);  // past U+10FFFF
  EXPECT_EQ(cutUtf8("\xFF", 100), replacement);
  // A replacement counts its three bytes against the bound.
  EXPECT_EQ(cutUtf8("ab\xFF\xFF", 5), "ab\xE2\x80\xA6");
}

TEST(CutUtf8, EveryCutOfMixedTextIsValidAndWithinTheBound) {
  const std::string text = "x\xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x80\xFFy\xE2\x82";
  for (std::size_t bound = 0; bound <= text.size() + 8; ++bound) {
    const std::string cut = cutUtf8(text, bound);
    EXPECT_LE(cut.size(), bound);
    EXPECT_EQ(cutUtf8(cut, cut.size()), cut) << "not valid UTF-8 at bound " << bound;
  }
}

}  // namespace
}  // namespace ozy
