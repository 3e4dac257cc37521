// Exit codes of the `ozy` command; scripts rely on them (docs/cli.md).
#pragma once

namespace ozy::exit_code {
inline constexpr int kOk = 0;
inline constexpr int kInvalidInput = 1;  // a file is unreadable or invalid
inline constexpr int kUsage = 2;         // wrong flags or arguments
inline constexpr int kUnplaceable = 3;   // valid jobs that do not fit the cluster
inline constexpr int kConflict = 4;      // no such job, version or node; nothing to promote
inline constexpr int kUnavailable = 5;   // the API or the cluster's store cannot be reached
inline constexpr int kUnauthorized = 6;  // the API refused the token
inline constexpr int kDeploymentFailed = 7;  // `ozy job run` followed a deployment that failed
}  // namespace ozy::exit_code
