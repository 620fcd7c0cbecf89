// EventSource over the kernel ring buffer map (fql_events), via libbpf ring_buffer__poll.
#pragma once

#include <memory>

#include "common/status.h"
#include "source/event_source.h"

struct ring_buffer;

namespace fraiseql::loader {

class RingBufferSource : public source::EventSource {
 public:
  // Takes a duplicate of map_fd (the caller keeps its own).
  static StatusOr<std::unique_ptr<RingBufferSource>> Create(int map_fd);
  ~RingBufferSource() override;
  RingBufferSource(const RingBufferSource&) = delete;
  RingBufferSource& operator=(const RingBufferSource&) = delete;

  StatusOr<size_t> Poll(int timeout_ms, const source::RecordSink& sink) override;

 private:
  RingBufferSource() = default;
  static int OnRecord(void* ctx, void* data, size_t size);

  int map_fd_ = -1;
  ring_buffer* rb_ = nullptr;
  const source::RecordSink* sink_ = nullptr;  // set only during Poll
  size_t delivered_ = 0;
};

}  // namespace fraiseql::loader
