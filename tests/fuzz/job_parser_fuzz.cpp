// libFuzzer target: any bytes into the job parser. Crashes, sanitizer
// reports, or a round trip that loses information are bugs.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "job/job_format.h"
#include "job/job_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto job = ozy::parseJob(text);
  if (!job) {
    // Problems must always serialise (e.g. no invalid UTF-8 surprises).
    (void)ozy::toProblem(job.error()).dump();
    return 0;
  }
  // A valid job written out and read back must be the same job.
  // Strict dump: a valid job holds only UTF-8 text, so this must not throw.
  const auto json = ozy::toJson(*job).dump();
  auto again = ozy::parseJob(json);
  if (!again || !(*again == *job)) std::abort();
  auto fromYaml = ozy::parseJob(ozy::toYaml(*job));
  if (!fromYaml || !(*fromYaml == *job)) std::abort();
  return 0;
}
