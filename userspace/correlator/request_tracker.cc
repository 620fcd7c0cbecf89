#include "correlator/request_tracker.h"

#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "correlator/identity.h"
#include "correlator/json_lines.h"

namespace fraiseql::correlator {

namespace gql = protocols::graphql;

namespace {

std::vector<double> DepthBuckets() { return {1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50}; }
std::vector<double> FieldBuckets() { return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000}; }
std::vector<double> CountBuckets() { return {0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 100, 200}; }

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// W3C traceparent: version "-" trace-id (32 lower hex, not all zero) "-" parent-id "-" flags.
std::string TraceIdFromTraceparent(std::string_view tp) {
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-') return "";
  std::string_view id = tp.substr(3, 32);
  if (!IsHex(id) || id == std::string(32, '0')) return "";
  return std::string(id);
}

std::string Hex(uint64_t v, int digits) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[i] = kDigits[v & 0xf];
  return out;
}

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The label of an operation known only by the operationName the client sent (its document
// did not parse, or was not sent); `fallback` when no name was sent either.
std::string SentNameLabel(const gql::RequestItem& item, const char* fallback) {
  if (!item.operation_name || item.operation_name->empty()) return fallback;
  gql::OperationInfo named;
  named.name = *item.operation_name;
  return gql::OperationLabel(named);
}

}  // namespace

RequestTracker::RequestTracker(metrics::Registry& r, Attributor& attributor,
                               RequestOptions options)
    : attributor_(attributor),
      options_(options),
      id_seed_(std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32)),
      queries_(r.AddCounter("fraiseql_graphql_queries_total",
                            "GraphQL operations answered, by type, name, execution mode and "
                            "outcome (success, partial: errors with data, error)",
                            {"service_name", "operation_type", "operation_name", "mode", "outcome"},
                            20000)),
      duration_(r.AddHistogram("fraiseql_graphql_query_duration_seconds",
                               "GraphQL operations: their HTTP request's duration",
                               {"service_name", "operation_type", "operation_name", "mode"},
                               metrics::LatencyBuckets(), 10000)),
      depth_(r.AddHistogram("fraiseql_graphql_query_depth",
                            "Field nesting depth of GraphQL operations (fragments expanded)",
                            {"service_name", "operation_type"}, DepthBuckets(), 1000)),
      fields_(r.AddHistogram("fraiseql_graphql_query_fields",
                             "Fields selected by GraphQL operations (fragments expanded)",
                             {"service_name", "operation_type"}, FieldBuckets(), 1000)),
      db_queries_(r.AddHistogram("fraiseql_graphql_operation_db_queries",
                                 "PostgreSQL statements attributed exactly to one GraphQL "
                                 "operation's request (single-operation requests)",
                                 {"service_name", "operation_name"}, CountBuckets(), 5000)),
      n_plus_one_(r.AddCounter("fraiseql_graphql_n_plus_one_total",
                               "Requests of an operation that ran one normalized statement at "
                               "least the N+1 threshold times (--n-plus-one)",
                               {"service_name", "operation_name"}, 5000)),
      apq_requests_(r.AddCounter("fraiseql_apq_requests_total",
                                 "Automatic persisted queries: hit (hash known), miss "
                                 "(PersistedQueryNotFound), register (hash and query sent)",
                                 {"service_name", "outcome"}, 1000)),
      malformed_(r.AddCounter("fraiseql_collector_graphql_parse_errors_total",
                              "GraphQL requests whose body or document could not be decoded, by "
                              "reason (the request is still counted, outcome error)",
                              {"reason"}, 100)) {}

std::string RequestTracker::CapOperation(const std::string& service, const std::string& label) {
  auto& seen = operations_[service];
  if (seen.count(label)) return label;
  if (seen.size() >= options_.max_operations_per_service) return "other";
  seen.insert(label);
  return label;
}

void RequestTracker::RememberApq(const std::string& service, const std::string& hash,
                                 const ApqEntry& e) {
  ApqMemory& m = apq_[service];
  auto it = m.map.find(hash);
  if (it != m.map.end()) {
    m.lru.erase(it->second.second);
    m.map.erase(it);
  }
  m.lru.push_front(hash);
  m.map.emplace(hash, std::make_pair(e, m.lru.begin()));
  while (m.map.size() > options_.apq_memory) {
    m.map.erase(m.lru.back());
    m.lru.pop_back();
  }
}

