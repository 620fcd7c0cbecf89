// libpq uprobes (bpf/libpq.bpf.c): attaching once per library inode, from what libpq_elf.h
// finds (libpq in a process's maps, what the probes need from its ELF file). Owned by Loader
// (loader.h has the public API).
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
#include "loader/libpq_elf.h"

struct libpq_bpf;  // generated skeleton (libpq.skel.h), private to libpq_probes.cc
struct bpf_link;

namespace fraiseql::loader {

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
