// Fixtures captured from real PostgreSQL 15 traffic by scripts/capture-pgsql-fixtures.py.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fraiseql::protocols::pgsql::testing {

inline std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(FQL_PGSQL_FIXTURE_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline const nlohmann::json& Manifest() {
  static const nlohmann::json m = nlohmann::json::parse(ReadFixture("manifest.json"));
  return m;
}

inline std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  for (auto it = Manifest().begin(); it != Manifest().end(); ++it) names.push_back(it.key());
  return names;
}

inline std::string Frontend(const std::string& name) { return ReadFixture(name + ".fe.bin"); }
inline std::string Backend(const std::string& name) { return ReadFixture(name + ".be.bin"); }

}  // namespace fraiseql::protocols::pgsql::testing
