#include "conn/tracker.h"

#include <optional>

#include <spdlog/spdlog.h>

namespace fraiseql::conn {

namespace {
uint64_t FdKey(uint32_t tgid, int32_t fd) { return uint64_t{tgid} << 32 | uint32_t(fd); }
}  // namespace

struct Tracker::Entry {
  enum class State : uint8_t {
    kUnclassified,   // no open event or data seen yet
    kPending,        // outbound: waiting for bytes that tell the protocol
    kParsed,         // a handler has it
    kUnparsed,       // anything else: counted, bytes not parsed
  };
  ConnInfo info;
  State state = State::kUnclassified;
  uint64_t last_ts_ns = 0;
  size_t slot = kMaxProtocols;  // protocol slot of the handler (names_), kMaxProtocols: other
  std::unique_ptr<ConnHandler> handler;
  ProtocolHandler* protocol = nullptr;
  // Outbound connections: bytes held until they tell the protocol.
  std::optional<StreamPair> undecided;
  int inference_attempts = 0;
};

Tracker::Tracker(TrackerOptions options, const records::WorkloadTable& workloads)
    : options_(options), workloads_(workloads) {}

Tracker::~Tracker() = default;

void Tracker::SetServerHandler(ProtocolHandler* h) {
  server_ = h;
  names_.emplace_back(h->name());
}

void Tracker::AddClientHandler(ProtocolHandler* h) {
  clients_.push_back(h);
  names_.emplace_back(h->name());
}

ProtocolHandler* Tracker::ClientHandler(std::string_view name) const {
  for (ProtocolHandler* h : clients_) {
    if (h->name() == name) return h;
  }
  return nullptr;
}

Tracker::Entry& Tracker::GetOrCreate(const ConnKey& key, uint64_t ts_ns) {
  auto& slot = conns_[key];
  if (!slot) {
    slot = std::make_unique<Entry>();
    slot->info.key = key;
    slot->info.workload = workloads_.Of(key.tgid);
    fd_gen_[FdKey(key.tgid, key.fd)] = key.gen;
  }
  slot->last_ts_ns = ts_ns;
  return *slot;
}

void Tracker::OpenWith(Entry& c, ProtocolHandler* h, StreamPair initial) {
  c.state = Entry::State::kParsed;
  c.protocol = h;
  c.slot = kMaxProtocols;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == h->name()) c.slot = i;
  }
  c.info.workload = workloads_.Of(c.info.key.tgid);
  c.handler = h->Open(c.info, std::move(initial));
}

void Tracker::Classify(Entry& c) {
  if (c.state != Entry::State::kUnclassified) return;
  const ConnInfo& i = c.info;
  bool server = i.role == ConnRole::kServer ||
                (i.role == ConnRole::kUnknown && i.have_tuple && is_listening_ &&
                 is_listening_(i.key.tgid, i.lport));
  if (!server) {
    // Outbound, or an open event we never saw: the first bytes decide.
    c.state = Entry::State::kPending;
  } else if (server_) {
    OpenWith(c, server_, StreamPair(options_.stream_buffer_bytes));
  } else {
    c.state = Entry::State::kUnparsed;  // the server protocol is switched off
  }
}

void Tracker::OnConn(const ConnEvent& e) {
  if (e.kind == ConnEvent::Kind::kOpen) {
    Entry& c = GetOrCreate(e.conn, e.ts_ns);
    c.info.role = e.role;
    c.info.lport = e.lport;
    c.info.rport = e.rport;
    c.info.have_tuple = true;
    Classify(c);
    spdlog::trace("{}", e.ToString());
    return;
  }
  auto it = conns_.find(e.conn);
  if (it == conns_.end()) return;
  Close(*it->second);
  Erase(it);
}

void Tracker::OnData(const DataEvent& e) {
  Entry& c = GetOrCreate(e.conn, e.ts_ns);
  Classify(c);
  const Origin origin{.ts_ns = e.ts_ns, .tid = e.tid, .py_ctx = e.py_ctx};
  switch (c.state) {
    case Entry::State::kParsed: c.handler->OnData(e, origin); break;
    case Entry::State::kPending: Infer(c, e, origin); break;
    case Entry::State::kUnclassified:
    case Entry::State::kUnparsed: break;
  }
}

