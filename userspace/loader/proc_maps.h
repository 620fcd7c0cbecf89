// /proc/PID/maps and ELF helpers shared by the uprobe attachers (libpq_probes, python_probes):
// parsing maps lines, resolving a mapped file to something libbpf can open (and to its
// (dev, inode) identity, the unit uprobes attach to), reading dynamic symbols and program
// headers of an ELF file. Pure except ResolveMappedFile/ReadWholeFile (file system).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace fraiseql::loader {

// One /proc/PID/maps line that maps a file (path starts with '/').
struct MapsEntry {
  uint64_t start = 0, end = 0;  // addresses
  uint64_t offset = 0;          // file offset of start
  std::string perms;            // "r-xp"
  uint64_t inode = 0;
  std::string path;             // without " (deleted)"
  std::string range;            // "start-end" as printed (for /proc/PID/map_files/<range>)
  bool deleted = false;
};
std::vector<MapsEntry> ParseMaps(std::string_view maps);

// A mapped file as libbpf can open it from here: /proc/PID/root<path> when that is still the
// mapped inode, else /proc/PID/map_files/<range> (deleted or replaced since it was mapped).
struct ResolvedFile {
  std::string attach_path;
  uint64_t dev = 0, ino = 0;
};
StatusOr<ResolvedFile> ResolveMappedFile(uint32_t tgid, const std::string& path,
                                         const std::string& range, uint64_t inode, bool deleted);

// Whole file into memory (false on error, errno set).
bool ReadWholeFile(const std::string& path, std::string* out);

struct ElfSymbol {
  uint64_t value = 0;  // st_value (virtual address in the file's own layout)
  uint64_t size = 0;
  uint8_t type = 0;    // STT_*
};
struct ElfLoad {
  uint64_t vaddr = 0, offset = 0, filesz = 0, memsz = 0, align = 0;
};
struct ElfImage {
  uint16_t type = 0;                        // ET_EXEC / ET_DYN
  std::vector<ElfLoad> loads;               // PT_LOAD segments
  std::map<std::string, ElfSymbol> dynsym;  // defined dynamic symbols asked for
  // File offset of a virtual address (in the file's layout), if inside a segment's file bytes.
  std::optional<uint64_t> FileOffset(uint64_t vaddr) const;
};
// Parses a 64-bit little-endian ELF image; `wanted` limits the symbols kept (empty: none).
StatusOr<ElfImage> ParseElf(std::string_view img, const std::vector<std::string>& wanted);

// Load bias (runtime address - ELF vaddr) of an object from one of its mappings: the
// segment holding the mapping's file offset gives vaddr(offset). 0 for non-PIE executables.
std::optional<uint64_t> LoadBias(const ElfImage& elf, const MapsEntry& mapping);

}  // namespace fraiseql::loader
