#include "handlers/db_calls.h"

#include <algorithm>
#include <cctype>

#include "handlers/identity.h"
#include "protocols/pgsql/sql_normalize.h"

namespace fraiseql::handlers {

using protocols::pgsql::QueryRecord;
using protocols::pgsql::QueryType;

namespace {

constexpr size_t kMaxShapes = 8192;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// "public.fraiseql_cache" names the table "fraiseql_cache".
bool IsTable(std::string_view relation, std::string_view table) {
  if (relation.empty() || table.empty()) return false;
  if (EqualsIgnoreCase(relation, table)) return true;
  size_t dot = relation.rfind('.');
  return dot != std::string_view::npos && EqualsIgnoreCase(relation.substr(dot + 1), table);
}

records::CacheOp CacheOpOf(const char* query_type) {
  std::string_view t = query_type;
  if (t == "SELECT") return records::CacheOp::kGet;
  if (t == "INSERT" || t == "UPDATE") return records::CacheOp::kSet;
  if (t == "DELETE") return records::CacheOp::kDelete;
  return records::CacheOp::kNone;
}

}  // namespace

records::SqlShapeRef DbCallBuilder::Shape(const std::string& sql) {
  auto it = shapes_.find(sql);
  if (it != shapes_.end()) return it->second;
  if (shapes_.size() >= kMaxShapes) shapes_.clear();  // records keep their own references
  auto s = std::make_shared<records::SqlShape>();
  s->normalized = protocols::pgsql::NormalizeSql(sql);
  s->query_type = protocols::pgsql::ToString(protocols::pgsql::ClassifySql(sql));
  s->relation = protocols::pgsql::MainRelation(sql);
  return shapes_.emplace(sql, std::move(s)).first->second;
}

std::string_view DbCallBuilder::TableLabel(const records::Workload* workload,
                                           const std::string& relation) {
  if (relation.empty()) return "none";
  auto& seen = tables_[workload];
  auto it = seen.find(relation);
  if (it != seen.end()) return *it;
  if (seen.size() >= options_.max_tables_per_service) return "other";
  return *seen.insert(relation).first;
}

records::DbCall DbCallBuilder::Build(uint32_t tgid, const records::Workload* workload,
                                     const records::Origin& origin, const QueryRecord& q,
                                     DbCallScratch* scratch) {
  records::DbCall c{
      .tgid = tgid,
      .workload = workload,
      .origin = origin,
      .start_ns = q.start_ns,
      .end_ns = q.end_ns,
      .error = q.error,
      .sqlstate = q.sqlstate,
      .rows = q.rows,
  };
  if (q.sql.empty()) {
    c.table = "unknown";
    return c;
  }
  c.shape = Shape(q.sql);
  c.query_type = c.shape->query_type;
  c.table = TableLabel(workload, c.shape->relation);
  // FraiseQL's PostgreSQL result cache (an UNLOGGED table, `fraiseql_cache` by default).
  if (IsTable(c.shape->relation, options_.cache_table)) {
    c.cache_op = CacheOpOf(c.query_type);
    if (c.cache_op == records::CacheOp::kGet && !q.error) {
      (q.rows > 0 ? c.cache_hits : c.cache_misses) = 1;
    }
  }
  if (options_.capture_identity && !q.error) {
    if (auto v = SettingValue(q.sql, "app.user_id")) scratch->user_id = *v;
    if (auto v = SettingValue(q.sql, "app.tenant_id")) scratch->tenant_id = *v;
    c.user_id = scratch->user_id;
    c.tenant_id = scratch->tenant_id;
  }
  return c;
}

}  // namespace fraiseql::handlers
