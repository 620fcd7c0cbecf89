#include "app/run.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "correlator/pipeline.h"
#include "exporter/server.h"
#include "loader/doctor.h"
#include "loader/loader.h"
#include "metrics/registry.h"
#include "source/replay_source.h"

namespace fraiseql::app {

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// Kernel-side counters (include/fraiseql/abi/events.h) exported as self-metrics.
struct KernelCounterMetric {
  fql_counter index;
  const char* family;  // which family it belongs to
  const char* label;   // the reason/syscall label
};
constexpr KernelCounterMetric kKernelCounters[] = {
    {FQL_CNT_RINGBUF_FULL, "lost_events", "ringbuf_full"},
    {FQL_CNT_RINGBUF_FULL_BYTES, "uncaptured_bytes", "ringbuf_full"},
    {FQL_CNT_TRUNCATED_BYTES, "uncaptured_bytes", "capture_cap"},
    {FQL_CNT_IOV_OVERFLOW, "uncaptured_bytes", "iov_overflow"},
    {FQL_CNT_READ_FAULT, "lost_events", "read_fault"},
    {FQL_CNT_CONN_TABLE_FULL, "lost_events", "conn_table_full"},
    {FQL_CNT_ARGS_TABLE_FULL, "lost_events", "args_table_full"},
    {FQL_CNT_SENDMMSG, "counted_syscalls", "sendmmsg"},
    {FQL_CNT_RECVMMSG, "counted_syscalls", "recvmmsg"},
    {FQL_CNT_SENDFILE, "counted_syscalls", "sendfile"},
    {FQL_CNT_PY_CTX_READ_FAIL, "python", "context_read_fault"},
    {FQL_CNT_PY_TSTATE_MISS, "python", "thread_state_missing"},
    {FQL_CNT_PY_COPY_HITS, "python", "context_births"},
};

// JSON-lines outputs (slow queries, requests): stdout (logs go to stderr), a file, or nothing.
std::FILE* OpenJsonLog(const std::string& path, const char* what) {
  if (path.empty()) return nullptr;
  if (path == "-") return stdout;
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) spdlog::error("cannot open {} {}: {}", what, path, std::strerror(errno));
  return f;
}

correlator::PipelineOptions PipelineOptionsFrom(const RunOptions& o) {
  correlator::PipelineOptions p;
  p.max_endpoints_per_service = o.max_endpoints;
  p.db.slow_query_ns = uint64_t(o.slow_query_ms) * 1000000;
  p.db.cache_table = o.cache_table;
  p.db.slow_log = OpenJsonLog(o.slow_query_log, "slow-query log");
  p.requests.event_log = p.db.slow_log;  // N+1 findings go with the slow queries
  p.requests.request_log = OpenJsonLog(o.request_log, "request log");
  p.requests.max_operations_per_service = o.max_operations;
  p.requests.n_plus_one_threshold = o.n_plus_one;
  p.requests.capture_identity = o.capture_identity;
  p.db.capture_identity = o.capture_identity;
  return p;
}

