#include "api/instance_api.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stop_token>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/api_support.h"
#include "http/http_problems.h"
#include "http/request_target.h"
#include "http/url.h"
#include "job/job_parser.h"
#include "job/units.h"
#include "reconcile/reconciler.h"

namespace ozy::api {

using nlohmann::json;

namespace {

constexpr std::string_view kRelayedBy = "X-Ozy-Relayed-By";
constexpr std::int64_t kMaxTail = 1'000'000;
constexpr std::size_t kMaxExecArgs = 256;
constexpr std::size_t kMaxExecBytes = 64 << 10;
constexpr std::int64_t kMaxExecSeconds = 300;


Problem badRequest(std::string detail) { return makeProblem(problems::kBadRequest, std::move(detail)); }

Result<bool, Problem> flag(const http::Request& req, std::string_view name) {
  const auto value = req.queryParameter(name);
  if (!value || *value == "false" || *value == "0") return false;
  if (*value == "true" || *value == "1" || value->empty()) return true;
  return fail(badRequest(fmt::format("{} must be true or false.", name)));
}

// What a log request asks for, from its query.
struct LogQuery {
  std::string container;
  runtime::LogOptions options;
  bool stdoutWanted = true;
  bool stderrWanted = true;
  bool mark = false;  // each line begins with the stream's name
};

Result<LogQuery, Problem> logQuery(const http::Request& req, std::int64_t nowMs) {
  LogQuery q;
  q.container = std::string(req.queryParameter("container").value_or(""));
  auto follow = flag(req, "follow");
  auto mark = flag(req, "mark");
  auto timestamps = flag(req, "timestamps");
  for (auto* f : {&follow, &mark, &timestamps}) {
    if (!*f) return fail(f->error());
  }
  q.options.follow = *follow;
  q.mark = *mark;
  q.options.timestamps = *timestamps;
  if (auto tail = req.queryParameter("tail")) {
    auto n = parseNumber(*tail);
    if (!n || *n > static_cast<std::uint64_t>(kMaxTail)) {
      return fail(badRequest(fmt::format("tail must be a number of lines from 0 to {}.", kMaxTail)));
    }
    q.options.tailLines = static_cast<std::int64_t>(*n);
  }
  if (auto since = req.queryParameter("since")) {
    auto d = parseDuration(*since);
    if (!d || d->count() < 0) return fail(badRequest("since must be a duration, e.g. 10m or 90s."));
    q.options.sinceUnixSeconds = std::max<std::int64_t>(0, (nowMs - d->count()) / 1000);
  }
  const std::string stream(req.queryParameter("stream").value_or("all"));
  if (stream != "all" && stream != "stdout" && stream != "stderr") {
    return fail(badRequest("stream must be all, stdout or stderr."));
  }
  q.stdoutWanted = stream != "stderr";
  q.stderrWanted = stream != "stdout";
  return q;
}

// Marks each line of a stream with the stream's name, across pieces that
// split lines anywhere.
class LineMarker {
 public:
  std::string apply(runtime::LogStream stream, std::string_view piece) {
    bool& atStart = stream == runtime::LogStream::kStdout ? stdoutAtStart_ : stderrAtStart_;
    const std::string prefix = stream == runtime::LogStream::kStdout ? "stdout: " : "stderr: ";
    std::string out;
    for (const char c : piece) {
      if (atStart) out += prefix;
      out += c;
      atStart = c == '\n';
    }
    return out;
  }

