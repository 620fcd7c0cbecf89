// Runs the built fraiseql-collector: bad values exit 2 with one line on stderr.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace {

struct Result { int code; std::string out, err; };

Result RunCollector(const std::string& env, const std::string& args) {
  // A stderr file of its own: ctest -j runs these tests concurrently.
  char err_path[] = "/tmp/fql_cfg_err_XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd >= 0) close(fd);
  const std::string cmd =
      env + " " FRAISEQL_COLLECTOR_BIN " " + args + " 2>" + std::string(err_path);
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (FILE* e = std::fopen(err_path, "r")) {
    while (size_t n = fread(buf.data(), 1, buf.size(), e)) r.err.append(buf.data(), n);
    std::fclose(e);
  }
  std::remove(err_path);
  return r;
}

TEST(ConfigBinary, BadFlagIsExit2AndOneLine) {
  const auto r = RunCollector("", "config print --ringbuf-mib 24");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "fraiseql-collector: invalid value \"24\" for capture.ringbuf_mib (flag "
                   "--ringbuf-mib): expected a power of two, an integer in [1, 1024]\n");
}

TEST(ConfigBinary, BadEnvIsExit2AndOneLine) {
  const auto r = RunCollector("FRAISEQL_SAMPLE_RATE=abc", "config print");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "fraiseql-collector: invalid value \"abc\" for sample_rate (env "
                   "FRAISEQL_SAMPLE_RATE): expected a number in [0, 1]\n");
}

// Values that make no sense are refused before anything runs (an empty service name would be
// exported as service_name=""; zero endpoints would turn every endpoint into "other").
TEST(ConfigBinary, EmptyServiceNameAndZeroEndpointsAreRefused) {
  auto r = RunCollector("", "run --service-name ''");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "fraiseql-collector: invalid value \"\" for service_name (flag --service-name): "
                   "expected a non-empty string\n");
  r = RunCollector("FRAISEQL_COLLECTOR_MAX_ENDPOINTS=0", "run");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "fraiseql-collector: invalid value \"0\" for metrics.max_endpoints (env "
                   "FRAISEQL_COLLECTOR_MAX_ENDPOINTS): expected an integer in [1, 1000000000]\n");
}

TEST(ConfigBinary, YamlFileValueAndItsSource) {
  const std::string path = "/tmp/fql_cfg_test_" + std::to_string(getpid()) + ".yaml";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("database:\n  slow_query_ms: 250\nsample_rate: 0.5\n", f);
  std::fclose(f);
  auto r = RunCollector("FRAISEQL_SAMPLE_RATE=0.25", "config print --config " + path);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("database.slow_query_ms: 250  # file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sample_rate: 0.25  # env"), std::string::npos) << r.out;
  std::remove(path.c_str());
}

TEST(ConfigBinary, PrintShowsFlagSource) {
  const auto r = RunCollector("", "config print --slow-query-ms 50 --port 8000 --port 8001");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("database.slow_query_ms: 50  # flag"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("targets.ports: [8000,8001]  # flag"), std::string::npos) << r.out;
}

}  // namespace
