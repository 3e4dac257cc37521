// PodmanRuntime: each operation is one or a few libpod calls; see
// podman_runtime.h. JSON shapes live in podman_json.cpp.
#include "runtime/podman_runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "runtime/frame_decoder.h"
#include "runtime/podman_json.h"

namespace ozy::runtime {

namespace {

using Code = RuntimeError::Code;

std::string segment(const std::string& idOrName) {
  return podman::percentEncode(idOrName);
}

std::string boolText(bool value) {
  return value ? "true" : "false";
}

// The failure of an exchange that got no answer, or no whole one.
RuntimeError unreachable(const UnixHttpError& error, std::string_view what) {
  if (error.stopped) {
    return {Code::kUnavailable,
            fmt::format("abandoned the attempt to {}: the agent is stopping", what)};
  }
  const std::string hint =
      error.connectFailed ? " (is `podman system service` running on that socket?)" : "";
  return {Code::kUnavailable, fmt::format("cannot {}: {}{}", what, error.message, hint)};
}

// Enough of an error answer for its message; podman's are a few hundred bytes.
constexpr std::size_t kErrorBodyLimit = std::size_t{64} << 10;

}  // namespace

std::string_view toString(RuntimeError::Code code) {
  switch (code) {
    case Code::kUnavailable:
      return "unavailable";
    case Code::kNotFound:
      return "not found";
    case Code::kConflict:
      return "conflict";
    case Code::kInvalid:
      return "invalid";
    case Code::kTimeout:
      return "timeout";
    case Code::kOther:
      break;
  }
  return "other";
}

std::string_view toString(LogStream stream) {
  return stream == LogStream::kStdout ? "stdout" : "stderr";
}

std::string_view toString(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kPaused:
      return "paused";
    case ContainerStatus::kStopping:
      return "stopping";
    case ContainerStatus::kExited:
      return "exited";
    case ContainerStatus::kUnknown:
      break;
  }
  return "unknown";
}

PodmanRuntime::PodmanRuntime(PodmanConfig config)
    : config_(std::move(config)),
      http_(UnixHttpConfig{config_.socketPath, config_.deadline, std::size_t{64} << 20}) {}

RuntimeResult<http::ClientResponse> PodmanRuntime::call(const Call& call,
                                                        const http::Headers& headers,
                                                        std::stop_token stop) const {
  http::ClientRequest request;
  request.method = call.method;
  request.path = config_.apiPrefix + call.path;
  request.headers = headers;
  if (!call.body.empty()) {
    request.headers.add("Content-Type", "application/json");
    request.body = call.body;
  }
  auto response = http_.send(request, config_.deadline + call.extraTime, std::move(stop));
  if (!response) return fail(unreachable(response.error(), call.what));
  const int status = response->status;
  if ((status >= 200 && status < 300) || status == 304) return std::move(response).value();
  return fail(podman::errorFromResponse(status, response->body, call.what));
}

RuntimeResult<StreamEnd> PodmanRuntime::stream(
    const std::string& method, const std::string& path, const std::string& body,
    const StreamDeadlines& deadlines, const std::function<bool(std::string_view)>& onBody,
    const std::string& what, std::optional<std::chrono::milliseconds> commandTimeout,
    std::stop_token stop) const {
  http::ClientRequest request;
  request.method = method;
  request.path = config_.apiPrefix + path;
  if (!body.empty()) {
    request.headers.add("Content-Type", "application/json");
    request.body = body;
  }
  int status = 0;
  std::string errorBody;
  const auto onHead = [&](const http::ClientResponse& head) {
    status = head.status;
    return true;
  };
  const auto onPiece = [&](std::string_view piece) {
    if (status >= 200 && status < 300) return onBody(piece);
    errorBody.append(
        piece.substr(0, kErrorBodyLimit - std::min(kErrorBodyLimit, errorBody.size())));
    return errorBody.size() < kErrorBodyLimit;
  };
  auto ended = http_.sendStreaming(request, deadlines, onHead, onPiece, std::move(stop));
  if (!ended) {
    if (commandTimeout && ended.error().timedOut) {
      return fail(
          RuntimeError{Code::kTimeout, fmt::format("{}: the command did not finish within {}ms",
                                                   what, commandTimeout->count())});
    }
    return fail(unreachable(ended.error(), what));
  }
  if (status != 0 && (status < 200 || status >= 300)) {
    return fail(podman::errorFromResponse(status, errorBody, what));
  }
  return *ended;
}

