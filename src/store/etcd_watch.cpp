// EtcdWatch: a watch stream kept alive across lost connections; see
// etcd_watch.h.
//
// Where to resume matters most here. etcd may send the events of a long
// catch-up in several responses whose header revision is already the newest
// one, so the header revision is not a safe resume point: the watch resumes
// after the mod revision of the last event delivered. Only a "created"
// response (for a watch started at 0, "now") and a progress notification
// (sent only to watchers that are fully caught up) move that point on their
// header revision.
#include "store/etcd_watch.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "store/etcd_convert.h"
#include "store/etcd_endpoints.h"
#include "store/etcd_errors.h"

namespace ozy {

struct EtcdWatch::State {
  std::shared_ptr<EtcdChannels> channels;
  std::string prefix;
  WatchEventsFn onEvents;
  WatchErrorFn onError;
  // The revision the next stream starts from; 0 means "now" and is replaced
  // by a concrete revision as soon as the first stream is created.
  int64_t nextRevision = 0;  // watch thread only

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;                   // guarded by mutex
  grpc::ClientContext* current = nullptr;  // the open stream, guarded by mutex

  void requestStop() {
    std::lock_guard lock(mutex);
    stopping = true;
    if (current != nullptr) current->TryCancel();
    wake.notify_all();
  }
  bool isStopping() {
    std::lock_guard lock(mutex);
    return stopping;
  }
  // Registers the context of a new stream so stop() can cancel it; false if
  // stop() came first.
  bool attach(grpc::ClientContext* context) {
    std::lock_guard lock(mutex);
    current = context;
    return !stopping;
  }
  void detach() {
    std::lock_guard lock(mutex);
    current = nullptr;
  }
  // Sleeps for `pause` unless stop() comes first; false if it did.
  bool sleep(std::chrono::milliseconds pause) {
    std::unique_lock lock(mutex);
    return !wake.wait_for(lock, pause, [this] { return stopping; });
  }
};

namespace {

using State = EtcdWatch::State;

enum class StreamEnd {
  kLost,      // the connection broke: try again
  kFinished,  // stop() was called, or a terminal error has been reported
};

// Growing pauses between reconnects, with jitter so that many nodes that lost
// the same etcd do not all come back in the same instant.
class Backoff {
 public:
  std::chrono::milliseconds next() {
    const auto full = current_;
    current_ = std::min(current_ * 2, kMax);
    std::uniform_int_distribution<int64_t> jitter(full.count() / 2, full.count());
    return std::chrono::milliseconds(jitter(random_));
  }
  void reset() { current_ = kMin; }

