// Owns the BPF skeleton (bpf/capture.bpf.c): open -> configure rodata and map sizes ->
// load -> attach every program, with everything freed on every path. The only module
// that touches libbpf.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "fraiseql/abi/events.h"
#include "source/event_source.h"

struct capture_bpf;   // generated skeleton (capture.skel.h), private to loader.cc
struct bpf_link;

namespace fraiseql::loader {

struct LoaderOptions {
  // Bytes copied per syscall; rest is reported as truncated. <= FQL_MAX_CHUNK *
  // FQL_MAX_CHUNKS_PER_SYSCALL.
  uint32_t capture_cap = FQL_DEFAULT_CAPTURE_CAP;
  // Ring buffer size: a power of two multiple of the page size.
  uint32_t ringbuf_bytes = 16u << 20;
};

struct ProgramStat {
  std::string name;
  uint64_t run_time_ns = 0;  // 0 unless run-time stats could be enabled
  uint64_t run_cnt = 0;
};

class Loader {
 public:
  static StatusOr<std::unique_ptr<Loader>> Open(const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Adds/removes a process (TGID) to/from the kernel-side filter. Unwatch also drops the
  // process's tracked connections.
  Status Watch(uint32_t tgid);
  Status Unwatch(uint32_t tgid);
  std::vector<uint32_t> Watched() const;

  // Kernel counters (enum fql_counter), summed over CPUs.
  std::array<uint64_t, FQL_CNT_MAX> ReadCounters() const;
  // Names of the attached programs.
  const std::vector<std::string>& Attached() const { return attached_; }
  // A ring-buffer source over this loader's event map. It holds its own map fd, so it
  // stays valid if it outlives the Loader (it then just stops receiving records).
  std::unique_ptr<source::EventSource> MakeEventSource();
  // Per-program run time/count (kernel.bpf_stats_enabled, enabled via BPF_ENABLE_STATS).
  std::vector<ProgramStat> ProgramStats() const;
  bool RunTimeStatsEnabled() const { return stats_fd_ >= 0; }

 private:
  Loader() = default;
  Status Configure(const LoaderOptions& options);
  Status Attach();

  capture_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<std::string> attached_;
  int stats_fd_ = -1;
};

}  // namespace fraiseql::loader
