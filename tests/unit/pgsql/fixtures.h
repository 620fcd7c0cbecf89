// Fixtures captured from real PostgreSQL 15 traffic by scripts/capture-pgsql-fixtures.py.
#pragma once

#include "../common/fixture_dir.h"

namespace fraiseql::protocols::pgsql::testing {

inline const fraiseql::testing::FixtureDir& Fixtures() {
  static const fraiseql::testing::FixtureDir dir(FQL_PGSQL_FIXTURE_DIR);
  return dir;
}
inline std::string ReadFixture(const std::string& name) { return Fixtures().Read(name); }
inline const nlohmann::json& Manifest() { return Fixtures().Manifest(); }
inline std::vector<std::string> FixtureNames() { return Fixtures().Names(); }
inline std::string Frontend(const std::string& name) { return ReadFixture(name + ".fe.bin"); }
inline std::string Backend(const std::string& name) { return ReadFixture(name + ".be.bin"); }

}  // namespace fraiseql::protocols::pgsql::testing
