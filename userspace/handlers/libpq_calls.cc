#include "handlers/libpq_calls.h"

#include "protocols/pgsql/pgsql_parser.h"
#include "protocols/pgsql/sql_normalize.h"

namespace fraiseql::handlers {

using protocols::pgsql::QueryRecord;

namespace {

bool IsSync(uint16_t fn) {
  return fn == FQL_PQ_EXEC || fn == FQL_PQ_EXEC_PARAMS || fn == FQL_PQ_EXEC_PREPARED ||
         fn == FQL_PQ_PREPARE;
}

bool IsPrepare(uint16_t fn) { return fn == FQL_PQ_SEND_PREPARE || fn == FQL_PQ_PREPARE; }

bool IsPreparedExecution(uint16_t fn) {
  return fn == FQL_PQ_SEND_QUERY_PREPARED || fn == FQL_PQ_EXEC_PREPARED;
}

uint64_t Key(uint32_t tgid, uint64_t conn_ptr) {
  return conn_ptr ^ (uint64_t{tgid} * 0x9E3779B97F4A7C15ull);
}

}  // namespace

LibpqCalls::Conn& LibpqCalls::ConnOf(const PqEvent& e) {
  uint64_t k = Key(e.tgid, e.conn_ptr);
  owner_[k] = e.tgid;
  return conns_[k];
}

void LibpqCalls::OnEvent(const PqEvent& e, std::vector<QueryRecord>* out) {
  Conn& c = ConnOf(e);
  if (e.is_result()) {
    OnResult(c, e, out);
  } else {
    OnCall(c, e);
  }
}

void LibpqCalls::OnCall(Conn& c, const PqEvent& e) {
  Call call;
  call.fn = e.fn;
  call.ts_ns = e.ts_ns;
  call.name = e.stmt_name;
  call.prepare = IsPrepare(e.fn);
  if (IsPreparedExecution(e.fn)) {
    auto it = c.statements.find(e.stmt_name);
    call.known = it != c.statements.end();
    if (call.known) call.sql = it->second;
  } else {
    call.sql.assign(e.text);
    if (call.prepare) {
      if (c.statements.size() >= kMaxStatementsPerConn) c.statements.clear();
      c.statements[e.stmt_name] = call.sql;
    } else {
      for (auto sv : protocols::pgsql::SplitStatements(call.sql)) call.statements.emplace_back(sv);
    }
  }
  if (c.pending.size() >= kMaxPendingPerConn) c.pending.pop_front();
  c.pending.push_back(std::move(call));
}

void LibpqCalls::OnResult(Conn& c, const PqEvent& e, std::vector<QueryRecord>* out) {
  const bool null_result = (e.flags & FQL_PQ_F_NULL_RESULT) != 0;
  if (e.result_status == FQL_PGRES_PIPELINE_SYNC) return;
  if (c.pending.empty()) {
    if (!null_result) ++unmatched_results_;
    return;
  }
  Call& call = c.pending.front();
  const bool ends_call = null_result || IsSync(e.fn);
  const bool copy_start = e.result_status == FQL_PGRES_COPY_IN ||
                          e.result_status == FQL_PGRES_COPY_OUT ||
                          e.result_status == FQL_PGRES_COPY_BOTH;
  if (!null_result && !call.prepare && !copy_start) {
    QueryRecord r;
    size_t n = call.results++;
    r.sql = call.statements.size() > 1 && n < call.statements.size() ? call.statements[n]
                                                                     : call.sql;
    r.statement_name = call.name;
    r.prepared_before_capture = !call.known;
    r.simple_protocol = call.fn == FQL_PQ_SEND_QUERY || call.fn == FQL_PQ_EXEC;
    r.start_ns = call.ts_ns;
    r.end_ns = e.ts_ns;
    r.error = e.result_status == FQL_PGRES_FATAL_ERROR ||
              e.result_status == FQL_PGRES_BAD_RESPONSE ||
              e.result_status == FQL_PGRES_PIPELINE_ABORTED || e.result_status < 0;
    r.sqlstate = e.sqlstate;
    r.command_tag = e.cmd_status;
    protocols::pgsql::CommandTag tag = protocols::pgsql::ParseCommandTag(e.cmd_status);
    if (tag.has_rows) {
      r.rows = tag.rows;
    } else {
      r.rows = e.ntuples > 0 ? uint64_t(e.ntuples) : 0;
    }
    // A pipeline-aborted query was never executed: the server skipped it (like the wire's
    // skipped Executes), so it is not a query.
    if (e.result_status != FQL_PGRES_PIPELINE_ABORTED) out->push_back(std::move(r));
  }
  if (ends_call) c.pending.pop_front();
}

void LibpqCalls::ForgetProcess(uint32_t tgid) {
  for (auto it = owner_.begin(); it != owner_.end();) {
    if (it->second == tgid) {
      conns_.erase(it->first);
      it = owner_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace fraiseql::handlers
