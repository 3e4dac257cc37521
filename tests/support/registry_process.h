// RegistryProcess: a real, private image registry (Debian's docker-registry,
// the CNCF distribution registry) on a free loopback port, for the tests of
// image pulls.
//
// It serves plain HTTP from a temporary storage dir, optionally behind
// basic authentication (an htpasswd file made with `htpasswd -B`), and logs
// every request, so a test can count the manifest reads a pull makes. The
// process is killed by its pid and its files removed when the object goes.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace ozy::testing_support {

struct RegistryLogin {
  std::string user;
  std::string password;
};

struct RegistryProcessOptions {
  std::optional<RegistryLogin> login;  // none: anyone may push and pull
  std::string binary = "/usr/bin/docker-registry";
};

class RegistryProcess {
 public:
  // Starts the registry and waits until it answers GET /v2/.
  static Result<std::unique_ptr<RegistryProcess>, std::string> start(RegistryProcessOptions options = {});
  ~RegistryProcess();
  RegistryProcess(const RegistryProcess&) = delete;
  RegistryProcess& operator=(const RegistryProcess&) = delete;

  // "127.0.0.1:PORT", as image references name it.
  std::string host() const;
  int port() const { return port_; }
  // Successful GETs of the manifest `reference` (a tag or a digest) of
  // `repository`, as the registry's access log counts them.
  int manifestGets(const std::string& repository, const std::string& reference) const;
  std::string logTail(std::size_t maxBytes = 4000) const;

 private:
  RegistryProcess(RegistryProcessOptions options, std::string workDir, int port);
  Result<std::monostate, std::string> launch();

  RegistryProcessOptions options_;
  std::string workDir_;  // config.yml, htpasswd, storage/, registry.log
  int port_;
  pid_t pid_ = -1;
};

}  // namespace ozy::testing_support
