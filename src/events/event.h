// Event: one entry of a job's event log (what happened to the job or one of
// its instances, when, where), its kinds, and its JSON form under
// /ozy/events/<job>/<key> (scheduler/keys.h). Pure.
//
// Decoding is strict and bounded, as for the records of scheduler/records.h:
// the value in etcd may have been written by another version or by hand, and
// the log is shown to people, so an oversized or malformed value is refused
// (and the reader skips it) rather than shown half-read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ozy {

// What happened. The words (toString) are what etcd holds and what the API
// and the CLI show: change one only together with a reader that accepts the
// old one.
enum class EventKind {
  kPlaced,      // an instance was given a node
  kPending,     // an instance waits for room
  kReplaced,    // an instance moved to another node (fromNode: the one it left)
  kRemoved,     // an instance left its node (scale-down, stop, an old version)
  kPodCreated,  // the node made the instance's pod
  kStarted,     // the pod's containers run
  kHealthy,     // the health check passed its threshold
  kUnhealthy,   // the health check failed its threshold
  kRestarted,   // a container was restarted (exitCode: how it ended)
  kOomKilled,   // a container was killed for exceeding its memory limit
  kFailed,      // something the node could not do (pull, create, start)
  kDeployment,  // a deployment's step (version: the one it rolls out)
  kDrained,     // an instance leaves a drained node
};

inline constexpr std::array kEventKinds = {
    EventKind::kPlaced,     EventKind::kPending,   EventKind::kReplaced, EventKind::kRemoved,
    EventKind::kPodCreated, EventKind::kStarted,   EventKind::kHealthy,  EventKind::kUnhealthy,
    EventKind::kRestarted,  EventKind::kOomKilled, EventKind::kFailed,   EventKind::kDeployment,
    EventKind::kDrained};

// "placed", "pod-created", "oom-killed", ...
std::string_view toString(EventKind kind);
// The kind a word names; nullopt for any other word.
std::optional<EventKind> parseEventKind(std::string_view word);

// Bounds of a stored event: a message is for a person reading a list, not a
// log file. The value's bound holds the largest message JSON can make of it
// (control characters escape to six bytes each) and the longest names, and
// a writer's batch of them stays far below etcd's request limit.
inline constexpr std::size_t kMaxEventMessageBytes = 1024;
inline constexpr std::size_t kMaxEventBytes = 8192;

struct Event {
  std::int64_t atMs = 0;  // wall clock, when it happened (0: when recorded)
  std::string job{};
  // The instance it concerns; none for an event of the whole job.
  std::optional<std::uint32_t> instance = std::nullopt;
  std::string node{};  // the node it happened on, or the one placed on; may be empty
  EventKind kind = EventKind::kPlaced;
  // For people: what and why. Cut to kMaxEventMessageBytes when stored.
  std::string message{};
  std::optional<int> exitCode = std::nullopt;           // of the container that ended
  std::optional<std::uint64_t> version = std::nullopt;  // the job version concerned
  std::string fromNode{};  // kReplaced, kDrained: the node the instance left
  bool operator==(const Event&) const = default;
};

// `text` as valid UTF-8 of at most `maxBytes` bytes: each byte of an
// invalid sequence becomes U+FFFD, and text over the bound is cut at a
// character boundary and ends in "…" (so a reader sees it was cut). Text
// that is cut to fewer than 3 bytes (the "…") is cut to nothing.
std::string cutUtf8(std::string_view text, std::size_t maxBytes);

// The event's JSON, as stored and as the API may serve it: optional fields
// only when set, the message cut as cutUtf8(message, kMaxEventMessageBytes),
// so whatever is encoded decodes.
nlohmann::ordered_json toJson(const Event& event);
std::string encode(const Event& event);
// Never throws. Refuses text over kMaxEventBytes, anything but an object,
// a missing or mistyped field, a job that is no DNS label, node names that
// are no host names, a message over its bound, an unknown kind, numbers out
// of their range. Unknown fields are ignored (a newer writer's additions).
Result<Event, std::string> decodeEvent(std::string_view text);

}  // namespace ozy
