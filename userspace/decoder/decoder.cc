#include "decoder/decoder.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

#include <fmt/format.h>

namespace fraiseql {

// ABI drift breaks the build, not the runtime.
static_assert(sizeof(fql_event_header) == 32);
static_assert(offsetof(fql_event_header, gen) == 16);
static_assert(offsetof(fql_event_header, ts_ns) == 24);
static_assert(sizeof(fql_data_event) == 64);
static_assert(offsetof(fql_data_event, pos) == 32);
static_assert(offsetof(fql_data_event, orig_size) == 40);
static_assert(offsetof(fql_data_event, copied) == 44);
static_assert(offsetof(fql_data_event, syscall_total) == 48);
static_assert(offsetof(fql_data_event, syscall) == 52);
static_assert(offsetof(fql_data_event, dir) == 54);
static_assert(offsetof(fql_data_event, flags) == 55);
static_assert(offsetof(fql_data_event, py_ctx) == 56);
static_assert(sizeof(fql_data_event) % 8 == 0);
static_assert(sizeof(fql_py_ctx_event) == 48);
static_assert(offsetof(fql_py_ctx_event, parent) == 32);
static_assert(offsetof(fql_py_ctx_event, child) == 40);
static_assert(sizeof(fql_py_proc) == 32);
static_assert(offsetof(fql_py_proc, runtime_interp_main) == 8);
static_assert(offsetof(fql_py_proc, tstate_context) == 24);
static_assert(offsetof(fql_py_proc, flags) == 28);
static_assert(FQL_CNT_PY_TSTATE_MISS < FQL_CNT_MAX);
static_assert(sizeof(fql_conn_event) == 96);
static_assert(offsetof(fql_conn_event, laddr) == 40);
static_assert(offsetof(fql_conn_event, bytes_in) == 80);
static_assert(sizeof(fql_proc_event) == 56);
static_assert(sizeof(fql_pq_event) == 200);
static_assert(offsetof(fql_pq_event, conn_ptr) == 32);
static_assert(offsetof(fql_pq_event, fn) == 40);
static_assert(offsetof(fql_pq_event, text_len) == 48);
static_assert(offsetof(fql_pq_event, result_status) == 56);
static_assert(offsetof(fql_pq_event, sqlstate) == 64);
static_assert(offsetof(fql_pq_event, stmt_name) == 72);
static_assert(offsetof(fql_pq_event, cmd_status) == 136);

namespace {

template <typename T>
bool ReadStruct(std::span<const uint8_t> record, T* out) {
  if (record.size() < sizeof(T)) return false;
  std::memcpy(out, record.data(), sizeof(T));
  return true;
}

ConnKey KeyOf(const fql_event_header& h) {
  return ConnKey{h.tgid, h.fd, h.gen};
}

std::string FormatAddress(uint16_t family, const std::array<uint8_t, 16>& addr, uint16_t port) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr.data(), buf, sizeof(buf));
    return fmt::format("{}:{}", buf, port);
  }
  if (family == AF_INET6) {
    inet_ntop(AF_INET6, addr.data(), buf, sizeof(buf));
    return fmt::format("[{}]:{}", buf, port);
  }
  return fmt::format("?:{}", port);
}

// One record kind each: validate, fill *out on success only.

// FQL_EV_DATA: stream bytes, the payload viewed in place (not copied).
DecodeError DecodeData(const fql_event_header& h, std::span<const uint8_t> record,
                       Event* out) {
  fql_data_event d;
  if (!ReadStruct(record, &d)) return DecodeError::kTooShort;
  if (d.copied > d.orig_size || record.size() - sizeof(d) != d.copied ||
      d.dir > FQL_DIR_EGRESS || d.syscall >= FQL_SYS_COUNT) {
    return DecodeError::kBadLength;
  }
  DataEvent e;
  e.conn = KeyOf(h);
  e.tid = h.tid;
  e.ts_ns = h.ts_ns;
  e.pos = d.pos;
  e.orig_size = d.orig_size;
  e.syscall_total = d.syscall_total;
  e.syscall = d.syscall;
  e.dir = static_cast<Direction>(d.dir);
  e.flags = d.flags;
  e.py_ctx = d.py_ctx;
  e.data = std::string_view(reinterpret_cast<const char*>(record.data() + sizeof(d)),
                            d.copied);
  *out = e;
  return DecodeError::kNone;
}

