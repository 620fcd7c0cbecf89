// JSON-lines sinks: the slow-query log, N+1 findings and the opt-in request log. Nothing in
// them is a literal: SQL is normalized, no body, variable, header value or bind value.
#pragma once

#include <cstdint>

#include "records/sink.h"
#include "sinks/logs/json_lines.h"

namespace fraiseql::sinks {

// One line per statement at least `slow_query_ns` long.
class SlowQueryLog final : public records::RecordSink {
 public:
  SlowQueryLog(JsonLines& out, uint64_t slow_query_ns) : out_(out), slow_query_ns_(slow_query_ns) {}
  void OnDbCall(const records::DbCall& c) override;

 private:
  JsonLines& out_;
  const uint64_t slow_query_ns_;
};

// One line per repeated statement of a single-operation request (the N+1 threshold).
class NPlusOneLog final : public records::RecordSink {
 public:
  NPlusOneLog(JsonLines& out, uint32_t threshold) : out_(out), threshold_(threshold) {}
  void OnCompletedRequest(const records::CompletedRequest& r) override;

 private:
  JsonLines& out_;
  const uint32_t threshold_;
};

struct RequestLogOptions {
  bool capture_identity = false;  // user_id / tenant_id (opt-in)
};

// One line per answered (sampled) request: ids, operations, attributed calls.
class RequestLog final : public records::RecordSink {
 public:
  RequestLog(JsonLines& out, RequestLogOptions options);
  void OnCompletedRequest(const records::CompletedRequest& r) override;

 private:
  JsonLines& out_;
  RequestLogOptions options_;
  uint64_t id_counter_ = 0;
  uint64_t id_seed_;
};

}  // namespace fraiseql::sinks
