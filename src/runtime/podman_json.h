// The libpod REST API's JSON, translated to and from the runtime's types.
//
// Pure functions, kept apart from the socket code so the field names (which
// podman documents loosely and changes between versions) are pinned by unit
// tests (tests/runtime/podman_json_test.cpp). Field names are those podman
// 4.3.1 accepted and reported when probed with curl --unix-socket.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/runtime.h"

namespace ozy::runtime::podman {

// Body of POST /libpod/pods/create (a PodSpecGenerator).
nlohmann::json podCreateBody(const PodSpec& spec);
// Body of POST /libpod/containers/create (a SpecGenerator).
nlohmann::json containerCreateBody(const ContainerSpec& spec);

// The "Id" of a create answer.
Result<std::string, std::string> parseId(std::string_view body);

// Pods from GET /libpod/pods/json, their containers from GET
// /libpod/containers/json?all=true (infra containers are dropped).
Result<std::vector<PodSummary>, std::string> parsePodList(std::string_view podsBody,
                                                          std::string_view containersBody);
// GET /libpod/containers/{id}/json.
Result<ContainerState, std::string> parseContainerState(std::string_view body);
// The "InfraContainerID" of GET /libpod/pods/{id}/json.
Result<std::string, std::string> parseInfraContainerId(std::string_view body);
// The address and published ports of GET /libpod/containers/{infra}/json.
Result<PodNetwork, std::string> parsePodNetwork(std::string_view infraBody);
// GET /libpod/exec/{id}/json: the exit code, or nullopt while still running.
Result<std::optional<int>, std::string> parseExecExit(std::string_view body);

// The path, below the API prefix, of GET /libpod/containers/{name}/logs
// with both streams and `options` (already checked: no negative numbers).
std::string logsPath(const std::string& container, const LogOptions& options);

// The answer of POST /libpod/images/pull: one JSON object a line, "stream"
// for progress, then "error" (the pull failed: podman still answers 200) or
// "id" (the image's id). Errors are classified by podman's words.
RuntimeResult<std::string> parsePullStream(std::string_view body, std::string_view reference);
// The X-Registry-Auth header's value: base64url of {"username", "password",
// "serveraddress"}, as podman 4.3.1 accepted it when probed with curl.
std::string registryAuthHeader(const RegistryAuth& auth);

ContainerStatus parseStatus(std::string_view state);

// {"label":["k=v",...]} for the `filters` query parameter.
std::string labelFilter(const Labels& labels);
// {"pod":[id,...]}.
std::string podFilter(const std::vector<std::string>& podIds);
// Percent-encodes a query parameter value or a path segment (RFC 3986
// unreserved characters pass).
std::string percentEncode(std::string_view text);

// Turns a non-2xx answer into a RuntimeError. podman reports some missing
// objects as 500 with a telling "cause", so the cause is read as well as the
// status. `what` names the operation for the message, e.g. "start container
// web-1".
RuntimeError errorFromResponse(int status, std::string_view body, std::string_view what);

}  // namespace ozy::runtime::podman
