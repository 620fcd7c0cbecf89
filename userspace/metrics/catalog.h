// The metric catalog: the one place a metric family is defined (name, type, help, labels,
// buckets, cardinality cap, the component that owns it). Recorders get their families from
// here; docs/metrics.md's reference table, and the dashboard and alert-rule generators, are
// rendered from it. A family is registered only when the component that owns it is on, so a
// component switched off exports nothing.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/registry.h"

namespace fraiseql::metrics {

enum class Fam : uint16_t {
  // HTTP (component http)
  kHttpRequests, kHttpRequestDuration, kHttpRequestsInFlight,
  // GraphQL (component graphql)
  kGraphqlQueries, kGraphqlQueryDuration, kGraphqlQueryDepth, kGraphqlQueryFields,
  kGraphqlOperationDbQueries, kGraphqlNPlusOne, kApqRequests,
  // PostgreSQL (component database)
  kDbQueries, kDbQueryDuration, kDbSlowQueries, kDbTransactionDuration, kDbErrors,
  kDbConnections, kDbConnectionsActive, kDbConnectionsIdle,
  // Redis and caches (component cache; the postgres cache type comes with database)
  kRedisCommands, kRedisCommandDuration, kCacheHits, kCacheMisses, kCacheOperationDuration,
  // Collector self-observability (component collector)
  kCollectorBuildInfo, kCollectorTargets, kCollectorEvents, kCollectorLostEvents,
  kCollectorUncapturedBytes, kCollectorCountedSyscalls, kCollectorPythonKernelEvents,
  kCollectorDecodeErrors, kCollectorParseErrors, kCollectorStreamGapBytes,
  kCollectorStreamDroppedBytes, kCollectorUnpairedMessages, kCollectorTrackedConnections,
  kCollectorBpfProgramRunSeconds, kCollectorBpfProgramRuns, kCollectorEncryptedConnections,
  kCollectorUnknownStatements, kCollectorLibpqLibraries, kCollectorLibpqQueries,
  kCollectorAttributions, kCollectorAttributionMethods, kCollectorPythonContexts,
  kCollectorGraphqlParseErrors, kCollectorSampledRequests, kCollectorLogLines,
  kCount,
};

enum class Buckets : uint8_t { kNone, kLatency, kDepth, kFields, kCount };

struct FamilyDef {
  Fam id;
  std::string_view name;
  MetricType type;
  std::string_view help;
  std::vector<std::string_view> labels;
  Buckets buckets = Buckets::kNone;
  size_t max_series = 0;       // 0: uncapped (self-metrics with fixed label values)
  std::string_view component;  // http graphql database cache collector
  std::string_view owner;      // the code that records it
};

// Every family, in the order of Fam.
std::span<const FamilyDef> Catalog();
const FamilyDef& Def(Fam id);
// Looks a family up by name (nullptr if the catalog has none).
const FamilyDef* FindFamily(std::string_view name);
const std::vector<double>& BucketBounds(Buckets b);

// Registers (or finds) the family in `registry`; aborts if the type does not match.
CounterFamily& CounterOf(Registry& registry, Fam id);
GaugeFamily& GaugeOf(Registry& registry, Fam id);
HistogramFamily& HistogramOf(Registry& registry, Fam id);

// The reference table of docs/metrics.md (markdown, one section per component).
std::string RenderCatalogMarkdown();

}  // namespace fraiseql::metrics
