// The metrics catalogue: what each method counts shows in the exposition
// under its documented name, collectors' samples join it, promtool accepts
// the format, and docs/operations.md#metrics lists every name.
#include "metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "metrics/process_stats.h"

namespace ozy::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every way of counting once, so every family has a sample.
void countOnceEach(Metrics& m) {
  m.submitted("created", 0.02);
  m.committed("submit", CommitResult::kCommitted, 0.004);
  m.committed("submit", CommitResult::kConflict, 0.003);
  m.committed("scale", CommitResult::kFailed, 5);
  m.retried("submit");
  m.replaced(3);
  m.leaseRenewed(LeaseRenewal::kRenewed, 0.002);
  m.leaseRenewed(LeaseRenewal::kFailed, 3);
  m.containerRestarted("web", "app", false);
  m.containerRestarted("web", "app", true);
  m.healthChecked("web", "http", true, 0.001);
  m.healthChecked("web", "http", false, 1.5);
  m.dnsAnswered("noerror");
  m.dnsAnswered("nxdomain");
}

// The names of the metric families in an exposition (its TYPE lines).
std::set<std::string> familyNames(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# TYPE ")) names.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

TEST(Metrics, CountsShowUnderTheirNamesWithTheirLabels) {
  Metrics m;
  countOnceEach(m);
  const std::string text = m.exposition();
  EXPECT_THAT(text, HasSubstr(R"(ozy_commits_total{operation="submit",result="conflict"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(ozy_commits_total{operation="scale",result="failed"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(ozy_container_restarts_total{container="app",job_name="web"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(ozy_container_oom_kills_total{container="app",job_name="web"} 1)"));
  EXPECT_THAT(text, HasSubstr("ozy_replaced_instances_total 3"));
  EXPECT_THAT(text,
              HasSubstr(R"(ozy_health_checks_total{check="http",job_name="web",result="fail"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(ozy_lease_renewals_total{result="failed"} 1)"));
  // A failed renewal's time is how long etcd was waited for, not its answer.
  EXPECT_THAT(text, HasSubstr("ozy_lease_renewal_duration_seconds_count 1"));
  EXPECT_THAT(text,
              HasSubstr(R"(ozy_health_check_duration_seconds_bucket{check="http",le="1"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(ozy_health_check_duration_seconds_bucket{check="http",le="2.5"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(ozy_dns_queries_total{result="nxdomain"} 1)"));
}

TEST(Metrics, CollectorsAddTheirSamplesAtEachScrape) {
  Metrics m;
  double instances = 2;
  m.addCollector([&instances](Scrape& s) {
    s.gauge("ozy_node_instances", "Instances", {}, instances);
    s.histogram("ozy_ingress_request_duration_seconds", "Requests", {{"job_name", "web"}}, {0.1, 1},
                {3, 1, 1}, 2.5);
  });
  EXPECT_THAT(m.exposition(), HasSubstr("ozy_node_instances 2"));
  instances = 5;
  const std::string text = m.exposition();
  EXPECT_THAT(text, HasSubstr("ozy_node_instances 5"));
  EXPECT_THAT(text,
              HasSubstr(R"(ozy_ingress_request_duration_seconds_bucket{job_name="web",le="0.1"} 3)"));
  EXPECT_THAT(text,
              HasSubstr(R"(ozy_ingress_request_duration_seconds_bucket{job_name="web",le="1"} 4)"));
  EXPECT_THAT(text,
              HasSubstr(R"(ozy_ingress_request_duration_seconds_bucket{job_name="web",le="+Inf"} 5)"));
  EXPECT_THAT(text, HasSubstr(R"(ozy_ingress_request_duration_seconds_count{job_name="web"} 5)"));
}

TEST(Metrics, ProcessFiguresComeFromProc) {
  Metrics m;
  m.addCollector(processCollector());
  const std::string text = m.exposition();
  std::smatch rss;
  ASSERT_TRUE(
      std::regex_search(text, rss, std::regex("\nprocess_resident_memory_bytes ([0-9.e+]+)")));
  EXPECT_GT(std::stod(rss[1]), 1e6);  // this test binary holds more than a megabyte
  EXPECT_THAT(text, HasSubstr("process_cpu_seconds_total "));
  EXPECT_THAT(text, HasSubstr("process_open_fds "));
  EXPECT_THAT(text, HasSubstr("process_start_time_seconds "));
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (scripts/setup.sh installs Debian's prometheus)";
  }
  Metrics m;
  countOnceEach(m);
  m.addCollector(processCollector());
  char path[] = "/tmp/ozy-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << m.exposition();
  }
  // promtool reads the exposition on stdin and prints lint problems; it
  // exits non-zero on any.
  const std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = pclose(pipe);
  std::remove(path);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "");
}

TEST(Metrics, OperationsGuideListsEveryMetric) {
  std::ifstream in(OZY_OPERATIONS_MD);
  ASSERT_TRUE(in) << OZY_OPERATIONS_MD;
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  const auto section = text.find("\n## Metrics");
  ASSERT_NE(section, std::string::npos) << "docs/operations.md has no \"## Metrics\" section";
  const std::string metricsSection =
      text.substr(section, text.find("\n## ", section + 1) - section);
  Metrics m;
  countOnceEach(m);
  m.addCollector(processCollector());
  std::set<std::string> names = familyNames(m.exposition());
  // The collectors outside this module name theirs in string literals.
  for (const char* file : {"src/agent/node_metrics.cpp"}) {
    std::ifstream source(std::string(OZY_SOURCE_DIR) + "/" + file);
    ASSERT_TRUE(source) << file;
    std::stringstream code;
    code << source.rdbuf();
    const std::string sourceText = code.str();
    const std::regex literal("\"(ozy_[a-z_]+)\"");
    for (auto it = std::sregex_iterator(sourceText.begin(), sourceText.end(), literal);
         it != std::sregex_iterator(); ++it) {
      names.insert((*it)[1]);
    }
  }
  EXPECT_GT(names.size(), 20u);
  for (const std::string& name : names) {
    EXPECT_THAT(metricsSection, HasSubstr("`" + name + "`"))
        << name << " is not in docs/operations.md#metrics";
  }
}

}  // namespace
}  // namespace ozy::metrics
