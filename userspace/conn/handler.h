// How protocols plug into the connection tracker: one ProtocolHandler per protocol (registered
// once), which opens one ConnHandler per connection it takes. The tracker owns the table and
// decides who gets a connection (the server handler for accepted / listening sockets, the
// inference for outbound ones); handlers parse and emit records.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "conn/stream_pair.h"
#include "decoder/event.h"
#include "records/records.h"

namespace fraiseql::conn {

struct ConnInfo {
  ConnKey key;
  ConnRole role = ConnRole::kUnknown;
  uint16_t lport = 0;
  uint16_t rport = 0;
  bool have_tuple = false;
  const records::Workload* workload = nullptr;
};

class ConnHandler {
 public:
  virtual ~ConnHandler() = default;
  virtual void OnData(const DataEvent& e, const Origin& origin) = 0;
  // The socket closed (or the connection expired, or the process is gone).
  virtual void OnClose() = 0;
  // The connection's bytes can no longer be read (it switched to TLS).
  virtual bool opaque() const { return false; }
};

class ProtocolHandler {
 public:
  virtual ~ProtocolHandler() = default;
  // Label of the protocol ("http1", "pgsql", "redis"): tracked-connection gauges, stats.
  virtual std::string_view name() const = 0;
  // Takes a connection. `initial` holds the bytes that decided the protocol (outbound
  // connections), or is empty (server connections, opened before any byte).
  virtual std::unique_ptr<ConnHandler> Open(const ConnInfo& info, StreamPair initial) = 0;
  // At each tick, after the table's idle connections were expired: every live connection of
  // this protocol, then End. Gauge-like state (pool sizes) is reported from here.
  virtual void GaugeBegin() {}
  virtual void GaugeAdd(const ConnInfo& /*info*/, const ConnHandler& /*conn*/) {}
  virtual void GaugeEnd() {}
};

// Which protocol an outbound connection speaks, from its first known bytes. One function for
// every protocol, because which one wins a tie (a RESP reply that is also a PostgreSQL message
// chain) must be decided in one place.
class ClientInference {
 public:
  enum class Verdict : uint8_t { kUndecided, kProtocol, kOther };
  struct Result {
    Verdict verdict = Verdict::kUndecided;
    std::string_view protocol;  // kProtocol: a handler's name()
  };
  virtual ~ClientInference() = default;
  virtual Result Infer(Direction dir, uint64_t pos, std::string_view data,
                       uint16_t rport) const = 0;
};

}  // namespace fraiseql::conn
