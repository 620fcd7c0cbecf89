#include "sinks/logs/logs.h"

#include <random>

#include "handlers/identity.h"

namespace fraiseql::sinks {

namespace {

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

nlohmann::json Operations(const records::CompletedRequest& r) {
  nlohmann::json jops = nlohmann::json::array();
  for (const records::Operation& op : r.operations) {
    jops.push_back({{"operation_type", op.type},   {"operation_name", op.name},
                    {"mode", op.mode},             {"outcome", op.outcome},
                    {"apq", op.apq},               {"depth", op.depth},
                    {"fields", op.fields},         {"complexity", op.complexity}});
  }
  return jops;
}

nlohmann::json Calls(const records::CompletedRequest& r) {
  nlohmann::json jcalls = nlohmann::json::array();
  for (const records::Call& c : r.calls) {
    if (c.kind == records::Call::Kind::kDb) {
      jcalls.push_back({{"kind", "db"}, {"statement", c.what()}, {"seconds", c.seconds()}});
    } else {
      jcalls.push_back({{"kind", "redis"}, {"command", c.what()}, {"seconds", c.seconds()}});
    }
  }
  return jcalls;
}

}  // namespace

void SlowQueryLog::OnDbCall(const records::DbCall& c) {
  if (!(c.end_ns > c.start_ns && c.end_ns - c.start_ns >= slow_query_ns_)) return;
  nlohmann::json line = {{"ts", UtcTimestamp()},
                         {"event", "slow_query"},
                         {"service_name", c.workload->service_name},
                         {"query", c.statement()},
                         {"query_type", c.query_type},
                         {"table_name", c.table},
                         {"duration_seconds", c.seconds()},
                         {"rows", c.rows}};
  if (c.error) line["sqlstate"] = c.sqlstate;
  out_.Write(line);
}

void NPlusOneLog::OnCompletedRequest(const records::CompletedRequest& r) {
  for (const auto& [stmt, n] : r.repeated) {
    out_.Write({{"ts", UtcTimestamp()},
                {"event", "n_plus_one"},
                {"service_name", r.exchange->workload->service_name},
                {"operation_name", r.operations[0].name},
                {"statement", stmt},
                {"executions", n},
                {"threshold", threshold_}});
  }
}

RequestLog::RequestLog(JsonLines& out, RequestLogOptions options)
    : out_(out),
      options_(options),
      id_seed_(std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32)) {}

void RequestLog::OnCompletedRequest(const records::CompletedRequest& r) {
  if (!r.sampled) return;
  const records::HttpExchange& x = *r.exchange;
  std::string request_id = handlers::SanitizeIdentity(x.x_request_id);
  uint64_t n = ++id_counter_;
  if (request_id.empty()) request_id = Hex(Mix(id_seed_ ^ n), 16);
  std::string trace_id = TraceIdFromTraceparent(x.traceparent);
  if (trace_id.empty()) trace_id = handlers::SanitizeIdentity(x.x_trace_id);
  if (trace_id.empty()) trace_id = Hex(Mix(id_seed_ + n), 16) + Hex(Mix(~id_seed_ ^ n), 16);
  size_t db = 0, redis = 0;
  uint32_t hits = 0, misses = 0;
  double db_seconds = 0;
  for (const records::Call& c : r.calls) {
    hits += c.cache_hits;
    misses += c.cache_misses;
    if (c.kind == records::Call::Kind::kDb) {
      ++db;
      db_seconds += c.seconds();
    } else {
      ++redis;
    }
  }
  nlohmann::json line = {
      {"ts", UtcTimestamp()},      {"service", x.workload->service_name},
      {"request_id", request_id},  {"trace_id", trace_id},
      {"method", x.method},        {"endpoint", r.endpoint},
      {"status", x.status},        {"duration_seconds", r.seconds()},
      {"db_queries", db},          {"db_seconds", db_seconds},
      {"redis_commands", redis},   {"cache_hits", hits},
      {"cache_misses", misses},    {"attribution", records::AttributionName(r.attribution)}};
  line["operations"] = Operations(r);
  line["calls"] = Calls(r);
  if (options_.capture_identity) {
    // FraiseQL's SET LOCAL in the request's own transaction wins over the token's subject.
    std::string user, tenant;
    for (const records::Call& c : r.calls) {
      if (user.empty()) user = c.user_id;
      if (tenant.empty()) tenant = c.tenant_id;
    }
    if (user.empty()) user = std::string(x.jwt_sub);
    if (!user.empty()) line["user_id"] = user;
    if (!tenant.empty()) line["tenant_id"] = tenant;
  }
  if (!r.repeated.empty()) {
    nlohmann::json jr = nlohmann::json::array();
    for (const auto& [stmt, cnt] : r.repeated) {
      jr.push_back({{"statement", stmt}, {"executions", cnt}});
    }
    line["n_plus_one"] = std::move(jr);
  }
  out_.Write(line);
}

}  // namespace fraiseql::sinks
