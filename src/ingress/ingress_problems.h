// Problem types the ingress answers with by itself (docs/errors.md has a
// "## <slug>" section for each; tests/ingress checks it). Malformed and
// oversized requests use the HTTP layer's own types (http/http_problems.h).
#pragma once

#include "problem/problem.h"

namespace ozy::problems {

inline constexpr ProblemType kUnknownHost{"unknown-host", "No job serves this host", 404};
inline constexpr ProblemType kNoHealthyInstance{"no-healthy-instance", "No healthy instance", 503};
inline constexpr ProblemType kUpstreamFailed{"upstream-failed", "Bad gateway", 502};
inline constexpr ProblemType kUpstreamTimeout{"upstream-timeout", "Gateway timeout", 504};
inline constexpr ProblemType kRequestTimeout{"request-timeout", "Request timeout", 408};
inline constexpr ProblemType kNotAForwardProxy{"not-a-forward-proxy", "Not a forward proxy", 405};

inline constexpr ProblemType kIngressAll[] = {kUnknownHost,     kNoHealthyInstance, kUpstreamFailed,
                                              kUpstreamTimeout, kRequestTimeout,    kNotAForwardProxy};

}  // namespace ozy::problems
