#include "fake_proc.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fraiseql::discovery::testing {
namespace {

namespace fs = std::filesystem;

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string Hex(uint64_t v, int width) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%0*llX", width, static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

FakeProc::FakeProc() {
  std::string tmpl = (fs::temp_directory_path() / "fql-fakeproc-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  fs::create_directories(root_ + "/net");
  WriteNet();
}

FakeProc::~FakeProc() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void FakeProc::Add(const FakeProcess& p) {
  std::string dir = root_ + "/" + std::to_string(p.pid);
  fs::create_directories(dir + "/fd");
  uint32_t tgid = p.tgid ? p.tgid : p.pid;
  WriteFile(dir + "/comm", p.comm + "\n");
  WriteFile(dir + "/status", "Name:\t" + p.comm +
                                 "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" +
                                 std::to_string(tgid) + "\nNgid:\t0\nPid:\t" +
                                 std::to_string(p.pid) + "\nPPid:\t" + std::to_string(p.ppid) +
                                 "\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nThreads:\t1\n");
  unsigned long flags = p.kernel_thread ? 0x00208040UL : 0x00400100UL;
  WriteFile(dir + "/stat", std::to_string(p.pid) + " (" + p.comm + ") S " +
                               std::to_string(p.ppid) + " " + std::to_string(p.pid) + " " +
                               std::to_string(p.pid) + " 0 -1 " + std::to_string(flags) +
                               " 1234 0 5 0 10 4 0 0 20 0 1 0 4242 123456789 2048\n");
  std::string cmdline;
  for (const auto& a : p.argv) cmdline += a + '\0';
  WriteFile(dir + "/cmdline", cmdline);
  std::string environ;
  for (const auto& e : p.env) environ += e + '\0';
  WriteFile(dir + "/environ", environ);
  std::string maps =
      "55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1311 " + p.exe + "\n";
  uint64_t addr = 0x7f0000000000;
  for (const auto& m : p.maps) {
    maps += Hex(addr, 12) + "-" + Hex(addr + 0x1000, 12) + " r-xp 00000000 08:01 4242 " + m +
            "\n";
    addr += 0x10000;
  }
  maps += "7ffd1c2f0000-7ffd1c311000 rw-p 00000000 00:00 0                          [stack]\n";
  WriteFile(dir + "/maps", maps);
  if (!p.exe.empty()) fs::create_symlink(p.exe, dir + "/exe");
  fs::create_symlink("/dev/null", dir + "/fd/0");
  fs::create_symlink("pipe:[777]", dir + "/fd/1");
  fs::create_symlink("anon_inode:[eventpoll]", dir + "/fd/2");
  int fd = 3;
  for (uint64_t inode : p.sockets) {
    fs::create_symlink("socket:[" + std::to_string(inode) + "]",
                       dir + "/fd/" + std::to_string(fd++));
  }
}

void FakeProc::AddTcp(bool ipv6, uint16_t local_port, uint64_t inode, int state) {
  auto& lines = ipv6 ? tcp6_lines_ : tcp_lines_;
  std::string local = ipv6 ? "00000000000000000000000001000000" : "0100007F";
  std::string remote = ipv6 ? "00000000000000000000000000000000" : "00000000";
  uint16_t remote_port = state == 0x0A ? 0 : 51234;
  lines.push_back("  " + std::to_string(lines.size()) + ": " + local + ":" +
                  Hex(local_port, 4) + " " + remote + ":" + Hex(remote_port, 4) + " " +
                  Hex(state, 2) +
                  " 00000000:00000000 00:00000000 00000000     0        0 " +
                  std::to_string(inode) + " 1 0000000000000000 100 0 0 10 0");
  WriteNet();
}

void FakeProc::WriteNet() {
  std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n";
  for (const auto& l : tcp_lines_) tcp += l + "\n";
  std::string tcp6 =
      "  sl  local_address                         remote_address                        st "
      "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  for (const auto& l : tcp6_lines_) tcp6 += l + "\n";
  WriteFile(root_ + "/net/tcp", tcp);
  WriteFile(root_ + "/net/tcp6", tcp6);
}

}  // namespace fraiseql::discovery::testing
