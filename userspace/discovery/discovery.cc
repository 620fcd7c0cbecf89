#include "discovery/discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

namespace fraiseql::discovery {
namespace {

constexpr unsigned long kPfKthread = 0x00200000;   // include/linux/sched.h
constexpr size_t kMaxSmallFile = 1 << 20;          // cmdline, environ, status, stat
constexpr size_t kMaxMapsFile = 64 << 20;          // maps of a big process
// libstdc++'s std::regex recurses once per character matched: a --cmdline regex such as
// "a.*b" overflows an 8 MiB stack on a ~100 KB command line (long Java classpaths are not
// rare). Regexes therefore see only the first kMaxRegexInput bytes, and app-argument
// candidates longer than kMaxAppToken are skipped.
constexpr size_t kMaxRegexInput = 4096;
constexpr size_t kMaxAppToken = 256;
constexpr int kMaxParentDepth = 2;                 // worker -> master (-> supervisor)
constexpr std::string_view kDeletedSuffix = " (deleted)";
constexpr std::string_view kHttpServers[] = {"uvicorn", "gunicorn", "hypercorn", "granian"};

// Reads a whole file (procfs files report size 0, so read until EOF). nullopt when it
// cannot be opened; an empty string is a readable empty file.
std::optional<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[8192];
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (out.size() > max_bytes) out.resize(max_bytes);
  return out;
}

std::optional<std::string> ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Splits on NULs, dropping one trailing empty element (the final terminator).
std::vector<std::string> SplitNul(const std::string& data) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    out.emplace_back(data, start, end - start);
    start = end + 1;
  }
  return out;
}

std::vector<std::string> SplitSpace(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string tok;
  while (in >> tok) out.push_back(tok);
  return out;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool IsPythonName(const std::string& basename) {
  if (basename.size() > 64) return false;
  static const std::regex kPython("^python[0-9.]*$");
  return std::regex_match(basename, kPython);
}

bool IsOtherInterpreter(const std::string& basename) {
  if (basename.size() > 64) return false;
  static const std::regex kOther(
      "^(node|nodejs|java|ruby[0-9.]*|perl[0-9.]*|php[0-9.]*|php-fpm[0-9.]*|bash|sh|dash|zsh|"
      "dotnet|pypy[0-9.]*|lua[0-9.]*|erl|beam\\.smp)$");
  return std::regex_match(basename, kOther);
}

bool IsCollectorName(const std::string& name) {
  // comm is truncated to 15 characters: "fraiseql-collector" -> "fraiseql-collec".
  return StartsWith(name, "fraiseql-collec");
}

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

// LISTEN sockets of one network namespace: inode -> local port.
using ListenTable = std::map<uint64_t, uint16_t>;

// Parses /proc/net/tcp or tcp6:
//   sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
//    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   0       0 12345 ...
// Ports and state are hex, the inode is decimal.
void ParseTcpTable(const std::string& text, ListenTable* out) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = SplitSpace(line);
    if (f.size() < 10 || f[0] == "sl") continue;
    if (ToLower(f[3]) != "0a") continue;  // TCP_LISTEN
    size_t colon = f[1].rfind(':');
    if (colon == std::string::npos) continue;
    char* end = nullptr;
    unsigned long port = std::strtoul(f[1].c_str() + colon + 1, &end, 16);
    if (end == f[1].c_str() + colon + 1 || *end != '\0' || port == 0 || port > 0xffff) continue;
    uint64_t inode = std::strtoull(f[9].c_str(), &end, 10);
    if (*end != '\0' || inode == 0) continue;
    (*out)[inode] = static_cast<uint16_t>(port);
  }
}

// Socket inodes held by a process, from /proc/PID/fd/* -> "socket:[INODE]".
std::vector<uint64_t> SocketInodes(const std::string& pid_dir) {
  std::vector<uint64_t> inodes;
  std::string fd_dir = pid_dir + "/fd";
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) return inodes;
  while (struct dirent* ent = ::readdir(dir)) {
    if (ent->d_name[0] == '.') continue;
    std::optional<std::string> link = ReadLink(fd_dir + "/" + ent->d_name);
    if (!link || !StartsWith(*link, "socket:[") || link->back() != ']') continue;
    char* end = nullptr;
    uint64_t inode = std::strtoull(link->c_str() + 8, &end, 10);
    if (*end == ']' && inode != 0) inodes.push_back(inode);
  }
  ::closedir(dir);
  return inodes;
}

