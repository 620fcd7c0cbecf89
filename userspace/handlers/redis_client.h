// Client side of a Redis connection: commands the app wrote, replies it read, paired by
// protocols/redis and emitted as RedisCall records (command label, outcome, cache semantics).
#pragma once

#include <cstdint>
#include <vector>

#include "conn/handler.h"
#include "protocols/redis/connection.h"
#include "records/sink.h"

namespace fraiseql::handlers {

class RedisClientHandler final : public conn::ProtocolHandler {
 public:
  explicit RedisClientHandler(records::RecordSink& out) : out_(out) {}
  std::string_view name() const override { return "redis"; }
  std::unique_ptr<conn::ConnHandler> Open(const conn::ConnInfo& info,
                                          conn::StreamPair initial) override;
  conn::ProtocolStats& stats() { return stats_; }
  records::RecordSink& out() { return out_; }

 private:
  records::RecordSink& out_;
  conn::ProtocolStats stats_;
};

class RedisClientConn final : public conn::ConnHandler {
 public:
  RedisClientConn(RedisClientHandler& handler, const conn::ConnInfo& info,
                  conn::StreamPair streams);
  void OnData(const DataEvent& e, const conn::Origin& origin) override;
  void OnClose() override;

 private:
  void Report();

  RedisClientHandler& handler_;
  const uint32_t tgid_;
  const records::Workload* workload_;
  conn::StreamPair streams_;
  protocols::redis::RedisConnection redis_;
  std::vector<protocols::redis::CommandRecord> records_;
};

// The command label: the parser upper-cases the first array element; anything that is not a
// plausible command name (garbage, a misparse) becomes "OTHER".
std::string_view RedisCommandLabel(const protocols::redis::CommandRecord& c);

}  // namespace fraiseql::handlers
