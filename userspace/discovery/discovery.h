// Target discovery: which processes on this host the collector observes.
//
// Everything is read from a procfs tree (default "/proc"; tests pass a fake tree), so
// this module needs no privileges of its own beyond reading /proc/PID/{exe,fd,environ,maps}
// of other users' processes (root or CAP_SYS_PTRACE in production).
//
// SELECTORS (explicit). If any of pids / cmdline_regexes / ports is non-empty, a process
// is a target when it matches ANY of them (union); auto-detection is then off.
//   --pid N          the process N (must exist, must not be a kernel thread or a thread id).
//   --cmdline REGEX  std::regex (ECMAScript) searched (regex_search, not a full match) in
//                    the command line with its NUL separators replaced by spaces; only
//                    its first 4096 bytes (std::regex recursion would overflow the stack
//                    on very long command lines). '.' does not match a newline.
//   --port N         processes holding a TCP socket in LISTEN state (IPv4 or IPv6) on
//                    local port N: /proc/PID/net/tcp{,6} (state 0A) give the socket inodes,
//                    /proc/PID/fd/* symlinks "socket:[INODE]" give the owners. Every process
//                    sharing the socket matches (gunicorn master and all its workers).
//   service_name     alone does not select anything: it only overrides the name.
//
// AUTO-DETECT (no pid/cmdline/port selector):
//   (a) FraiseQL v2 (Rust server): the exe basename or the comm starts with "fraiseql"
//       (e.g. fraiseql-server), the exe is not a Python interpreter, and it is not the
//       collector itself (exe basename "fraiseql-collector*", comm "fraiseql-collec*",
//       the comm being truncated to 15 characters by the kernel).
//   (b) FraiseQL v1 (Python): the exe basename matches ^python[0-9.]*$ (so python3,
//       python3.12; a "(deleted)" suffix from an in-place upgrade is ignored), AND
//         it serves HTTP: its cmdline mentions uvicorn, gunicorn, hypercorn or granian
//         (case-insensitive), or it holds a listening TCP socket,
//       AND it shows FraiseQL, checked cheapest first:
//         "fraiseql" (case-insensitive) in the cmdline, or an environment variable whose
//         name starts with FRAISEQL_ in /proc/PID/environ, or "fraiseql" in a mapped
//         file path in /proc/PID/maps (the fraiseql_rs extension, a fraiseql package .so).
//   (c) Worker inheritance: a Python process whose parent matched (b) is selected too.
//       This covers `uvicorn --workers N`, whose multiprocessing-spawned workers have a
//       cmdline like "python -c from multiprocessing.spawn import spawn_main ..." that
//       names neither uvicorn nor the app.
// Never selected, whatever the selectors: the collector's own process (getpid()), kernel
// threads (PF_KTHREAD in /proc/PID/stat, or no cmdline and no exe: also zombies), and
// thread ids that are not a thread-group leader.
//
// SERVICE NAME (first that applies):
//   1. Selectors::service_name.
//   2. OTEL_SERVICE_NAME, else FRAISEQL_SERVICE_NAME, from /proc/PID/environ.
//   3. For uvicorn / gunicorn / hypercorn / granian: the app argument "module.path:attr"
//      (the first argument after the server word that looks like one; option values such
//      as "0.0.0.0:8000" do not, since they do not start with an identifier) reduced to its
//      top-level package: "fraiseql_demo.app:app" -> "fraiseql_demo", a leading "src."
//      being skipped ("src.shop.main:app" -> "shop"). The package is what operators name
//      their service after; the module/attr part ("app:app", "main:create_app()") is noise.
//      gunicorn workers share the master's cmdline, so all workers of one app aggregate
//      under one name without any PID label.
//   4. For `python -m MODULE`: MODULE's top-level package; for `python script.py`: "script".
//   5. Inherited from the parent when the parent's cmdline yields 3 or 4 (uvicorn spawn
//      workers, see (c)).
//   6. The exe basename (e.g. "fraiseql-server"), else the comm.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace fraiseql::discovery {

