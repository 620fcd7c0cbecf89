#include "protocols/pgsql/connection.h"

#include <utility>

#include "protocols/common/byte_cursor.h"
#include "protocols/pgsql/sql_normalize.h"

namespace fraiseql::protocols::pgsql {
namespace {

// Up to the first NUL (or the end of a truncated body).
std::string_view CStringPrefix(std::string_view s) {
  const size_t z = s.find('\0');
  return z == std::string_view::npos ? s : s.substr(0, z);
}

}  // namespace

std::string QueryRecord::ToString() const {
  std::string s = "Query{" + std::string(simple_protocol ? "simple" : "extended");
  if (!statement_name.empty()) s += " stmt=" + statement_name;
  if (prepared_before_capture) s += " prepared_before_capture";
  s += " sql=\"" + sql.substr(0, 80) + "\" tag=\"" + command_tag + "\" rows=" +
       std::to_string(rows);
  if (error) s += " error=" + sqlstate;
  s += std::string(" tx=") + (tx_status_after ? tx_status_after : '-') + " ts=" +
       std::to_string(start_ns) + ".." + std::to_string(end_ns) + "}";
  return s;
}

PgConnection::PgConnection() = default;

void PgConnection::Poll(conn::StreamBuffer& frontend, conn::StreamBuffer& backend) {
  Frame f;
  while (fe_.Next(frontend, &f) == ParseState::kSuccess) OnFrontend(f);
  while (be_.Next(backend, &f) == ParseState::kSuccess) {
    OnBackend(f);
    // A backend answer may switch the frontend to encrypted, or the frontend parser may need
    // to go on after an 'N' answer: keep both in step.
    while (fe_.Next(frontend, &f) == ParseState::kSuccess) OnFrontend(f);
  }
  if (fe_.encrypted() || be_.encrypted()) encrypted_ = true;
}

void PgConnection::Push(Pending p) {
  if (open_group_ts_ == 0) open_group_ts_ = p.ts;
  if (IsBoundary(p.op)) {
    p.group_ts = p.op == Op::kQuery || p.op == Op::kFunction ? p.ts : open_group_ts_;
    open_group_ts_ = 0;
  }
  if (pending_.size() >= kMaxPending) {
    DropFront();
    ++stats_.dropped;
  }
  pending_.push_back(std::move(p));
}

void PgConnection::DropFront() {
  if (pending_.empty()) return;
  if (pending_.front().op == Op::kExecute) {
    if (group_errored_) {
      ++stats_.skipped_executes;
    } else {
      ++stats_.unanswered_executes;
    }
  }
  pending_.pop_front();
}

bool PgConnection::AlignTo(Op op) {
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].op == op) {
      for (size_t k = 0; k < i; ++k) DropFront();
      return true;
    }
    if (IsBoundary(pending_[i].op)) return false;
  }
  return false;
}

// Startup, SSLRequest and GSSENCRequest: the frames before the typed protocol.
void PgConnection::OnUntypedFrontend(const Frame& f) {
  switch (f.untyped) {
    case Untyped::kStartup: {
      StartupInfo info;
      info.protocol = f.code;
      if (DecodeStartup(f.body, &info) == ParseState::kSuccess) startup_ = std::move(info);
      startup_seen_ = true;
      Pending p;
      p.op = Op::kStartup;
      p.ts = f.start_ts;
      Push(std::move(p));
      break;
    }
    case Untyped::kSslRequest:
    case Untyped::kGssEncRequest:
      be_.ExpectEncryptionAnswer();
      break;
    default:
      break;
  }
}

// 'P' Parse: remembers the statement's text by name (bounded by kMaxStatements).
void PgConnection::OnParse(std::string_view body, Pending p) {
  ParseInfo info;
  if (DecodeParse(body, &info) == ParseState::kSuccess) {
    p.name = std::string(info.statement);
    p.sql = std::string(info.query);
  } else {  // a truncated body: the name and as much of the text as we have
    p.name = std::string(CStringPrefix(body));
    if (p.name.size() < body.size()) {
      p.sql = std::string(CStringPrefix(body.substr(p.name.size() + 1)));
    }
  }
  if (statements_.size() >= kMaxStatements && !statements_.count(p.name)) {
    statements_.erase(statements_.begin());
    ++stats_.dropped;
  }
  statements_[p.name] = p.sql;
  p.op = Op::kParse;
  Push(std::move(p));
}

// 'B' Bind: a portal over a known statement (bounded by kMaxPortals).
void PgConnection::OnBind(std::string_view body, Pending p) {
  BindInfo info;
  Portal portal;
  std::string portal_name;
  if (DecodeBind(body, &info) == ParseState::kSuccess) {
    portal_name = std::string(info.portal);
    portal.statement = std::string(info.statement);
    auto it = statements_.find(portal.statement);
    if (it != statements_.end()) {
      portal.sql = it->second;
      portal.known = true;
    }
  }
  if (portals_.size() >= kMaxPortals && !portals_.count(portal_name)) {
    portals_.erase(portals_.begin());
    ++stats_.dropped;
  }
  portals_[portal_name] = std::move(portal);
  p.op = Op::kBind;
  Push(std::move(p));
}

