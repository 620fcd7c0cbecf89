// The userspace pipeline after the source: decoder → connections (conn/) → protocol
// parsers (protocols/) → request/response pairing → metrics. One thread drives it
// (the collector loop, a replay, a benchmark); the metrics registry is the only thing
// shared with the exporter thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "correlator/attribution.h"
#include "correlator/cache_metrics.h"
#include "correlator/http_server_conn.h"
#include "correlator/libpq_calls.h"
#include "correlator/pg_client_conn.h"
#include "correlator/redis_client_conn.h"
#include "correlator/request_tracker.h"
#include "decoder/decoder.h"
#include "metrics/registry.h"

namespace fraiseql::correlator {

struct PipelineOptions {
  size_t max_endpoints_per_service = 100;
  // Per direction of each connection: bytes kept while waiting for a frame to complete.
  size_t stream_buffer_bytes = 1 << 20;
  // A connection with no event for this long is dropped (its close was lost).
  uint64_t idle_timeout_ns = 600ull * 1000000000ull;
  DbOptions db;
  // Request contexts (GraphQL, attribution, request log). Off: HTTP metrics only.
  bool request_contexts = true;
  RequestOptions requests;
  AttributionOptions attribution;
};

enum class ConnProtocol : uint8_t {
  kUnclassified,   // no open event or data seen yet
  kHttp1Server,    // accepted on a listening port: HTTP/1.x requests in, responses out
  kClientPending,  // outbound: waiting for bytes that tell the protocol
  kPgClient,       // the app's PostgreSQL connection
  kRedisClient,    // the app's Redis connection
  kUnparsed,       // anything else: counted, bytes not parsed
};

class Pipeline {
 public:
  Pipeline(metrics::Registry& registry, PipelineOptions options);
  ~Pipeline();

  // A raw ring-buffer record: decoded, counted, dispatched.
  void OnRecord(std::span<const uint8_t> record);
  void OnEvent(const Event& event);

  void SetService(uint32_t tgid, std::string service);
  void SetDefaultService(std::string service) { default_service_ = std::move(service); }
  // Tells whether `tgid` listens on TCP `port` (role of sockets opened before we attached).
  void SetListeningPortFn(std::function<bool(uint32_t, uint16_t)> fn) { is_listening_ = std::move(fn); }
  // Drops every connection of a process that is no longer observed.
  void ForgetProcess(uint32_t tgid);
  // Process events seen since the last call (the collector acts on them).
  std::vector<ProcEvent> TakeProcEvents();
  // Processes whose PostgreSQL connections turned out to be TLS since the last call: their
  // queries can only be seen through libpq uprobes.
  std::vector<uint32_t> TakeTlsDbProcesses();
  // Periodic housekeeping: idle connections, gauges.
  void Tick(uint64_t now_ns);
  // End of input (replay): closes every connection as if its socket closed.
  void Finish();

  size_t tracked_connections() const { return conns_.size(); }
  const Decoder& decoder() const { return decoder_; }
  const StatementTable& statements() const { return db_metrics_.statements(); }

 private:
  struct Connection;
  Connection& GetOrCreate(const ConnKey& key, uint64_t ts_ns);
  void Classify(Connection& c);
  CallHooks Hooks(const Connection& c);
  void OnData(const DataEvent& e);
  void OnClientData(Connection& c, const DataEvent& e, const Origin& origin);
  void OnConn(const ConnEvent& e);
  void OnPq(const PqEvent& e);
  Connection* FindByFd(uint32_t tgid, int32_t fd);
  using ConnMap = std::unordered_map<ConnKey, std::unique_ptr<Connection>, ConnKeyHash>;
  // Closes nothing: forgets the entry (and its fd index) and returns the next iterator.
  ConnMap::iterator Erase(ConnMap::iterator it);
  void Close(Connection& c);
  const std::string& ServiceOf(uint32_t tgid) const;
  void UpdateGauges();

  metrics::Registry& registry_;
  PipelineOptions options_;
  Decoder decoder_;
  HttpMetrics http_metrics_;
  CacheMetrics cache_metrics_;
  DbMetrics db_metrics_;
  RedisMetrics redis_metrics_;
  Attributor attributor_;
  RequestTracker request_tracker_;
  ConnMap conns_;
  std::unordered_map<uint32_t, std::string> services_;
  std::string default_service_ = "unknown_service";
  std::function<bool(uint32_t, uint16_t)> is_listening_;
  std::vector<ProcEvent> proc_events_;
  LibpqCalls libpq_;
  std::unordered_map<uint64_t, uint64_t> fd_gen_;  // (tgid << 32 | fd) -> live generation
  std::vector<uint32_t> tls_db_processes_;
  metrics::CounterFamily* libpq_queries_;

  metrics::CounterFamily* events_;
  metrics::Counter* data_events_;
  metrics::CounterFamily* decode_errors_;
  metrics::GaugeFamily* tracked_conns_;
};

}  // namespace fraiseql::correlator
