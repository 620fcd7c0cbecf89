#include "correlator/attribution.h"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

namespace fraiseql::correlator {

namespace {
// Ancestors walked from a call's Context. Deeper chains are cut at birth, so nothing is lost:
// a request's task is a handful of levels above the calls it causes.
constexpr int kMaxDepth = 64;

void Bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

struct Attributor::CtxNode {
  std::shared_ptr<CtxNode> parent;
  uint64_t birth_ns = 0;
  bool born = false;  // its birth was seen (else: a Context older than the observation)
};

struct Attributor::Request {
  uint64_t id = 0;
  uint64_t start_ns = 0;
  uint32_t read_tid = 0;
  bool overlapped = false;  // another request was in flight at some point of its life
  std::vector<Call> calls{};  // given by single-in-flight / thread-per-request
  uint32_t ambiguous = 0;     // calls made while it was in flight that nobody could claim
};

// A call made in a known Context while requests were in flight, waiting for its owner.
struct Attributor::PendingCall {
  Call call;
  std::shared_ptr<CtxNode> node;
};

struct Attributor::Process {
  std::unordered_map<uint64_t, std::shared_ptr<CtxNode>> contexts;
  uint64_t births = 0;
  std::map<uint64_t, Request> requests;  // in flight, by id (ids grow with start order)
  std::deque<PendingCall> pending;       // calls waiting for their request's answer
  bool thread_per_request = true;        // no two requests ever in flight on one thread
};


Attributor::Attributor(AttributionOptions options) : options_(options) {}

Attributor::~Attributor() = default;

Attributor::Process& Attributor::Proc(uint32_t tgid) {
  auto& slot = procs_[tgid];
  if (!slot) slot = std::make_unique<Process>();
  return *slot;
}

std::shared_ptr<Attributor::CtxNode> Attributor::Node(Process& p, uint64_t addr) {
  if (addr == 0) return nullptr;
  auto it = p.contexts.find(addr);
  if (it != p.contexts.end()) return it->second;
  if (p.contexts.size() >= options_.max_contexts) p.contexts.clear();
  auto n = std::make_shared<CtxNode>();
  p.contexts.emplace(addr, n);
  return n;
}

void Attributor::OnContextBirth(uint32_t tgid, uint64_t ts_ns, uint64_t parent, uint64_t child) {
  if (child == 0) return;
  Process& p = Proc(tgid);
  ++p.births;
  auto n = std::make_shared<CtxNode>();
  n->parent = Node(p, parent);
  n->birth_ns = ts_ns;
  n->born = true;
  // Keep-alive connections chain requests (uvicorn creates a request's task in the previous
  // one's Context), so ancestries grow without bound. Nothing above a Context older than every
  // request in flight can be a request's root (roots are born after their request started,
  // and later requests start later still): cut there, so memory stays bounded.
  uint64_t oldest = UINT64_MAX;
  for (const auto& [id, r] : p.requests) oldest = std::min(oldest, r.start_ns);
  if (n->parent && n->parent->birth_ns < oldest) n->parent->parent.reset();
  if (spdlog::should_log(spdlog::level::trace)) {
    spdlog::trace("attribution: pid {} ctx {:#x} born of {:#x} at {}", tgid, child, parent, ts_ns);
  }
  auto [it, inserted] = p.contexts.try_emplace(child, n);
  if (inserted) {
    Bump(stats_.births_new);
  } else {
    it->second = n;  // the address was freed and reused: a new Context
    Bump(stats_.births_reused);
  }
  if (p.contexts.size() > options_.max_contexts) p.contexts.clear();
}

uint64_t Attributor::OnRequestStart(uint32_t tgid, const Origin& start) {
  uint64_t id = next_request_id_++;
  OnRequestStart(tgid, id, start);
  return id;
}

void Attributor::OnRequestStart(uint32_t tgid, uint64_t id, const Origin& start) {
  Process& p = Proc(tgid);
  if (p.requests.size() >= options_.max_requests) {
    p.requests.erase(p.requests.begin());
    Expire(p);
  }
  bool overlapped = !p.requests.empty();
  for (auto& [id, r] : p.requests) {
    if (r.read_tid == start.tid) p.thread_per_request = false;
    r.overlapped = true;
  }
  if (spdlog::should_log(spdlog::level::trace)) {
    spdlog::trace("attribution: pid {} request {} begins at {} tid {} ({} in flight)", tgid, id,
                  start.ts_ns, start.tid, p.requests.size());
  }
  p.requests.emplace(id, Request{.id = id,
                                 .start_ns = start.ts_ns,
                                 .read_tid = start.tid,
                                 .overlapped = overlapped});
}

void Attributor::OnCall(uint32_t tgid, const Origin& origin, Call call) {
  Process& p = Proc(tgid);
  // Requests that could own it: in flight, started before it. Remember the only one, or the
  // only one read on the call's thread.
  size_t candidates = 0, on_thread = 0;
  Request* only = nullptr;
  Request* only_on_thread = nullptr;
  for (auto& [id, r] : p.requests) {
    if (r.start_ns > call.start_ns) continue;
    ++candidates;
    only = &r;
    if (origin.tid != 0 && r.read_tid == origin.tid) {
      ++on_thread;
      only_on_thread = &r;
    }
  }
  if (candidates == 0) {
    Bump(stats_.orphan);
    return;
  }
  std::shared_ptr<CtxNode> node;
  if (origin.py_ctx != 0 && p.births > 0) {
    node = Node(p, origin.py_ctx);
    // A Context never seen born (the loop's, or older than the observation) tells nothing.
    if (!node->born) node.reset();
  }
  if (node) {
    if (p.pending.size() >= options_.max_pending_calls) {
      Bump(stats_.ambiguous);
      p.pending.pop_front();
    }
    if (spdlog::should_log(spdlog::level::trace)) {
      spdlog::trace("attribution: pid {} call '{}' at {} ctx {:#x} tid {}", tgid, call.what(),
                    call.start_ns, origin.py_ctx, origin.tid);
    }
    p.pending.push_back(PendingCall{.call = std::move(call), .node = std::move(node)});
    return;
  }
  Request* owner = nullptr;
  std::atomic<uint64_t>* method = nullptr;
  if (candidates == 1) {
    owner = only;
    method = &stats_.by_single_in_flight;
  } else if (p.thread_per_request && on_thread == 1) {
    owner = only_on_thread;
    method = &stats_.by_thread;
  }
  if (!owner) {
    Bump(stats_.ambiguous);
    // Every request that could own it no longer knows all its calls.
    for (auto& [id, r] : p.requests) {
      if (r.start_ns <= call.start_ns) ++r.ambiguous;
    }
    return;
  }
  Bump(stats_.exact);
  Bump(*method);
  owner->calls.push_back(std::move(call));
}

RequestCalls Attributor::End(uint32_t tgid, uint64_t request_id, const Origin& first_write) {
  Process& p = Proc(tgid);
  auto it = p.requests.find(request_id);
  if (it == p.requests.end()) return {};
  Request req = std::move(it->second);
  p.requests.erase(it);
  RequestCalls result;
  result.ambiguous = req.ambiguous;
  std::vector<Call>& out = result.calls;
  out = std::move(req.calls);

  // The request's root (see the header): the writer's topmost ancestor born after the request
  // started.
  std::vector<const CtxNode*> roots;
  if (first_write.py_ctx != 0) {
    auto c = p.contexts.find(first_write.py_ctx);
    const CtxNode* top = nullptr;
    if (c != p.contexts.end()) {
      const CtxNode* n = c->second.get();
      for (int d = 0; n && n->born && n->birth_ns >= req.start_ns && d < kMaxDepth;
           ++d, n = n->parent.get()) {
        top = n;
      }
    }
    if (top) roots.push_back(top);
    if (spdlog::should_log(spdlog::level::trace)) {
      spdlog::trace("attribution: pid {} request {} start {} written by ctx {:#x} tid {}: {}",
                    tgid, request_id, req.start_ns, first_write.py_ctx, first_write.tid,
                    top ? "root found" : "no root from the writer");
    }
  }
  // Alone in flight for its whole life: every call made meanwhile is its own (the single in
  // flight rule, applied when its Contexts could not decide).
  const bool alone = !req.overlapped;
  if (!roots.empty() || alone) {
    for (auto pc = p.pending.begin(); pc != p.pending.end();) {
      // The path from the call's Context up to the root must be made of Contexts born before
      // the response began: one born later was created by the server after the answer (the
      // next request's task on a keep-alive connection, created in this request's Context).
      bool by_context = false;
      if (pc->call.start_ns >= req.start_ns) {
        const CtxNode* n = pc->node.get();
        for (int d = 0; n && d < kMaxDepth; ++d, n = n->parent.get()) {
          if (std::find(roots.begin(), roots.end(), n) != roots.end()) {
            by_context = true;
            break;
          }
          if (n->born && n->birth_ns > first_write.ts_ns) break;
        }
      }
      bool mine = by_context || (alone && pc->call.start_ns >= req.start_ns);
      if (!mine) {
        ++pc;
        continue;
      }
      if (spdlog::should_log(spdlog::level::trace)) {
        spdlog::trace("attribution: pid {} request {} claims '{}' at {}", tgid, request_id,
                      pc->call.what(), pc->call.start_ns);
      }
      Bump(stats_.exact);
      Bump(by_context ? stats_.by_context : stats_.by_single_in_flight);
      out.push_back(std::move(pc->call));
      pc = p.pending.erase(pc);
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Call& a, const Call& b) { return a.end_ns < b.end_ns; });
  }
  if (roots.empty() && !alone) {
    // No root to tell its calls from the others': the undecided ones made in its window may
    // be its own.
    for (const auto& pc : p.pending) {
      if (pc.call.start_ns >= req.start_ns && pc.call.start_ns <= first_write.ts_ns) {
        ++result.ambiguous;
      }
    }
  }
  Expire(p);
  return result;
}

void Attributor::OnRequestAbandoned(uint32_t tgid, uint64_t request_id) {
  Process& p = Proc(tgid);
  auto it = p.requests.find(request_id);
  if (it == p.requests.end()) return;
  // Its exactly attributed calls were counted; they just have no request to report them.
  p.requests.erase(it);
  Expire(p);
}

void Attributor::Expire(Process& p) {
  // A call can only be owned by a request that was in flight when it started; once every
  // such request has ended, nobody can claim it.
  uint64_t oldest = UINT64_MAX;
  for (const auto& [id, r] : p.requests) oldest = std::min(oldest, r.start_ns);
  // Pending calls are in completion order, not start order: scan them all. They were made
  // while requests were in flight (else they were orphans at once): unproven, so ambiguous.
  for (auto pc = p.pending.begin(); pc != p.pending.end();) {
    if (pc->call.start_ns < oldest) {
      Bump(stats_.ambiguous);
      pc = p.pending.erase(pc);
    } else {
      ++pc;
    }
  }
}

void Attributor::ForgetProcess(uint32_t tgid) {
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return;
  stats_.ambiguous.fetch_add(it->second->pending.size(), std::memory_order_relaxed);
  procs_.erase(it);
}

}  // namespace fraiseql::correlator
