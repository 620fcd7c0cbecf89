// fraiseql_cache_* families, shared by the Redis cache (redis_client_conn) and FraiseQL's
// PostgreSQL cache table (pg_client_conn).
#pragma once

#include <cstdint>
#include <string>

#include "metrics/registry.h"

namespace fraiseql::correlator {

class CacheMetrics {
 public:
  explicit CacheMetrics(metrics::Registry& r)
      : hits_(r.AddCounter("fraiseql_cache_hits_total", "Cache reads that found a value",
                           {"service_name", "cache_type"}, 1000)),
        misses_(r.AddCounter("fraiseql_cache_misses_total", "Cache reads that found nothing",
                             {"service_name", "cache_type"}, 1000)),
        duration_(r.AddHistogram("fraiseql_cache_operation_duration_seconds",
                                 "Cache operations (get, set, delete) by cache type",
                                 {"service_name", "cache_type", "operation"},
                                 metrics::LatencyBuckets(), 1000)) {}

  // One cache operation: `op` is get, set or delete; hits/misses count reads only.
  void Record(const std::string& service, const char* cache_type, const char* op,
              uint32_t hits, uint32_t misses, double seconds) {
    if (hits) hits_.WithLabels({service, cache_type}).Inc(hits);
    if (misses) misses_.WithLabels({service, cache_type}).Inc(misses);
    duration_.WithLabels({service, cache_type, op}).Observe(seconds);
  }

 private:
  metrics::CounterFamily& hits_;
  metrics::CounterFamily& misses_;
  metrics::HistogramFamily& duration_;
};

}  // namespace fraiseql::correlator
