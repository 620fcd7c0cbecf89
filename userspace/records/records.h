// The typed records of the chain. Protocol handlers (handlers/) turn connections into
// request-start / exchange / DB-call / Redis-call / transaction records; the correlator adds
// attribution and GraphQL and emits completed requests; sinks (sinks/) consume them all.
//
// Records are passed by const reference, synchronously, along the pipeline thread: their
// string_views point into the emitting stage's buffers and are valid only during the call. A
// sink that keeps anything copies it (or holds the shared pointers, which stay valid).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fraiseql::records {

// Who made a syscall: its thread and the Python Context current on it (0: none known).
struct Origin {
  uint64_t ts_ns = 0;
  uint32_t tid = 0;
  uint64_t py_ctx = 0;
};

// The workload identity every application series carries (service, later Kubernetes
// metadata). Interned by WorkloadTable: a pointer stays valid for the life of the table.
struct Workload {
  std::string service_name;
};

// What a statement's text says, computed once per distinct text and shared by every record
// of it (no per-query copy of the SQL or its normalized form).
struct SqlShape {
  std::string normalized;          // literals and parameters are "?"
  const char* query_type = "OTHER";  // SELECT, INSERT, ..., OTHER (static string)
  std::string relation;            // main table / called function; "" if none
};
using SqlShapeRef = std::shared_ptr<const SqlShape>;

inline double Seconds(uint64_t start_ns, uint64_t end_ns) {
  return end_ns > start_ns ? double(end_ns - start_ns) / 1e9 : 0.0;
}

// ---- from the HTTP server handler -------------------------------------------------------

// An inbound request's head was read.
struct RequestStart {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  uint64_t request_id = 0;  // unique in the process; pairs with the exchange / abandon
  uint64_t start_ns = 0;
  Origin origin;  // of its first byte
};

// The request's connection closed before it was answered.
struct RequestAbandoned {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  uint64_t request_id = 0;
};

// A response came with no request seen (we attached mid-request), or the request's head did
// not parse (counted, not guessed).
struct UnpairedResponse {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  int status = 0;
};

// A request and its final response.
struct HttpExchange {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  uint64_t request_id = 0;
  std::string_view method{};      // normalized: GET … PATCH, else OTHER
  std::string_view raw_method{};  // as sent
  std::string_view target{};      // raw request target (path + query): never exported as is
  int status = 0;
  uint64_t start_ns = 0;  // first request byte read
  uint64_t end_ns = 0;    // last response byte written
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  Origin first_write{};  // origin of the response's first byte
  // Request headers of interest ("" when absent or not kept) and body (kept only when the
  // request-context stage needs it).
  std::string_view content_type{}, x_request_id{}, traceparent{}, x_trace_id{};
  std::string_view body{};
  bool body_truncated = false;
  std::string_view jwt_sub{};  // --capture-identity only
  std::string_view response_content_type{}, response_content_encoding{};
  std::string_view response_body{};
  bool response_body_truncated = false;
};

// ---- from the PostgreSQL / Redis client handlers ----------------------------------------

enum class CacheOp : uint8_t { kNone, kGet, kSet, kDelete };
const char* CacheOpName(CacheOp op);  // "get" "set" "delete" ("" for none)

// One PostgreSQL statement execution.
struct DbCall {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  Origin origin{};     // of the message that started it
  SqlShapeRef shape{};  // null: text unknown (prepared before the capture)
  const char* query_type = "OTHER";
  std::string_view table{};  // the table_name label (capped per service), "none", "unknown"
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  bool error = false;
  std::string_view sqlstate{};  // errors only
  uint64_t rows = 0;
  bool from_uprobes = false;  // seen by libpq uprobes (TLS), not on the wire
  // FraiseQL's PostgreSQL cache table.
  CacheOp cache_op = CacheOp::kNone;
  uint32_t cache_hits = 0, cache_misses = 0;
  // --capture-identity only: what a SET LOCAL app.user_id / app.tenant_id set ("" if none).
  std::string_view user_id{}, tenant_id{};
  std::string_view statement() const;  // normalized text, or the unknown-statement marker
  double seconds() const { return Seconds(start_ns, end_ns); }
};

// One PostgreSQL transaction (ReadyForQuery idle → in transaction → idle).
struct DbTransaction {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
  bool committed = false;
};

// Open / active PostgreSQL connections per workload, at each tick (every workload ever seen,
// at 0 once its connections are gone).
struct DbPool {
  struct Entry {
    const Workload* workload = nullptr;
    size_t open = 0;
    size_t active = 0;  // in a transaction or with a statement in flight
  };
  std::vector<Entry> entries{};
};

// One Redis command and its reply.
struct RedisCall {
  uint32_t tgid = 0;
  const Workload* workload = nullptr;
  Origin origin{};
  std::string_view command{};  // label: upper-case name, "OTHER" for implausible ones
  const char* outcome = "success";  // success error unknown not_executed no_reply
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  bool error = false;
  CacheOp cache_op = CacheOp::kNone;
  uint32_t cache_hits = 0, cache_misses = 0;
  double seconds() const { return Seconds(start_ns, end_ns); }
};

// ---- from the correlator ----------------------------------------------------------------

// A call attributed exactly to a request (kept with the completed request).
struct Call {
  enum class Kind : uint8_t { kDb, kRedis };
  Kind kind = Kind::kDb;
  SqlShapeRef shape{};   // kDb (null: unknown text)
  std::string command{};  // kRedis: the command label
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  bool error = false;
  uint32_t cache_hits = 0;
  uint32_t cache_misses = 0;
  std::string user_id{};    // --capture-identity only
  std::string tenant_id{};
  std::string_view what() const;  // normalized statement, or the Redis command label
  double seconds() const { return Seconds(start_ns, end_ns); }
};

// One GraphQL operation of a request (a batch has several).
struct Operation {
  const char* type = "unknown";  // query mutation subscription unknown
  std::string name{};            // operation_name label (capped)
  std::vector<std::string> root_fields{};
  std::string mode{};              // execution mode label
  const char* outcome = "error"; // success partial error
  const char* apq = "none";      // none hit miss register mismatch
  uint32_t depth = 0, fields = 0;
  uint64_t complexity = 0;
  bool counted = true;  // an APQ miss is not an executed operation
};

// How completely the request's outbound calls are known.
enum class Attribution : uint8_t {
  kComplete,  // every call made while it was in flight was decided (exact or another's)
  kPartial,   // some calls made while it was in flight could not be decided (ambiguous)
  kNone,      // attribution is off, or no call could be decided
};
const char* AttributionName(Attribution a);  // complete partial none

// An answered request with everything the chain knows of it.
struct CompletedRequest {
  const HttpExchange* exchange = nullptr;
  std::string_view endpoint{};  // normalized, capped per service
  bool sampled = true;        // per-request work (GraphQL, request log) done
  bool graphql = false;       // a GraphQL request answered by a GraphQL response
  std::vector<Operation> operations{};
  std::vector<Call> calls{};  // exact only, in completion order
  Attribution attribution = Attribution::kNone;
  uint32_t ambiguous_calls = 0;  // calls while in flight that could not be decided
  // Normalized statements the request ran at least the N+1 threshold times (single-operation
  // GraphQL requests only), with their counts.
  std::vector<std::pair<std::string, uint32_t>> repeated{};
  double seconds() const { return Seconds(exchange->start_ns, exchange->end_ns); }
};

}  // namespace fraiseql::records
