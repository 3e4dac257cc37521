// `ozy agent`: one node's daemon. Wires the parts together: the etcd store,
// the node's registration under a lease, the control plane and the HTTP API;
// runs until SIGINT or SIGTERM, then stops, leaving its pods running for the
// next agent to adopt.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/etcd_store.h"

#include "dns/rate_limiter.h"

namespace ozy {

struct AgentConfig {
  std::string node;     // default: the host name
  std::string address;  // the node's address for published ports; default: 127.0.0.1
  std::vector<std::string> etcd{"http://127.0.0.1:2379"};
  std::string etcdCa;
  std::string etcdCert;
  std::string etcdKey;
  std::string memory;  // default: the machine's memory
  std::string disk;    // default: the size of the data dir's file system
  std::string listen = "127.0.0.1:7700";
  std::string tokenFile;  // empty: <data dir>/token, made on first start
  std::string tlsCert;
  std::string tlsKey;
  bool insecureHttp = false;             // plain HTTP beyond loopback
  bool insecureEtcd = false;             // plain HTTP to an etcd beyond loopback
  std::vector<std::string> apiHosts;     // names the API answers for, besides its addresses
  std::vector<std::string> allowOrigins; // web origins allowed to call the API
  int leaseTtl = 10;  // seconds
  std::string dataDir = "/var/lib/ozy";
  std::string sharedSpace = "100G";  // the shared pool, set by the cluster's first agent
  std::size_t maxTxnOps = 128;       // etcd's --max-txn-ops
  int apiThreads = 8;
  int etcdTimeoutMs = 5000;
  std::string replaceInterval = "1s";   // looks for dead nodes' instances to re-place
  std::string pendingInterval = "10s";  // looks for pending instances that now fit
  std::string deployInterval = "250ms"; // looks at the deployments it drives
  std::size_t versionsKept = 10;        // versions kept per job (docs/jobs.md#update)
  std::size_t eventsKept = 200;         // events kept per job (ozy job events)
  std::string eventsMaxAge = "1h";      // and for how long

  // Running instances (issue 4).
  std::string runtime = "podman";  // or "none": schedule only, run nothing
  std::string podmanSocket;        // empty: start a private `podman system service`
  std::string containersConf;      // CONTAINERS_CONF for that service; empty: inherit
  std::string sharedDir;           // shared volumes' root; default <data dir>/shared
  int stopGrace = 10;              // seconds from SIGTERM to SIGKILL
  std::string volumeGrace = "1h";  // an unused local volume is kept this long
  std::string imageGcGrace = "off";  // an image no instance uses is removed after this long
  std::string handoverTimeout = "2m";  // a moved instance runs here until healthy there, at most this
  std::string drainDelay = "2s";  // a withdrawn instance's pod stops this long after; 0: at once
  std::string restartBackoff = "10s";  // first restart delay; doubles to 5 min
  std::string resync = "5s";           // full reconcile period
  std::string dns;                     // ADDR:PORT to answer DNS on; empty: no responder
  std::string domain = "ozy.local";    // the cluster's DNS domain
  std::vector<std::string> podDns;     // pods' nameservers; default: the --dns address if on port 53
  std::uint32_t dnsRate = dns::kDefaultQueriesPerSecond;  // per client address; 0: no limit
  std::uint32_t dnsBurst = dns::kDefaultBurst;

  // Confinement of pods (docs/operations.md#security).
  std::vector<std::string> allowCapabilities;  // capabilities jobs may add beyond the default set
  std::vector<std::string> allowHostIps;       // host IPs ports may name besides --address
  std::int64_t pidsLimit = 1024;               // per container; 0: no limit
  std::string logMaxSize = "10M";              // per container log file; 0: no limit

  // Where images come from (docs/operations.md#images).
  std::string registryAuth;                  // an auth.json of registry credentials; empty: none
  std::vector<std::string> insecureRegistries;  // host:port pulled from without TLS verification
  int parallelPulls = 3;                     // image pulls at once

  // The pod network (docs/network.md): "cluster" joins the one in etcd
  // (refusing to start if there is none), "auto" makes the default one if
  // there is none, "host" keeps pods on podman's own bridge, reachable from
  // this host only.
  std::string podNetwork = "cluster";
  std::string cniConfigDir = "/etc/cni/net.d";
  std::int64_t subnetTtl = 24 * 60 * 60;  // seconds: how long a silent node keeps its subnet

  // The ingress (docs/ingress.md): HTTP by Host and TCP routes to every
  // job's healthy instances. Empty: this node runs none.
  std::string ingress;                        // ADDR:PORT
  int ingressThreads = 0;                     // 0: one per CPU core
  std::vector<std::string> ingressTrustedProxies;  // CIDRs whose X-Forwarded-* are kept
  std::string ingressAccessLog;               // a file, or "-" for standard output; empty: none
  std::uint32_t ingressAccessLogEvery = 1;    // log one request in this many
  std::string ingressBodyLimit = "16M";
  std::string ingressIdleTimeout = "60s";
  std::string ingressUpstreamTimeout = "60s";

  // GET /metrics is on the API (with its token); this ADDR:PORT serves it
  // too, alone and without a token (docs/operations.md#metrics). Empty: no such listener.
  std::string metricsListen;

  // An instance's logs and exec (docs/operations.md#logs-and-exec).
  std::string allowExec = "auto";  // yes, no, or auto: yes while the API listens on loopback only
  std::string peerCa;              // CA bundle for other agents' TLS certificates; empty: the system's
};

// The cluster's etcd as `config`'s etcd flags name it, refusing plain HTTP
// beyond loopback unless --insecure-etcd: for the agent and `ozy network`.
Result<std::unique_ptr<EtcdStore>, std::string> connectEtcd(const AgentConfig& config);

// Runs the agent; returns the process exit code. Blocks SIGINT and SIGTERM
// in the calling thread and waits for them.
int runAgent(const AgentConfig& config);

}  // namespace ozy
