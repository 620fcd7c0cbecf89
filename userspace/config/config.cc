#include "config/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace fraiseql::config {

namespace {

constexpr const char* kPrefix = "fraiseql-collector: ";

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Expected(const KeySpec& k) {
  switch (k.type) {
    case Type::kBool: return "expected true/false/1/0/yes/no/on/off";
    case Type::kInt:
      return fmt::format("expected {}an integer in [{}, {}]", k.power_of_two ? "a power of two, " : "",
                         static_cast<int64_t>(k.min), static_cast<int64_t>(k.max));
    case Type::kDouble: return fmt::format("expected a number in [{}, {}]", k.min, k.max);
    case Type::kEnum: {
      std::string s = "expected one of ";
      for (size_t i = 0; i < k.allowed.size(); ++i) s += (i ? "|" : "") + std::string(k.allowed[i]);
      return s;
    }
    case Type::kIntList:
      return fmt::format("expected integers in [{}, {}]", static_cast<int64_t>(k.min),
                         static_cast<int64_t>(k.max));
    default: return k.non_empty ? "expected a non-empty string" : "expected a string";
  }
}

bool ParseBool(const std::string& raw, bool* out) {
  const std::string s = Lower(raw);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return *out = true, true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return *out = false, true;
  return false;
}

bool ParseInt(const KeySpec& k, const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end || v < k.min || v > k.max) return false;
  if (k.power_of_two && (v <= 0 || (v & (v - 1)))) return false;
  *out = v;
  return true;
}

// One scalar or list (already split) → typed value. False: invalid.
bool ParseValue(const KeySpec& k, const std::vector<std::string>& raws, Value* out) {
  const std::string& s = raws.empty() ? std::string() : raws.back();
  switch (k.type) {
    case Type::kBool: { bool b; if (!ParseBool(s, &b)) return false; *out = b; return true; }
    case Type::kInt: { int64_t v; if (!ParseInt(k, s, &v)) return false; *out = v; return true; }
    case Type::kDouble: {
      if (s.empty()) return false;
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (*end || !std::isfinite(v) || v < k.min || v > k.max) return false;
      *out = v;
      return true;
    }
    case Type::kEnum:
      for (auto a : k.allowed)
        if (a == s) return *out = s, true;
      return false;
    case Type::kIntList: {
      std::vector<int64_t> v;
      for (const auto& r : raws) {
        int64_t x;
        if (!ParseInt(k, r, &x)) return false;
        v.push_back(x);
      }
      *out = v;
      return true;
    }
    case Type::kStringList: *out = raws; return true;
    default:
      if (k.non_empty && s.empty()) return false;
      *out = s;
      return true;
  }
}

std::vector<std::string> SplitList(const KeySpec& k, const std::string& s) {
  if (k.type != Type::kIntList && k.type != Type::kStringList) return {s};
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string Joined(const std::vector<std::string>& raws) {
  std::string s;
  for (size_t i = 0; i < raws.size(); ++i) s += (i ? "," : "") + raws[i];
  return s;
}

// Flattens a YAML mapping into dotted keys → raw values.
bool Flatten(const YAML::Node& n, const std::string& prefix, const std::string& path,
             std::map<std::string, std::vector<std::string>>* out, std::string* error) {
  for (const auto& kv : n) {
    const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (v.IsMap()) {
      if (!Flatten(v, key, path, out, error)) return false;
      continue;
    }
    if (!FindKey(key)) {
      *error = fmt::format("{}unknown key \"{}\" in config file {}", kPrefix, key, path);
      return false;
    }
    std::vector<std::string> raws;
    if (v.IsSequence()) {
      for (const auto& item : v) raws.push_back(item.Scalar());
    } else if (v.IsScalar()) {
      raws.push_back(v.Scalar());
    } else {
      raws.push_back("");
    }
    (*out)[key] = raws;
  }
  return true;
}

bool LoadFile(const std::string& path, std::map<std::string, std::vector<std::string>>* out,
              std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = fmt::format("{}cannot read config file {}: {}", kPrefix, path, std::strerror(errno));
    return false;
  }
  std::stringstream text;
  text << f.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    *error = fmt::format("{}cannot parse config file {}: {}", kPrefix, path, e.what());
    return false;
  }
  if (root.IsNull()) return true;
  if (!root.IsMap()) {
    *error = fmt::format("{}cannot parse config file {}: expected a mapping of keys", kPrefix, path);
    return false;
  }
  try {
    return Flatten(root, "", path, out, error);
  } catch (const YAML::Exception& e) {
    *error = fmt::format("{}cannot parse config file {}: {}", kPrefix, path, e.what());
    return false;
  }
}

template <typename T>
void Get(const Resolved& r, std::string_view key, T* field) {
  for (const auto& e : r.entries)
    if (e.spec->key == key && std::holds_alternative<T>(e.value)) *field = std::get<T>(e.value);
}

template <typename T>
void GetOpt(const Resolved& r, std::string_view key, std::optional<T>* field) {
  for (const auto& e : r.entries)
    if (e.spec->key == key && std::holds_alternative<T>(e.value)) *field = std::get<T>(e.value);
}

