// Choosing a node's subnet; see subnet_allocator.h.
//
// Subnets are numbered by their offset in the network (index i is
// network.base + i * subnet size); taken ones are kept as merged index
// intervals, so a table of any size, or a hand-written entry covering
// thousands of subnets, costs one sort.
#include "network/subnet_allocator.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace ozy {
namespace {

using Interval = std::pair<std::uint64_t, std::uint64_t>;  // [first, last] subnet indices

// The range of leasable subnet indices, [SubnetMin, SubnetMax].
struct IndexRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t count() const { return last - first + 1; }
};

int shiftOf(const NetworkConfig& config) {
  return 32 - config.subnetLen;
}

std::uint64_t indexOf(const NetworkConfig& config, Ipv4Address address) {
  return (address.toUint() - config.network.base().toUint()) >> shiftOf(config);
}

IndexRange leasableRange(const NetworkConfig& config) {
  return IndexRange{indexOf(config, config.subnetMin), indexOf(config, config.subnetMax)};
}

// The leasable indices that `taken` overlaps, if any.
std::optional<Interval> overlapped(const NetworkConfig& config, const IndexRange& range,
                                   const Ipv4Cidr& taken) {
  if (!config.network.overlaps(taken)) return std::nullopt;
  const Ipv4Address first = std::max(taken.base(), config.network.base());
  const Ipv4Address last = std::min(taken.last(), config.network.last());
  const std::uint64_t from = std::max(indexOf(config, first), range.first);
  const std::uint64_t to = std::min(indexOf(config, last), range.last);
  if (from > to) return std::nullopt;
  return Interval{from, to};
}

// Sorted, disjoint, non-adjacent intervals of taken indices.
std::vector<Interval> takenIntervals(const NetworkConfig& config, const IndexRange& range,
                                     const SubnetTable& table) {
  std::vector<Interval> taken;
  auto add = [&](const Ipv4Cidr& subnet) {
    if (auto interval = overlapped(config, range, subnet)) taken.push_back(*interval);
  };
  for (const SubnetLease& lease : table.leases) add(lease.subnet);
  for (const SkippedSubnet& skipped : table.skipped) {
    if (skipped.subnet) add(*skipped.subnet);
  }
  std::sort(taken.begin(), taken.end());
  std::vector<Interval> merged;
  for (const Interval& interval : taken) {
    if (!merged.empty() && interval.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, interval.second);
    } else {
      merged.push_back(interval);
    }
  }
  return merged;
}

bool isTaken(const std::vector<Interval>& taken, std::uint64_t index) {
  auto after = std::upper_bound(taken.begin(), taken.end(), Interval{index, UINT64_MAX});
  return after != taken.begin() && std::prev(after)->second >= index;
}

// splitmix64's finaliser: neighbouring seeds (node 1, node 2, ...) land far apart.
std::uint64_t mix(std::uint64_t seed) {
  seed += 0x9e3779b97f4a7c15ULL;
  seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ULL;
  seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebULL;
  return seed ^ (seed >> 31);
}

// The k-th index of `range` that no interval covers (k < the number free).
std::uint64_t kthFree(const IndexRange& range, const std::vector<Interval>& taken,
                      std::uint64_t k) {
  std::uint64_t cursor = range.first;
  for (const Interval& interval : taken) {
    const std::uint64_t gap = interval.first - cursor;
    if (k < gap) return cursor + k;
    k -= gap;
    cursor = interval.second + 1;
  }
  return cursor + k;
}

std::string noFreeSubnet(const NetworkConfig& config, const IndexRange& range) {
  const bool wholeNetwork = range.count() == config.network.subnetCount(config.subnetLen);
  const std::string which =
      wholeNetwork ? fmt::format("all {}", range.count())
                   : fmt::format("all {} from {} to {}", range.count(), config.subnetMin.toString(),
                                 config.subnetMax.toString());
  return fmt::format("network {} has no free /{} subnet: {} are leased", config.network.toString(),
                     config.subnetLen, which);
}

}  // namespace

Result<SubnetChoice, std::string> chooseSubnet(const NetworkConfig& config,
                                               const SubnetTable& table,
                                               const SubnetRequest& request) {
  for (const SubnetLease& lease : table.leases) {
    if (lease.publicIp == request.publicIp && lease.subnet.prefixLength() == config.subnetLen &&
        config.network.contains(lease.subnet)) {
      return SubnetChoice{lease.subnet, lease};
    }
  }

  const IndexRange range = leasableRange(config);
  const std::vector<Interval> taken = takenIntervals(config, range, table);
  if (const auto& preferred = request.preferred) {
    if (preferred->prefixLength() == config.subnetLen && config.network.contains(*preferred)) {
      const std::uint64_t index = indexOf(config, preferred->base());
      if (index >= range.first && index <= range.last && !isTaken(taken, index)) {
        return SubnetChoice{*preferred, std::nullopt};
      }
    }
  }

  std::uint64_t covered = 0;
  for (const Interval& interval : taken) covered += interval.second - interval.first + 1;
  const std::uint64_t free = range.count() - covered;
  if (free == 0) return fail(noFreeSubnet(config, range));
  const std::uint64_t index = kthFree(range, taken, mix(request.seed) % free);
  return SubnetChoice{*config.network.subnet(config.subnetLen, index), std::nullopt};
}

}  // namespace ozy
