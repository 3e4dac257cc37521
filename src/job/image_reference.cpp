#include "job/image_reference.h"

namespace ozy {
namespace {

// The tag after the last ':' of the last path component, without a digest;
// empty when the reference names none.
std::string_view tagOf(std::string_view reference) {
  if (const auto at = reference.find('@'); at != std::string_view::npos) {
    reference = reference.substr(0, at);
  }
  const auto slash = reference.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? reference : reference.substr(slash + 1);
  const auto colon = last.rfind(':');
  return colon == std::string_view::npos ? std::string_view() : last.substr(colon + 1);
}

}  // namespace

std::string_view imageRegistry(std::string_view reference) {
  const auto slash = reference.find('/');
  if (slash == std::string_view::npos) return "docker.io";
  const std::string_view first = reference.substr(0, slash);
  if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
      first == "localhost") {
    return first;
  }
  return "docker.io";
}

bool isDigestReference(std::string_view reference) {
  return reference.find('@') != std::string_view::npos;
}

PullPolicy defaultPullPolicy(std::string_view reference) {
  if (isDigestReference(reference)) return PullPolicy::kIfNotPresent;
  const std::string_view tag = tagOf(reference);
  return tag.empty() || tag == "latest" ? PullPolicy::kAlways : PullPolicy::kIfNotPresent;
}

}  // namespace ozy
