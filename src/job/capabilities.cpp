#include "job/capabilities.h"

#include <algorithm>
#include <set>

namespace ozy {
namespace {

template <std::size_t N>
bool listed(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

}  // namespace

bool isCapability(std::string_view name) { return listed(kLinuxCapabilities, name); }

bool isDefaultCapability(std::string_view name) { return listed(kDefaultCapabilities, name); }

std::vector<std::string> effectiveCapabilities(const Container& container) {
  const bool dropAll = std::find(container.capDrop.begin(), container.capDrop.end(), "ALL") !=
                       container.capDrop.end();
  std::set<std::string> caps;
  if (!dropAll) caps.insert(std::begin(kDefaultCapabilities), std::end(kDefaultCapabilities));
  for (const auto& drop : container.capDrop) caps.erase(drop);
  caps.insert(container.capAdd.begin(), container.capAdd.end());
  return {caps.begin(), caps.end()};
}

std::vector<std::string> extraCapabilities(const Container& container) {
  std::vector<std::string> extra;
  for (const auto& cap : container.capAdd) {
    if (!isDefaultCapability(cap)) extra.push_back(cap);
  }
  return extra;
}

std::optional<CapabilityRequest> firstCapabilityNotAllowed(const Job& job,
                                                           std::span<const std::string> allowed) {
  for (const auto& c : job.containers) {
    for (const auto& cap : extraCapabilities(c)) {
      if (std::find(allowed.begin(), allowed.end(), cap) == allowed.end()) {
        return CapabilityRequest{c.name, cap};
      }
    }
  }
  return std::nullopt;
}

}  // namespace ozy
