// PodmanRuntime: ContainerRuntime over podman's libpod REST API
// (`podman system service`) on a UNIX socket.
//
// Speaks the API version-prefixed (/v4.0.0/libpod/...), which podman 4.x
// serves unchanged. Each call is one HTTP exchange with its own deadline;
// calls that wait on purpose (stop, exec) extend it by what they wait.
// Logs and exec output are read as they stream (frame_decoder.h), so an
// endless followed log or a chatty command costs no more memory than a frame.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/runtime.h"
#include "runtime/unix_http.h"

namespace ozy::runtime {

struct PodmanConfig {
  std::string socketPath;  // e.g. /run/podman/podman.sock
  // For every call, on top of any time the call waits on purpose.
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};
  // A forced removal stops running containers with their own stop timeouts,
  // which this side does not know; this bounds the wait.
  std::chrono::seconds removeGrace{60};
  // An image pull moves the whole image over the network.
  std::chrono::milliseconds pullDeadline{std::chrono::minutes(30)};
  std::string apiPrefix = "/v4.0.0/libpod";
};

class PodmanRuntime final : public ContainerRuntime {
 public:
  explicit PodmanRuntime(PodmanConfig config);

  RuntimeResult<Done> ping() override;
  RuntimeResult<bool> imageExists(const std::string& image) override;
  RuntimeResult<Done> removeImage(const std::string& reference) override;
  RuntimeResult<std::string> pullImage(const std::string& reference,
                                       const std::optional<RegistryAuth>& auth, bool tlsVerify,
                                       std::stop_token stop) override;

  RuntimeResult<std::string> createPod(const PodSpec& spec) override;
  RuntimeResult<Done> startPod(const std::string& pod) override;
  RuntimeResult<Done> stopPod(const std::string& pod, std::chrono::seconds timeout) override;
  RuntimeResult<Done> removePod(const std::string& pod, bool force) override;
  RuntimeResult<std::vector<PodSummary>> listPods(const Labels& labels) override;
  RuntimeResult<PodNetwork> inspectPodNetwork(const std::string& pod) override;

  RuntimeResult<std::string> createContainer(const ContainerSpec& spec) override;
  RuntimeResult<Done> startContainer(const std::string& container) override;
  RuntimeResult<Done> stopContainer(const std::string& container,
                                    std::chrono::seconds timeout) override;
  RuntimeResult<Done> removeContainer(const std::string& container, bool force) override;
  RuntimeResult<ContainerState> inspectContainer(const std::string& container) override;

  RuntimeResult<ExecResult> exec(const std::string& container,
                                 const std::vector<std::string>& command,
                                 std::chrono::milliseconds timeout) override;
  RuntimeResult<Done> containerLogs(const std::string& container, const LogOptions& options,
                                    const LogSink& onChunk, std::stop_token stop) override;

 private:
  struct Call {
    std::string method;
    std::string path;  // below apiPrefix, already encoded
    std::string body;  // JSON; empty: none
    std::string what;  // for messages: "start container web-1"
    std::chrono::milliseconds extraTime{0};
  };
  // One exchange; a non-2xx status (except 304, "already so") is an error.
  // `headers` go besides Content-Type; `stop` abandons the exchange.
  RuntimeResult<http::ClientResponse> call(const Call& call, const http::Headers& headers = {},
                                           std::stop_token stop = {}) const;
  RuntimeResult<Done> simple(const Call& call) const;
  // One streamed exchange at `path` below apiPrefix: a 2xx body goes to
  // `onBody` as it arrives, any other status becomes the error, as in
  // call(). With `commandTimeout`, running out of time is the command's
  // fault (kTimeout: an exec's), not the engine's (kUnavailable).
  RuntimeResult<StreamEnd> stream(const std::string& method, const std::string& path,
                                  const std::string& body, const StreamDeadlines& deadlines,
                                  const std::function<bool(std::string_view)>& onBody,
                                  const std::string& what,
                                  std::optional<std::chrono::milliseconds> commandTimeout,
                                  std::stop_token stop = {}) const;

  PodmanConfig config_;
  UnixHttpClient http_;
};

}  // namespace ozy::runtime
