// Linux capabilities as job files name them ("NET_ADMIN", without "CAP_"),
// and the set a container gets when its job file asks for nothing else.
//
// Pure data and lookups: the parser validates names against kLinuxCapabilities,
// the node agent computes what to drop and add, and the API checks additions
// against an agent's allow-list (docs/jobs.md#capabilities).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "job/job.h"

namespace ozy {

// Every capability of Linux 6.x (capability.h), in the kernel's order.
inline constexpr std::string_view kLinuxCapabilities[] = {
    "CHOWN",          "DAC_OVERRIDE",  "DAC_READ_SEARCH", "FOWNER",        "FSETID",
    "KILL",           "SETGID",        "SETUID",          "SETPCAP",       "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",     "NET_RAW",       "IPC_LOCK",
    "IPC_OWNER",      "SYS_MODULE",    "SYS_RAWIO",       "SYS_CHROOT",    "SYS_PTRACE",
    "SYS_PACCT",      "SYS_ADMIN",     "SYS_BOOT",        "SYS_NICE",      "SYS_RESOURCE",
    "SYS_TIME",       "SYS_TTY_CONFIG", "MKNOD",          "LEASE",         "AUDIT_WRITE",
    "AUDIT_CONTROL",  "SETFCAP",       "MAC_OVERRIDE",    "MAC_ADMIN",     "SYSLOG",
    "WAKE_ALARM",     "BLOCK_SUSPEND", "AUDIT_READ",      "PERFMON",       "BPF",
    "CHECKPOINT_RESTORE"};

// What a container may do as its own root without asking: own and chmod its
// files (CHOWN, DAC_OVERRIDE, FOWNER, FSETID), signal its processes (KILL),
// bind ports below 1024 in its pod (NET_BIND_SERVICE) and drop to another
// user (SETGID, SETUID). podman's own default adds AUDIT_WRITE, MKNOD,
// NET_RAW, SETFCAP, SETPCAP and SYS_CHROOT, which few services need and
// attacks often do (raw sockets spoof traffic; device nodes and file
// capabilities outlive the container in its volumes).
inline constexpr std::string_view kDefaultCapabilities[] = {
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"};

// True for a name of kLinuxCapabilities, as written there (upper case, no
// "CAP_" prefix).
bool isCapability(std::string_view name);
bool isDefaultCapability(std::string_view name);

// The capabilities of a container: the default set without its cap_drop
// ("ALL" drops every default), with its cap_add; sorted, each once.
std::vector<std::string> effectiveCapabilities(const Container& container);

// The capabilities a container adds beyond the default set: those an agent
// must allow before it runs the container (in cap_add order).
std::vector<std::string> extraCapabilities(const Container& container);

// The first capability `job` adds beyond the default set that `allowed`
// does not list, with the container asking for it; nullopt if every one is
// allowed.
struct CapabilityRequest {
  std::string container;
  std::string capability;
};
std::optional<CapabilityRequest> firstCapabilityNotAllowed(const Job& job,
                                                           std::span<const std::string> allowed);

}  // namespace ozy
