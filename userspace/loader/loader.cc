#include "loader/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "capture.skel.h"
#include "loader/doctor.h"
#include "loader/ringbuf_source.h"

namespace fraiseql::loader {
namespace {

// Mirrors struct fql_conn_key in bpf/capture.bpf.c (map-internal, not part of the ABI).
struct ConnKey {
  uint32_t tgid;
  int32_t fd;
};
static_assert(sizeof(ConnKey) == 8);

// Programs a kernel may lack without breaking capture: syscalls that are only counted,
// and dup2 (absent on some architectures; it only invalidates a reused fd number).
const std::set<std::string> kOptionalPrograms = {"fql_enter_sendmmsg", "fql_enter_recvmmsg",
                                                 "fql_enter_sendfile64", "fql_enter_dup2",
                                                 "fql_enter_dup3"};

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n <= 0) return 0;
  std::string msg(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  switch (level) {
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", msg); break;
    case LIBBPF_INFO: spdlog::info("libbpf: {}", msg); break;
    default: spdlog::debug("libbpf: {}", msg); break;
  }
  return n;
}

void RouteLibbpfLogs() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(LibbpfPrint); });
}

bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Run time/count of one loaded program (zeros when the kernel does not report them).
ProgramStat StatOf(std::string name, int prog_fd) {
  ProgramStat st;
  st.name = std::move(name);
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0) {
    st.run_time_ns = info.run_time_ns;
    st.run_cnt = info.run_cnt;
  }
  return st;
}

}  // namespace

StatusOr<std::unique_ptr<Loader>> Loader::Open(const LoaderOptions& options) {
  RouteLibbpfLogs();
  if (Status s = CheckRequirements(); !s.ok()) return s;

  std::unique_ptr<Loader> loader(new Loader());
  // 1. open
  loader->skel_ = capture_bpf__open();
  if (loader->skel_ == nullptr) return Status::Errno("BPF: open skeleton", errno);
  // 2. configure rodata and map sizes (before load)
  if (Status s = loader->Configure(options); !s.ok()) return s;
  // 3. load (verifier)
  if (int err = capture_bpf__load(loader->skel_); err != 0) {
    return Status::Errno("BPF: load (verifier log above, at warn level)", -err);
  }
  if (loader->skel_->rodata->fql_abi_version != FQL_ABI_VERSION) {
    return Status::Error("BPF: ABI version mismatch between capture.bpf.o and events.h");
  }
  // 4. run-time stats (best effort; fd kept open while we live)
  loader->stats_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (loader->stats_fd_ < 0) {
    spdlog::info("BPF: run-time stats unavailable ({}); per-program run time will read 0",
                 std::strerror(errno));
  }
  // 5. attach every program
  if (Status s = loader->Attach(); !s.ok()) return s;
  spdlog::info("BPF: {} programs attached, capture_cap={} ringbuf={} bytes",
               loader->attached_.size(), options.capture_cap, options.ringbuf_bytes);
  return loader;
}

Status Loader::Configure(const LoaderOptions& options) {
  constexpr uint32_t kMaxCap = FQL_MAX_CHUNK * FQL_MAX_CHUNKS_PER_SYSCALL;
  if (options.capture_cap > kMaxCap) {
    return Status::Error("capture_cap " + std::to_string(options.capture_cap) +
                         " exceeds the maximum " + std::to_string(kMaxCap));
  }
  const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  if (!IsPowerOfTwo(options.ringbuf_bytes) || options.ringbuf_bytes < page) {
    return Status::Error("ringbuf_bytes " + std::to_string(options.ringbuf_bytes) +
                         " must be a power of two and at least the page size");
  }
  skel_->rodata->capture_cap = options.capture_cap;
  if (int err = bpf_map__set_max_entries(skel_->maps.fql_events, options.ringbuf_bytes)) {
    return Status::Errno("BPF: set ring buffer size", -err);
  }
  return Status::Ok();
}

