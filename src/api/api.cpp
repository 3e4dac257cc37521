#include "api/api.h"
#include "api/api_support.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/docs.h"
#include "events/event.h"
#include "events/event_reader.h"
#include "common/append_numbers.h"
#include "job/capabilities.h"
#include "job/job_format.h"
#include "job/job_parser.h"
#include "http/http_problems.h"
#include "http/problem_response.h"
#include "http/request_target.h"

namespace ozy {
namespace {

using nlohmann::json;
using api::jsonBody;
using api::jsonResponse;
using api::methodNotAllowed;
using api::parseNumber;
using api::problem;

http::Response routeNotFound(const http::Request& req) {
  return problem(makeProblem(problems::kNotFound,
                             fmt::format("There is no resource at {}; see docs/api.md.",
                                         req.path.substr(0, 200))));
}

// Splits "/v1/jobs/web/scale" into decoded segments; an undecodable segment
// (bad percent escape) is an error.
Result<std::vector<std::string>, Problem> segments(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  if (path.empty() || path[0] != '/') {
    return fail(makeProblem(problems::kBadRequest, "The request path must start with '/'."));
  }
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    auto decoded = http::percentDecode(std::string_view(path).substr(start, end - start));
    if (!decoded) {
      return fail(makeProblem(problems::kBadRequest,
                              fmt::format("The request path is malformed: {}.", decoded.error())));
    }
    out.push_back(std::move(decoded).value());
    start = end + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();  // trailing slash
  return out;
}

json resourcesJson(const Resources& r) { return json{{"memory", r.memory}, {"disk", r.disk}}; }

json portsJson(const std::vector<HostPort>& ports) {
  json out = json::array();
  for (const auto& p : ports) out.push_back(toString(p));
  return out;
}

// Appends instances grouped by node ([{"node":"a","ids":[0,3]}], node null
// for pending ones), so a 10,000-instance answer stays a few hundred
// entries. Written as text: a JSON value per id cost more than the etcd
// write of the change.
void appendPlacements(std::string& out, const std::vector<InstancePlacement>& list) {
  // Plans list a node's instances together: group runs first, so the map
  // sees one lookup per run rather than one per instance.
  std::map<std::string, std::vector<std::uint32_t>> byNode;
  for (std::size_t i = 0; i < list.size();) {
    auto& ids = byNode[list[i].node];
    std::size_t j = i;
    for (; j < list.size() && list[j].node == list[i].node; ++j) ids.push_back(list[j].id);
    i = j;
  }
  out += '[';
  for (auto& [node, ids] : byNode) {
    std::sort(ids.begin(), ids.end());
    if (out.back() != '[') out += ',';
    out += R"({"node":)";
    out += node.empty() ? "null" : json(node).dump(-1, ' ', false, json::error_handler_t::replace);
    out += R"(,"ids":[)";
    appendNumbers(out, ids);
    out += "]}";
  }
  out += ']';
}

// `ready`, or, once drained, `draining` while the node still holds
// instances and `drained` when it holds none.
std::string_view drainState(const std::optional<DrainRecord>& drain, std::uint32_t instances) {
  if (!drain) return "ready";
  return instances > 0 ? "draining" : "drained";
}

json drainJson(const std::optional<DrainRecord>& drain) {
  if (!drain) return nullptr;
  return json{{"sinceMs", drain->sinceMs}, {"by", drain->by}};
}

json jobSummaryJson(const JobRecord& r) {
  const auto pending = static_cast<std::uint32_t>(r.pending.size());
  return json{{"name", r.spec.name},
              {"version", r.specVersion},
              {"revision", r.version},
              {"numInstances", r.spec.numInstances},
              {"placed", r.spec.numInstances >= pending ? r.spec.numInstances - pending : 0},
              {"pending", pending},
              {"nodes", r.nodes},
              {"createdAtMs", r.createdAtMs}};
}

// The answer to a submit, scale or stop: the job's summary and what changed.
http::Response changeResponse(int status, const ChangeResult& change) {
  json summary = jobSummaryJson(change.job);
  if (change.revision != 0) summary["commitRevision"] = change.revision;
  summary["change"] = toString(change.change);
  if (change.deployment) summary["deployment"] = toJson(*change.deployment);
  http::Response r = jsonResponse(status, summary);
  // The placements go in before the summary's closing brace.
  std::string tail = R"(,"placedInstances":)";
  appendPlacements(tail, change.placed);
  tail += R"(,"removedInstances":)";
  appendPlacements(tail, change.removed);
  r.body.insert(r.body.rfind('}'), tail);
  return r;
}

}  // namespace

http::Response metricsResponse(const metrics::Metrics& metrics) {
  http::Response r;
  r.contentType = std::string(metrics::Metrics::kContentType);
  r.body = metrics.exposition();
  return r;
}

namespace {

class Api {
 public:
  Api(ControlPlane& control, ApiOptions options) : control_(control), options_(std::move(options)) {}

