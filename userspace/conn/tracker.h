// The connection tracker: the table of the observed processes' TCP connections keyed by
// (tgid, fd, generation), the fd index, idle expiry and close handling, and who parses each
// connection: the server handler for sockets accepted or opened on a port the process listens
// on, else the protocol the first bytes tell (ClientInference), else nobody (counted as
// other). One thread (the pipeline's) drives it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conn/handler.h"
#include "records/workloads.h"

namespace fraiseql::conn {

struct TrackerOptions {
  // Per direction of each connection: bytes kept while waiting for a frame to complete.
  size_t stream_buffer_bytes = 1 << 20;
  // A connection with no event for this long is dropped (its close was lost).
  uint64_t idle_timeout_ns = 600ull * 1000000000ull;
  // Events looked at before an outbound connection is declared none of ours.
  int max_inference_attempts = 8;
};

class Tracker {
 public:
  static constexpr size_t kMaxProtocols = 8;

  Tracker(TrackerOptions options, const records::WorkloadTable& workloads);
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  // Registration (before the first event). Handlers and the inference are not owned.
  void SetServerHandler(ProtocolHandler* h);
  void AddClientHandler(ProtocolHandler* h);
  void SetInference(const ClientInference* inference) { inference_ = inference; }
  // Whether `tgid` listens on TCP `port`: the role of sockets opened before we attached.
  void SetListeningFn(std::function<bool(uint32_t, uint16_t)> fn) { is_listening_ = std::move(fn); }

  void OnData(const DataEvent& e);
  void OnConn(const ConnEvent& e);
  // Closes and drops every connection of a process that is no longer observed.
  void ForgetProcess(uint32_t tgid);
  // Idle expiry, then gauges.
  void Tick(uint64_t now_ns);
  // End of input (replay): closes every connection as if its socket closed.
  void Finish();

  // The live connection on (tgid, fd), nullptr if none or not parsed.
  const ConnHandler* FindByFd(uint32_t tgid, int32_t fd) const;
  // Connections of `tgid` parsed by the protocol `name`, and how many of them are opaque.
  std::pair<size_t, size_t> CountByProtocol(uint32_t tgid, std::string_view name) const;

  size_t size() const { return conns_.size(); }
  // Tracked connections by protocol (names(), then "other"), as of the last tick; read from
  // any thread.
  std::vector<std::pair<std::string, uint64_t>> TrackedByProtocol() const;

 private:
  struct Entry;
  using Map = std::unordered_map<ConnKey, std::unique_ptr<Entry>, ConnKeyHash>;
  Entry& GetOrCreate(const ConnKey& key, uint64_t ts_ns);
  void Classify(Entry& c);
  void Infer(Entry& c, const DataEvent& e, const Origin& origin);
  void OpenWith(Entry& c, ProtocolHandler* h, StreamPair initial);
  Map::iterator Erase(Map::iterator it);
  void Close(Entry& c);
  void UpdateGauges();
  ProtocolHandler* ClientHandler(std::string_view name) const;

  TrackerOptions options_;
  const records::WorkloadTable& workloads_;
  ProtocolHandler* server_ = nullptr;
  std::vector<ProtocolHandler*> clients_;
  const ClientInference* inference_ = nullptr;
  std::function<bool(uint32_t, uint16_t)> is_listening_;
  Map conns_;
  std::unordered_map<uint64_t, uint64_t> fd_gen_;  // (tgid << 32 | fd) -> live generation
  std::vector<std::string> names_;                  // protocol slots, then "other"
  std::array<std::atomic<uint64_t>, kMaxProtocols + 1> tracked_{};
};

}  // namespace fraiseql::conn
