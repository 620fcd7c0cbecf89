// Query records from libpq uprobe events (bpf/libpq.bpf.c), for PostgreSQL connections whose
// wire is TLS. Calls and results pair per PGconn in order (several queries are in flight in
// pipeline mode): an async call's results attach to the oldest pending call and a NULL
// PQgetResult ends it; a synchronous call (PQexec, PQexecParams, PQexecPrepared, PQprepare)
// ends with its one result. Prepares (PQsendPrepare/PQprepare) record name → SQL and are not
// queries (psycopg's prepare step is not an execution: pg_stat_statements does not count it
// either). COPY_IN/COPY_OUT results are not completions; PIPELINE_SYNC results belong to no
// call. Bind values are never read by the probes.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "decoder/event.h"
#include "protocols/pgsql/connection.h"

namespace fraiseql::handlers {

class LibpqCalls {
 public:
  static constexpr size_t kMaxPendingPerConn = 1024;
  static constexpr size_t kMaxStatementsPerConn = 1024;

  // Feeds one event; completed queries are appended to *out.
  void OnEvent(const PqEvent& e, std::vector<protocols::pgsql::QueryRecord>* out);
  // The process is gone.
  void ForgetProcess(uint32_t tgid);

  uint64_t unmatched_results() const { return unmatched_results_; }

 private:
  struct Call {
    uint16_t fn = 0;
    uint64_t ts_ns = 0;
    std::string sql;
    std::vector<std::string> statements;  // the SQL split, for multi-statement queries
    size_t results = 0;
    bool prepare = false;  // PQsendPrepare: its result is not a query
    std::string name;
    bool known = true;  // false: prepared before we attached, text unknown
  };
  struct Conn {
    std::deque<Call> pending;
    std::unordered_map<std::string, std::string> statements;
  };

  Conn& ConnOf(const PqEvent& e);
  void OnCall(Conn& c, const PqEvent& e);
  void OnResult(Conn& c, const PqEvent& e, std::vector<protocols::pgsql::QueryRecord>* out);

  std::unordered_map<uint64_t, Conn> conns_;  // key: tgid ^ conn_ptr (see ConnOf)
  std::unordered_map<uint64_t, uint32_t> owner_;
  uint64_t unmatched_results_ = 0;
};

}  // namespace fraiseql::handlers
