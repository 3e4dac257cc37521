#include "network/pod_network.h"

#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "network/command.h"

namespace ozy {

using json = nlohmann::json;

std::string bridgeName(const Ipv4Cidr& subnet) { return fmt::format("ozy{:08x}", subnet.base().toUint()); }

std::string cniConfList(const PodNetworkSpec& spec) {
  const std::string gateway = Ipv4Address(spec.subnet.base().toUint() + 1).toString();
  const json bridge = {
      {"type", "bridge"},
      {"bridge", bridgeName(spec.subnet)},
      {"isGateway", true},
      {"ipMasq", false},  // installPodNetwork masquerades only what leaves the cluster network
      {"hairpinMode", true},
      {"ipam",
       {{"type", "host-local"},
        {"routes", json::array({{{"dst", "0.0.0.0/0"}}})},
        {"ranges", json::array({json::array({{{"subnet", spec.subnet.toString()}, {"gateway", gateway}}})})}}}};
  const json list = {{"cniVersion", "0.4.0"},
                     {"name", kPodNetworkName},
                     {"plugins",
                      json::array({bridge,
                                   {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}},
                                   {{"type", "firewall"}, {"backend", "iptables"}},
                                   {{"type", "tuning"}}})}};
  return list.dump(2) + "\n";
}

namespace {

Result<std::monostate, std::string> writeIfChanged(const std::filesystem::path& path, const std::string& text) {
  {
    std::ifstream in(path);
    std::stringstream old;
    old << in.rdbuf();
    if (in && old.str() == text) return std::monostate{};
  }
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  // Whole or not at all: podman may read the directory at any moment.
  const std::filesystem::path temporary = path.string() + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) return fail(fmt::format("cannot write {}", temporary.string()));
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) return fail(fmt::format("cannot write {}: {}", path.string(), ec.message()));
  return std::monostate{};
}

Result<CommandResult, std::string> iptables(std::vector<std::string> args) {
  args.insert(args.begin(), {"iptables", "-w", "5"});  // waits for the xtables lock
  return runCommand(args);
}

// Each rule: table, chain, and the rule's match and target.
struct Rule {
  std::string table;
  std::string chain;
  std::vector<std::string> spec;
};

Result<std::monostate, std::string> ensureRule(const Rule& rule) {
  std::vector<std::string> check{"-t", rule.table, "-C", rule.chain};
  check.insert(check.end(), rule.spec.begin(), rule.spec.end());
  auto present = iptables(check);
  if (!present) return fail(std::move(present).error());
  if (present->exitCode == 0) return std::monostate{};
  std::vector<std::string> insert{"-t", rule.table, "-I", rule.chain, "1"};
  insert.insert(insert.end(), rule.spec.begin(), rule.spec.end());
  auto added = iptables(insert);
  if (!added) return fail(std::move(added).error());
  if (added->exitCode != 0) return fail(fmt::format("iptables {}: {}", commandText(insert), added->err));
  return std::monostate{};
}

// Removes this agent's rules of `table`/`chain` that are not in `keep`.
Result<std::monostate, std::string> removeOthers(const std::string& table, const std::string& chain,
                                                 const std::vector<Rule>& keep) {
  auto listed = iptables({"-t", table, "-S", chain});
  if (!listed) return fail(std::move(listed).error());
  if (listed->exitCode != 0) return fail(fmt::format("iptables -t {} -S {}: {}", table, chain, listed->err));
  std::istringstream lines(listed->out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(kRuleComment) == std::string::npos) continue;
    std::istringstream words(line);
    std::vector<std::string> args;
    for (std::string w; words >> w;) args.push_back(w);
    if (args.size() < 3 || args[0] != "-A") continue;
    std::vector<std::string> spec(args.begin() + 2, args.end());
    bool wanted = false;
    for (const Rule& k : keep) wanted = wanted || (k.table == table && k.chain == chain && k.spec == spec);
    if (wanted) continue;
    std::vector<std::string> remove{"-t", table, "-D", chain};
    remove.insert(remove.end(), spec.begin(), spec.end());
    auto removed = iptables(remove);
    if (!removed) return fail(std::move(removed).error());
  }
  return std::monostate{};
}

}  // namespace

Result<std::monostate, std::string> installPodNetwork(const PodNetworkSpec& spec) {
  if (auto written = writeIfChanged(spec.cniConfigDir / (std::string(kPodNetworkName) + ".conflist"),
                                    cniConfList(spec));
      !written) {
    return written;
  }
  // iptables -S prints the comment without quotes when it has no spaces.
  const std::vector<std::string> comment{"-m", "comment", "--comment", kRuleComment};
  auto with = [&](std::vector<std::string> match, const std::string& target) {
    match.insert(match.end(), comment.begin(), comment.end());
    match.insert(match.end(), {"-j", target});
    return match;
  };
  const std::vector<Rule> rules{
      {"nat", "POSTROUTING", with({"-s", spec.subnet.toString(), "!", "-d", spec.network.toString()}, "MASQUERADE")},
      {"filter", "FORWARD", with({"-s", spec.network.toString()}, "ACCEPT")},
      {"filter", "FORWARD", with({"-d", spec.network.toString()}, "ACCEPT")},
  };
  for (const auto& [table, chain] : {std::pair{"nat", "POSTROUTING"}, std::pair{"filter", "FORWARD"}}) {
    if (auto removed = removeOthers(table, chain, rules); !removed) return removed;
  }
  for (const Rule& rule : rules) {
    if (auto added = ensureRule(rule); !added) return added;
  }
  return std::monostate{};
}

}  // namespace ozy
