// Client side of a PostgreSQL connection (the observed app talking to its database): frontend
// bytes are what the app wrote, backend bytes what it read. protocols/pgsql stitches them into
// query and transaction records, emitted as DbCall / DbTransaction records; at each tick the
// open/active connections per workload as a DbPool record.
#pragma once

#include <cstdint>
#include <functional>
#include <map>

#include "conn/handler.h"
#include "handlers/db_calls.h"
#include "protocols/pgsql/connection.h"
#include "records/sink.h"

namespace fraiseql::handlers {

class PgClientHandler final : public conn::ProtocolHandler {
 public:
  PgClientHandler(DbCallBuilder& builder, records::RecordSink& out);
  std::string_view name() const override { return "pgsql"; }
  std::unique_ptr<conn::ConnHandler> Open(const conn::ConnInfo& info,
                                          conn::StreamPair initial) override;
  void GaugeBegin() override;
  void GaugeAdd(const conn::ConnInfo& info, const conn::ConnHandler& conn) override;
  void GaugeEnd() override;

  // Told once per connection that turns out to be TLS (its queries are then visible only
  // through libpq uprobes): the control plane's probe policy listens.
  void SetOnEncrypted(std::function<void(uint32_t tgid)> fn) { on_encrypted_ = std::move(fn); }

  conn::ProtocolStats& stats() { return stats_; }
  DbCallBuilder& builder() { return builder_; }
  records::RecordSink& out() { return out_; }
  void Encrypted(uint32_t tgid);

 private:
  DbCallBuilder& builder_;
  records::RecordSink& out_;
  conn::ProtocolStats stats_;
  std::function<void(uint32_t)> on_encrypted_;
  std::map<const records::Workload*, records::DbPool::Entry> pool_;
};

class PgClientConn final : public conn::ConnHandler {
 public:
  PgClientConn(PgClientHandler& handler, const conn::ConnInfo& info, conn::StreamPair streams);
  void OnData(const DataEvent& e, const conn::Origin& origin) override;
  void OnClose() override;
  bool opaque() const override { return pg_.encrypted(); }

  // A session (for the connection gauges): not terminated by the client or ended by the server.
  bool open() const { return !pg_.terminated() && !pg_.server_closed(); }
  // In a transaction or with a query in flight.
  bool active() const {
    return pg_.in_transaction() || pg_.tx_status() == 'T' || pg_.tx_status() == 'E' ||
           pg_.pending() > 0;
  }

 private:
  void Drain();
  void Emit();

  PgClientHandler& handler_;
  const uint32_t tgid_;
  const records::Workload* workload_;
  conn::StreamPair streams_;
  protocols::pgsql::PgConnection pg_;
  bool reported_encrypted_ = false;
};

}  // namespace fraiseql::handlers
