// The whole userspace pipeline without a kernel: raw records (recorded from a real run, or
// built from bytes captured from real uvicorn) → decoder → connections → HTTP/1 → metrics,
// checked to exact metric values.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../common/fixture_dir.h"
#include "pipeline/pipeline.h"
#include "metrics/registry.h"
#include "source/event_builder.h"
#include "source/replay_source.h"

namespace fraiseql::pipeline {
namespace {

using source::EventBuilder;
using source::Record;
using source::StreamWriter;

std::string Fixture(const std::string& name) {
  return testing::ReadFile(std::string(FQL_FIXTURE_DIR) + "/" + name);
}

// Samples of one metric from a rendered scrape: label text → value.
std::map<std::string, double> Samples(const std::string& text, const std::string& name) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    size_t sp = line.rfind(' ');
    std::string labels = line.substr(name.size(), sp - name.size());
    out[labels] = std::stod(line.substr(sp + 1));
  }
  return out;
}

std::string Labels(const std::string& service, const std::string& method,
                   const std::string& endpoint, const std::string& status = "") {
  std::string s = "{service_name=\"" + service + "\",method=\"" + method + "\",endpoint=\"" +
                  endpoint + "\"";
  if (!status.empty()) s += ",status=\"" + status + "\"";
  return s + "}";
}

TEST(PipelineReplay, RecordedDemoRunCountsExactlyWhatTheClientGot) {
  // tests/fixtures/replay/http_demo.fqlrec: the collector's records while
  // tests/e2e/http_client.py sent 200 mixed requests (scripts/record-replay-fixture.sh);
  // http_demo.json: the client's own counts.
  auto src = source::ReplaySource::Open(std::string(FQL_FIXTURE_DIR) + "/replay/http_demo.fqlrec");
  ASSERT_TRUE(src.ok()) << src.status().message();
  metrics::Registry registry;
  Pipeline pipeline(registry, PipelineOptions{});
  pipeline.SetDefaultService("demo");
  while (!(*src)->Exhausted()) {
    ASSERT_TRUE((*src)->Poll(0, [&](std::span<const uint8_t> r) { pipeline.OnRecord(r); }).ok());
  }
  pipeline.Finish();
  std::string text = registry.Render();

  auto expected = nlohmann::json::parse(Fixture("replay/http_demo.json"));
  auto requests = Samples(text, "fraiseql_http_requests_total");
  auto counts = Samples(text, "fraiseql_http_request_duration_seconds_count");
  double total = 0;
  std::map<std::pair<std::string, std::string>, double> per_endpoint;
  for (const auto& row : expected) {
    std::string m = row[0], e = row[1], s = row[2];
    double n = row[3];
    EXPECT_EQ(requests[Labels("demo", m, e, s)], n) << m << " " << e << " " << s;
    per_endpoint[{m, e}] += n;
    total += n;
  }
  EXPECT_EQ(total, 200);
  double scraped_total = 0;
  for (const auto& [labels, v] : requests) scraped_total += v;
  EXPECT_EQ(scraped_total, total) << "series the client did not see:\n" << text;
  for (const auto& [key, n] : per_endpoint) {
    EXPECT_EQ(counts[Labels("demo", key.first, key.second)], n);
  }
  EXPECT_EQ(Samples(text, "fraiseql_collector_parse_errors_total")["{protocol=\"http1\"}"], 0);
  EXPECT_EQ(Samples(text, "fraiseql_http_requests_in_flight")["{service_name=\"demo\"}"], 0);
  EXPECT_EQ(pipeline.decoder().errors(DecodeError::kTooShort), 0u);
}

// Builds a server connection's traffic from real uvicorn bytes (tests/fixtures/http1).
class SyntheticConn {
 public:
  SyntheticConn(int32_t fd, uint32_t cap = FQL_DEFAULT_CAPTURE_CAP)
      : conn_{100, fd, uint64_t(fd)}, writer_(conn_, cap) {
    records_.push_back(b_.Open(conn_, FQL_ROLE_SERVER, 8000, 40000 + fd, ts_));
  }
  void Read(std::string_view bytes, uint64_t at) { writer_.Syscall(FQL_DIR_INGRESS, bytes, at, &records_); }
  void Write(std::string_view bytes, uint64_t at) { writer_.Syscall(FQL_DIR_EGRESS, bytes, at, &records_); }
  void LoseRead(uint64_t n) { writer_.Lose(FQL_DIR_INGRESS, n); }
  void Close(uint64_t at) { records_.push_back(b_.Close(conn_, at)); }
  const std::vector<Record>& records() const { return records_; }

 private:
  EventBuilder b_;
  EventBuilder::Conn conn_;
  StreamWriter writer_;
  uint64_t ts_ = 1;
  std::vector<Record> records_;
};