class Collector {
 public:
  Collector(RunOptions opts, metrics::Registry& registry, loader::Loader& loader)
      : opts_(std::move(opts)),
        registry_(registry),
        loader_(loader),
        discovery_(opts_.selectors),
        pipeline_(registry, PipelineOptionsFrom(opts_)) {
    lost_ = &registry_.AddCounter("fraiseql_collector_lost_events_total",
                                  "Events lost before userspace could decode them, by reason",
                                  {"reason"});
    uncaptured_ = &registry_.AddCounter(
        "fraiseql_collector_uncaptured_bytes_total",
        "Socket bytes that moved but were not copied to userspace, by reason", {"reason"});
    counted_ = &registry_.AddCounter(
        "fraiseql_collector_counted_syscalls_total",
        "Calls on tracked sockets that are counted but whose bytes are not captured",
        {"syscall"});
    python_ = &registry_.AddCounter(
        "fraiseql_collector_python_kernel_events_total",
        "Python context tracking in the kernel: births hooked, thread states not found, reads "
        "that faulted (the syscall then carries no context)",
        {"kind"});
    targets_ = &registry_.AddGauge("fraiseql_collector_targets",
                                   "Processes currently observed", {});
    prog_time_ = &registry_.AddCounter("fraiseql_collector_bpf_program_run_seconds_total",
                                       "Time spent in each BPF program (kernel bpf_stats)",
                                       {"program"});
    libpq_libraries_ = &registry_.AddGauge(
        "fraiseql_collector_libpq_libraries",
        "libpq library files with uprobes attached (see --libpq-uprobes)", {});
    prog_runs_ = &registry_.AddCounter("fraiseql_collector_bpf_program_runs_total",
                                       "Runs of each BPF program (kernel bpf_stats)",
                                       {"program"});
    registry_.AddCollectHook([this] { CollectKernelCounters(); });
    pipeline_.SetListeningPortFn([this](uint32_t tgid, uint16_t port) {
      return IsListening(tgid, port);
    });
  }

  void AddTargets(const std::vector<discovery::Target>& found) {
    std::set<uint32_t> now;
    for (const auto& t : found) {
      now.insert(t.tgid);
      if (targets_by_pid_.count(t.tgid)) continue;
      Watch(t);
    }
    // Processes no longer selected (exited, or exec'd into something else).
    for (auto it = targets_by_pid_.begin(); it != targets_by_pid_.end();) {
      if (!now.count(it->first)) {
        spdlog::info("target {} ({}) gone", it->first, it->second.service_name);
        Unwatch(it->first);
        it = targets_by_pid_.erase(it);
      } else {
        ++it;
      }
    }
    targets_->WithLabels({}).Set(static_cast<double>(targets_by_pid_.size()));
  }

  // A full rescan; returns how many processes are observed afterwards.
  size_t ScanAndWatch() {
    AddTargets(discovery_.Scan());
    return targets_by_pid_.size();
  }

  void Watch(const discovery::Target& t) {
    Status s = loader_.Watch(t.tgid);
    if (!s.ok()) {
      spdlog::warn("cannot watch pid {}: {}", t.tgid, s.message());
      return;
    }
    targets_by_pid_[t.tgid] = t;
    // t.service_name already honours --service-name (Selectors::service_name).
    pipeline_.SetService(t.tgid, t.service_name);
    listening_[t.tgid] = discovery_.ListeningPorts(t.tgid);
    if (opts_.libpq_uprobes == "on" && t.runtime == discovery::Runtime::kPython) {
      want_libpq_.insert(t.tgid);
    }
    WatchPythonContexts(t);
    spdlog::info("observing pid {} service={} runtime={} ({})", t.tgid, t.service_name,
                 discovery::RuntimeName(t.runtime), t.reason);
  }

  // Asyncio attribution: the running task's Context read at each socket syscall, Context births
  // through the probe --python-contexts picks (docs/request-contexts.md, python-contexts.md).
  void WatchPythonContexts(const discovery::Target& t) {
    if (opts_.python_contexts == "off") return;
    if (opts_.python_contexts == "auto" && t.runtime != discovery::Runtime::kPython) return;
    auto detected = loader::DetectPython(t.tgid);
    if (!detected.ok()) {
      spdlog::warn("pid {}: Python contexts unavailable ({}): calls attributed by request "
                   "and thread only", t.tgid, detected.status().message());
      return;
    }
    if (!detected.value()) {
      spdlog::debug("pid {}: not CPython, no Python contexts", t.tgid);
      return;
    }
    const loader::PythonTarget& py = *detected.value();
    // "on"/"auto": every Context birth (exact); "tasks": asyncio Task births only (cheaper).
    const loader::PyBirthHook hook = opts_.python_contexts == "tasks"
                                         ? loader::PyBirthHook::kAuto
                                         : loader::PyBirthHook::kCopyCurrentReturn;
    Status s = loader_.WatchPython(t.tgid, py, hook);
    if (!s.ok()) {
      spdlog::warn("pid {}: Python contexts not attached: {}", t.tgid, s.message());
      return;
    }
    spdlog::info("pid {}: Python {}.{}.{} contexts followed ({})", t.tgid, py.major, py.minor,
                 py.micro, py.object_path);
  }

