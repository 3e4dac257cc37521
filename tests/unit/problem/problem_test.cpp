// RFC 7807 problem documents: the members every problem carries, how
// extensions join them, how field errors are listed, and that the catalogue
// of problem types and docs/errors.md describe the same set.
#include "problem/problem.h"

#include "http/http_problems.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../support/source_files.h"

namespace ozy {
namespace {

using ::testing::HasSubstr;
using testing_support::readSourceFile;

TEST(Problem, HasTheStandardMembersAndItsExtensions) {
  const Problem problem = makeProblem(problems::kInsufficientMemory,
                                      "Job requires 12G of memory but only 10G can be allocated.",
                                      {{"job", "my-cool-job"}, {"required", 12884901888}});
  const nlohmann::json json = problem.toJson();
  EXPECT_EQ(json["type"], "/docs/errors.md#insufficient-memory");
  EXPECT_EQ(json["title"], "Insufficient memory for job");
  EXPECT_EQ(json["status"], 422);
  EXPECT_EQ(json["detail"], "Job requires 12G of memory but only 10G can be allocated.");
  EXPECT_EQ(json["job"], "my-cool-job");
  EXPECT_EQ(json["required"], 12884901888);
  EXPECT_EQ(json.size(), 6u);
}

TEST(Problem, TypeUriPointsAtTheSlugsHeadingInTheErrorDocs) {
  EXPECT_EQ(makeProblem(problems::kInvalidJob, "").typeUri(), "/docs/errors.md#invalid-job");
  EXPECT_EQ(std::string(kProblemTypeBase) + "job-file-too-large",
            makeProblem(problems::kJobFileTooLarge, "").typeUri());
}

TEST(Problem, StandardMembersWinOverExtensionsOfTheSameName) {
  const Problem problem = makeProblem(problems::kInvalidJob, "the real detail",
                                      {{"type", "about:blank"},
                                       {"title", "fake"},
                                       {"status", 200},
                                       {"detail", "fake"},
                                       {"job", "web"}});
  const nlohmann::json json = problem.toJson();
  EXPECT_EQ(json["type"], "/docs/errors.md#invalid-job");
  EXPECT_EQ(json["title"], "Invalid job");
  EXPECT_EQ(json["status"], 422);
  EXPECT_EQ(json["detail"], "the real detail");
  EXPECT_EQ(json["job"], "web");
}

TEST(Problem, IgnoresExtensionsThatAreNotAnObject) {
  Problem problem = makeProblem(problems::kInvalidJob, "detail");
  problem.extensions = nlohmann::json::array({1, 2});
  const nlohmann::json json = problem.toJson();
  EXPECT_TRUE(json.is_object());
  EXPECT_EQ(json.size(), 4u);
}

TEST(Problem, ListsFieldErrorsWithPathMessageAndPosition) {
  const std::vector<FieldError> errors = {
      {"containers.app.memory", "\"2X\" is not a size", 12, 13},
      {"containers", "depends_on has a cycle: a -> b -> a"},
  };
  const nlohmann::json json =
      makeFieldProblem(problems::kInvalidJob, "2 problems", errors, {{"job", "web"}}).toJson();
  ASSERT_TRUE(json["errors"].is_array());
  ASSERT_EQ(json["errors"].size(), 2u);
  EXPECT_EQ(json["errors"][0], (nlohmann::json{{"path", "containers.app.memory"},
                                               {"message", "\"2X\" is not a size"},
                                               {"line", 12},
                                               {"column", 13}}));
  // Without a known position there is no line or column at all (not 0).
  EXPECT_EQ(
      json["errors"][1],
      (nlohmann::json{{"path", "containers"}, {"message", "depends_on has a cycle: a -> b -> a"}}));
  EXPECT_EQ(json["job"], "web");
}

// A user's bytes quoted in a message need not be UTF-8; the document must
// still serialise, with U+FFFD in their place.
TEST(Problem, DumpsEvenWhenAMessageQuotesBytesThatAreNotUtf8) {
  const Problem problem = makeFieldProblem(problems::kInvalidJob, "bad key \"caf\xe9\"",
                                           {{"caf\xe9", "is not a known field"}});
  const std::string text = problem.dump();
  const nlohmann::json json = nlohmann::json::parse(text);
  EXPECT_EQ(json["detail"], "bad key \"caf\ufffd\"");
  EXPECT_EQ(json["errors"][0]["path"], "caf\ufffd");
  EXPECT_EQ(json["type"], "/docs/errors.md#invalid-job");
}

TEST(Problem, DumpsIndentedWhenAsked) {
  const std::string text = makeProblem(problems::kInvalidJob, "d").dump(2);
  EXPECT_THAT(text, HasSubstr("\n  \"detail\": \"d\""));
}

TEST(FieldError, ReadsAsPathMessageAndLine) {
  EXPECT_EQ((FieldError{"containers.app.memory", "\"2X\" is not a size", 12, 13}).toString(),
            "containers.app.memory: \"2X\" is not a size (line 12)");
  EXPECT_EQ((FieldError{"", "the file is empty"}).toString(), "the file is empty");
  EXPECT_EQ((FieldError{"name", "is required"}).toString(), "name: is required");
}

TEST(ProblemCatalogue, HasUniqueSlugsTitlesAndErrorStatuses) {
  std::set<std::string_view> slugs;
  std::vector<ProblemType> all(std::begin(problems::kAll), std::end(problems::kAll));
  all.insert(all.end(), std::begin(problems::kHttpAll), std::end(problems::kHttpAll));
  for (const ProblemType& type : all) {
    SCOPED_TRACE(type.slug);
    EXPECT_TRUE(slugs.insert(type.slug).second) << "slug listed twice";
    EXPECT_FALSE(type.title.empty());
    EXPECT_GE(type.status, 400);
    EXPECT_LT(type.status, 600);
    for (char c : type.slug) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '-') << "slugs are lowercase anchors";
    }
  }
}

// Every problem type's URI resolves to a heading of docs/errors.md, which
// explains the cause and the fix; a new type needs its section there.
TEST(ProblemCatalogue, EverySlugHasAHeadingInDocsErrorsMd) {
  const auto text = readSourceFile("docs/errors.md");
  ASSERT_TRUE(text.has_value()) << "docs/errors.md is missing; it must have a \"## <slug>\" "
                                   "section for every problem type in problems::kAll";
  std::set<std::string> headings;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.rfind("## ", 0) == 0) headings.insert(line.substr(3));
  }
  auto check = [&](const ProblemType& type) {
    EXPECT_TRUE(headings.count(std::string(type.slug)))
        << "docs/errors.md has no heading \"## " << type.slug << "\"";
  };
  for (const ProblemType& type : problems::kAll) check(type);
  for (const ProblemType& type : problems::kHttpAll) check(type);
}

}  // namespace
}  // namespace ozy
