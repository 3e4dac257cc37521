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

// ensureTestImage() once per test binary, with the project's containers.conf:
// the first call imports the image if podman lacks it, later calls return
// what the first found ("" when the image is there).
const std::string& testImageOnce();

// The project's containers.conf (config/containers.conf).
std::string projectContainersConf();

}  // namespace ozy::testing_support
