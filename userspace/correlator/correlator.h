// The correlator: records from the handlers in, records to the sinks out. It pairs each
// inbound request with the outbound calls it caused (Attributor), decodes its GraphQL
// operations, normalizes its endpoint, finds repeated statements (N+1), and emits one
// CompletedRequest per answered request; every other record passes through to the sinks
// unchanged, after the attributor has seen it. Nothing else: metrics, logs, the statement
// table, traces and audit are sinks.
#pragma once

#include <atomic>
#include <cstdint>

#include "correlator/attribution.h"
#include "correlator/graphql_ops.h"
#include "metrics/endpoint_normalizer.h"
#include "records/sink.h"

namespace fraiseql::correlator {

struct CorrelatorOptions {
  size_t max_endpoints_per_service = 100;
  // Request contexts (attribution, GraphQL, N+1): off keeps HTTP exchanges only.
  bool request_contexts = true;
  // Fraction of answered requests that get the per-request work (GraphQL decoding and what
  // needs it): deterministic, every 1/rate-th request. Counters of HTTP, DB, Redis and caches
  // stay exact whatever the rate; GraphQL families describe the sampled requests.
  double sample_rate = 1.0;
  uint32_t n_plus_one_threshold = 10;  // same statement this often in one request
  GraphqlOptions graphql;
  AttributionOptions attribution;
};

struct CorrelatorStats {
  std::atomic<uint64_t> sampled{0}, skipped{0};
};

class Correlator final : public records::RecordSink {
 public:
  Correlator(CorrelatorOptions options, records::RecordSink& out);

  void OnRequestStart(const records::RequestStart& r) override;
  void OnRequestAbandoned(const records::RequestAbandoned& r) override;
  void OnUnpairedResponse(const records::UnpairedResponse& r) override { out_.OnUnpairedResponse(r); }
  void OnExchange(const records::HttpExchange& x) override;
  void OnDbCall(const records::DbCall& c) override;
  void OnDbTransaction(const records::DbTransaction& t) override { out_.OnDbTransaction(t); }
  void OnDbPool(const records::DbPool& p) override { out_.OnDbPool(p); }
  void OnRedisCall(const records::RedisCall& c) override;
  void OnTick(uint64_t now_ns) override { out_.OnTick(now_ns); }
  void OnFinish() override { out_.OnFinish(); }

  // A Python Context was born (decoder → here directly: it is no connection's).
  void OnContextBirth(uint32_t tgid, uint64_t ts_ns, uint64_t parent, uint64_t child);
  void ForgetProcess(uint32_t tgid) { attributor_.ForgetProcess(tgid); }

  const AttributionStats& attribution_stats() const { return attributor_.stats(); }
  const LabeledCounts& graphql_parse_errors() const { return graphql_.parse_errors(); }
  const CorrelatorStats& stats() const { return stats_; }

 private:
  bool Sample();
  void FindRepeats(records::CompletedRequest* r) const;

  CorrelatorOptions options_;
  records::RecordSink& out_;
  metrics::EndpointNormalizer endpoints_;
  Attributor attributor_;
  GraphqlOps graphql_;
  double sample_credit_ = 0;
  CorrelatorStats stats_;
};

}  // namespace fraiseql::correlator
