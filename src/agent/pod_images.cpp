#include "agent/pod_images.h"

#include <vector>

#include <fmt/format.h>

#include "job/image_reference.h"

namespace ozy {

ImagesVerdict prepareImages(const Job& job, runtime::ContainerRuntime& runtime, ImagePuller& puller,
                            const RegistrySettings& registries, std::int64_t askedAtMs) {
  std::vector<std::string> pulling;
  std::set<std::string> seen;
  for (const Container& c : job.containers) {
    // Two containers of one image (with one policy and one login) need it once.
    if (!seen.insert(fmt::format("{}\n{}\n{}", c.image, toString(c.pull), c.registryAuth)).second) continue;
    // A digest names one image forever: there is nothing newer to pull.
    const bool fresh = c.pull == PullPolicy::kAlways && !isDigestReference(c.image);
    if (!fresh) {
      auto exists = runtime.imageExists(c.image);
      if (!exists) return {ImagesVerdict::State::kFailed, exists.error().message};
      if (*exists) continue;
      if (c.pull == PullPolicy::kNever) {
        return {ImagesVerdict::State::kFailed,
                fmt::format("image {} of container {} is not on this node, and its pull policy is never "
                            "(put the image on the node, or let it be pulled: pull: if-not-present)",
                            c.image, c.name)};
      }
    }
    PullRequest request{c.image, std::nullopt, true};
    if (!c.registryAuth.empty()) {
      auto auth = registries.auths.find(c.registryAuth);
      if (auth == registries.auths.end()) {
        return {ImagesVerdict::State::kFailed,
                fmt::format("container {} pulls with the registry credentials \"{}\", which this node "
                            "does not have (add them to the file of ozy agent --registry-auth)",
                            c.name, c.registryAuth)};
      }
      request.auth = auth->second;
    }
    request.tlsVerify = !registries.insecure.contains(std::string(imageRegistry(c.image)));
    const PullOutcome outcome = puller.want(request, askedAtMs, fresh);
    switch (outcome.phase) {
      case PullOutcome::Phase::kDone:
        break;
      case PullOutcome::Phase::kPulling:
        pulling.push_back(c.image);
        break;
      case PullOutcome::Phase::kFailed:
        return {ImagesVerdict::State::kFailed, outcome.error};
    }
  }
  if (pulling.empty()) return {};
  return {ImagesVerdict::State::kPulling,
          fmt::format("pulling image{} {}", pulling.size() > 1 ? "s" : "", fmt::join(pulling, ", "))};
}

}  // namespace ozy