 private:
  bool stdoutAtStart_ = true;
  bool stderrAtStart_ = true;
};

// Ends `source`'s token once the client of `writer` has gone, for a log
// follow that may wait a long time for its next line.
class ClientWatch {
 public:
  ClientWatch(http::BodyWriter& writer, std::stop_source& source)
      : thread_([&writer, &source](std::stop_token self) {
          while (!self.stop_requested()) {
            if (!writer.open()) {
              source.request_stop();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }) {}

 private:
  std::jthread thread_;
};

// A relayed stream: the relaying agent's client reads the other agent's
// answer on its own thread, and the response's producer writes what it
// hands over. At most kDepth pieces wait between them, so a slow client
// slows the read instead of filling memory.
class Relay {
 public:
  static constexpr std::size_t kDepth = 16;
  struct Head {
    int status = 0;
    std::string contentType;
    std::string body;  // of an answer that is not 2xx
    std::string error;  // the exchange failed before a header came
  };

  Relay(http::HttpClient client, http::ClientRequest request) : client_(std::move(client)) {
    thread_ = std::thread([this, request = std::move(request)] { run(request); });
  }
  ~Relay() {
    cancel();
    if (thread_.joinable()) thread_.join();
  }

  std::future<Head> head() { return headPromise_.get_future(); }
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
  }
  // Why the other side's body ended early; empty if it did not.
  std::string failure() {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  // The next piece; nullopt once the other side's body has ended (or the
  // relay was cancelled). Waits at most `wait`, then returns an empty piece.
  std::optional<std::string> next(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, wait, [this] { return !queue_.empty() || done_ || cancelled_; });
    if (!queue_.empty()) {
      std::string piece = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
      return piece;
    }
    if (done_ || cancelled_) return std::nullopt;
    return std::string();
  }

 private:
  void run(const http::ClientRequest& request) {
    Head head;
    bool headSent = false;
    http::StreamHandlers handlers;
    handlers.onHead = [&](int status, const http::Headers& headers) {
      head.status = status;
      head.contentType = std::string(headers.get("Content-Type").value_or("text/plain; charset=utf-8"));
      if (status >= 200 && status < 300) {
        headPromise_.set_value(head);
        headSent = true;
      }
      return true;
    };
    handlers.onChunk = [&](std::string_view piece) {
      if (!headSent) {  // a problem document: kept whole (bounded by the client)
        head.body.append(piece);
        return true;
      }
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return queue_.size() < kDepth || cancelled_; });
      if (cancelled_) return false;
      queue_.emplace_back(piece);
      changed_.notify_all();
      return true;
    };
    http::StreamOptions options;
    options.cancelled = [this] {
      std::lock_guard lock(mutex_);
      return cancelled_;
    };
    auto status = client_.stream(request, handlers, options);
    if (!headSent) {
      if (!status) head.error = status.error();
      headPromise_.set_value(std::move(head));
    }
    std::lock_guard lock(mutex_);
    if (headSent && !status && !cancelled_) failure_ = status.error();
    done_ = true;
    changed_.notify_all();
  }

  http::HttpClient client_;
  std::promise<Head> headPromise_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  bool done_ = false;
  bool cancelled_ = false;
  std::string failure_;  // why the other side's body ended early
  std::thread thread_;
};

std::string relayTarget(const http::Request& req) {
  std::string target = req.path;
  char sep = '?';
  for (const auto& q : req.query) {
    target += sep + http::percentEncode(q.name) + "=" + http::percentEncode(q.value);
    sep = '&';
  }
  return target;
}

// The command line as a log line shows it: quoted, without control
// characters, cut short.
std::string describeCommand(const std::vector<std::string>& command) {
  std::string out;
  for (const auto& arg : command) {
    if (!out.empty()) out += ' ';
    out += json(arg).dump(-1, ' ', true, json::error_handler_t::replace);
    if (out.size() > 300) return out.substr(0, 300) + "...";
  }
  return out;
}

}  // namespace

struct InstanceApi::Target {
  std::string node;
  std::string api;         // the node's API, when it is another node
  std::string engineName;  // the engine's container, when it is this node
  std::string container;
  std::uint32_t id = 0;
  runtime::ContainerRuntime* runtime = nullptr;  // when it is this node
};

InstanceApi::InstanceApi(ControlPlane& control, InstanceApiConfig config)
    : control_(control), config_(std::move(config)) {}

