#include "discovery/proc_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>
#include <sstream>

namespace fraiseql::discovery::internal {
namespace {

constexpr unsigned long kPfKthread = 0x00200000;  // include/linux/sched.h
constexpr std::string_view kDeletedSuffix = " (deleted)";

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

}  // namespace

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

}  // namespace fraiseql::discovery::internal