// FQL_EV_CONN_OPEN / FQL_EV_CONN_CLOSE.
DecodeError DecodeConn(const fql_event_header& h, std::span<const uint8_t> record,
                       Event* out) {
  fql_conn_event c;
  if (!ReadStruct(record, &c)) return DecodeError::kTooShort;
  if (c.role > FQL_ROLE_CLIENT) return DecodeError::kBadLength;
  ConnEvent e;
  e.kind = h.kind == FQL_EV_CONN_OPEN ? ConnEvent::Kind::kOpen : ConnEvent::Kind::kClose;
  e.conn = KeyOf(h);
  e.tid = h.tid;
  e.ts_ns = h.ts_ns;
  e.family = c.family;
  e.role = static_cast<ConnRole>(c.role);
  e.lport = c.lport;
  e.rport = c.rport;
  std::memcpy(e.laddr.data(), c.laddr, 16);
  std::memcpy(e.raddr.data(), c.raddr, 16);
  e.preexisting = (c.flags & FQL_CONN_F_PREEXISTING) != 0;
  e.bytes_in = c.bytes_in;
  e.bytes_out = c.bytes_out;
  *out = e;
  return DecodeError::kNone;
}

// FQL_EV_PROC_FORK / FQL_EV_PROC_EXEC / FQL_EV_PROC_EXIT.
DecodeError DecodeProc(const fql_event_header& h, std::span<const uint8_t> record,
                       Event* out) {
  fql_proc_event p;
  if (!ReadStruct(record, &p)) return DecodeError::kTooShort;
  ProcEvent e;
  e.kind = h.kind == FQL_EV_PROC_FORK   ? ProcEvent::Kind::kFork
           : h.kind == FQL_EV_PROC_EXEC ? ProcEvent::Kind::kExec
                                        : ProcEvent::Kind::kExit;
  e.tgid = h.tgid;
  e.ppid = p.ppid;
  e.ts_ns = h.ts_ns;
  e.comm.assign(p.comm, strnlen(p.comm, sizeof(p.comm)));
  *out = e;
  return DecodeError::kNone;
}

// FQL_EV_PQ_CALL: a libpq call or result, its text viewed in place (not copied).
DecodeError DecodePq(const fql_event_header& h, std::span<const uint8_t> record,
                     Event* out) {
  fql_pq_event q;
  if (!ReadStruct(record, &q)) return DecodeError::kTooShort;
  if (q.text_len >= FQL_PQ_MAX_TEXT || record.size() - sizeof(q) != q.text_len ||
      q.fn == 0 || q.fn >= FQL_PQ_FN_COUNT) {
    return DecodeError::kBadLength;
  }
  PqEvent e;
  e.tgid = h.tgid;
  e.tid = h.tid;
  e.fd = h.fd;
  e.ts_ns = h.ts_ns;
  e.conn_ptr = q.conn_ptr;
  e.fn = q.fn;
  e.flags = q.flags;
  e.nparams = q.nparams;
  e.result_status = q.result_status;
  e.ntuples = q.ntuples;
  e.text = std::string_view(reinterpret_cast<const char*>(record.data() + sizeof(q)),
                            q.text_len);
  e.sqlstate.assign(q.sqlstate, strnlen(q.sqlstate, sizeof(q.sqlstate)));
  e.stmt_name.assign(q.stmt_name, strnlen(q.stmt_name, sizeof(q.stmt_name)));
  e.cmd_status.assign(q.cmd_status, strnlen(q.cmd_status, sizeof(q.cmd_status)));
  *out = e;
  return DecodeError::kNone;
}

// FQL_EV_PY_CTX.
DecodeError DecodePyCtx(const fql_event_header& h, std::span<const uint8_t> record,
                        Event* out) {
  fql_py_ctx_event p;
  if (!ReadStruct(record, &p)) return DecodeError::kTooShort;
  if (record.size() != sizeof(p) || p.child == 0) return DecodeError::kBadLength;
  PyCtxEvent e;
  e.tgid = h.tgid;
  e.tid = h.tid;
  e.ts_ns = h.ts_ns;
  e.parent = p.parent;
  e.child = p.child;
  *out = e;
  return DecodeError::kNone;
}

}  // namespace

