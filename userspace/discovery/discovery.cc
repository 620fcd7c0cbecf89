#include "discovery/discovery.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string_view>

#include "discovery/proc_reader.h"

namespace fraiseql::discovery {

using internal::Basename;
using internal::IsCollectorName;
using internal::IsOtherInterpreter;
using internal::kMaxMapsFile;
using internal::ListenTable;
using internal::ParseU32;
using internal::PortsFromTables;
using internal::ProcInfo;
using internal::ReadFile;
using internal::ReadProc;
using internal::SplitSpace;
using internal::StartsWith;
using internal::ToLower;

namespace {

// libstdc++'s std::regex recurses once per character matched: a --cmdline regex such as
// "a.*b" overflows an 8 MiB stack on a ~100 KB command line (long Java classpaths are not
// rare). Regexes therefore see only the first kMaxRegexInput bytes, and app-argument
// candidates longer than kMaxAppToken are skipped.
constexpr size_t kMaxRegexInput = 4096;
constexpr size_t kMaxAppToken = 256;
constexpr int kMaxParentDepth = 2;  // worker -> master (-> supervisor)
constexpr std::string_view kHttpServers[] = {"uvicorn", "gunicorn", "hypercorn", "granian"};

// A uvicorn/gunicorn/hypercorn/granian application argument: "pkg.module:attr", optionally
// a factory call "pkg.module:create_app()". Host:port and unix:/path values do not match.
bool IsAppArgument(const std::string& token) {
  if (token.size() > kMaxAppToken) return false;
  static const std::regex kApp(
      "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*(\\(.*\\))?$");
  return std::regex_match(token, kApp);
}

// "src.shop.main" -> "shop", "fraiseql_demo.app" -> "fraiseql_demo".
std::string TopLevelPackage(std::string_view module) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = module.find('.', start);
    parts.emplace_back(module.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() > 1 && parts[0] == "src") return parts[1];
  return parts[0];
}

std::string JoinReasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (const auto& r : reasons) {
    if (!out.empty()) out += "; ";
    out += r;
  }
  return out;
}

}  // namespace

const char* RuntimeName(Runtime runtime) {
  switch (runtime) {
    case Runtime::kPython:
      return "python";
    case Runtime::kNative:
      return "native";
    case Runtime::kOther:
      return "other";
  }
  return "other";
}

