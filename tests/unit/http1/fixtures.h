// Fixtures captured from a real uvicorn server by scripts/capture-http-fixtures.py.
#pragma once

#include "../common/fixture_dir.h"

namespace fraiseql::protocols::http1::testing {

inline const fraiseql::testing::FixtureDir& Fixtures() {
  static const fraiseql::testing::FixtureDir dir(FQL_HTTP1_FIXTURE_DIR);
  return dir;
}
inline std::string ReadFixture(const std::string& name) { return Fixtures().Read(name); }
inline const nlohmann::json& Manifest() { return Fixtures().Manifest(); }
inline std::vector<std::string> FixtureNames() { return Fixtures().Names(); }

}  // namespace fraiseql::protocols::http1::testing