  http::Response handle(const http::Request& req) {
    auto parts = segments(req.path);
    if (!parts) return problem(parts.error());
    const auto& s = *parts;
    if (s.size() == 2 && s[0] == "docs" && s[1] == "errors.md") {
      if (req.method != "GET") return methodNotAllowed(req, "GET");
      http::Response r;
      r.contentType = "text/markdown; charset=utf-8";
      r.body = std::string(kErrorsMarkdown);
      return r;
    }
    if (s.size() == 1 && s[0] == "metrics" && options_.metrics) {
      if (req.method != "GET") return methodNotAllowed(req, "GET");
      return metricsResponse(*options_.metrics);
    }
    if (s.empty() || s[0] != "v1") return routeNotFound(req);
    if (s.size() == 2 && s[1] == "health") {
      if (req.method != "GET") return methodNotAllowed(req, "GET");
      return jsonResponse(200, {{"status", "ok"}, {"node", options_.nodeName}});
    }
    if (s.size() == 2 && s[1] == "status") {
      if (req.method != "GET") return methodNotAllowed(req, "GET");
      return overview();
    }
    if (s.size() == 2 && s[1] == "nodes") {
      if (req.method != "GET") return methodNotAllowed(req, "GET");
      return listNodes();
    }
    if (s.size() == 4 && s[1] == "nodes" && (s[3] == "drain" || s[3] == "undrain")) {
      const std::string& name = s[2];
      if (!isHostName(name)) {
        return problem(makeProblem(
            problems::kInvalidNodeName,
            fmt::format("\"{}\" is not a node name: node names are host names (dot-separated "
                        "DNS labels of lowercase letters, digits and '-').",
                        name.substr(0, 80))));
      }
      if (req.method != "POST") return methodNotAllowed(req, "POST");
      return changeDrain(name, s[3] == "drain");
    }
    if (s.size() == 2 && s[1] == "jobs") {
      if (req.method == "GET") return listJobs();
      if (req.method == "POST") return submit(req);
      return methodNotAllowed(req, "GET, POST");
    }
    if (s.size() >= 3 && s[1] == "jobs") {
      const std::string& name = s[2];
      if (!isDnsLabel(name)) {
        return problem(makeProblem(
            problems::kInvalidJobName,
            fmt::format("\"{}\" is not a job name: job names are DNS labels (1 to 63 lowercase "
                        "letters, digits and '-').",
                        name.substr(0, 80))));
      }
      if (s.size() == 3) {
        if (req.method == "GET") return jobStatus(name);
        if (req.method == "DELETE") return stop(name);
        return methodNotAllowed(req, "GET, DELETE");
      }
      if (s.size() == 4 && s[3] == "scale") {
        if (req.method != "POST") return methodNotAllowed(req, "POST");
        return scale(name, req);
      }
      if (s.size() == 4 && s[3] == "versions") {
        if (req.method != "GET") return methodNotAllowed(req, "GET");
        return versions(name);
      }
      if (s.size() == 5 && s[3] == "versions") {
        if (req.method != "GET") return methodNotAllowed(req, "GET");
        return version(name, s[4]);
      }
      if (s.size() == 4 && s[3] == "events") {
        if (req.method != "GET") return methodNotAllowed(req, "GET");
        return events(name, req);
      }
      if (s.size() == 4 && s[3] == "deployment") {
        if (req.method != "GET") return methodNotAllowed(req, "GET");
        return deployment(name, req);
      }
      if (s.size() == 4 && s[3] == "promote") {
        if (req.method != "POST") return methodNotAllowed(req, "POST");
        auto done = control_.promote(name);
        if (!done) return problem(done.error());
        return jsonResponse(200, toJson(*done));
      }
      if (s.size() == 6 && s[3] == "instances" && s[5] == "logs" && options_.instances) {
        if (req.method != "GET") return methodNotAllowed(req, "GET");
        return options_.instances->logs(req, name, s[4]);
      }
      if (s.size() == 6 && s[3] == "instances" && s[5] == "exec" && options_.instances) {
        if (req.method != "POST") return methodNotAllowed(req, "POST");
        return options_.instances->exec(req, name, s[4]);
      }
      if (s.size() == 4 && s[3] == "revert") {
        if (req.method != "POST") return methodNotAllowed(req, "POST");
        return revert(name, req);
      }
    }
    return routeNotFound(req);
  }

