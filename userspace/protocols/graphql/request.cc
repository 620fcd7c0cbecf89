// GraphQL over HTTP envelopes: request shapes (POST JSON / batch / application/graphql / GET),
// APQ fields, response items, outcomes and the operation label.
#include <cctype>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocols/graphql/graphql.h"
#include "protocols/graphql/json_filter.h"

namespace fraiseql::protocols::graphql {
namespace {

using nlohmann::json;
using internal::ParseJsonFiltered;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "application/json; charset=utf-8" → "application/json".
std::string MediaType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  return Lower(Trim(content_type.substr(0, semi)));
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsGraphqlPath(std::string_view path) {
  return EndsWith(path, "/graphql") || EndsWith(path, "/graphql/");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: '+' is a space, invalid escapes stay as they are.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The first occurrence of a query-string parameter, decoded.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    if (PercentDecode(key) != name) continue;
    return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Does a document in a "query" field sent to a path not ending in /graphql look like GraphQL?
// Keeps search APIs ({"query": "shoes"}, ?query=shoes) out.
bool LooksLikeGraphql(const OperationInfo& op) {
  return op.parsed || (op.error != "syntax" && op.error != "too_deep" && op.error != "too_large");
}

enum class Kind { kNot, kGraphql, kInvalid };

// Fills the APQ fields of item from an "extensions" object.
void ReadExtensions(const json& ext, RequestItem* item) {
  auto pq = ext.find("persistedQuery");
  if (pq == ext.end() || pq->is_null()) return;
  item->persisted = true;
  if (!pq->is_object()) return;
  auto hash = pq->find("sha256Hash");
  if (hash == pq->end() || !hash->is_string()) return;
  std::string h = Lower(hash->get_ref<const std::string&>());
  if (IsHex64(h)) item->persisted_hash = std::move(h);
}

void Finish(const std::string* query, RequestItem* item) {
  if (query == nullptr) return;
  item->has_query = true;
  std::optional<std::string_view> name;
  if (item->operation_name) name = *item->operation_name;
  item->op = AnalyzeDocument(*query, name);
  if (!item->persisted_hash.empty()) item->hash_matches_query = Sha256Hex(*query) == item->persisted_hash;
}

// One element of a POST JSON body.
Kind ClassifyObject(const json& v, bool graphql_path, RequestItem* item) {
  if (!v.is_object()) return Kind::kNot;
  auto q = v.find("query");
  auto ext = v.find("extensions");
  const bool query_string = q != v.end() && q->is_string();
  bool has_pq = false;
  if (ext != v.end() && ext->is_object()) {
    auto pq = ext->find("persistedQuery");
    has_pq = pq != ext->end() && !pq->is_null();
  }
  const bool envelope_keys = q != v.end() || ext != v.end();
  if (!query_string && !has_pq && !(graphql_path && envelope_keys)) return Kind::kNot;

  auto name = v.find("operationName");
  auto vars = v.find("variables");
  if ((q != v.end() && !q->is_string() && !q->is_null()) ||
      (name != v.end() && !name->is_string() && !name->is_null()) ||
      (vars != v.end() && !vars->is_object() && !vars->is_null()) ||
      (ext != v.end() && !ext->is_object() && !ext->is_null()) || (!query_string && !has_pq)) {
    return Kind::kInvalid;
  }
  if (name != v.end() && name->is_string()) item->operation_name = name->get<std::string>();
  item->has_variables = vars != v.end() && !vars->is_null();
  if (ext != v.end() && ext->is_object()) ReadExtensions(*ext, item);
  Finish(query_string ? &q->get_ref<const std::string&>() : nullptr, item);
  if (!graphql_path && !item->persisted && !LooksLikeGraphql(item->op)) return Kind::kNot;
  return Kind::kGraphql;
}

void ParsePostJson(bool graphql_path, std::string_view body, Request* r) {
  auto parsed = ParseJsonFiltered(body, {"variables"}, kMaxBatchItems, /*fail_on_overflow=*/true);
  if (!parsed.ok) {
    if (r->truncated) {  // incomplete: keep the shape only
      if (graphql_path) r->shape = RequestShape::kPostJson;
      return;
    }
    if (graphql_path) {
      const bool batch = std::string_view(parsed.error) == "too_many_items";
      r->shape = batch ? RequestShape::kPostJsonBatch : RequestShape::kPostJson;
      r->malformed = true;
    }
    return;
  }
  const json& v = parsed.value;
  if (v.is_array()) {
    if (v.empty()) {
      if (graphql_path) {
        r->shape = RequestShape::kPostJsonBatch;
        r->malformed = true;
      }
      return;
    }
    bool any = false, all = true;
    std::vector<RequestItem> items(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const Kind k = ClassifyObject(v[i], graphql_path, &items[i]);
      any = any || k != Kind::kNot;
      all = all && k == Kind::kGraphql;
    }
    if (!any) return;
    r->shape = RequestShape::kPostJsonBatch;
    if (all) {
      r->items = std::move(items);
    } else {
      r->malformed = true;
    }
    return;
  }
  RequestItem item;
  const Kind k = ClassifyObject(v, graphql_path, &item);
  if (k == Kind::kNot) {
    if (graphql_path && !v.is_object() && !v.is_array()) {  // a JSON scalar sent to /graphql
      r->shape = RequestShape::kPostJson;
      r->malformed = true;
    }
    return;
  }
  r->shape = RequestShape::kPostJson;
  if (k == Kind::kInvalid) {
    r->malformed = true;
  } else {
    r->items.push_back(std::move(item));
  }
}

void ParseGet(bool graphql_path, std::string_view query_string, Request* r) {
  std::optional<std::string> query = QueryParam(query_string, "query");
  std::optional<std::string> extensions = QueryParam(query_string, "extensions");
  if (!query && !extensions) return;
  RequestItem item;
  if (extensions) {
    auto parsed = ParseJsonFiltered(*extensions, {}, kMaxBatchItems, false);
    if (!parsed.ok || !parsed.value.is_object()) {
      if (query || graphql_path) {
        r->shape = RequestShape::kGet;
        r->malformed = true;
      }
      return;
    }
    ReadExtensions(parsed.value, &item);
  }
  if (!query && !item.persisted) return;
  item.operation_name = QueryParam(query_string, "operationName");
  std::optional<std::string> variables = QueryParam(query_string, "variables");
  item.has_variables = variables.has_value() && !variables->empty();
  Finish(query ? &*query : nullptr, &item);
  if (!graphql_path && !item.persisted && !LooksLikeGraphql(item.op)) return;
  r->shape = RequestShape::kGet;
  r->items.push_back(std::move(item));
}

bool ValidMode(const std::string& s) {
  if (s.empty() || s.size() > kMaxModeChars) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool IsPqNotFound(const json& err) {
  if (!err.is_object()) return false;
  auto msg = err.find("message");
  if (msg != err.end() && msg->is_string()) {
    const auto& m = msg->get_ref<const std::string&>();
    if (m == "PersistedQueryNotFound" || m == "PERSISTED_QUERY_NOT_FOUND") return true;
  }
  auto ext = err.find("extensions");
  if (ext != err.end() && ext->is_object()) {
    auto code = ext->find("code");
    if (code != ext->end() && code->is_string() &&
        code->get_ref<const std::string&>() == "PERSISTED_QUERY_NOT_FOUND") {
      return true;
    }
  }
  return false;
}

ResponseItem ReadResponseItem(const json& v) {
  ResponseItem item;
  if (!v.is_object()) return item;
  auto data = v.find("data");
  item.has_data = data != v.end() && !data->is_null();
  auto errors = v.find("errors");
  if (errors != v.end() && errors->is_array()) {
    item.error_count = errors->size();
    for (const json& e : *errors) {
      if (IsPqNotFound(e)) {
        item.persisted_query_not_found = true;
        break;
      }
    }
  }
  auto ext = v.find("extensions");
  if (ext != v.end() && ext->is_object()) {
    auto exec = ext->find("execution");
    if (exec != ext->end() && exec->is_object()) {
      auto mode = exec->find("mode");
      if (mode != exec->end() && mode->is_string()) {
        const auto& m = mode->get_ref<const std::string&>();
        item.mode = ValidMode(m) ? m : "other";
      }
    }
  }
  return item;
}

}  // namespace

const char* RequestShapeName(RequestShape s) {
  switch (s) {
    case RequestShape::kNotGraphql: return "not_graphql";
    case RequestShape::kPostJson: return "post_json";
    case RequestShape::kPostJsonBatch: return "post_json_batch";
    case RequestShape::kPostGraphql: return "post_graphql";
    case RequestShape::kGet: return "get";
  }
  return "not_graphql";
}

Request ParseRequest(std::string_view method, std::string_view target,
                     std::string_view content_type, std::string_view body, bool body_truncated) {
  Request r;
  r.truncated = body_truncated;
  target = target.substr(0, target.find('#'));
  const size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query_string =
      qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
  const bool graphql_path = IsGraphqlPath(path);

  if (method == "GET") {
    ParseGet(graphql_path, query_string, &r);
    return r;
  }
  if (method != "POST") return r;
  const std::string media = MediaType(content_type);
  if (media == "application/graphql") {
    r.shape = RequestShape::kPostGraphql;
    if (body_truncated) return r;
    RequestItem item;
    item.operation_name = QueryParam(query_string, "operationName");
    const std::string doc(body.substr(0, kMaxDocumentBytes + 1));  // longer is too_large anyway
    Finish(&doc, &item);
    r.items.push_back(std::move(item));
    return r;
  }
  if (media == "application/json") ParsePostJson(graphql_path, body, &r);
  return r;
}

Response ParseResponse(std::string_view content_type, std::string_view content_encoding,
                       std::string_view body, bool body_truncated) {
  Response r;
  r.truncated = body_truncated;
  const std::string encoding = Lower(Trim(content_encoding));
  if (!encoding.empty() && encoding != "identity") return r;
  const std::string media = MediaType(content_type);
  if (!media.empty() && media != "application/json" && !EndsWith(media, "+json")) return r;
  auto parsed = ParseJsonFiltered(body, {"data"}, kMaxBatchItems, /*fail_on_overflow=*/false);
  if (!parsed.ok) return r;
  if (parsed.value.is_object()) {
    r.json = true;
    r.items.push_back(ReadResponseItem(parsed.value));
  } else if (parsed.value.is_array()) {
    r.json = true;
    for (const json& e : parsed.value) r.items.push_back(ReadResponseItem(e));
  }
  return r;
}

const char* Outcome(int http_status, const ResponseItem* item, bool request_ok) {
  if (!request_ok || http_status >= 400) return "error";
  if (item == nullptr || item->error_count == 0) return "success";
  return item->has_data ? "partial" : "error";
}

std::string OperationLabel(const OperationInfo& op) {
  std::string label;
  if (!op.name.empty()) {
    label = op.name.substr(0, kMaxLabelBytes);
  } else if (!op.root_fields.empty()) {
    for (const std::string& f : op.root_fields) {
      if (!label.empty()) label.push_back(',');
      label.append(f, 0, kMaxLabelBytes + 1 - label.size());
      if (label.size() >= kMaxLabelBytes) break;
    }
  } else {
    label = "anonymous";
  }
  if (label.size() > kMaxLabelBytes) label.resize(kMaxLabelBytes);
  for (char& c : label) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ',') c = '_';
  }
  return label;
}

}  // namespace fraiseql::protocols::graphql
