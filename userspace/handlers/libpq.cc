#include "handlers/libpq.h"

#include <vector>

namespace fraiseql::handlers {

bool LibpqHandler::WireIsOpaque(const PqEvent& e) const {
  if (e.fd >= 0) {
    const conn::ConnHandler* c = tracker_.FindByFd(e.tgid, e.fd);
    return c && c->opaque();
  }
  auto [all, opaque] = tracker_.CountByProtocol(e.tgid, "pgsql");
  return opaque > 0 && opaque == all;
}

void LibpqHandler::OnEvent(const PqEvent& e) {
  std::vector<protocols::pgsql::QueryRecord> records;
  calls_.OnEvent(e, &records);
  if (records.empty()) return;
  const bool use = WireIsOpaque(e);
  (use ? stats_.counted : stats_.wire_visible)
      .fetch_add(records.size(), std::memory_order_relaxed);
  if (!use) return;
  const records::Workload* workload = workloads_.Of(e.tgid);
  for (const auto& q : records) {
    DbCallScratch scratch;
    records::DbCall c = builder_.Build(
        e.tgid, workload, records::Origin{.ts_ns = q.start_ns, .tid = e.tid}, q, &scratch);
    c.from_uprobes = true;
    out_.OnDbCall(c);
  }
}

}  // namespace fraiseql::handlers