 private:
  http::Response listNodes() {
    auto nodes = control_.listNodes();
    if (!nodes) return problem(nodes.error());
    return jsonResponse(200, nodesJson(*nodes));
  }

  // GET /v1/status: the nodes, and each job with its instances by state
  // and its deployment (`ozy status`).
  http::Response overview() {
    auto read = control_.overview();
    if (!read) return problem(read.error());
    json jobs = json::array();
    for (const auto& j : read->jobs) {
      json item = jobSummaryJson(j.record);
      json states = json::object();
      for (const auto& [state, count] : j.states) states[std::string(toString(state))] = count;
      item["instancesByState"] = std::move(states);
      item["deployment"] = nullptr;
      if (j.deployment) {
        item["deployment"] = {{"version", j.deployment->version},
                              {"state", toString(j.deployment->state)},
                              {"message", j.deployment->message}};
      }
      jobs.push_back(std::move(item));
    }
    json events = json::array();
    for (const auto& e : read->recentEvents) events.push_back(json(toJson(e)));
    return jsonResponse(200, {{"node", options_.nodeName},
                              {"nodes", nodesJson(read->nodes)},
                              {"jobs", std::move(jobs)},
                              {"events", std::move(events)}});
  }

  json nodesJson(const std::vector<NodeInfo>& nodes) const {
    json out = json::array();
    const std::int64_t now = options_.nowMs ? options_.nowMs() : 0;
    const auto subnets = options_.podSubnets ? options_.podSubnets() : std::map<std::string, std::string>{};
    for (const auto& n : nodes) {
      const auto subnet = subnets.find(n.record.address);
      out.push_back({{"name", n.record.name},
                     {"address", n.record.address},
                     {"api", n.record.api},
                     {"capacity", resourcesJson(n.record.capacity)},
                     {"used", resourcesJson(n.usage.used)},
                     {"ports", portsJson(n.usage.ports)},
                     {"instances", n.usage.instances},
                     {"startedAtMs", n.record.startedAtMs},
                     {"ageSeconds", now > n.record.startedAtMs ? (now - n.record.startedAtMs) / 1000 : 0},
                     {"state", drainState(n.drain, n.usage.instances)},
                     {"drain", drainJson(n.drain)},
                     {"podSubnet", subnet == subnets.end() ? json(nullptr) : json(subnet->second)}});
    }
    return out;
  }

  http::Response changeDrain(const std::string& name, bool drain) {
    auto done = drain ? control_.drain(name, options_.nodeName) : control_.undrain(name);
    if (!done) return problem(done.error());
    return jsonResponse(200, {{"name", done->node},
                              {"live", done->live},
                              {"state", drainState(done->drain, done->usage.instances)},
                              {"instances", done->usage.instances},
                              {"drain", drainJson(done->drain)},
                              {"changed", done->changed}});
  }

  http::Response listJobs() {
    auto jobs = control_.listJobs();
    if (!jobs) return problem(jobs.error());
    json out = json::array();
    for (const auto& j : *jobs) out.push_back(jobSummaryJson(j.record));
    return jsonResponse(200, out);
  }

  http::Response jobStatus(const std::string& name) {
    auto info = control_.job(name);
    if (!info) return problem(info.error());
    json out = jobSummaryJson(info->record);
    json instances = json::array();
    for (const auto& i : info->instances) {
      json item{{"id", i.id}, {"state", i.node.empty() ? "pending" : "assigned"}};
      item["node"] = i.node.empty() ? json(nullptr) : json(i.node);
      item["version"] = i.version;
      if (i.status) {
        item["state"] = toString(i.status->state);
        item["reason"] = i.status->reason;
        item["restarts"] = i.status->restarts;
        item["podIp"] = i.status->podIp.empty() ? json(nullptr) : json(i.status->podIp);
        item["sinceMs"] = i.status->sinceMs;
      } else if (!i.node.empty()) {
        item["reason"] = "its node has not reported on it yet";
      } else {
        item["reason"] = "waiting for room on a node";
      }
      instances.push_back(std::move(item));
    }
    out["instances"] = std::move(instances);
    out["spec"] = toJson(info->record.spec);
    out["deployment"] = info->deployment ? deploymentJson(*info) : json(nullptr);
    return jsonResponse(200, out);
  }

