// Queries seen by the libpq uprobes (TLS connections to PostgreSQL, where the wire cannot be
// read) → DbCall records like the wire's, so they are counted and attributed the same way.
// A query is used only when its connection's wire is opaque, so none is counted twice: the
// connection is found by its socket fd; without one (the library's PGconn.sock offset
// unknown), only when every PostgreSQL connection of the process is TLS.
#pragma once

#include <atomic>
#include <cstdint>

#include "conn/tracker.h"
#include "handlers/db_calls.h"
#include "handlers/libpq_calls.h"
#include "records/sink.h"
#include "records/workloads.h"

namespace fraiseql::handlers {

struct LibpqStats {
  std::atomic<uint64_t> counted{0};       // queries counted from the uprobes (TLS)
  std::atomic<uint64_t> wire_visible{0};  // left to the wire parser
};

class LibpqHandler {
 public:
  LibpqHandler(const conn::Tracker& tracker, const records::WorkloadTable& workloads,
               DbCallBuilder& builder, records::RecordSink& out)
      : tracker_(tracker), workloads_(workloads), builder_(builder), out_(out) {}

  void OnEvent(const PqEvent& e);
  void ForgetProcess(uint32_t tgid) { calls_.ForgetProcess(tgid); }
  const LibpqStats& stats() const { return stats_; }

 private:
  bool WireIsOpaque(const PqEvent& e) const;

  const conn::Tracker& tracker_;
  const records::WorkloadTable& workloads_;
  DbCallBuilder& builder_;
  records::RecordSink& out_;
  LibpqCalls calls_;
  LibpqStats stats_;
};

}  // namespace fraiseql::handlers
