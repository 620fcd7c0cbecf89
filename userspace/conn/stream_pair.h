// What every parsed connection has: the two directions' stream buffers, who moved their bytes,
// and the loss/parse counters of its protocol, fed as deltas so each counter is exact.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string_view>

#include "conn/stream_buffer.h"
#include "decoder/event.h"
#include "records/records.h"

namespace fraiseql::conn {

using records::Origin;

// Per protocol, across its connections: written on the pipeline thread, read by the metrics
// exporter at scrape time (fraiseql_collector_{parse_errors,stream_gap_bytes,
// stream_dropped_bytes,unpaired_messages,encrypted_connections}_total{protocol}).
struct ProtocolStats {
  std::atomic<uint64_t> parse_errors{0};
  std::atomic<uint64_t> gap_bytes{0};
  std::atomic<uint64_t> dropped_bytes{0};
  std::atomic<uint64_t> unanswered_requests{0};  // connection closed before the answer
  std::atomic<uint64_t> unmatched_responses{0};  // a response with no request seen
  std::atomic<uint64_t> encrypted_connections{0};
  static void Add(std::atomic<uint64_t>& c, uint64_t n) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
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
  void Account(ProtocolStats& stats, uint64_t parse_errors_total);

  StreamBuffer in;   // bytes the observed process read
  StreamBuffer out;  // bytes it wrote
  OriginLog in_origins;    // who read / wrote them (the last events of each direction)
  OriginLog out_origins;

 private:
  uint64_t errors_seen_ = 0;
  uint64_t gaps_seen_ = 0;
  uint64_t dropped_seen_ = 0;
};

}  // namespace fraiseql::conn