void Fill(Resolved* r) {
  Config& c = r->config;
  Get(*r, "observability.enabled", &c.enabled.observability);
  Get(*r, "metrics.enabled", &c.enabled.metrics);
  Get(*r, "tracing.enabled", &c.enabled.tracing);
  Get(*r, "cache_monitoring.enabled", &c.enabled.cache);
  Get(*r, "database_monitoring.enabled", &c.enabled.database);
  Get(*r, "health_checks.enabled", &c.enabled.health_checks);
  Get(*r, "audit.enabled", &c.enabled.audit);
  Get(*r, "prometheus.enabled", &c.enabled.prometheus);
  Get(*r, "sample_rate", &c.sample_rate);
  Get(*r, "targets.pids", &c.targets.pids);
  Get(*r, "targets.cmdline", &c.targets.cmdline);
  Get(*r, "targets.ports", &c.targets.ports);
  GetOpt(*r, "service_name", &c.service_name);
  Get(*r, "listen", &c.listen);
  GetOpt(*r, "prometheus.port", &c.prometheus_port);
  Get(*r, "capture.capture_cap", &c.capture.capture_cap);
  Get(*r, "capture.ringbuf_mib", &c.capture.ringbuf_mib);
  Get(*r, "capture.libpq_uprobes", &c.capture.libpq_uprobes);
  Get(*r, "capture.python_contexts", &c.capture.python_contexts);
  Get(*r, "metrics.max_endpoints", &c.max_endpoints);
  Get(*r, "discovery.rescan_ms", &c.rescan_ms);
  Get(*r, "graphql.max_operations", &c.max_operations);
  Get(*r, "database.slow_query_ms", &c.db.slow_query_ms);
  Get(*r, "database.n_plus_one", &c.db.n_plus_one);
  Get(*r, "database.slow_query_log", &c.db.slow_query_log);
  Get(*r, "record", &c.record);
  Get(*r, "request_log", &c.request_log);
  Get(*r, "cache.table", &c.cache_table);
  Get(*r, "log_level", &c.log_level);
  Get(*r, "privacy.capture_identity", &c.capture_identity);
}

nlohmann::json ToJson(const Value& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) return nullptr;
        else return x;
      },
      v);
}

}  // namespace

const char* SourceName(Source s) {
  switch (s) {
    case Source::kFlag: return "flag";
    case Source::kEnv: return "env";
    case Source::kFile: return "file";
    default: return "default";
  }
}

bool Resolve(const Inputs& in, Resolved* out, std::string* error) {
  auto getenv = in.getenv ? in.getenv : [](const char* n) -> const char* { return std::getenv(n); };
  std::string file = in.config_file;
  if (file.empty())
    if (const char* e = getenv("FRAISEQL_COLLECTOR_CONFIG")) file = e;
  std::map<std::string, std::vector<std::string>> from_file;
  if (!file.empty() && !LoadFile(file, &from_file, error)) return false;
  out->config_file = file;
  out->entries.clear();
  for (const auto& k : Schema()) {
    Entry e{&k, {}, Source::kDefault};
    std::vector<std::string> raws;
    std::string where;
    const char* env = k.env.empty() ? nullptr : getenv(std::string(k.env).c_str());
    if (auto it = in.flags.find(std::string(k.key)); it != in.flags.end()) {
      e.source = Source::kFlag, raws = it->second, where = "flag " + std::string(k.flag);
    } else if (env) {
      e.source = Source::kEnv, raws = SplitList(k, env), where = "env " + std::string(k.env);
    } else if (auto f = from_file.find(std::string(k.key)); f != from_file.end()) {
      e.source = Source::kFile, raws = f->second, where = "file " + file;
    } else if (k.has_default) {
      raws = SplitList(k, std::string(k.def)), where = "default";
    }
    if (!where.empty() && !ParseValue(k, raws, &e.value)) {
      *error = fmt::format("{}invalid value \"{}\" for {} ({}): {}", kPrefix, Joined(raws), k.key,
                           where, Expected(k));
      return false;
    }
    out->entries.push_back(std::move(e));
  }
  Fill(out);
  return true;
}

std::string Print(const Resolved& r, const std::string& format) {
  if (format == "json") {
    nlohmann::json keys = nlohmann::json::object();
    for (const auto& e : r.entries) {
      nlohmann::json j = {{"value", ToJson(e.value)}, {"source", SourceName(e.source)},
                          {"built", e.spec->built}};
      if (!e.spec->built) j["note"] = "not built yet";
      keys[std::string(e.spec->key)] = j;
    }
    nlohmann::json root = {{"config_file", r.config_file}, {"keys", keys}};
    return root.dump(2) + "\n";
  }
  std::string s = "# effective configuration (key: value  # source)\n";
  if (!r.config_file.empty()) s += "# config file: " + r.config_file + "\n";
  for (const auto& e : r.entries) {
    s += fmt::format("{}: {}  # {}{}\n", e.spec->key, ToJson(e.value).dump(), SourceName(e.source),
                     e.spec->built ? "" : ", not built yet");
  }
  return s;
}

std::string SchemaMarkdown() {
  static const char* kTypes[] = {"bool", "int", "double", "string", "enum", "list of int",
                                 "list of string", "path"};
  std::string s =
      "| key | flag | env | type | allowed | default | built | help |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const auto& k : Schema()) {
    std::string allowed;
    if (k.type == Type::kInt || k.type == Type::kDouble || k.type == Type::kIntList)
      allowed = Expected(k).substr(9);
    else if (k.type == Type::kEnum)
      for (size_t i = 0; i < k.allowed.size(); ++i)
        allowed += (i ? ", " : "") + std::string(k.allowed[i]);
    s += fmt::format("| `{}` | {} | `{}` | {} | {} | {} | {} | {} |\n", k.key,
                     k.flag.empty() ? "" : "`" + std::string(k.flag) + "`", k.env,
                     kTypes[static_cast<int>(k.type)], allowed,
                     k.has_default ? "`" + std::string(k.def) + "`" : "(none)",
                     k.built ? "yes" : "not built yet", k.help);
  }
  return s;
}

}  // namespace fraiseql::config
