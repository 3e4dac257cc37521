#include "job/job_format.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "job/job_parser.h"

namespace ozy {
namespace {

using OrderedJson = nlohmann::ordered_json;

OrderedJson healthToJson(const HealthCheck& h) {
  OrderedJson out;
  out["type"] = std::string(toString(h.type));
  if (h.type != HealthCheckType::kExec) out["port"] = h.port;
  if (h.type == HealthCheckType::kHttp) out["path"] = h.path;
  if (h.type == HealthCheckType::kExec) out["command"] = h.command;
  out["timeout"] = formatDuration(h.timeout);
  out["interval"] = formatDuration(h.interval);
  out["healthy_threshold"] = h.healthyThreshold;
  out["unhealthy_threshold"] = h.unhealthyThreshold;
  return out;
}

OrderedJson ingressToJson(const Ingress& in) {
  OrderedJson out;
  out["hosts"] = in.hosts;
  out["default_host"] = in.defaultHost;
  out["port"] = in.port;
  if (in.tcp != 0) out["tcp"] = in.tcp;
  return out;
}

// Every field, in the file's own spelling and order, durations as the
// health check's are written.
OrderedJson updateToJson(const UpdatePolicy& u) {
  OrderedJson out;
  out["max_parallel"] = u.maxParallel;
  out["min_healthy_time"] = formatDuration(u.minHealthyTime);
  out["healthy_deadline"] = formatDuration(u.healthyDeadline);
  out["progress_deadline"] = formatDuration(u.progressDeadline);
  out["auto_revert"] = u.autoRevert;
  out["canary"] = u.canary;
  out["strategy"] = std::string(toString(u.strategy));
  return out;
}

// `optOut`: the container has no ingress, but the parser's default would
// give it one.
OrderedJson containerToJson(const Container& c, bool optOut) {
  OrderedJson out;
  out["image"] = c.image;
  out["pull"] = std::string(toString(c.pull));
  if (!c.registryAuth.empty()) out["registryAuth"] = c.registryAuth;
  out["restart"] = std::string(toString(c.restart));
  if (!c.command.empty()) out["command"] = c.command;
  OrderedJson env = OrderedJson::array();
  for (const auto& e : c.environment) env.push_back({{"name", e.name}, {"value", e.value}});
  out["environment"] = std::move(env);
  OrderedJson ports = OrderedJson::array();
  for (const auto& p : c.ports) ports.push_back(toString(p));
  out["ports"] = std::move(ports);
  out["depends_on"] = c.dependsOn;
  out["memory"] = formatSize(c.memory);
  if (c.healthcheck) out["healthcheck"] = healthToJson(*c.healthcheck);
  OrderedJson volumes = OrderedJson::array();
  for (const auto& v : c.volumes) {
    volumes.push_back(
        {{"type", std::string(toString(v.type))}, {"path", v.path}, {"space", formatSize(v.space)}});
  }
  out["volumes"] = std::move(volumes);
  // Only when given: jobs without them keep the form they always had.
  if (!c.capAdd.empty()) out["cap_add"] = c.capAdd;
  if (!c.capDrop.empty()) out["cap_drop"] = c.capDrop;
  if (c.ingress) {
    out["ingress"] = ingressToJson(*c.ingress);
  } else if (optOut) {
    out["ingress"] = false;
  }
  return out;
}

OrderedJson jobToOrderedJson(const Job& job) {
  OrderedJson out;
  out["name"] = job.name;
  out["numInstances"] = job.numInstances;
  // Only when it is not the default: stored jobs from before the update
  // section, and jobs that never set it, keep the JSON they have.
  if (job.update != UpdatePolicy{}) out["update"] = updateToJson(job.update);
  // The stored form is read back with parseJob(), whose default ingress
  // applies when no container says anything of ingress: say "none" where it
  // would give the job an ingress it does not have.
  const bool anyIngress = std::any_of(job.containers.begin(), job.containers.end(),
                                      [](const Container& c) { return c.ingress.has_value(); });
  const auto defaulted = anyIngress ? std::nullopt : defaultIngressContainer(job);
  OrderedJson containers = OrderedJson::object();
  for (std::size_t i = 0; i < job.containers.size(); ++i) {
    containers[job.containers[i].name] = containerToJson(job.containers[i], defaulted == i);
  }
  out["containers"] = std::move(containers);
  return out;
}

void emit(YAML::Emitter& out, const OrderedJson& value) {
  switch (value.type()) {
    case OrderedJson::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key << key << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      return;
    case OrderedJson::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : value) emit(out, item);
      out << YAML::EndSeq;
      return;
    case OrderedJson::value_t::string:
      // Quote strings so "no", "80:3000" and "1e3" keep their meaning.
      out << YAML::DoubleQuoted << value.get<std::string>();
      return;
    case OrderedJson::value_t::null:
      out << YAML::Null;
      return;
    default:
      out << value.dump();
      return;
  }
}

}  // namespace

nlohmann::ordered_json toJson(const Job& job) { return jobToOrderedJson(job); }

std::string jsonToYaml(const OrderedJson& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::string toYaml(const Job& job) { return jsonToYaml(jobToOrderedJson(job)); }

}  // namespace ozy
