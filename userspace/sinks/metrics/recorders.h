// Metric recorders: sinks that turn records into the catalog's application families. Each
// owns the families of one component and registers them when it is built, so a component
// switched off (not built) exports none of them.
#pragma once

#include <cstdint>
#include <set>

#include "metrics/catalog.h"
#include "records/sink.h"

namespace fraiseql::sinks {

class HttpRecorder final : public records::RecordSink {
 public:
  explicit HttpRecorder(metrics::Registry& registry);
  void OnRequestStart(const records::RequestStart& r) override;
  void OnRequestAbandoned(const records::RequestAbandoned& r) override;
  void OnCompletedRequest(const records::CompletedRequest& r) override;

 private:
  metrics::CounterFamily& requests_;
  metrics::HistogramFamily& duration_;
  metrics::GaugeFamily& in_flight_;
};

class DbRecorder final : public records::RecordSink {
 public:
  DbRecorder(metrics::Registry& registry, uint64_t slow_query_ns);
  void OnDbCall(const records::DbCall& c) override;
  void OnDbTransaction(const records::DbTransaction& t) override;
  void OnDbPool(const records::DbPool& p) override;

 private:
  const uint64_t slow_query_ns_;
  metrics::CounterFamily& queries_;
  metrics::HistogramFamily& duration_;
  metrics::CounterFamily& slow_;
  metrics::HistogramFamily& tx_duration_;
  metrics::CounterFamily& errors_;
  metrics::GaugeFamily& conns_;
  metrics::GaugeFamily& conns_active_;
  metrics::GaugeFamily& conns_idle_;
  metrics::Counter& unknown_statements_;
};

class RedisRecorder final : public records::RecordSink {
 public:
  explicit RedisRecorder(metrics::Registry& registry);
  void OnRedisCall(const records::RedisCall& c) override;

 private:
  metrics::CounterFamily& commands_;
  metrics::HistogramFamily& duration_;
};

// fraiseql_cache_*: Redis reads (cache_type redis) and FraiseQL's PostgreSQL cache table
// (cache_type postgres), each only when its protocol is observed.
class CacheRecorder final : public records::RecordSink {
 public:
  CacheRecorder(metrics::Registry& registry, bool redis, bool postgres);
  void OnDbCall(const records::DbCall& c) override;
  void OnRedisCall(const records::RedisCall& c) override;

 private:
  void Record(const records::Workload* w, const char* cache_type, records::CacheOp op,
              uint32_t hits, uint32_t misses, double seconds);
  const bool redis_, postgres_;
  metrics::CounterFamily& hits_;
  metrics::CounterFamily& misses_;
  metrics::HistogramFamily& duration_;
};

class GraphqlRecorder final : public records::RecordSink {
 public:
  explicit GraphqlRecorder(metrics::Registry& registry);
  void OnCompletedRequest(const records::CompletedRequest& r) override;

 private:
  metrics::CounterFamily& queries_;
  metrics::HistogramFamily& duration_;
  metrics::HistogramFamily& depth_;
  metrics::HistogramFamily& fields_;
  metrics::HistogramFamily& db_queries_;
  metrics::CounterFamily& n_plus_one_;
  metrics::CounterFamily& apq_requests_;
};

}  // namespace fraiseql::sinks
