// Client side of a Redis connection: commands the app wrote, replies it read. Command records
// from protocols/redis become Redis command metrics and cache hits/misses (cache_type redis).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "correlator/attribution.h"
#include "correlator/cache_metrics.h"
#include "correlator/stream_pair.h"
#include "metrics/registry.h"
#include "protocols/redis/connection.h"

namespace fraiseql::correlator {

class RedisMetrics {
 public:
  RedisMetrics(metrics::Registry& registry, CacheMetrics& cache);
  // Returns the command as a call (label, cache hit/miss) for attribution.
  Call OnCommand(const std::string& service, const protocols::redis::CommandRecord& c);
  ProtocolCounters& counters() { return counters_; }

 private:
  ProtocolCounters counters_;
  metrics::CounterFamily& commands_;
  metrics::HistogramFamily& duration_;
  CacheMetrics& cache_;
};

class RedisClientConn {
 public:
  RedisClientConn(RedisMetrics& metrics, const std::string& service, StreamPair streams,
                  CallHooks hooks = {});
  void OnData(fraiseql::Direction dir, uint64_t pos, std::string_view data, uint64_t orig_size,
              const Origin& origin);
  void OnClose();

 private:
  void Report();

  RedisMetrics& metrics_;
  const std::string& service_;
  StreamPair streams_;
  CallHooks hooks_;
  protocols::redis::RedisConnection redis_;
  std::vector<protocols::redis::CommandRecord> records_;
};

}  // namespace fraiseql::correlator
