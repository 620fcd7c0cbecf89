#include "correlator/graphql_ops.h"

namespace fraiseql::correlator {

namespace gql = protocols::graphql;

namespace {

// The label of an operation known only by the operationName the client sent (its document
// did not parse, or was not sent); `fallback` when no name was sent either.
std::string SentNameLabel(const gql::RequestItem& item, const char* fallback) {
  if (!item.operation_name || item.operation_name->empty()) return fallback;
  gql::OperationInfo named;
  named.name = *item.operation_name;
  return gql::OperationLabel(named);
}

}  // namespace

std::string GraphqlOps::CapOperation(const std::string& service, const std::string& label) {
  auto& seen = operations_[service];
  if (seen.count(label)) return label;
  if (seen.size() >= options_.max_operations_per_service) return "other";
  seen.insert(label);
  return label;
}

void GraphqlOps::RememberApq(const std::string& service, const std::string& hash,
                             const ApqEntry& e) {
  ApqMemory& m = apq_[service];
  auto it = m.map.find(hash);
  if (it != m.map.end()) {
    m.lru.erase(it->second.second);
    m.map.erase(it);
  }
  m.lru.push_front(hash);
  m.map.emplace(hash, std::make_pair(e, m.lru.begin()));
  while (m.map.size() > options_.apq_memory) {
    m.map.erase(m.lru.back());
    m.lru.pop_back();
  }
}

const GraphqlOps::ApqEntry* GraphqlOps::RecallApq(const std::string& service,
                                                  const std::string& hash) {
  auto s = apq_.find(service);
  if (s == apq_.end()) return nullptr;
  auto it = s->second.map.find(hash);
  if (it == s->second.map.end()) return nullptr;
  s->second.lru.splice(s->second.lru.begin(), s->second.lru, it->second.second);
  return &it->second.first;
}

records::Operation GraphqlOps::Item(const std::string& service, const gql::RequestItem& item,
                                    const gql::ResponseItem* ri, int status) {
  records::Operation op;
  bool request_ok = item.op.parsed;
  std::string label;
  gql::OperationType type = gql::OperationType::kUnknown;
  if (item.has_query) {
    if (item.op.parsed) {
      label = gql::OperationLabel(item.op);
    } else {
      parse_errors_.Add("document_" + item.op.error);
      label = SentNameLabel(item, "invalid_document");
    }
    type = item.op.type;
    op.root_fields = item.op.root_fields;
    op.depth = item.op.depth;
    op.fields = item.op.fields;
    op.complexity = item.op.complexity;
    if (item.persisted && !item.persisted_hash.empty()) {
      if (item.hash_matches_query && item.op.parsed) {
        op.apq = "register";
        RememberApq(service, item.persisted_hash,
                    ApqEntry{item.op.type, label, item.op.root_fields, item.op.depth,
                             item.op.fields, item.op.complexity});
      } else {
        op.apq = "mismatch";  // the server rejects a hash that is not the query's
        request_ok = false;
      }
    }
  } else if (item.persisted) {
    if (ri && ri->persisted_query_not_found) {
      op.apq = "miss";
      op.counted = false;  // the client retries with the query: that one executes
      label = SentNameLabel(item, "persisted_unknown");
    } else {
      op.apq = "hit";
      request_ok = true;
      if (const ApqEntry* e = RecallApq(service, item.persisted_hash)) {
        type = e->type;
        label = e->label;
        op.root_fields = e->root_fields;
        op.depth = e->depth;
        op.fields = e->fields;
        op.complexity = e->complexity;
      } else {
        // Registered before we watched: the name may still be in operationName.
        label = SentNameLabel(item, "persisted_unknown");
      }
    }
  } else {
    label = "invalid_request";
    parse_errors_.Add("no_query");
  }
  op.type = gql::OperationTypeName(type);
  op.name = CapOperation(service, label);
  if (ri && !ri->mode.empty()) {
    op.mode = ri->mode;
  } else {
    op.mode = item.persisted ? "apq" : "unknown";
  }
  op.outcome = gql::Outcome(status, ri, request_ok);
  return op;
}

std::vector<records::Operation> GraphqlOps::Decode(const records::HttpExchange& x) {
  std::vector<records::Operation> ops;
  gql::Request req =
      gql::ParseRequest(x.raw_method, x.target, x.content_type, x.body, x.body_truncated);
  if (req.shape == gql::RequestShape::kNotGraphql) return ops;
  gql::Response resp = gql::ParseResponse(x.response_content_type, x.response_content_encoding,
                                          x.response_body, x.response_body_truncated);
  const std::string& service = x.workload->service_name;
  if (req.items.empty()) {
    // Malformed or cut short: counted once, as an error of an unknown operation.
    parse_errors_.Add(req.malformed ? "request_body" : "truncated");
    records::Operation op;
    op.name = CapOperation(service, req.malformed ? "invalid_request" : "unknown");
    op.mode = "unknown";
    op.outcome = gql::Outcome(x.status, resp.items.empty() ? nullptr : &resp.items[0], false);
    ops.push_back(std::move(op));
    return ops;
  }
  for (size_t i = 0; i < req.items.size(); ++i) {
    const gql::ResponseItem* ri = i < resp.items.size() ? &resp.items[i] : nullptr;
    ops.push_back(Item(service, req.items[i], ri, x.status));
  }
  return ops;
}

}  // namespace fraiseql::correlator
