// The one declarative table of every collector option (key, flag, env, type, range, default).
#pragma once

#include <string_view>
#include <vector>

namespace fraiseql::config {

enum class Type { kBool, kInt, kDouble, kString, kEnum, kIntList, kStringList, kPath };

struct KeySpec {
  std::string_view key;   // dotted YAML path, e.g. "capture.ringbuf_mib"
  std::string_view flag;  // "--ringbuf-mib", or "" for none
  std::string_view env;   // environment variable name
  Type type;
  double min = 0, max = 0;             // kInt / kDouble / kIntList range
  std::vector<std::string_view> allowed;  // kEnum
  std::string_view def;   // default as text; "" with has_default=false for "no default"
  bool has_default = true;
  std::string_view help;
  bool built = true;      // false: accepted, not implemented yet
  bool power_of_two = false;
  bool non_empty = false;
};

const std::vector<KeySpec>& Schema();
const KeySpec* FindKey(std::string_view key);

}  // namespace fraiseql::config
