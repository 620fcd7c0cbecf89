// fraiseql-collector: CLI entry point. `run` wires loader → source → pipeline → exporter;
// `doctor` prints the support checklist; `replay` runs a recording through the pipeline;
// `version` prints build info.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/options.h"
#include "app/run.h"
#include "config/config.h"
#include "config/schema.h"
#include "fraiseql/abi/events.h"
#include "loader/doctor.h"
#include "metrics/catalog.h"

namespace {

int Doctor() {
  bool all_required_ok = true;
  for (const auto& c : fraiseql::loader::RunDoctorChecks()) {
    const char* mark = c.ok ? "ok  " : (c.required ? "FAIL" : "warn");
    std::printf("[%s] %-28s %s%s\n", mark, c.name.c_str(), c.detail.c_str(),
                c.required ? "" : " (optional)");
    if (!c.ok && c.required) all_required_ok = false;
  }
  std::printf(all_required_ok ? "all requirements met\n"
                              : "some requirements are missing: the collector cannot run\n");
  return all_required_ok ? 0 : 1;
}

// Flags generated from the schema: raw strings per key, validated by config::Resolve.
struct FlagValues {
  std::map<std::string, std::vector<std::string>> lists;
  std::map<std::string, std::string> scalars;
  std::map<std::string, bool> bools;
  std::string config_file;
};

void AddSchemaFlags(CLI::App* cmd, FlagValues* v) {
  cmd->add_option("--config", v->config_file,
                  "YAML configuration file (also FRAISEQL_COLLECTOR_CONFIG)");
  for (const auto& k : fraiseql::config::Schema()) {
    if (k.flag.empty()) continue;
    const std::string key(k.key), flag(k.flag);
    std::string help = std::string(k.help) + " [env " + std::string(k.env) + "]";
    if (k.has_default && !k.def.empty()) help += " (default " + std::string(k.def) + ")";
    if (k.type == fraiseql::config::Type::kBool) {
      cmd->add_flag(flag, v->bools[key], help);
    } else if (k.type == fraiseql::config::Type::kIntList ||
               k.type == fraiseql::config::Type::kStringList) {
      cmd->add_option(flag, v->lists[key], help);
    } else {
      cmd->add_option(flag, v->scalars[key], help);
    }
  }
}

fraiseql::config::Inputs ToInputs(CLI::App* cmd, const FlagValues& v) {
  fraiseql::config::Inputs in;
  in.config_file = v.config_file;
  for (const auto& k : fraiseql::config::Schema()) {
    if (k.flag.empty() || cmd->count(std::string(k.flag)) == 0) continue;
    const std::string key(k.key);
    if (v.lists.count(key)) in.flags[key] = v.lists.at(key);
    else if (v.scalars.count(key)) in.flags[key] = {v.scalars.at(key)};
    else in.flags[key] = {v.bools.at(key) ? "true" : "false"};
  }
  return in;
}

void SetupLogging(const std::string& level, int verbosity) {
  // Logs on stderr: stdout carries only the slow-query JSON lines.
  spdlog::set_default_logger(spdlog::stderr_color_mt("fraiseql"));
  spdlog::set_level(verbosity >= 2   ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fraiseql-collector: eBPF metrics for unmodified FraiseQL servers"};
  app.require_subcommand(1);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "More logging (-v debug, -vv trace)");

  FlagValues run_flags, print_flags;
  auto* run = app.add_subcommand("run", "Observe FraiseQL processes and serve metrics");
  AddSchemaFlags(run, &run_flags);
  auto* config = app.add_subcommand("config", "Show the configuration");
  config->require_subcommand(1);
  std::string format = "yaml", schema_format = "md";
  auto* print = config->add_subcommand("print", "Print the effective configuration and sources");
  print->add_option("--format", format, "yaml or json")->check(CLI::IsMember({"yaml", "json"}));
  AddSchemaFlags(print, &print_flags);
  auto* schema = config->add_subcommand("schema", "Print every key of the schema");
  schema->add_option("--format", schema_format, "md")->check(CLI::IsMember({"md"}));

  std::string catalog_format = "md";
  auto* catalog = app.add_subcommand("catalog", "Print every metric family the collector defines");
  catalog->add_option("--format", catalog_format, "md")->check(CLI::IsMember({"md"}));

  auto* doctor = app.add_subcommand("doctor", "Check kernel features and privileges");
  auto* version = app.add_subcommand("version", "Print version and build info");

  std::string replay_path, replay_service;
  auto* replay = app.add_subcommand("replay", "Run a recorded event file through the pipeline "
                                              "and print the resulting metrics");
  replay->add_option("FILE", replay_path, "Recording made with run --record")->required();
  replay->add_option("--service-name", replay_service, "Service name for every process");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // One clear line, as promised for bad flags.
    std::fprintf(stderr, "fraiseql-collector: %s (see --help)\n", e.what());
    return 2;
  }
  if (*version) {
    std::printf("fraiseql-collector %s (rev %s, ABI %d)\n", FRAISEQL_VERSION, FRAISEQL_GIT_REV,
                FQL_ABI_VERSION);
    return 0;
  }
  if (*catalog) return std::fputs(fraiseql::metrics::RenderCatalogMarkdown().c_str(), stdout) < 0;
  if (*schema) return std::fputs(fraiseql::config::SchemaMarkdown().c_str(), stdout) < 0;
  fraiseql::config::Resolved resolved;
  std::string error;
  const bool is_print = static_cast<bool>(*config);
  if (!fraiseql::config::Resolve(ToInputs(is_print ? print : run, is_print ? print_flags : run_flags),
                                 &resolved, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  if (is_print) return std::fputs(fraiseql::config::Print(resolved, format).c_str(), stdout) < 0;
  fraiseql::app::RunOptions opts = fraiseql::app::ToRunOptions(resolved.config);
  SetupLogging(opts.log_level, verbosity);

  if (*doctor) return Doctor();
  if (*replay) {
    if (!replay_service.empty()) opts.service_name = replay_service;
    return fraiseql::app::Replay(replay_path, opts);
  }
  return fraiseql::app::Run(opts);
}
