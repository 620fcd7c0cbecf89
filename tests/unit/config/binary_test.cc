// Runs the built fraiseql-collector: bad values exit 2 with one line on stderr.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace {

struct Result { int code; std::string out, err; };

Result RunCollector(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " FRAISEQL_COLLECTOR_BIN " " + args + " 2>/tmp/fql_cfg_err";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  FILE* e = std::fopen("/tmp/fql_cfg_err", "r");
  while (size_t n = fread(buf.data(), 1, buf.size(), e)) r.err.append(buf.data(), n);
  std::fclose(e);
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

TEST(ConfigBinary, PrintShowsFlagSource) {
  const auto r = RunCollector("", "config print --slow-query-ms 50 --port 8000 --port 8001");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("database.slow_query_ms: 50  # flag"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("targets.ports: [8000,8001]  # flag"), std::string::npos) << r.out;
}

}  // namespace
