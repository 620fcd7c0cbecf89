#include "exporter/server.h"

#include <atomic>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>

namespace fraiseql::exporter {
namespace {

TEST(ParseListenAddressTest, ValidForms) {
  struct Case {
    const char* in;
    const char* host;
    int port;
  } cases[] = {
      {"127.0.0.1:9400", "127.0.0.1", 9400},
      {"0.0.0.0:80", "0.0.0.0", 80},
      {":9400", "", 9400},
      {":0", "", 0},
      {"[::1]:65535", "::1", 65535},
      {"[::]:1", "::", 1},
      {"[fe80::1:2]:8080", "fe80::1:2", 8080},
  };
  for (const auto& c : cases) {
    auto r = ParseListenAddress(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().message();
    EXPECT_EQ(r->first, c.host) << c.in;
    EXPECT_EQ(r->second, c.port) << c.in;
  }
}

TEST(ParseListenAddressTest, InvalidFormsGiveOneClearError) {
  for (const char* in : {"", ":", "9400", "localhost:9400", "127.0.0.1", "127.0.0.1:",
                         "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x",
                         "127.0.0.1:000080", "256.0.0.1:80", "::1:9400", "[::1]9400",
                         "[::1]:", "[zz::1]:80", "[127.0.0.1]:80", "1.2.3.4: 80"}) {
    auto r = ParseListenAddress(in);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.status().message(),
              "invalid listen address \"" + std::string(in) +
                  "\": expected IPv4:PORT, [IPv6]:PORT or :PORT with PORT in 0-65535");
  }
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    registry_.AddCounter("fraiseql_http_requests_total", "Requests.", {"service_name"})
        .WithLabels({"api"})
        .Inc(7);
  }
  metrics::Registry registry_;
  std::atomic<bool> ready_{false};
};

TEST_F(ServerTest, ServesMetricsHealthAndReadiness) {
  Server server("127.0.0.1:0", registry_, [this] { return ready_.load(); });
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());

  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, registry_.Render());
  EXPECT_NE(res->body.find("fraiseql_http_requests_total{service_name=\"api\"} 7\n"),
            std::string::npos);

  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok");

  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "not ready");
  ready_ = true;
  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ready");

  res = client.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = client.Get("/metrics/extra");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);

  server.Stop();
  server.Stop();  // idempotent
  EXPECT_FALSE(httplib::Client("127.0.0.1", 1).Get("/healthz"));
}

TEST_F(ServerTest, MetricsRunCollectHooksPerScrape) {
  auto& scrapes = registry_.AddCounter("fraiseql_collector_scrapes_total", "Scrapes.", {});
  registry_.AddCollectHook([&scrapes] { scrapes.WithLabels({}).Inc(); });
  Server server("127.0.0.1:0", registry_, nullptr);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());
  ASSERT_TRUE(client.Get("/metrics"));
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("\nfraiseql_collector_scrapes_total 2\n"), std::string::npos)
      << res->body;
  res = client.Get("/readyz");  // no ready function: ready
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(ServerTest, AllInterfacesAcceptsLoopback) {
  Server server(":0", registry_, nullptr);
  ASSERT_TRUE(server.Start().ok());
  auto res = httplib::Client("127.0.0.1", server.port()).Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->body, "ok");
}

TEST_F(ServerTest, Ipv6Loopback) {
  Server server("[::1]:0", registry_, nullptr);
  const Status s = server.Start();
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << s.message();
  auto res = httplib::Client("::1", server.port()).Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->body, "ok");
}

TEST_F(ServerTest, BadListenAddressIsAnError) {
  Server server("localhost:9400", registry_, nullptr);
  const Status s = server.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("invalid listen address \"localhost:9400\""), std::string::npos);
}

TEST_F(ServerTest, PortInUseNamesAddressAndErrno) {
  Server first("127.0.0.1:0", registry_, nullptr);
  ASSERT_TRUE(first.Start().ok());
  const std::string addr = "127.0.0.1:" + std::to_string(first.port());
  Server second(addr, registry_, nullptr);
  const Status s = second.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "cannot listen on " + addr + ": Address already in use");
  EXPECT_EQ(second.port(), 0);
}

TEST_F(ServerTest, UnassignedAddressNamesAddressAndErrno) {
  Server server("192.0.2.1:9400", registry_, nullptr);  // TEST-NET-1, not local
  const Status s = server.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "cannot listen on 192.0.2.1:9400: Cannot assign requested address");
}

TEST_F(ServerTest, StopWithoutStartAndDoubleStart) {
  {
    Server never("127.0.0.1:0", registry_, nullptr);
    never.Stop();
  }  // destructor too
  Server server("127.0.0.1:0", registry_, nullptr);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_FALSE(server.Start().ok());
}

TEST_F(ServerTest, JsonHandlersBeforeAndAfterStart) {
  Server server("127.0.0.1:0", registry_, nullptr);
  int calls = 0;
  ASSERT_TRUE(server.AddJsonHandler("/api/v1/before", [&calls] {
    ++calls;
    return std::string(R"({"n": )") + std::to_string(calls) + "}";
  }).ok());
  EXPECT_FALSE(server.AddJsonHandler("/metrics", [] { return std::string("{}"); }).ok());
  EXPECT_FALSE(server.AddJsonHandler("no-slash", [] { return std::string("{}"); }).ok());
  EXPECT_FALSE(server.AddJsonHandler("/api/v1/empty", nullptr).ok());
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());

  auto res = client.Get("/api/v1/before");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->body, R"({"n": 1})");
  res = client.Get("/api/v1/before?x=1");  // query string ignored; body computed per request
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, R"({"n": 2})");

  res = client.Get("/api/v1/after");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  ASSERT_TRUE(server.AddJsonHandler("/api/v1/after", [] { return std::string("[]"); }).ok());
  res = client.Get("/api/v1/after");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "[]");

  ASSERT_TRUE(server.AddJsonHandler("/api/v1/throws", []() -> std::string {
    throw std::runtime_error("bad \"x\"");
  }).ok());
  res = client.Get("/api/v1/throws");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, R"({"error": "bad \"x\""})");

  server.RemoveHandler("/api/v1/after");
  res = client.Get("/api/v1/after");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  // The fixed routes are untouched.
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "ok");
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, registry_.Render());
}

}  // namespace
}  // namespace fraiseql::exporter