  // The deployment record with its progress counted from the instances:
  // new ones placed and healthy, old ones left, per node.
  static json deploymentJson(const JobInfo& info) {
    const DeploymentRecord& d = *info.deployment;
    json out = toJson(d);
    std::uint32_t placed = 0;
    std::uint32_t healthy = 0;
    std::uint32_t old = 0;
    std::map<std::string, json> nodes;
    for (const auto& i : info.instances) {
      if (i.node.empty()) continue;
      json& n = nodes[i.node];
      if (n.is_null()) n = json{{"node", i.node}, {"new", 0}, {"healthy", 0}, {"old", 0}};
      if (i.version != d.version) {
        ++old;
        n["old"] = n["old"].get<int>() + 1;
        continue;
      }
      ++placed;
      n["new"] = n["new"].get<int>() + 1;
      if (i.status && i.status->state == InstanceState::kHealthy && i.status->version == d.version) {
        ++healthy;
        n["healthy"] = n["healthy"].get<int>() + 1;
      }
    }
    out["progress"] = {{"wanted", info.record.spec.numInstances},
                       {"placed", placed},
                       {"healthy", healthy},
                       {"old", old},
                       {"pending", info.record.pending.size()}};
    json perNode = json::array();
    for (auto& [name, n] : nodes) perNode.push_back(std::move(n));
    out["nodes"] = std::move(perNode);
    return out;
  }

  // A blocking read's ?index=R and ?wait= (30 s by default, at most 1 min:
  // an agent stopping waits for it).
  struct BlockingRead {
    std::int64_t index = 0;
    std::chrono::milliseconds wait{30'000};
  };
  static Result<BlockingRead, Problem> blockingRead(const http::Request& req) {
    BlockingRead out;
    if (auto v = req.queryParameter("index")) {
      auto n = parseNumber(*v);
      if (!n || *n > (std::uint64_t{1} << 62)) {
        return fail(makeProblem(problems::kBadRequest, "index must be a revision number."));
      }
      out.index = static_cast<std::int64_t>(*n);
    }
    if (auto v = req.queryParameter("wait")) {
      auto d = parseDuration(*v);
      if (!d || *d > std::chrono::minutes(1)) {
        return fail(makeProblem(problems::kBadRequest, "wait must be a duration of at most 1m, e.g. 30s."));
      }
      out.wait = *d;
    }
    return out;
  }

  // GET /v1/jobs/NAME/events: the newest `limit` events (100 by default),
  // oldest first; with ?index=R those after revision R, waiting for one as
  // a blocking read does.
  http::Response events(const std::string& name, const http::Request& req) {
    auto read = blockingRead(req);
    if (!read) return problem(read.error());
    EventQuery query;
    if (auto v = req.queryParameter("limit")) {
      auto n = parseNumber(*v);
      if (!n || *n < 1 || *n > 1000) return problem(makeProblem(problems::kBadRequest, "limit must be 1 to 1000."));
      query.limit = static_cast<std::size_t>(*n);
    }
    query.afterRevision = read->index;
    if (read->index > 0) control_.waitForEvents(name, read->index, read->wait);
    auto page = control_.events(name, query);
    if (!page) return problem(page.error());
    json list = json::array();
    for (const auto& e : page->events) list.push_back(json(toJson(e.event)));
    http::Response r = jsonResponse(200, {{"events", std::move(list)}, {"index", page->revision}, {"more", page->more}});
    r.headers.set("X-Ozy-Index", std::to_string(page->revision));
    return r;
  }

  http::Response deployment(const std::string& name, const http::Request& req) {
    // A blocking read: with ?index=R the answer waits until the deployment,
    // the job or one of its instances' reports changed after revision R.
    auto read = blockingRead(req);
    if (!read) return problem(read.error());
    if (read->index > 0) control_.waitForJobChange(name, read->index, read->wait);
    auto info = control_.job(name);
    if (!info) return problem(info.error());
    if (!info->deployment) {
      return problem(makeProblem(problems::kNotFound,
                                 fmt::format("Job \"{}\" has no deployment.", name), {{"job", name}}));
    }
    json out = deploymentJson(*info);
    out["index"] = info->revision;
    http::Response r = jsonResponse(200, out);
    r.headers.set("X-Ozy-Index", std::to_string(info->revision));
    return r;
  }