  void Unwatch(uint32_t tgid) {
    loader_.UnwatchPython(tgid);
    loader_.Unwatch(tgid);  // may already be gone from the map (exit); harmless
    want_libpq_.erase(tgid);
    libpq_attached_.erase(tgid);
    pipeline_.ForgetProcess(tgid);
    listening_.erase(tgid);
  }

  void OnProcEvent(const ProcEvent& e) {
    switch (e.kind) {
      case ProcEvent::Kind::kFork: {
        // The kernel already watches the child (gunicorn workers are forked, not exec'd):
        // it inherits the parent's service.
        auto parent = targets_by_pid_.find(e.ppid);
        if (parent == targets_by_pid_.end()) return;
        discovery::Target child = parent->second;
        child.tgid = e.tgid;
        child.ppid = e.ppid;
        child.reason = "forked from " + std::to_string(e.ppid);
        targets_by_pid_[e.tgid] = child;
        pipeline_.SetService(e.tgid, child.service_name);
        listening_[e.tgid] = listening_[e.ppid];
        // Per-process uprobes do not follow fork(): the worker needs its own.
        WatchPythonContexts(child);
        spdlog::info("observing pid {} service={} ({})", e.tgid, child.service_name,
                     child.reason);
        break;
      }
      case ProcEvent::Kind::kExec:
        // Checked at once so a restarted app is observed well within the rescan period.
        if (auto t = discovery_.Check(e.tgid)) {
          if (!targets_by_pid_.count(e.tgid)) Watch(*t);
        }
        pending_exec_.insert(e.tgid);
        break;
      case ProcEvent::Kind::kExit:
        if (targets_by_pid_.erase(e.tgid)) {
          spdlog::info("pid {} exited", e.tgid);
          Unwatch(e.tgid);
        }
        break;
    }
    targets_->WithLabels({}).Set(static_cast<double>(targets_by_pid_.size()));
  }

  // Exec'd processes are re-checked a few times: an interpreter maps its modules and opens
  // its listening socket only after exec.
  void RecheckExecs() {
    if (pending_exec_.empty()) return;
    std::set<uint32_t> keep;
    for (uint32_t pid : pending_exec_) {
      if (targets_by_pid_.count(pid)) continue;
      if (auto t = discovery_.Check(pid)) {
        Watch(*t);
      } else if (access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0 &&
                 exec_checks_[pid]++ < 20) {
        keep.insert(pid);
      }
    }
    for (auto it = exec_checks_.begin(); it != exec_checks_.end();) {
      it = keep.count(it->first) ? std::next(it) : exec_checks_.erase(it);
    }
    pending_exec_ = std::move(keep);
    targets_->WithLabels({}).Set(static_cast<double>(targets_by_pid_.size()));
  }