RuntimeResult<Done> PodmanRuntime::simple(const Call& c) const {
  auto response = call(c);
  if (!response) return fail(std::move(response).error());
  return Done{};
}

RuntimeResult<Done> PodmanRuntime::ping() {
  return simple({"GET", "/_ping", "", "reach podman", {}});
}

RuntimeResult<bool> PodmanRuntime::imageExists(const std::string& image) {
  auto response =
      call({"GET", "/images/" + segment(image) + "/exists", "", "look up image " + image, {}});
  if (response) return true;
  if (response.error().code == Code::kNotFound) return false;
  return fail(std::move(response).error());
}

RuntimeResult<Done> PodmanRuntime::removeImage(const std::string& reference) {
  // Without force: podman refuses (409) while any container uses the image.
  return simple({"DELETE", "/images/" + segment(reference), "", "remove image " + reference, {}});
}

RuntimeResult<std::string> PodmanRuntime::pullImage(const std::string& reference,
                                                    const std::optional<RegistryAuth>& auth,
                                                    bool tlsVerify, std::stop_token stop) {
  // quiet: the answer holds only the outcome, not every layer's progress.
  const Call c{"POST",
               fmt::format("/images/pull?reference={}&tlsVerify={}&quiet=true",
                           podman::percentEncode(reference), boolText(tlsVerify)),
               "", "pull image " + reference, config_.pullDeadline};
  http::Headers headers;
  if (auth) headers.add("X-Registry-Auth", podman::registryAuthHeader(*auth));
  auto response = call(c, headers, std::move(stop));
  if (!response) return fail(std::move(response).error());
  // podman answers 200 whatever happens, and tells in the stream.
  return podman::parsePullStream(response->body, reference);
}

RuntimeResult<std::string> PodmanRuntime::createPod(const PodSpec& spec) {
  auto response = call(
      {"POST", "/pods/create", podman::podCreateBody(spec).dump(), "create pod " + spec.name, {}});
  if (!response) return fail(std::move(response).error());
  auto id = podman::parseId(response->body);
  if (!id) return fail(RuntimeError{Code::kOther, std::move(id).error()});
  return std::move(id).value();
}

RuntimeResult<Done> PodmanRuntime::startPod(const std::string& pod) {
  return simple({"POST", "/pods/" + segment(pod) + "/start", "", "start pod " + pod, {}});
}

RuntimeResult<Done> PodmanRuntime::stopPod(const std::string& pod, std::chrono::seconds timeout) {
  // Pods take the timeout as "t", containers as "timeout".
  return simple({"POST", fmt::format("/pods/{}/stop?t={}", segment(pod), timeout.count()), "",
                 "stop pod " + pod, timeout});
}

RuntimeResult<Done> PodmanRuntime::removePod(const std::string& pod, bool force) {
  // Pods in user namespaces removed side by side sometimes fail with
  // "unlinkat .../userdata/shm: device or resource busy" (podman 4.3.1;
  // measured: never without user namespaces, and a try a moment later
  // succeeds), so that failure is tried again, a few times.
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    auto removed =
        simple({"DELETE", fmt::format("/pods/{}?force={}", segment(pod), boolText(force)), "",
                "remove pod " + pod, force ? config_.removeGrace : std::chrono::seconds(0)});
    if (removed || attempt == kAttempts ||
        removed.error().message.find("device or resource busy") == std::string::npos) {
      return removed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250 << (attempt - 1)));
  }
}