void PgConnection::OnFrontend(const Frame& f) {
  if (f.untyped != Untyped::kNone) {
    OnUntypedFrontend(f);
    return;
  }
  const std::string_view body = f.body;
  Pending p;
  p.ts = f.start_ts;
  switch (f.type) {
    case 'Q': {
      p.op = Op::kQuery;
      p.sql = std::string(CStringPrefix(body));
      for (std::string_view st : SplitStatements(p.sql)) p.statements.emplace_back(st);
      p.next_start = p.ts;
      Push(std::move(p));
      break;
    }
    case 'P':
      OnParse(body, std::move(p));
      break;
    case 'B':
      OnBind(body, std::move(p));
      break;
    case 'D':
      p.op = Op::kDescribe;
      Push(std::move(p));
      break;
    case 'E': {
      ExecuteInfo info;
      p.op = Op::kExecute;
      p.prepared_before = true;
      if (DecodeExecute(body, &info) == ParseState::kSuccess) {
        auto it = portals_.find(std::string(info.portal));
        if (it != portals_.end()) {
          p.name = it->second.statement;
          p.sql = it->second.sql;
          p.prepared_before = !it->second.known;
        }
      }
      Push(std::move(p));
      break;
    }
    case 'C': {
      TargetInfo t;
      if (DecodeCloseOrDescribe(body, &t) == ParseState::kSuccess) {
        if (t.kind == 'S') {
          statements_.erase(std::string(t.name));
        } else {
          portals_.erase(std::string(t.name));
        }
      }
      p.op = Op::kClose;
      Push(std::move(p));
      break;
    }
    case 'S':
      p.op = Op::kSync;
      Push(std::move(p));
      break;
    case 'F':
      p.op = Op::kFunction;
      Push(std::move(p));
      break;
    case 'X':
      terminated_ = true;
      break;
    default:  // H flush, d/c/f copy, p password: no reply of their own
      break;
  }
}

QueryRecord PgConnection::FromQuery(Pending& q, uint64_t end_ns) {
  QueryRecord r;
  r.simple_protocol = true;
  const size_t n = q.next_statement++;
  r.sql = q.statements.size() > 1 && n < q.statements.size() ? q.statements[n] : q.sql;
  if (q.statements.size() == 1) r.sql = q.statements[0];
  r.start_ns = q.next_start;
  r.end_ns = end_ns;
  q.next_start = end_ns;
  return r;
}

QueryRecord PgConnection::FromExecute(const Pending& e, uint64_t end_ns) {
  QueryRecord r;
  r.sql = e.sql;
  r.statement_name = e.name;
  r.prepared_before_capture = e.prepared_before;
  r.start_ns = e.ts;
  r.end_ns = end_ns;
  return r;
}

void PgConnection::Emit(QueryRecord r) {
  ++stats_.queries;
  if (r.error) ++stats_.errors;
  if (r.prepared_before_capture) ++stats_.prepared_before_capture;
  if (held_.size() >= kMaxPending) {
    records_.push_back(std::move(held_.front()));
    held_.erase(held_.begin());
    ++stats_.dropped;
  }
  held_.push_back(std::move(r));
}

void PgConnection::OnCompletion(const Frame& f) {
  // CommandComplete, EmptyQueryResponse, PortalSuspended.
  CommandTag tag;
  if (f.type == 'C') {
    if (DecodeCommandComplete(f.body, &tag) != ParseState::kSuccess) {
      tag = ParseCommandTag(CStringPrefix(f.body));
    }
    last_tag_ = std::string(tag.command);
  }
  if (!pending_.empty() && pending_.front().op == Op::kQuery) {
    Pending& q = pending_.front();
    if (q.aborted) {
      ++stats_.unmatched_replies;
      return;
    }
    QueryRecord r = FromQuery(q, f.end_ts);
    r.command_tag = std::string(tag.tag);
    r.rows = tag.rows;
    Emit(std::move(r));
    return;
  }
  if (!AlignTo(Op::kExecute)) {
    ++stats_.unmatched_replies;
    return;
  }
  QueryRecord r = FromExecute(pending_.front(), f.end_ts);
  r.command_tag = std::string(tag.tag);
  r.rows = tag.rows;
  pending_.pop_front();
  Emit(std::move(r));
}

