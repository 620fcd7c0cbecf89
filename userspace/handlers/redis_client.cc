#include "handlers/redis_client.h"

#include <cctype>

namespace fraiseql::handlers {

using protocols::redis::CacheOperation;
using protocols::redis::CommandRecord;
using protocols::redis::ReplyKind;

namespace {

const char* Outcome(const CommandRecord& c) {
  if (c.error || c.reply == ReplyKind::kError) return "error";
  switch (c.reply) {
    case ReplyKind::kUnknown: return "unknown";
    case ReplyKind::kNotExecuted: return "not_executed";
    case ReplyKind::kNoReply: return "no_reply";
    default: return "success";
  }
}

records::CacheOp CacheOpOf(CacheOperation op) {
  switch (op) {
    case CacheOperation::kGet: return records::CacheOp::kGet;
    case CacheOperation::kSet: return records::CacheOp::kSet;
    case CacheOperation::kDelete: return records::CacheOp::kDelete;
    default: return records::CacheOp::kNone;
  }
}

}  // namespace

std::string_view RedisCommandLabel(const CommandRecord& c) {
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

std::unique_ptr<conn::ConnHandler> RedisClientHandler::Open(const conn::ConnInfo& info,
                                                           conn::StreamPair initial) {
  return std::make_unique<RedisClientConn>(*this, info, std::move(initial));
}

RedisClientConn::RedisClientConn(RedisClientHandler& handler, const conn::ConnInfo& info,
                                 conn::StreamPair streams)
    : handler_(handler),
      tgid_(info.key.tgid),
      workload_(info.workload),
      streams_(std::move(streams)) {
  redis_.Poll(streams_.out, streams_.in, &records_);
  Report();
}

void RedisClientConn::OnData(const DataEvent& e, const conn::Origin& origin) {
  streams_.Add(e.dir, e.pos, e.data, e.orig_size, origin);
  redis_.Poll(streams_.out, streams_.in, &records_);
  Report();
}

void RedisClientConn::OnClose() {
  redis_.Finish(&records_);
  Report();
}

void RedisClientConn::Report() {
  for (const auto& r : records_) {
    records::RedisCall call{
        .tgid = tgid_,
        .workload = workload_,
        .origin = streams_.out_origins.Find(r.start_ns),
        .command = RedisCommandLabel(r),
        .outcome = Outcome(r),
        .start_ns = r.start_ns,
        .end_ns = r.end_ns,
        .error = r.error,
    };
    auto cache = protocols::redis::ClassifyCache(r);
    call.cache_op = CacheOpOf(cache.operation);
    if (call.cache_op != records::CacheOp::kNone) {
      call.cache_hits = cache.hits;
      call.cache_misses = cache.misses;
    }
    handler_.out().OnRedisCall(call);
  }
  records_.clear();
  streams_.Account(handler_.stats(), redis_.parse_errors());
}

}  // namespace fraiseql::handlers