// Where a process's TCP tables are, and a key naming its network namespace so that the
// tables are read once per namespace per scan. Real procfs: /proc/PID/net is the process's
// own namespace. Fake trees may only have proc_root/net.
std::pair<std::string, std::string> NetDirAndKey(const std::string& proc_root,
                                                 const std::string& pid_dir) {
  std::string dir = pid_dir + "/net";
  if (!Exists(dir + "/tcp") && !Exists(dir + "/tcp6")) dir = proc_root + "/net";
  std::optional<std::string> ns = ReadLink(pid_dir + "/ns/net");
  return {dir, ns ? *ns : dir};
}

const ListenTable& LoadListenTable(const std::string& dir, const std::string& key,
                                   std::map<std::string, ListenTable>* tables) {
  auto it = tables->find(key);
  if (it != tables->end()) return it->second;
  ListenTable& table = (*tables)[key];
  for (const char* name : {"/tcp", "/tcp6"}) {
    if (auto text = ReadFile(dir + name, kMaxMapsFile)) ParseTcpTable(*text, &table);
  }
  return table;
}

std::vector<uint16_t> PortsFromTables(const std::string& proc_root, uint32_t tgid,
                                      std::map<std::string, ListenTable>* tables) {
  std::string pid_dir = proc_root + "/" + std::to_string(tgid);
  std::vector<uint64_t> inodes = SocketInodes(pid_dir);
  if (inodes.empty()) return {};
  auto [dir, key] = NetDirAndKey(proc_root, pid_dir);
  const ListenTable& table = LoadListenTable(dir, key, tables);
  std::set<uint16_t> ports;
  for (uint64_t inode : inodes) {
    auto it = table.find(inode);
    if (it != table.end()) ports.insert(it->second);
  }
  return {ports.begin(), ports.end()};
}

}  // namespace

// What we know about one process, read lazily where reading is costly.
namespace internal {

struct ProcInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string dir;
  std::string comm;
  std::string exe;
  std::vector<std::string> argv;
  std::string cmdline;
  std::string program;  // exe basename, else argv[0] basename, else comm
  bool kernel_thread = false;
  bool thread_not_leader = false;
  std::optional<std::vector<std::string>> environ;  // lazily loaded

  const std::vector<std::string>& Environ() {
    if (!environ) {
      auto data = ReadFile(dir + "/environ", kMaxSmallFile);
      environ = data ? SplitNul(*data) : std::vector<std::string>{};
    }
    return *environ;
  }
  std::optional<std::string> Getenv(std::string_view key) {
    for (const auto& kv : Environ()) {
      if (kv.size() > key.size() && kv[key.size()] == '=' && StartsWith(kv, key)) {
        return kv.substr(key.size() + 1);
      }
    }
    return std::nullopt;
  }
  bool IsPython() const { return IsPythonName(program); }
};

struct ScanCache {
  std::map<std::string, ListenTable> listen_tables;  // by network namespace
  std::map<uint32_t, std::optional<Target>> auto_results;
};

}  // namespace internal

using internal::ProcInfo;

