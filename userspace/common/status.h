// Status / StatusOr for fallible setup code (loader, discovery, config). The hot path
// uses parse states instead (protocols/common/parse_state.h).
//
//   Status s = Status::Error(StatusCode::kNotFound, "no libpq mapped");
//   RETURN_IF_ERROR(DoThing());               // returns the error Status as is
//   ASSIGN_OR_RETURN(auto maps, ReadMaps());  // declares `maps` or returns the error
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fraiseql {

// What kind of failure; callers branch on it (e.g. a vanished process is kNotFound).
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong (options, a malformed file)
  kNotFound,            // no such process, file, symbol or mapping
  kPermissionDenied,    // EPERM/EACCES: needs root or a capability
  kUnavailable,         // the kernel or host lacks a feature (BTF, ring buffer, tracefs)
  kFailedPrecondition,  // the object is not in the state the call needs
  kInternal,            // anything else (the default of Status::Error(msg))
};

const char* StatusCodeName(StatusCode code);  // "NOT_FOUND", ...

// The code an errno value maps to.
inline StatusCode StatusCodeFromErrno(int errnum) {
  switch (errnum) {
    case 0: return StatusCode::kOk;
    case ENOENT:
    case ESRCH:
    case ENXIO: return StatusCode::kNotFound;
    case EPERM:
    case EACCES: return StatusCode::kPermissionDenied;
    case EINVAL:
    case E2BIG:
    case ERANGE: return StatusCode::kInvalidArgument;
    case EOPNOTSUPP:
    case ENOSYS:
    case ENODEV: return StatusCode::kUnavailable;
    case EBUSY:
    case EEXIST: return StatusCode::kFailedPrecondition;
    default: return StatusCode::kInternal;
  }
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // kInternal: kept for callers that do not classify their errors.
  static Status Error(std::string message) {
    return Status(StatusCode::kInternal, std::move(message));
  }
  static Status Error(StatusCode code, std::string message) {
    return Status(code == StatusCode::kOk ? StatusCode::kInternal : code, std::move(message));
  }
  // "what failed: strerror(errnum)", code from errnum (StatusCodeFromErrno).
  static Status Errno(const std::string& what, int errnum) {
    const StatusCode code = StatusCodeFromErrno(errnum);
    return Status(code == StatusCode::kOk ? StatusCode::kInternal : code,
                  what + ": " + std::strerror(errnum));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const {
    static const std::string kOkMessage = "ok";
    return message_ ? *message_ : kOkMessage;
  }
  // "NOT_FOUND: message" (or "ok").
  std::string ToString() const {
    return ok() ? message() : std::string(StatusCodeName(code_)) + ": " + message();
  }
  // The same code with context in front: "context: message".
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message());
  }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::kOk;
  std::optional<std::string> message_;
};

inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kInternal: return "INTERNAL";
  }
  return "UNKNOWN";
}

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}             // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {       // NOLINT: must be an error
    if (std::get<Status>(v_).ok()) {
      v_ = Status::Error("StatusOr constructed from an ok Status without a value");
    }
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  StatusCode code() const { return ok() ? StatusCode::kOk : std::get<Status>(v_).code(); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

namespace status_internal {
inline Status AsStatus(const Status& s) { return s; }
template <typename T>
Status AsStatus(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace status_internal

}  // namespace fraiseql

#define FQL_STATUS_CONCAT_INNER(a, b) a##b
#define FQL_STATUS_CONCAT(a, b) FQL_STATUS_CONCAT_INNER(a, b)

// Returns the error of `expr` (a Status or StatusOr) from the enclosing function.
#define RETURN_IF_ERROR(expr)                                                  \
  do {                                                                         \
    ::fraiseql::Status fql_status_ = ::fraiseql::status_internal::AsStatus(expr); \
    if (!fql_status_.ok()) return fql_status_;                                 \
  } while (0)

// `lhs` = the value of the StatusOr `expr`, or returns its error. lhs may declare
// (`auto x`, `const auto& x`) or assign (`x`); not usable twice on one line.
#define ASSIGN_OR_RETURN(lhs, expr) \
  FQL_ASSIGN_OR_RETURN_IMPL(FQL_STATUS_CONCAT(fql_statusor_, __LINE__), lhs, expr)
#define FQL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
