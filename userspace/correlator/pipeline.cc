#include "correlator/pipeline.h"

#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "correlator/protocol_inference.h"

namespace fraiseql::correlator {

struct Pipeline::Connection {
  ConnKey key;
  ConnRole role = ConnRole::kUnknown;
  uint16_t lport = 0;
  uint16_t rport = 0;
  bool have_tuple = false;
  ConnProtocol protocol = ConnProtocol::kUnclassified;
  uint64_t last_ts_ns = 0;
  std::optional<HttpServerConn> http;
  // Outbound connections: bytes held until they tell the protocol, then the parser's state.
  std::optional<StreamPair> undecided;
  int inference_attempts = 0;
  std::optional<PgClientConn> pg;
  std::optional<RedisClientConn> redis;
};

namespace {
// Events looked at before an outbound connection is declared not PostgreSQL/Redis.
constexpr int kMaxInferenceAttempts = 8;
}  // namespace

Pipeline::Pipeline(metrics::Registry& registry, PipelineOptions options)
    : registry_(registry),
      options_(options),
      http_metrics_(registry, options.max_endpoints_per_service),
      cache_metrics_(registry),
      db_metrics_(registry, cache_metrics_, options.db),
      redis_metrics_(registry, cache_metrics_),
      attributor_(registry, options.attribution),
      request_tracker_(registry, attributor_, options.requests) {
  events_ = &registry_.AddCounter("fraiseql_collector_events_total",
                                  "Events received from the kernel, by kind", {"kind"});
  decode_errors_ = &registry_.AddCounter(
      "fraiseql_collector_decode_errors_total",
      "Ring-buffer records that did not match the ABI and were dropped", {"reason"});
  data_events_ = &events_->WithLabels({"data"});
  libpq_queries_ = &registry_.AddCounter(
      "fraiseql_collector_libpq_queries_total",
      "Queries seen by the libpq uprobes: counted (TLS connection) or left to the wire parser "
      "(wire_visible), so none is counted twice",
      {"result"});
  tracked_conns_ = &registry_.AddGauge("fraiseql_collector_tracked_connections",
                                       "TCP connections of observed processes being tracked",
                                       {"protocol"});
}

Pipeline::~Pipeline() = default;

void Pipeline::OnRecord(std::span<const uint8_t> record) {
  Event ev;
  DecodeError err = decoder_.Decode(record, &ev);
  if (err != DecodeError::kNone) {
    decode_errors_->WithLabels({DecodeErrorName(err)}).Inc();
    return;
  }
  OnEvent(ev);
}

void Pipeline::OnEvent(const Event& event) {
  if (const auto* d = std::get_if<DataEvent>(&event)) {
    data_events_->Inc();
    OnData(*d);
  } else if (const auto* c = std::get_if<ConnEvent>(&event)) {
    events_->WithLabels({c->kind == ConnEvent::Kind::kOpen ? "conn_open" : "conn_close"}).Inc();
    OnConn(*c);
  } else if (const auto* b = std::get_if<PyCtxEvent>(&event)) {
    events_->WithLabels({"python_context"}).Inc();
    if (options_.request_contexts) {
      attributor_.OnContextBirth(b->tgid, b->ts_ns, b->parent, b->child);
    }
  } else if (const auto* q = std::get_if<PqEvent>(&event)) {
    events_->WithLabels({"libpq"}).Inc();
    OnPq(*q);
  } else if (const auto* p = std::get_if<ProcEvent>(&event)) {
    static constexpr const char* kKinds[] = {"proc_fork", "proc_exec", "proc_exit"};
    events_->WithLabels({kKinds[static_cast<int>(p->kind)]}).Inc();
    if (p->kind == ProcEvent::Kind::kExit) {
      ForgetProcess(p->tgid);
      libpq_.ForgetProcess(p->tgid);
    }
    proc_events_.push_back(*p);
  }
}

Pipeline::Connection& Pipeline::GetOrCreate(const ConnKey& key, uint64_t ts_ns) {
  auto& slot = conns_[key];
  if (!slot) {
    slot = std::make_unique<Connection>();
    slot->key = key;
    fd_gen_[uint64_t{key.tgid} << 32 | uint32_t(key.fd)] = key.gen;
  }
  slot->last_ts_ns = ts_ns;
  return *slot;
}

void Pipeline::Classify(Connection& c) {
  if (c.protocol != ConnProtocol::kUnclassified) return;
  bool server = c.role == ConnRole::kServer ||
                (c.role == ConnRole::kUnknown && c.have_tuple && is_listening_ &&
                 is_listening_(c.key.tgid, c.lport));
  if (server) {
    c.protocol = ConnProtocol::kHttp1Server;
    RequestHooks hooks;
    if (options_.request_contexts) {
      hooks = RequestHooks{&request_tracker_, c.key.tgid, options_.requests.capture_identity};
    }
    c.http.emplace(http_metrics_, ServiceOf(c.key.tgid), options_.stream_buffer_bytes, hooks);
  } else {
    // Outbound, or an open event we never saw: the first bytes decide.
    c.protocol = ConnProtocol::kClientPending;
  }
}

void Pipeline::OnConn(const ConnEvent& e) {
  if (e.kind == ConnEvent::Kind::kOpen) {
    Connection& c = GetOrCreate(e.conn, e.ts_ns);
    c.role = e.role;
    c.lport = e.lport;
    c.rport = e.rport;
    c.have_tuple = true;
    Classify(c);
    spdlog::trace("{}", e.ToString());
    return;
  }
  auto it = conns_.find(e.conn);
  if (it == conns_.end()) return;
  Close(*it->second);
  Erase(it);
}

void Pipeline::OnData(const DataEvent& e) {
  Connection& c = GetOrCreate(e.conn, e.ts_ns);
  Classify(c);
  const Origin origin{.ts_ns = e.ts_ns, .tid = e.tid, .py_ctx = e.py_ctx};
  switch (c.protocol) {
    case ConnProtocol::kHttp1Server:
      if (e.dir == Direction::kIngress) {
        c.http->OnIngress(e.pos, e.data, e.orig_size, origin);
      } else {
        c.http->OnEgress(e.pos, e.data, e.orig_size, origin);
      }
      break;
    case ConnProtocol::kClientPending:
      OnClientData(c, e, origin);
      break;
    case ConnProtocol::kPgClient: {
      bool was_encrypted = c.pg->encrypted();
      c.pg->OnData(e.dir, e.pos, e.data, e.orig_size, origin);
      if (!was_encrypted && c.pg->encrypted()) tls_db_processes_.push_back(c.key.tgid);
      break;
    }
    case ConnProtocol::kRedisClient:
      c.redis->OnData(e.dir, e.pos, e.data, e.orig_size, origin);
      break;
    case ConnProtocol::kUnclassified:
    case ConnProtocol::kUnparsed:
      break;
  }
}

void Pipeline::OnClientData(Connection& c, const DataEvent& e, const Origin& origin) {
  if (!c.undecided) c.undecided.emplace(options_.stream_buffer_bytes);
  c.undecided->Add(e.dir, e.pos, e.data, e.orig_size, origin);
  conn::StreamBuffer& buf = e.dir == Direction::kEgress ? c.undecided->out : c.undecided->in;
  ClientProtocol p = InferClientProtocol(e.dir, buf.head(), buf.Contiguous(), c.rport);
  const std::string& service = ServiceOf(c.key.tgid);
  switch (p) {
    case ClientProtocol::kUndecided:
      if (++c.inference_attempts < kMaxInferenceAttempts) return;
      [[fallthrough]];
    case ClientProtocol::kHttp:
    case ClientProtocol::kOther:
      c.protocol = ConnProtocol::kUnparsed;
      break;
    case ClientProtocol::kPostgres:
      c.protocol = ConnProtocol::kPgClient;
      c.pg.emplace(db_metrics_, service, std::move(*c.undecided), Hooks(c));
      break;
    case ClientProtocol::kRedis:
      c.protocol = ConnProtocol::kRedisClient;
      c.redis.emplace(redis_metrics_, service, std::move(*c.undecided), Hooks(c));
      break;
  }
  c.undecided.reset();
  spdlog::debug("{}: outbound protocol {}", c.key.ToString(), ToString(p));
}

Pipeline::ConnMap::iterator Pipeline::Erase(ConnMap::iterator it) {
  uint64_t k = uint64_t{it->first.tgid} << 32 | uint32_t(it->first.fd);
  auto g = fd_gen_.find(k);
  if (g != fd_gen_.end() && g->second == it->first.gen) fd_gen_.erase(g);
  return conns_.erase(it);
}

Pipeline::Connection* Pipeline::FindByFd(uint32_t tgid, int32_t fd) {
  auto g = fd_gen_.find(uint64_t{tgid} << 32 | uint32_t(fd));
  if (g == fd_gen_.end()) return nullptr;
  auto it = conns_.find(ConnKey{tgid, fd, g->second});
  return it == conns_.end() ? nullptr : it->second.get();
}

// libpq uprobe records count only where the wire cannot be read (TLS), so a query is never
// counted twice: the connection is found by its socket fd; without one (the library's
// PGconn.sock offset unknown), only when every PostgreSQL connection of the process is TLS.
void Pipeline::OnPq(const PqEvent& e) {
  std::vector<protocols::pgsql::QueryRecord> records;
  libpq_.OnEvent(e, &records);
  if (records.empty()) return;
  bool use = false;
  if (e.fd >= 0) {
    Connection* c = FindByFd(e.tgid, e.fd);
    use = c && c->pg && c->pg->encrypted();
  } else {
    size_t tls = 0, clear = 0;
    for (const auto& [key, c] : conns_) {
      if (key.tgid != e.tgid || !c->pg) continue;
      (c->pg->encrypted() ? tls : clear)++;
    }
    use = tls > 0 && clear == 0;
  }
  libpq_queries_->WithLabels({use ? "counted" : "wire_visible"}).Inc(double(records.size()));
  if (!use) return;
  for (const auto& r : records) db_metrics_.OnQuery(ServiceOf(e.tgid), r);
}

std::vector<uint32_t> Pipeline::TakeTlsDbProcesses() {
  std::vector<uint32_t> out;
  out.swap(tls_db_processes_);
  return out;
}

void Pipeline::Close(Connection& c) {
  if (c.http) c.http->OnClose();
  if (c.pg) c.pg->OnClose();
  if (c.redis) c.redis->OnClose();
}

void Pipeline::SetService(uint32_t tgid, std::string service) {
  services_[tgid] = std::move(service);
}

const std::string& Pipeline::ServiceOf(uint32_t tgid) const {
  auto it = services_.find(tgid);
  return it == services_.end() ? default_service_ : it->second;
}

CallHooks Pipeline::Hooks(const Connection& c) {
  if (!options_.request_contexts) return {};
  return CallHooks{&attributor_, c.key.tgid};
}

void Pipeline::ForgetProcess(uint32_t tgid) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->first.tgid == tgid) {
      Close(*it->second);
      it = Erase(it);
    } else {
      ++it;
    }
  }
  attributor_.ForgetProcess(tgid);
  // The service name stays: a connection event still in flight may name it.
}