void PgConnection::OnError(const Frame& f) {
  ErrorInfo info;
  std::string sqlstate;
  if (DecodeErrorResponse(f.body, &info) == ParseState::kSuccess) {
    sqlstate = std::string(info.sqlstate);
    // FATAL/PANIC: the server ends the session and closes its side.
    if (info.severity == "FATAL" || info.severity == "PANIC") server_closed_ = true;
  }
  last_tag_.clear();
  if (pending_.empty() || pending_.front().op == Op::kSync ||
      pending_.front().op == Op::kStartup) {
    ++stats_.orphan_errors;
    return;
  }
  Pending& front = pending_.front();
  if (front.op == Op::kQuery || front.op == Op::kFunction) {
    if (front.op == Op::kFunction || front.aborted) {
      ++stats_.orphan_errors;
      return;
    }
    QueryRecord r = FromQuery(front, f.end_ts);
    r.error = true;
    r.sqlstate = std::move(sqlstate);
    front.aborted = true;
    Emit(std::move(r));
    return;
  }
  // Extended protocol: the error belongs to the front entry; the server now skips to Sync.
  QueryRecord r;
  bool have = false;
  if (front.op == Op::kExecute) {
    r = FromExecute(front, f.end_ts);
    have = true;
    pending_.pop_front();
  } else {
    // Parse/Bind/Describe/Close failed: report it on the next Execute of the group, if any.
    Pending failing = std::move(front);
    pending_.pop_front();
    while (!pending_.empty() && !IsBoundary(pending_.front().op)) {
      if (pending_.front().op == Op::kExecute) {
        r = FromExecute(pending_.front(), f.end_ts);
        have = true;
        pending_.pop_front();
        break;
      }
      pending_.pop_front();
    }
    if (!have) {
      r.sql = failing.sql;
      r.statement_name = failing.name;
      r.start_ns = failing.ts;
      r.end_ns = f.end_ts;
      have = true;
    }
  }
  r.error = true;
  r.sqlstate = std::move(sqlstate);
  Emit(std::move(r));
  group_errored_ = true;
  while (!pending_.empty() && !IsBoundary(pending_.front().op)) DropFront();
}

void PgConnection::OnReady(const Frame& f) {
  char status = 0;
  if (DecodeReadyForQuery(f.body, &status) != ParseState::kSuccess) return;
  // Pop up to and including the first boundary.
  uint64_t group_ts = f.start_ts;
  bool popped = false;
  while (!pending_.empty()) {
    const bool boundary = IsBoundary(pending_.front().op);
    if (boundary) {
      group_ts = pending_.front().group_ts;
      pending_.pop_front();
      popped = true;
      break;
    }
    DropFront();
  }
  if (!popped) ++stats_.unmatched_replies;
  group_errored_ = false;

  const char before = tx_status_;
  // Status unknown (a connection from before the capture): the group opened the transaction
  // if it ran BEGIN; otherwise the capture started mid-transaction and it is not reported.
  bool began_here = before == 'I';
  if (before == 0) {
    for (const QueryRecord& r : held_) began_here |= r.command_tag == "BEGIN";
  }
  if (began_here && status != 'I') {
    tx_open_ = true;
    tx_begin_ns_ = group_ts;
  } else if (status == 'I' && before != 'I' && tx_open_) {
    TransactionRecord t;
    t.begin_ns = tx_begin_ns_;
    t.end_ns = f.end_ts;
    t.committed = before != 'E' && last_tag_ != "ROLLBACK";
    transactions_.push_back(t);
    tx_open_ = false;
  }
  tx_status_ = status;
  last_tag_.clear();
  for (QueryRecord& r : held_) {
    r.tx_status_after = status;
    records_.push_back(std::move(r));
  }
  held_.clear();
}

void PgConnection::OnBackend(const Frame& f) {
  if (f.untyped == Untyped::kEncryptionAnswer) {
    if (f.type == 'S' || f.type == 'G') {
      encrypted_ = true;
      fe_.SetEncrypted();
      be_.SetEncrypted();
    }
    return;
  }
  switch (f.type) {
    case 'C':
    case 'I':
    case 's':
      OnCompletion(f);
      break;
    case 'E':
      OnError(f);
      break;
    case 'Z':
      OnReady(f);
      break;
    case '1':
      if (AlignTo(Op::kParse)) {
        pending_.pop_front();
      } else {
        ++stats_.unmatched_replies;
      }
      break;
    case '2':
      if (AlignTo(Op::kBind)) {
        pending_.pop_front();
      } else {
        ++stats_.unmatched_replies;
      }
      break;
    case '3':
      if (AlignTo(Op::kClose)) {
        pending_.pop_front();
      } else {
        ++stats_.unmatched_replies;
      }
      break;
    case 'T':
    case 'n':
      // Describe's answer (a Query's RowDescription is not a reply of its own).
      if (!pending_.empty() && pending_.front().op != Op::kQuery && AlignTo(Op::kDescribe)) {
        pending_.pop_front();
      }
      break;
    case 'N':
      ++stats_.notices;
      break;
    case 'A':
      ++stats_.notifications;
      break;
    default:  // R S K t D G H W d c V v: not replies
      break;
  }
}

void PgConnection::Finish() {
  for (QueryRecord& r : held_) records_.push_back(std::move(r));
  held_.clear();
}

std::vector<QueryRecord> PgConnection::TakeRecords() { return std::exchange(records_, {}); }

std::vector<TransactionRecord> PgConnection::TakeTransactions() {
  return std::exchange(transactions_, {});
}

}  // namespace fraiseql::protocols::pgsql