const RequestTracker::ApqEntry* RequestTracker::RecallApq(const std::string& service,
                                                          const std::string& hash) {
  auto s = apq_.find(service);
  if (s == apq_.end()) return nullptr;
  auto it = s->second.map.find(hash);
  if (it == s->second.map.end()) return nullptr;
  s->second.lru.splice(s->second.lru.begin(), s->second.lru, it->second.second);
  return &it->second.first;
}

std::vector<RequestTracker::OpResult> RequestTracker::GraphqlOperations(
    const std::string& service, const HttpRequestView& r) {
  std::vector<OpResult> ops;
  gql::Request req =
      gql::ParseRequest(r.raw_method, r.target, r.content_type, r.body, r.body_truncated);
  if (req.shape == gql::RequestShape::kNotGraphql) return ops;
  gql::Response resp = gql::ParseResponse(r.response_content_type, r.response_content_encoding,
                                          r.response_body, r.response_body_truncated);
  if (req.items.empty()) {
    // Malformed or cut short: counted once, as an error of an unknown operation.
    malformed_.WithLabels({req.malformed ? "request_body" : "truncated"}).Inc();
    OpResult op;
    op.name = CapOperation(service, req.malformed ? "invalid_request" : "unknown");
    op.mode = "unknown";
    op.outcome = gql::Outcome(r.status, resp.items.empty() ? nullptr : &resp.items[0], false);
    ops.push_back(std::move(op));
    return ops;
  }
  for (size_t i = 0; i < req.items.size(); ++i) {
    const gql::RequestItem& item = req.items[i];
    const gql::ResponseItem* ri = i < resp.items.size() ? &resp.items[i] : nullptr;
    OpResult op;
    bool request_ok = item.op.parsed;
    std::string label;
    if (item.has_query) {
      if (item.op.parsed) {
        label = gql::OperationLabel(item.op);
      } else {
        malformed_.WithLabels({"document_" + item.op.error}).Inc();
        label = SentNameLabel(item, "invalid_document");
      }
      op.type = item.op.type;
      op.depth = item.op.depth;
      op.fields = item.op.fields;
      op.complexity = item.op.complexity;
      if (item.persisted && !item.persisted_hash.empty()) {
        if (item.hash_matches_query && item.op.parsed) {
          op.apq = "register";
          RememberApq(service, item.persisted_hash,
                      ApqEntry{item.op.type, label, item.op.depth, item.op.fields,
                               item.op.complexity});
        } else {
          op.apq = "mismatch";  // the server rejects a hash that is not the query's
          request_ok = false;
        }
      }
    } else if (item.persisted) {
      if (ri && ri->persisted_query_not_found) {
        op.apq = "miss";
        op.counted = false;  // the client retries with the query: that one executes
        label = SentNameLabel(item, "persisted_unknown");
      } else {
        op.apq = "hit";
        request_ok = true;
        if (const ApqEntry* e = RecallApq(service, item.persisted_hash)) {
          op.type = e->type;
          label = e->label;
          op.depth = e->depth;
          op.fields = e->fields;
          op.complexity = e->complexity;
        } else {
          // Registered before we watched: the name may still be in operationName.
          label = SentNameLabel(item, "persisted_unknown");
        }
      }
    } else {
      label = "invalid_request";
      malformed_.WithLabels({"no_query"}).Inc();
    }
    op.name = CapOperation(service, label);
    if (ri && !ri->mode.empty()) {
      op.mode = ri->mode;
    } else {
      op.mode = item.persisted ? "apq" : "unknown";
    }
    op.outcome = gql::Outcome(r.status, ri, request_ok);
    ops.push_back(std::move(op));
  }
  return ops;
}

