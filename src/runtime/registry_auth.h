// Registry credentials in podman's auth.json format (containers-auth.json(5)):
// {"auths": {"registry.example.com:5000": {"auth": base64("user:password")}}}.
// `ozy agent --registry-auth FILE` reads one; a container's `registryAuth`
// names one of its keys. Pure: the agent reads the file.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"
#include "runtime/runtime.h"

namespace ozy::runtime {

// By key ("host[:port]" or "host[:port]/path"); each login's serverAddress
// is the key's host part. Errors name the key at fault, never a secret.
Result<std::map<std::string, RegistryAuth>, std::string> parseRegistryAuthFile(std::string_view text);

}  // namespace ozy::runtime
