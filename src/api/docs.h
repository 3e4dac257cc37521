// Documentation compiled into the agent, so problem `type` URIs
// ("/docs/errors.md#...") resolve against any node's API.
#pragma once

#include <string_view>

namespace ozy {

extern const std::string_view kErrorsMarkdown;

}  // namespace ozy
