#include "source/event_builder.h"

#include <algorithm>
#include <cstring>

namespace fraiseql::source {

namespace {

template <typename T>
Record Bytes(const T& s, std::string_view payload = {}) {
  Record r(sizeof(T) + payload.size());
  std::memcpy(r.data(), &s, sizeof(T));
  if (!payload.empty()) std::memcpy(r.data() + sizeof(T), payload.data(), payload.size());
  return r;
}

fql_event_header Header(uint32_t kind, uint32_t tgid, int32_t fd, uint64_t gen, uint64_t ts) {
  fql_event_header h{};
  h.kind = kind;
  h.tgid = tgid;
  h.tid = tgid;
  h.fd = fd;
  h.gen = gen;
  h.ts_ns = ts;
  return h;
}

}  // namespace

Record EventBuilder::Open(const Conn& c, uint16_t role, uint16_t lport, uint16_t rport,
                          uint64_t ts_ns, bool preexisting) const {
  fql_conn_event e{};
  e.h = Header(FQL_EV_CONN_OPEN, c.tgid, c.fd, c.gen, ts_ns);
  e.family = 2;  // AF_INET
  e.role = role;
  e.lport = lport;
  e.rport = rport;
  const uint8_t loopback[4] = {127, 0, 0, 1};
  std::memcpy(e.laddr, loopback, 4);
  std::memcpy(e.raddr, loopback, 4);
  e.flags = preexisting ? FQL_CONN_F_PREEXISTING : 0;
  return Bytes(e);
}

Record EventBuilder::Close(const Conn& c, uint64_t ts_ns, uint64_t bytes_in,
                           uint64_t bytes_out) const {
  fql_conn_event e{};
  e.h = Header(FQL_EV_CONN_CLOSE, c.tgid, c.fd, c.gen, ts_ns);
  e.family = 2;
  e.bytes_in = bytes_in;
  e.bytes_out = bytes_out;
  return Bytes(e);
}

Record EventBuilder::Data(const Conn& c, uint8_t dir, uint64_t pos, std::string_view data,
                          uint32_t orig_size, uint64_t ts_ns, uint16_t syscall) const {
  fql_data_event e{};
  e.h = Header(FQL_EV_DATA, c.tgid, c.fd, c.gen, ts_ns);
  e.pos = pos;
  e.orig_size = std::max<uint32_t>(orig_size, uint32_t(data.size()));
  e.copied = uint32_t(data.size());
  e.syscall_total = e.orig_size;
  e.syscall = syscall ? syscall
                      : uint16_t(dir == FQL_DIR_INGRESS ? FQL_SYS_RECVFROM : FQL_SYS_SENDTO);
  e.dir = dir;
  e.flags = e.copied < e.orig_size ? FQL_DATA_F_TRUNCATED : 0;
  return Bytes(e, data);
}

Record EventBuilder::Proc(uint32_t kind, uint32_t tgid, uint32_t ppid, uint64_t ts_ns,
                          std::string_view comm) const {
  fql_proc_event e{};
  e.h = Header(kind, tgid, -1, 0, ts_ns);
  e.ppid = ppid;
  std::memcpy(e.comm, comm.data(), std::min(comm.size(), sizeof(e.comm) - 1));
  return Bytes(e);
}

void StreamWriter::Syscall(uint8_t dir, std::string_view bytes, uint64_t ts_ns,
                           std::vector<Record>* out) {
  uint64_t start = pos_[dir];
  pos_[dir] += bytes.size();
  size_t off = 0;
  size_t copied_total = 0;
  while (off < bytes.size() && copied_total < cap_) {
    size_t n = std::min<size_t>({FQL_MAX_CHUNK, bytes.size() - off, cap_ - copied_total});
    auto r = b_.Data(conn_, dir, start + off, bytes.substr(off, n), uint32_t(n), ts_ns);
    out->push_back(std::move(r));
    off += n;
    copied_total += n;
  }
  if (off < bytes.size()) {  // beyond the cap: positions only
    out->push_back(b_.Data(conn_, dir, start + off, {}, uint32_t(bytes.size() - off), ts_ns));
  }
  // syscall_total is the whole syscall's size on every chunk.
  for (size_t i = out->size(); i-- > 0;) {
    auto* e = reinterpret_cast<fql_data_event*>((*out)[i].data());
    if (e->h.kind != FQL_EV_DATA || e->pos < start || e->pos >= start + bytes.size()) break;
    e->syscall_total = uint32_t(bytes.size());
  }
}

}  // namespace fraiseql::source
