// Per-connection stitcher: frontend + backend frames -> query records and transactions.
//
// Pairing is FIFO: every frontend message that the server answers (Q, P, B, D, E, C, S, F)
// queues an entry; backend messages pop them in order. Never one query in flight: pipelines
// (many Parse/Bind/Execute before one Sync) and several Syncs in flight are queued as sent.
//   - Simple query 'Q': one record per CommandComplete / EmptyQueryResponse / ErrorResponse,
//     its sql the n-th statement of the string (SplitStatements; the whole text if the split
//     does not line up). An error aborts the rest of the string. The Q ends at ReadyForQuery.
//     The first record starts at the Q's timestamp, each next one at the previous one's end.
//   - Extended: each Execute -> one record, answered by CommandComplete, EmptyQueryResponse,
//     PortalSuspended (command_tag "" , not an error) or ErrorResponse; it starts at the
//     Execute's timestamp. An error in Parse/Bind/Describe becomes the error record of the
//     next Execute of the same Sync group (or of the failing message itself if there is none).
//     After an error the server skips everything until Sync: the Executes it skipped are
//     counted in stats().skipped_executes, never reported as queries.
//   - A Parse/Describe/Sync flight without Execute (psycopg preparing a statement) yields no
//     record.
//   - Prepared statements: name -> SQL from Parse ("" replaced by every unnamed Parse), Close 'S'
//     removes; portals: name -> statement from Bind. An Execute whose statement (or portal) was
//     never seen has prepared_before_capture set and empty sql (never invented).
//   - Copy: CopyIn/CopyOut/CopyBoth and CopyData are not replies; the record completes with
//     "COPY n". ParameterStatus, NoticeResponse, NotificationResponse, BackendKeyData,
//     Authentication, ParameterDescription, RowDescription, DataRow, NoData are not replies
//     either (the Describe entry pops at RowDescription/NoData).
//   - Records are held until the next ReadyForQuery, which fills tx_status_after.
//   - Transactions: ReadyForQuery 'I' -> 'T'/'E' opens one (begin = timestamp of the first
//     message of the Sync group / Query that opened it); back to 'I' closes it (end = the
//     ReadyForQuery's timestamp), committed unless the last command tag was ROLLBACK or the
//     status before was 'E'. A transaction already open when the capture started is not
//     reported.
//   - Startup (answered by the first ReadyForQuery): user, database, application_name only; authentication ('p', 'R' data) is never
//     kept. SSLRequest/GSSENCRequest answered 'S'/'G' -> encrypted(): bytes no longer parsed.
// Loss: unmatched backend messages are counted and ignored; ReadyForQuery realigns the queue.
// Memory: pending entries, held records, statements and portals are capped (oldest dropped,
// counted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conn/stream_buffer.h"
#include "protocols/pgsql/pgsql_parser.h"
#include "protocols/pgsql/stream_parser.h"

namespace fraiseql::protocols::pgsql {

struct QueryRecord {
  std::string sql;  // raw text from Q (this statement) or from the Parse; "" if unknown
  std::string statement_name;
  bool prepared_before_capture = false;  // Bind/Execute of a statement whose Parse we never saw
  bool simple_protocol = false;
  uint64_t start_ns = 0;  // ts of the message that started it
  uint64_t end_ns = 0;    // ts of its CommandComplete / ErrorResponse / EmptyQuery
  std::string command_tag;  // as sent, e.g. "INSERT 0 1"; "" for errors and empty queries
  uint64_t rows = 0;
  bool error = false;
  std::string sqlstate;   // errors only
  char tx_status_after = 0;  // from the next ReadyForQuery ('I', 'T', 'E'); 0 if never seen

  std::string ToString() const;
};

struct TransactionRecord {
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
  bool committed = false;
};

struct PgConnectionStats {
  uint64_t queries = 0;          // records produced (errors included)
  uint64_t errors = 0;           // records with error
  uint64_t skipped_executes = 0; // Executes the server skipped after an error
  uint64_t unanswered_executes = 0;  // Executes whose reply was lost (capture loss)
  uint64_t prepared_before_capture = 0;
  uint64_t orphan_errors = 0;    // ErrorResponses with no query (startup, FATAL, Sync)
  uint64_t unmatched_replies = 0;  // backend replies with no queued request
  uint64_t notifications = 0;
  uint64_t notices = 0;
  uint64_t dropped = 0;  // entries / records / statements dropped by the memory caps
};

class PgConnection {
 public:
  static constexpr size_t kMaxPending = 4096;
  static constexpr size_t kMaxStatements = 1024;
  static constexpr size_t kMaxPortals = 256;

