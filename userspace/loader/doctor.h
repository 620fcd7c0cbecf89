// Support checks ("doctor"): what this host needs to run the collector, each with a
// detail a user can act on. Hard requirements are checked before the skeleton is opened.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace fraiseql::loader {

struct Check {
  std::string name;
  bool ok = false;
  bool required = true;
  std::string detail;
};

// Runs every check (mounting tracefs first if needed).
std::vector<Check> RunDoctorChecks();
// Mounts tracefs at /sys/kernel/tracing unless a tracefs is already reachable.
Status EnsureTracefs();
// The first failing required check, as one actionable line; Ok if all pass.
Status CheckRequirements();

}  // namespace fraiseql::loader
