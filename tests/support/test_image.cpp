#include "support/test_image.h"

#include <cstdlib>

#include "support/temp_dir.h"

namespace ozy::testing_support {

std::string projectContainersConf() { return std::string(OZY_SOURCE_DIR) + "/config/containers.conf"; }

std::string ensureTestImage(const std::string& workDir, const std::string& containersConf) {
  const std::string env = "CONTAINERS_CONF='" + containersConf + "' ";
  if (std::system((env + "podman image exists " + kTestImage).c_str()) == 0) return {};
  const std::string root = workDir + "/image-root";
  const std::string script = "set -e; r='" + root +
                             "'; mkdir -p \"$r/bin\" \"$r/www\" \"$r/tmp\"; "
                             "cp /usr/bin/busybox \"$r/bin/busybox\"; "
                             "for l in sh httpd nc sleep wget true false head tr cat echo dd ls "
                             "rm mkdir touch nslookup; do "
                             "ln -sf busybox \"$r/bin/$l\"; done; "
                             "tar -C \"$r\" -c . | " +
                             env + "podman import - " + kTestImage + " >/dev/null";
  return std::system(script.c_str()) == 0 ? std::string()
                                          : "cannot import the test image (needs busybox-static)";
}

const std::string& testImageOnce() {
  static const std::string error = [] {
    TempDir work;
    return ensureTestImage(work.path(), projectContainersConf());
  }();
  return error;
}

}  // namespace ozy::testing_support