  PgConnection();

  // Drains both directions' parsers (frontend first, so requests queue before their replies)
  // and stitches what they produce.
  void Poll(conn::StreamBuffer& frontend, conn::StreamBuffer& backend);
  // Or feed frames yourself (the stream parsers then are unused).
  void OnFrontend(const Frame& f);
  void OnBackend(const Frame& f);
  // The connection closed: releases held records (tx_status_after stays 0).
  void Finish();

  std::vector<QueryRecord> TakeRecords();
  std::vector<TransactionRecord> TakeTransactions();

  // Last ReadyForQuery status ('I', 'T', 'E'), 0 before the first.
  char tx_status() const { return tx_status_; }
  // Inside a transaction whose begin we saw; begin timestamp.
  bool in_transaction() const { return tx_open_; }
  uint64_t transaction_begin_ns() const { return tx_begin_ns_; }
  // Requests queued without their final reply yet.
  size_t pending() const { return pending_.size(); }

  bool encrypted() const { return encrypted_; }
  bool startup_seen() const { return startup_seen_; }
  const StartupInfo& startup() const { return startup_; }
  bool terminated() const { return terminated_; }
  // The server sent a FATAL/PANIC error: the session is over even if the client still holds
  // its socket (it no longer shows in pg_stat_activity).
  bool server_closed() const { return server_closed_; }
  const PgConnectionStats& stats() const { return stats_; }
  uint64_t parse_errors() const { return fe_.parse_errors() + be_.parse_errors(); }
  PgStreamParser& frontend_parser() { return fe_; }
  PgStreamParser& backend_parser() { return be_; }

 private:
  enum class Op { kStartup, kQuery, kParse, kBind, kDescribe, kExecute, kClose, kSync, kFunction };
  struct Pending {
    Op op = Op::kSync;
    uint64_t ts = 0;
    uint64_t group_ts = 0;  // boundaries: ts of the first message of their group
    std::string sql;        // Q text / Parse query / Execute's statement text
    std::string name;       // Parse: statement; Execute: statement name
    bool prepared_before = false;
    std::vector<std::string> statements;  // Q: split statements
    size_t next_statement = 0;
    uint64_t next_start = 0;
    bool aborted = false;
  };
  struct Portal {
    std::string statement;
    std::string sql;
    bool known = false;
  };

  static bool IsBoundary(Op op) {
    return op == Op::kStartup || op == Op::kQuery || op == Op::kSync || op == Op::kFunction;
  }
  void Push(Pending p);
  // OnFrontend's larger cases.
  void OnUntypedFrontend(const Frame& f);
  void OnParse(std::string_view body, Pending p);
  void OnBind(std::string_view body, Pending p);
  // Pops entries before the first `op` of the current group and returns its index (0), or
  // false if the group has none.
  bool AlignTo(Op op);
  void DropFront();
  void Emit(QueryRecord r);
  void OnError(const Frame& f);
  void OnCompletion(const Frame& f);
  void OnReady(const Frame& f);
  QueryRecord FromQuery(Pending& q, uint64_t end_ns);
  QueryRecord FromExecute(const Pending& e, uint64_t end_ns);

  PgStreamParser fe_{Direction::kFrontend};
  PgStreamParser be_{Direction::kBackend};
  std::deque<Pending> pending_;
  uint64_t open_group_ts_ = 0;
  bool group_errored_ = false;
  std::string last_tag_;
  std::unordered_map<std::string, std::string> statements_;
  std::unordered_map<std::string, Portal> portals_;
  std::vector<QueryRecord> held_;
  std::vector<QueryRecord> records_;
  std::vector<TransactionRecord> transactions_;
  char tx_status_ = 0;
  bool tx_open_ = false;
  uint64_t tx_begin_ns_ = 0;
  bool encrypted_ = false;
  bool startup_seen_ = false;
  bool terminated_ = false;
  bool server_closed_ = false;
  StartupInfo startup_;
  PgConnectionStats stats_;
};

}  // namespace fraiseql::protocols::pgsql