  http::Response versions(const std::string& name) {
    auto all = control_.versions(name);
    if (!all) return problem(all.error());
    json out = json::array();
    for (const auto& v : *all) out.push_back(toJson(v));
    return jsonResponse(200, out);
  }

  http::Response version(const std::string& name, const std::string& number) {
    auto n = parseNumber(number);
    if (!n || *n == 0) {
      return problem(makeProblem(problems::kBadRequest,
                                 fmt::format("\"{}\" is not a version number.", number.substr(0, 40))));
    }
    auto v = control_.version(name, *n);
    if (!v) return problem(v.error());
    return jsonResponse(200, toJson(*v));
  }

  http::Response revert(const std::string& name, const http::Request& req) {
    auto parsed = jsonBody(req);
    if (!parsed) return problem(parsed.error());
    const json& body = *parsed;
    const auto it = body.is_object() ? body.find("version") : body.end();
    if (it == body.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() == 0) {
      return problem(makeProblem(problems::kBadRequest,
                                 "The body must be {\"version\": N}, N a version of the job.",
                                 {{"job", name}}));
    }
    auto done = control_.revert(name, it->get<std::uint64_t>());
    if (!done) return problem(done.error());
    return changeResponse(200, *done);
  }

  // Times a submission from request to answer, for the metrics; `result`
  // stays "refused" unless the submission changed (or confirmed) the job.
  struct SubmitTimer {
    metrics::Metrics* metrics;
    std::string result = "refused";
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    ~SubmitTimer() {
      if (!metrics) return;
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
      metrics->submitted(result, took.count());
    }
  };

  http::Response submit(const http::Request& req) {
    SubmitTimer timer{options_.metrics};
    auto job = parseJob(req.body);
    if (!job) return problem(toProblem(job.error()));
    // Decidable here only for this agent's node; every node checks again
    // before it runs a pod (agent/pod_policy.h).
    if (auto missing = firstCapabilityNotAllowed(*job, options_.allowedCapabilities)) {
      return problem(makeProblem(
          problems::kCapabilityNotAllowed,
          fmt::format("Container {} adds capability {}, which node {} does not allow; nothing was "
                      "submitted. Ask the operator to start the agents with --allow-capability {}, "
                      "or remove it from cap_add.",
                      missing->container, missing->capability, options_.nodeName,
                      missing->capability),
          {{"job", job->name}, {"container", missing->container}, {"capability", missing->capability}}));
    }
    bool dryRun = false;
    if (const auto value = req.queryParameter("dryRun")) {
      // Anything but a clear yes or no is refused: a misspelt "yes" must not commit.
      if (*value == "true" || *value == "1") {
        dryRun = true;
      } else if (*value != "false" && *value != "0") {
        return problem(makeProblem(problems::kBadRequest,
                                   "dryRun must be true, false, 1 or 0; nothing was submitted."));
      }
    }
    if (dryRun) {
      timer.metrics = nullptr;  // a plan, not a submission
      auto planned = control_.planOnly(*job);
      if (!planned) return problem(planned.error());
      return changeResponse(200, *planned);
    }
    auto done = control_.submit(*job);
    if (!done) return problem(done.error());
    timer.result = std::string(toString(done->change));
    // 201 for a new job; an existing one's update is 200.
    http::Response r = changeResponse(done->change == JobChange::kCreated ? 201 : 200, *done);
    r.headers.set("Location", "/v1/jobs/" + job->name);
    return r;
  }

  http::Response scale(const std::string& name, const http::Request& req) {
    auto parsed = jsonBody(req);
    if (!parsed) return problem(parsed.error());
    const json& body = *parsed;
    const auto it = body.is_object() ? body.find("numInstances") : body.end();
    if (it == body.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > kMaxInstances) {
      return problem(makeProblem(
          problems::kInvalidScale,
          fmt::format("The body must be {{\"numInstances\": N}} with N from 0 to {}.", kMaxInstances),
          {{"job", name}}));
    }
    auto done = control_.scale(name, static_cast<std::uint32_t>(it->get<std::int64_t>()));
    if (!done) return problem(done.error());
    return changeResponse(200, *done);
  }

  http::Response stop(const std::string& name) {
    auto done = control_.stop(name);
    if (!done) return problem(done.error());
    return changeResponse(200, *done);
  }

  ControlPlane& control_;
  ApiOptions options_;
};

}  // namespace

http::Handler makeApiHandler(ControlPlane& control, ApiOptions options) {
  auto api = std::make_shared<Api>(control, std::move(options));
  return [api](const http::Request& req) { return api->handle(req); };
}

}  // namespace ozy
