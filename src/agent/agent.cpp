#include "agent/agent.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "agent/node_registration.h"
#include "agent/node_supervisor.h"
#include "agent/deployer.h"
#include "agent/node_metrics.h"
#include "agent/replacer.h"
#include "dns/dns_server.h"
#include "ingress/access_log.h"
#include "ingress/ingress.h"
#include "ingress/route_follower.h"
#include "dns/skydns.h"
#include "events/event_log.h"
#include "runtime/podman_runtime.h"
#include "runtime/podman_service.h"
#include "runtime/registry_auth.h"
#include "api/api.h"
#include "control/control_plane.h"
#include "control/snapshot_cache.h"
#include "agent/data_dir.h"
#include "http/auth.h"
#include "http/request_policy.h"
#include "http/server.h"
#include "http/url.h"
#include "job/capabilities.h"
#include "job/job_parser.h"
#include "job/suggest.h"
#include "job/units.h"
#include "metrics/process_stats.h"
#include "network/kernel_routes.h"
#include "network/node_network.h"
#include "network/subnet_lease.h"
#include "scheduler/keys.h"
#include "store/etcd_store.h"

namespace ozy {
namespace {

std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};

Result<ListenAddress, std::string> parseListen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return fail(fmt::format("--listen {}: use HOST:PORT", text));
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const std::string p = text.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size() || port > 65535 || host.empty()) {
    return fail(fmt::format("--listen {}: use HOST:PORT with a port from 0 to 65535", text));
  }
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

bool isLoopback(const std::string& host) {
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

// The API always authenticates: with the operator's token file, or with a
// token the agent makes in its data dir on first start.
Result<std::string, std::string> apiToken(const AgentConfig& config) {
  if (!config.tokenFile.empty()) {
    auto file = http::readTokenFile(config.tokenFile);
    if (!file) return fail(std::move(file).error());
    if (!file->warning.empty()) spdlog::warn("{}", file->warning);
    return std::move(file->token);
  }
  const auto path = std::filesystem::path(config.dataDir) / "token";
  auto made = http::loadOrCreateTokenFile(path);
  if (!made) return fail(std::move(made).error());
  if (made->created) {
    spdlog::info("made the API token {}; give every agent of a cluster the same one with --token-file",
                 path.string());
  }
  return std::move(made->token);
}

// etcd holds everything: a pod that can reach it in plain HTTP can rewrite
// jobs, assignments and DNS records. Beyond loopback the agent speaks TLS
// to it unless the operator says --insecure-etcd.
std::string insecureEtcd(const AgentConfig& config) {
  if (config.insecureEtcd) return {};
  for (const auto& url : config.etcd) {
    auto parsed = http::parseBaseUrl(url);
    if (parsed && !parsed->tls && !isLoopback(parsed->host)) {
      return fmt::format(
          "--etcd {} is plain HTTP beyond loopback: anyone who reaches it (a pod included) can "
          "rewrite the cluster's state. Use an https:// URL with --etcd-ca, --etcd-cert and "
          "--etcd-key (and etcd's --client-cert-auth), or say --insecure-etcd on a network pods "
          "cannot reach",
          url);
    }
  }
  return {};
}

// A data dir holds one node's lease, pods' volumes and token: starting
// another node on it would leave the first node's pods running unmanaged
// and sweep the volumes they still use. The first start writes the name.
Result<bool, std::string> claimDataDir(const std::string& dataDir, const std::string& node) {
  const auto path = std::filesystem::path(dataDir) / "node";
  std::ifstream in(path);
  std::string owner;
  if (in && std::getline(in, owner) && !owner.empty()) {
    if (owner == node) return true;
    return fail(fmt::format("the data dir {} belongs to node {} (its lease, pods and volumes); "
                            "start it with --node {}, or give node {} a data dir of its own",
                            dataDir, owner, owner, node));
  }
  std::ofstream out(path, std::ios::trunc);
  out << node << '\n';
  if (!out.flush()) return fail(fmt::format("cannot write {}", path.string()));
  return true;
}

bool isWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// Who may call the API (http/request_policy.h): the Host names it answers
// for are its own addresses and names, never a name a web page chose.
http::RequestPolicyConfig apiPolicy(const AgentConfig& config, const std::string& token,
                                    const std::string& node, const std::string& address,
                                    const std::string& listenHost) {
  http::RequestPolicyConfig policy;
  policy.token = token;
  policy.hosts = config.apiHosts;
  policy.hosts.push_back(node);
  policy.hosts.push_back(address);
  if (isWildcard(listenHost)) {
    policy.anyAddress = true;
  } else {
    policy.hosts.push_back(listenHost);
  }
  if (isLoopback(listenHost) || isWildcard(listenHost)) {
    policy.hosts.insert(policy.hosts.end(), {"localhost", "127.0.0.1", "::1"});
  }
  policy.origins = config.allowOrigins;
  policy.publicPaths = {"/docs/errors.md"};
  return policy;
}

std::string hostName() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
  std::string name(buffer);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

Bytes machineMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<Bytes>(pages) * static_cast<Bytes>(size) : 0;
}

