// The images a pod needs, made ready before the pod is: each container's
// pull policy (docs/jobs.md#images) decides whether the node looks for the
// image, pulls it, or neither; credentials and TLS come from the operator's
// registry settings (ozy agent --registry-auth, --insecure-registry).
//
// The supervisor asks prepareImages() before it creates a pod. Pulls run on
// the ImagePuller's threads; this only asks and reads their outcome, so it
// never waits on a registry.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "agent/image_puller.h"
#include "job/job.h"
#include "runtime/runtime.h"

namespace ozy {

struct RegistrySettings {
  // By name, as a container's `registryAuth` names them: the keys of the
  // --registry-auth file.
  std::map<std::string, runtime::RegistryAuth> auths;
  // host:port of registries pulled from without TLS verification (and over
  // plain HTTP): --insecure-registry.
  std::set<std::string> insecure;
};

struct ImagesVerdict {
  enum class State { kReady, kPulling, kFailed };
  State state = State::kReady;
  std::string reason;  // kPulling: the images being pulled; kFailed: why not
};

// Whether the pod of `job` may be made now, from the node's images and the
// pulls under way; asks `puller` for the pulls it needs, as wanted at
// `askedAtMs` (when the instance first waited for its images).
ImagesVerdict prepareImages(const Job& job, runtime::ContainerRuntime& runtime, ImagePuller& puller,
                            const RegistrySettings& registries, std::int64_t askedAtMs);

}  // namespace ozy
