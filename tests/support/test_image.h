// The image the podman tests run: a busybox-static root (sh, httpd, nc,
// sleep, wget, ...) imported as a local image, since no registry can be
// reached from the test hosts.
#pragma once

#include <string>

namespace ozy::testing_support {

inline constexpr const char* kTestImage = "localhost/ozy-test-busybox:2";

// Imports the image unless podman has it; `workDir` holds the image root
// while it is built. Returns an error message, empty on success.
std::string ensureTestImage(const std::string& workDir, const std::string& containersConf);

// The project's containers.conf (config/containers.conf).
std::string projectContainersConf();

}  // namespace ozy::testing_support
