// GraphQL over HTTP: pure decoders (no I/O, no metrics, no global state) called by the correlator
// once per HTTP exchange. See docs/graphql.md.
//
// Bad input never throws, never recurses without bound and never allocates more than a small
// multiple of the input: malformed JSON or GraphQL becomes a recorded error; GraphQL selection
// sets, values and types and JSON containers nest at most kMaxNesting deep; documents over
// kMaxDocumentBytes are rejected; fragments are expanded by memoised counting with cycle
// detection, so a fragment bomb costs time linear in the document.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fraiseql::protocols::graphql {

inline constexpr size_t kMaxDocumentBytes = 1024 * 1024;
inline constexpr uint32_t kMaxNesting = 64;
inline constexpr size_t kMaxBatchItems = 100;
inline constexpr uint64_t kMaxComplexity = 1'000'000'000'000ULL;
inline constexpr uint64_t kMaxPageMultiplier = 1000;
inline constexpr size_t kMaxLabelBytes = 100;
inline constexpr size_t kMaxModeChars = 32;

enum class OperationType : uint8_t { kQuery, kMutation, kSubscription, kUnknown };
const char* OperationTypeName(OperationType t);  // "query" "mutation" "subscription" "unknown"

struct OperationInfo {
  bool parsed = false;          // the document parsed and the operation was selected
  std::string error;            // when !parsed: a short fixed reason, e.g. "syntax", "no_operation",
                                // "unknown_operation_name", "ambiguous_operation", "too_deep",
                                // "too_large", "fragment_cycle", "unknown_fragment",
                                // "duplicate_fragment" (never document text)
  OperationType type = OperationType::kUnknown;
  std::string name;             // the selected operation's name ("" if anonymous)
  std::vector<std::string> root_fields;  // field names (not aliases) of the selected operation's
                                         // top-level selection, fragments expanded, in order, deduplicated
  uint32_t depth = 0;           // max field nesting, fragments expanded (`{ a { b } }` = 2)
  uint32_t fields = 0;          // field selections after fragment expansion (__typename included)
  uint64_t complexity = 0;      // documented in docs/graphql.md
};

// Analyzes a GraphQL document. operation_name selects among several operations (GraphQL spec:
// required when there are several; must exist). Fragments (named + inline) resolved.
// An empty operation_name counts as absent.
OperationInfo AnalyzeDocument(std::string_view document,
                              std::optional<std::string_view> operation_name);

struct RequestItem {
  bool has_query = false;                     // a document was sent
  std::optional<std::string> operation_name;  // "operationName" as sent (string only; null → nullopt)
  bool persisted = false;                     // extensions.persistedQuery present
  std::string persisted_hash;                 // its sha256Hash, lower-case, only if it is 64 hex chars
  bool hash_matches_query = false;            // has_query && sha256(query) == persisted_hash
  OperationInfo op;                           // AnalyzeDocument(query, operation_name) when has_query
  bool has_variables = false;                 // variables present (their content is never kept)
};

enum class RequestShape : uint8_t { kNotGraphql, kPostJson, kPostJsonBatch, kPostGraphql, kGet };
const char* RequestShapeName(RequestShape s);  // "not_graphql" "post_json" "post_json_batch"
                                               // "post_graphql" "get"

struct Request {
  RequestShape shape = RequestShape::kNotGraphql;
  std::vector<RequestItem> items;  // 1 item except batches (capped at 100 items; more → malformed)
  bool malformed = false;          // looks like GraphQL but the JSON/envelope is invalid (items empty)
  bool truncated = false;          // the body was incomplete (caller says so): still counted
};

// Decides whether an HTTP request is a GraphQL request and decodes it (rules: docs/graphql.md).
Request ParseRequest(std::string_view method, std::string_view target,
                     std::string_view content_type, std::string_view body, bool body_truncated);

struct ResponseItem {
  bool has_data = false;                 // "data" present and not null
  size_t error_count = 0;                // length of the "errors" array
  bool persisted_query_not_found = false;// an error whose message is "PersistedQueryNotFound" or
                                         // "PERSISTED_QUERY_NOT_FOUND" or extensions.code ==
                                         // "PERSISTED_QUERY_NOT_FOUND"
  std::string mode;                      // extensions.execution.mode when a string (≤ 32 chars of
                                         // [A-Za-z0-9_]; anything else → "other"), else ""
};
struct Response {
  bool json = false;       // the body parsed as a JSON object or array
  bool truncated = false;
  std::vector<ResponseItem> items;  // 1 for an object, n for a batch array (first 100 kept)
};
// content_encoding: the Content-Encoding header ("" if none); anything but ""/"identity" → not parsed.
Response ParseResponse(std::string_view content_type, std::string_view content_encoding,
                       std::string_view body, bool body_truncated);

// Outcome of one operation: "success" (no errors), "partial" (errors and data), "error" (errors
// and no data, or http_status >= 400, or malformed request, or unparsed document).
// item == nullptr (no decodable response body): decided by http_status and request_ok alone.
const char* Outcome(int http_status, const ResponseItem* item, bool request_ok);

// operation_name label value: op.name if non-empty, else root_fields joined with ",", else "anonymous";
// sanitized to [A-Za-z0-9_,] (other chars → '_') and at most 100 bytes.
std::string OperationLabel(const OperationInfo& op);

// SHA-256 (FIPS 180-4), hex, lower case.
std::string Sha256Hex(std::string_view data);

}  // namespace fraiseql::protocols::graphql
