#include "protocols/graphql/json_filter.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "protocols/graphql/graphql.h"

namespace fraiseql::protocols::graphql::internal {
namespace {

using nlohmann::json;

class FilteredBuilder {
 public:
  FilteredBuilder(std::initializer_list<std::string_view> drop_keys, size_t max_top_items,
                  bool fail_on_overflow)
      : drop_keys_(drop_keys), max_top_items_(max_top_items), fail_on_overflow_(fail_on_overflow) {}

  bool null() { return Value(json(nullptr)); }
  bool boolean(bool v) { return Value(json(v)); }
  bool number_integer(json::number_integer_t v) { return Value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Value(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return Value(json(v)); }
  bool string(json::string_t& v) { return Value(json(std::move(v))); }
  bool binary(json::binary_t&) { return Value(json(nullptr)); }  // never produced for JSON text
  bool start_object(size_t) { return Start(json::object()); }
  bool start_array(size_t) { return Start(json::array()); }
  bool end_object() { return End(); }
  bool end_array() { return End(); }
  bool key(json::string_t& k) {
    Frame& top = stack_.back();
    top.key = std::move(k);
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) {
    if (error_ == nullptr) error_ = "syntax";
    return false;
  }

  json& root() { return root_; }
  const char* error() const { return error_; }

 private:
  struct Frame {
    json* container;  // nullptr: inside a dropped region
    std::string key;  // the pending member name when container is an object
  };

  // Where the next value goes: nullptr when it is dropped. *drop_content: its children are.
  json* Slot(bool* drop_content) {
    *drop_content = false;
    if (stack_.empty()) return &root_;
    Frame& top = stack_.back();
    if (top.container == nullptr) {
      *drop_content = true;
      return nullptr;
    }
    if (top.container->is_array()) {
      if (stack_.size() == 1 && top.container->size() >= max_top_items_) {
        if (fail_on_overflow_) {
          error_ = "too_many_items";
          overflow_ = true;
        }
        *drop_content = true;
        return nullptr;
      }
      top.container->push_back(nullptr);
      return &top.container->back();
    }
    if (stack_.size() <= 2 && std::find(drop_keys_.begin(), drop_keys_.end(), top.key) != drop_keys_.end()) {
      *drop_content = true;
    }
    return &(*top.container)[top.key];
  }

  bool Value(json&& v) {
    bool drop = false;
    json* slot = Slot(&drop);
    if (overflow_) return false;
    if (slot != nullptr) *slot = std::move(v);
    return true;
  }

  bool Start(json&& empty) {
    bool drop = false;
    json* slot = Slot(&drop);
    if (overflow_) return false;
    // Only kept containers count: dropped ones cost the (iterative) parser one bit per level.
    if (slot != nullptr && kept_depth_ >= kMaxNesting) {
      error_ = "too_deep";
      return false;
    }
    if (slot != nullptr && !drop) ++kept_depth_;
    if (slot != nullptr) *slot = std::move(empty);
    stack_.push_back(Frame{drop ? nullptr : slot, {}});
    return true;
  }

  bool End() {
    if (stack_.back().container != nullptr) --kept_depth_;
    stack_.pop_back();
    return true;
  }

  std::vector<std::string_view> drop_keys_;
  size_t max_top_items_;
  bool fail_on_overflow_;
  bool overflow_ = false;
  uint32_t kept_depth_ = 0;
  json root_;
  std::vector<Frame> stack_;
  const char* error_ = nullptr;
};

}  // namespace

JsonResult ParseJsonFiltered(std::string_view text, std::initializer_list<std::string_view> drop_keys,
                             size_t max_top_items, bool fail_on_overflow) {
  JsonResult r;
  try {
    FilteredBuilder b(drop_keys, max_top_items, fail_on_overflow);
    const bool ok = json::sax_parse(text.begin(), text.end(), &b);
    if (!ok || b.error() != nullptr) {
      r.error = b.error() != nullptr ? b.error() : "syntax";
      return r;
    }
    r.value = std::move(b.root());
    r.ok = true;
  } catch (...) {  // allocation failure or a library exception: treat as unparsable
    r = JsonResult{};
    r.error = "syntax";
  }
  return r;
}

}  // namespace fraiseql::protocols::graphql::internal
