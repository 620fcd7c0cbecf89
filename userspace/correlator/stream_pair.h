// What every parsed connection has: the two directions' stream buffers and the loss/parse
// counters of its protocol, fed as deltas so each counter is exact per connection.
#pragma once

#include <cstdint>
#include <deque>
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

// Who made a syscall: its thread and the Python Context current on it (0: none known).
struct Origin {
  uint64_t ts_ns = 0;
  uint32_t tid = 0;
  uint64_t py_ctx = 0;
};

// The origins of the last events of one direction of a connection, to find the origin of a
// message from the timestamp of the event that carried its first byte.
class OriginLog {
 public:
  void Add(const Origin& o);
  // The latest origin at or before ts_ns (the exact event in practice); empty Origin if none.
  Origin Find(uint64_t ts_ns) const;

 private:
  static constexpr size_t kMax = 128;
  std::deque<Origin> log_;
};

class StreamPair {
 public:
  explicit StreamPair(size_t buffer_bytes) : in(buffer_bytes), out(buffer_bytes) {}

  // One event's bytes into their direction's buffer, and who moved them into its origin log.
  void Add(Direction dir, uint64_t pos, std::string_view data, uint64_t orig_size,
           const Origin& origin);

  // Adds what changed since the last call: parse errors (the parsers' running total), and
  // the buffers' gap and dropped bytes.
  void Account(ProtocolCounters& counters, uint64_t parse_errors_total);

  conn::StreamBuffer in;   // bytes the observed process read
  conn::StreamBuffer out;  // bytes it wrote
  OriginLog in_origins;    // who read / wrote them (the last events of each direction)
  OriginLog out_origins;

 private:
  uint64_t errors_seen_ = 0;
  uint64_t gaps_seen_ = 0;
  uint64_t dropped_seen_ = 0;
};

}  // namespace fraiseql::correlator
