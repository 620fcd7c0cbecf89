// Attribution of the app's outbound calls (PostgreSQL statements, Redis commands) to the inbound
// HTTP request that caused them, per process. Three methods, strongest first:
//
//  1. Python contexts (asyncio): every socket syscall carries the contextvars Context current on
//     its thread (DataEvent::py_ctx, read from PyThreadState->context in the kernel), and every
//     new Context is reported with the Context current at its birth (PyCtxEvent: parent →
//     child). An asyncio task runs in its own Context, created when the task is, so the Contexts
//     form a tree: loop → a connection's reader → the request's task → its child tasks (the
//     endpoint under Starlette's BaseHTTPMiddleware, the response streamer, gathered tasks).
//     A request's *root* is the topmost ancestor of the Context that wrote its response's first
//     byte among those born after the request's first byte was read: the request's task
//     (anything above it — the connection's reader, the loop, the previous request on a
//     keep-alive connection that created it — is older). A call belongs to the request when
//     its root is the call's Context or an ancestor of it. Contexts are freed and their
//     addresses reused: each birth makes a new node, so a call keeps the ancestry it had when
//     it was made. A call made in a Context whose birth was never seen (older than the
//     observation, or the loop's own, as for uvloop's deferred transport writes) falls back to
//     methods 2 and 3. A request alone in flight for its whole life also takes every call
//     made meanwhile (method 2) when no root is found (uvloop writes responses outside tasks).
//  2. Single in flight: a call made while its process has exactly one request in flight (read,
//     not yet answered) belongs to it. Used for calls without a Context (non-Python processes,
//     contexts off).
//  3. Thread per request: a call on a thread that is reading exactly one in-flight request,
//     in a process that has never had two requests in flight on one thread (thread-per-request
//     servers; event loops and work-stealing runtimes break the rule at once and stop using it).
//
// Each call ends as exactly one of: exact (given to a request by one of the methods), ambiguous
// (several requests could own it and none is provable: never guessed), orphan (no request
// could own it: startup, pool maintenance, background work, a call after its request ended).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "records/records.h"

namespace fraiseql::correlator {

using records::Call;
using records::Origin;

// What the attributor decided, for the self-metrics (read from any thread).
struct AttributionStats {
  std::atomic<uint64_t> exact{0}, ambiguous{0}, orphan{0};
  std::atomic<uint64_t> by_context{0}, by_single_in_flight{0}, by_thread{0};
  std::atomic<uint64_t> births_new{0}, births_reused{0};
};

// What OnRequestEnd knows of a request: its exact calls, and how many calls made while it was
// in flight could not be decided (it may own some of them).
struct RequestCalls {
  std::vector<Call> calls;
  uint32_t ambiguous = 0;
};

struct AttributionOptions {
  // Pending calls kept per process while their owner is undecided; beyond, the oldest are
  // reported ambiguous.
  size_t max_pending_calls = 20000;
  // Known Contexts per process; beyond, the table is cleared (ancestry lost: calls made under
  // a forgotten Context end ambiguous or orphan, never wrong).
  size_t max_contexts = 200000;
  // Requests in flight per process; beyond, the oldest is dropped (its calls then orphan).
  size_t max_requests = 10000;
};

class Attributor {
 public:
  explicit Attributor(AttributionOptions options);
  ~Attributor();

  // A Python Context was born (PyContext_CopyCurrent) in `tgid`: `child` copies `parent`.
  void OnContextBirth(uint32_t tgid, uint64_t ts_ns, uint64_t parent, uint64_t child);
  // An inbound request's head was read; `start` is the origin of its first byte. `id` is unique
  // in the process (the HTTP handler's); the second form numbers requests itself (tests).
  void OnRequestStart(uint32_t tgid, uint64_t id, const Origin& start);
  uint64_t OnRequestStart(uint32_t tgid, const Origin& start);
  // A call made by `tgid` (origin of its first byte) has completed.
  void OnCall(uint32_t tgid, const Origin& origin, Call call);
  // The request was answered: `first_write` is the origin of its response's first byte. Returns
  // the calls attributed to it (exact only), in completion order.
  std::vector<Call> OnRequestEnd(uint32_t tgid, uint64_t request_id, const Origin& first_write) {
    return End(tgid, request_id, first_write).calls;
  }
  // The same, with the number of undecided calls it may own.
  RequestCalls End(uint32_t tgid, uint64_t request_id, const Origin& first_write);
  // The request's connection closed unanswered.
  void OnRequestAbandoned(uint32_t tgid, uint64_t request_id);
  // The process is gone.
  void ForgetProcess(uint32_t tgid);

  const AttributionStats& stats() const { return stats_; }

 private:
  struct CtxNode;
  struct Process;
  struct Request;
  struct PendingCall;
  Process& Proc(uint32_t tgid);
  std::shared_ptr<CtxNode> Node(Process& p, uint64_t addr);
  // Decides the pending calls no in-flight request can own any more.
  void Expire(Process& p);

  AttributionOptions options_;
  std::unordered_map<uint32_t, std::unique_ptr<Process>> procs_;
  uint64_t next_request_id_ = 1;
  AttributionStats stats_;
};

}  // namespace fraiseql::correlator
