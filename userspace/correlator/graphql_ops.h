// GraphQL operations of an answered HTTP request: decoded once (protocols/graphql), labelled
// (operation_name capped per service), with the persisted-query memory (hash → operation)
// that lets an APQ hit be named.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/labeled_counts.h"
#include "protocols/graphql/graphql.h"
#include "records/records.h"

namespace fraiseql::correlator {

struct GraphqlOptions {
  size_t max_operations_per_service = 200;  // operation_name values before "other"
  size_t apq_memory = 10000;                // persisted-query hashes remembered per service
};

class GraphqlOps {
 public:
  explicit GraphqlOps(GraphqlOptions options) : options_(options) {}

  // The request's operations; empty when it is not a GraphQL request.
  std::vector<records::Operation> Decode(const records::HttpExchange& x);
  // Requests that looked like GraphQL but could not be decoded, by reason.
  const LabeledCounts& parse_errors() const { return parse_errors_; }

 private:
  struct ApqEntry {
    protocols::graphql::OperationType type;
    std::string label;
    std::vector<std::string> root_fields;
    uint32_t depth, fields;
    uint64_t complexity;
  };
  struct ApqMemory {
    std::list<std::string> lru;  // most recent first
    std::unordered_map<std::string, std::pair<ApqEntry, std::list<std::string>::iterator>> map;
  };

  std::string CapOperation(const std::string& service, const std::string& label);
  void RememberApq(const std::string& service, const std::string& hash, const ApqEntry& e);
  const ApqEntry* RecallApq(const std::string& service, const std::string& hash);
  records::Operation Item(const std::string& service, const protocols::graphql::RequestItem& item,
                          const protocols::graphql::ResponseItem* ri, int status);

  GraphqlOptions options_;
  std::unordered_map<std::string, std::unordered_set<std::string>> operations_;
  std::unordered_map<std::string, ApqMemory> apq_;
  LabeledCounts parse_errors_;
};

}  // namespace fraiseql::correlator
