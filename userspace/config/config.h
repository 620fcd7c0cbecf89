// Resolves every schema key from flag > environment > YAML file > default, validating each
// value; an invalid one yields one error line naming key, source, value and what is allowed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/schema.h"

namespace fraiseql::config {

enum class Source { kDefault, kFile, kEnv, kFlag };
const char* SourceName(Source s);

using Value = std::variant<std::monostate, bool, int64_t, double, std::string,
                           std::vector<int64_t>, std::vector<std::string>>;

struct Entry {
  const KeySpec* spec = nullptr;
  Value value;  // monostate: unset (no default)
  Source source = Source::kDefault;
};

// Typed result, grouped per stage.
struct Config {
  struct { bool observability = true, metrics = true, tracing = false, cache = true,
           database = true, health_checks = false, audit = false, prometheus = true; } enabled;
  double sample_rate = 1.0;
  struct { std::vector<int64_t> pids; std::vector<std::string> cmdline;
           std::vector<int64_t> ports; } targets;
  std::optional<std::string> service_name;
  std::string listen = ":9474";
  std::optional<int64_t> prometheus_port;
  struct { int64_t capture_cap = 262144, ringbuf_mib = 16; std::string libpq_uprobes = "auto",
           python_contexts = "auto"; } capture;
  int64_t max_endpoints = 100, rescan_ms = 1000, max_operations = 200;
  struct { int64_t slow_query_ms = 100, n_plus_one = 10; std::string slow_query_log = "-"; } db;
  std::string record, request_log, cache_table = "fraiseql_cache", log_level = "info";
  bool capture_identity = false;
};

struct Inputs {
  std::map<std::string, std::vector<std::string>> flags;  // key -> raw values given on the CLI
  std::function<const char*(const char*)> getenv;         // nullptr: ::getenv
  std::string config_file;                                // "" : none (env checked too)
};

struct Resolved {
  std::vector<Entry> entries;  // schema order
  Config config;
  std::string config_file;     // the file used, if any
};

// Returns false and sets *error (one line, no trailing newline) on any invalid input.
bool Resolve(const Inputs& in, Resolved* out, std::string* error);

// "yaml" or "json": every key with its value, source, and `not built yet` markers.
std::string Print(const Resolved& r, const std::string& format);

// Markdown table of the schema (docs/configuration.md).
std::string SchemaMarkdown();

}  // namespace fraiseql::config
