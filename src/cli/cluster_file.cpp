#include "cli/cluster_file.h"

#include <set>

#include <fmt/format.h>

#include "job/job_parser.h"
#include "job/yaml_reader.h"

namespace ozy {
namespace {

constexpr std::string_view kClusterFields[] = {"nodes", "sharedSpace", "sharedUsed"};
constexpr std::string_view kNodeFields[] = {"name",     "memory",  "disk",
                                            "usedMemory", "usedDisk", "portsInUse"};

// A node's portsInUse may list every port, TCP and UDP (there is no range
// syntax), far more than any list of a job file.
constexpr YamlLimits kClusterLimits{.maxEntries = 2 * 65'536};

}  // namespace

Result<ClusterState, std::vector<FieldError>> parseClusterFile(std::string_view text) {
  auto root = loadYaml(text, kClusterLimits);
  if (!root) return fail(std::vector<FieldError>{root.error().error});
  std::vector<FieldError> errors;
  FieldReader r(errors);
  ClusterState cluster;
  if (!r.mapping(*root, "", kClusterFields)) return fail(std::move(errors));
  if (auto n = FieldReader::field(*root, "sharedSpace"); FieldReader::present(n)) {
    cluster.sharedCapacity = r.size(n, "sharedSpace").value_or(0);
  }
  if (auto n = FieldReader::field(*root, "sharedUsed"); FieldReader::present(n)) {
    cluster.sharedUsed = r.size(n, "sharedUsed").value_or(0);
  }
  const auto nodes = FieldReader::field(*root, "nodes");
  if (!FieldReader::present(nodes)) {
    r.missing(*root, "nodes");
  } else if (r.sequence(nodes, "nodes")) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const std::string at = indexPath("nodes", i);
      const YAML::Node item = nodes[i];
      if (!r.mapping(item, at, kNodeFields)) continue;
      NodeState node;
      if (auto n = FieldReader::field(item, "name"); FieldReader::present(n)) {
        if (auto name = r.string(n, childPath(at, "name"))) {
          node.name = *name;
          if (!isHostName(node.name)) {
            r.error(n, childPath(at, "name"),
                    fmt::format("\"{}\" is not a host name (dot-separated lowercase DNS labels)",
                                node.name.substr(0, 60)));
          } else if (!names.insert(node.name).second) {
            r.error(n, childPath(at, "name"), fmt::format("\"{}\" is listed twice", node.name));
          }
        }
      } else {
        r.missing(item, childPath(at, "name"));
      }
      auto sizeField = [&](std::string_view key, Bytes& out, bool required) {
        if (auto n = FieldReader::field(item, key); FieldReader::present(n)) {
          out = r.size(n, childPath(at, key)).value_or(0);
        } else if (required) {
          r.missing(item, childPath(at, key));
        }
      };
      sizeField("memory", node.capacity.memory, true);
      sizeField("disk", node.capacity.disk, true);
      sizeField("usedMemory", node.used.memory, false);
      sizeField("usedDisk", node.used.disk, false);
      if (auto n = FieldReader::field(item, "portsInUse"); FieldReader::present(n)) {
        const std::string portsPath = childPath(at, "portsInUse");
        if (r.sequence(n, portsPath)) {
          for (std::size_t j = 0; j < n.size(); ++j) {
            auto entry = r.string(n[j], indexPath(portsPath, j));
            if (!entry) continue;
            // "80" or "53/udp": the same syntax as a container-only port mapping.
            auto port = parsePortMapping(*entry);
            if (!port || port->hostPort != 0 || !port->hostIp.empty()) {
              r.error(n[j], indexPath(portsPath, j),
                      fmt::format("\"{}\" is not a port (e.g. 80 or 53/udp)", entry->substr(0, 60)));
              continue;
            }
            node.portsInUse.push_back(HostPort{port->containerPort, port->protocol});
          }
        }
      }
      cluster.nodes.push_back(std::move(node));
    }
  }
  if (!errors.empty()) return fail(std::move(errors));
  return cluster;
}

}  // namespace ozy
