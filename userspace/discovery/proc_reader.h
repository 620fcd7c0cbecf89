// Readers of procfs for discovery: whole files, links, /proc/PID/{status,stat,comm,exe,
// cmdline,environ} into a ProcInfo, and LISTEN sockets from /proc/PID/fd + /proc/PID/net/tcp*.
// Internal to the discovery module (discovery.cc is the policy that reads these facts);
// everything here takes a proc root, so unit tests run against fake trees without root.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/discovery.h"

namespace fraiseql::discovery::internal {

constexpr size_t kMaxSmallFile = 1 << 20;  // cmdline, environ, status, stat
constexpr size_t kMaxMapsFile = 64 << 20;  // maps of a big process

// Reads a whole file (procfs files report size 0, so read until EOF). nullopt when it
// cannot be opened; an empty string is a readable empty file.
std::optional<std::string> ReadFile(const std::string& path, size_t max_bytes);
std::optional<std::string> ReadLink(const std::string& path);
bool Exists(const std::string& path);

std::string ToLower(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);
std::string Basename(std::string_view path);
// Splits on NULs, dropping one trailing empty element (the final terminator).
std::vector<std::string> SplitNul(const std::string& data);
std::vector<std::string> SplitSpace(std::string_view s);
bool ParseU32(std::string_view s, uint32_t* out);

bool IsPythonName(const std::string& basename);
bool IsOtherInterpreter(const std::string& basename);
// Our own process names (never a target).
bool IsCollectorName(const std::string& name);

// LISTEN sockets of one network namespace: inode -> local port.
using ListenTable = std::map<uint64_t, uint16_t>;

// Ports on which `tgid` holds a LISTEN socket (sorted, unique); tables are read once per
// network namespace and kept in `tables`.
std::vector<uint16_t> PortsFromTables(const std::string& proc_root, uint32_t tgid,
                                      std::map<std::string, ListenTable>* tables);

// What we know about one process, read lazily where reading is costly.
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

// nullopt when the process does not exist (any more).
std::optional<ProcInfo> ReadProc(const std::string& proc_root, uint32_t pid);

}  // namespace fraiseql::discovery::internal
