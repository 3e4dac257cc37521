#include "agent/volumes.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include <charconv>

#include "job/job_parser.h"

namespace ozy {

namespace fs = std::filesystem;

fs::path VolumeDirs::localDir(const std::string& job, std::uint32_t id) const {
  return localRoot_ / job / std::to_string(id);
}

namespace {

// The roots are the node's, not the containers': only root may enter them,
// so what a container leaves in a volume is out of other host users' reach.
Result<bool, std::string> makeRoot(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (!ec) fs::permissions(root, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return fail(fmt::format("cannot create the volume root {}: {}", root.string(), ec.message()));
  return true;
}

// Hands `dir` to the containers' root unless a container id owns it already.
Result<bool, std::string> handOver(const fs::path& dir, const runtime::IdMap& owner) {
  if (owner.size == 0) return true;
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0) {
    return fail(fmt::format("cannot inspect {}: {}", dir.string(), std::strerror(errno)));
  }
  const auto inRange = [&](std::uint32_t id) {
    return id >= owner.hostId && id - owner.hostId < owner.size;
  };
  if (inRange(info.st_uid) && inRange(info.st_gid)) return true;
  if (::lchown(dir.c_str(), owner.hostId, owner.hostId) != 0) {
    return fail(fmt::format("cannot hand {} to the containers' root (uid {}): {}", dir.string(),
                            owner.hostId, std::strerror(errno)));
  }
  return true;
}

}  // namespace

Result<std::vector<runtime::Mount>, std::string> VolumeDirs::prepare(
    const std::string& job, std::uint32_t id, const Container& container) const {
  std::vector<runtime::Mount> mounts;
  // Names reach here validated (DNS labels): no '/', no "..". Checked again,
  // since a path outside the roots must never be made or mounted.
  if (!isDnsLabel(job) || !isDnsLabel(container.name)) {
    return fail(fmt::format("refusing volume paths for job \"{}\", container \"{}\"", job,
                            container.name));
  }
  // The shared root is the operator's mount: its permissions are theirs.
  if (auto made = makeRoot(localRoot_); !made) return fail(made.error());
  for (std::size_t i = 0; i < container.volumes.size(); ++i) {
    const Volume& v = container.volumes[i];
    const fs::path dir = v.type == VolumeType::kLocal
                             ? localDir(job, id) / container.name / std::to_string(i)
                             : sharedRoot_ / job / container.name / std::to_string(i);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      return fail(fmt::format("cannot create the {} volume directory {} for {}: {}",
                              toString(v.type), dir.string(), v.path, ec.message()));
    }
    if (auto handed = handOver(dir, owner_); !handed) return fail(handed.error());
    mounts.push_back({dir.string(), v.path, false});
  }
  return mounts;
}

Result<bool, std::string> VolumeDirs::removeLocal(const std::string& job, std::uint32_t id) const {
  if (!isDnsLabel(job)) return fail(fmt::format("refusing to delete volumes of job \"{}\"", job));
  std::error_code ec;
  const fs::path dir = localDir(job, id);
  fs::remove_all(dir, ec);
  if (ec) return fail(fmt::format("cannot delete the local volumes in {}: {}", dir.string(), ec.message()));
  // Leave no empty per-job directory behind.
  fs::remove(localRoot_ / job, ec);
  return true;
}

std::vector<std::pair<std::string, std::uint32_t>> VolumeDirs::listLocal() const {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  std::error_code ec;
  for (const auto& job : fs::directory_iterator(localRoot_, ec)) {
    const std::string name = job.path().filename().string();
    // Only what this agent made: a name that is not a job's is left alone.
    if (!isDnsLabel(name) || !job.is_directory(ec) || job.is_symlink(ec)) continue;
    for (const auto& instance : fs::directory_iterator(job.path(), ec)) {
      const std::string idText = instance.path().filename().string();
      std::uint32_t id = 0;
      const auto [end, error] = std::from_chars(idText.data(), idText.data() + idText.size(), id);
      if (error == std::errc() && end == idText.data() + idText.size() && !idText.empty()) {
        out.emplace_back(name, id);
      }
    }
  }
  return out;
}

}  // namespace ozy