Bytes fileSystemSize(const std::string& path) {
  struct statvfs info {};
  if (statvfs(path.c_str(), &info) != 0) return 0;
  return static_cast<Bytes>(info.f_blocks) * info.f_frsize;
}

Result<Bytes, std::string> sizeFlag(const std::string& flag, const std::string& value, Bytes fallback) {
  if (value.empty()) return fallback;
  auto parsed = parseSize(value);
  if (!parsed) return fail(fmt::format("--{}: {}", flag, parsed.error()));
  return *parsed;
}

// The shared pool's capacity is a cluster setting: the first agent to start
// writes it; later agents leave it as they find it.
void ensureSharedPool(Store& store, Bytes capacity) {
  Txn txn;
  txn.compares = {Compare::version(std::string(keys::kSharedPool), Compare::kEqual, 0)};
  txn.success = {TxnOp::put(std::string(keys::kSharedPool), encode(SharedPoolRecord{capacity, 0}))};
  if (auto result = store.txn(txn); !result) {
    spdlog::warn("cannot initialise the shared pool: {}", result.error().message);
  }
}

Result<Millis, std::string> durationFlag(const std::string& flag, const std::string& value) {
  auto parsed = parseDuration(value);
  if (!parsed) return fail(fmt::format("--{}: {}", flag, parsed.error()));
  if (parsed->count() <= 0) return fail(fmt::format("--{} must be positive", flag));
  return *parsed;
}

// "NET_ADMIN" or "CAP_NET_ADMIN", as job files write them.
Result<std::vector<std::string>, std::string> capabilityFlags(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& given : names) {
    std::string name = given.starts_with("CAP_") ? given.substr(4) : given;
    if (!isCapability(name)) {
      std::string message = fmt::format("--allow-capability {}: not a Linux capability", given);
      if (auto guess = closestMatch(name, kLinuxCapabilities)) message += fmt::format(" (did you mean {}?)", *guess);
      return fail(message);
    }
    out.push_back(std::move(name));
  }
  return out;
}

Result<std::vector<std::string>, std::string> hostIpFlags(const std::vector<std::string>& ips) {
  for (const auto& ip : ips) {
    unsigned char buffer[16];
    if (inet_pton(AF_INET, ip.c_str(), buffer) != 1 && inet_pton(AF_INET6, ip.c_str(), buffer) != 1) {
      return fail(fmt::format("--allow-host-ip {}: not an IP address", ip));
    }
  }
  return ips;
}

// The operator's registry settings: credentials from an auth.json that only
// the agent's user may read (it holds passwords), and the registries that
// may be reached without TLS verification.
Result<RegistrySettings, std::string> registryFlags(const AgentConfig& config) {
  RegistrySettings out;
  if (!config.registryAuth.empty()) {
    struct stat info {};
    if (::stat(config.registryAuth.c_str(), &info) != 0) {
      return fail(fmt::format("--registry-auth {}: {}", config.registryAuth, std::strerror(errno)));
    }
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return fail(fmt::format("--registry-auth {}: the file holds passwords, but other users may read "
                              "it (chmod 600 it)",
                              config.registryAuth));
    }
    std::ifstream in(config.registryAuth);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return fail(fmt::format("--registry-auth {}: cannot read it", config.registryAuth));
    auto auths = runtime::parseRegistryAuthFile(text.str());
    if (!auths) return fail(fmt::format("--registry-auth {}: {}", config.registryAuth, auths.error()));
    out.auths = std::move(auths).value();
    spdlog::info("registry credentials for {} from {}", out.auths.size(), config.registryAuth);
  }
  for (const auto& host : config.insecureRegistries) {
    if (host.empty() || host.find('/') != std::string::npos) {
      return fail(fmt::format("--insecure-registry {}: give a registry as HOST or HOST:PORT, as image "
                              "references name it (e.g. 127.0.0.1:5000)",
                              host));
    }
    out.insecure.insert(host);
  }
  return out;
}

