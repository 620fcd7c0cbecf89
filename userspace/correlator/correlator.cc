#include "correlator/correlator.h"

#include <map>

namespace fraiseql::correlator {

Correlator::Correlator(CorrelatorOptions options, records::RecordSink& out)
    : options_(options),
      out_(out),
      endpoints_(options.max_endpoints_per_service),
      attributor_(options.attribution),
      graphql_(options.graphql) {}

void Correlator::OnContextBirth(uint32_t tgid, uint64_t ts_ns, uint64_t parent,
                                uint64_t child) {
  if (options_.request_contexts) attributor_.OnContextBirth(tgid, ts_ns, parent, child);
}

void Correlator::OnRequestStart(const records::RequestStart& r) {
  if (options_.request_contexts) attributor_.OnRequestStart(r.tgid, r.request_id, r.origin);
  out_.OnRequestStart(r);
}

void Correlator::OnRequestAbandoned(const records::RequestAbandoned& r) {
  if (options_.request_contexts) attributor_.OnRequestAbandoned(r.tgid, r.request_id);
  out_.OnRequestAbandoned(r);
}

void Correlator::OnDbCall(const records::DbCall& c) {
  out_.OnDbCall(c);
  if (!options_.request_contexts) return;
  records::Call call{.kind = records::Call::Kind::kDb,
                     .shape = c.shape,
                     .start_ns = c.start_ns,
                     .end_ns = c.end_ns,
                     .error = c.error,
                     .cache_hits = c.cache_hits,
                     .cache_misses = c.cache_misses,
                     .user_id = std::string(c.user_id),
                     .tenant_id = std::string(c.tenant_id)};
  attributor_.OnCall(c.tgid, c.origin, std::move(call));
}

void Correlator::OnRedisCall(const records::RedisCall& c) {
  out_.OnRedisCall(c);
  if (!options_.request_contexts) return;
  records::Call call{.kind = records::Call::Kind::kRedis,
                     .command = std::string(c.command),
                     .start_ns = c.start_ns,
                     .end_ns = c.end_ns,
                     .error = c.error,
                     .cache_hits = c.cache_hits,
                     .cache_misses = c.cache_misses};
  attributor_.OnCall(c.tgid, c.origin, std::move(call));
}

bool Correlator::Sample() {
  if (options_.sample_rate >= 1.0) return true;
  sample_credit_ += options_.sample_rate;
  if (sample_credit_ < 1.0) return false;
  sample_credit_ -= 1.0;
  return true;
}

void Correlator::OnExchange(const records::HttpExchange& x) {
  std::string endpoint = endpoints_.Normalize(x.workload->service_name, x.target);
  records::CompletedRequest r{.exchange = &x, .endpoint = endpoint};
  if (options_.request_contexts) {
    RequestCalls rc = attributor_.End(x.tgid, x.request_id, x.first_write);
    r.calls = std::move(rc.calls);
    r.ambiguous_calls = rc.ambiguous;
    r.attribution = rc.ambiguous == 0 ? records::Attribution::kComplete
                    : r.calls.empty() ? records::Attribution::kNone
                                      : records::Attribution::kPartial;
    r.sampled = Sample();
    (r.sampled ? stats_.sampled : stats_.skipped).fetch_add(1, std::memory_order_relaxed);
    if (r.sampled) {
      r.operations = graphql_.Decode(x);
      r.graphql = !r.operations.empty();
      FindRepeats(&r);
    }
  } else {
    r.sampled = false;
  }
  out_.OnCompletedRequest(r);
}

void Correlator::FindRepeats(records::CompletedRequest* r) const {
  // Per-operation DB work only when the request carried one executed operation (a batch's
  // statements cannot be split between its operations).
  if (r->operations.size() != 1 || !r->operations[0].counted) return;
  std::map<std::string_view, uint32_t> statements;
  for (const records::Call& c : r->calls) {
    if (c.kind == records::Call::Kind::kDb) ++statements[c.what()];
  }
  for (const auto& [stmt, n] : statements) {
    if (n >= options_.n_plus_one_threshold) r->repeated.emplace_back(std::string(stmt), n);
  }
}

}  // namespace fraiseql::correlator
