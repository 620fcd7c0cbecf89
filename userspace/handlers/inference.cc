#include "handlers/inference.h"

#include <cctype>
#include <cstring>

#include "protocols/redis/resp_parser.h"

namespace fraiseql::handlers {

namespace {

constexpr uint32_t kPgProtocolV3 = 196608;      // StartupMessage
constexpr uint32_t kPgSslRequest = 80877103;
constexpr uint32_t kPgGssEncRequest = 80877104;
constexpr uint32_t kPgCancelRequest = 80877102;
constexpr uint32_t kPgMaxMessage = 1u << 30;

uint32_t Be32(std::string_view d, size_t off) {
  auto b = [&](size_t i) { return uint32_t(uint8_t(d[off + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

// Typed PostgreSQL messages chained from the start of `d`: each a known type byte and a sane
// length. kUndecided when the bytes end before two messages (or one that ends exactly there)
// could be checked.
ClientProtocol PgTypedChain(std::string_view d, const char* types) {
  size_t off = 0;
  int messages = 0;
  while (off + 5 <= d.size()) {
    if (std::strchr(types, d[off]) == nullptr || d[off] == '\0') return ClientProtocol::kOther;
    uint32_t len = Be32(d, off + 1);
    if (len < 4 || len > kPgMaxMessage) return ClientProtocol::kOther;
    off += 1 + size_t(len);
    ++messages;
    if (off == d.size() || messages >= 2) return ClientProtocol::kPostgres;
  }
  return messages > 0 ? ClientProtocol::kPostgres : ClientProtocol::kUndecided;
}

ClientProtocol PgStartup(std::string_view d) {
  if (d.size() < 8) return ClientProtocol::kUndecided;
  uint32_t len = Be32(d, 0);
  uint32_t code = Be32(d, 4);
  if ((code == kPgSslRequest || code == kPgGssEncRequest) && len == 8) return ClientProtocol::kPostgres;
  if (code == kPgCancelRequest && len == 16) return ClientProtocol::kPostgres;
  if (code == kPgProtocolV3 && len >= 8 && len <= 10000) return ClientProtocol::kPostgres;
  return ClientProtocol::kOther;
}

// A RESP command: "*<n>\r\n$<len>\r\n<name>".
ClientProtocol RespCommand(std::string_view d) {
  if (d.empty()) return ClientProtocol::kUndecided;
  if (d[0] != '*') return ClientProtocol::kOther;
  size_t i = 1;
  while (i < d.size() && std::isdigit(uint8_t(d[i]))) ++i;
  if (i == d.size()) return ClientProtocol::kUndecided;
  if (i == 1 || i > 8) return ClientProtocol::kOther;
  if (d.substr(i, 2) != std::string_view("\r\n").substr(0, std::min<size_t>(2, d.size() - i))) {
    return ClientProtocol::kOther;
  }
  if (d.size() < i + 3) return ClientProtocol::kUndecided;
  return d[i + 2] == '$' ? ClientProtocol::kRedis : ClientProtocol::kOther;
}

// A RESP reply's first byte.
bool RespReplyStart(char c) { return std::strchr("+-:$*%~>_,#(!=|", c) != nullptr && c != '\0'; }

bool HttpRequestStart(std::string_view d) {
  for (const char* m : {"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "PATCH ", "OPTIONS "}) {
    size_t n = std::strlen(m);
    if (d.substr(0, n) == std::string_view(m, std::min(n, d.size()))) {
      return d.size() >= n;  // a prefix of a method is not enough
    }
  }
  return false;
}

// Frontend / backend message type bytes (protocol v3).
constexpr const char* kPgFrontendTypes = "QPBDESCHXFdcfp";
constexpr const char* kPgBackendTypes = "RSKZTDCENA123ntsIGHWcdVv";

}  // namespace

const char* ToString(ClientProtocol p) {
  switch (p) {
    case ClientProtocol::kUndecided: return "undecided";
    case ClientProtocol::kPostgres: return "pgsql";
    case ClientProtocol::kRedis: return "redis";
    case ClientProtocol::kHttp: return "http1_client";
    case ClientProtocol::kOther: return "other";
  }
  return "other";
}

ClientProtocol InferClientProtocol(Direction dir, uint64_t pos, std::string_view data,
                                   uint16_t rport) {
  if (data.empty()) return ClientProtocol::kUndecided;
  if (dir == Direction::kEgress) {
    if (pos == 0 && data.size() >= 1 && data[0] == '\0') return PgStartup(data);
    if (data[0] == '*') return RespCommand(data);
    // An inline command ("PING\r\n"), as redis-cli over telnet or health checks send: only
    // on the Redis port, since a line of text could be anything.
    if (rport == 6379) {
      protocols::redis::Command cmd;
      auto r = protocols::redis::ParseCommand(data, &cmd);
      if (r.state == protocols::ParseState::kSuccess && cmd.inline_form) {
        return ClientProtocol::kRedis;
      }
      if (r.state == protocols::ParseState::kNeedsMoreData) return ClientProtocol::kUndecided;
    }
    if (HttpRequestStart(data)) return ClientProtocol::kHttp;
    // Mid-stream (a pool connection from before we attached): typed frontend messages.
    if (rport == 5432 || pos > 0) {
      ClientProtocol p = PgTypedChain(data, kPgFrontendTypes);
      if (p != ClientProtocol::kOther) return p;
    }
    if (pos == 0 && data.size() < 8 && data[0] == '\0') return ClientProtocol::kUndecided;
    return ClientProtocol::kOther;
  }
  // Ingress first: we attached while a reply was on its way, or the server spoke first.
  if (data.substr(0, 5) == std::string_view("HTTP/").substr(0, std::min<size_t>(5, data.size()))) {
    return data.size() >= 5 ? ClientProtocol::kHttp : ClientProtocol::kUndecided;
  }
  if (rport == 6379 && RespReplyStart(data[0])) return ClientProtocol::kRedis;
  ClientProtocol p = PgTypedChain(data, kPgBackendTypes);
  if (p != ClientProtocol::kOther) return p;
  if (RespReplyStart(data[0]) && data.find("\r\n") != std::string_view::npos) {
    return ClientProtocol::kRedis;
  }
  return data.size() < 16 ? ClientProtocol::kUndecided : ClientProtocol::kOther;
}

conn::ClientInference::Result Inference::Infer(Direction dir, uint64_t pos, std::string_view data,
                                              uint16_t rport) const {
  ClientProtocol p = InferClientProtocol(dir, pos, data, rport);
  switch (p) {
    case ClientProtocol::kUndecided: return {Verdict::kUndecided, {}};
    case ClientProtocol::kOther: return {Verdict::kOther, {}};
    default: return {Verdict::kProtocol, ToString(p)};
  }
}

}  // namespace fraiseql::handlers
