// Server side of an HTTP/1.x connection: requests parsed from ingress bytes, responses from
// egress bytes, paired in order (pipelining answers in request order), emitted as records:
// RequestStart when a request's head is read, HttpExchange when its final response is
// written, RequestAbandoned when the connection closes first.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "conn/handler.h"
#include "protocols/http1/stream_parser.h"
#include "records/sink.h"

namespace fraiseql::handlers {

struct HttpOptions {
  // Keep what the request-context stage needs (headers of interest, bodies): on when GraphQL
  // decoding or the request log is on.
  bool keep_bodies = true;
  bool capture_identity = false;  // read the JWT `sub` of Authorization (never the token)
};

class Http1ServerHandler final : public conn::ProtocolHandler {
 public:
  // Response bodies kept (for GraphQL errors and execution mode); longer ones are truncated.
  static constexpr size_t kResponseBodyLimit = 256 * 1024;

  Http1ServerHandler(HttpOptions options, records::RecordSink& out);
  std::string_view name() const override { return "http1"; }
  std::unique_ptr<conn::ConnHandler> Open(const conn::ConnInfo& info,
                                          conn::StreamPair initial) override;
  conn::ProtocolStats& stats() { return stats_; }
  const HttpOptions& options() const { return options_; }
  records::RecordSink& out() { return out_; }
  uint64_t NextRequestId() { return ++request_ids_; }

 private:
  HttpOptions options_;
  records::RecordSink& out_;
  conn::ProtocolStats stats_;
  uint64_t request_ids_ = 0;
};

class Http1ServerConn final : public conn::ConnHandler {
 public:
  Http1ServerConn(Http1ServerHandler& handler, const conn::ConnInfo& info,
                  conn::StreamPair streams);
  void OnData(const DataEvent& e, const conn::Origin& origin) override;
  void OnClose() override;

 private:
  struct Pending {
    std::string method;
    std::string raw_method;
    std::string target;
    uint64_t start_ns;
    uint64_t body_bytes;
    bool head;
    uint64_t request_id = 0;
    std::string content_type{}, x_request_id{}, traceparent{}, x_trace_id{};
    std::string body{};
    bool body_truncated = false;
    std::string jwt_sub{};
  };
  void DrainRequests();
  void DrainResponses();
  void Complete(const protocols::http1::Message& response);
  void AccountStreams();

  Http1ServerHandler& handler_;
  const uint32_t tgid_;
  const records::Workload* workload_;
  conn::StreamPair streams_;
  protocols::http1::Http1StreamParser requests_;
  protocols::http1::Http1StreamParser responses_;
  std::deque<Pending> pending_;
};

}  // namespace fraiseql::handlers
