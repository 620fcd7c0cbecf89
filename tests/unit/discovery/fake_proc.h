// A fake procfs tree in a temp directory, in the kernel's file formats, for discovery tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fraiseql::discovery::testing {

struct FakeProcess {
  uint32_t pid = 0;
  uint32_t ppid = 1;
  uint32_t tgid = 0;  // 0: same as pid (a thread-group leader)
  std::string comm;
  std::string exe;                // symlink target; empty: no exe link (kernel thread)
  std::vector<std::string> argv;  // written NUL-separated with a trailing NUL
  std::vector<std::string> env;   // "KEY=VALUE"
  std::vector<std::string> maps;  // mapped file paths, one maps line each
  std::vector<uint64_t> sockets;  // fds 3.. -> "socket:[INODE]"
  bool kernel_thread = false;     // PF_KTHREAD in stat flags
};

class FakeProc {
 public:
  FakeProc();
  ~FakeProc();
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;

  const std::string& root() const { return root_; }
  void Add(const FakeProcess& p);
  // One TCP socket line in root/net/tcp (or tcp6): state 0x0A is LISTEN, 0x01 ESTABLISHED.
  void AddTcp(bool ipv6, uint16_t local_port, uint64_t inode, int state = 0x0A);

 private:
  void WriteNet();
  std::string root_;
  std::vector<std::string> tcp_lines_;
  std::vector<std::string> tcp6_lines_;
};

}  // namespace fraiseql::discovery::testing