 private:
  static constexpr std::chrono::milliseconds kMin{100};
  static constexpr std::chrono::milliseconds kMax{5000};
  std::chrono::milliseconds current_ = kMin;
  std::minstd_rand random_{std::random_device{}()};
};

// Statuses that another attempt cannot fix. Everything else (unavailable,
// deadline, internal errors, a server closing the stream) is a lost
// connection.
bool isTerminal(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return true;
    default:
      return false;
  }
}

etcdserverpb::WatchRequest createRequest(const State& state) {
  etcdserverpb::WatchRequest request;
  auto* create = request.mutable_create_request();
  KeyRange range = prefixRange(state.prefix);
  create->set_key(std::move(range.key));
  create->set_range_end(std::move(range.rangeEnd));
  create->set_start_revision(state.nextRevision);
  // No prev_kv: etcd would read every event's previous value from its
  // backend, which cost more etcd time than the writes being watched.
  // Progress notifications let a quiet watch move its resume point forward,
  // so a reconnect is less likely to land on compacted history.
  create->set_progress_notify(true);
  return request;
}

void report(State& state, StoreError error) {
  if (!state.isStopping() && state.onError) state.onError(error);
}

// Reports why etcd cancelled the watch; a cancelled watch is over.
void onCanceled(State& state, const EtcdEndpoint& ep, const etcdserverpb::WatchResponse& response) {
  if (response.compact_revision() > 0) {
    report(state, StoreError{StoreError::kCompacted,
                             fmt::format("etcd {}: the watch on prefix {} cannot start at revision "
                                         "{}: history up to revision {} has been compacted. Read "
                                         "the keys again and watch from the revision read.",
                                         ep.url, quoteKey(state.prefix), state.nextRevision,
                                         response.compact_revision())});
  } else {
    report(state,
           StoreError{StoreError::kOther,
                      fmt::format("etcd {}: the watch on prefix {} was cancelled: {}", ep.url,
                                  quoteKey(state.prefix), response.cancel_reason())});
  }
}

// Handles one response; true when the watch is over.
bool onResponse(State& state, const EtcdEndpoint& ep, const etcdserverpb::WatchResponse& response) {
  if (response.canceled()) {
    onCanceled(state, ep, response);
    return true;
  }
  const int64_t headerRevision = response.header().revision();
  if (response.events().empty()) {
    // A "created" answer or a progress notification; see the file comment.
    const bool movesOn = !response.created() || state.nextRevision == 0;
    if (movesOn) state.nextRevision = std::max(state.nextRevision, headerRevision + 1);
    return false;
  }
  std::vector<WatchEvent> events;
  events.reserve(static_cast<std::size_t>(response.events_size()));
  for (const auto& event : response.events()) events.push_back(fromProto(event));
  const int64_t lastRevision = events.back().kv.modRevision;
  state.nextRevision = lastRevision + 1;
  if (state.onEvents && !state.isStopping()) state.onEvents(std::move(events), lastRevision);
  return false;
}

// Runs one stream until it breaks or the watch ends. `established` is set once
// etcd has answered on it.
StreamEnd runStream(State& state, EtcdEndpoint& ep, bool* established) {
  grpc::ClientContext context;  // must outlive `stream`, so declared before it
  if (!state.attach(&context)) return StreamEnd::kFinished;
  auto stream = ep.watch->Watch(&context);
  bool finished = false;
  if (stream->Write(createRequest(state))) {
    etcdserverpb::WatchResponse response;
    while (!finished && stream->Read(&response)) {
      *established = true;
      finished = onResponse(state, ep, response);
    }
  }
  context.TryCancel();  // ends the server's side too when we leave first
  const grpc::Status status = stream->Finish();
  state.detach();
  if (finished || state.isStopping()) return StreamEnd::kFinished;
  if (isTerminal(status)) {
    report(state, storeErrorFromStatus(status, ep.url, "watch on prefix " + quoteKey(state.prefix),
                                       state.channels->timeout()));
    return StreamEnd::kFinished;
  }
  return StreamEnd::kLost;
}

void run(const std::shared_ptr<State>& state) {
  Backoff backoff;
  EtcdChannels& channels = *state->channels;
  std::size_t index = channels.preferred();
  for (;;) {
    bool established = false;
    if (runStream(*state, channels.endpoint(index), &established) == StreamEnd::kFinished) return;
    if (established) backoff.reset();
    // Another member may be up while this one is not.
    index = (index + 1) % channels.size();
    if (!state->sleep(backoff.next())) return;
  }
}

}  // namespace

std::unique_ptr<EtcdWatch> EtcdWatch::start(std::shared_ptr<EtcdChannels> channels,
                                            std::string prefix, int64_t startRevision,
                                            WatchEventsFn onEvents, WatchErrorFn onError) {
  auto state = std::make_shared<State>();
  state->channels = std::move(channels);
  state->prefix = std::move(prefix);
  state->onEvents = std::move(onEvents);
  state->onError = std::move(onError);
  state->nextRevision = std::max<int64_t>(startRevision, 0);
  return std::unique_ptr<EtcdWatch>(new EtcdWatch(std::move(state)));
}

EtcdWatch::EtcdWatch(std::shared_ptr<State> state)
    : state_(std::move(state)), thread_([state = state_] { run(state); }) {}

EtcdWatch::~EtcdWatch() {
  state_->requestStop();
  if (!thread_.joinable()) return;
  // Destroyed from inside a callback: the thread finishes on its own, and
  // keeps the shared state alive until then.
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
    return;
  }
  std::lock_guard lock(joinMutex_);
  if (thread_.joinable()) thread_.join();
}

void EtcdWatch::stop() {
  state_->requestStop();
  if (thread_.get_id() == std::this_thread::get_id()) return;  // from a callback
  std::lock_guard lock(joinMutex_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace ozy
