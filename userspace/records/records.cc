#include "records/records.h"

namespace fraiseql::records {

namespace {
constexpr std::string_view kUnknownStatement = "<statement prepared before capture>";
}  // namespace

const char* CacheOpName(CacheOp op) {
  switch (op) {
    case CacheOp::kGet: return "get";
    case CacheOp::kSet: return "set";
    case CacheOp::kDelete: return "delete";
    case CacheOp::kNone: break;
  }
  return "";
}

const char* AttributionName(Attribution a) {
  switch (a) {
    case Attribution::kComplete: return "complete";
    case Attribution::kPartial: return "partial";
    case Attribution::kNone: break;
  }
  return "none";
}

std::string_view DbCall::statement() const {
  return shape ? std::string_view(shape->normalized) : kUnknownStatement;
}

std::string_view Call::what() const {
  if (kind == Kind::kRedis) return command;
  return shape ? std::string_view(shape->normalized) : kUnknownStatement;
}

}  // namespace fraiseql::records
