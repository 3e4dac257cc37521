// Exit codes of the `ozy` command; scripts rely on them (docs/cli.md).
#pragma once

namespace ozy::exit_code {
inline constexpr int kOk = 0;
inline constexpr int kInvalidInput = 1;  // a file is unreadable or invalid
inline constexpr int kUsage = 2;         // wrong flags or arguments
inline constexpr int kUnplaceable = 3;   // valid jobs that do not fit the cluster
}  // namespace ozy::exit_code