std::vector<ProcEvent> Pipeline::TakeProcEvents() {
  std::vector<ProcEvent> out;
  out.swap(proc_events_);
  return out;
}

void Pipeline::Tick(uint64_t now_ns) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (now_ns > it->second->last_ts_ns + options_.idle_timeout_ns) {
      Close(*it->second);
      it = Erase(it);
    } else {
      ++it;
    }
  }
  UpdateGauges();
}

void Pipeline::Finish() {
  for (auto& [key, c] : conns_) Close(*c);
  conns_.clear();
  UpdateGauges();
}

void Pipeline::UpdateGauges() {
  size_t http = 0, pg = 0, redis = 0, other = 0;
  std::map<std::string, std::pair<size_t, size_t>> db;  // service -> open, active
  for (const auto& [key, c] : conns_) {
    switch (c->protocol) {
      case ConnProtocol::kHttp1Server: ++http; break;
      case ConnProtocol::kRedisClient: ++redis; break;
      case ConnProtocol::kPgClient: {
        ++pg;
        if (!c->pg->open()) break;
        auto& [open, active] = db[ServiceOf(key.tgid)];
        ++open;
        active += c->pg->active();
        break;
      }
      default: ++other; break;
    }
  }
  tracked_conns_->WithLabels({"http1"}).Set(double(http));
  tracked_conns_->WithLabels({"pgsql"}).Set(double(pg));
  tracked_conns_->WithLabels({"redis"}).Set(double(redis));
  tracked_conns_->WithLabels({"other"}).Set(double(other));
  db_metrics_.SetConnections(db);
}

}  // namespace fraiseql::correlator
