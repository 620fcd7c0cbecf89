// Typed events decoded from raw ring-buffer records (include/fraiseql/abi/events.h).
// Payload views point into the record and are valid only while the record is.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "fraiseql/abi/events.h"

namespace fraiseql {

enum class Direction : uint8_t { kIngress = FQL_DIR_INGRESS, kEgress = FQL_DIR_EGRESS };
enum class ConnRole : uint8_t {
  kUnknown = FQL_ROLE_UNKNOWN,
  kServer = FQL_ROLE_SERVER,
  kClient = FQL_ROLE_CLIENT,
};

// One tracked socket: the generation makes (tgid, fd) unique across fd reuse.
struct ConnKey {
  uint32_t tgid = 0;
  int32_t fd = -1;
  uint64_t gen = 0;
  bool operator==(const ConnKey&) const = default;
  std::string ToString() const;
};

struct ConnKeyHash {
  size_t operator()(const ConnKey& k) const {
    return std::hash<uint64_t>()((uint64_t{k.tgid} << 32) ^ uint32_t(k.fd)) ^
           std::hash<uint64_t>()(k.gen * 0x9E3779B97F4A7C15ull);
  }
};

struct DataEvent {
  ConnKey conn;
  uint32_t tid = 0;
  uint64_t ts_ns = 0;
  uint64_t pos = 0;
  uint32_t orig_size = 0;
  uint32_t syscall_total = 0;
  uint16_t syscall = 0;
  Direction dir = Direction::kIngress;
  uint8_t flags = 0;
  // PyContext* current on the thread at the syscall (asyncio task attribution); 0 when
  // the process is not a configured Python target or it could not be read.
  uint64_t py_ctx = 0;
  std::string_view data;  // copied bytes (<= orig_size)
  std::string ToString() const;
};

struct ConnEvent {
  enum class Kind : uint8_t { kOpen, kClose };
  Kind kind = Kind::kOpen;
  ConnKey conn;
  uint32_t tid = 0;
  uint64_t ts_ns = 0;
  uint16_t family = 0;
  ConnRole role = ConnRole::kUnknown;
  uint16_t lport = 0;
  uint16_t rport = 0;
  std::array<uint8_t, 16> laddr{};
  std::array<uint8_t, 16> raddr{};
  bool preexisting = false;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string LocalAddress() const;   // "127.0.0.1:8000" / "[::1]:8000"
  std::string RemoteAddress() const;
  std::string ToString() const;
};

struct ProcEvent {
  enum class Kind : uint8_t { kFork, kExec, kExit };
  Kind kind = Kind::kExec;
  uint32_t tgid = 0;
  uint32_t ppid = 0;
  uint64_t ts_ns = 0;
  std::string comm;
  std::string ToString() const;
};

// A libpq call or result seen by the uprobes (bpf/libpq.bpf.c); see fql_pq_event.
struct PqEvent {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  int32_t fd = -1;  // the PGconn's socket, -1 when unknown
  uint64_t ts_ns = 0;
  uint64_t conn_ptr = 0;
  uint16_t fn = 0;  // enum fql_pq_fn
  uint16_t flags = 0;
  int32_t nparams = 0;
  int32_t result_status = -1;
  int32_t ntuples = 0;
  std::string_view text;  // CALL: SQL (views into the record)
  std::string sqlstate;
  std::string stmt_name;
  std::string cmd_status;
  bool is_result() const { return (flags & FQL_PQ_F_RESULT) != 0; }
  std::string ToString() const;
};

// A CPython context was born (PyContext_CopyCurrent returned; see fql_py_ctx_event): child
// was copied from parent (0 = none or unreadable). An address seen again in a birth starts
// a new life (contexts are freed and their memory reused).
struct PyCtxEvent {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint64_t ts_ns = 0;
  uint64_t parent = 0;
  uint64_t child = 0;
  std::string ToString() const;
};

using Event = std::variant<DataEvent, ConnEvent, ProcEvent, PqEvent, PyCtxEvent>;

const char* SyscallName(uint16_t syscall);

}  // namespace fraiseql
