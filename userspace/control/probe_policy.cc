#include "control/probe_policy.h"

#include <spdlog/spdlog.h>

namespace fraiseql::control {

std::optional<LibpqPolicy> ParseLibpqPolicy(std::string_view s) {
  if (s == "auto") return LibpqPolicy::kAuto;
  if (s == "on") return LibpqPolicy::kOn;
  if (s == "off") return LibpqPolicy::kOff;
  return std::nullopt;
}

std::optional<PythonContexts> ParsePythonContexts(std::string_view s) {
  if (s == "auto") return PythonContexts::kAuto;
  if (s == "on") return PythonContexts::kOn;
  if (s == "tasks") return PythonContexts::kTasks;
  if (s == "off") return PythonContexts::kOff;
  return std::nullopt;
}

void ProbePolicy::OnWatched(const discovery::Target& t) {
  if (options_.database && options_.libpq == LibpqPolicy::kOn &&
      t.runtime == discovery::Runtime::kPython) {
    want_libpq_.insert(t.tgid);
  }
  WatchPythonContexts(t);
}

void ProbePolicy::OnUnwatched(uint32_t tgid) {
  loader_.UnwatchPython(tgid);
  want_libpq_.erase(tgid);
  libpq_attached_.erase(tgid);
}

// Asyncio attribution: the running task's Context read at each socket syscall, Context births
// through the probe --python-contexts picks (docs/request-contexts.md, python-contexts.md).
void ProbePolicy::WatchPythonContexts(const discovery::Target& t) {
  if (options_.python == PythonContexts::kOff) return;
  if (options_.python == PythonContexts::kAuto && t.runtime != discovery::Runtime::kPython) {
    return;
  }
  auto detected = loader::DetectPython(t.tgid);
  if (!detected.ok()) {
    spdlog::warn("pid {}: Python contexts unavailable ({}): calls attributed by request "
                 "and thread only", t.tgid, detected.status().message());
    return;
  }
  if (!detected.value()) {
    spdlog::debug("pid {}: not CPython, no Python contexts", t.tgid);
    return;
  }
  const loader::PythonTarget& py = *detected.value();
  // on/auto: every Context birth (exact); tasks: asyncio Task births only (cheaper).
  const loader::PyBirthHook hook = options_.python == PythonContexts::kTasks
                                       ? loader::PyBirthHook::kAuto
                                       : loader::PyBirthHook::kCopyCurrentReturn;
  Status s = loader_.WatchPython(t.tgid, py, hook);
  if (!s.ok()) {
    spdlog::warn("pid {}: Python contexts not attached: {}", t.tgid, s.message());
    return;
  }
  spdlog::info("pid {}: Python {}.{}.{} contexts followed ({})", t.tgid, py.major, py.minor,
               py.micro, py.object_path);
}

void ProbePolicy::OnEncryptedDb(uint32_t tgid) {
  if (!options_.database || options_.libpq == LibpqPolicy::kOff ||
      libpq_attached_.count(tgid)) {
    return;
  }
  spdlog::info("pid {}: PostgreSQL connection is TLS; attaching libpq uprobes", tgid);
  want_libpq_.insert(tgid);
}

void ProbePolicy::AttachPending(const std::set<uint32_t>& alive) {
  for (auto it = want_libpq_.begin(); it != want_libpq_.end();) {
    uint32_t tgid = *it;
    if (!alive.count(tgid)) {
      it = want_libpq_.erase(it);
      continue;
    }
    Status s = loader_.AttachLibpq(tgid);
    if (s.ok()) {
      libpq_attached_.insert(tgid);
      spdlog::info("pid {}: libpq uprobes attached ({})", tgid,
                   fmt::join(loader_.LibpqAttachments(), ", "));
      it = want_libpq_.erase(it);
    } else {
      spdlog::debug("pid {}: libpq uprobes not attached yet: {}", tgid, s.message());
      ++it;
    }
  }
}

}  // namespace fraiseql::control
