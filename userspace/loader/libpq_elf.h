// Finding libpq in a process and reading what the libpq uprobes need from its ELF file.
// Pure (or plain file reads): no libbpf, unit-tested without privileges.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

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

}  // namespace fraiseql::loader
