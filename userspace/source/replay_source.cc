#include "source/replay_source.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "fraiseql/abi/events.h"

namespace fraiseql::source {

namespace {
constexpr size_t kHeaderBytes = 16;
constexpr size_t kRecordsPerPoll = 4096;
}  // namespace

StatusOr<std::unique_ptr<Recorder>> Recorder::Create(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::Errno("cannot create recording " + path, errno);
  uint32_t header[2] = {FQL_ABI_VERSION, 0};
  std::fwrite(kRecordMagic, 1, sizeof(kRecordMagic), f);
  std::fwrite(header, 1, sizeof(header), f);
  return std::unique_ptr<Recorder>(new Recorder(f));
}

Recorder::~Recorder() {
  if (f_) std::fclose(f_);
}

void Recorder::Write(std::span<const uint8_t> record) {
  uint32_t len = static_cast<uint32_t>(record.size());
  std::fwrite(&len, 1, sizeof(len), f_);
  std::fwrite(record.data(), 1, record.size(), f_);
  ++records_;
}

StatusOr<std::unique_ptr<ReplaySource>> ReplaySource::Open(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Errno("cannot open recording " + path, errno);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kRecordMagic, 8) != 0) {
    return Status::Error(path + ": not a fraiseql-collector recording (bad magic)");
  }
  uint32_t abi = 0;
  std::memcpy(&abi, bytes.data() + 8, 4);
  if (abi != FQL_ABI_VERSION) {
    return Status::Error(path + ": recorded with ABI version " + std::to_string(abi) +
                         ", this build reads version " + std::to_string(FQL_ABI_VERSION));
  }
  auto src = std::make_unique<ReplaySource>();
  size_t off = kHeaderBytes;
  while (off + 4 <= bytes.size()) {
    uint32_t len = 0;
    std::memcpy(&len, bytes.data() + off, 4);
    if (len > kMaxRecordBytes || off + 4 + len > bytes.size()) break;
    src->records_.emplace_back(bytes.begin() + off + 4, bytes.begin() + off + 4 + len);
    off += 4 + len;
  }
  src->truncated_tail_ = bytes.size() - off;
  return src;
}

std::unique_ptr<ReplaySource> ReplaySource::FromRecords(std::vector<std::vector<uint8_t>> records) {
  auto src = std::make_unique<ReplaySource>();
  src->records_ = std::move(records);
  return src;
}

StatusOr<size_t> ReplaySource::Poll(int /*timeout_ms*/, const RecordSink& sink) {
  size_t n = 0;
  while (next_ < records_.size() && n < kRecordsPerPoll) {
    sink(std::span<const uint8_t>(records_[next_]));
    ++next_;
    ++n;
  }
  return n;
}

}  // namespace fraiseql::source