const char* DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kNone: return "none";
    case DecodeError::kTooShort: return "too_short";
    case DecodeError::kUnknownKind: return "unknown_kind";
    case DecodeError::kBadLength: return "bad_length";
    case DecodeError::kCount: break;
  }
  return "unknown";
}

const char* SyscallName(uint16_t syscall) {
  static constexpr const char* kNames[FQL_SYS_COUNT] = {
      "none",    "read",     "write",    "readv",   "writev", "recvfrom",
      "sendto",  "recvmsg",  "sendmsg",  "recvmmsg", "sendmmsg", "sendfile",
      "accept",  "accept4",  "connect",  "close"};
  return syscall < FQL_SYS_COUNT ? kNames[syscall] : "unknown";
}

std::string ConnKey::ToString() const { return fmt::format("{}/{}#{}", tgid, fd, gen); }

std::string DataEvent::ToString() const {
  return fmt::format("data {} {} {} pos={} orig={} copied={} total={} flags={:#x} ts={}{}",
                     conn.ToString(), dir == Direction::kIngress ? "in" : "out",
                     SyscallName(syscall), pos, orig_size, data.size(), syscall_total, flags,
                     ts_ns, py_ctx ? fmt::format(" py_ctx={:#x}", py_ctx) : "");
}

std::string PyCtxEvent::ToString() const {
  return fmt::format("py_ctx tgid={} tid={} parent={:#x} child={:#x} ts={}", tgid, tid, parent,
                     child, ts_ns);
}

std::string ConnEvent::LocalAddress() const { return FormatAddress(family, laddr, lport); }
std::string ConnEvent::RemoteAddress() const { return FormatAddress(family, raddr, rport); }

std::string ConnEvent::ToString() const {
  static constexpr const char* kRoles[] = {"unknown", "server", "client"};
  return fmt::format("{} {} role={} {} -> {}{} in={} out={}",
                     kind == Kind::kOpen ? "open" : "close", conn.ToString(),
                     kRoles[static_cast<int>(role) % 3], LocalAddress(), RemoteAddress(),
                     preexisting ? " preexisting" : "", bytes_in, bytes_out);
}

std::string ProcEvent::ToString() const {
  static constexpr const char* kKinds[] = {"fork", "exec", "exit"};
  return fmt::format("proc {} tgid={} ppid={} comm={}", kKinds[static_cast<int>(kind)], tgid,
                     ppid, comm);
}

std::string PqEvent::ToString() const {
  return fmt::format("pq {} tgid={} fd={} conn={:#x} fn={} flags={:#x} status={} rows={} "
                     "stmt={} cmd={} sqlstate={} text_len={}",
                     is_result() ? "result" : "call", tgid, fd, conn_ptr, fn, flags,
                     result_status, ntuples, stmt_name, cmd_status, sqlstate, text.size());
}

DecodeError Decoder::Decode(std::span<const uint8_t> record, Event* out) {
  fql_event_header h;
  DecodeError e = DecodeError::kTooShort;
  if (ReadStruct(record, &h)) {
    switch (h.kind) {
      case FQL_EV_DATA:
        e = DecodeData(h, record, out);
        break;
      case FQL_EV_CONN_OPEN:
      case FQL_EV_CONN_CLOSE:
        e = DecodeConn(h, record, out);
        break;
      case FQL_EV_PROC_FORK:
      case FQL_EV_PROC_EXEC:
      case FQL_EV_PROC_EXIT:
        e = DecodeProc(h, record, out);
        break;
      case FQL_EV_PQ_CALL:
        e = DecodePq(h, record, out);
        break;
      case FQL_EV_PY_CTX:
        e = DecodePyCtx(h, record, out);
        break;
      default:
        e = DecodeError::kUnknownKind;
        break;
    }
  }
  if (e != DecodeError::kNone) {
    ++errors_[static_cast<size_t>(e)];
    return e;
  }
  ++decoded_;
  return DecodeError::kNone;
}

}  // namespace fraiseql
