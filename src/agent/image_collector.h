// ImageCollector: which images this node's instances no longer use, and
// when they may go (ozy agent --image-gc-grace; off by default).
//
// Only images the node's instances ran are candidates: an image put on the
// node by hand and never named by an instance stays. The collector remembers
// since when each image has been unneeded (by no assigned instance) in a
// small file in the data dir, so an agent restart neither forgets an image
// nor makes it go early. It writes that file only when an image starts or
// stops being needed, not on every pass.
//
// Bookkeeping only: the supervisor removes what due() names, through the
// runtime, which never forces a removal (podman refuses while a container
// uses the image), and tells the collector what came of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace ozy {

class ImageCollector {
 public:
  // Reads `file` if it exists (lines it cannot read are skipped, with a
  // warning in the log); an image that was needed when the file was last
  // written counts as unneeded from `nowMs`, if no instance needs it now.
  ImageCollector(std::filesystem::path file, std::chrono::milliseconds grace, std::int64_t nowMs);

  // The images the node's assigned instances need now, at `nowMs` (wall
  // clock): each is kept, and its grace starts once it is no longer named.
  void needed(const std::set<std::string>& references, std::int64_t nowMs);
  // Images unneeded for at least the grace period, oldest first.
  std::vector<std::string> due(std::int64_t nowMs) const;
  // The image is gone (removed, or removed by someone else).
  void removed(const std::string& reference);
  // It could not be removed now (a container outside the node's instances
  // uses it, or podman failed): tried again after another grace period.
  void keep(const std::string& reference, std::int64_t nowMs);

  // What the collector knows, for tests: reference -> unneeded since (ms),
  // 0 while needed.
  const std::map<std::string, std::int64_t>& known() const { return since_; }

 private:
  void save();

  std::filesystem::path file_;
  std::chrono::milliseconds grace_;
  std::map<std::string, std::int64_t> since_;
};

}  // namespace ozy