Result<InstanceApi::Target, Problem> InstanceApi::locate(const http::Request& req, const std::string& job,
                                                         const std::string& idText, const std::string& container) {
  const auto id = parseNumber(idText);
  auto info = control_.job(job);
  if (!info) return fail(std::move(info).error());
  if (!id || *id > UINT32_MAX) {
    return fail(makeProblem(problems::kInstanceNotFound,
                            fmt::format("\"{}\" is not an instance id: ids are numbers from 0.", idText.substr(0, 40)),
                            {{"job", job}}));
  }
  const auto instance = std::find_if(info->instances.begin(), info->instances.end(),
                                     [&](const InstanceInfo& i) { return i.id == *id; });
  if (instance == info->instances.end()) {
    return fail(makeProblem(problems::kInstanceNotFound,
                            fmt::format("Job \"{}\" has no instance {} (it has {}).", job, *id, info->instances.size()),
                            {{"job", job}, {"instance", *id}}));
  }
  Target target;
  target.id = static_cast<std::uint32_t>(*id);
  json names = json::array();
  for (const auto& c : info->record.spec.containers) names.push_back(c.name);
  if (container.empty() && info->record.spec.containers.size() == 1) {
    target.container = info->record.spec.containers.front().name;
  } else if (info->record.spec.findContainer(container) != nullptr) {
    target.container = container;
  } else {
    return fail(makeProblem(
        problems::kContainerNotFound,
        container.empty()
            ? fmt::format("Job \"{}\" has {} containers: name one (container=, or --container).", job, names.size())
            : fmt::format("Job \"{}\" has no container \"{}\".", job, container.substr(0, 80)),
        {{"job", job}, {"containers", names}}));
  }
  target.node = instance->node;
  if (target.node.empty()) {
    return fail(makeProblem(problems::kInstanceNotRunning,
                            fmt::format("Instance {} of job \"{}\" is pending: no node has room for it.", *id, job),
                            {{"job", job}, {"instance", *id}}));
  }
  if (target.node == config_.node) {
    target.runtime = config_.runtime ? config_.runtime() : nullptr;
    if (target.runtime == nullptr) {
      return fail(makeProblem(problems::kInstanceNotRunning,
                              fmt::format("Node {} runs nothing (--runtime none).", config_.node),
                              {{"job", job}, {"instance", *id}, {"node", config_.node}}));
    }
    target.engineName = podName(job, target.id) + "." + config_.node + "." + target.container;
    return target;
  }
  if (const auto by = req.headers.get(kRelayedBy)) {
    return fail(makeProblem(
        problems::kInstanceNotRunning,
        fmt::format("Instance {} of job \"{}\" is not on node {} any more (etcd assigns it to {}); ask again.", *id,
                    job, config_.node, target.node),
        {{"job", job}, {"instance", *id}, {"node", target.node}}));
  }
  auto nodes = control_.listNodes();
  if (!nodes) return fail(std::move(nodes).error());
  std::string peerAddress;
  for (const auto& n : *nodes) {
    if (n.record.name == target.node) {
      target.api = n.record.api;
      peerAddress = n.record.address;
    }
  }
  // The relay carries the cluster's token. An API on a loopback or
  // unspecified address is another host's only when the two nodes share
  // an address; anywhere else such a port is whoever binds it here.
  if (const auto url = http::parseBaseUrl(target.api);
      !target.api.empty() && (!url || ((url->host.starts_with("127.") || url->host == "::1" ||
                                        url->host == "localhost" || url->host == "0.0.0.0" || url->host == "::") &&
                                       peerAddress != config_.address))) {
    return fail(makeProblem(
        problems::kNodeUnreachable,
        fmt::format("Instance {} of job \"{}\" is on node {}, whose API ({}) only its own host reaches; ask that "
                    "node's agent, or give the agents --listen addresses the others reach.",
                    *id, job, target.node, target.api.substr(0, 200)),
        {{"job", job}, {"instance", *id}, {"node", target.node}}));
  }
  if (target.api.empty()) {
    return fail(makeProblem(problems::kNodeUnreachable,
                            fmt::format("Instance {} of job \"{}\" is on node {}, which is not live.", *id, job,
                                        target.node),
                            {{"job", job}, {"instance", *id}, {"node", target.node}}));
  }
  return target;
}

