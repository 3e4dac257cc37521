// What an image reference ("registry:5000/team/app:1.2@sha256:...") says
// about where the image comes from and whether what it names can change:
// the registry a node pulls it from, whether a digest pins it, and the pull
// policy a container gets when its job file names none. Pure.
#pragma once

#include <string_view>

#include "job/job.h"

namespace ozy {

// The registry host (with its port, if any) the reference names, or
// "docker.io" when its first part is not a host: as Docker and podman read
// references, that part is a host only if it holds a '.' or a ':' or is
// "localhost".
std::string_view imageRegistry(std::string_view reference);

// "name@sha256:...": the reference names one image, forever.
bool isDigestReference(std::string_view reference);

// Kubernetes' defaults: `always` for an untagged image or the `latest` tag
// (both move), `if-not-present` for any other tag and for digests.
PullPolicy defaultPullPolicy(std::string_view reference);

}  // namespace ozy
