// What every parsed connection has: the two directions' stream buffers and the loss/parse
// counters of its protocol, fed as deltas so each counter is exact per connection.
#pragma once

#include <cstdint>
#include <string_view>

#include "conn/stream_buffer.h"
#include "decoder/event.h"
#include "metrics/registry.h"

namespace fraiseql::correlator {

// fraiseql_collector_{parse_errors,stream_gap_bytes,stream_dropped_bytes}_total{protocol}.
struct ProtocolCounters {
  ProtocolCounters(metrics::Registry& registry, std::string_view protocol);
  metrics::Counter& parse_errors;
  metrics::Counter& gap_bytes;
  metrics::Counter& dropped_bytes;
};

class StreamPair {
 public:
  explicit StreamPair(size_t buffer_bytes) : in(buffer_bytes), out(buffer_bytes) {}

  // Adds what changed since the last call: parse errors (the parsers' running total), and
  // the buffers' gap and dropped bytes.
  void Account(ProtocolCounters& counters, uint64_t parse_errors_total);

  conn::StreamBuffer in;   // bytes the observed process read
  conn::StreamBuffer out;  // bytes it wrote

 private:
  uint64_t errors_seen_ = 0;
  uint64_t gaps_seen_ = 0;
  uint64_t dropped_seen_ = 0;
};

}  // namespace fraiseql::correlator
