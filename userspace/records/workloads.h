// Process → workload identity (service name, later Kubernetes metadata), interned so records
// carry a pointer instead of a string per event. Filled by the control plane (targets), read
// by the handlers on the pipeline thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>

#include "records/records.h"

namespace fraiseql::records {

class WorkloadTable {
 public:
  WorkloadTable() { default_ = Intern(Workload{"unknown_service"}); }
  WorkloadTable(const WorkloadTable&) = delete;
  WorkloadTable& operator=(const WorkloadTable&) = delete;

  // The same identity always gives the same pointer; pointers live as long as the table.
  const Workload* Intern(const Workload& w) {
    auto it = by_service_.find(w.service_name);
    if (it != by_service_.end()) return it->second;
    const Workload* p = &store_.emplace_back(w);
    by_service_.emplace(w.service_name, p);
    return p;
  }
  void Set(uint32_t tgid, const Workload& w) { by_tgid_[tgid] = Intern(w); }
  void SetDefault(const Workload& w) { default_ = Intern(w); }
  // A process's workload, the default one if it was never set. A process that is gone keeps
  // its entry: a record still in flight may name it.
  const Workload* Of(uint32_t tgid) const {
    auto it = by_tgid_.find(tgid);
    return it == by_tgid_.end() ? default_ : it->second;
  }

 private:
  std::deque<Workload> store_;
  std::map<std::string, const Workload*, std::less<>> by_service_;
  std::unordered_map<uint32_t, const Workload*> by_tgid_;
  const Workload* default_ = nullptr;
};

}  // namespace fraiseql::records
