#include "control/target_manager.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "metrics/catalog.h"

namespace fraiseql::control {

namespace {
constexpr int kExecRechecks = 20;
}  // namespace

TargetManager::TargetManager(discovery::Selectors selectors, loader::Loader& loader,
                             pipeline::Pipeline& pipeline, ProbePolicy& probes,
                             metrics::Registry& registry)
    : discovery_(std::move(selectors)),
      loader_(loader),
      pipeline_(pipeline),
      probes_(probes),
      targets_gauge_(metrics::GaugeOf(registry, metrics::Fam::kCollectorTargets).WithLabels({})) {}

void TargetManager::UpdateGauge() { targets_gauge_.Set(double(targets_.size())); }

std::set<uint32_t> TargetManager::Alive() const {
  std::set<uint32_t> out;
  for (const auto& [pid, t] : targets_) out.insert(pid);
  return out;
}

size_t TargetManager::ScanAndWatch() {
  AddTargets(discovery_.Scan());
  return targets_.size();
}

void TargetManager::AddTargets(const std::vector<discovery::Target>& found) {
  std::set<uint32_t> now;
  for (const auto& t : found) {
    now.insert(t.tgid);
    if (!targets_.count(t.tgid)) Watch(t);
  }
  // Processes no longer selected (exited, or exec'd into something else).
  for (auto it = targets_.begin(); it != targets_.end();) {
    if (!now.count(it->first)) {
      spdlog::info("target {} ({}) gone", it->first, it->second.service_name);
      uint32_t pid = it->first;
      it = targets_.erase(it);
      Unwatch(pid);
    } else {
      ++it;
    }
  }
  UpdateGauge();
}

void TargetManager::Watch(const discovery::Target& t) {
  Status s = loader_.Watch(t.tgid);
  if (!s.ok()) {
    spdlog::warn("cannot watch pid {}: {}", t.tgid, s.message());
    return;
  }
  targets_[t.tgid] = t;
  // t.service_name already honours --service-name (Selectors::service_name).
  pipeline_.SetService(t.tgid, t.service_name);
  listening_[t.tgid] = discovery_.ListeningPorts(t.tgid);
  probes_.OnWatched(t);
  spdlog::info("observing pid {} service={} runtime={} ({})", t.tgid, t.service_name,
               discovery::RuntimeName(t.runtime), t.reason);
}

void TargetManager::Unwatch(uint32_t tgid) {
  probes_.OnUnwatched(tgid);
  // The pid may already be gone from the watch map (exit): harmless, logged at debug.
  if (Status s = loader_.Unwatch(tgid); !s.ok()) spdlog::debug("unwatch {}: {}", tgid, s.message());
  pipeline_.ForgetProcess(tgid);
  listening_.erase(tgid);
}

void TargetManager::HandleQueued() {
  while (!queued_.empty()) {
    ProcEvent e = std::move(queued_.front());
    queued_.pop_front();
    Handle(e);
  }
}

void TargetManager::OnFork(const ProcEvent& e) {
  // The kernel already watches the child (gunicorn workers are forked, not exec'd): it
  // inherits the parent's service.
  auto parent = targets_.find(e.ppid);
  if (parent == targets_.end()) return;
  discovery::Target child = parent->second;
  child.tgid = e.tgid;
  child.ppid = e.ppid;
  child.reason = "forked from " + std::to_string(e.ppid);
  targets_[e.tgid] = child;
  pipeline_.SetService(e.tgid, child.service_name);
  listening_[e.tgid] = listening_[e.ppid];
  // Per-process uprobes do not follow fork(): the worker needs its own.
  probes_.OnWatched(child);
  spdlog::info("observing pid {} service={} ({})", e.tgid, child.service_name, child.reason);
}

void TargetManager::Handle(const ProcEvent& e) {
  switch (e.kind) {
    case ProcEvent::Kind::kFork: OnFork(e); break;
    case ProcEvent::Kind::kExec:
      // Checked at once so a restarted app is observed well within the rescan period.
      if (auto t = discovery_.Check(e.tgid)) {
        if (!targets_.count(e.tgid)) Watch(*t);
      }
      pending_exec_.insert(e.tgid);
      break;
    case ProcEvent::Kind::kExit:
      if (targets_.erase(e.tgid)) {
        spdlog::info("pid {} exited", e.tgid);
        Unwatch(e.tgid);
      }
      break;
  }
  UpdateGauge();
}

void TargetManager::RecheckExecs() {
  if (pending_exec_.empty()) return;
  std::set<uint32_t> keep;
  for (uint32_t pid : pending_exec_) {
    if (targets_.count(pid)) continue;
    if (auto t = discovery_.Check(pid)) {
      Watch(*t);
    } else if (access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0 &&
               exec_checks_[pid]++ < kExecRechecks) {
      keep.insert(pid);
    }
  }
  for (auto it = exec_checks_.begin(); it != exec_checks_.end();) {
    it = keep.count(it->first) ? std::next(it) : exec_checks_.erase(it);
  }
  pending_exec_ = std::move(keep);
  UpdateGauge();
}

void TargetManager::RefreshPorts() {
  for (auto& [pid, ports] : listening_) ports = discovery_.ListeningPorts(pid);
}

bool TargetManager::IsListening(uint32_t tgid, uint16_t port) {
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

}  // namespace fraiseql::control
