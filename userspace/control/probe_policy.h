// Which uprobes a target gets, decided in one place with typed options: libpq uprobes (TLS
// PostgreSQL connections, or every Python target when asked) and the Python context hooks
// (asyncio attribution). Uprobes cost microseconds per hit, so each is attached only where it
// is needed. OpenSSL (HTTPS servers) plugs in here next.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>

#include "discovery/discovery.h"
#include "loader/loader.h"

namespace fraiseql::control {

enum class LibpqPolicy : uint8_t { kAuto, kOn, kOff };
enum class PythonContexts : uint8_t { kAuto, kOn, kTasks, kOff };
std::optional<LibpqPolicy> ParseLibpqPolicy(std::string_view s);       // auto on off
std::optional<PythonContexts> ParsePythonContexts(std::string_view s);  // auto on tasks off

struct ProbeOptions {
  // auto: once one of the process's PostgreSQL connections turns out to be TLS; on: every
  // Python target; off: never (TLS connections are then only counted as encrypted).
  LibpqPolicy libpq = LibpqPolicy::kAuto;
  // auto (CPython targets) / on (every target): every Context birth hooked (exact); tasks:
  // asyncio Task births only (cheaper, can misattribute); off.
  PythonContexts python = PythonContexts::kAuto;
  bool database = true;  // database monitoring off: no libpq probes at all
};

class ProbePolicy {
 public:
  ProbePolicy(ProbeOptions options, loader::Loader& loader) : options_(options), loader_(loader) {}

  // A target was watched (or forked from one): attach what it gets from the start.
  void OnWatched(const discovery::Target& t);
  void OnUnwatched(uint32_t tgid);
  // One of its PostgreSQL connections is TLS (from the pipeline, on its thread).
  void OnEncryptedDb(uint32_t tgid);
  // Attaches libpq uprobes for processes that want them and do not have them yet (a process
  // without libpq mapped yet is retried at the next call: it may dlopen it later).
  void AttachPending(const std::set<uint32_t>& alive);

 private:
  void WatchPythonContexts(const discovery::Target& t);

  ProbeOptions options_;
  loader::Loader& loader_;
  std::set<uint32_t> want_libpq_;
  std::set<uint32_t> libpq_attached_;
};

}  // namespace fraiseql::control
