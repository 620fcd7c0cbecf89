#include "sinks/metrics/recorders.h"

#include <string>

namespace fraiseql::sinks {

using metrics::Fam;

namespace {
const std::string& Service(const records::Workload* w) { return w->service_name; }
}  // namespace

// ---- HTTP ---------------------------------------------------------------------------------

HttpRecorder::HttpRecorder(metrics::Registry& r)
    : requests_(metrics::CounterOf(r, Fam::kHttpRequests)),
      duration_(metrics::HistogramOf(r, Fam::kHttpRequestDuration)),
      in_flight_(metrics::GaugeOf(r, Fam::kHttpRequestsInFlight)) {}

void HttpRecorder::OnRequestStart(const records::RequestStart& r) {
  in_flight_.WithLabels({Service(r.workload)}).Inc();
}

void HttpRecorder::OnRequestAbandoned(const records::RequestAbandoned& r) {
  in_flight_.WithLabels({Service(r.workload)}).Dec();
}

void HttpRecorder::OnCompletedRequest(const records::CompletedRequest& r) {
  const records::HttpExchange& x = *r.exchange;
  const std::string& service = Service(x.workload);
  in_flight_.WithLabels({service}).Dec();
  std::string status = std::to_string(x.status);
  requests_.WithLabels({service, x.method, r.endpoint, status}).Inc();
  duration_.WithLabels({service, x.method, r.endpoint}).Observe(r.seconds());
}

// ---- PostgreSQL ---------------------------------------------------------------------------

DbRecorder::DbRecorder(metrics::Registry& r, uint64_t slow_query_ns)
    : slow_query_ns_(slow_query_ns),
      queries_(metrics::CounterOf(r, Fam::kDbQueries)),
      duration_(metrics::HistogramOf(r, Fam::kDbQueryDuration)),
      slow_(metrics::CounterOf(r, Fam::kDbSlowQueries)),
      tx_duration_(metrics::HistogramOf(r, Fam::kDbTransactionDuration)),
      errors_(metrics::CounterOf(r, Fam::kDbErrors)),
      conns_(metrics::GaugeOf(r, Fam::kDbConnections)),
      conns_active_(metrics::GaugeOf(r, Fam::kDbConnectionsActive)),
      conns_idle_(metrics::GaugeOf(r, Fam::kDbConnectionsIdle)),
      unknown_statements_(metrics::CounterOf(r, Fam::kCollectorUnknownStatements).WithLabels({})) {}

void DbRecorder::OnDbCall(const records::DbCall& c) {
  const std::string& service = Service(c.workload);
  if (!c.shape) unknown_statements_.Inc();
  queries_.WithLabels({service, c.query_type, c.table, c.error ? "error" : "success"}).Inc();
  duration_.WithLabels({service, c.query_type}).Observe(c.seconds());
  if (c.error) {
    errors_.WithLabels({service, c.sqlstate.empty() ? std::string_view("unknown") : c.sqlstate})
        .Inc();
  }
  if (c.end_ns > c.start_ns && c.end_ns - c.start_ns >= slow_query_ns_) {
    slow_.WithLabels({service, c.query_type}).Inc();
  }
}

void DbRecorder::OnDbTransaction(const records::DbTransaction& t) {
  tx_duration_.WithLabels({Service(t.workload)}).Observe(records::Seconds(t.begin_ns, t.end_ns));
}

void DbRecorder::OnDbPool(const records::DbPool& p) {
  for (const auto& e : p.entries) {
    const std::string& service = Service(e.workload);
    conns_.WithLabels({service}).Set(double(e.open));
    conns_active_.WithLabels({service}).Set(double(e.active));
    conns_idle_.WithLabels({service}).Set(double(e.open - e.active));
  }
}

// ---- Redis --------------------------------------------------------------------------------

RedisRecorder::RedisRecorder(metrics::Registry& r)
    : commands_(metrics::CounterOf(r, Fam::kRedisCommands)),
      duration_(metrics::HistogramOf(r, Fam::kRedisCommandDuration)) {}

void RedisRecorder::OnRedisCall(const records::RedisCall& c) {
  const std::string& service = Service(c.workload);
  commands_.WithLabels({service, c.command, c.outcome}).Inc();
  duration_.WithLabels({service, c.command}).Observe(c.seconds());
}

// ---- Caches -------------------------------------------------------------------------------

CacheRecorder::CacheRecorder(metrics::Registry& r, bool redis, bool postgres)
    : redis_(redis),
      postgres_(postgres),
      hits_(metrics::CounterOf(r, Fam::kCacheHits)),
      misses_(metrics::CounterOf(r, Fam::kCacheMisses)),
      duration_(metrics::HistogramOf(r, Fam::kCacheOperationDuration)) {}

void CacheRecorder::Record(const records::Workload* w, const char* cache_type,
                           records::CacheOp op, uint32_t hits, uint32_t misses,
                           double seconds) {
  if (op == records::CacheOp::kNone) return;
  const std::string& service = Service(w);
  if (hits) hits_.WithLabels({service, cache_type}).Inc(hits);
  if (misses) misses_.WithLabels({service, cache_type}).Inc(misses);
  duration_.WithLabels({service, cache_type, records::CacheOpName(op)}).Observe(seconds);
}

void CacheRecorder::OnDbCall(const records::DbCall& c) {
  if (postgres_) Record(c.workload, "postgres", c.cache_op, c.cache_hits, c.cache_misses, c.seconds());
}

void CacheRecorder::OnRedisCall(const records::RedisCall& c) {
  if (redis_) Record(c.workload, "redis", c.cache_op, c.cache_hits, c.cache_misses, c.seconds());
}

// ---- GraphQL ------------------------------------------------------------------------------

GraphqlRecorder::GraphqlRecorder(metrics::Registry& r)
    : queries_(metrics::CounterOf(r, Fam::kGraphqlQueries)),
      duration_(metrics::HistogramOf(r, Fam::kGraphqlQueryDuration)),
      depth_(metrics::HistogramOf(r, Fam::kGraphqlQueryDepth)),
      fields_(metrics::HistogramOf(r, Fam::kGraphqlQueryFields)),
      db_queries_(metrics::HistogramOf(r, Fam::kGraphqlOperationDbQueries)),
      n_plus_one_(metrics::CounterOf(r, Fam::kGraphqlNPlusOne)),
      apq_requests_(metrics::CounterOf(r, Fam::kApqRequests)) {}

void GraphqlRecorder::OnCompletedRequest(const records::CompletedRequest& r) {
  if (r.operations.empty()) return;
  const std::string& service = Service(r.exchange->workload);
  const double seconds = r.seconds();
  for (const records::Operation& op : r.operations) {
    std::string_view apq = op.apq;
    if (apq != "none" && apq != "mismatch") apq_requests_.WithLabels({service, apq}).Inc();
    if (!op.counted) continue;
    queries_.WithLabels({service, op.type, op.name, op.mode, op.outcome}).Inc();
    duration_.WithLabels({service, op.type, op.name, op.mode}).Observe(seconds);
    if (op.fields > 0) {
      depth_.WithLabels({service, op.type}).Observe(op.depth);
      fields_.WithLabels({service, op.type}).Observe(op.fields);
    }
  }
  // Per-operation DB work: only when the request carried one executed operation (a batch's
  // statements cannot be split between its operations).
  if (r.operations.size() != 1 || !r.operations[0].counted) return;
  const std::string& name = r.operations[0].name;
  size_t db = 0;
  for (const records::Call& c : r.calls) db += c.kind == records::Call::Kind::kDb;
  db_queries_.WithLabels({service, name}).Observe(double(db));
  for (size_t i = 0; i < r.repeated.size(); ++i) n_plus_one_.WithLabels({service, name}).Inc();
}

}  // namespace fraiseql::sinks