namespace internal {
struct ProcInfo;   // what is known about one process (proc_reader.h)
struct ScanCache;  // per-Scan/Check caches: LISTEN tables per netns, auto-detect results
}  // namespace internal

struct Selectors {
  std::vector<uint32_t> pids;
  std::vector<std::string> cmdline_regexes;
  std::vector<uint16_t> ports;
  std::optional<std::string> service_name;

  // True when no pid/cmdline/port selector is set (service_name does not count).
  bool AutoDetect() const { return pids.empty() && cmdline_regexes.empty() && ports.empty(); }
};

enum class Runtime {
  kPython,  // CPython interpreter: libpq uprobes possible (psycopg).
  kNative,  // Any other executable (the FraiseQL v2 Rust server): socket only.
  kOther,   // Another interpreter/VM (node, java, ruby, perl, php, shells...): socket only.
};
const char* RuntimeName(Runtime runtime);  // "python", "native", "other"

struct Target {
  uint32_t tgid = 0;
  uint32_t ppid = 0;
  std::string comm;
  std::string exe;      // readlink /proc/PID/exe, " (deleted)" suffix removed; may be empty
  std::string cmdline;  // argv joined by single spaces
  std::string service_name;
  std::string reason;   // why selected, e.g. "listening on port 8000", "pid 42",
                        // "auto: FraiseQL v1 Python (uvicorn in cmdline, fraiseql in cmdline)"
  Runtime runtime = Runtime::kOther;
};

// Checks the selectors: every cmdline regex must compile (std::regex, ECMAScript), ports
// must be non-zero, pids non-zero, service_name non-empty when set. Does not check that
// the pids exist (Discovery::Scan reports what it finds). Error messages name the
// offending selector, e.g. "invalid --cmdline regex \"(\": <std::regex_error what()>".
Status Validate(const Selectors& selectors);

// TCP ports (IPv4 and IPv6, de-duplicated, sorted) on which process `tgid` holds a LISTEN
// socket, read from `proc_root`. Empty when the process does not exist or its fds are not
// readable.
std::vector<uint16_t> ListeningPorts(uint32_t tgid, const std::string& proc_root = "/proc");

class Discovery {
 public:
  // Invalid selectors make status() an error; Scan/Check then still work with the valid
  // part (a bad regex matches nothing). Prefer Create(), which refuses invalid selectors.
  explicit Discovery(Selectors selectors, std::string proc_root = "/proc");
  static StatusOr<Discovery> Create(Selectors selectors, std::string proc_root = "/proc");

  const Status& status() const { return status_; }
  const Selectors& selectors() const { return selectors_; }

  // Full rescan of proc_root: every process that is a target now, sorted by tgid.
  std::vector<Target> Scan();
  // One process (called on exec/fork events): the Target if `tgid` is a target now.
  std::optional<Target> Check(uint32_t tgid);
  // ListeningPorts() above, on this instance's proc_root.
  std::vector<uint16_t> ListeningPorts(uint32_t tgid) const;

 private:
  using ProcInfo = internal::ProcInfo;
  using ScanCache = internal::ScanCache;

  std::optional<Target> Evaluate(uint32_t tgid, ScanCache& cache, int depth);
  std::optional<Target> EvaluateInfo(ProcInfo& info, ScanCache& cache, int depth);
  // Why `info` matches the explicit selectors (pids, cmdline regexes, ports).
  void SelectorReasons(ProcInfo& info, ScanCache& cache, std::vector<std::string>* reasons) const;
  // Why `info` is auto-detected: FraiseQL v2 binary, v1 Python server, or a worker of one.
  void AutoReasons(ProcInfo& info, ScanCache& cache, int depth, std::vector<std::string>* reasons);
  std::string ServiceName(ProcInfo& info) const;
  std::vector<uint16_t> PortsOf(uint32_t tgid, ScanCache& cache) const;

  Selectors selectors_;
  std::string proc_root_;
  std::vector<std::pair<std::string, std::regex>> regexes_;  // source text, compiled
  Status status_;
  uint32_t self_pid_;
};

}  // namespace fraiseql::discovery
