// The shared procfs/ELF layer (fql_procfs) against real files of this machine, without
// privileges: this process's maps, libc's and libpq's dynamic symbols, CPython's _asyncio.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "loader/libpq_elf.h"
#include "loader/proc_maps.h"
#include "loader/python_runtime.h"

namespace fraiseql::loader {
namespace {

constexpr const char* kLibc = "/lib/x86_64-linux-gnu/libc.so.6";
constexpr const char* kLibpq = "/usr/lib/x86_64-linux-gnu/libpq.so.5";
constexpr const char* kAsyncio =
    "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so";

bool Readable(const char* path) { return access(path, R_OK) == 0; }

TEST(ProcfsTest, SelfMapsHaveThisExecutableAndLibc) {
  std::string maps;
  ASSERT_TRUE(ReadWholeFile("/proc/self/maps", &maps));
  const std::vector<MapsEntry> entries = ParseMaps(maps);
  ASSERT_FALSE(entries.empty());
  bool exe = false, libc = false;
  for (const MapsEntry& e : entries) {
    EXPECT_LT(e.start, e.end) << e.path;
    EXPECT_EQ(e.path.front(), '/') << e.path;
    if (e.path.find("procfs_test") != std::string::npos) exe = true;
    if (e.path.find("libc.so.6") != std::string::npos) {
      libc = true;
      EXPECT_NE(e.inode, 0u);
    }
  }
  EXPECT_TRUE(exe);
  EXPECT_TRUE(libc);
}

TEST(ProcfsTest, SelfMapsHaveNoLibpq) {
  std::string maps;
  ASSERT_TRUE(ReadWholeFile("/proc/self/maps", &maps));
  EXPECT_TRUE(FindLibpqMappings(maps).empty());
}

TEST(ProcfsTest, LibcExportsItsDynamicSymbols) {
  if (!Readable(kLibc)) GTEST_SKIP() << kLibc;
  std::string img;
  ASSERT_TRUE(ReadWholeFile(kLibc, &img));
  auto elf = ParseElf(img, {"read", "write", "no_such_symbol_here"});
  ASSERT_TRUE(elf.ok()) << elf.status().message();
  EXPECT_EQ(elf->type, 3 /* ET_DYN */);
  EXPECT_FALSE(elf->loads.empty());
  ASSERT_EQ(elf->dynsym.count("read"), 1u);
  EXPECT_EQ(elf->dynsym.count("write"), 1u);
  EXPECT_EQ(elf->dynsym.count("no_such_symbol_here"), 0u);
  EXPECT_TRUE(elf->FileOffset(elf->dynsym.at("read").value).has_value());
}

TEST(ProcfsTest, NotAnElfIsAnError) {
  EXPECT_FALSE(ParseElf("#!/bin/sh\n", {"main"}).ok());
}

TEST(ProcfsTest, LibpqElfHasTheProbedFunctionsAndSockOffset) {
  if (!Readable(kLibpq)) GTEST_SKIP() << kLibpq;
  auto elf = ReadLibpqElf(kLibpq, {"PQexec", "PQsendQuery", "PQgetResult", "PQnope"});
  ASSERT_TRUE(elf.ok()) << elf.status().message();
  for (const char* f : {"PQexec", "PQsendQuery", "PQgetResult"}) {
    EXPECT_NE(std::find(elf->functions.begin(), elf->functions.end(), f), elf->functions.end())
        << f;
  }
  EXPECT_EQ(std::find(elf->functions.begin(), elf->functions.end(), "PQnope"),
            elf->functions.end());
  ASSERT_TRUE(elf->sock_offset.has_value());
  EXPECT_GT(*elf->sock_offset, 0);
  EXPECT_EQ(*elf->sock_offset % 4, 0);
}

TEST(ProcfsTest, MissingFileIsNotFound) {
  auto elf = ReadLibpqElf("/nonexistent/libpq.so.5", {"PQexec"});
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.code(), StatusCode::kNotFound) << elf.status().ToString();
}

TEST(ProcfsTest, ThisProcessIsNotPython) {
  auto det = DetectPython(static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(det.ok()) << det.status().message();
  EXPECT_FALSE(det->has_value());
  auto sites = FindAsyncioTaskSites(static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(sites.ok()) << sites.status().message();
  EXPECT_FALSE(sites->has_value());
}

TEST(ProcfsTest, SystemAsyncioHasTaskBirthSites) {
  if (!Readable(kAsyncio)) GTEST_SKIP() << kAsyncio;
  std::string img;
  ASSERT_TRUE(ReadWholeFile(kAsyncio, &img));
  auto sites = AsyncioSitesFromImage(img);
  ASSERT_TRUE(sites.ok()) << sites.status().message();
  EXPECT_FALSE(sites->all.empty());
  EXPECT_FALSE(sites->task.empty());
  EXPECT_LE(sites->task.size(), sites->all.size());
  EXPECT_EQ(sites->probe_at.size(), sites->all.size());
  EXPECT_FALSE(sites->rule.empty());
}

TEST(ProcfsTest, PythonVersionNames) {
  EXPECT_EQ(PythonVersionFromName("python3.11"), (std::pair<int, int>{3, 11}));
  EXPECT_EQ(PythonVersionFromName("libpython3.12.so.1.0"), (std::pair<int, int>{3, 12}));
  EXPECT_FALSE(PythonVersionFromName("bash").has_value());
  EXPECT_TRUE(PyOffsetsFor(3, 11).has_value());
}

}  // namespace
}  // namespace fraiseql::loader