Status Loader::Attach() {
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    const std::string name = bpf_program__name(prog);
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      const int err = errno;
      if (kOptionalPrograms.count(name) != 0) {
        spdlog::warn("BPF: optional program {} ({}) not attached: {}", name,
                     bpf_program__section_name(prog), std::strerror(err));
        continue;
      }
      return Status::Errno("BPF: attach " + name + " (" + bpf_program__section_name(prog) +
                               "); is tracefs mounted and the tracepoint present?",
                           err);
    }
    links_.push_back(link);
    attached_.push_back(name);
  }
  return Status::Ok();
}

Loader::~Loader() {
  python_.reset();
  libpq_.reset();
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
  links_.clear();
  capture_bpf__destroy(skel_);  // NULL-safe
  if (stats_fd_ >= 0) close(stats_fd_);
}

Status Loader::Watch(uint32_t tgid) {
  if (tgid == 0) return Status::Error("Watch: tgid 0 is not a process");
  if (tgid == static_cast<uint32_t>(getpid())) {
    return Status::Error("Watch: refusing to watch the collector itself");
  }
  const uint32_t one = 1;
  if (bpf_map__update_elem(skel_->maps.fql_watched, &tgid, sizeof(tgid), &one, sizeof(one),
                           BPF_ANY) != 0) {
    return Status::Errno("Watch " + std::to_string(tgid), errno);
  }
  return Status::Ok();
}

Status Loader::Unwatch(uint32_t tgid) {
  if (bpf_map__delete_elem(skel_->maps.fql_watched, &tgid, sizeof(tgid), 0) != 0 &&
      errno != ENOENT) {
    return Status::Errno("Unwatch " + std::to_string(tgid), errno);
  }
  bpf_map__delete_elem(skel_->maps.fql_py_procs, &tgid, sizeof(tgid), 0);  // if Python
  {
    std::lock_guard<std::mutex> lock(python_mu_);
    if (python_) python_->Detach(tgid);  // its per-process birth probes
  }
  // Drop the process's connection entries (collect first: deleting while iterating
  // restarts the walk on some kernels).
  std::vector<ConnKey> doomed;
  ConnKey key{}, next{};
  const ConnKey* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.fql_conns, prev, &next, sizeof(next)) == 0) {
    if (next.tgid == tgid) doomed.push_back(next);
    key = next;
    prev = &key;
  }
  for (const ConnKey& k : doomed) {
    bpf_map__delete_elem(skel_->maps.fql_conns, &k, sizeof(k), 0);
  }
  return Status::Ok();
}

std::vector<uint32_t> Loader::Watched() const {
  std::vector<uint32_t> out;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.fql_watched, prev, &next, sizeof(next)) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

std::array<uint64_t, FQL_CNT_MAX> Loader::ReadCounters() const {
  std::array<uint64_t, FQL_CNT_MAX> sums{};
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sums;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t i = 0; i < FQL_CNT_MAX; ++i) {
    if (bpf_map__lookup_elem(skel_->maps.fql_stats, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0) {
      continue;
    }
    for (uint64_t v : per_cpu) sums[i] += v;
  }
  return sums;
}

StatusOr<std::unique_ptr<source::EventSource>> Loader::MakeEventSource() {
  ASSIGN_OR_RETURN(auto src, RingBufferSource::Create(bpf_map__fd(skel_->maps.fql_events)));
  return std::unique_ptr<source::EventSource>(std::move(src));
}

std::vector<ProgramStat> Loader::ProgramStats() const {
  std::vector<ProgramStat> out;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    out.push_back(StatOf(bpf_program__name(prog), bpf_program__fd(prog)));
  }
  {
    std::lock_guard<std::mutex> lock(python_mu_);
    if (python_) {
      for (const auto& [name, fd] : python_->Programs()) out.push_back(StatOf(name, fd));
    }
  }
  std::lock_guard<std::mutex> lock(libpq_mu_);
  if (libpq_) {
    for (const auto& [name, fd] : libpq_->Programs()) out.push_back(StatOf(name, fd));
  }
  return out;
}

