#include "config/config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fraiseql::config {
namespace {

struct Harness {
  std::map<std::string, std::string> env;
  Inputs in;
  Resolved r;
  std::string error;

  Harness() {
    in.getenv = [this](const char* n) -> const char* {
      auto it = env.find(n);
      return it == env.end() ? nullptr : it->second.c_str();
    };
  }
  bool Run() { return Resolve(in, &r, &error); }
  const Entry& At(std::string_view key) {
    for (const auto& e : r.entries)
      if (e.spec->key == key) return e;
    throw std::runtime_error("no key");
  }
};

std::string WriteFile(const std::string& text) {
  char path[] = "/tmp/fql_config_testXXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  return path;
}

// For each type: default, then file, env and flag each override the lower one.
struct Case {
  std::string key, env, file_yaml, file_v, env_v, flag_v;
};

TEST(ConfigPrecedence, FlagBeatsEnvBeatsFileBeatsDefault) {
  const Case cases[] = {
      {"metrics.enabled", "FRAISEQL_METRICS_ENABLED", "metrics:\n  enabled: no\n", "false", "on",
       "0"},
      {"database.slow_query_ms", "FRAISEQL_SLOW_QUERY_THRESHOLD_MS",
       "database:\n  slow_query_ms: 5\n", "5", "6", "7"},
      {"sample_rate", "FRAISEQL_SAMPLE_RATE", "sample_rate: 0.5\n", "0.5", "0.25", "0.125"},
      {"cache.table", "FRAISEQL_COLLECTOR_CACHE_TABLE", "cache:\n  table: a\n", "\"a\"", "b", "c"},
      {"capture.libpq_uprobes", "FRAISEQL_COLLECTOR_LIBPQ_UPROBES",
       "capture:\n  libpq_uprobes: on\n", "\"on\"", "off", "auto"},
      {"targets.ports", "FRAISEQL_COLLECTOR_PORT", "targets:\n  ports: [1, 2]\n", "[1,2]", "3,4",
       "5"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    Harness h;
    ASSERT_TRUE(h.Run()) << h.error;
    EXPECT_EQ(h.At(c.key).source, Source::kDefault);
    h.in.config_file = WriteFile(c.file_yaml);
    ASSERT_TRUE(h.Run()) << h.error;
    EXPECT_EQ(h.At(c.key).source, Source::kFile);
    EXPECT_NE(Print(h.r, "yaml").find(c.key + ": " + c.file_v + "  # file"), std::string::npos)
        << Print(h.r, "yaml");
    h.env[c.env] = c.env_v;
    ASSERT_TRUE(h.Run()) << h.error;
    EXPECT_EQ(h.At(c.key).source, Source::kEnv);
    h.in.flags[c.key] = {c.flag_v};
    ASSERT_TRUE(h.Run()) << h.error;
    EXPECT_EQ(h.At(c.key).source, Source::kFlag);
    std::remove(h.in.config_file.c_str());
  }
}

TEST(ConfigPrecedence, TypedStructFilled) {
  Harness h;
  h.env["FRAISEQL_COLLECTOR_PORT"] = "3,4";
  h.env["FRAISEQL_SAMPLE_RATE"] = "0.5";
  h.in.flags["targets.cmdline"] = {"uvicorn", "gunicorn"};
  h.in.flags["capture.ringbuf_mib"] = {"64"};
  ASSERT_TRUE(h.Run()) << h.error;
  EXPECT_EQ(h.r.config.targets.ports, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(h.r.config.targets.cmdline, (std::vector<std::string>{"uvicorn", "gunicorn"}));
  EXPECT_EQ(h.r.config.capture.ringbuf_mib, 64);
  EXPECT_DOUBLE_EQ(h.r.config.sample_rate, 0.5);
  EXPECT_FALSE(h.r.config.service_name.has_value());
  EXPECT_FALSE(h.r.config.prometheus_port.has_value());
  EXPECT_EQ(h.r.config.listen, ":9474");
}

TEST(ConfigValidation, BadValueOfEachTypeIsOneLine) {
  struct Bad { std::string env, value, line; };
  const Bad bads[] = {
      {"FRAISEQL_SAMPLE_RATE", "abc",
       "fraiseql-collector: invalid value \"abc\" for sample_rate (env FRAISEQL_SAMPLE_RATE): "
       "expected a number in [0, 1]"},
      {"FRAISEQL_METRICS_ENABLED", "maybe",
       "fraiseql-collector: invalid value \"maybe\" for metrics.enabled (env "
       "FRAISEQL_METRICS_ENABLED): expected true/false/1/0/yes/no/on/off"},
      {"FRAISEQL_SLOW_QUERY_THRESHOLD_MS", "0",
       "fraiseql-collector: invalid value \"0\" for database.slow_query_ms (env "
       "FRAISEQL_SLOW_QUERY_THRESHOLD_MS): expected an integer in [1, 3600000]"},
      {"FRAISEQL_COLLECTOR_LIBPQ_UPROBES", "sometimes",
       "fraiseql-collector: invalid value \"sometimes\" for capture.libpq_uprobes (env "
       "FRAISEQL_COLLECTOR_LIBPQ_UPROBES): expected one of auto|on|off"},
      {"FRAISEQL_COLLECTOR_PORT", "80,x",
       "fraiseql-collector: invalid value \"80,x\" for targets.ports (env "
       "FRAISEQL_COLLECTOR_PORT): expected integers in [1, 65535]"},
      {"FRAISEQL_COLLECTOR_SERVICE_NAME", "",
       "fraiseql-collector: invalid value \"\" for service_name (env "
       "FRAISEQL_COLLECTOR_SERVICE_NAME): expected a non-empty string"},
      {"FRAISEQL_COLLECTOR_RINGBUF_MIB", "24",
       "fraiseql-collector: invalid value \"24\" for capture.ringbuf_mib (env "
       "FRAISEQL_COLLECTOR_RINGBUF_MIB): expected a power of two, an integer in [1, 1024]"},
  };
  for (const auto& b : bads) {
    Harness h;
    h.env[b.env] = b.value;
    EXPECT_FALSE(h.Run());
    EXPECT_EQ(h.error, b.line);
  }
  Harness h;
  h.in.flags["database.slow_query_ms"] = {"x"};
  EXPECT_FALSE(h.Run());
  EXPECT_EQ(h.error, "fraiseql-collector: invalid value \"x\" for database.slow_query_ms (flag "
                     "--slow-query-ms): expected an integer in [1, 3600000]");
}

TEST(ConfigFile, UnknownKeyUnparsableAndUnreadable) {
  Harness h;
  h.in.config_file = WriteFile("metrics:\n  enabld: true\n");
  EXPECT_FALSE(h.Run());
  EXPECT_EQ(h.error, "fraiseql-collector: unknown key \"metrics.enabld\" in config file " +
                         h.in.config_file);
  std::remove(h.in.config_file.c_str());

  h.in.config_file = WriteFile("metrics: [unclosed\n");
  EXPECT_FALSE(h.Run());
  EXPECT_EQ(h.error.rfind("fraiseql-collector: cannot parse config file " + h.in.config_file, 0),
            0u) << h.error;
  EXPECT_EQ(h.error.find('\n'), std::string::npos);
  std::remove(h.in.config_file.c_str());

  h.in.config_file = "/nonexistent/fql.yaml";
  EXPECT_FALSE(h.Run());
  EXPECT_EQ(h.error, "fraiseql-collector: cannot read config file /nonexistent/fql.yaml: "
                     "No such file or directory");

  Harness bad;
  bad.in.config_file = WriteFile("sample_rate: lots\n");
  EXPECT_FALSE(bad.Run());
  EXPECT_EQ(bad.error, "fraiseql-collector: invalid value \"lots\" for sample_rate (file " +
                           bad.in.config_file + "): expected a number in [0, 1]");
  std::remove(bad.in.config_file.c_str());
}

TEST(ConfigFile, EnvNamesTheFile) {
  Harness h;
  const std::string path = WriteFile("log_level: debug\n");
  h.env["FRAISEQL_COLLECTOR_CONFIG"] = path;
  ASSERT_TRUE(h.Run()) << h.error;
  EXPECT_EQ(h.r.config.log_level, "debug");
  EXPECT_EQ(h.At("log_level").source, Source::kFile);
  std::remove(path.c_str());
}

TEST(ConfigPrint, NotBuiltKeysAreMarked) {
  Harness h;
  ASSERT_TRUE(h.Run());
  const std::string yaml = Print(h.r, "yaml");
  EXPECT_NE(yaml.find("tracing.enabled: false  # default, not built yet"), std::string::npos);
  EXPECT_NE(yaml.find("audit.retention_days: 90  # default, not built yet"), std::string::npos);
  EXPECT_NE(yaml.find("metrics.enabled: true  # default\n"), std::string::npos);
}

TEST(ConfigPrint, JsonParsesAndShowsSources) {
  Harness h;
  h.env["FRAISEQL_SAMPLE_RATE"] = "0.5";
  h.in.flags["listen"] = {":1234"};
  ASSERT_TRUE(h.Run());
  const auto j = nlohmann::json::parse(Print(h.r, "json"));
  EXPECT_EQ(j["keys"]["sample_rate"]["source"], "env");
  EXPECT_EQ(j["keys"]["sample_rate"]["value"], 0.5);
  EXPECT_EQ(j["keys"]["listen"]["source"], "flag");
  EXPECT_EQ(j["keys"]["listen"]["value"], ":1234");
  EXPECT_EQ(j["keys"]["metrics.enabled"]["source"], "default");
  EXPECT_EQ(j["keys"]["tracing.enabled"]["note"], "not built yet");
  EXPECT_EQ(j["keys"].size(), Schema().size());
}

TEST(ConfigDocs, ConfigurationMdMatchesSchema) {
  std::ifstream f(FRAISEQL_SOURCE_DIR "/docs/configuration.md");
  ASSERT_TRUE(f) << "docs/configuration.md missing";
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(ss.str().find(SchemaMarkdown()), std::string::npos)
      << "docs/configuration.md drifted from the schema; regenerate the table with "
         "`fraiseql-collector config schema --format md`:\n" << SchemaMarkdown();
}

}  // namespace
}  // namespace fraiseql::config