  int Loop(source::EventSource& events, source::Recorder* recorder) {
    using Clock = std::chrono::steady_clock;
    auto last_scan = Clock::now();
    auto last_recheck = Clock::now();
    const auto scan_period = std::chrono::milliseconds(opts_.rescan_ms);
    while (!g_stop.load()) {
      auto polled = events.Poll(100, [&](std::span<const uint8_t> record) {
        if (recorder) recorder->Write(record);
        pipeline_.OnRecord(record);
      });
      if (!polled.ok()) {
        spdlog::error("ring buffer: {}", polled.status().message());
        return 1;
      }
      for (const auto& pe : pipeline_.TakeProcEvents()) OnProcEvent(pe);
      for (uint32_t tgid : pipeline_.TakeTlsDbProcesses()) {
        if (opts_.libpq_uprobes == "off" || libpq_attached_.count(tgid)) continue;
        spdlog::info("pid {}: PostgreSQL connection is TLS; attaching libpq uprobes", tgid);
        want_libpq_.insert(tgid);
        AttachLibpqWanted();
      }
      auto now = Clock::now();
      if (now - last_recheck >= std::chrono::milliseconds(100)) {
        RecheckExecs();
        pipeline_.Tick(MonotonicNs());
        last_recheck = now;
      }
      if (now - last_scan >= scan_period) {
        ScanAndWatch();
        AttachLibpqWanted();  // processes that load libpq after they start
        for (auto& [pid, ports] : listening_) ports = discovery_.ListeningPorts(pid);
        last_scan = now;
      }
    }
    return 0;
  }

  // Attaches libpq uprobes for the processes that want them and do not have them yet (the
  // loader attaches once per library file; a process without libpq mapped yet is retried).
  void AttachLibpqWanted() {
    for (auto it = want_libpq_.begin(); it != want_libpq_.end();) {
      uint32_t tgid = *it;
      if (!targets_by_pid_.count(tgid)) {
        it = want_libpq_.erase(it);
        continue;
      }
      Status s = loader_.AttachLibpq(tgid);
      if (s.ok()) {
        libpq_attached_.insert(tgid);
        spdlog::info("pid {}: libpq uprobes attached ({})", tgid,
                     fmt::join(loader_.LibpqAttachments(), ", "));
        it = want_libpq_.erase(it);
      } else {
        spdlog::debug("pid {}: libpq uprobes not attached yet: {}", tgid, s.message());
        ++it;
      }
    }
  }

  bool IsListening(uint32_t tgid, uint16_t port) {
    auto it = listening_.find(tgid);
    if (it == listening_.end()) return false;
    for (uint16_t p : it->second) {
      if (p == port) return true;
    }
    // A socket accepted on a port the process began listening on after our last look.
    it->second = discovery_.ListeningPorts(tgid);
    for (uint16_t p : it->second) {
      if (p == port) return true;
    }
    return false;
  }

  size_t targets() const { return targets_by_pid_.size(); }
  const correlator::StatementTable& statements() const { return pipeline_.statements(); }

 private:
  static uint64_t MonotonicNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
  }

  // Runs on the exporter thread at each scrape: reads kernel maps only.
  void CollectKernelCounters() {
    auto counters = loader_.ReadCounters();
    std::map<std::pair<std::string, std::string>, double> sums;
    for (const auto& k : kKernelCounters) sums[{k.family, k.label}] += double(counters[k.index]);
    for (const auto& [key, v] : sums) {
      metrics::CounterFamily* fam = key.first == "lost_events"        ? lost_
                                    : key.first == "uncaptured_bytes" ? uncaptured_
                                    : key.first == "python"           ? python_
                                                                      : counted_;
      fam->WithLabels({key.second}).SetTotal(v);
    }
    libpq_libraries_->WithLabels({}).Set(double(loader_.LibpqAttachments().size()));
    for (const auto& p : loader_.ProgramStats()) {
      prog_time_->WithLabels({p.name}).SetTotal(double(p.run_time_ns) / 1e9);
      prog_runs_->WithLabels({p.name}).SetTotal(double(p.run_cnt));
    }
  }

  RunOptions opts_;
  metrics::Registry& registry_;
  loader::Loader& loader_;
  discovery::Discovery discovery_;
  correlator::Pipeline pipeline_;
  std::map<uint32_t, discovery::Target> targets_by_pid_;
  std::map<uint32_t, std::vector<uint16_t>> listening_;
  std::set<uint32_t> pending_exec_;
  std::set<uint32_t> want_libpq_;
  std::set<uint32_t> libpq_attached_;
  std::map<uint32_t, int> exec_checks_;
  metrics::CounterFamily* lost_;
  metrics::CounterFamily* uncaptured_;
  metrics::CounterFamily* counted_;
  metrics::CounterFamily* python_;
  metrics::GaugeFamily* targets_;
  metrics::CounterFamily* prog_time_;
  metrics::CounterFamily* prog_runs_;
  metrics::GaugeFamily* libpq_libraries_;
};

