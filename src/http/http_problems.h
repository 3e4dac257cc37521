// Problem types the HTTP layer answers with by itself, before or around the
// application: malformed or oversized requests, authentication, routing and
// server faults. Each slug needs a "## <slug>" section in docs/errors.md, as
// the types in problem/problem.h do.
#pragma once

#include "problem/problem.h"

namespace ozy::problems {

inline constexpr ProblemType kBadRequest{"bad-request", "Bad request", 400};
inline constexpr ProblemType kUnauthorized{"unauthorized", "Unauthorized", 401};
inline constexpr ProblemType kOriginNotAllowed{"origin-not-allowed", "Origin not allowed", 403};
inline constexpr ProblemType kNotFound{"not-found", "Not found", 404};
inline constexpr ProblemType kMethodNotAllowed{"method-not-allowed", "Method not allowed", 405};
inline constexpr ProblemType kRequestTooLarge{"request-too-large", "Request too large", 413};
inline constexpr ProblemType kUnsupportedMediaType{"unsupported-media-type",
                                                   "Unsupported media type", 415};
inline constexpr ProblemType kHostNotAllowed{"host-not-allowed", "Host not allowed", 421};
inline constexpr ProblemType kRequestHeadersTooLarge{"request-headers-too-large",
                                                     "Request headers too large", 431};
inline constexpr ProblemType kInternalError{"internal-error", "Internal server error", 500};
inline constexpr ProblemType kServerBusy{"server-busy", "Server busy", 503};

inline constexpr ProblemType kHttpAll[] = {
    kBadRequest,      kUnauthorized,           kNotFound,     kMethodNotAllowed,
    kRequestTooLarge, kRequestHeadersTooLarge, kInternalError, kServerBusy,
    kOriginNotAllowed, kUnsupportedMediaType, kHostNotAllowed};

}  // namespace ozy::problems
