// The pipeline's self-metrics (fraiseql_collector_*): the stages keep plain atomic counters
// on the hot path; at each scrape this hook copies them into their catalog families.
#include "metrics/catalog.h"
#include "pipeline/pipeline.h"

namespace fraiseql::pipeline {

namespace {

using metrics::Fam;

void Set(metrics::CounterFamily& f, std::string_view label, const std::atomic<uint64_t>& v) {
  f.WithLabels({label}).SetTotal(double(v.load(std::memory_order_relaxed)));
}

void Protocol(metrics::Registry& r, std::string_view name, const conn::ProtocolStats& s) {
  Set(metrics::CounterOf(r, Fam::kCollectorParseErrors), name, s.parse_errors);
  Set(metrics::CounterOf(r, Fam::kCollectorStreamGapBytes), name, s.gap_bytes);
  Set(metrics::CounterOf(r, Fam::kCollectorStreamDroppedBytes), name, s.dropped_bytes);
}

}  // namespace

void Pipeline::CollectSelfMetrics(metrics::Registry& r) {
  auto& events = metrics::CounterOf(r, Fam::kCollectorEvents);
  const std::pair<const char*, const std::atomic<uint64_t>*> kEvents[] = {
      {"data", &stats_.data},          {"conn_open", &stats_.conn_open},
      {"conn_close", &stats_.conn_close}, {"python_context", &stats_.python_context},
      {"libpq", &stats_.libpq},        {"proc_fork", &stats_.proc_fork},
      {"proc_exec", &stats_.proc_exec}, {"proc_exit", &stats_.proc_exit}};
  for (const auto& [label, v] : kEvents) Set(events, label, *v);
  auto& decode = metrics::CounterOf(r, Fam::kCollectorDecodeErrors);
  Set(decode, "too_short", stats_.too_short);
  Set(decode, "unknown_kind", stats_.unknown_kind);
  Set(decode, "bad_length", stats_.bad_length);

  auto& tracked = metrics::GaugeOf(r, Fam::kCollectorTrackedConnections);
  for (const auto& [name, n] : tracker_.TrackedByProtocol()) {
    tracked.WithLabels({name}).Set(double(n));
  }
  auto& unpaired = metrics::CounterOf(r, Fam::kCollectorUnpairedMessages);
  unpaired.WithLabels({"http1", "request"})
      .SetTotal(double(http_->stats().unanswered_requests.load()));
  unpaired.WithLabels({"http1", "response"})
      .SetTotal(double(http_->stats().unmatched_responses.load()));
  Protocol(r, "http1", http_->stats());
  if (pg_) {
    Protocol(r, "pgsql", pg_->stats());
    Set(metrics::CounterOf(r, Fam::kCollectorEncryptedConnections), "pgsql",
        pg_->stats().encrypted_connections);
  }
  if (redis_) Protocol(r, "redis", redis_->stats());
  if (libpq_) {
    auto& libpq = metrics::CounterOf(r, Fam::kCollectorLibpqQueries);
    Set(libpq, "counted", libpq_->stats().counted);
    Set(libpq, "wire_visible", libpq_->stats().wire_visible);
  }
  if (options_.request_contexts) {
    const correlator::AttributionStats& a = correlator_.attribution_stats();
    auto& results = metrics::CounterOf(r, Fam::kCollectorAttributions);
    Set(results, "exact", a.exact);
    Set(results, "ambiguous", a.ambiguous);
    Set(results, "orphan", a.orphan);
    auto& methods = metrics::CounterOf(r, Fam::kCollectorAttributionMethods);
    Set(methods, "python_context", a.by_context);
    Set(methods, "single_in_flight", a.by_single_in_flight);
    Set(methods, "thread_per_request", a.by_thread);
    auto& births = metrics::CounterOf(r, Fam::kCollectorPythonContexts);
    Set(births, "new", a.births_new);
    Set(births, "reused", a.births_reused);
    auto& gql = metrics::CounterOf(r, Fam::kCollectorGraphqlParseErrors);
    for (const auto& [reason, n] : correlator_.graphql_parse_errors().Snapshot()) {
      gql.WithLabels({reason}).SetTotal(double(n));
    }
    auto& sampled = metrics::CounterOf(r, Fam::kCollectorSampledRequests);
    Set(sampled, "sampled", correlator_.stats().sampled);
    Set(sampled, "skipped", correlator_.stats().skipped);
  }
  auto& lines = metrics::CounterOf(r, Fam::kCollectorLogLines);
  for (const auto* log : {slow_log_.get(), request_log_.get()}) {
    if (!log) continue;
    lines.WithLabels({log->name(), "written"}).SetTotal(double(log->written()));
    lines.WithLabels({log->name(), "failed"}).SetTotal(double(log->failed()));
  }
}

}  // namespace fraiseql::pipeline