void RegisterBuildInfo(metrics::Registry& registry) {
  registry
      .AddGauge("fraiseql_collector_build_info", "Build information (always 1)",
                {"version", "revision", "abi"})
      .WithLabels({FRAISEQL_VERSION, FRAISEQL_GIT_REV, std::to_string(FQL_ABI_VERSION)})
      .Set(1);
}

}  // namespace

int Run(RunOptions opts) {
  if (Status s = discovery::Validate(opts.selectors); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", s.message().c_str());
    return 2;
  }
  if (auto l = exporter::ParseListenAddress(opts.listen); !l.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", l.status().message().c_str());
    return 2;
  }
  if (opts.service_name) opts.selectors.service_name = opts.service_name;
  if (Status s = loader::CheckRequirements(); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s (run `fraiseql-collector doctor`)\n",
                 s.message().c_str());
    return 1;
  }

  metrics::Registry registry;
  RegisterBuildInfo(registry);
  std::atomic<bool> ready{false};
  exporter::Server server(opts.listen, registry, [&] { return ready.load(); });
  if (Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", s.message().c_str());
    return 1;
  }

  loader::LoaderOptions lopts;
  lopts.capture_cap = opts.capture_cap;
  lopts.ringbuf_bytes = opts.ringbuf_mib << 20;
  auto loaded = loader::Loader::Open(lopts);
  if (!loaded.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", loaded.status().message().c_str());
    server.Stop();
    return 1;
  }
  loader::Loader& loader = **loaded;
  spdlog::info("attached {} BPF programs: {}", loader.Attached().size(),
               fmt::join(loader.Attached(), ", "));

  std::unique_ptr<source::Recorder> recorder;
  if (!opts.record_path.empty()) {
    auto r = source::Recorder::Create(opts.record_path);
    if (!r.ok()) {
      std::fprintf(stderr, "fraiseql-collector: %s\n", r.status().message().c_str());
      return 1;
    }
    recorder = std::move(*r);
  }

  Collector collector(opts, registry, loader);
  (void)server.AddJsonHandler("/api/v1/statements", [&collector] { return collector.statements().ToJson(); });
  if (collector.ScanAndWatch() == 0) {
    spdlog::warn("{}; rescanning every {} ms",
                 opts.selectors.AutoDetect() ? "no FraiseQL process found yet"
                                             : "no process matches the selectors yet",
                 opts.rescan_ms);
  }
  auto events = loader.MakeEventSource();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  ready.store(true);
  spdlog::info("ready: metrics on port {} (/metrics, /healthz, /readyz)", server.port());
  int rc = collector.Loop(*events, recorder.get());
  spdlog::info("stopping");
  server.Stop();
  return rc;
}

int Replay(const std::string& path, const RunOptions& opts) {
  auto src = source::ReplaySource::Open(path);
  if (!src.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", src.status().message().c_str());
    return 1;
  }
  metrics::Registry registry;
  correlator::Pipeline pipeline(registry, PipelineOptionsFrom(opts));
  if (opts.service_name) pipeline.SetDefaultService(*opts.service_name);
  while (!(*src)->Exhausted()) {
    (void)(*src)->Poll(0, [&](std::span<const uint8_t> r) { pipeline.OnRecord(r); });
  }
  pipeline.Finish();
  std::fputs(registry.Render().c_str(), stdout);
  return 0;
}

}  // namespace fraiseql::app
