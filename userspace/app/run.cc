#include "app/run.h"

#include <cerrno>
#include <csignal>
#include <cstring>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "control/kernel_metrics.h"
#include "control/probe_policy.h"
#include "control/target_manager.h"
#include "exporter/server.h"
#include "loader/doctor.h"
#include "loader/loader.h"
#include "metrics/catalog.h"
#include "metrics/registry.h"
#include "pipeline/pipeline.h"
#include "source/replay_source.h"

namespace fraiseql::app {

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// The files the user asked for, opened before anything is attached so a bad path fails at
// once with one line.
struct Outputs {
  std::unique_ptr<source::Recorder> recorder;
  std::FILE* slow_log = nullptr;
  std::FILE* request_log = nullptr;
};

// JSON-lines outputs (slow queries, requests): stdout (logs go to stderr), a file, or nothing.
Status OpenJsonLog(const std::string& path, const char* flag, std::FILE** out) {
  *out = nullptr;
  if (path.empty()) return Status::Ok();
  if (path == "-") {
    *out = stdout;
    return Status::Ok();
  }
  *out = std::fopen(path.c_str(), "a");
  if (!*out) return Status::Errno(std::string("cannot open ") + flag + " " + path, errno);
  return Status::Ok();
}

Status OpenOutputs(const RunOptions& o, Outputs* out) {
  if (Status s = OpenJsonLog(o.slow_query_log, "--slow-query-log", &out->slow_log); !s.ok()) {
    return s;
  }
  if (Status s = OpenJsonLog(o.request_log, "--request-log", &out->request_log); !s.ok()) {
    return s;
  }
  if (o.record_path.empty()) return Status::Ok();
  auto r = source::Recorder::Create(o.record_path);
  if (!r.ok()) return r.status();
  out->recorder = std::move(*r);
  return Status::Ok();
}

pipeline::PipelineOptions PipelineOptionsFrom(const RunOptions& o, const Outputs& out) {
  pipeline::PipelineOptions p;
  p.correlator.max_endpoints_per_service = o.max_endpoints;
  p.correlator.graphql.max_operations_per_service = o.max_operations;
  p.correlator.n_plus_one_threshold = o.n_plus_one;
  p.slow_query_ns = uint64_t(o.slow_query_ms) * 1000000;
  p.db.cache_table = o.cache_table;
  p.slow_log = out.slow_log;  // N+1 findings go there too
  p.request_log = out.request_log;
  p.capture_identity = o.capture_identity;
  p.database = o.db_monitoring_enabled;
  p.cache = o.cache_monitoring_enabled;
  p.metrics = o.metrics_enabled;
  p.correlator.sample_rate = o.sample_rate;
  return p;
}

control::ProbeOptions ProbeOptionsFrom(const RunOptions& o) {
  control::ProbeOptions p;
  p.libpq = control::ParseLibpqPolicy(o.libpq_uprobes).value_or(control::LibpqPolicy::kAuto);
  p.python = control::ParsePythonContexts(o.python_contexts).value_or(control::PythonContexts::kAuto);
  p.database = o.db_monitoring_enabled;
  // Python contexts only attribute DB and Redis calls: with both off there is nothing to hook.
  if (!o.db_monitoring_enabled && !o.cache_monitoring_enabled) {
    p.python = control::PythonContexts::kOff;
  }
  return p;
}

void RegisterBuildInfo(metrics::Registry& registry) {
  metrics::GaugeOf(registry, metrics::Fam::kCollectorBuildInfo)
      .WithLabels({FRAISEQL_VERSION, FRAISEQL_GIT_REV, std::to_string(FQL_ABI_VERSION)})
      .Set(1);
}

// The main loop: poll the ring buffer (records go down the chain; process events to the
// target manager as they are decoded), then act on what the control plane queued, expire
// and tick every 100 ms, rescan every --rescan-ms.
int Loop(const RunOptions& opts, source::EventSource& events, source::Recorder* recorder,
         pipeline::Pipeline& pipeline, control::TargetManager& targets,
         control::ProbePolicy& probes) {
  using Clock = std::chrono::steady_clock;
  auto last_scan = Clock::now();
  auto last_tick = Clock::now();
  const auto scan_period = std::chrono::milliseconds(opts.rescan_ms);
  while (!g_stop.load()) {
    auto polled = events.Poll(100, [&](std::span<const uint8_t> record) {
      if (recorder) recorder->Write(record);
      pipeline.OnRecord(record);
    });
    if (!polled.ok()) {
      spdlog::error("ring buffer: {}", polled.status().message());
      return 1;
    }
    targets.HandleQueued();
    probes.AttachPending(targets.Alive());
    auto now = Clock::now();
    if (now - last_tick >= std::chrono::milliseconds(100)) {
      targets.RecheckExecs();
      pipeline.Tick(MonotonicNs());
      last_tick = now;
    }
    if (now - last_scan >= scan_period) {
      targets.ScanAndWatch();
      probes.AttachPending(targets.Alive());  // processes that load libpq after they start
      targets.RefreshPorts();
      last_scan = now;
    }
  }
  pipeline.Finish();
  return 0;
}

Status CheckRunOptions(RunOptions& opts) {
  if (Status s = discovery::Validate(opts.selectors); !s.ok()) return s;
  if (auto l = exporter::ParseListenAddress(opts.listen); !l.ok()) return l.status();
  if (opts.service_name) opts.selectors.service_name = opts.service_name;
  return Status::Ok();
}

void InstallSignals() {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
}

// observability.enabled=false: nothing is loaded or attached; the health endpoints and the
// build info stay up so a DaemonSet's probes pass and the switch is visible.
int RunIdle(exporter::Server& server) {
  InstallSignals();
  spdlog::info("observability disabled (observability.enabled=false): nothing attached; "
               "health on port {}", server.port());
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.Stop();
  return 0;
}

}  // namespace

