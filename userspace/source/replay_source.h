// Recorded event files: `fraiseql-collector run --record FILE` writes every raw ring-buffer
// record; ReplaySource feeds them back through the same pipeline (tests, benchmarks,
// bug reports). Format: 8-byte magic "FQLREC01", u32 ABI version, u32 reserved, then
// records as (u32 little-endian length, bytes). A truncated tail is reported, not fatal.
// Recordings of ABI 1 (before fql_data_event.py_ctx) are read too: their data events are
// widened with py_ctx = 0 on load.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "source/event_source.h"

namespace fraiseql::source {

inline constexpr char kRecordMagic[8] = {'F', 'Q', 'L', 'R', 'E', 'C', '0', '1'};
// A record longer than this is corrupt (the kernel never writes one this large).
inline constexpr uint32_t kMaxRecordBytes = 1u << 20;

class Recorder {
 public:
  static StatusOr<std::unique_ptr<Recorder>> Create(const std::string& path);
  ~Recorder();
  // A failed write (disk full) is counted and logged once per streak; never fatal.
  void Write(std::span<const uint8_t> record);
  uint64_t records() const { return records_; }
  uint64_t write_errors() const { return write_errors_; }

 private:
  explicit Recorder(std::FILE* f) : f_(f) {}
  std::FILE* f_;
  uint64_t records_ = 0;
  uint64_t write_errors_ = 0;
  bool failing_ = false;
};

class ReplaySource : public EventSource {
 public:
  // Loads the whole file (recordings are test-sized).
  static StatusOr<std::unique_ptr<ReplaySource>> Open(const std::string& path);
  // From memory: records already framed as in the file body (no header).
  static std::unique_ptr<ReplaySource> FromRecords(std::vector<std::vector<uint8_t>> records);

  StatusOr<size_t> Poll(int timeout_ms, const RecordSink& sink) override;
  bool Exhausted() const override { return next_ >= records_.size(); }
  // Bytes at the end of the file that did not form a whole record.
  size_t truncated_tail_bytes() const { return truncated_tail_; }

 private:
  std::vector<std::vector<uint8_t>> records_;
  size_t next_ = 0;
  size_t truncated_tail_ = 0;
};

}  // namespace fraiseql::source
