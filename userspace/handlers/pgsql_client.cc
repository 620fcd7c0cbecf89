#include "handlers/pgsql_client.h"

namespace fraiseql::handlers {

PgClientHandler::PgClientHandler(DbCallBuilder& builder, records::RecordSink& out)
    : builder_(builder), out_(out) {}

std::unique_ptr<conn::ConnHandler> PgClientHandler::Open(const conn::ConnInfo& info,
                                                        conn::StreamPair initial) {
  return std::make_unique<PgClientConn>(*this, info, std::move(initial));
}

void PgClientHandler::Encrypted(uint32_t tgid) {
  conn::ProtocolStats::Add(stats_.encrypted_connections, 1);
  if (on_encrypted_) on_encrypted_(tgid);
}

void PgClientHandler::GaugeBegin() {
  for (auto& [w, e] : pool_) e = records::DbPool::Entry{.workload = w};
}

void PgClientHandler::GaugeAdd(const conn::ConnInfo& info, const conn::ConnHandler& c) {
  const auto& pg = static_cast<const PgClientConn&>(c);
  if (!pg.open()) return;
  auto& e = pool_[info.workload];
  e.workload = info.workload;
  ++e.open;
  e.active += pg.active();
}

void PgClientHandler::GaugeEnd() {
  // Every workload ever seen is reported, at 0 once its connections are gone.
  records::DbPool pool;
  for (const auto& [w, e] : pool_) pool.entries.push_back(e);
  out_.OnDbPool(pool);
}

PgClientConn::PgClientConn(PgClientHandler& handler, const conn::ConnInfo& info,
                           conn::StreamPair streams)
    : handler_(handler),
      tgid_(info.key.tgid),
      workload_(info.workload),
      streams_(std::move(streams)) {
  Drain();  // the bytes that decided the protocol
}

void PgClientConn::OnData(const DataEvent& e, const conn::Origin& origin) {
  streams_.Add(e.dir, e.pos, e.data, e.orig_size, origin);
  Drain();
}

void PgClientConn::Emit() {
  records::RecordSink& out = handler_.out();
  for (const auto& q : pg_.TakeRecords()) {
    DbCallScratch scratch;
    records::DbCall c = handler_.builder().Build(tgid_, workload_,
                                                 streams_.out_origins.Find(q.start_ns), q,
                                                 &scratch);
    out.OnDbCall(c);
  }
  for (const auto& t : pg_.TakeTransactions()) {
    out.OnDbTransaction(records::DbTransaction{.tgid = tgid_,
                                               .workload = workload_,
                                               .begin_ns = t.begin_ns,
                                               .end_ns = t.end_ns,
                                               .committed = t.committed});
  }
}

void PgClientConn::Drain() {
  pg_.Poll(streams_.out, streams_.in);
  Emit();
  if (pg_.encrypted() && !reported_encrypted_) {
    reported_encrypted_ = true;
    handler_.Encrypted(tgid_);
  }
  streams_.Account(handler_.stats(), pg_.parse_errors());
}

void PgClientConn::OnClose() {
  pg_.Finish();
  Emit();
  streams_.Account(handler_.stats(), pg_.parse_errors());
}

}  // namespace fraiseql::handlers