int Run(RunOptions opts) {
  if (Status s = CheckRunOptions(opts); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", s.message().c_str());
    return 2;
  }
  Outputs outputs;
  if (Status s = OpenOutputs(opts, &outputs); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", s.message().c_str());
    return 2;
  }
  if (Status s = loader::CheckRequirements(); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s (run `fraiseql-collector doctor`)\n",
                 s.message().c_str());
    return 1;
  }

  metrics::Registry registry;
  RegisterBuildInfo(registry);
  std::atomic<bool> ready{false};
  exporter::Server server(opts.listen, registry, [&] { return ready.load(); });
  server.SetMetricsEnabled(opts.prometheus_enabled);
  if (Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", s.message().c_str());
    return 1;
  }
  if (!opts.observability_enabled) {
    ready.store(true);
    return RunIdle(server);
  }

  loader::LoaderOptions lopts;
  lopts.capture_cap = opts.capture_cap;
  lopts.ringbuf_bytes = opts.ringbuf_mib << 20;
  auto loaded = loader::Loader::Open(lopts);
  if (!loaded.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", loaded.status().message().c_str());
    return 1;
  }
  loader::Loader& loader = **loaded;
  spdlog::info("attached {} BPF programs: {}", loader.Attached().size(),
               fmt::join(loader.Attached(), ", "));
  auto events = loader.MakeEventSource();
  if (!events.ok()) {
    std::fprintf(stderr, "fraiseql-collector: cannot open the ring buffer: %s\n",
                 events.status().message().c_str());
    return 1;
  }

  pipeline::Pipeline pipeline(registry, PipelineOptionsFrom(opts, outputs));
  control::KernelMetrics kernel_metrics(registry, loader);
  control::ProbePolicy probes(ProbeOptionsFrom(opts), loader);
  control::TargetManager targets(opts.selectors, loader, pipeline, probes, registry);
  pipeline.SetListeningPortFn([&](uint32_t t, uint16_t p) { return targets.IsListening(t, p); });
  pipeline.SetProcessListener([&](const ProcEvent& e) { targets.OnProcEvent(e); });
  pipeline.SetEncryptedDbListener([&](uint32_t tgid) { probes.OnEncryptedDb(tgid); });
  (void)server.AddJsonHandler("/api/v1/statements",
                              [&pipeline] { return pipeline.statements().ToJson(); });
  if (targets.ScanAndWatch() == 0) {
    spdlog::warn("{}; rescanning every {} ms",
                 opts.selectors.AutoDetect() ? "no FraiseQL process found yet"
                                             : "no process matches the selectors yet",
                 opts.rescan_ms);
  }
  probes.AttachPending(targets.Alive());
  InstallSignals();
  ready.store(true);
  spdlog::info("ready: metrics on port {} (/metrics, /healthz, /readyz)", server.port());
  int rc = Loop(opts, **events, outputs.recorder.get(), pipeline, targets, probes);
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
  Outputs outputs;
  if (Status s = OpenOutputs(opts, &outputs); !s.ok()) {
    std::fprintf(stderr, "fraiseql-collector: %s\n", s.message().c_str());
    return 2;
  }
  metrics::Registry registry;
  pipeline::Pipeline pipeline(registry, PipelineOptionsFrom(opts, outputs));
  if (opts.service_name) pipeline.SetDefaultService(*opts.service_name);
  while (!(*src)->Exhausted()) {
    (void)(*src)->Poll(0, [&](std::span<const uint8_t> r) { pipeline.OnRecord(r); });
  }
  pipeline.Finish();
  std::fputs(registry.Render().c_str(), stdout);
  return 0;
}

}  // namespace fraiseql::app
