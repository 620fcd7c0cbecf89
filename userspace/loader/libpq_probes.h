// libpq uprobes (bpf/libpq.bpf.c): finding libpq in a process, reading what the probes need
// from its ELF file, and attaching once per library inode. Owned by Loader (loader.h has the
// public API); the pure helpers are here so they can be tested without privileges.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

struct libpq_bpf;  // generated skeleton (libpq.skel.h), private to libpq_probes.cc
struct bpf_link;

namespace fraiseql::loader {

// One libpq file mapped by a process, from /proc/PID/maps.
struct LibpqMapping {
  std::string path;    // as shown in maps (the process's mount namespace), without " (deleted)"
  std::string range;   // "start-end" of its first mapping (for /proc/PID/map_files/<range>)
  uint64_t inode = 0;  // inode column
  bool deleted = false;
};

// True for "libpq.so.5", "libpq.so.5.16", "libpq-2e9a1c8d.so.5.16" (psycopg_binary.libs):
// the basename starts with "libpq" followed by '.' or '-', and contains ".so". Not
// "libpqwalreceiver.so" (a PostgreSQL server module).
bool IsLibpqBasename(std::string_view basename);

// Distinct libpq files in a /proc/PID/maps text, in order of first appearance.
std::vector<LibpqMapping> FindLibpqMappings(std::string_view maps);

// offsetof(PGconn, sock) decoded from the x86-64 code of PQsocket (`test rdi,rdi; je;
// mov eax,[rdi+disp]; ret`, optionally after endbr64). nullopt when the code does not have
// that shape (other architectures, unusual builds): events then carry fd -1.
std::optional<int32_t> SockOffsetFromPQsocket(std::span<const uint8_t> code);

// What the probes need from a libpq ELF file.
struct LibpqElf {
  std::vector<std::string> functions;  // exported (dynamic, defined) function symbols asked for
  std::optional<int32_t> sock_offset;  // from PQsocket, see above
};
StatusOr<LibpqElf> ReadLibpqElf(const std::string& path,
                                const std::vector<std::string>& wanted);

// One attached library (see Loader::LibpqLibraries).
struct LibpqLibrary {
  std::string path;           // as mapped in the process it was attached through
  std::string attach_path;    // what was handed to libbpf (/proc/PID/root/... or map_files)
  uint64_t dev = 0, ino = 0;  // identity of the file: one attachment per (dev, ino)
  uint32_t tgid = 0;          // the process it was attached through
  int32_t sock_offset = -1;   // offsetof(PGconn, sock), -1 unknown (events carry fd -1)
  std::vector<std::string> probes;   // attached, "PQexec" (entry) / "PQexec%return"
  std::vector<std::string> missing;  // functions this build does not export: skipped
  std::vector<std::string> failed;   // "PQexec: <why>"
};

class LibpqProbes {
 public:
  // Opens and loads bpf/libpq.bpf.c sharing the capture object's maps (their fds).
  static StatusOr<std::unique_ptr<LibpqProbes>> Load(int watched_fd, int events_fd,
                                                     int stats_fd);
  ~LibpqProbes();
  LibpqProbes(const LibpqProbes&) = delete;
  LibpqProbes& operator=(const LibpqProbes&) = delete;

  Status Attach(uint32_t tgid);
  void DetachAll();
  std::vector<LibpqLibrary> Libraries() const;
  size_t LinkCount() const;
  // (name, prog fd) of every program of the libpq object.
  std::vector<std::pair<std::string, int>> Programs() const;

 private:
  LibpqProbes() = default;
  Status AttachOne(uint32_t tgid, const LibpqMapping& m);

  mutable std::mutex mu_;
  libpq_bpf* skel_ = nullptr;
  std::map<std::pair<uint64_t, uint64_t>, LibpqLibrary> libs_;  // by (dev, ino)
  std::map<std::pair<uint64_t, uint64_t>, std::vector<bpf_link*>> links_;
};

}  // namespace fraiseql::loader
