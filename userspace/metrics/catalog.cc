#include "metrics/catalog.h"

#include <cstdio>
#include <cstdlib>

namespace fraiseql::metrics {

namespace {

using T = MetricType;
constexpr auto kC = T::kCounter;
constexpr auto kG = T::kGauge;
constexpr auto kH = T::kHistogram;

// clang-format off
const std::vector<FamilyDef>& Table() {
  static const std::vector<FamilyDef> kTable = {
    // ---- HTTP --------------------------------------------------------------------------
    {Fam::kHttpRequests, "fraiseql_http_requests_total", kC,
     "HTTP requests answered by observed servers",
     {"service_name", "method", "endpoint", "status"}, Buckets::kNone, 10000, "http",
     "sinks/metrics/recorders"},
    {Fam::kHttpRequestDuration, "fraiseql_http_request_duration_seconds", kH,
     "Time from the first request byte read to the last response byte written",
     {"service_name", "method", "endpoint"}, Buckets::kLatency, 5000, "http",
     "sinks/metrics/recorders"},
    {Fam::kHttpRequestsInFlight, "fraiseql_http_requests_in_flight", kG,
     "HTTP requests read and not yet answered", {"service_name"}, Buckets::kNone, 1000, "http",
     "sinks/metrics/recorders"},
    // ---- GraphQL -----------------------------------------------------------------------
    {Fam::kGraphqlQueries, "fraiseql_graphql_queries_total", kC,
     "GraphQL operations answered, by type, name, execution mode and outcome (success, "
     "partial: errors with data, error)",
     {"service_name", "operation_type", "operation_name", "mode", "outcome"}, Buckets::kNone,
     20000, "graphql", "sinks/metrics/recorders"},
    {Fam::kGraphqlQueryDuration, "fraiseql_graphql_query_duration_seconds", kH,
     "GraphQL operations: their HTTP request's duration",
     {"service_name", "operation_type", "operation_name", "mode"}, Buckets::kLatency, 10000,
     "graphql", "sinks/metrics/recorders"},
    {Fam::kGraphqlQueryDepth, "fraiseql_graphql_query_depth", kH,
     "Field nesting depth of GraphQL operations (fragments expanded)",
     {"service_name", "operation_type"}, Buckets::kDepth, 1000, "graphql",
     "sinks/metrics/recorders"},
    {Fam::kGraphqlQueryFields, "fraiseql_graphql_query_fields", kH,
     "Fields selected by GraphQL operations (fragments expanded)",
     {"service_name", "operation_type"}, Buckets::kFields, 1000, "graphql",
     "sinks/metrics/recorders"},
    {Fam::kGraphqlOperationDbQueries, "fraiseql_graphql_operation_db_queries", kH,
     "PostgreSQL statements attributed exactly to one GraphQL operation's request "
     "(single-operation requests)",
     {"service_name", "operation_name"}, Buckets::kCount, 5000, "graphql",
     "sinks/metrics/recorders"},
    {Fam::kGraphqlNPlusOne, "fraiseql_graphql_n_plus_one_total", kC,
     "Requests of an operation that ran one normalized statement at least the N+1 threshold "
     "times (--n-plus-one)",
     {"service_name", "operation_name"}, Buckets::kNone, 5000, "graphql",
     "sinks/metrics/recorders"},
    {Fam::kApqRequests, "fraiseql_apq_requests_total", kC,
     "Automatic persisted queries: hit (hash known), miss (PersistedQueryNotFound), register "
     "(hash and query sent)",
     {"service_name", "outcome"}, Buckets::kNone, 1000, "graphql",
     "sinks/metrics/recorders"},
    // ---- PostgreSQL --------------------------------------------------------------------
    {Fam::kDbQueries, "fraiseql_db_queries_total", kC,
     "PostgreSQL statements executed by observed services",
     {"service_name", "query_type", "table_name", "outcome"}, Buckets::kNone, 20000,
     "database", "sinks/metrics/recorders"},
    {Fam::kDbQueryDuration, "fraiseql_db_query_duration_seconds", kH,
     "From the message that started a statement to its completion",
     {"service_name", "query_type"}, Buckets::kLatency, 2000, "database",
     "sinks/metrics/recorders"},
    {Fam::kDbSlowQueries, "fraiseql_db_slow_queries_total", kC,
     "Statements slower than the slow-query threshold", {"service_name", "query_type"},
     Buckets::kNone, 2000, "database", "sinks/metrics/recorders"},
    {Fam::kDbTransactionDuration, "fraiseql_db_transaction_duration_seconds", kH,
     "From the first statement of a transaction to its end", {"service_name"},
     Buckets::kLatency, 1000, "database", "sinks/metrics/recorders"},
    {Fam::kDbErrors, "fraiseql_db_errors_total", kC, "PostgreSQL errors by SQLSTATE",
     {"service_name", "sqlstate"}, Buckets::kNone, 5000, "database",
     "sinks/metrics/recorders"},
    {Fam::kDbConnections, "fraiseql_db_connections", kG,
     "Open PostgreSQL connections of the service (the contract's fraiseql_db_connections_total: "
     "`_total` is reserved for counters)",
     {"service_name"}, Buckets::kNone, 1000, "database", "sinks/metrics/recorders (DbPool records)"},
    {Fam::kDbConnectionsActive, "fraiseql_db_connections_active", kG,
     "PostgreSQL connections in a transaction or with a query in flight", {"service_name"},
     Buckets::kNone, 1000, "database", "sinks/metrics/recorders (DbPool records)"},
    {Fam::kDbConnectionsIdle, "fraiseql_db_connections_idle", kG,
     "PostgreSQL connections open and idle", {"service_name"}, Buckets::kNone, 1000,
     "database", "sinks/metrics/recorders (DbPool records)"},
    // ---- Redis and caches --------------------------------------------------------------
    {Fam::kRedisCommands, "fraiseql_redis_commands_total", kC,
     "Redis commands sent by observed services, by outcome",
     {"service_name", "command", "outcome"}, Buckets::kNone, 2000, "cache",
     "sinks/metrics/recorders"},
    {Fam::kRedisCommandDuration, "fraiseql_redis_command_duration_seconds", kH,
     "From the first byte of a command to the last byte of its reply",
     {"service_name", "command"}, Buckets::kLatency, 1000, "cache",
     "sinks/metrics/recorders"},
    {Fam::kCacheHits, "fraiseql_cache_hits_total", kC, "Cache reads that found a value",
     {"service_name", "cache_type"}, Buckets::kNone, 1000, "cache",
     "sinks/metrics/recorders"},
    {Fam::kCacheMisses, "fraiseql_cache_misses_total", kC, "Cache reads that found nothing",
     {"service_name", "cache_type"}, Buckets::kNone, 1000, "cache",
     "sinks/metrics/recorders"},
    {Fam::kCacheOperationDuration, "fraiseql_cache_operation_duration_seconds", kH,
     "Cache operations (get, set, delete) by cache type",
     {"service_name", "cache_type", "operation"}, Buckets::kLatency, 1000, "cache",
     "sinks/metrics/recorders"},
    // ---- Collector ---------------------------------------------------------------------
    {Fam::kCollectorBuildInfo, "fraiseql_collector_build_info", kG,
     "Build information (always 1)", {"version", "revision", "abi"}, Buckets::kNone, 0,
     "collector", "app"},
    {Fam::kCollectorTargets, "fraiseql_collector_targets", kG, "Processes currently observed",
     {}, Buckets::kNone, 0, "collector", "control/target_manager"},
    {Fam::kCollectorEvents, "fraiseql_collector_events_total", kC,
     "Events received from the kernel, by kind", {"kind"}, Buckets::kNone, 0, "collector",
     "pipeline/self_metrics"},
    {Fam::kCollectorLostEvents, "fraiseql_collector_lost_events_total", kC,
     "Events lost before userspace could decode them, by reason", {"reason"}, Buckets::kNone,
     0, "collector", "control/kernel_metrics"},
    {Fam::kCollectorUncapturedBytes, "fraiseql_collector_uncaptured_bytes_total", kC,
     "Socket bytes that moved but were not copied to userspace, by reason", {"reason"},
     Buckets::kNone, 0, "collector", "control/kernel_metrics"},
    {Fam::kCollectorCountedSyscalls, "fraiseql_collector_counted_syscalls_total", kC,
     "Calls on tracked sockets that are counted but whose bytes are not captured", {"syscall"},
     Buckets::kNone, 0, "collector", "control/kernel_metrics"},
    {Fam::kCollectorPythonKernelEvents, "fraiseql_collector_python_kernel_events_total", kC,
     "Python context tracking in the kernel: births hooked, thread states not found, reads "
     "that faulted (the syscall then carries no context)",
     {"kind"}, Buckets::kNone, 0, "collector", "control/kernel_metrics"},
    {Fam::kCollectorDecodeErrors, "fraiseql_collector_decode_errors_total", kC,
     "Ring-buffer records that did not match the ABI and were dropped", {"reason"},
     Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorParseErrors, "fraiseql_collector_parse_errors_total", kC,
     "Bytes that did not parse as the connection's protocol (one per resync), by protocol",
     {"protocol"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorStreamGapBytes, "fraiseql_collector_stream_gap_bytes_total", kC,
     "Stream bytes never captured (lost events, capture cap), skipped by the parser, by "
     "protocol",
     {"protocol"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorStreamDroppedBytes, "fraiseql_collector_stream_dropped_bytes_total", kC,
     "Captured bytes dropped by the per-connection memory cap, by protocol", {"protocol"},
     Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorUnpairedMessages, "fraiseql_collector_unpaired_messages_total", kC,
     "Requests whose connection closed unanswered (kind=request) and responses with no "
     "request seen (kind=response), by protocol",
     {"protocol", "kind"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorTrackedConnections, "fraiseql_collector_tracked_connections", kG,
     "TCP connections of observed processes being tracked", {"protocol"}, Buckets::kNone, 0,
     "collector", "pipeline/self_metrics"},
    {Fam::kCollectorBpfProgramRunSeconds, "fraiseql_collector_bpf_program_run_seconds_total",
     kC, "Time spent in each BPF program (kernel bpf_stats)", {"program"}, Buckets::kNone, 0,
     "collector", "control/kernel_metrics"},
    {Fam::kCollectorBpfProgramRuns, "fraiseql_collector_bpf_program_runs_total", kC,
     "Runs of each BPF program (kernel bpf_stats)", {"program"}, Buckets::kNone, 0,
     "collector", "control/kernel_metrics"},
    {Fam::kCollectorEncryptedConnections, "fraiseql_collector_encrypted_connections_total", kC,
     "Connections that switched to TLS: their bytes are not parsed", {"protocol"},
     Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorUnknownStatements, "fraiseql_collector_unknown_statements_total", kC,
     "Executions of statements prepared before the collector attached (text unknown)", {},
     Buckets::kNone, 0, "collector", "sinks/metrics/recorders"},
    {Fam::kCollectorLibpqLibraries, "fraiseql_collector_libpq_libraries", kG,
     "libpq library files with uprobes attached (see --libpq-uprobes)", {}, Buckets::kNone, 0,
     "collector", "control/kernel_metrics"},
    {Fam::kCollectorLibpqQueries, "fraiseql_collector_libpq_queries_total", kC,
     "Queries seen by the libpq uprobes: counted (TLS connection) or left to the wire parser "
     "(wire_visible), so none is counted twice",
     {"result"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorAttributions, "fraiseql_collector_attributions_total", kC,
     "Outbound calls (PostgreSQL statements, Redis commands) by attribution to an inbound "
     "request: exact, ambiguous (several requests could own it: not guessed), orphan (no "
     "request could)",
     {"result"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorAttributionMethods, "fraiseql_collector_attribution_methods_total", kC,
     "Exact attributions by method: python_context, single_in_flight, thread_per_request",
     {"method"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorPythonContexts, "fraiseql_collector_python_contexts_total", kC,
     "Python contextvars Contexts born in observed processes (PyContext_CopyCurrent), by "
     "whether the address was known",
     {"address"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorGraphqlParseErrors, "fraiseql_collector_graphql_parse_errors_total", kC,
     "GraphQL requests whose body or document could not be decoded, by reason (the request is "
     "still counted, outcome error)",
     {"reason"}, Buckets::kNone, 100, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorSampledRequests, "fraiseql_collector_sampled_requests_total", kC,
     "Answered requests by whether the per-request work (GraphQL decoding, request log) was "
     "done for them (sample_rate): sampled, skipped",
     {"decision"}, Buckets::kNone, 0, "collector", "pipeline/self_metrics"},
    {Fam::kCollectorLogLines, "fraiseql_collector_log_lines_total", kC,
     "JSON lines of the collector's logs (slow queries, N+1, requests) by log and result: "
     "written, dropped (queue full), failed (write error)",
     {"log", "result"}, Buckets::kNone, 0, "collector", "sinks/logs/json_lines"},
  };
  return kTable;
}
// clang-format on

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "fraiseql metrics catalog: %s\n", message.c_str());
  std::abort();
}

std::vector<std::string> Strings(const std::vector<std::string_view>& v) {
  return std::vector<std::string>(v.begin(), v.end());
}

const FamilyDef& Checked(Fam id, MetricType type) {
  const FamilyDef& d = Def(id);
  if (d.type != type) Fatal("family " + std::string(d.name) + " used with the wrong type");
  return d;
}

}  // namespace

std::span<const FamilyDef> Catalog() {
  const auto& t = Table();
  static const bool kOrdered = [&] {
    if (t.size() != size_t(Fam::kCount)) Fatal("table size does not match Fam");
    for (size_t i = 0; i < t.size(); ++i) {
      if (size_t(t[i].id) != i) Fatal("table out of order at " + std::string(t[i].name));
    }
    return true;
  }();
  (void)kOrdered;
  return t;
}

const FamilyDef& Def(Fam id) { return Catalog()[size_t(id)]; }

const FamilyDef* FindFamily(std::string_view name) {
  for (const FamilyDef& d : Catalog()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

const std::vector<double>& BucketBounds(Buckets b) {
  static const std::vector<double> kNone;
  static const std::vector<double> kDepth = {1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50};
  static const std::vector<double> kFields = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};
  static const std::vector<double> kCount = {0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 100, 200};
  switch (b) {
    case Buckets::kLatency: return LatencyBuckets();
    case Buckets::kDepth: return kDepth;
    case Buckets::kFields: return kFields;
    case Buckets::kCount: return kCount;
    case Buckets::kNone: break;
  }
  return kNone;
}

CounterFamily& CounterOf(Registry& r, Fam id) {
  const FamilyDef& d = Checked(id, MetricType::kCounter);
  return r.AddCounter(std::string(d.name), std::string(d.help), Strings(d.labels),
                      d.max_series);
}

GaugeFamily& GaugeOf(Registry& r, Fam id) {
  const FamilyDef& d = Checked(id, MetricType::kGauge);
  return r.AddGauge(std::string(d.name), std::string(d.help), Strings(d.labels), d.max_series);
}

HistogramFamily& HistogramOf(Registry& r, Fam id) {
  const FamilyDef& d = Checked(id, MetricType::kHistogram);
  return r.AddHistogram(std::string(d.name), std::string(d.help), Strings(d.labels),
                        BucketBounds(d.buckets), d.max_series);
}

std::string RenderCatalogMarkdown() {
  static const std::pair<std::string_view, std::string_view> kSections[] = {
      {"http", "HTTP"}, {"graphql", "GraphQL"}, {"database", "PostgreSQL"},
      {"cache", "Redis and caches"}, {"collector", "Collector self-observability"}};
  std::string out;
  for (const auto& [component, title] : kSections) {
    out += "### " + std::string(title) + " (component `" + std::string(component) + "`)\n\n";
    out += "| Metric | Type | Labels | Cap | Owner | Help |\n|---|---|---|---|---|---|\n";
    for (const FamilyDef& d : Catalog()) {
      if (d.component != component) continue;
      std::string labels;
      for (auto l : d.labels) labels += (labels.empty() ? "" : ", ") + std::string(l);
      const char* type = d.type == kC ? "counter" : d.type == kG ? "gauge" : "histogram";
      std::string buckets;
      for (double b : BucketBounds(d.buckets)) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%g", b);
        buckets += (buckets.empty() ? " (" : " ") + std::string(buf);
      }
      if (!buckets.empty()) buckets += ")";
      out += "| `" + std::string(d.name) + "` | " + type + buckets + " | " +
             (labels.empty() ? "—" : labels) + " | " +
             (d.max_series ? std::to_string(d.max_series) : "—") + " | " +
             std::string(d.owner) + " | " + std::string(d.help) + " |\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace fraiseql::metrics
