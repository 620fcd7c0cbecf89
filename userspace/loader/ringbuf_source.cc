#include "loader/ringbuf_source.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace fraiseql::loader {

StatusOr<std::unique_ptr<RingBufferSource>> RingBufferSource::Create(int map_fd) {
  std::unique_ptr<RingBufferSource> src(new RingBufferSource());
  src->map_fd_ = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
  if (src->map_fd_ < 0) return Status::Errno("ring buffer: dup map fd", errno);
  src->rb_ = ring_buffer__new(src->map_fd_, &RingBufferSource::OnRecord, src.get(), nullptr);
  if (src->rb_ == nullptr) return Status::Errno("ring buffer: ring_buffer__new", errno);
  return src;
}

RingBufferSource::~RingBufferSource() {
  ring_buffer__free(rb_);  // NULL-safe
  if (map_fd_ >= 0) close(map_fd_);
}

int RingBufferSource::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingBufferSource*>(ctx);
  if (self->sink_ != nullptr) {
    (*self->sink_)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  }
  ++self->delivered_;
  return 0;
}

StatusOr<size_t> RingBufferSource::Poll(int timeout_ms, const source::RecordSink& sink) {
  sink_ = &sink;
  delivered_ = 0;
  // The BPF side wakes us only when much data waits (bpf/shared.bpf.h): after the wait,
  // drain whatever is there.
  int rc = ring_buffer__poll(rb_, timeout_ms);
  if (rc >= 0 || rc == -EINTR) rc = ring_buffer__consume(rb_);
  sink_ = nullptr;
  if (rc < 0 && rc != -EINTR) return Status::Errno("ring buffer: poll", -rc);
  return delivered_;
}

}  // namespace fraiseql::loader
