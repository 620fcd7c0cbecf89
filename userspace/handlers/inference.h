// Which protocol an outbound (or pre-existing, non-listening) connection speaks, from its
// first captured bytes. Server-side HTTP is decided by the socket's role instead
// (conn/tracker.cc). Conservative: a guess needs the bytes to frame correctly, so a client
// connection to something else stays unparsed rather than misparsed.
#pragma once

#include <cstdint>
#include <string_view>

#include "conn/handler.h"
#include "decoder/event.h"

namespace fraiseql::handlers {

enum class ClientProtocol : uint8_t {
  kUndecided,  // not enough bytes yet
  kPostgres,
  kRedis,
  kHttp,       // an outbound HTTP/1 request (not parsed yet)
  kOther,      // none of the above: never parsed
};

const char* ToString(ClientProtocol p);

// `data` are the first known bytes of direction `dir` at stream position `pos` (0 when the
// connection was seen from its start); `rport` the remote port (a hint only: 5432 / 6379
// break ties for pre-existing connections that start mid-stream).
ClientProtocol InferClientProtocol(Direction dir, uint64_t pos, std::string_view data,
                                   uint16_t rport);

// The tracker's inference: the function above, its verdicts named after the handlers
// ("pgsql", "redis"; outbound HTTP is "http1_client", which no handler parses yet).
class Inference final : public conn::ClientInference {
 public:
  Result Infer(Direction dir, uint64_t pos, std::string_view data,
               uint16_t rport) const override;
};

}  // namespace fraiseql::handlers