RuntimeResult<std::vector<PodSummary>> PodmanRuntime::listPods(const Labels& labels) {
  std::string path = "/pods/json";
  if (!labels.empty()) path += "?filters=" + podman::percentEncode(podman::labelFilter(labels));
  auto pods = call({"GET", path, "", "list pods", {}});
  if (!pods) return fail(std::move(pods).error());
  auto listed = podman::parsePodList(pods->body, "[]");
  if (!listed) return fail(RuntimeError{Code::kOther, std::move(listed).error()});
  if (listed->empty()) return std::move(listed).value();

  // The pod listing names its containers but not their exit codes: one more
  // call fetches them all.
  std::vector<std::string> ids;
  for (const PodSummary& pod : *listed) ids.push_back(pod.id);
  auto containers =
      call({"GET",
            "/containers/json?all=true&filters=" + podman::percentEncode(podman::podFilter(ids)),
            "",
            "list the pods' containers",
            {}});
  if (!containers) return fail(std::move(containers).error());
  auto result = podman::parsePodList(pods->body, containers->body);
  if (!result) return fail(RuntimeError{Code::kOther, std::move(result).error()});
  return std::move(result).value();
}

RuntimeResult<std::string> PodmanRuntime::createContainer(const ContainerSpec& spec) {
  auto response = call({"POST",
                        "/containers/create",
                        podman::containerCreateBody(spec).dump(),
                        "create container " + spec.name,
                        {}});
  if (!response) return fail(std::move(response).error());
  auto id = podman::parseId(response->body);
  if (!id) return fail(RuntimeError{Code::kOther, std::move(id).error()});
  return std::move(id).value();
}

RuntimeResult<Done> PodmanRuntime::startContainer(const std::string& container) {
  return simple({"POST",
                 "/containers/" + segment(container) + "/start",
                 "",
                 "start container " + container,
                 {}});
}

RuntimeResult<Done> PodmanRuntime::stopContainer(const std::string& container,
                                                 std::chrono::seconds timeout) {
  return simple({"POST",
                 fmt::format("/containers/{}/stop?timeout={}", segment(container), timeout.count()),
                 "", "stop container " + container, timeout});
}

RuntimeResult<Done> PodmanRuntime::removeContainer(const std::string& container, bool force) {
  return simple(
      {"DELETE", fmt::format("/containers/{}?force={}", segment(container), boolText(force)), "",
       "remove container " + container, force ? config_.removeGrace : std::chrono::seconds(0)});
}

RuntimeResult<PodNetwork> PodmanRuntime::inspectPodNetwork(const std::string& pod) {
  auto podBody = call({"GET", "/pods/" + segment(pod) + "/json", "", "inspect pod " + pod, {}});
  if (!podBody) return fail(std::move(podBody).error());
  auto infra = podman::parseInfraContainerId(podBody->body);
  if (!infra) return fail(RuntimeError{Code::kOther, "inspect pod " + pod + ": " + infra.error()});
  auto infraBody = call({"GET",
                         "/containers/" + segment(*infra) + "/json",
                         "",
                         "inspect the infra container of pod " + pod,
                         {}});
  if (!infraBody) return fail(std::move(infraBody).error());
  auto network = podman::parsePodNetwork(infraBody->body);
  if (!network) return fail(RuntimeError{Code::kOther, std::move(network).error()});
  return std::move(network).value();
}

RuntimeResult<ContainerState> PodmanRuntime::inspectContainer(const std::string& container) {
  auto response = call({"GET",
                        "/containers/" + segment(container) + "/json",
                        "",
                        "inspect container " + container,
                        {}});
  if (!response) return fail(std::move(response).error());
  auto state = podman::parseContainerState(response->body);
  if (!state) return fail(RuntimeError{Code::kOther, std::move(state).error()});
  return std::move(state).value();
}

