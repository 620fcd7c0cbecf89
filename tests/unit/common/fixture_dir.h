// A directory of fixtures captured from real servers (tests/fixtures/<protocol>/), each with a
// manifest.json of golden values taken from the client side. Shared by the parser suites.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fraiseql::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FixtureDir {
 public:
  explicit FixtureDir(std::string dir) : dir_(std::move(dir)) {}
  std::string Read(const std::string& name) const { return ReadFile(dir_ + "/" + name); }
  const nlohmann::json& Manifest() const {
    if (manifest_.is_null()) manifest_ = nlohmann::json::parse(Read("manifest.json"));
    return manifest_;
  }
  // The manifest's scenario names, in its order.
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (auto it = Manifest().begin(); it != Manifest().end(); ++it) names.push_back(it.key());
    return names;
  }

 private:
  std::string dir_;
  mutable nlohmann::json manifest_;
};

}  // namespace fraiseql::testing
