// The support checklist is decided from probed features only: an old version number with
// backported ring buffers and BTF (RHEL 8: 4.18) passes; a missing feature fails with a
// line naming it, whatever the version.
#include <gtest/gtest.h>

#include <string>

#include "loader/doctor.h"

namespace fraiseql::loader {
namespace {

HostFacts AllFeatures(const std::string& release) {
  HostFacts f;
  f.kernel_release = release;
  f.btf = true;
  f.tracefs_root = "/sys/kernel/tracing";
  f.ringbuf_probe = 1;
  f.tracepoint_prog_probe = 1;
  f.syscall_tracepoints = true;
  f.sched_tracepoints = true;
  f.uprobe_pmu = true;
  return f;
}

Check RootCaps() { return Check{"capabilities", true, true, "euid=0"}; }

// The first failing required check, or nullptr.
const Check* FirstFailure(const std::vector<Check>& checks) {
  for (const Check& c : checks) {
    if (c.required && !c.ok) return &c;
  }
  return nullptr;
}

const Check& Named(const std::vector<Check>& checks, const std::string& name) {
  for (const Check& c : checks) {
    if (c.name == name) return c;
  }
  static const Check kMissing{"<missing>", false, true, ""};
  ADD_FAILURE() << "no check named " << name;
  return kMissing;
}

TEST(DoctorTest, BackportedOldKernelPasses) {
  for (const char* release : {"4.18.0-513.el8.x86_64", "3.10.0-1160.el7.x86_64", "5.4.0"}) {
    const auto checks = EvaluateChecks(AllFeatures(release), RootCaps());
    const Check* bad = FirstFailure(checks);
    EXPECT_EQ(bad, nullptr) << release << ": " << (bad ? bad->name + ": " + bad->detail : "");
    const Check& k = Named(checks, "kernel version");
    EXPECT_FALSE(k.required);
    EXPECT_NE(k.detail.find(release), std::string::npos) << k.detail;
  }
}

TEST(DoctorTest, NewKernelWithoutRingbufFails) {
  HostFacts f = AllFeatures("6.1.0-13-amd64");
  f.ringbuf_probe = 0;
  const auto checks = EvaluateChecks(f, RootCaps());
  const Check* bad = FirstFailure(checks);
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->name, "ring buffer map");
  EXPECT_NE(bad->detail.find("BPF_MAP_TYPE_RINGBUF"), std::string::npos) << bad->detail;
}

TEST(DoctorTest, EachMissingFeatureIsNamed) {
  struct Case {
    const char* check;
    void (*drop)(HostFacts&);
    const char* hint;
  };
  const Case cases[] = {
      {"kernel BTF", [](HostFacts& f) { f.btf = false; }, "CONFIG_DEBUG_INFO_BTF"},
      {"tracepoint programs", [](HostFacts& f) { f.tracepoint_prog_probe = -95; },
       "CONFIG_BPF_EVENTS"},
      {"syscall tracepoints", [](HostFacts& f) { f.syscall_tracepoints = false; },
       "sys_enter_read"},
      {"sched tracepoints", [](HostFacts& f) { f.sched_tracepoints = false; },
       "sched_process_fork"},
      {"uprobes", [](HostFacts& f) { f.uprobe_pmu = false; }, "CONFIG_UPROBE_EVENTS"},
  };
  for (const Case& c : cases) {
    HostFacts f = AllFeatures("6.1.0");
    c.drop(f);
    const auto checks = EvaluateChecks(f, RootCaps());
    const Check* bad = FirstFailure(checks);
    ASSERT_NE(bad, nullptr) << c.check;
    EXPECT_EQ(bad->name, c.check);
    EXPECT_NE(bad->detail.find(c.hint), std::string::npos) << bad->detail;
  }
}

TEST(DoctorTest, NoTracefsFailsTracefsFirst) {
  HostFacts f = AllFeatures("6.1.0");
  f.tracefs_root.clear();
  f.tracefs_error = "tracefs is not mounted and mounting it failed";
  const auto checks = EvaluateChecks(f, RootCaps());
  const Check* bad = FirstFailure(checks);
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->name, "tracefs");
  EXPECT_EQ(bad->detail, f.tracefs_error);
}

TEST(DoctorTest, KprobesAreOptional) {
  HostFacts f = AllFeatures("6.1.0");
  f.kprobes = false;
  const auto checks = EvaluateChecks(f, RootCaps());
  EXPECT_EQ(FirstFailure(checks), nullptr);
  const Check& k = Named(checks, "kprobes (optional)");
  EXPECT_FALSE(k.ok);
  EXPECT_FALSE(k.required);
}

TEST(DoctorTest, NoUnameIsOnlyInformation) {
  const auto checks = EvaluateChecks(AllFeatures(""), RootCaps());
  EXPECT_EQ(FirstFailure(checks), nullptr);
}

}  // namespace
}  // namespace fraiseql::loader
