#include "correlator/redis_client_conn.h"

#include <cctype>

namespace fraiseql::correlator {

using protocols::redis::CacheOperation;
using protocols::redis::CommandRecord;
using protocols::redis::ReplyKind;

namespace {

// A command label: the parser upper-cases the first array element; anything that is not a
// plausible command name (garbage, a misparse) must not become a label value.
std::string CommandLabel(const CommandRecord& c) {
  const std::string& name = c.command;
  if (name.empty() || name.size() > 32) return "OTHER";
  for (char ch : name) {
    if (!std::isupper(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' &&
        !std::isdigit(static_cast<unsigned char>(ch))) {
      return "OTHER";
    }
  }
  return name;
}

const char* Outcome(const CommandRecord& c) {
  if (c.error || c.reply == ReplyKind::kError) return "error";
  switch (c.reply) {
    case ReplyKind::kUnknown: return "unknown";
    case ReplyKind::kNotExecuted: return "not_executed";
    case ReplyKind::kNoReply: return "no_reply";
    default: return "success";
  }
}

}  // namespace

RedisMetrics::RedisMetrics(metrics::Registry& r, CacheMetrics& cache)
    : counters_(r, "redis"),
      commands_(r.AddCounter("fraiseql_redis_commands_total",
                             "Redis commands sent by observed services, by outcome",
                             {"service_name", "command", "outcome"}, 2000)),
      duration_(r.AddHistogram("fraiseql_redis_command_duration_seconds",
                               "From the first byte of a command to the last byte of its reply",
                               {"service_name", "command"}, metrics::LatencyBuckets(), 1000)),
      cache_(cache) {}

Call RedisMetrics::OnCommand(const std::string& service, const CommandRecord& c) {
  std::string command = CommandLabel(c);
  commands_.WithLabels({service, command, Outcome(c)}).Inc();
  double sec = c.end_ns > c.start_ns ? double(c.end_ns - c.start_ns) / 1e9 : 0.0;
  duration_.WithLabels({service, command}).Observe(sec);
  Call call{.kind = Call::Kind::kRedis, .what = command, .start_ns = c.start_ns,
            .end_ns = c.end_ns, .error = c.error};
  auto cache = protocols::redis::ClassifyCache(c);
  if (cache.operation == CacheOperation::kNone) return call;
  cache_.Record(service, "redis", protocols::redis::ToString(cache.operation), cache.hits,
                cache.misses, sec);
  call.cache_hits = cache.hits;
  call.cache_misses = cache.misses;
  return call;
}

RedisClientConn::RedisClientConn(RedisMetrics& metrics, const std::string& service,
                                 StreamPair streams, CallHooks hooks)
    : metrics_(metrics), service_(service), streams_(std::move(streams)), hooks_(hooks) {
  redis_.Poll(streams_.out, streams_.in, &records_);
  Report();
}

void RedisClientConn::OnData(fraiseql::Direction dir, uint64_t pos, std::string_view data,
                             uint64_t orig_size, const Origin& origin) {
  streams_.Add(dir, pos, data, orig_size, origin);
  redis_.Poll(streams_.out, streams_.in, &records_);
  Report();
}

void RedisClientConn::OnClose() {
  redis_.Finish(&records_);
  Report();
}

void RedisClientConn::Report() {
  for (const auto& r : records_) {
    Call call = metrics_.OnCommand(service_, r);
    if (hooks_.attributor) {
      hooks_.attributor->OnCall(hooks_.tgid, streams_.out_origins.Find(r.start_ns), std::move(call));
    }
  }
  records_.clear();
  streams_.Account(metrics_.counters(), redis_.parse_errors());
}

}  // namespace fraiseql::correlator
