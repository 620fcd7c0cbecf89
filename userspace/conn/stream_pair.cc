#include "conn/stream_pair.h"

namespace fraiseql::conn {

void StreamPair::Account(ProtocolStats& stats, uint64_t parse_errors_total) {
  uint64_t gaps = in.gap_bytes() + out.gap_bytes();
  uint64_t dropped = in.dropped_bytes() + out.dropped_bytes();
  if (parse_errors_total > errors_seen_) {
    ProtocolStats::Add(stats.parse_errors, parse_errors_total - errors_seen_);
  }
  if (gaps > gaps_seen_) ProtocolStats::Add(stats.gap_bytes, gaps - gaps_seen_);
  if (dropped > dropped_seen_) ProtocolStats::Add(stats.dropped_bytes, dropped - dropped_seen_);
  errors_seen_ = parse_errors_total;
  gaps_seen_ = gaps;
  dropped_seen_ = dropped;
}

void OriginLog::Add(const Origin& o) {
  if (!log_.empty() && log_.back().ts_ns == o.ts_ns && log_.back().tid == o.tid &&
      log_.back().py_ctx == o.py_ctx) {
    return;  // chunks of one syscall
  }
  log_.push_back(o);
  if (log_.size() > kMax) log_.pop_front();
}

Origin OriginLog::Find(uint64_t ts_ns) const {
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (it->ts_ns <= ts_ns) return *it;
  }
  return Origin{};
}

void StreamPair::Add(Direction dir, uint64_t pos, std::string_view data, uint64_t orig_size,
                     const Origin& origin) {
  if (dir == Direction::kEgress) {
    out_origins.Add(origin);
    out.Add(pos, data, orig_size, origin.ts_ns);
  } else {
    in_origins.Add(origin);
    in.Add(pos, data, orig_size, origin.ts_ns);
  }
}

}  // namespace fraiseql::conn
