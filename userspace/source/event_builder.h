// Builds raw ring-buffer records exactly as the kernel writes them (include/fraiseql/abi),
// for tests, benchmarks and replay fixtures: the whole userspace pipeline runs on them
// without a kernel.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "fraiseql/abi/events.h"

namespace fraiseql::source {

using Record = std::vector<uint8_t>;

class EventBuilder {
 public:
  struct Conn {
    uint32_t tgid;
    int32_t fd;
    uint64_t gen;
  };

  // AF_INET loopback; lport/rport in host order.
  Record Open(const Conn& c, uint16_t role, uint16_t lport, uint16_t rport, uint64_t ts_ns,
              bool preexisting = false) const;
  Record Close(const Conn& c, uint64_t ts_ns, uint64_t bytes_in = 0, uint64_t bytes_out = 0) const;
  // One data event: `data` are the copied bytes, orig_size >= data.size() the bytes moved.
  Record Data(const Conn& c, uint8_t dir, uint64_t pos, std::string_view data, uint32_t orig_size,
              uint64_t ts_ns, uint16_t syscall = 0) const;
  Record Proc(uint32_t kind, uint32_t tgid, uint32_t ppid, uint64_t ts_ns,
              std::string_view comm = "python3") const;
};

// Tracks per-connection stream positions so tests can write "the next bytes" and get the
// same chunking/truncation the kernel applies for a capture cap.
class StreamWriter {
 public:
  StreamWriter(EventBuilder::Conn conn, uint32_t capture_cap = FQL_DEFAULT_CAPTURE_CAP)
      : conn_(conn), cap_(capture_cap) {}
  // One syscall moving `bytes`: chunks of FQL_MAX_CHUNK up to the cap, then one truncated
  // event for the rest — like bpf/capture.bpf.c.
  void Syscall(uint8_t dir, std::string_view bytes, uint64_t ts_ns, std::vector<Record>* out);
  // Positions advance as if `n` bytes moved but their events were lost.
  void Lose(uint8_t dir, uint64_t n) { pos_[dir] += n; }
  uint64_t pos(uint8_t dir) const { return pos_[dir]; }

 private:
  EventBuilder::Conn conn_;
  uint32_t cap_;
  uint64_t pos_[2] = {0, 0};
  EventBuilder b_;
};

}  // namespace fraiseql::source
