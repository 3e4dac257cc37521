// The pure parts of the HTTP edge: headers, request targets, base URLs and
// problem responses with their catalogue.
#include "http/message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "http/http_problems.h"
#include "http/problem_response.h"
#include "http/request_target.h"
#include "http/url.h"

namespace ozy::http {
namespace {

TEST(HttpHeaders, LooksUpNamesInAnyCase) {
  Headers headers{{"Content-Type", "application/json"}, {"X-Tag", "a"}, {"x-tag", "b"}};
  EXPECT_EQ(headers.get("content-type"), "application/json");
  EXPECT_EQ(headers.get("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(headers.getAll("X-TAG"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_FALSE(headers.get("Content-Length"));
}

TEST(HttpHeaders, SetReplacesEveryFieldOfThatName) {
  Headers headers{{"X-Tag", "a"}, {"x-tag", "b"}};
  headers.set("X-TAG", "c");
  EXPECT_EQ(headers.getAll("x-tag"), (std::vector<std::string_view>{"c"}));
}

TEST(HttpHeaders, FieldSyntaxRefusesWhatCouldSmuggleHeaders) {
  EXPECT_TRUE(isValidFieldName("X-Request-Id"));
  EXPECT_FALSE(isValidFieldName("X Request"));
  EXPECT_FALSE(isValidFieldName(""));
  EXPECT_TRUE(isValidFieldValue("text/plain; charset=utf-8"));
  EXPECT_FALSE(isValidFieldValue("a\r\nSet-Cookie: x"));
  EXPECT_FALSE(isValidFieldValue(std::string("a\0b", 3)));
}

TEST(HttpRequestTarget, SplitsThePathFromTheDecodedQuery) {
  const auto target = parseRequestTarget("/v1/jobs?name=my%20job&tag=a+b&tag=c&flag&&empty=");
  ASSERT_TRUE(target) << target.error();
  EXPECT_EQ(target->path, "/v1/jobs");
  ASSERT_EQ(target->query.size(), 5u);
  EXPECT_EQ(target->query[0].name, "name");
  EXPECT_EQ(target->query[0].value, "my job");
  EXPECT_EQ(target->query[1].value, "a b");
  EXPECT_EQ(target->query[2].value, "c");
  EXPECT_EQ(target->query[3].name, "flag");
  EXPECT_EQ(target->query[3].value, "");
  EXPECT_EQ(target->query[4].name, "empty");
}

TEST(HttpRequestTarget, PercentEncodeKeepsOnlyUnreservedBytesAndRoundTrips) {
  EXPECT_EQ(percentEncode("a-b.c_d~e9"), "a-b.c_d~e9");
  EXPECT_EQ(percentEncode("x y&z=1/\r\n%"), "x%20y%26z%3D1%2F%0D%0A%25");
  const std::string bytes("\xff\0?#+", 5);
  EXPECT_EQ(percentDecode(percentEncode(bytes)).value(), bytes);
}

TEST(HttpRequestTarget, LeavesThePathEncodedForTheRouter) {
  const auto target = parseRequestTarget("/v1/jobs/a%2Fb");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/v1/jobs/a%2Fb");
  EXPECT_EQ(percentDecode("a%2Fb").value(), "a/b");
  EXPECT_EQ(percentDecode("a+b").value(), "a+b") << "'+' is a space only in queries";
}

TEST(HttpRequestTarget, RejectsInvalidPercentEncodings) {
  for (const char* bad : {"/?a=%", "/?a=%4", "/?a=%zz", "/?%g0=1"}) {
    SCOPED_TRACE(bad);
    const auto target = parseRequestTarget(bad);
    ASSERT_FALSE(target);
    EXPECT_THAT(target.error(), ::testing::HasSubstr("invalid percent-encoding"));
  }
}

TEST(HttpRequestTarget, AcceptsOnlyPaths) {
  EXPECT_FALSE(parseRequestTarget(""));
  EXPECT_FALSE(parseRequestTarget("*"));
  EXPECT_FALSE(parseRequestTarget("http://agent/v1/jobs"));
}

struct UrlCase {
  const char* text;
  bool tls;
  const char* host;
  std::uint16_t port;
};

TEST(HttpUrl, ParsesHttpAndHttpsBaseUrls) {
  const UrlCase cases[] = {
      {"http://127.0.0.1:7700", false, "127.0.0.1", 7700},
      {"https://agent-1.example:8443/", true, "agent-1.example", 8443},
      {"HTTP://agent", false, "agent", 80},
      {"https://agent", true, "agent", 443},
      {"http://[::1]:7700", false, "::1", 7700},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto url = parseBaseUrl(c.text);
    ASSERT_TRUE(url) << url.error();
    EXPECT_EQ(url->tls, c.tls);
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
  }
  EXPECT_EQ(parseBaseUrl("http://[::1]:7700")->authority(), "[::1]:7700");
  EXPECT_EQ(parseBaseUrl("HTTPS://agent")->toString(), "https://agent:443");
}

TEST(HttpUrl, RefusesWhatIsNotABaseUrl) {
  for (const char* bad :
       {"127.0.0.1:7700", "ftp://agent", "http://", "http://agent:", "http://agent:0",
        "http://agent:65536", "http://agent:77x", "http://agent:7700/v1", "http://user@agent",
        "http://agent?x=1", "http://[::1", "http://ag ent"}) {
    SCOPED_TRACE(bad);
    const auto url = parseBaseUrl(bad);
    ASSERT_FALSE(url);
    EXPECT_THAT(url.error(), ::testing::HasSubstr(bad));
  }
}

TEST(HttpProblemResponse, CarriesTheTypesStatusAndTheDocument) {
  const Response response =
      problemResponse(makeProblem(problems::kNotFound, "No route for GET /v2/jobs."));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.contentType, "application/problem+json");
  const auto json = nlohmann::json::parse(response.body);
  EXPECT_EQ(json["type"], "/docs/errors.md#not-found");
  EXPECT_EQ(json["title"], "Not found");
  EXPECT_EQ(json["status"], 404);
  EXPECT_EQ(json["detail"], "No route for GET /v2/jobs.");
}

TEST(HttpProblemCatalogue, HasUniqueLowercaseSlugsApartFromTheCoreCatalogue) {
  std::set<std::string_view> slugs;
  for (const ProblemType& type : problems::kAll) slugs.insert(type.slug);
  for (const ProblemType& type : problems::kHttpAll) {
    SCOPED_TRACE(type.slug);
    EXPECT_TRUE(slugs.insert(type.slug).second) << "slug used twice";
    EXPECT_FALSE(type.title.empty());
    EXPECT_GE(type.status, 400);
    EXPECT_LT(type.status, 600);
    for (char c : type.slug) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '-');
  }
}

}  // namespace
}  // namespace ozy::http
