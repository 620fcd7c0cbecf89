// A bounded JSON reader for GraphQL envelopes: nlohmann's (iterative) SAX parser feeding a DOM
// builder that keeps only the containers (not the content) of a few "drop" keys near the top
// (request "variables", response "data"), nests kept containers at most kMaxNesting deep
// (error "too_deep"; dropped regions may nest deeper: nothing is built for them) and caps a
// top-level array. Never throws; memory is bounded by the kept part of the input.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fraiseql::protocols::graphql::internal {

struct JsonResult {
  bool ok = false;
  const char* error = nullptr;  // "syntax", "too_deep", "too_many_items"
  nlohmann::json value;
};

// drop_keys: members of an object at depth 0 or 1 whose content is replaced by an empty
// container of the same kind (scalars are kept). max_top_items: elements of a top-level array
// beyond this are an error "too_many_items" when fail_on_overflow, else skipped.
JsonResult ParseJsonFiltered(std::string_view text, std::initializer_list<std::string_view> drop_keys,
                             size_t max_top_items, bool fail_on_overflow);

}  // namespace fraiseql::protocols::graphql::internal