Status Validate(const Selectors& selectors) {
  for (uint32_t pid : selectors.pids) {
    if (pid == 0) return Status::Error("invalid --pid 0");
  }
  for (uint16_t port : selectors.ports) {
    if (port == 0) return Status::Error("invalid --port 0");
  }
  for (const std::string& re : selectors.cmdline_regexes) {
    if (re.empty()) return Status::Error("invalid --cmdline regex: empty");
    try {
      std::regex compiled(re, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Status::Error("invalid --cmdline regex \"" + re + "\": " + e.what());
    }
  }
  if (selectors.service_name && selectors.service_name->empty()) {
    return Status::Error("invalid --service-name: empty");
  }
  return Status::Ok();
}

std::vector<uint16_t> ListeningPorts(uint32_t tgid, const std::string& proc_root) {
  std::map<std::string, ListenTable> tables;
  return PortsFromTables(proc_root, tgid, &tables);
}

Discovery::Discovery(Selectors selectors, std::string proc_root)
    : selectors_(std::move(selectors)),
      proc_root_(std::move(proc_root)),
      status_(Validate(selectors_)),
      self_pid_(static_cast<uint32_t>(::getpid())) {
  for (const std::string& re : selectors_.cmdline_regexes) {
    try {
      regexes_.emplace_back(re, std::regex(re, std::regex::ECMAScript));
    } catch (const std::regex_error&) {
      // Reported by status_; this regex matches nothing.
    }
  }
}

StatusOr<Discovery> Discovery::Create(Selectors selectors, std::string proc_root) {
  Discovery d(std::move(selectors), std::move(proc_root));
  if (!d.status().ok()) return d.status();
  return d;
}

std::vector<uint16_t> Discovery::ListeningPorts(uint32_t tgid) const {
  return discovery::ListeningPorts(tgid, proc_root_);
}

std::vector<uint16_t> Discovery::PortsOf(uint32_t tgid, ScanCache& cache) const {
  return PortsFromTables(proc_root_, tgid, &cache.listen_tables);
}

std::vector<Target> Discovery::Scan() {
  ScanCache cache;
  std::vector<uint32_t> pids;
  bool only_pids = !selectors_.pids.empty() && selectors_.cmdline_regexes.empty() &&
                   selectors_.ports.empty();
  if (only_pids) {
    pids = selectors_.pids;
  } else if (DIR* dir = ::opendir(proc_root_.c_str())) {
    while (struct dirent* ent = ::readdir(dir)) {
      uint32_t pid = 0;
      if (ParseU32(ent->d_name, &pid) && pid != 0) pids.push_back(pid);
    }
    ::closedir(dir);
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  std::vector<Target> out;
  for (uint32_t pid : pids) {
    if (auto t = Evaluate(pid, cache, 0)) out.push_back(std::move(*t));
  }
  return out;
}

std::optional<Target> Discovery::Check(uint32_t tgid) {
  ScanCache cache;
  return Evaluate(tgid, cache, 0);
}

std::optional<Target> Discovery::Evaluate(uint32_t tgid, ScanCache& cache, int depth) {
  if (tgid == 0 || tgid == self_pid_) return std::nullopt;
  std::optional<ProcInfo> info = ReadProc(proc_root_, tgid);
  if (!info || info->kernel_thread || info->thread_not_leader) return std::nullopt;
  return EvaluateInfo(*info, cache, depth);
}

namespace {

// Why `info` looks like FraiseQL v1 beyond being a Python HTTP server: "fraiseql" in its
// command line, a FRAISEQL_* variable, or a mapped file named fraiseql*; "" if none.
std::string FraiseqlEvidence(ProcInfo& info, const std::string& lower_cmdline) {
  if (lower_cmdline.find("fraiseql") != std::string::npos) return "fraiseql in cmdline";
  for (const auto& kv : info.Environ()) {
    if (StartsWith(kv, "FRAISEQL_")) return kv.substr(0, kv.find('=')) + " in environ";
  }
  auto maps = ReadFile(info.dir + "/maps", kMaxMapsFile);
  if (!maps) return "";
  std::string lower = ToLower(*maps);
  size_t at = lower.find("fraiseql");
  if (at == std::string::npos) return "";
  size_t bol = maps->rfind('\n', at);
  size_t path = maps->find('/', bol == std::string::npos ? 0 : bol);
  size_t eol = maps->find('\n', at);
  std::string file =
      (path != std::string::npos && path < at)
          ? maps->substr(path, eol == std::string::npos ? std::string::npos : eol - path)
          : std::string("fraiseql");
  return "fraiseql in maps (" + Basename(file) + ")";
}

}  // namespace

void Discovery::SelectorReasons(ProcInfo& info, ScanCache& cache,
                                std::vector<std::string>* reasons) const {
  for (uint32_t pid : selectors_.pids) {
    if (pid == info.pid) reasons->push_back("pid " + std::to_string(pid));
  }
  if (!regexes_.empty()) {
    std::string_view head = std::string_view(info.cmdline).substr(0, kMaxRegexInput);
    for (const auto& [text, re] : regexes_) {
      if (std::regex_search(head.begin(), head.end(), re)) {
        reasons->push_back("cmdline ~ /" + text + "/");
      }
    }
  }
  if (!selectors_.ports.empty()) {
    std::vector<uint16_t> ports = PortsOf(info.pid, cache);
    for (uint16_t want : selectors_.ports) {
      if (std::find(ports.begin(), ports.end(), want) != ports.end()) {
        reasons->push_back("listening on port " + std::to_string(want));
      }
    }
  }
}

void Discovery::AutoReasons(ProcInfo& info, ScanCache& cache, int depth,
                            std::vector<std::string>* reasons) {
  const std::string lower_cmdline = ToLower(info.cmdline);
  const std::string lower_comm = ToLower(info.comm);
  const std::string exe_base = ToLower(Basename(info.exe));
  // (a) FraiseQL v2 binary.
  if (!info.IsPython()) {
    if (IsCollectorName(exe_base) || IsCollectorName(lower_comm)) return;
    if (StartsWith(exe_base, "fraiseql")) {
      reasons->push_back("auto: FraiseQL v2 binary (exe " + Basename(info.exe) + ")");
    } else if (StartsWith(lower_comm, "fraiseql")) {
      reasons->push_back("auto: FraiseQL v2 binary (comm " + info.comm + ")");
    }
    return;
  }
  // (b) FraiseQL v1 Python server.
  std::string http;
  for (std::string_view server : kHttpServers) {
    if (lower_cmdline.find(server) != std::string::npos) {
      http = std::string(server) + " in cmdline";
      break;
    }
  }
  if (http.empty()) {
    std::vector<uint16_t> ports = PortsOf(info.pid, cache);
    if (!ports.empty()) http = "listening on port " + std::to_string(ports.front());
  }
  if (http.empty()) return;
  const std::string fraiseql = FraiseqlEvidence(info, lower_cmdline);
  if (!fraiseql.empty()) {
    reasons->push_back("auto: FraiseQL v1 Python (" + http + ", " + fraiseql + ")");
  } else if (depth < kMaxParentDepth && info.ppid > 1) {
    // (c) worker of a FraiseQL v1 master.
    auto parent = Evaluate(info.ppid, cache, depth + 1);
    if (parent && parent->runtime == Runtime::kPython) {
      reasons->push_back("auto: worker of FraiseQL v1 pid " + std::to_string(info.ppid) + " (" +
                         http + ")");
    }
  }
}

std::optional<Target> Discovery::EvaluateInfo(ProcInfo& info, ScanCache& cache, int depth) {
  std::vector<std::string> reasons;
  if (!selectors_.AutoDetect()) {
    if (depth > 0) return std::nullopt;  // inheritance is an auto-detect rule only
    SelectorReasons(info, cache, &reasons);
  } else {
    auto memo = cache.auto_results.find(info.pid);
    if (memo != cache.auto_results.end()) return memo->second;
    AutoReasons(info, cache, depth, &reasons);
  }

  std::optional<Target> result;
  if (!reasons.empty()) {
    Target t;
    t.tgid = info.pid;
    t.ppid = info.ppid;
    t.comm = info.comm;
    t.exe = info.exe;
    t.cmdline = info.cmdline;
    t.reason = JoinReasons(reasons);
    t.runtime = info.IsPython()                    ? Runtime::kPython
                : IsOtherInterpreter(info.program) ? Runtime::kOther
                                                   : Runtime::kNative;
    t.service_name = ServiceName(info);
    result = std::move(t);
  }
  // A negative answer below depth 0 may come from the depth limit: not memoised.
  if (selectors_.AutoDetect() && (result || depth == 0)) cache.auto_results[info.pid] = result;
  return result;
}

namespace {

// Steps 3 and 4 of the service-name rules (see discovery.h), from one command line.
std::optional<std::string> NameFromCmdline(const std::vector<std::string>& argv,
                                           const std::string& cmdline, bool is_python) {
  // 3. The app argument of a Python HTTP server. Tokenised on spaces rather than argv so
  // that setproctitle forms ("gunicorn: worker [app.main:app]") work too.
  std::vector<std::string> tokens = SplitSpace(cmdline);
  bool after_server = false;
  for (std::string tok : tokens) {
    if (!after_server) {
      std::string lower = ToLower(Basename(tok));
      for (std::string_view server : kHttpServers) {
        if (lower.find(server) != std::string::npos) after_server = true;
      }
      continue;
    }
    if (tok.empty() || tok[0] == '-') continue;
    if (tok.front() == '[') tok.erase(0, 1);
    if (!tok.empty() && tok.back() == ']') tok.pop_back();
    if (IsAppArgument(tok)) return TopLevelPackage(tok.substr(0, tok.find(':')));
  }
  // 4. python -m MODULE / python script.py.
  if (!is_python || argv.size() < 2) return std::nullopt;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-m" && i + 1 < argv.size()) {
      std::string top = TopLevelPackage(argv[i + 1]);
      for (std::string_view server : kHttpServers) {
        if (top == server) return std::nullopt;  // server without a recognisable app
      }
      return top;
    }
    if (StartsWith(a, "-m") && a.size() > 2) return TopLevelPackage(a.substr(2));
    if (a == "-c" || StartsWith(a, "-c")) return std::nullopt;
    if (a == "-W" || a == "-X" || a == "-Q") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    std::string base = Basename(a);
    if (base.size() > 3 && base.ends_with(".py")) return base.substr(0, base.size() - 3);
    return std::nullopt;  // a console script such as /usr/local/bin/gunicorn without app
  }
  return std::nullopt;
}

}  // namespace

std::string Discovery::ServiceName(ProcInfo& info) const {
  if (selectors_.service_name) return *selectors_.service_name;
  for (std::string_view key : {"OTEL_SERVICE_NAME", "FRAISEQL_SERVICE_NAME"}) {
    if (auto v = info.Getenv(key); v && !v->empty()) return *v;
  }
  bool is_python = info.IsPython();
  if (auto name = NameFromCmdline(info.argv, info.cmdline, is_python)) return *name;
  if (is_python) {
    uint32_t ppid = info.ppid;
    for (int depth = 0; depth < kMaxParentDepth && ppid > 1; ++depth) {
      std::optional<ProcInfo> parent = ReadProc(proc_root_, ppid);
      if (!parent || !parent->IsPython()) break;
      if (auto name = NameFromCmdline(parent->argv, parent->cmdline, true)) return *name;
      ppid = parent->ppid;
    }
  }
  if (!info.exe.empty()) return Basename(info.exe);
  if (!info.program.empty()) return info.program;
  return info.comm;
}

}  // namespace fraiseql::discovery
