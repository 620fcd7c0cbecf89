#include "sinks/statements/statement_table.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace fraiseql::sinks {

namespace {
void Add(StatementStat& s, const records::DbCall& c) {
  double sec = c.seconds();
  ++s.calls;
  s.errors += c.error;
  s.rows += c.rows;
  s.total_seconds += sec;
  s.max_seconds = std::max(s.max_seconds, sec);
}
}  // namespace

void StatementTable::OnDbCall(const records::DbCall& c) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stats_.find(View{c.workload, c.statement()});
  if (it == stats_.end()) {
    if (stats_.size() >= max_entries_) {
      auto [o, fresh] = other_.try_emplace(c.workload);
      if (fresh) {
        o->second.service = c.workload->service_name;
        o->second.query = "<other>";
        o->second.query_type = "OTHER";
        o->second.table = "other";
      }
      Add(o->second, c);
      return;
    }
    it = stats_.try_emplace(Key{c.workload, std::string(c.statement())}).first;
    StatementStat& s = it->second;
    s.service = c.workload->service_name;
    s.query = it->first.second;
    s.query_type = c.query_type;
    s.table = std::string(c.table);
  }
  Add(it->second, c);
}

std::vector<StatementStat> StatementTable::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StatementStat> out;
  out.reserve(stats_.size() + other_.size());
  for (const auto& [key, s] : stats_) out.push_back(s);
  for (const auto& [w, s] : other_) out.push_back(s);
  return out;
}

std::string StatementTable::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& s : Snapshot()) {
    arr.push_back({{"service_name", s.service}, {"query", s.query}, {"query_type", s.query_type},
                   {"table_name", s.table}, {"calls", s.calls}, {"errors", s.errors},
                   {"rows", s.rows}, {"total_seconds", s.total_seconds},
                   {"max_seconds", s.max_seconds}});
  }
  return nlohmann::json{{"statements", arr}}.dump(1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace);
}

}  // namespace fraiseql::sinks