void Tracker::Infer(Entry& c, const DataEvent& e, const Origin& origin) {
  if (!c.undecided) c.undecided.emplace(options_.stream_buffer_bytes);
  c.undecided->Add(e.dir, e.pos, e.data, e.orig_size, origin);
  StreamBuffer& buf = e.dir == Direction::kEgress ? c.undecided->out : c.undecided->in;
  ClientInference::Result r;
  if (inference_) r = inference_->Infer(e.dir, buf.head(), buf.Contiguous(), c.info.rport);
  ProtocolHandler* h = nullptr;
  switch (r.verdict) {
    case ClientInference::Verdict::kUndecided:
      if (!inference_ || ++c.inference_attempts >= options_.max_inference_attempts) {
        c.state = Entry::State::kUnparsed;
      }
      if (c.state == Entry::State::kPending) return;
      break;
    case ClientInference::Verdict::kOther: c.state = Entry::State::kUnparsed; break;
    case ClientInference::Verdict::kProtocol:
      h = ClientHandler(r.protocol);
      if (!h) c.state = Entry::State::kUnparsed;  // known, but switched off or not parsed
      break;
  }
  if (h) OpenWith(c, h, std::move(*c.undecided));
  c.undecided.reset();
  spdlog::debug("{}: outbound protocol {}", c.info.key.ToString(),
                r.protocol.empty() ? std::string_view("other") : r.protocol);
}

Tracker::Map::iterator Tracker::Erase(Map::iterator it) {
  auto g = fd_gen_.find(FdKey(it->first.tgid, it->first.fd));
  if (g != fd_gen_.end() && g->second == it->first.gen) fd_gen_.erase(g);
  return conns_.erase(it);
}

const ConnHandler* Tracker::FindByFd(uint32_t tgid, int32_t fd) const {
  auto g = fd_gen_.find(FdKey(tgid, fd));
  if (g == fd_gen_.end()) return nullptr;
  auto it = conns_.find(ConnKey{tgid, fd, g->second});
  return it == conns_.end() ? nullptr : it->second->handler.get();
}

std::pair<size_t, size_t> Tracker::CountByProtocol(uint32_t tgid, std::string_view name) const {
  size_t all = 0, opaque = 0;
  for (const auto& [key, c] : conns_) {
    if (key.tgid != tgid || !c->protocol || c->protocol->name() != name) continue;
    ++all;
    opaque += c->handler->opaque();
  }
  return {all, opaque};
}

void Tracker::Close(Entry& c) {
  if (c.handler) c.handler->OnClose();
}

void Tracker::ForgetProcess(uint32_t tgid) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->first.tgid == tgid) {
      Close(*it->second);
      it = Erase(it);
    } else {
      ++it;
    }
  }
}

void Tracker::Tick(uint64_t now_ns) {
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

void Tracker::Finish() {
  for (auto& [key, c] : conns_) Close(*c);
  conns_.clear();
  fd_gen_.clear();
  UpdateGauges();
}

void Tracker::UpdateGauges() {
  std::array<uint64_t, kMaxProtocols + 1> counts{};
  std::vector<ProtocolHandler*> all;
  if (server_) all.push_back(server_);
  all.insert(all.end(), clients_.begin(), clients_.end());
  for (ProtocolHandler* h : all) h->GaugeBegin();
  for (const auto& [key, c] : conns_) {
    size_t slot = std::min(c->slot, kMaxProtocols);
    ++counts[slot];
    if (c->handler) c->protocol->GaugeAdd(c->info, *c->handler);
  }
  for (ProtocolHandler* h : all) h->GaugeEnd();
  for (size_t i = 0; i <= kMaxProtocols; ++i) {
    tracked_[i].store(counts[i], std::memory_order_relaxed);
  }
}

std::vector<std::pair<std::string, uint64_t>> Tracker::TrackedByProtocol() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < names_.size() && i < kMaxProtocols; ++i) {
    out.emplace_back(names_[i], tracked_[i].load(std::memory_order_relaxed));
  }
  out.emplace_back("other", tracked_[kMaxProtocols].load(std::memory_order_relaxed));
  return out;
}

}  // namespace fraiseql::conn
