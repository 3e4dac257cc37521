// VolumeDirs on a real file system: what it lists, and that deleting a
// volume never reaches outside it through a link a container left.
#include "agent/volumes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "job/job_parser.h"

namespace ozy {
namespace {

namespace fs = std::filesystem;

class VolumeDirsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ozy-volumes-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
};

TEST_F(VolumeDirsTest, ListsTheInstancesWithLocalVolumesAndNothingElse) {
  VolumeDirs dirs(root_ / "local", root_ / "shared");
  fs::create_directories(root_ / "local/web/0/app/0");
  fs::create_directories(root_ / "local/web/12/app/0");
  fs::create_directories(root_ / "local/db/3");
  fs::create_directories(root_ / "local/Not_A_Job/1");
  fs::create_directories(root_ / "local/web/not-a-number");

  auto listed = dirs.listLocal();
  std::sort(listed.begin(), listed.end());

  using Key = std::pair<std::string, std::uint32_t>;
  EXPECT_THAT(listed, ::testing::ElementsAre(Key{"db", 3}, Key{"web", 0}, Key{"web", 12}));
}

TEST_F(VolumeDirsTest, DeletingAVolumeNeverFollowsALinkOutOfIt) {
  VolumeDirs dirs(root_ / "local", root_ / "shared");
  const fs::path outside = root_ / "precious";
  fs::create_directories(outside);
  std::ofstream(outside / "keep") << "host data";
  const fs::path volume = root_ / "local/web/0/app/0";
  fs::create_directories(volume);
  // What a container may leave: links to a host directory, at the top and deeper.
  fs::create_directory_symlink(outside, volume / "link");
  fs::create_directories(volume / "sub");
  fs::create_directory_symlink(outside, volume / "sub/link");
  fs::create_symlink(outside / "keep", volume / "file-link");

  const auto removed = dirs.removeLocal("web", 0);

  ASSERT_TRUE(removed) << removed.error();
  EXPECT_FALSE(fs::exists(root_ / "local/web/0"));
  EXPECT_TRUE(fs::exists(outside / "keep"));
}

}  // namespace
}  // namespace ozy
