// PostgreSQL query records (from the wire or from libpq uprobes) → DbCall records: the SQL
// shape interned once per distinct text, the table label capped per service, FraiseQL's cache
// table semantics, and (opt-in) the identity a statement sets.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "protocols/pgsql/connection.h"
#include "records/sink.h"

namespace fraiseql::handlers {

struct DbOptions {
  std::string cache_table = "fraiseql_cache";  // FraiseQL's PostgreSQL result cache
  size_t max_tables_per_service = 200;         // table_name values before "other"
  bool capture_identity = false;               // --capture-identity: app.user_id / tenant_id
};

// Strings a DbCall's views point to while it is emitted.
struct DbCallScratch {
  std::string user_id, tenant_id;
};

class DbCallBuilder {
 public:
  explicit DbCallBuilder(DbOptions options) : options_(std::move(options)) {}

  records::DbCall Build(uint32_t tgid, const records::Workload* workload,
                        const records::Origin& origin, const protocols::pgsql::QueryRecord& q,
                        DbCallScratch* scratch);
  const DbOptions& options() const { return options_; }

 private:
  records::SqlShapeRef Shape(const std::string& sql);
  std::string_view TableLabel(const records::Workload* workload, const std::string& relation);

  DbOptions options_;
  std::unordered_map<std::string, records::SqlShapeRef> shapes_;
  std::map<const records::Workload*, std::set<std::string, std::less<>>> tables_;
};

}  // namespace fraiseql::handlers