http::Response InstanceApi::relay(const http::Request& req, const Target& target, bool stream) {
  const auto unreachable = [&](const std::string& why) {
    return problem(makeProblem(problems::kNodeUnreachable,
                               fmt::format("Instance {} runs on node {}, whose agent ({}) did not answer: {}",
                                           target.id, target.node, target.api, why),
                               {{"node", target.node}}));
  };
  // The client's token was good here; the other agent refusing this
  // agent's is the cluster's setup, not the client's doing.
  const std::string peerRefused =
      "it refused this agent's token: every agent of a cluster needs the same --token-file";
  http::HttpClientConfig cc;
  cc.baseUrl = target.api;
  cc.caFile = config_.peerCa;
  cc.bearerToken = config_.token;
  cc.deadline = config_.relayTimeout;
  if (!stream) cc.deadline += std::chrono::seconds(kMaxExecSeconds);
  auto client = http::HttpClient::create(cc);
  if (!client) return unreachable(client.error());
  http::ClientRequest request{req.method, relayTarget(req), {{std::string(kRelayedBy), config_.node}}, req.body};
  if (!req.body.empty()) request.headers.add("Content-Type", "application/json");
  if (!stream) {
    auto answer = client->send(request);
    if (!answer) return unreachable(answer.error());
    if (answer->status == 401) return unreachable(peerRefused);
    http::Response r;
    r.status = answer->status;
    r.contentType = std::string(answer->headers.get("Content-Type").value_or("application/json"));
    r.body = std::move(answer->body);
    return r;
  }
  auto relay = std::make_shared<Relay>(std::move(client).value(), std::move(request));
  auto headFuture = relay->head();
  // The other agent answers its header as soon as it has found the
  // container, so the client's deadline bounds this wait.
  Relay::Head head = headFuture.get();
  if (!head.error.empty()) return unreachable(head.error);
  if (head.status == 401) return unreachable(peerRefused);
  http::Response r;
  r.status = head.status;
  r.contentType = head.contentType;
  if (head.status < 200 || head.status >= 300) {
    r.body = std::move(head.body);
    return r;
  }
  r.headers.set("Cache-Control", "no-store");
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.stream = [relay, node = target.node](http::BodyWriter& writer) {
    while (writer.open()) {
      auto piece = relay->next(std::chrono::milliseconds(250));
      if (!piece) {
        // Cut this body short too, so the client knows the log is not whole.
        if (std::string why = relay->failure(); !why.empty()) {
          throw std::runtime_error("the log relayed from node " + node + " ended early: " + why);
        }
        return;
      }
      if (!piece->empty() && !writer.write(*piece)) break;
    }
    relay->cancel();
  };
  return r;
}

http::Response InstanceApi::logs(const http::Request& req, const std::string& job, const std::string& id) {
  auto query = logQuery(req, config_.nowMs ? config_.nowMs() : 0);
  if (!query) return problem(query.error());
  auto target = locate(req, job, id, query->container);
  if (!target) return problem(target.error());
  if (!target->api.empty()) return relay(req, *target, true);
  // The header goes only once the container is known to exist, so a
  // missing pod is a problem, not an empty log.
  auto state = target->runtime->inspectContainer(target->engineName);
  if (!state) {
    return problem(makeProblem(
        problems::kInstanceNotRunning,
        fmt::format("Instance {} of job \"{}\" has no container {} on node {} now ({}).", target->id, job,
                    target->container, config_.node, state.error().message),
        {{"job", job}, {"instance", target->id}, {"node", config_.node}}));
  }
  http::Response r;
  r.contentType = "text/plain; charset=utf-8";
  r.headers.set("Cache-Control", "no-store");
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.stream = [runtime = target->runtime, name = target->engineName, q = std::move(query).value()](
                 http::BodyWriter& writer) {
    std::stop_source stop;
    ClientWatch watch(writer, stop);
    LineMarker marker;
    auto read = runtime->containerLogs(
        name, q.options,
        [&](runtime::LogStream stream, std::string_view piece) {
          if (stream == runtime::LogStream::kStdout ? !q.stdoutWanted : !q.stderrWanted) return true;
          return q.mark ? writer.write(marker.apply(stream, piece)) : writer.write(piece);
        },
        stop.get_token());
    // The header is gone: the body is cut short (no last chunk), which a
    // client tells from an ended log; the server logs why.
    if (!read) throw std::runtime_error("the log of " + name + " ended early: " + read.error().message);
  };
  return r;
}

