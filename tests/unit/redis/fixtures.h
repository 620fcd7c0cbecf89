// Fixtures captured from real Redis 7 traffic by scripts/capture-redis-fixtures.py (plus one
// hand-written RESP3 file, see the script).
#pragma once

#include "../common/fixture_dir.h"

namespace fraiseql::protocols::redis::testing {

inline const fraiseql::testing::FixtureDir& Fixtures() {
  static const fraiseql::testing::FixtureDir dir(FQL_REDIS_FIXTURE_DIR);
  return dir;
}
inline std::string ReadFixture(const std::string& name) { return Fixtures().Read(name); }
inline const nlohmann::json& Manifest() { return Fixtures().Manifest(); }

// The captured scenarios (not the hand-written file).
inline std::vector<std::string> ScenarioNames() {
  std::vector<std::string> names;
  for (auto it = Manifest().begin(); it != Manifest().end(); ++it) {
    if (!it.value().contains("handwritten")) names.push_back(it.key());
  }
  return names;
}

}  // namespace fraiseql::protocols::redis::testing
