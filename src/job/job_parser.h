// Job files: text in, a validated Job or every problem found out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "job/job.h"
#include "job/yaml_reader.h"
#include "problem/problem.h"

namespace ozy {

struct JobParseError {
  bool tooLarge = false;  // refused before parsing; see YamlLimits
  std::vector<FieldError> errors;
};

// Parses and validates a job file (YAML, or JSON, which is YAML too).
Result<Job, JobParseError> parseJob(std::string_view text, const YamlLimits& limits = {});

// The problem document the CLI prints and the API sends for a failed parse.
// `jobName` may be empty when the file has no readable name.
Problem toProblem(const JobParseError& error, std::string_view jobName = {});

// Semantic rules that span fields (names, depends_on, port collisions); run by
// parseJob(), exposed for jobs built in code.
std::vector<FieldError> validateJob(const Job& job);

// One entry of a container's `ports`: "3000", "80:3000", "127.0.0.1:80:3000",
// "[::1]:80:3000", each optionally with "/tcp" or "/udp".
Result<PortMapping, std::string> parsePortMapping(std::string_view text);

// RFC 1123 label: 1 to 63 of [a-z0-9-], starting and ending with a letter or digit.
bool isDnsLabel(std::string_view name);

// RFC 1123 host name: dot-separated DNS labels, at most 253 characters.
bool isHostName(std::string_view name);

// A host name of a container's `ingress.hosts`, lowercased. Refused, with a
// message saying why: wildcards, a port, a trailing dot, a single label, an
// IP address, anything that is not an RFC 1123 host name.
Result<std::string, std::string> parseIngressHost(std::string_view text);

// The container port a container's ingress goes to when the file names none:
// its http health check's port, else its only TCP container port.
std::optional<std::uint16_t> derivedIngressPort(const Container& container);

// The container that a job without any `ingress` key is served through, as
// <job>.<cluster domain> on derivedIngressPort(): the only container that
// publishes TCP ports, when its port can be derived. The parser applies it;
// the formatter writes `ingress: false` where it must not apply again.
std::optional<std::size_t> defaultIngressContainer(const Job& job);

// Indices into job.containers in an order that starts every container after
// the ones it depends on; ties keep the file's order. Requires a job without
// cycles (validateJob() reports cycles).
std::vector<std::size_t> startOrder(const Job& job);

}  // namespace ozy