http::Response InstanceApi::exec(const http::Request& req, const std::string& job, const std::string& id) {
  auto body = jsonBody(req);
  if (!body) return problem(body.error());
  const json& b = *body;
  if (!b.is_object() || !b.contains("command") || !b["command"].is_array() || b["command"].empty() ||
      b["command"].size() > kMaxExecArgs) {
    return problem(badRequest(fmt::format(
        "The body must be {{\"command\": [\"program\", \"arg\", ...]}} with 1 to {} arguments.", kMaxExecArgs)));
  }
  std::vector<std::string> command;
  std::size_t bytes = 0;
  for (const auto& arg : b["command"]) {
    if (!arg.is_string()) return problem(badRequest("Every argument of command must be a string."));
    command.push_back(arg.get<std::string>());
    bytes += command.back().size();
  }
  if (bytes > kMaxExecBytes) return problem(badRequest(fmt::format("The command is over {} bytes.", kMaxExecBytes)));
  std::int64_t timeoutSeconds = 30;
  if (b.contains("timeoutSeconds")) {
    if (!b["timeoutSeconds"].is_number_integer() || b["timeoutSeconds"].get<std::int64_t>() < 1 ||
        b["timeoutSeconds"].get<std::int64_t>() > kMaxExecSeconds) {
      return problem(badRequest(fmt::format("timeoutSeconds must be a whole number from 1 to {}.", kMaxExecSeconds)));
    }
    timeoutSeconds = b["timeoutSeconds"].get<std::int64_t>();
  }
  const std::string container = b.contains("container") && b["container"].is_string() ? b["container"].get<std::string>() : "";
  // A slot held for the exec's whole run, here or relayed.
  const std::size_t running = ++execs_;
  struct Release {
    std::atomic<std::size_t>& count;
    ~Release() { --count; }
  } release{execs_};
  if (running > config_.maxExecs) {
    http::Response busy = problem(makeProblem(
        problems::kServerBusy,
        fmt::format("{} commands are running through this agent already; try again shortly.", config_.maxExecs)));
    busy.headers.set("Retry-After", "1");
    return busy;
  }
  auto target = locate(req, job, id, container);
  if (!target) return problem(target.error());
  if (!target->api.empty()) return relay(req, *target, false);
  const std::string who = fmt::format("{}{}", req.remoteAddress,
                                      req.headers.get(kRelayedBy) ? fmt::format(" (relayed by {})",
                                                                                *req.headers.get(kRelayedBy))
                                                                  : "");
  if (!config_.allowExec) {
    spdlog::warn("exec refused in {} instance {} container {} for {}: {}", job, target->id, target->container, who,
                 describeCommand(command));
    return problem(makeProblem(problems::kExecNotAllowed,
                               fmt::format("Node {} does not allow exec (its agent runs without --allow-exec).",
                                           config_.node),
                               {{"node", config_.node}}));
  }
  spdlog::info("exec in {} instance {} container {} for {}: {}", job, target->id, target->container, who,
               describeCommand(command));
  auto ran = target->runtime->exec(target->engineName, command, std::chrono::seconds(timeoutSeconds));
  if (!ran) {
    const auto code = ran.error().code;
    if (code == runtime::RuntimeError::Code::kTimeout) {
      return problem(makeProblem(problems::kExecTimeout,
                                 fmt::format("The command did not finish within {} s.", timeoutSeconds),
                                 {{"timeoutSeconds", timeoutSeconds}}));
    }
    if (code == runtime::RuntimeError::Code::kNotFound || code == runtime::RuntimeError::Code::kConflict) {
      return problem(makeProblem(problems::kInstanceNotRunning,
                                 fmt::format("Instance {} of job \"{}\" has no running container {} on node {} ({}).",
                                             target->id, job, target->container, config_.node, ran.error().message),
                                 {{"job", job}, {"instance", target->id}}));
    }
    return problem(makeProblem(problems::kInternalError, "The container engine failed: " + ran.error().message));
  }
  return jsonResponse(200, {{"exitCode", ran->exitCode},
                            {"stdout", ran->stdoutText},
                            {"stderr", ran->stderrText},
                            {"truncated", ran->truncated},
                            {"node", config_.node}});
}

}  // namespace ozy::api
