// The kernel side's self-metrics: per-CPU loss counters, Python context counters, BPF program
// run time and counts (bpf_stats), libpq libraries attached — read from the loader's maps at
// each scrape (on the exporter thread), into their catalog families.
#pragma once

#include "loader/loader.h"
#include "metrics/registry.h"

namespace fraiseql::control {

class KernelMetrics {
 public:
  KernelMetrics(metrics::Registry& registry, loader::Loader& loader);
  ~KernelMetrics();
  KernelMetrics(const KernelMetrics&) = delete;
  KernelMetrics& operator=(const KernelMetrics&) = delete;

 private:
  void Collect();

  metrics::Registry& registry_;
  loader::Loader& loader_;
  uint64_t hook_id_ = 0;
};

}  // namespace fraiseql::control
