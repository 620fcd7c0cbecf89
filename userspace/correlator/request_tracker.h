// Request contexts: each answered inbound HTTP request becomes one context (ids, GraphQL
// operations, outcome, duration, the DB and Redis calls attributed to it), which feeds the
// GraphQL metrics, the APQ counters, N+1 detection and the opt-in request log.
#pragma once

#include <cstdint>
#include <cstdio>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "correlator/attribution.h"
#include "metrics/registry.h"
#include "protocols/graphql/graphql.h"

namespace fraiseql::correlator {

struct RequestOptions {
  size_t max_operations_per_service = 200;  // operation_name values before "other"
  uint32_t n_plus_one_threshold = 10;       // same statement this often in one request
  size_t apq_memory = 10000;                // persisted-query hashes remembered per service
  std::FILE* request_log = nullptr;         // JSON lines per request (opt-in); nullptr: none
  std::FILE* event_log = nullptr;           // N+1 findings as JSON lines; nullptr: none
  bool capture_identity = false;            // user_id / tenant_id in the request log
};

// One answered HTTP request as the server connection saw it.
struct HttpRequestView {
  uint32_t tgid = 0;
  uint64_t request_id = 0;  // Attributor id
  std::string method;       // normalized
  std::string raw_method;   // as sent (for GraphQL shape detection)
  std::string target;
  std::string endpoint;     // normalized, capped
  int status = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  Origin first_write;
  // Request headers of interest (empty when absent) and body.
  std::string content_type;
  std::string x_request_id;
  std::string traceparent;
  std::string x_trace_id;
  std::string body;
  bool body_truncated = false;
  std::string jwt_sub{};  // --capture-identity only
  // Response.
  std::string response_content_type{};
  std::string response_content_encoding{};
  std::string_view response_body{};  // valid during OnRequest only
  bool response_body_truncated = false;
};

class RequestTracker {
 public:
  RequestTracker(metrics::Registry& registry, Attributor& attributor, RequestOptions options);

  // A request's head was read (`start`: the origin of its first byte); returns its id.
  uint64_t OnRequestStart(uint32_t tgid, const Origin& start) {
    return attributor_.OnRequestStart(tgid, start);
  }
  // Its connection closed unanswered.
  void OnRequestAbandoned(uint32_t tgid, uint64_t request_id) {
    attributor_.OnRequestAbandoned(tgid, request_id);
  }
  // It was answered: attribution, GraphQL metrics, N+1, the request log.
  void OnRequest(const std::string& service, const HttpRequestView& r);

 private:
  struct OpResult {
    protocols::graphql::OperationType type = protocols::graphql::OperationType::kUnknown;
    std::string name;  // label (capped)
    std::string mode;
    std::string outcome;
    std::string apq = "none";
    uint32_t depth = 0, fields = 0;
    uint64_t complexity = 0;
    bool counted = true;  // an APQ miss is not an executed operation
  };
  // What a persisted-query hash stands for (learnt when it was registered).
  struct ApqEntry {
    protocols::graphql::OperationType type;
    std::string label;
    uint32_t depth, fields;
    uint64_t complexity;
  };
  struct ApqMemory {
    std::list<std::string> lru;  // most recent first
    std::unordered_map<std::string, std::pair<ApqEntry, std::list<std::string>::iterator>> map;
  };

  std::string CapOperation(const std::string& service, const std::string& label);
  void RememberApq(const std::string& service, const std::string& hash, const ApqEntry& e);
  const ApqEntry* RecallApq(const std::string& service, const std::string& hash);
  std::vector<OpResult> GraphqlOperations(const std::string& service, const HttpRequestView& r);

  Attributor& attributor_;
  RequestOptions options_;
  std::unordered_map<std::string, std::unordered_set<std::string>> operations_;
  std::unordered_map<std::string, ApqMemory> apq_;
  uint64_t id_counter_ = 0;
  uint64_t id_seed_;

  metrics::CounterFamily& queries_;
  metrics::HistogramFamily& duration_;
  metrics::HistogramFamily& depth_;
  metrics::HistogramFamily& fields_;
  metrics::HistogramFamily& db_queries_;
  metrics::CounterFamily& n_plus_one_;
  metrics::CounterFamily& apq_requests_;
  metrics::CounterFamily& malformed_;
};

}  // namespace fraiseql::correlator
