// ImageCollector's bookkeeping: which images go after the grace period,
// which never do, and what survives an agent restart.
#include "agent/image_collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace ozy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class ImageCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ozy-images-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    file_ = dir_ / "images";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  fs::path file_;
};

TEST_F(ImageCollectorTest, AnImageGoesOnlyAfterAGracePeriodUnneeded) {
  ImageCollector c(file_, 1000ms, 0);
  c.needed({"a:1", "b:1"}, 100);
  EXPECT_THAT(c.due(100'000), IsEmpty()) << "needed images never go, however old";
  c.needed({"b:1"}, 200);
  EXPECT_THAT(c.due(1199), IsEmpty());
  EXPECT_THAT(c.due(1200), ElementsAre("a:1"));
  // Needed again before it went: its grace starts over when it is not.
  c.needed({"a:1", "b:1"}, 1300);
  EXPECT_THAT(c.due(5000), IsEmpty());
}

TEST_F(ImageCollectorTest, ImagesNoInstanceEverNamedAreNotItsToRemove) {
  ImageCollector c(file_, 1ms, 0);
  c.needed({}, 0);
  EXPECT_THAT(c.due(1'000'000), IsEmpty());
  EXPECT_TRUE(c.known().empty());
}

TEST_F(ImageCollectorTest, OldestFirstAndRemovedOnesAreForgotten) {
  ImageCollector c(file_, 10ms, 0);
  c.needed({"a:1", "b:1", "c:1"}, 0);
  c.needed({"a:1", "c:1"}, 5);
  c.needed({"a:1"}, 7);
  c.needed({}, 9);
  EXPECT_THAT(c.due(20), ElementsAre("b:1", "c:1", "a:1"));
  c.removed("b:1");
  c.keep("c:1", 20);  // podman refused: another full grace
  EXPECT_THAT(c.due(20), ElementsAre("a:1"));
  EXPECT_THAT(c.due(30), ElementsAre("a:1", "c:1"));
}

TEST_F(ImageCollectorTest, ARestartKeepsWhatItKnewAndStartsGraceForWhatWasInUse) {
  {
    ImageCollector c(file_, 1000ms, 0);
    c.needed({"old:1", "used:1"}, 0);
    c.needed({"used:1"}, 100);  // old:1 unneeded since 100
  }
  // Restarted at 500: used:1 was needed when the file was written, so its
  // grace starts now, whatever happened while no agent ran.
  ImageCollector c(file_, 1000ms, 500);
  EXPECT_EQ(c.known().at("old:1"), 100);
  EXPECT_EQ(c.known().at("used:1"), 500);
  c.needed({}, 600);
  EXPECT_THAT(c.due(1100), ElementsAre("old:1"));
  EXPECT_THAT(c.due(1500), ElementsAre("old:1", "used:1"));
}

TEST_F(ImageCollectorTest, ALineItCannotReadIsSkipped) {
  std::ofstream(file_) << "100 good:1\nnot a line\n-5 negative:1\n200 two words\n\n";
  ImageCollector c(file_, 10ms, 1000);
  EXPECT_EQ(c.known().size(), 1u);
  EXPECT_EQ(c.known().at("good:1"), 100);
}

TEST_F(ImageCollectorTest, WritesOnlyWhenWhatItKnowsChanges) {
  ImageCollector c(file_, 10ms, 0);
  c.needed({"a:1"}, 0);
  ASSERT_TRUE(fs::exists(file_));
  fs::remove(file_);
  c.needed({"a:1"}, 50);  // nothing new
  EXPECT_FALSE(fs::exists(file_));
  c.needed({}, 60);
  EXPECT_TRUE(fs::exists(file_));
}

}  // namespace
}  // namespace ozy
