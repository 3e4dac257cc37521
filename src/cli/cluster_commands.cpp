// The commands that talk to a running cluster through any agent's API:
// `ozy job run|plan|status|scale|stop` (and, from node_commands.cpp, `ozy
// node ...`), and `ozy agent`.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "cli/api_call.h"
#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/exit_codes.h"
#include "cli/input_file.h"
#include "cli/table.h"
#include "job/job_parser.h"
#include "job/units.h"
#include "job/yaml_reader.h"

namespace ozy {
namespace {

using nlohmann::json;

std::string idList(const json& ids) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& id : ids) {
    if (++shown > 12) {
      out += fmt::format(", ... ({} in all)", ids.size());
      break;
    }
    out += fmt::format("{}{}", out.empty() ? "" : ", ", id.get<std::uint32_t>());
  }
  return out;
}

void showChange(const json& change, std::string_view verb) {
  std::cout << fmt::format("job {} {}: {} instances, {} placed", change.value("name", "?"), verb,
                           change.value("numInstances", 0), change.value("placed", 0));
  if (change.value("pending", 0) > 0) std::cout << fmt::format(", {} pending", change.value("pending", 0));
  std::cout << '\n';
  Table table({"NODE", "CHANGE", "INSTANCES"});
  for (const char* kind : {"placedInstances", "removedInstances"}) {
    for (const auto& group : change.value(kind, json::array())) {
      table.add({group["node"].is_null() ? "(pending)" : group["node"].get<std::string>(),
                 kind[0] == 'p' ? "added" : "removed", idList(group.value("ids", json::array()))});
    }
  }
  table.print(std::cout);
}

// Reads a job file and checks it locally first, so a typo is reported with
// line numbers before anything is sent.
std::optional<std::string> readJob(const std::string& path, const ApiCallOptions& o) {
  auto text = readInputFile(path, YamlLimits{}.maxBytes);
  if (!text) {
    std::cerr << "error: " << text.error().message << '\n';
    return std::nullopt;
  }
  auto job = parseJob(*text);
  if (!job) {
    Problem problem = toProblem(job.error());
    problem.detail = fmt::format("{}: {}", path, problem.detail);
    printApiProblem(problem.toJson(), o.json());
    return std::nullopt;
  }
  return std::move(text).value();
}

bool checkName(const std::string& name) {
  if (isDnsLabel(name)) return true;
  std::cerr << fmt::format("error: \"{}\" is not a job name (a DNS label: lowercase letters, "
                           "digits and '-')\n",
                           name);
  return false;
}

}  // namespace

