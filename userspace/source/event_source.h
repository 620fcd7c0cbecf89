// Where raw event records come from: the kernel ring buffer (loader/ringbuf_source.h)
// or a recorded file (replay_source.h). Everything downstream sees only this interface,
// so the whole userspace pipeline runs in tests and benchmarks without a kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "common/status.h"

namespace fraiseql::source {

// One raw record exactly as the kernel wrote it: a struct fql_*_event (include/fraiseql/abi)
// followed by its payload. The span is valid only during the call.
using RecordSink = std::function<void(std::span<const uint8_t>)>;

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Delivers the records available now to `sink`, waiting up to timeout_ms for the first.
  // Returns how many records were delivered.
  virtual StatusOr<size_t> Poll(int timeout_ms, const RecordSink& sink) = 0;
  // True once a finite source (a replay file) has delivered everything.
  virtual bool Exhausted() const { return false; }
};

}  // namespace fraiseql::source
