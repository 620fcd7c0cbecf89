#include "control/kernel_metrics.h"

#include <map>

#include "metrics/catalog.h"

namespace fraiseql::control {

namespace {

using metrics::Fam;

// Kernel-side counters (include/fraiseql/abi/events.h) and the family and label of each.
struct KernelCounter {
  fql_counter index;
  Fam family;
  const char* label;
};
constexpr KernelCounter kKernelCounters[] = {
    {FQL_CNT_RINGBUF_FULL, Fam::kCollectorLostEvents, "ringbuf_full"},
    {FQL_CNT_RINGBUF_FULL_BYTES, Fam::kCollectorUncapturedBytes, "ringbuf_full"},
    {FQL_CNT_TRUNCATED_BYTES, Fam::kCollectorUncapturedBytes, "capture_cap"},
    {FQL_CNT_IOV_OVERFLOW, Fam::kCollectorUncapturedBytes, "iov_overflow"},
    {FQL_CNT_READ_FAULT, Fam::kCollectorLostEvents, "read_fault"},
    {FQL_CNT_CONN_TABLE_FULL, Fam::kCollectorLostEvents, "conn_table_full"},
    {FQL_CNT_ARGS_TABLE_FULL, Fam::kCollectorLostEvents, "args_table_full"},
    {FQL_CNT_SENDMMSG, Fam::kCollectorCountedSyscalls, "sendmmsg"},
    {FQL_CNT_RECVMMSG, Fam::kCollectorCountedSyscalls, "recvmmsg"},
    {FQL_CNT_SENDFILE, Fam::kCollectorCountedSyscalls, "sendfile"},
    {FQL_CNT_PY_CTX_READ_FAIL, Fam::kCollectorPythonKernelEvents, "context_read_fault"},
    {FQL_CNT_PY_TSTATE_MISS, Fam::kCollectorPythonKernelEvents, "thread_state_missing"},
    {FQL_CNT_PY_COPY_HITS, Fam::kCollectorPythonKernelEvents, "context_births"},
};

}  // namespace

KernelMetrics::KernelMetrics(metrics::Registry& registry, loader::Loader& loader)
    : registry_(registry), loader_(loader) {
  // Registered now, so they are in /metrics from the first scrape in catalog order.
  for (Fam f : {Fam::kCollectorLostEvents, Fam::kCollectorUncapturedBytes,
                Fam::kCollectorCountedSyscalls, Fam::kCollectorPythonKernelEvents,
                Fam::kCollectorBpfProgramRunSeconds, Fam::kCollectorBpfProgramRuns}) {
    metrics::CounterOf(registry, f);
  }
  metrics::GaugeOf(registry, Fam::kCollectorLibpqLibraries);
  hook_id_ = registry.AddCollectHook([this] { Collect(); });
}

KernelMetrics::~KernelMetrics() { registry_.RemoveCollectHook(hook_id_); }

void KernelMetrics::Collect() {
  auto counters = loader_.ReadCounters();
  std::map<std::pair<Fam, std::string>, double> sums;
  for (const auto& k : kKernelCounters) sums[{k.family, k.label}] += double(counters[k.index]);
  for (const auto& [key, v] : sums) {
    metrics::CounterOf(registry_, key.first).WithLabels({key.second}).SetTotal(v);
  }
  metrics::GaugeOf(registry_, Fam::kCollectorLibpqLibraries)
      .WithLabels({})
      .Set(double(loader_.LibpqAttachments().size()));
  auto& time = metrics::CounterOf(registry_, Fam::kCollectorBpfProgramRunSeconds);
  auto& runs = metrics::CounterOf(registry_, Fam::kCollectorBpfProgramRuns);
  for (const auto& p : loader_.ProgramStats()) {
    time.WithLabels({p.name}).SetTotal(double(p.run_time_ns) / 1e9);
    runs.WithLabels({p.name}).SetTotal(double(p.run_cnt));
  }
}

}  // namespace fraiseql::control
