#include "source/replay_source.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>

#include "fraiseql/abi/events.h"

namespace fraiseql::source {

namespace {
constexpr size_t kHeaderBytes = 16;
constexpr size_t kRecordsPerPoll = 4096;

// ABI 1 data events were 56 bytes: ABI 2 appended fql_u64 py_ctx before the payload.
constexpr size_t kV1DataEventBytes = 56;
static_assert(offsetof(fql_data_event, py_ctx) == kV1DataEventBytes);
static_assert(sizeof(fql_data_event) == kV1DataEventBytes + sizeof(fql_u64));

// A v1 record in today's layout: data events gain py_ctx = 0; every other kind of ABI 1
// is unchanged in ABI 2. Records too short to tell are passed through (the decoder
// rejects them).
std::vector<uint8_t> UpgradeV1(std::vector<uint8_t> rec) {
  uint32_t kind = 0;
  if (rec.size() < kV1DataEventBytes) return rec;
  std::memcpy(&kind, rec.data(), sizeof(kind));
  if (kind != FQL_EV_DATA) return rec;
  rec.insert(rec.begin() + kV1DataEventBytes, sizeof(fql_u64), 0);
  return rec;
}
}  // namespace

StatusOr<std::unique_ptr<Recorder>> Recorder::Create(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::Errno("cannot create recording " + path, errno);
  uint32_t header[2] = {FQL_ABI_VERSION, 0};
  // Written and flushed now, so an unwritable target (a full disk, /dev/full) fails at once.
  bool ok = std::fwrite(kRecordMagic, 1, sizeof(kRecordMagic), f) == sizeof(kRecordMagic) &&
            std::fwrite(header, 1, sizeof(header), f) == sizeof(header) && std::fflush(f) == 0;
  if (!ok) {
    int err = errno;
    std::fclose(f);
    return Status::Errno("cannot write recording " + path, err);
  }
  return std::unique_ptr<Recorder>(new Recorder(f));
}

Recorder::~Recorder() {
  if (f_) std::fclose(f_);
}

void Recorder::Write(std::span<const uint8_t> record) {
  uint32_t len = static_cast<uint32_t>(record.size());
  bool ok = std::fwrite(&len, 1, sizeof(len), f_) == sizeof(len) &&
            std::fwrite(record.data(), 1, record.size(), f_) == record.size();
  if (ok) {
    ++records_;
    return;
  }
  ++write_errors_;
  if (!failing_) {
    spdlog::error("recording: write failed: {} (records are counted and dropped)",
                  std::strerror(errno));
  }
  failing_ = true;
  std::clearerr(f_);
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
  if (abi != FQL_ABI_VERSION && abi != 1) {
    return Status::Error(path + ": recorded with ABI version " + std::to_string(abi) +
                         ", this build reads versions 1 and " + std::to_string(FQL_ABI_VERSION));
  }
  auto src = std::make_unique<ReplaySource>();
  size_t off = kHeaderBytes;
  while (off + 4 <= bytes.size()) {
    uint32_t len = 0;
    std::memcpy(&len, bytes.data() + off, 4);
    if (len > kMaxRecordBytes || off + 4 + len > bytes.size()) break;
    std::vector<uint8_t> rec(bytes.begin() + off + 4, bytes.begin() + off + 4 + len);
    src->records_.push_back(abi == 1 ? UpgradeV1(std::move(rec)) : std::move(rec));
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