TEST(PipelineSynthetic, RealUvicornBytesPipeliningTruncationHolesAndGarbage) {
  metrics::Registry registry;
  Pipeline pipeline(registry, PipelineOptions{});
  pipeline.SetService(100, "svc");

  constexpr uint64_t kMs = 1000000;
  // 1. Three pipelined requests in one read, answered in one write each 2 ms later.
  SyntheticConn a(5);
  a.Read(Fixture("http1/pipelined.req.bin"), 10 * kMs);
  a.Write(Fixture("http1/pipelined.resp.bin"), 12 * kMs);
  // 2. A 20 KiB POST captured with a 16 KiB cap (its tail is a hole), then a GET.
  SyntheticConn b(6, 16384);
  b.Read(Fixture("http1/post_20k.req.bin"), 20 * kMs);
  b.Write(Fixture("http1/post_20k.resp.bin"), 23 * kMs);
  b.Read(Fixture("http1/get.req.bin"), 30 * kMs);
  b.Write(Fixture("http1/get.resp.bin"), 30 * kMs + 400000);
  // 3. Garbage (a TLS ClientHello prefix) then a valid request on the same connection;
  //    then lost bytes in the middle of a request head, then a valid request.
  SyntheticConn c(7);
  c.Read(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 40 * kMs);
  c.Read(Fixture("http1/not_found.req.bin"), 41 * kMs);
  c.Write(Fixture("http1/not_found.resp.bin"), 42 * kMs);
  std::string get = Fixture("http1/get.req.bin");
  c.Read(get.substr(0, 10), 50 * kMs);
  c.LoseRead(get.size() - 10);
  c.Read(Fixture("http1/server_error.req.bin"), 51 * kMs);
  c.Write(Fixture("http1/server_error.resp.bin"), 56 * kMs);
  c.Close(60 * kMs);

  for (const auto* conn : {&a, &b, &c}) {
    for (const auto& r : conn->records()) pipeline.OnRecord(r);
  }
  pipeline.Finish();
  std::string text = registry.Render();
  auto requests = Samples(text, "fraiseql_http_requests_total");
  auto sums = Samples(text, "fraiseql_http_request_duration_seconds_sum");

  // Targets and statuses per tests/fixtures/http1/manifest.json (from the capture script):
  // pipelined = GET /items/1, POST /graphql, GET /items/3 (all 200); get = GET
  // /items/42?verbose=1 (200); post_20k = POST /upload (200); not_found = GET /does/not/exist
  // (404); server_error = GET /boom (500). The GET whose head was lost is not counted.
  EXPECT_EQ(requests[Labels("svc", "GET", "/items/{id}", "200")], 3) << text;
  EXPECT_EQ(requests[Labels("svc", "POST", "/graphql", "200")], 1);
  EXPECT_EQ(requests[Labels("svc", "POST", "/upload", "200")], 1);
  EXPECT_EQ(requests[Labels("svc", "GET", "/does/not/exist", "404")], 1);
  EXPECT_EQ(requests[Labels("svc", "GET", "/boom", "500")], 1);
  double total = 0;
  for (const auto& [l, v] : requests) total += v;
  EXPECT_EQ(total, 7) << text;
  // Durations come from the syscall timestamps: the 500 took 5 ms, the lone GET 0.4 ms.
  EXPECT_NEAR(sums[Labels("svc", "GET", "/boom")], 0.005, 1e-9) << text;
  EXPECT_EQ(Samples(text, "fraiseql_collector_parse_errors_total")["{protocol=\"http1\"}"], 2)
      << text;
  EXPECT_GT(Samples(text, "fraiseql_collector_stream_gap_bytes_total")["{protocol=\"http1\"}"], 0);
  EXPECT_EQ(Samples(text, "fraiseql_http_requests_in_flight")["{service_name=\"svc\"}"], 0);
}

TEST(PipelineSynthetic, MalformedRecordsAreCountedNotTrusted) {
  metrics::Registry registry;
  Pipeline pipeline(registry, PipelineOptions{});
  Record tiny = {1, 2, 3};
  pipeline.OnRecord(tiny);
  EventBuilder b;
  Record data = b.Data({1, 3, 1}, FQL_DIR_INGRESS, 0, "GET / HTTP/1.1\r\n\r\n", 18, 5);
  data.resize(data.size() - 4);  // payload shorter than `copied`
  pipeline.OnRecord(data);
  Record bad_kind = b.Close({1, 3, 1}, 5);
  bad_kind[0] = 99;
  pipeline.OnRecord(bad_kind);
  std::string text = registry.Render();
  auto errors = Samples(text, "fraiseql_collector_decode_errors_total");
  EXPECT_EQ(errors["{reason=\"too_short\"}"], 1);
  EXPECT_EQ(errors["{reason=\"bad_length\"}"], 1);
  EXPECT_EQ(errors["{reason=\"unknown_kind\"}"], 1);
}

}  // namespace
}  // namespace fraiseql::pipeline
