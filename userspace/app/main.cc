// fraiseql-collector: CLI entry point. `run` wires loader → source → pipeline → exporter;
// `doctor` prints the support checklist; `replay` runs a recording through the pipeline;
// `version` prints build info.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/run.h"
#include "fraiseql/abi/events.h"
#include "loader/doctor.h"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fraiseql-collector: eBPF metrics for unmodified FraiseQL servers"};
  app.require_subcommand(1);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "More logging (-v debug, -vv trace)");

  fraiseql::app::RunOptions opts;
  auto* run = app.add_subcommand("run", "Observe FraiseQL processes and serve metrics");
  run->add_option("--pid", opts.selectors.pids, "Observe this process (repeatable)");
  run->add_option("--cmdline", opts.selectors.cmdline_regexes,
                  "Observe processes whose command line matches REGEX (repeatable)");
  run->add_option("--port", opts.selectors.ports,
                  "Observe processes listening on TCP port N (repeatable)")
      ->check(CLI::Range(1, 65535));
  run->add_option("--service-name", opts.service_name, "Service name for every target");
  run->add_option("--listen", opts.listen, "Metrics/health address (ADDR:PORT, [ADDR]:PORT, :PORT)")
      ->capture_default_str();
  run->add_option("--capture-cap", opts.capture_cap, "Bytes copied per syscall")
      ->check(CLI::Range(256u, unsigned{FQL_MAX_CHUNK * FQL_MAX_CHUNKS_PER_SYSCALL}))
      ->capture_default_str();
  run->add_option("--ringbuf-mib", opts.ringbuf_mib, "Ring buffer size in MiB (power of two)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  run->add_option("--max-endpoints", opts.max_endpoints,
                  "Distinct endpoint labels per service before 'other'")
      ->capture_default_str();
  run->add_option("--rescan-ms", opts.rescan_ms, "Process rescan period")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  run->add_option("--record", opts.record_path, "Also write every raw event to FILE (debugging)");
  run->add_option("--slow-query-ms", opts.slow_query_ms,
                  "PostgreSQL statements at least this slow are counted and logged as slow")
      ->check(CLI::Range(1u, 3600000u))
      ->capture_default_str();
  run->add_option("--slow-query-log", opts.slow_query_log,
                  "Where slow-query JSON lines go: '-' stdout, a file path, '' off")
      ->capture_default_str();
  run->add_option("--libpq-uprobes", opts.libpq_uprobes,
                  "libpq uprobes (≈6 µs per hit): auto = only for processes whose PostgreSQL "
                  "connections are TLS, on = every Python target, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  run->add_option("--python-contexts", opts.python_contexts,
                  "Attribute DB/Redis calls to requests under asyncio through Python contexts: "
                  "auto/on = every Context birth hooked (a uretprobe per contextvars copy, "
                  "exact), tasks = asyncio Task births only (cheaper; a call made in a "
                  "loop-callback Context at a reused address can be misattributed), off")
      ->check(CLI::IsMember({"auto", "on", "tasks", "off"}))
      ->capture_default_str();
  run->add_option("--request-log", opts.request_log,
                  "One JSON line per answered request (ids, GraphQL operations, attributed "
                  "calls; normalized SQL, no values): '-' stdout, a file path, '' off")
      ->capture_default_str();
  run->add_option("--max-operations", opts.max_operations,
                  "GraphQL operation_name values per service before 'other'")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  run->add_option("--n-plus-one", opts.n_plus_one,
                  "A normalized statement run at least this often in one request is an N+1")
      ->check(CLI::Range(2u, 100000u))
      ->capture_default_str();
  run->add_flag("--capture-identity", opts.capture_identity,
                "Opt-in: write user_id / tenant_id to the request log, from FraiseQL's "
                "SET LOCAL app.user_id / app.tenant_id or a bearer JWT's sub claim");
  run->add_option("--cache-table", opts.cache_table,
                  "FraiseQL's PostgreSQL cache table (hits/misses from its statements)")
      ->capture_default_str();

  auto* doctor = app.add_subcommand("doctor", "Check kernel features and privileges");
  auto* version = app.add_subcommand("version", "Print version and build info");

  std::string replay_path;
  auto* replay = app.add_subcommand("replay", "Run a recorded event file through the pipeline "
                                              "and print the resulting metrics");
  replay->add_option("FILE", replay_path, "Recording made with run --record")->required();
  replay->add_option("--service-name", opts.service_name, "Service name for every process");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // One clear line, as promised for bad flags.
    std::fprintf(stderr, "fraiseql-collector: %s (see --help)\n", e.what());
    return 2;
  }
  spdlog::set_level(verbosity >= 2 ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::info);
  // Logs on stderr: stdout carries only the slow-query JSON lines.
  spdlog::set_default_logger(spdlog::stderr_color_mt("fraiseql"));
  spdlog::set_level(verbosity >= 2 ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::info);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (*version) {
    std::printf("fraiseql-collector %s (rev %s, ABI %d)\n", FRAISEQL_VERSION, FRAISEQL_GIT_REV,
                FQL_ABI_VERSION);
    return 0;
  }
  if (*doctor) return Doctor();
  if (*replay) return fraiseql::app::Replay(replay_path, opts);
  return fraiseql::app::Run(opts);
}
