// `ozy agent --config FILE`: flags from a file, the command line winning.
#include "cli/config_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ozy {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("ozy-config-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".toml");
    app_.add_option("--etcd", etcd_)->delimiter(',');
    app_.add_option("--memory", memory_);
    app_.add_option("--parallel-pulls", pulls_)->check(CLI::Range(1, 64));
    app_.add_flag("--insecure-http", insecure_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  Result<std::monostate, std::string> apply(const std::string& text, std::vector<std::string> args = {}) {
    std::ofstream(path_) << text;
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app_.parse(reversed);
    return applyConfigFile(app_, path_.string());
  }

  std::filesystem::path path_;
  CLI::App app_{"test", "agent"};
  std::vector<std::string> etcd_;
  std::string memory_ = "default";
  int pulls_ = 3;
  bool insecure_ = false;
};

TEST_F(ConfigFileTest, SetsFlagsListsAndSwitches) {
  auto done = apply("# a comment\netcd = [\"https://a:2379\", \"https://b:2379\"]\nmemory = \"16G\"\n"
                    "parallel-pulls = 5\ninsecure-http = true\n");
  ASSERT_TRUE(done) << done.error();
  EXPECT_EQ(etcd_, (std::vector<std::string>{"https://a:2379", "https://b:2379"}));
  EXPECT_EQ(memory_, "16G");
  EXPECT_EQ(pulls_, 5);
  EXPECT_TRUE(insecure_);
}

TEST_F(ConfigFileTest, TheCommandLineWins) {
  auto done = apply("memory = \"16G\"\nparallel-pulls = 5\n", {"--memory", "2G"});
  ASSERT_TRUE(done) << done.error();
  EXPECT_EQ(memory_, "2G");
  EXPECT_EQ(pulls_, 5);
}

TEST_F(ConfigFileTest, AMisspeltFlagIsAnErrorWithASuggestion) {
  auto done = apply("memroy = \"16G\"\n");
  ASSERT_FALSE(done);
  EXPECT_NE(done.error().find("memroy is not a flag of `ozy agent` (did you mean memory?)"), std::string::npos)
      << done.error();
  EXPECT_EQ(memory_, "default");
}

TEST_F(ConfigFileTest, AValueOutOfRangeNamesTheSetting) {
  auto done = apply("parallel-pulls = 100\n");
  ASSERT_FALSE(done);
  EXPECT_NE(done.error().find("parallel-pulls"), std::string::npos) << done.error();
  EXPECT_NE(done.error().find("not in range"), std::string::npos) << done.error();
}

TEST_F(ConfigFileTest, SectionsAndAMissingFileAreErrors) {
  auto done = apply("[agent]\nmemory = \"16G\"\n");
  ASSERT_FALSE(done);
  EXPECT_NE(done.error().find("sections are not read"), std::string::npos) << done.error();
  auto missing = applyConfigFile(app_, "/nonexistent/agent.toml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace ozy