Status Loader::AttachLibpq(uint32_t tgid) {
  if (tgid == static_cast<uint32_t>(getpid())) {
    return Status::Error("AttachLibpq: refusing to probe the collector itself");
  }
  std::lock_guard<std::mutex> lock(libpq_mu_);
  if (libpq_ == nullptr) {
    auto p = LibpqProbes::Load(bpf_map__fd(skel_->maps.fql_watched),
                               bpf_map__fd(skel_->maps.fql_events),
                               bpf_map__fd(skel_->maps.fql_stats));
    if (!p.ok()) return p.status();
    libpq_ = std::move(p.value());
  }
  return libpq_->Attach(tgid);
}

std::vector<std::string> Loader::LibpqAttachments() const {
  std::vector<std::string> out;
  for (const LibpqLibrary& l : LibpqLibraries()) out.push_back(l.path);
  return out;
}

std::vector<LibpqLibrary> Loader::LibpqLibraries() const {
  std::lock_guard<std::mutex> lock(libpq_mu_);
  return libpq_ ? libpq_->Libraries() : std::vector<LibpqLibrary>{};
}

size_t Loader::LibpqLinkCount() const {
  std::lock_guard<std::mutex> lock(libpq_mu_);
  return libpq_ ? libpq_->LinkCount() : 0;
}

void Loader::DetachLibpq() {
  std::lock_guard<std::mutex> lock(libpq_mu_);
  if (libpq_) libpq_->DetachAll();
}

Status Loader::WatchPython(uint32_t tgid, const PythonTarget& target, PyBirthHook hook) {
  if (tgid == 0 || tgid == static_cast<uint32_t>(getpid())) {
    return Status::Error("WatchPython: refusing tgid " + std::to_string(tgid));
  }
  std::lock_guard<std::mutex> lock(python_mu_);
  if (python_ == nullptr) {
    auto p = PythonProbes::Load({bpf_map__fd(skel_->maps.fql_watched),
                                 bpf_map__fd(skel_->maps.fql_events),
                                 bpf_map__fd(skel_->maps.fql_stats),
                                 bpf_map__fd(skel_->maps.fql_py_procs),
                                 bpf_map__fd(skel_->maps.fql_py_tstate)});
    if (!p.ok()) return p.status();
    python_ = std::move(p.value());
  }
  // Config first: births seen by an already-attached probe are then emitted at once.
  const fql_py_proc cfg = target.ToConfig();
  if (bpf_map__update_elem(skel_->maps.fql_py_procs, &tgid, sizeof(tgid), &cfg, sizeof(cfg),
                           BPF_ANY) != 0) {
    return Status::Errno("WatchPython " + std::to_string(tgid), errno);
  }
  if (Status s = python_->Attach(tgid, target, hook); !s.ok()) {
    bpf_map__delete_elem(skel_->maps.fql_py_procs, &tgid, sizeof(tgid), 0);
    return s;
  }
  return Status::Ok();
}

void Loader::UnwatchPython(uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.fql_py_procs, &tgid, sizeof(tgid), 0);
  std::lock_guard<std::mutex> lock(python_mu_);
  if (python_) python_->Detach(tgid);
}

std::vector<uint64_t> Loader::PythonSiteHits() const {
  std::lock_guard<std::mutex> lock(python_mu_);
  return python_ ? python_->SiteHits() : std::vector<uint64_t>();
}

Loader::PythonStatus Loader::PythonState() const {
  PythonStatus st;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.fql_py_procs, prev, &next, sizeof(next)) == 0) {
    ++st.targets;
    key = next;
    prev = &key;
  }
  std::lock_guard<std::mutex> lock(python_mu_);
  if (python_) st.probes = python_->Files();
  return st;
}

void Loader::DetachPython() {
  std::lock_guard<std::mutex> lock(python_mu_);
  if (python_) python_->DetachAll();
}

}  // namespace fraiseql::loader
