// Helpers shared by the privileged BPF tests (tests/bpf/*_test.cc): the shared loader
// fixture, bounded waits (every wait has a deadline and says what it waited for) and a
// fork/exec child with stdin/stdout pipes.
//
// Why the waits look at TGIDs: exec events are reported for every process on the host, so
// "poll until nothing arrives" never ends on a busy host. A drain here stops once the
// events it needs have arrived (the watched processes' exits) and the watched TGIDs have
// been quiet for a while; records of other processes are delivered but never waited for.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "fraiseql/abi/events.h"
#include "loader/loader.h"
#include "source/event_source.h"

namespace fraiseql::loader {

// Base of a fixture whose tests share one production Loader (the BPF objects are loaded
// once per suite). `Suite` (CRTP) gives each fixture its own loader_. The derived
// SetUpTestSuite decides what to do without root, then calls OpenLoader; the loader is
// destroyed by TearDownTestSuite.
template <typename Suite>
class SharedLoaderTest : public ::testing::Test {
 protected:
  static void OpenLoader(const LoaderOptions& options) {
    auto l = Loader::Open(options);
    ASSERT_TRUE(l.ok()) << l.status().message();
    loader_ = std::move(l.value()).release();
  }
  static void TearDownTestSuite() {
    delete loader_;
    loader_ = nullptr;
  }
  static inline Loader* loader_ = nullptr;
};

namespace testutil {

using Clock = std::chrono::steady_clock;

inline int MsLeft(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

inline std::string Join(const std::set<uint32_t>& s) {
  std::string out;
  for (uint32_t v : s) out += (out.empty() ? "" : ",") + std::to_string(v);
  return "{" + out + "}";
}

// What a drain waits for.
struct DrainSpec {
  std::string what;             // named in the failure message
  std::set<uint32_t> tgids = {};  // records that count; empty: every record but other
                                // processes' PROC_EXEC (those never stop)
  std::set<uint32_t> exits = {};  // stop only after these TGIDs' FQL_EV_PROC_EXIT arrived
  int quiet_ms = 300;           // then this long without a record that counts
  int deadline_ms = 20000;      // hard limit: a failure, never a hang
};

// Polls `src`, handing every record to `sink`, until spec is met or its deadline passes.
inline ::testing::AssertionResult DrainWatched(source::EventSource* src,
                                               const source::RecordSink& sink,
                                               const DrainSpec& spec) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(spec.deadline_ms);
  auto last_relevant = start;
  std::set<uint32_t> exited;
  size_t relevant = 0, other = 0;
  auto observe = [&](std::span<const uint8_t> rec) {
    if (rec.size() >= sizeof(fql_event_header)) {
      fql_event_header h;
      std::memcpy(&h, rec.data(), sizeof(h));
      const bool counts = spec.tgids.empty() ? h.kind != FQL_EV_PROC_EXEC
                                             : spec.tgids.count(h.tgid) != 0;
      if (counts) {
        ++relevant;
        last_relevant = Clock::now();
      } else {
        ++other;
      }
      if (h.kind == FQL_EV_PROC_EXIT && spec.exits.count(h.tgid)) exited.insert(h.tgid);
    }
    sink(rec);
  };
  for (;;) {
    const bool exits_done = exited.size() == spec.exits.size();
    const auto quiet_until = last_relevant + std::chrono::milliseconds(spec.quiet_ms);
    if (exits_done && Clock::now() >= quiet_until) return ::testing::AssertionSuccess();
    const int left = MsLeft(deadline);
    if (left == 0) {
      return ::testing::AssertionFailure()
             << "drain (" << spec.what << "): no end after " << spec.deadline_ms
             << " ms; waited for PROC_EXIT of " << Join(spec.exits) << " (seen "
             << Join(exited) << ") and " << spec.quiet_ms << " ms without records of "
             << (spec.tgids.empty() ? std::string("watched processes") : Join(spec.tgids))
             << "; " << relevant << " such records, " << other << " of other processes";
    }
    const int wait = exits_done ? std::min(left, std::max(1, MsLeft(quiet_until))) : std::min(left, 100);
    auto n = src->Poll(wait, observe);
    if (!n.ok()) {
      return ::testing::AssertionFailure() << "drain (" << spec.what << "): poll: "
                                           << n.status().message();
    }
  }
}

// Discards the records queued before a test (leftovers of earlier tests).
inline ::testing::AssertionResult DrainLeftovers(source::EventSource* src, int quiet_ms = 50) {
  return DrainWatched(src, [](std::span<const uint8_t>) {},
                      DrainSpec{.what = "leftovers before the test", .quiet_ms = quiet_ms});
}

// Reads exactly n bytes from fd within timeout_ms.
inline ::testing::AssertionResult ReadFull(int fd, void* buf, size_t n, int timeout_ms,
                                           const std::string& what) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto* p = static_cast<char*>(buf);
  size_t got = 0;
  while (got < n) {
    pollfd pfd{fd, POLLIN, 0};
    const int left = MsLeft(deadline);
    const int pr = left > 0 ? poll(&pfd, 1, left) : 0;
    if (pr <= 0) {
      return ::testing::AssertionFailure() << "waiting for " << what << ": " << got << " of "
                                           << n << " bytes after " << timeout_ms << " ms";
    }
    const ssize_t r = read(fd, p + got, n - got);
    if (r <= 0) {
      return ::testing::AssertionFailure() << "waiting for " << what << ": end of file after "
                                           << got << " of " << n << " bytes";
    }
    got += static_cast<size_t>(r);
  }
  return ::testing::AssertionSuccess();
}

// Waits for pid to exit within timeout_ms and stores its wait status; past the deadline
// the process is killed (SIGKILL), reaped, and the result is a failure naming `what`.
inline ::testing::AssertionResult WaitExit(pid_t pid, int timeout_ms, const std::string& what,
                                           int* status) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return ::testing::AssertionSuccess();
    if (r < 0) {
      return ::testing::AssertionFailure() << "waitpid(" << pid << ") for " << what << ": "
                                           << std::strerror(errno);
    }
    if (MsLeft(deadline) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, status, 0);
      return ::testing::AssertionFailure() << what << " (pid " << pid << ") still running after "
                                           << timeout_ms << " ms: killed";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Exit code of a wait status (128 + signal when killed).
inline int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A fork/exec child with its stdin and stdout on pipes; killed if still running at
// destruction. Every read has a deadline.
class SpawnedChild {
 public:
  static std::unique_ptr<SpawnedChild> Start(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (argv.empty() || pipe(in) != 0) return nullptr;
    if (pipe(out) != 0) {
      close(in[0]);
      close(in[1]);
      return nullptr;
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    auto c = std::unique_ptr<SpawnedChild>(new SpawnedChild());
    c->pid_ = pid;
    c->to_ = in[1];
    c->from_ = out[0];
    return c;
  }
  ~SpawnedChild() {
    if (pid_ > 0) kill(pid_, SIGKILL);
    Finish(10000);
  }
  SpawnedChild(const SpawnedChild&) = delete;
  SpawnedChild& operator=(const SpawnedChild&) = delete;

  pid_t pid() const { return pid_; }
  int stdin_fd() const { return to_; }
  const std::string& last() const { return last_; }  // the last line read

  // The next line (without '\n'), "<timeout>" or "<eof>".
  std::string ReadLine(int timeout_ms = 30000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        last_ = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return last_;
      }
      pollfd p{from_, POLLIN, 0};
      const int left = MsLeft(deadline);
      if (from_ < 0 || left == 0 || poll(&p, 1, left) <= 0) return last_ = "<timeout>";
      char tmp[4096];
      const ssize_t r = read(from_, tmp, sizeof(tmp));
      if (r <= 0) return last_ = "<eof>";
      buf_.append(tmp, static_cast<size_t>(r));
    }
  }
  // Reads lines until one equals `want` (empty: any line); false on timeout or EOF.
  bool WaitLine(const std::string& want, int timeout_ms = 20000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const std::string line = ReadLine(MsLeft(deadline));
      if (line == "<timeout>" || line == "<eof>") return false;
      if (want.empty() || line == want) return true;
    }
  }
  bool Send(const std::string& line) {
    const std::string l = line + "\n";
    return to_ >= 0 && write(to_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
  }
  // Closes the pipes and waits (killing it past timeout_ms); the exit code, 128 + signal,
  // or -1 when it had to be killed or was already reaped.
  int Finish(int timeout_ms = 60000) {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    to_ = from_ = -1;
    if (pid_ <= 0) return -1;
    int st = 0;
    const bool exited = WaitExit(pid_, timeout_ms, "spawned child", &st);
    pid_ = -1;
    if (!exited) {
      ADD_FAILURE() << "child still running after " << timeout_ms << " ms: killed";
      return -1;
    }
    return ExitCode(st);
  }

 private:
  SpawnedChild() = default;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_, last_;
};

}  // namespace testutil
}  // namespace fraiseql::loader
