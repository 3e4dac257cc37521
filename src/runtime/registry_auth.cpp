#include "runtime/registry_auth.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace ozy::runtime {

Result<std::map<std::string, RegistryAuth>, std::string> parseRegistryAuthFile(std::string_view text) {
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return fail(std::string("it is not a JSON object"));
  const auto auths = parsed.find("auths");
  if (auths == parsed.end() || !auths->is_object()) {
    return fail(std::string("it has no \"auths\" object (expected {\"auths\": {\"HOST:PORT\": {\"auth\": ...}}})"));
  }
  std::map<std::string, RegistryAuth> out;
  for (const auto& [key, entry] : auths->items()) {
    const auto auth = entry.is_object() ? entry.find("auth") : entry.end();
    if (auth == entry.end() || !auth->is_string()) {
      return fail(fmt::format("the entry for \"{}\" has no \"auth\" string (base64 of user:password)", key));
    }
    const auto decoded = base64Decode(auth->get<std::string>());
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return fail(fmt::format("the \"auth\" of \"{}\" is not base64 of user:password", key));
    }
    out[key] = RegistryAuth{decoded->substr(0, colon), decoded->substr(colon + 1), key.substr(0, key.find('/'))};
  }
  return out;
}

}  // namespace ozy::runtime
