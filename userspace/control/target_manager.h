// Target management: which processes are observed. Discovery (selectors, auto-detection,
// service names) ↔ the kernel's watch map; process events from the pipeline (fork: a worker
// inherits its parent's service and gets its own per-process probes; exec: checked at once and
// rechecked while the interpreter starts; exit: unwatched); listening ports (the role of
// sockets opened before we attached); the periodic rescan.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "control/probe_policy.h"
#include "discovery/discovery.h"
#include "loader/loader.h"
#include "metrics/registry.h"
#include "pipeline/pipeline.h"

namespace fraiseql::control {

class TargetManager {
 public:
  TargetManager(discovery::Selectors selectors, loader::Loader& loader,
                pipeline::Pipeline& pipeline, ProbePolicy& probes, metrics::Registry& registry);

  // A full rescan; returns how many processes are observed afterwards.
  size_t ScanAndWatch();
  // Process events, queued by the pipeline as they are decoded and handled after each poll.
  void OnProcEvent(const ProcEvent& e) { queued_.push_back(e); }
  void HandleQueued();
  // Exec'd processes are re-checked a few times: an interpreter maps its modules and opens its
  // listening socket only after exec.
  void RecheckExecs();
  // Listening ports refreshed (at each rescan).
  void RefreshPorts();
  bool IsListening(uint32_t tgid, uint16_t port);

  size_t targets() const { return targets_.size(); }
  std::set<uint32_t> Alive() const;

 private:
  void AddTargets(const std::vector<discovery::Target>& found);
  void Watch(const discovery::Target& t);
  void Unwatch(uint32_t tgid);
  void Handle(const ProcEvent& e);
  void OnFork(const ProcEvent& e);
  void UpdateGauge();

  discovery::Discovery discovery_;
  loader::Loader& loader_;
  pipeline::Pipeline& pipeline_;
  ProbePolicy& probes_;
  metrics::Gauge& targets_gauge_;
  std::map<uint32_t, discovery::Target> targets_;
  std::map<uint32_t, std::vector<uint16_t>> listening_;
  std::set<uint32_t> pending_exec_;
  std::map<uint32_t, int> exec_checks_;
  std::deque<ProcEvent> queued_;
};

}  // namespace fraiseql::control