void addClusterCommands(CLI::App& app, Action& action) {
  auto o = std::make_shared<ApiCallOptions>();

  addNodeCommands(app, action);
  addNetworkCommands(app, action);

  CLI::App* job = app.get_subcommand("job");
  auto file = std::make_shared<std::string>();
  auto detach = std::make_shared<bool>(false);
  auto perNode = std::make_shared<bool>(false);
  auto* run = job->add_subcommand(
      "run", "Submit a job, or update a running one (a new version rolls out; see docs/jobs.md#update)");
  run->add_option("FILE", *file, "Job file")->required();
  run->add_flag("-d,--detach", *detach, "Return once an update's deployment has started");
  run->add_flag("--per-node", *perNode, "Show a deployment's progress per node");
  addApiOptions(run, *o);
  run->callback([o, file, detach, perNode, &action] {
    action = [o, file, detach, perNode] {
      auto text = readJob(*file, *o);
      if (!text) return exit_code::kInvalidInput;
      json answer;
      const int code = fetch(*o, "POST", "/v1/jobs", *text, answer);
      if (code != exit_code::kOk) return code;
      const std::string change = answer.value("change", "");
      if (o->json()) {
        std::cout << answer.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
      } else if (change == "unchanged") {
        std::cout << fmt::format("job {} unchanged (version {})\n", printable(answer.value("name", "?")),
                                 answer.value("version", 0));
      } else if (change == "deploying") {
        std::cout << fmt::format("job {}: version {} deploying\n", printable(answer.value("name", "?")),
                                 answer.value("version", 0));
      } else {
        showChange(answer, change == "created"   ? "submitted"
                           : change == "updated" ? "updated in place"
                           : change == "scaled"  ? "scaled"
                                                 : "changed");
      }
      // A new job's first version is tracked too, but only an update is
      // followed: a new job has nothing running to compare it with.
      if (change != "deploying" || *detach) return exit_code::kOk;
      return followDeployment(*o, answer.value("name", ""), answer.value("version", std::uint64_t{0}),
                              *perNode);
    };
  });

  auto* plan = job->add_subcommand("plan", "Dry run: show where a job would be placed; commits nothing");
  plan->add_option("FILE", *file, "Job file")->required();
  addApiOptions(plan, *o);
  plan->callback([o, file, &action] {
    action = [o, file] {
      auto text = readJob(*file, *o);
      if (!text) return exit_code::kInvalidInput;
      return call(*o, "POST", "/v1/jobs?dryRun=true", *text,
                  [](const json& c) { showChange(c, "would be placed (dry run)"); });
    };
  });

  auto name = std::make_shared<std::string>();
  auto* status = job->add_subcommand("status", "Show all jobs, or one job's instances");
  status->add_option("NAME", *name, "Job name");
  addApiOptions(status, *o);
  status->callback([o, name, &action] {
    action = [o, name] {
      if (name->empty()) {
        return call(*o, "GET", "/v1/jobs", "", [](const json& jobs) {
          Table table({"JOB", "VERSION", "INSTANCES", "PLACED", "PENDING", "NODES"});
          for (const auto& j : jobs) {
            table.add({j.value("name", ""), std::to_string(j.value("version", 0)),
                       std::to_string(j.value("numInstances", 0)), std::to_string(j.value("placed", 0)),
                       std::to_string(j.value("pending", 0)),
                       std::to_string(j.value("nodes", json::array()).size())});
          }
          table.print(std::cout);
        });
      }
      if (!checkName(*name)) return exit_code::kUsage;
      return call(*o, "GET", "/v1/jobs/" + *name, "", [](const json& j) {
        std::cout << fmt::format("job {} (version {}): {} instances, {} placed, {} pending\n",
                                 j.value("name", ""), j.value("version", 0),
                                 j.value("numInstances", 0), j.value("placed", 0),
                                 j.value("pending", 0));
        if (const json& d = j.value("deployment", json()); d.is_object()) {
          const json& p = d.value("progress", json::object());
          std::cout << fmt::format("deployment of version {}: {}; {} of {} new placed, {} healthy, "
                                   "{} old left{}{}\n",
                                   d.value("version", 0), printable(d.value("state", "")), p.value("placed", 0),
                                   p.value("wanted", 0), p.value("healthy", 0), p.value("old", 0),
                                   d.value("message", "").empty() ? "" : " - ",
                                   printable(d.value("message", "")));
        }
        Table table({"INSTANCE", "VERSION", "NODE", "STATE", "RESTARTS", "IP", "REASON"});
        for (const auto& i : j.value("instances", json::array())) {
          const auto ip = i.find("podIp");
          table.add({std::to_string(i.value("id", 0)), std::to_string(i.value("version", 0)),
                     i["node"].is_null() ? "-" : i["node"].get<std::string>(), i.value("state", ""),
                     std::to_string(i.value("restarts", 0)),
                     ip == i.end() || ip->is_null() ? "-" : ip->get<std::string>(),
                     i.value("reason", "")});
        }
        table.print(std::cout);
      });
    };
  });

  auto count = std::make_shared<std::int64_t>(0);
  auto* scale = job->add_subcommand("scale", "Change a job's number of instances");
  scale->add_option("NAME", *name, "Job name")->required();
  scale->add_option("N", *count, "Number of instances")->required()->check(CLI::Range(0, 100000));
  addApiOptions(scale, *o);
  scale->callback([o, name, count, &action] {
    action = [o, name, count] {
      if (!checkName(*name)) return exit_code::kUsage;
      return call(*o, "POST", "/v1/jobs/" + *name + "/scale",
                  json{{"numInstances", *count}}.dump(),
                  [](const json& c) { showChange(c, "scaled"); });
    };
  });

  auto* stop = job->add_subcommand("stop", "Stop a job and remove it with its instances");
  stop->add_option("NAME", *name, "Job name")->required();
  addApiOptions(stop, *o);
  stop->callback([o, name, &action] {
    action = [o, name] {
      if (!checkName(*name)) return exit_code::kUsage;
      return call(*o, "DELETE", "/v1/jobs/" + *name, "",
                  [](const json& c) { showChange(c, "stopped"); });
    };
  });

  auto config = std::make_shared<AgentConfig>();
  auto* agent = app.add_subcommand("agent", "Run this node's daemon (registers, serves the API)");
  auto configFile = std::make_shared<std::string>();
  agent->add_option("--config", *configFile,
                    "Read flags from a TOML file (flag = value; the command line wins)");
  agent->add_option("--node", config->node, "Node name (default: the host name)");
  agent->add_option("--address", config->address, "The node's IP address, for published ports");
  agent->add_option("--etcd", config->etcd, "etcd client URLs")->delimiter(',')->capture_default_str();
  agent->add_option("--etcd-ca", config->etcdCa, "CA certificate of etcd's servers");
  agent->add_option("--etcd-cert", config->etcdCert, "Client certificate for etcd");
  agent->add_option("--etcd-key", config->etcdKey, "Client key for etcd");
  agent->add_option("--etcd-timeout-ms", config->etcdTimeoutMs, "Deadline of every etcd call")
      ->capture_default_str();
  agent->add_option("--memory", config->memory, "Memory to offer (default: the machine's)");
  agent->add_option("--disk", config->disk, "Disk to offer (default: the data dir's file system)");
  agent->add_option("--listen", config->listen, "API address HOST:PORT")->capture_default_str();
  agent->add_option("--token-file", config->tokenFile,
                    "Bearer token required by the API (default: <data dir>/token, made if missing)");
  agent->add_option("--tls-cert", config->tlsCert, "API TLS certificate (PEM)");
  agent->add_option("--tls-key", config->tlsKey, "API TLS private key (PEM)");
  agent->add_flag("--insecure-etcd", config->insecureEtcd,
                  "Speak plain HTTP to an etcd beyond loopback (anyone reaching it owns the cluster)");
  agent->add_flag("--insecure-http", config->insecureHttp,
                  "Serve plain HTTP beyond loopback (the token travels in the clear)");
  agent->add_option("--api-host", config->apiHosts,
                    "A host name the API answers for besides its addresses (repeatable)");
  agent->add_option("--allow-origin", config->allowOrigins,
                    "A web origin (https://host:port) allowed to call the API (repeatable)");
  agent->add_option("--lease-ttl", config->leaseTtl, "Seconds before a silent node is gone")
      ->capture_default_str();
  agent->add_option("--data-dir", config->dataDir, "The agent's state directory")->capture_default_str();
  agent->add_option("--shared-space", config->sharedSpace, "Shared volume pool (first agent sets it)")
      ->capture_default_str();
  agent->add_option("--max-txn-ops", config->maxTxnOps, "etcd's --max-txn-ops")->capture_default_str();
  agent->add_option("--api-threads", config->apiThreads, "API worker threads")->capture_default_str();
  agent->add_option("--runtime", config->runtime, "podman, or none (schedule only, run nothing)")
      ->check(CLI::IsMember({"podman", "none"}))
      ->capture_default_str();
  agent->add_option("--podman-socket", config->podmanSocket,
                    "podman API socket (default: start a private podman service)");
  agent->add_option("--containers-conf", config->containersConf,
                    "containers.conf for the private podman service");
  agent->add_option("--shared-dir", config->sharedDir,
                    "Root of shared volumes, mounted on every node (default: DATA_DIR/shared)");
  agent->add_option("--stop-grace", config->stopGrace, "Seconds from SIGTERM to SIGKILL")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  agent->add_option("--volume-grace", config->volumeGrace,
                    "How long a local volume whose instance left is kept")
      ->capture_default_str();
  agent->add_option("--image-gc-grace", config->imageGcGrace,
                    "How long an image no instance here uses is kept before it is removed "
                    "(off: never)")
      ->capture_default_str();
  agent->add_option("--handover-timeout", config->handoverTimeout,
                    "How long a moved instance keeps running here until healthy on its new node")
      ->capture_default_str();
  agent->add_option("--drain-delay", config->drainDelay,
                    "How long a pod that is to stop keeps running after its instance is withdrawn "
                    "from DNS and the ingress (0: stop at once)")
      ->capture_default_str();
  agent->add_option("--restart-backoff", config->restartBackoff, "First restart delay (doubles to 5m)")
      ->capture_default_str();
  agent->add_option("--resync", config->resync, "Full reconcile period")->capture_default_str();
  agent->add_option("--replace-interval", config->replaceInterval,
                    "How often to look for dead nodes' instances to re-place")
      ->capture_default_str();
  agent->add_option("--pending-interval", config->pendingInterval,
                    "How often to look for pending instances that now fit")
      ->capture_default_str();
  agent->add_option("--deploy-interval", config->deployInterval,
                    "How often to look at the deployments this node drives")
      ->capture_default_str();
  agent->add_option("--events-kept", config->eventsKept, "Events kept per job (ozy job events)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  agent->add_option("--events-max-age", config->eventsMaxAge, "How long events are kept (6s at least)")
      ->capture_default_str();
  agent->add_option("--versions-kept", config->versionsKept,
                    "Versions of each job kept for history and reverts")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  agent->add_option("--metrics", config->metricsListen,
                    "Also serve GET /metrics on ADDR:PORT, without the API's token (docs/operations.md#metrics)");
  agent->add_option("--allow-exec", config->allowExec,
                    "Let `ozy job exec` run commands in this node's containers: yes, no, or auto (yes while the "
                    "API listens on loopback only)")
      ->check(CLI::IsMember({"yes", "no", "auto"}))
      ->capture_default_str();
  agent->add_option("--peer-ca", config->peerCa,
                    "CA bundle (PEM) other agents' TLS certificates are checked against when this agent relays "
                    "logs and exec to them; default: the system's");
  agent->add_option("--dns", config->dns, "Answer DNS for the cluster domain on ADDR:PORT");
  agent->add_option("--domain", config->domain, "The cluster's DNS domain")->capture_default_str();
  agent->add_option("--ingress", config->ingress,
                    "Serve every job's HTTP by Host (and its TCP routes) on ADDR:PORT (docs/ingress.md)");
  agent->add_option("--ingress-threads", config->ingressThreads, "Ingress worker threads (0: one per core)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  agent->add_option("--ingress-trusted-proxy", config->ingressTrustedProxies,
                    "A network (CIDR) whose X-Forwarded-* headers the ingress keeps (repeatable)");
  agent->add_option("--ingress-access-log", config->ingressAccessLog,
                    "Write a line per ingress request to FILE (- for standard output)");
  agent->add_option("--ingress-access-log-every", config->ingressAccessLogEvery,
                    "Log one ingress request in N (for high rates)")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  agent->add_option("--ingress-body-limit", config->ingressBodyLimit, "Largest request body the ingress takes")
      ->capture_default_str();
  agent->add_option("--ingress-idle-timeout", config->ingressIdleTimeout,
                    "How long an idle client connection to the ingress stays open")
      ->capture_default_str();
  agent->add_option("--ingress-upstream-timeout", config->ingressUpstreamTimeout,
                    "How long the ingress waits for an instance's response")
      ->capture_default_str();
  agent->add_option("--pod-dns", config->podDns,
                    "Nameservers for pods (default: the --dns address when it is on port 53)")
      ->delimiter(',');
  agent->add_option("--dns-rate", config->dnsRate,
                    "DNS queries answered per second per client address (0: no limit)")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  agent->add_option("--dns-burst", config->dnsBurst,
                    "DNS queries a client may ask at once before --dns-rate applies")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  agent->add_option("--allow-capability", config->allowCapabilities,
                    "A capability jobs may add beyond the default set (repeatable; default: none)");
  agent->add_option("--allow-host-ip", config->allowHostIps,
                    "A host IP job ports may name besides --address (repeatable)");
  agent->add_option("--pids-limit", config->pidsLimit, "Processes per container (0: no limit)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{4194304}))
      ->capture_default_str();
  agent->add_option("--log-max-size", config->logMaxSize, "Size of each container's log (0: no limit)")
      ->capture_default_str();
  agent->add_option("--registry-auth", config->registryAuth,
                    "Registry credentials (podman's auth.json format) that jobs name with registryAuth");
  agent->add_option("--insecure-registry", config->insecureRegistries,
                    "A registry HOST:PORT pulled from over plain HTTP or unverified TLS (repeatable)");
  agent->add_option("--parallel-pulls", config->parallelPulls, "Image pulls at once on this node")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  agent->add_option("--pod-network", config->podNetwork,
                    "cluster: join the pod network in etcd; auto: make the default one if there is "
                    "none; host: pods on podman's own bridge, reached from this host only")
      ->check(CLI::IsMember({"cluster", "auto", "host"}))
      ->capture_default_str();
  agent->add_option("--cni-config-dir", config->cniConfigDir, "Where podman reads CNI networks")
      ->capture_default_str();
  agent->add_option("--subnet-ttl", config->subnetTtl,
                    "Seconds a node that stopped renewing keeps its pod subnet")
      ->check(CLI::Range(10, 7 * 24 * 3600))
      ->capture_default_str();
  agent->callback([agent, config, configFile, &action] {
    if (!configFile->empty()) {
      if (auto applied = applyConfigFile(*agent, *configFile); !applied) {
        throw CLI::ValidationError("--config", applied.error());
      }
    }
    action = [config] { return runAgent(*config); };
  });
}

}  // namespace ozy
