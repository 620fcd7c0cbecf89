// Owns the BPF skeleton (bpf/capture.bpf.c): open -> configure rodata and map sizes ->
// load -> attach every program, with everything freed on every path. The only module
// that touches libbpf.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "fraiseql/abi/events.h"
#include "loader/libpq_probes.h"
#include "loader/python_probes.h"
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
  // process's tracked connections and its Python config (UnwatchPython).
  Status Watch(uint32_t tgid);
  Status Unwatch(uint32_t tgid);
  std::vector<uint32_t> Watched() const;

  // Kernel counters (enum fql_counter), summed over CPUs.
  std::array<uint64_t, FQL_CNT_MAX> ReadCounters() const;
  // Names of the attached programs.
  const std::vector<std::string>& Attached() const { return attached_; }
  // A ring-buffer source over this loader's event map. It holds its own map fd, so it
  // stays valid if it outlives the Loader (it then just stops receiving records). Fails
  // (never null) when the fd cannot be duplicated or libbpf cannot set up the ring
  // (EMFILE, ENOMEM).
  [[nodiscard]] StatusOr<std::unique_ptr<source::EventSource>> MakeEventSource();
  // Per-program run time/count (kernel.bpf_stats_enabled, enabled via BPF_ENABLE_STATS);
  // includes the fql_pq_* programs once AttachLibpq has loaded them.
  std::vector<ProgramStat> ProgramStats() const;
  bool RunTimeStatsEnabled() const { return stats_fd_ >= 0; }

  // ---- libpq uprobes (bpf/libpq.bpf.c; records: FQL_EV_PQ_CALL, struct fql_pq_event) ----
  // Finds every libpq the process maps (/proc/PID/maps: a file whose basename is "libpq"
  // followed by '.' or '-' and contains ".so": the system libpq.so.5 or psycopg_binary.libs/
  // libpq-<hash>.so.5.x) and attaches the probes to each library FILE, once per (dev, inode):
  // uprobes are per inode and fire in every process mapping it (pid -1), so a second process
  // mapping an attached libpq costs nothing here. Events are still emitted only for watched
  // TGIDs (Watch): call Watch too. The BPF object is loaded on the first call.
  // Probes (entry unless noted): PQsendQuery, PQsendQueryParams, PQsendPrepare,
  // PQsendQueryPrepared, PQexec(+return), PQexecParams(+return), PQprepare(+return),
  // PQexecPrepared(+return), PQgetResult(+return). Functions a libpq build does not export
  // are skipped (debug log, LibpqLibrary::missing).
  // Cost: every hit of a probed function in ANY process mapping the library traps (~6 us
  // here; ~5 traps per psycopg query), so attach only where the wire is TLS or when asked.
  // Returns an error when the process maps no libpq (it may dlopen it later: call again),
  // or naming each probe that failed to attach (the others stay attached and the library
  // counts as attached). A process that loads libpq later needs another call.
  // Thread-safe (the libpq methods below may be called from any thread).
  Status AttachLibpq(uint32_t tgid);
  // One entry per attached library file: its path as mapped in the process it was attached
  // through, e.g. "/usr/lib/x86_64-linux-gnu/libpq.so.5.15".
  std::vector<std::string> LibpqAttachments() const;
  // Details per attached library (identity, probes attached / missing / failed, the
  // PGconn.sock offset used to fill fql_event_header.fd).
  std::vector<LibpqLibrary> LibpqLibraries() const;
  // bpf_links held for libpq probes (all libraries).
  size_t LibpqLinkCount() const;
  // Detaches every libpq probe and forgets the libraries (a later AttachLibpq re-attaches).
  void DetachLibpq();

  // ---- CPython contexts (bpf/python.bpf.[ch]; docs/python-contexts.md) -------------------
  // Makes tgid a Python target: writes its fql_py_procs entry (so its data events carry
  // py_ctx) and attaches its context-birth probe(s), per process (pid = tgid: other
  // processes running the same python or _asyncio never trap). The BPF object is loaded on
  // the first call. `target` comes from DetectPython(tgid) — or from DetectPython of the
  // process tgid was forked from (same image). Data events still need Watch(tgid).
  // Birth probe (PythonState().probes[].mode), with hook = kAuto:
  //  - "task-uprobe": one plain uprobe per Task-creation call site of the C _asyncio
  //    module (FindAsyncioTaskSites: the instruction after task_init's
  //    `call PyContext_CopyCurrent@plt`): one trap per Task, none per Handle/call_soon;
  //  - "uretprobe" fallback when the process maps no _asyncio*.so (asyncio not imported
  //    yet, or built in) or no call site is found: PyContext_CopyCurrent%return, every
  //    context copy (two traps). Calling WatchPython again later (e.g. once asyncio is
  //    imported) upgrades the tgid to "task-uprobe".
  // Forks: the kernel copies the fql_py_procs entry to forked children (dropped at exec and
  // exit), but per-process uprobes do NOT follow a fork: call WatchPython(child, target)
  // for each forked child (gunicorn/uvicorn workers) to get its births; until then the
  // child's data events carry py_ctx but its Tasks have no birth event.
  // Calling it again for an attached tgid in the same mode is a cheap no-op. Thread-safe.
  Status WatchPython(uint32_t tgid, const PythonTarget& target,
                     PyBirthHook hook = PyBirthHook::kAuto);
  // Drops tgid's entry (its events carry py_ctx 0 from now on) and detaches its probes.
  void UnwatchPython(uint32_t tgid);
  struct PythonStatus {
    size_t targets = 0;                  // fql_py_procs entries (incl. forked children)
    std::vector<PythonProbeFile> probes; // one per attached tgid
  };
  PythonStatus PythonState() const;
  // Hits per _asyncio call-site index (bpf cookie = index into AsyncioSites::all), summed
  // over every watched process since load (diagnostics; empty before the first WatchPython).
  std::vector<uint64_t> PythonSiteHits() const;
  // Detaches every birth probe (a later WatchPython re-attaches).
  void DetachPython();

 private:
  Loader() = default;
  Status Configure(const LoaderOptions& options);
  Status Attach();

  mutable std::mutex python_mu_;           // guards python_
  std::unique_ptr<PythonProbes> python_;  // loaded on the first WatchPython
  mutable std::mutex libpq_mu_;         // guards libpq_ (AttachLibpq may run on any thread)
  std::unique_ptr<LibpqProbes> libpq_;  // loaded on the first AttachLibpq
  capture_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<std::string> attached_;
  int stats_fd_ = -1;
};

}  // namespace fraiseql::loader
