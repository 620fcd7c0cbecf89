// Fixtures captured from real Redis 7 traffic by scripts/capture-redis-fixtures.py (plus one
// hand-written RESP3 file, see the script).
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fraiseql::protocols::redis::testing {

inline std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(FQL_REDIS_FIXTURE_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline const nlohmann::json& Manifest() {
  static const nlohmann::json m = nlohmann::json::parse(ReadFixture("manifest.json"));
  return m;
}

// The captured scenarios (not the hand-written file).
inline std::vector<std::string> ScenarioNames() {
  std::vector<std::string> names;
  for (auto it = Manifest().begin(); it != Manifest().end(); ++it) {
    if (!it.value().contains("handwritten")) names.push_back(it.key());
  }
  return names;
}

}  // namespace fraiseql::protocols::redis::testing