// The host ports this node keeps from jobs: its API's, a local etcd's
// (client and, on the usual 2379, peer 2380) and its DNS responder's. etcd
// counts as local when its URL names this node's address or loopback; a
// remote etcd's port number means nothing here.
std::vector<HostPort> reservedPorts(const AgentConfig& config, const std::string& address,
                                    std::uint16_t apiPort) {
  std::vector<HostPort> ports{{apiPort, Protocol::kTcp}};
  for (const auto& url : config.etcd) {
    auto parsed = http::parseBaseUrl(url);
    if (!parsed || !(isLoopback(parsed->host) || parsed->host == address)) continue;
    ports.push_back({parsed->port, Protocol::kTcp});
    if (parsed->port == 2379) ports.push_back({2380, Protocol::kTcp});
  }
  if (!config.dns.empty()) {
    if (auto where = parseListen(config.dns); where && where->port != 0) {
      ports.push_back({where->port, Protocol::kUdp});
      ports.push_back({where->port, Protocol::kTcp});
    }
  }
  if (!config.ingress.empty()) {
    if (auto where = parseListen(config.ingress); where && where->port != 0) {
      ports.push_back({where->port, Protocol::kTcp});
    }
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

// What runs this node's instances: the container engine, the supervisor
// that drives it, and the DNS responder. Started after the node registered
// (the supervisor writes under its lease), stopped before it leaves.
struct NodeRuntime {
  // Told when the podman service dies or is back; set once the supervisor
  // runs (the service starts first).
  std::atomic<NodeSupervisor*> watcher{nullptr};
  // The engine, for the API's logs and exec; set once it answers.
  std::atomic<runtime::ContainerRuntime*> engine{nullptr};
  std::unique_ptr<runtime::PodmanService> service;
  std::unique_ptr<runtime::PodmanRuntime> podman;
  std::unique_ptr<NodeSupervisor> supervisor;
  std::unique_ptr<dns::DnsServer> dnsServer;
  std::unique_ptr<NodeNetwork> network;
  std::unique_ptr<ingress::Ingress> ingress;
  std::unique_ptr<ingress::RouteFollower> routes;

  // Pods keep running (they are not the agent's children: conmon holds
  // them), for the next agent to adopt.
  void stop() {
    // The ingress first: requests in flight finish while their instances
    // still run.
    if (routes) routes->stop();
    if (ingress) ingress->stop();
    if (dnsServer) dnsServer->stop();
    watcher = nullptr;
    if (supervisor) supervisor->stop();
    if (network) network->stop();  // routes and the subnet stay: pods keep running
    if (service) service->stop();
  }
};

// The node's part of the cluster's pod network, as --pod-network says.
Result<std::unique_ptr<NodeNetwork>, std::string> startPodNetwork(const AgentConfig& config, Store& store,
                                                                  const std::string& address) {
  auto publicIp = Ipv4Address::parse(address);
  if (!publicIp || isLoopback(address)) {
    return fail(fmt::format(
        "--pod-network {}: other nodes route this node's pods via its --address, which must be an "
        "IPv4 address they reach it at, not {}; or say --pod-network host for pods that only this "
        "host reaches",
        config.podNetwork, address));
  }
  auto network = readNetworkConfig(store);
  if (!network && network.error().code == NetworkError::kNotInitialised && config.podNetwork == "auto") {
    auto fallback = decodeNetworkConfig(kDefaultPodNetwork);
    if (!fallback) return fail(std::string("the default pod network does not decode"));
    auto written = initNetwork(store, *fallback);
    if (!written && written.error().code != NetworkError::kConfigInUse) return fail(written.error().message);
    if (written) spdlog::info("--pod-network auto: made the cluster's pod network, {}", describe(*fallback));
    network = readNetworkConfig(store);
  }
  if (!network) {
    if (network.error().code == NetworkError::kNotInitialised) {
      return fail(fmt::format(
          "the cluster has no pod network in etcd ({}): set it up once with `ozy network init "
          "--network CIDR`, or start this agent with --pod-network auto to make the default ({}), "
          "or with --pod-network host for pods that only this host reaches",
          flannel::kConfigKey, kDefaultPodNetwork));
    }
    return fail(network.error().message);
  }
  NodeNetworkConfig nc;
  nc.publicIp = *publicIp;
  nc.cniConfigDir = config.cniConfigDir;
  nc.subnetTtlSeconds = config.subnetTtl;
  nc.seed = std::random_device{}();
  return NodeNetwork::start(store, *network, nc, std::make_unique<KernelRoutes>());
}

// A drained node with nothing left on it that stops is leaving the cluster:
// its pod subnet goes back, and the other nodes drop their routes to it. Any
// other stop is a restart, and the subnet stays for the next agent.
void releaseSubnetIfLeaving(Store& store, const std::string& node, NodeNetwork& network) {
  auto drain = store.get(keys::drain(node));
  auto assigned = store.getPrefix(keys::assignmentsOf(node), true);
  if (!drain || !assigned || drain->kvs.empty() || !assigned->kvs.empty()) return;
  if (auto released = network.release(); !released) {
    spdlog::warn("node {} is drained and leaving, but its pod subnet {} stays leased: {}", node,
                 network.subnet().toString(), released.error().message);
    return;
  }
  spdlog::info("node {} is drained and leaving: gave its pod subnet {} back", node, network.subnet().toString());
}

// A cut-off node kills its containers at 3/4 of the TTL; they must be dead
// before the lease can expire, so the grace from SIGTERM to SIGKILL fits in
// the last quarter with half a second to spare, and never exceeds
// --stop-grace.
std::chrono::seconds cutOffGrace(const AgentConfig& config) {
  const int room = (config.leaseTtl * 1000 / 4 - 500) / 1000;
  return std::chrono::seconds(std::clamp(room, 0, config.stopGrace));
}

// The ingress as the --ingress flags say, following the routes in etcd.
Result<bool, std::string> startIngress(const AgentConfig& config, Store& store, NodeRuntime& out) {
  auto where = parseListen(config.ingress);
  if (!where) return fail("--ingress: " + where.error());
  ingress::IngressConfig ic;
  ic.address = where->host == "localhost" ? "127.0.0.1" : where->host;
  ic.port = where->port;
  ic.threads = config.ingressThreads > 0 ? config.ingressThreads
                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto trusted = ingress::TrustedNetworks::parse(config.ingressTrustedProxies);
  if (!trusted) return fail("--ingress-trusted-proxy: " + trusted.error());
  ic.trustedProxies = std::move(trusted).value();
  auto bodyLimit = sizeFlag("ingress-body-limit", config.ingressBodyLimit, ic.bodyLimit);
  if (!bodyLimit) return fail(bodyLimit.error());
  ic.bodyLimit = static_cast<std::size_t>(*bodyLimit);
  auto idle = durationFlag("ingress-idle-timeout", config.ingressIdleTimeout);
  if (!idle) return fail(idle.error());
  ic.idleTimeout = *idle;
  auto upstream = durationFlag("ingress-upstream-timeout", config.ingressUpstreamTimeout);
  if (!upstream) return fail(upstream.error());
  ic.upstreamTimeout = *upstream;
  if (!config.ingressAccessLog.empty()) {
    auto log = ingress::AccessLog::open(config.ingressAccessLog, std::max<std::uint32_t>(1, config.ingressAccessLogEvery));
    if (!log) return fail("--ingress-access-log: " + log.error());
    ic.accessLog = std::move(log).value();
  }
  ic.logError = [](std::string_view message) { spdlog::warn("{}", message); };
  auto started = ingress::Ingress::start(std::move(ic));
  if (!started) return fail("--ingress: " + started.error());
  out.ingress = std::move(started).value();
  ingress::Ingress* proxy = out.ingress.get();
  auto routes = ingress::RouteFollower::start(store, config.domain, [proxy](std::shared_ptr<const ingress::RouteTable> table) {
    proxy->setRoutes(std::move(table));
  });
  if (!routes) return fail("ingress: " + routes.error().message);
  out.routes = std::move(routes).value();
  spdlog::info("ingress: serving HTTP by Host on {}:{}", where->host, out.ingress->port());
  return true;
}

Result<bool, std::string> startNodeRuntime(const AgentConfig& config, Store& store,
                                           NodeRegistration& registration, const std::string& node,
                                           const std::string& address, PodPolicy policy,
                                           metrics::Metrics& metrics, EventLog& events, NodeRuntime& out) {
  if (!config.dns.empty()) {
    auto where = parseListen(config.dns);
    if (!where) return fail("--dns: " + where.error());
    if (!dns::isDomain(config.domain)) {
      return fail(fmt::format("--domain \"{}\" is not a DNS domain (lowercase labels, dot-separated)",
                              config.domain));
    }
    dns::DnsServerConfig dnsConfig;
    dnsConfig.address = where->host;
    dnsConfig.port = where->port;
    dnsConfig.domain = config.domain;
    dnsConfig.rateLimit.queriesPerSecond = config.dnsRate;
    dnsConfig.rateLimit.burst = config.dnsBurst;
    dnsConfig.onAnswer = [&metrics](dns::Rcode rcode) { metrics.dnsAnswered(dns::toString(rcode)); };
    auto server = dns::DnsServer::start(dnsConfig, store);
    if (!server) return fail("DNS: " + server.error());
    out.dnsServer = std::move(server).value();
    spdlog::info("answering DNS for {} on {}:{}", config.domain, where->host, out.dnsServer->port());
  }
  if (!config.ingress.empty()) {
    if (auto started = startIngress(config, store, out); !started) return fail(started.error());
  }
  if (config.runtime == "none") {
    spdlog::warn("--runtime none: instances assigned to this node are recorded, never run");
    return true;
  }
  auto backoff = durationFlag("restart-backoff", config.restartBackoff);
  if (!backoff) return fail(backoff.error());
  auto resync = durationFlag("resync", config.resync);
  if (!resync) return fail(resync.error());
  auto logMaxSize = sizeFlag("log-max-size", config.logMaxSize, 0);
  if (!logMaxSize) return fail(logMaxSize.error());
  if (config.pidsLimit < 0) return fail("--pids-limit must be 0 (no limit) or more");
  auto registries = registryFlags(config);
  if (!registries) return fail(registries.error());

  std::string socket = config.podmanSocket;
  if (socket.empty()) {
    runtime::PodmanServiceOptions options;
    socket = (std::filesystem::path(config.dataDir) / "podman.sock").string();
    options.socketPath = socket;
    options.containersConf = config.containersConf;
    options.logPath = (std::filesystem::path(config.dataDir) / "podman.log").string();
    options.onDown = [&out] {
      spdlog::error("the podman service died; starting it again");
      if (auto* s = out.watcher.load()) s->poke();
    };
    options.onUp = [&out] {
      spdlog::info("the podman service answers again");
      if (auto* s = out.watcher.load()) s->poke();
    };
    auto service = runtime::PodmanService::start(options);
    if (!service) return fail("podman: " + service.error());
    out.service = std::move(service).value();
  }
  out.podman = std::make_unique<runtime::PodmanRuntime>(runtime::PodmanConfig{socket});
  out.engine = out.podman.get();

  SupervisorConfig sc;
  sc.node = node;
  sc.address = address;
  sc.localVolumeRoot = std::filesystem::path(config.dataDir) / "volumes";
  sc.sharedVolumeRoot = config.sharedDir.empty() ? std::filesystem::path(config.dataDir) / "shared"
                                                 : std::filesystem::path(config.sharedDir);
  sc.stopGrace = std::chrono::seconds(config.stopGrace);
  sc.cutOffGrace = cutOffGrace(config);
  auto volumeGrace = durationFlag("volume-grace", config.volumeGrace);
  if (!volumeGrace) return fail(volumeGrace.error());
  sc.volumeGrace = *volumeGrace;
  if (config.imageGcGrace != "off") {
    auto imageGcGrace = durationFlag("image-gc-grace", config.imageGcGrace);
    if (!imageGcGrace) return fail(imageGcGrace.error() + " (or off)");
    sc.imageGcGrace = *imageGcGrace;
  }
  sc.imageRecord = std::filesystem::path(config.dataDir) / "images";
  auto handoverTimeout = durationFlag("handover-timeout", config.handoverTimeout);
  if (!handoverTimeout) return fail(handoverTimeout.error());
  sc.handoverTimeout = *handoverTimeout;
  // 0 is allowed here, unlike the other durations: it turns the wait off.
  auto drainDelay = parseDuration(config.drainDelay);
  if (!drainDelay) return fail(fmt::format("--drain-delay: {}", drainDelay.error()));
  sc.drainDelay = *drainDelay;
  sc.resyncInterval = *resync;
  sc.domain = config.domain;
  sc.podDns = config.podDns;
  if (sc.podDns.empty() && !config.dns.empty()) {
    auto where = parseListen(config.dns);
    if (where && where->port == 53 && !isLoopback(where->host) && where->host != "0.0.0.0") {
      sc.podDns = {where->host};
    }
  }
  sc.backoff.initial = *backoff;
  sc.policy = std::move(policy);
  sc.pidsLimit = config.pidsLimit;
  sc.logMaxSize = *logMaxSize;
  sc.registries = std::move(registries).value();
  sc.parallelPulls = static_cast<std::size_t>(std::max(1, config.parallelPulls));
  sc.metrics = &metrics;
  sc.events = &events;
  if (config.podNetwork != "host") {
    auto network = startPodNetwork(config, store, address);
    if (!network) return fail(network.error());
    out.network = std::move(network).value();
    sc.podNetwork = out.network->podmanNetwork();
  }
  sc.lease = [&registration] { return registration.lease(); };
  sc.cutOff = [&registration] { return registration.cutOff(); };
  sc.nowMs = wallClockMs;
  sc.steadyMs = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  auto supervisor = NodeSupervisor::start(store, *out.podman, sc, registration.resumed());
  if (!supervisor) return fail("node supervisor: " + supervisor.error());
  out.supervisor = std::move(supervisor).value();
  out.watcher = out.supervisor.get();
  return true;
}

// The --metrics listener: GET /metrics only, in plain HTTP and without the
// API's token, for a scraper that cannot present one. It tells what jobs
// run and how busy the node is, nothing more: bind it where only the
// scraper reaches.
Result<std::unique_ptr<http::HttpServer>, std::string> startMetricsListener(const std::string& listen,
                                                                           metrics::Metrics& metrics) {
  auto where = parseListen(listen);
  if (!where) return fail("--metrics: " + where.error());
  http::HttpServerConfig sc;
  sc.address = where->host == "localhost" ? "127.0.0.1" : where->host;
  sc.port = where->port;
  sc.threads = 1;
  sc.handlerThreads = 1;
  sc.handlerQueue = 8;
  sc.maxConnections = 32;
  sc.maxConnectionsPerAddress = 8;
  sc.bodyLimit = 0;
  sc.logError = [](std::string_view message) { spdlog::warn("metrics listener: {}", message); };
  auto server = http::HttpServer::start(sc, [&metrics](const http::Request& req) {
    if (req.path != "/metrics") return http::Response{404, "text/plain; charset=utf-8", "only /metrics is served here\n", {}};
    if (req.method != "GET" && req.method != "HEAD") {
      http::Response r{405, "text/plain; charset=utf-8", "GET only\n", {}};
      r.headers.set("Allow", "GET");
      return r;
    }
    return metricsResponse(metrics);
  });
  if (!server) return fail("--metrics: " + server.error());
  spdlog::info("metrics: serving GET /metrics without a token on {}:{}", sc.address, (*server)->port());
  return std::move(server).value();
}

}  // namespace

Result<std::unique_ptr<EtcdStore>, std::string> connectEtcd(const AgentConfig& config) {
  if (std::string why = insecureEtcd(config); !why.empty()) return fail(why);
  EtcdConfig etcdConfig;
  etcdConfig.endpoints = config.etcd;
  etcdConfig.caFile = config.etcdCa;
  etcdConfig.certFile = config.etcdCert;
  etcdConfig.keyFile = config.etcdKey;
  etcdConfig.timeout = std::chrono::milliseconds(config.etcdTimeoutMs);
  auto store = EtcdStore::create(etcdConfig);
  if (!store) return fail(fmt::format("etcd: {}", store.error().message));
  return std::move(store).value();
}

int runAgent(const AgentConfig& config) {
  // The agent runs a thread per health check, mostly idle; glibc would give
  // up to 8 malloc arenas per core to them, each holding freed memory of its
  // own. One per core (at least two) keeps the ingress's workers apart and
  // the agent's resident memory down (bench/metrics.py: 32.1 to 30.3 MiB
  // with 100 instances). MALLOC_ARENA_MAX in the environment still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  }
  // Logs go to stderr; stdout carries only the "listening on" line scripts wait for.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ozy"));
  // Block the stop signals before any thread starts, so every thread inherits
  // the mask and only sigwait() below sees them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  auto fatal = [](const std::string& message) {
    spdlog::error("{}", message);
    return 1;
  };
  const std::string node = config.node.empty() ? hostName() : config.node;
  if (!isHostName(node)) {
    return fatal(fmt::format("--node \"{}\" is not a host name (dot-separated lowercase DNS labels)", node));
  }
  auto listen = parseListen(config.listen);
  if (!listen) return fatal(listen.error());
  if (auto dir = ensurePrivateDir(config.dataDir, "data dir"); !dir) return fatal(dir.error());
  if (auto claimed = claimDataDir(config.dataDir, node); !claimed) return fatal(claimed.error());
  if (!config.sharedDir.empty()) {
    if (auto dir = ensurePrivateDir(config.sharedDir, "shared volume dir"); !dir) return fatal(dir.error());
  }
  auto memory = sizeFlag("memory", config.memory, machineMemory());
  auto disk = sizeFlag("disk", config.disk, fileSystemSize(config.dataDir));
  auto shared = sizeFlag("shared-space", config.sharedSpace, 0);
  if (!memory) return fatal(memory.error());
  if (!disk) return fatal(disk.error());
  if (!shared) return fatal(shared.error());
  if (config.leaseTtl < 1) return fatal("--lease-ttl must be at least 1 second");
  // Default ingress hosts are <job>.<domain> and become etcd keys: only a
  // real domain (or none) may shape them.
  if (!config.domain.empty() && !dns::isDomain(config.domain)) {
    return fatal(fmt::format("--domain \"{}\" is not a DNS domain (lowercase labels, dot-separated)",
                             config.domain));
  }
  if (config.runtime != "none" && config.leaseTtl < 4) {
    spdlog::warn("--lease-ttl {} s leaves under a second between a cut-off node's stand-down (at "
                 "3/4 of it) and the lease's end: its containers get SIGKILL at once; 10 s or more "
                 "gives them time to exit",
                 config.leaseTtl);
  }

  if (config.tlsCert.empty() != config.tlsKey.empty()) {
    return fatal("--tls-cert and --tls-key go together");
  }
  if (!isLoopback(listen->host) && config.tlsCert.empty() && !config.insecureHttp) {
    return fatal(fmt::format(
        "the API would listen on {} in plain HTTP, where the token and every job travel in the "
        "clear; give --tls-cert and --tls-key, or say --insecure-http on a network you trust",
        config.listen));
  }
  auto token = apiToken(config);
  if (!token) return fatal(token.error());

  auto store = connectEtcd(config);
  if (!store) return fatal(store.error());

  ensureSharedPool(**store, *shared);

  // Before everything that counts into it, and outliving everything that
  // its collectors read.
  metrics::Metrics metrics;
  metrics.addCollector(metrics::processCollector());
  // Every part of the agent records what happens to instances here.
  EventLogOptions eventOptions;
  eventOptions.node = node;
  eventOptions.maxPerJob = config.eventsKept;
  eventOptions.maxTxnOps = config.maxTxnOps;
  eventOptions.batchSize = std::min<std::size_t>(eventOptions.batchSize, config.maxTxnOps);
  eventOptions.nowMs = wallClockMs;
  auto eventMaxAge = durationFlag("events-max-age", config.eventsMaxAge);
  if (!eventMaxAge) return fatal(eventMaxAge.error());
  eventOptions.maxAge = std::max(std::chrono::seconds(6), std::chrono::duration_cast<std::chrono::seconds>(*eventMaxAge));
  auto eventLog = EventLog::start(**store, eventOptions);
  if (!eventLog) return fatal("events: " + eventLog.error());

  ControlPlaneOptions controlOptions;
  controlOptions.maxTxnOps = config.maxTxnOps;
  controlOptions.domain = config.domain;
  controlOptions.versionsKept = config.versionsKept;
  controlOptions.maxWaiting = std::max(1, config.apiThreads / 2);
  controlOptions.metrics = &metrics;
  controlOptions.events = eventLog->get();
  controlOptions.nowMs = wallClockMs;
  controlOptions.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto rngMutex = std::make_shared<std::mutex>();
  controlOptions.random = [rng, rngMutex] {
    std::lock_guard lock(*rngMutex);
    return (*rng)();
  };
  auto cache = SnapshotCache::start(**store);
  if (!cache) {
    spdlog::warn("cannot read cluster state from etcd ({}); planning reads etcd directly",
                 cache.error().message);
  }
  ControlPlane control(**store, controlOptions, cache ? cache->get() : nullptr);
  auto replaceInterval = durationFlag("replace-interval", config.replaceInterval);
  if (!replaceInterval) return fatal(replaceInterval.error());
  auto pendingInterval = durationFlag("pending-interval", config.pendingInterval);
  if (!pendingInterval) return fatal(pendingInterval.error());
  auto deployInterval = durationFlag("deploy-interval", config.deployInterval);
  if (!deployInterval) return fatal(deployInterval.error());

  const std::string address = config.address.empty() ? "127.0.0.1" : config.address;
  auto allowedCapabilities = capabilityFlags(config.allowCapabilities);
  if (!allowedCapabilities) return fatal(allowedCapabilities.error());
  auto allowedHostIps = hostIpFlags(config.allowHostIps);
  if (!allowedHostIps) return fatal(allowedHostIps.error());

  http::HttpServerConfig serverConfig;
  serverConfig.address = listen->host == "localhost" ? "127.0.0.1" : listen->host;
  serverConfig.port = listen->port;
  serverConfig.handlerThreads = config.apiThreads;
  if (!config.tlsCert.empty()) serverConfig.tls = http::TlsFiles{config.tlsCert, config.tlsKey};
  serverConfig.logError = [](std::string_view message) { spdlog::error("api: {}", message); };
  auto requestPolicy = std::make_shared<http::RequestPolicy>(
      apiPolicy(config, *token, node, address, serverConfig.address));
  serverConfig.admit = [requestPolicy](const http::Request& head) { return requestPolicy->admit(head); };
  // Declared before the API that reads its engine, and stopped after it.
  NodeRuntime nodeRuntime;
  api::InstanceApiConfig instanceConfig;
  instanceConfig.node = node;
  instanceConfig.runtime = [&nodeRuntime] { return nodeRuntime.engine.load(); };
  instanceConfig.allowExec = config.allowExec == "yes" || (config.allowExec == "auto" && isLoopback(listen->host));
  instanceConfig.token = *token;
  instanceConfig.peerCa = config.peerCa;
  instanceConfig.nowMs = wallClockMs;
  instanceConfig.address = address;
  // Execs and relayed execs hold a handler thread while they run: a quarter
  // of them at most, so the rest of the API keeps answering.
  instanceConfig.maxExecs = static_cast<std::size_t>(std::max(1, config.apiThreads / 4));
  api::InstanceApi instances(control, instanceConfig);
  http::Handler handler =
      makeApiHandler(control, ApiOptions{node, wallClockMs, *allowedCapabilities, [&store] {
                       // One read per node list; an unreadable table shows no subnets.
                       std::map<std::string, std::string> out;
                       if (auto listing = listSubnetLeases(**store)) {
                         for (const auto& l : listing->table.leases) {
                           out[l.publicIp.toString()] = l.subnet.toString();
                         }
                       }
                       return out;
                     }, &metrics, &instances});
  auto server = http::HttpServer::start(serverConfig, std::move(handler));
  if (!server) return fatal(server.error());

  const std::string apiHost = serverConfig.address == "0.0.0.0" || serverConfig.address == "::"
                                  ? address
                                  : serverConfig.address;
  NodeRecord record{node, address,
                    fmt::format("{}://{}:{}", config.tlsCert.empty() ? "http" : "https",
                                apiHost.find(':') != std::string::npos ? "[" + apiHost + "]" : apiHost,
                                (*server)->port()),
                    {*memory, *disk}, wallClockMs(),
                    reservedPorts(config, address, (*server)->port())};
  RegistrationOptions registrationOptions{std::chrono::seconds(config.leaseTtl),
                                          std::filesystem::path(config.dataDir) / "lease", &metrics};
  auto registration = NodeRegistration::start(**store, record, registrationOptions);
  if (!registration) {
    (*server)->stop();
    return fatal(registration.error());
  }
  PodPolicy policy{address, *allowedHostIps, *allowedCapabilities, record.reservedPorts};
  if (auto started = startNodeRuntime(config, **store, **registration, node, address,
                                      std::move(policy), metrics, **eventLog, nodeRuntime);
      !started) {
    nodeRuntime.stop();
    (*server)->stop();
    // Not revoked: pods of an earlier run may still be running here, and a
    // revoked lease would have them re-placed at once while they do.
    (*registration)->stop(false);
    return fatal(started.error());
  }
  // Joins the race to re-place dead nodes' instances once this node counts
  // as live itself.
  ReplacerConfig replacerConfig;
  replacerConfig.node = node;
  replacerConfig.interval = *replaceInterval;
  replacerConfig.fallbackDelay = 5 * *replaceInterval;
  replacerConfig.pendingInterval = *pendingInterval;
  replacerConfig.view = [&cache, &control]() -> std::optional<ClusterSnapshot> {
    if (cache) return (*cache)->current();
    auto read = control.snapshot();
    return read ? std::optional<ClusterSnapshot>(std::move(read).value()) : std::nullopt;
  };
  replacerConfig.metrics = &metrics;
  metrics.addCollector(nodeCollector(NodeFigures{record.capacity, replacerConfig.view, node,
                                                 nodeRuntime.supervisor.get(), nodeRuntime.ingress.get(),
                                                 store->get()}));
  std::unique_ptr<http::HttpServer> metricsServer;
  if (!config.metricsListen.empty()) {
    auto started = startMetricsListener(config.metricsListen, metrics);
    if (!started) {
      nodeRuntime.stop();
      (*server)->stop();
      (*registration)->stop(false);
      return fatal(started.error());
    }
    metricsServer = std::move(started).value();
  }
  Replacer replacer(control, replacerConfig);
  replacer.start();
  // Drives the deployments this node is ranked first for.
  DeployerConfig deployerConfig;
  deployerConfig.node = node;
  deployerConfig.interval = *deployInterval;
  deployerConfig.view = replacerConfig.view;
  deployerConfig.nowMs = wallClockMs;
  Deployer deployer(**store, control, deployerConfig);
  deployer.start();
  spdlog::info("node {} joined (lease {}{}), API on {}, memory {}, disk {}", node,
               (*registration)->lease(), (*registration)->resumed() ? ", resumed" : "",
               record.api, formatSize(*memory), formatSize(*disk));
  // Scripts and tests wait for this line to know the API is up.
  fmt::print("ozy agent listening on {}\n", record.api);
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stopSignals, &signal);
  // An agent restart is not a node leaving (`ozy node drain` is): pods keep
  // running and the lease is left to expire, so an agent back within the
  // TTL adopts everything untouched.
  spdlog::info("node {}: {} received; stopping the agent, leaving its pods running (an agent "
               "started within {} s adopts them; `ozy node drain` moves them away)",
               node, strsignal(signal), config.leaseTtl);
  deployer.stop();
  replacer.stop();
  if (metricsServer) metricsServer->stop();
  (*server)->stop();
  nodeRuntime.stop();
  if (nodeRuntime.network) releaseSubnetIfLeaving(**store, node, *nodeRuntime.network);
  (*registration)->stop(false);
  (*eventLog)->stop();  // writes what is queued, within its deadline
  if (cache) (*cache)->stop();
  return 0;
}

}  // namespace ozy
