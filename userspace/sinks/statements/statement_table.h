// Per normalized statement and service, like pg_stat_statements but from the wire
// (GET /api/v1/statements): a sink of DbCall records. Read from the exporter thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "records/sink.h"

namespace fraiseql::sinks {

struct StatementStat {
  std::string service;
  std::string query;  // normalized: literals and parameters are "?"
  std::string query_type;
  std::string table;
  uint64_t calls = 0;
  uint64_t errors = 0;
  uint64_t rows = 0;
  double total_seconds = 0;
  double max_seconds = 0;
};

class StatementTable final : public records::RecordSink {
 public:
  explicit StatementTable(size_t max_entries = 5000) : max_entries_(max_entries) {}
  void OnDbCall(const records::DbCall& c) override;
  std::vector<StatementStat> Snapshot() const;
  std::string ToJson() const;

 private:
  // Keyed by workload and normalized text; lookups by a view copy nothing.
  using Key = std::pair<const records::Workload*, std::string>;
  using View = std::pair<const records::Workload*, std::string_view>;
  struct Less {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      if (a.first != b.first) return a.first < b.first;
      return std::string_view(a.second) < std::string_view(b.second);
    }
  };
  size_t max_entries_;
  mutable std::mutex mu_;
  std::map<Key, StatementStat, Less> stats_;
  std::map<const records::Workload*, StatementStat> other_;  // past the cap
};

}  // namespace fraiseql::sinks