void RequestTracker::OnRequest(const std::string& service, const HttpRequestView& r) {
  std::vector<Call> calls = attributor_.OnRequestEnd(r.tgid, r.request_id, r.first_write);
  std::vector<OpResult> ops = GraphqlOperations(service, r);
  double seconds = r.end_ns > r.start_ns ? double(r.end_ns - r.start_ns) / 1e9 : 0.0;

  size_t db = 0, redis = 0;
  uint32_t hits = 0, misses = 0;
  double db_seconds = 0;
  std::map<std::string, uint32_t> statements;
  for (const Call& c : calls) {
    hits += c.cache_hits;
    misses += c.cache_misses;
    if (c.kind == Call::Kind::kDb) {
      ++db;
      db_seconds += c.seconds();
      ++statements[c.what];
    } else {
      ++redis;
    }
  }

  for (const OpResult& op : ops) {
    if (!op.apq.empty() && op.apq != "none" && op.apq != "mismatch") {
      apq_requests_.WithLabels({service, op.apq}).Inc();
    }
    if (!op.counted) continue;
    const char* type = gql::OperationTypeName(op.type);
    queries_.WithLabels({service, type, op.name, op.mode, op.outcome}).Inc();
    duration_.WithLabels({service, type, op.name, op.mode}).Observe(seconds);
    if (op.fields > 0) {
      depth_.WithLabels({service, type}).Observe(op.depth);
      fields_.WithLabels({service, type}).Observe(op.fields);
    }
  }
  // Per-operation DB work: only when the request carried one executed operation (a batch's
  // statements cannot be split between its operations).
  const OpResult* single = ops.size() == 1 && ops[0].counted ? &ops[0] : nullptr;
  std::vector<std::pair<std::string, uint32_t>> repeated;
  if (single) {
    db_queries_.WithLabels({service, single->name}).Observe(double(db));
    for (const auto& [stmt, n] : statements) {
      if (n < options_.n_plus_one_threshold) continue;
      repeated.emplace_back(stmt, n);
      n_plus_one_.WithLabels({service, single->name}).Inc();
      if (options_.event_log) {
        WriteJsonLine(options_.event_log,
                  {{"ts", UtcTimestamp()}, {"event", "n_plus_one"}, {"service_name", service},
                   {"operation_name", single->name}, {"statement", stmt}, {"executions", n},
                   {"threshold", options_.n_plus_one_threshold}});
      }
    }
  }

  if (!options_.request_log) return;
  std::string request_id = SanitizeIdentity(r.x_request_id);
  uint64_t n = ++id_counter_;
  if (request_id.empty()) request_id = Hex(Mix(id_seed_ ^ n), 16);
  std::string trace_id = TraceIdFromTraceparent(r.traceparent);
  if (trace_id.empty()) trace_id = SanitizeIdentity(r.x_trace_id);
  if (trace_id.empty()) trace_id = Hex(Mix(id_seed_ + n), 16) + Hex(Mix(~id_seed_ ^ n), 16);
  nlohmann::json line = {
      {"ts", UtcTimestamp()},          {"service", service},      {"request_id", request_id},
      {"trace_id", trace_id},     {"method", r.method},      {"endpoint", r.endpoint},
      {"status", r.status},       {"duration_seconds", seconds}, {"db_queries", db},
      {"db_seconds", db_seconds}, {"redis_commands", redis}, {"cache_hits", hits},
      {"cache_misses", misses}};
  nlohmann::json jops = nlohmann::json::array();
  for (const OpResult& op : ops) {
    jops.push_back({{"operation_type", gql::OperationTypeName(op.type)},
                    {"operation_name", op.name},
                    {"mode", op.mode},
                    {"outcome", op.outcome},
                    {"apq", op.apq},
                    {"depth", op.depth},
                    {"fields", op.fields},
                    {"complexity", op.complexity}});
  }
  line["operations"] = std::move(jops);
  nlohmann::json jcalls = nlohmann::json::array();
  for (const Call& c : calls) {
    if (c.kind == Call::Kind::kDb) {
      jcalls.push_back({{"kind", "db"}, {"statement", c.what}, {"seconds", c.seconds()}});
    } else {
      jcalls.push_back({{"kind", "redis"}, {"command", c.what}, {"seconds", c.seconds()}});
    }
  }
  line["calls"] = std::move(jcalls);
  if (options_.capture_identity) {
    // FraiseQL's SET LOCAL in the request's own transaction wins over the token's subject.
    std::string user, tenant;
    for (const Call& c : calls) {
      if (user.empty()) user = c.user_id;
      if (tenant.empty()) tenant = c.tenant_id;
    }
    if (user.empty()) user = r.jwt_sub;
    if (!user.empty()) line["user_id"] = user;
    if (!tenant.empty()) line["tenant_id"] = tenant;
  }
  if (!repeated.empty()) {
    nlohmann::json jr = nlohmann::json::array();
    for (const auto& [stmt, cnt] : repeated) jr.push_back({{"statement", stmt}, {"executions", cnt}});
    line["n_plus_one"] = std::move(jr);
  }
  WriteJsonLine(options_.request_log, line);
}

}  // namespace fraiseql::correlator