RuntimeResult<ExecResult> PodmanRuntime::exec(const std::string& container,
                                              const std::vector<std::string>& command,
                                              std::chrono::milliseconds timeout) {
  const std::string what = fmt::format("exec in container {}", container);
  // podman 4.3 never marks a detached exec session as finished, so the
  // session is started attached: the answer's stream (the command's output,
  // framed) ends when the command does.
  const nlohmann::json create = {{"Cmd", command}, {"AttachStdout", true}, {"AttachStderr", true}};
  auto session =
      call({"POST", "/containers/" + segment(container) + "/exec", create.dump(), what, {}});
  if (!session) return fail(std::move(session).error());
  auto id = podman::parseId(session->body);
  if (!id) return fail(RuntimeError{Code::kOther, std::move(id).error()});

  ExecResult result;
  // Past the limit the output is read and dropped: the stream must be
  // drained for the command's end to be seen.
  const auto keep = [&](LogStream which, std::string_view piece) {
    std::string& text = which == LogStream::kStdout ? result.stdoutText : result.stderrText;
    const std::size_t room = kExecOutputLimit - std::min(kExecOutputLimit, text.size());
    if (piece.size() > room) result.truncated = true;
    text.append(piece.substr(0, room));
    return true;
  };
  podman::FrameDecoder decoder;
  std::string malformed;
  const auto onBody = [&](std::string_view piece) {
    auto fed = decoder.feed(piece, keep);
    if (!fed) malformed = std::move(fed).error();
    return fed.ok();
  };
  auto ended = stream("POST", "/exec/" + *id + "/start", R"({"Detach":false})",
                      {timeout, timeout, timeout}, onBody, what, timeout);
  if (!ended) return fail(std::move(ended).error());
  if (!malformed.empty()) {
    return fail(RuntimeError{Code::kOther,
                             fmt::format("{}: podman's output stream holds {}", what, malformed)});
  }
  if (!decoder.atBoundary()) {
    return fail(
        RuntimeError{Code::kUnavailable, what + ": podman's output stream ended inside a frame"});
  }

  auto inspected = call({"GET", "/exec/" + *id + "/json", "", what, {}});
  if (!inspected) return fail(std::move(inspected).error());
  auto exit = podman::parseExecExit(inspected->body);
  if (!exit) return fail(RuntimeError{Code::kOther, std::move(exit).error()});
  if (!exit->has_value()) {
    return fail(RuntimeError{Code::kOther, what + ": podman still reports the command running"});
  }
  result.exitCode = **exit;
  return result;
}

RuntimeResult<Done> PodmanRuntime::containerLogs(const std::string& container,
                                                 const LogOptions& options, const LogSink& onChunk,
                                                 std::stop_token stop) {
  const std::string what = fmt::format("read the logs of container {}", container);
  if (options.tailLines.value_or(0) < 0 || options.sinceUnixSeconds.value_or(0) < 0) {
    return fail(RuntimeError{Code::kInvalid, what + ": a tail or since must not be negative"});
  }
  // A followed log has no end but the container's, and podman 4.3.1 sends
  // the answer's header only with the first line: while the container is
  // silent, only `stop` bounds the wait. A log without follow ends by
  // itself and must do so within the deadline.
  StreamDeadlines deadlines{config_.deadline, config_.deadline, config_.deadline};
  if (options.follow) deadlines.head = deadlines.whole = std::nullopt;

  podman::FrameDecoder decoder;
  std::string malformed;
  const auto onBody = [&](std::string_view piece) {
    auto fed = decoder.feed(piece, onChunk);
    if (!fed) {
      malformed = std::move(fed).error();
      return false;
    }
    return *fed == podman::FrameDecoder::Fed::kWantsMore;
  };
  auto ended = stream("GET", podman::logsPath(container, options), "", deadlines, onBody, what,
                      std::nullopt, std::move(stop));
  if (!ended) return fail(std::move(ended).error());
  if (!malformed.empty()) {
    return fail(RuntimeError{Code::kOther,
                             fmt::format("{}: podman's log stream holds {}", what, malformed)});
  }
  if (*ended == StreamEnd::kComplete && !decoder.atBoundary()) {
    return fail(
        RuntimeError{Code::kUnavailable, what + ": podman's log stream ended inside a frame"});
  }
  return Done{};
}

}  // namespace ozy::runtime
