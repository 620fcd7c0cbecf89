// What the request log carries of identity: nothing without the opt-in; with it, the user and
// tenant a request's own SET LOCAL set, else the bearer token's subject. Driven through the
// correlator (attribution) into the RequestLog sink.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "correlator/correlator.h"
#include "records/workloads.h"
#include "sinks/logs/logs.h"

namespace fraiseql::sinks {
namespace {

std::string LogLine(bool capture, const std::string& sql_user, const std::string& jwt_sub) {
  std::FILE* f = std::tmpfile();
  JsonLines lines(f, "request_log");
  RequestLog log(lines, RequestLogOptions{.capture_identity = capture});
  correlator::Correlator corr(correlator::CorrelatorOptions{}, log);
  records::WorkloadTable workloads;
  const records::Workload* svc = workloads.Intern({"svc"});
  corr.OnRequestStart({.tgid = 1, .workload = svc, .request_id = 1, .start_ns = 10,
                       .origin = {.ts_ns = 10, .tid = 1}});
  auto shape = std::make_shared<records::SqlShape>();
  shape->normalized = "SET LOCAL app.user_id = ?";
  const std::string tenant = capture ? "acme" : "";
  records::DbCall c{.tgid = 1, .workload = svc, .origin = {.ts_ns = 11, .tid = 1},
                    .shape = shape, .start_ns = 11, .end_ns = 12};
  c.user_id = sql_user;
  c.tenant_id = tenant;
  corr.OnDbCall(c);
  records::HttpExchange x{.tgid = 1, .workload = svc, .request_id = 1, .method = "GET",
                          .raw_method = "GET", .target = "/health", .status = 200,
                          .start_ns = 10, .end_ns = 20, .first_write = {.ts_ns = 19, .tid = 1}};
  x.jwt_sub = jwt_sub;
  corr.OnExchange(x);
  std::rewind(f);
  char buf[4096] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  return std::string(buf, n);
}

TEST(RequestLogTest, CarriesIdentityOnlyWhenAskedFor) {
  auto with = nlohmann::json::parse(LogLine(true, "u-42", "alice"));
  EXPECT_EQ(with["user_id"], "u-42");  // the SQL's wins over the token's
  EXPECT_EQ(with["tenant_id"], "acme");
  EXPECT_EQ(with["db_queries"], 1);
  auto jwt_only = nlohmann::json::parse(LogLine(true, "", "alice"));
  EXPECT_EQ(jwt_only["user_id"], "alice");
  auto without = nlohmann::json::parse(LogLine(false, "", ""));
  EXPECT_FALSE(without.contains("user_id"));
  EXPECT_FALSE(without.contains("tenant_id"));
}

}  // namespace
}  // namespace fraiseql::sinks