namespace {

// nullopt when the process does not exist (any more).
std::optional<ProcInfo> ReadProc(const std::string& proc_root, uint32_t pid);

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

std::optional<Target> Discovery::EvaluateInfo(ProcInfo& info, ScanCache& cache, int depth) {
  std::vector<std::string> reasons;
  bool is_python = info.IsPython();

  if (!selectors_.AutoDetect()) {
    if (depth > 0) return std::nullopt;  // inheritance is an auto-detect rule only
    for (uint32_t pid : selectors_.pids) {
      if (pid == info.pid) reasons.push_back("pid " + std::to_string(pid));
    }
    if (!regexes_.empty()) {
      std::string_view head = std::string_view(info.cmdline).substr(0, kMaxRegexInput);
      for (const auto& [text, re] : regexes_) {
        if (std::regex_search(head.begin(), head.end(), re)) {
          reasons.push_back("cmdline ~ /" + text + "/");
        }
      }
    }
    if (!selectors_.ports.empty()) {
      std::vector<uint16_t> ports = PortsOf(info.pid, cache);
      for (uint16_t want : selectors_.ports) {
        if (std::find(ports.begin(), ports.end(), want) != ports.end()) {
          reasons.push_back("listening on port " + std::to_string(want));
        }
      }
    }
  } else {
    auto memo = cache.auto_results.find(info.pid);
    if (memo != cache.auto_results.end()) return memo->second;
    std::string lower_cmdline = ToLower(info.cmdline);
    std::string lower_comm = ToLower(info.comm);
    std::string exe_base = ToLower(Basename(info.exe));
    // (a) FraiseQL v2 binary.
    if (!is_python && !IsCollectorName(exe_base) && !IsCollectorName(lower_comm)) {
      if (StartsWith(exe_base, "fraiseql")) {
        reasons.push_back("auto: FraiseQL v2 binary (exe " + Basename(info.exe) + ")");
      } else if (StartsWith(lower_comm, "fraiseql")) {
        reasons.push_back("auto: FraiseQL v2 binary (comm " + info.comm + ")");
      }
    }
    // (b) FraiseQL v1 Python server.
    if (is_python) {
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
      std::string fraiseql;
      if (!http.empty()) {
        if (lower_cmdline.find("fraiseql") != std::string::npos) {
          fraiseql = "fraiseql in cmdline";
        }
        if (fraiseql.empty()) {
          for (const auto& kv : info.Environ()) {
            if (StartsWith(kv, "FRAISEQL_")) {
              fraiseql = kv.substr(0, kv.find('=')) + " in environ";
              break;
            }
          }
        }
        if (fraiseql.empty()) {
          if (auto maps = ReadFile(info.dir + "/maps", kMaxMapsFile)) {
            std::string lower = ToLower(*maps);
            size_t at = lower.find("fraiseql");
            if (at != std::string::npos) {
              size_t bol = maps->rfind('\n', at);
              size_t path = maps->find('/', bol == std::string::npos ? 0 : bol);
              size_t eol = maps->find('\n', at);
              std::string file = (path != std::string::npos && path < at)
                                     ? maps->substr(path, eol == std::string::npos
                                                              ? std::string::npos
                                                              : eol - path)
                                     : std::string("fraiseql");
              fraiseql = "fraiseql in maps (" + Basename(file) + ")";
            }
          }
        }
        if (!fraiseql.empty()) {
          reasons.push_back("auto: FraiseQL v1 Python (" + http + ", " + fraiseql + ")");
        } else if (depth < kMaxParentDepth && info.ppid > 1) {
          // (c) worker of a FraiseQL v1 master.
          auto parent = Evaluate(info.ppid, cache, depth + 1);
          if (parent && parent->runtime == Runtime::kPython) {
            reasons.push_back("auto: worker of FraiseQL v1 pid " + std::to_string(info.ppid) +
                              " (" + http + ")");
          }
        }
      }
    }
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
    t.runtime = is_python                          ? Runtime::kPython
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

namespace {

std::optional<ProcInfo> ReadProc(const std::string& proc_root, uint32_t pid) {
  ProcInfo info;
  info.pid = pid;
  info.dir = proc_root + "/" + std::to_string(pid);
  std::optional<std::string> status = ReadFile(info.dir + "/status", kMaxSmallFile);
  std::optional<std::string> cmdline = ReadFile(info.dir + "/cmdline", kMaxSmallFile);
  if (!status && !cmdline) return std::nullopt;
  if (status) {
    std::istringstream in(*status);
    std::string line;
    while (std::getline(in, line)) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string_view key(line.data(), colon);
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      uint32_t n = 0;
      if (key == "Name") {
        info.comm = value;
      } else if (key == "PPid" && ParseU32(value, &n)) {
        info.ppid = n;
      } else if (key == "Tgid" && ParseU32(value, &n)) {
        info.thread_not_leader = n != pid;
      } else if (key == "Kthread") {  // Linux >= 6.3
        info.kernel_thread = value == "1";
      }
    }
  }
  if (auto comm = ReadFile(info.dir + "/comm", 256)) {
    std::string c = *comm;
    while (!c.empty() && (c.back() == '\n' || c.back() == '\0')) c.pop_back();
    if (!c.empty()) info.comm = c;
  }
  if (auto stat = ReadFile(info.dir + "/stat", kMaxSmallFile)) {
    size_t paren = stat->rfind(')');
    if (paren != std::string::npos) {
      std::vector<std::string> f = SplitSpace(std::string_view(*stat).substr(paren + 1));
      // state ppid pgrp session tty_nr tpgid flags
      if (f.size() > 6) {
        uint32_t ppid = 0;
        if (info.ppid == 0 && ParseU32(f[1], &ppid)) info.ppid = ppid;
        unsigned long flags = std::strtoul(f[6].c_str(), nullptr, 10);
        if (flags & kPfKthread) info.kernel_thread = true;
      }
    }
  }
  if (auto exe = ReadLink(info.dir + "/exe")) {
    info.exe = *exe;
    if (info.exe.ends_with(kDeletedSuffix)) {
      info.exe.resize(info.exe.size() - kDeletedSuffix.size());
    }
  }
  if (cmdline) {
    info.argv = SplitNul(*cmdline);
    for (const auto& a : info.argv) {
      if (!info.cmdline.empty()) info.cmdline += ' ';
      info.cmdline += a;
    }
  }
  if (info.argv.empty() && info.exe.empty()) info.kernel_thread = true;  // or a zombie
  if (!info.exe.empty()) {
    info.program = Basename(info.exe);
  } else if (!info.argv.empty()) {
    info.program = Basename(info.argv[0]);
  } else {
    info.program = info.comm;
  }
  return info;
}

}  // namespace

}  // namespace fraiseql::discovery
