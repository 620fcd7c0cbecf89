#include "handlers/http1_server.h"

#include <spdlog/spdlog.h>

#include "handlers/identity.h"
#include "metrics/endpoint_normalizer.h"

namespace fraiseql::handlers {

using protocols::ParseState;
using protocols::http1::Message;
using protocols::http1::MessageType;

namespace {

std::string HeaderValue(const protocols::http1::HeadInfo& head, std::string_view name) {
  auto v = head.FindHeader(name);
  return v ? std::string(*v) : std::string();
}

std::string_view HeaderView(const protocols::http1::HeadInfo& head, std::string_view name) {
  auto v = head.FindHeader(name);
  return v ? *v : std::string_view();
}

}  // namespace

Http1ServerHandler::Http1ServerHandler(HttpOptions options, records::RecordSink& out)
    : options_(options), out_(out) {}

std::unique_ptr<conn::ConnHandler> Http1ServerHandler::Open(const conn::ConnInfo& info,
                                                           conn::StreamPair initial) {
  return std::make_unique<Http1ServerConn>(*this, info, std::move(initial));
}

Http1ServerConn::Http1ServerConn(Http1ServerHandler& handler, const conn::ConnInfo& info,
                                 conn::StreamPair streams)
    : handler_(handler),
      tgid_(info.key.tgid),
      workload_(info.workload),
      streams_(std::move(streams)),
      requests_(MessageType::kRequest),
      responses_(MessageType::kResponse,
                 handler.options().keep_bodies
                     ? Http1ServerHandler::kResponseBodyLimit
                     : protocols::http1::Http1StreamParser::kDefaultBodyLimit) {}

void Http1ServerConn::OnData(const DataEvent& e, const conn::Origin& origin) {
  streams_.Add(e.dir, e.pos, e.data, e.orig_size, origin);
  if (e.dir == Direction::kIngress) {
    DrainRequests();
  } else {
    DrainResponses();
  }
  AccountStreams();
}

void Http1ServerConn::DrainRequests() {
  const HttpOptions& o = handler_.options();
  Message m;
  while (requests_.Next(streams_.in, &m) == ParseState::kSuccess) {
    pending_.push_back(Pending{
        .method = std::string(metrics::NormalizeMethod(m.request.method)),
        .raw_method = m.request.method,
        .target = m.request.target,
        .start_ns = m.start_ts,
        .body_bytes = m.body_size,
        .head = m.request.method == "HEAD",
        .request_id = handler_.NextRequestId(),
    });
    Pending& p = pending_.back();
    if (o.keep_bodies) {
      p.content_type = HeaderValue(m.request, "Content-Type");
      p.x_request_id = HeaderValue(m.request, "X-Request-ID");
      p.traceparent = HeaderValue(m.request, "traceparent");
      p.x_trace_id = HeaderValue(m.request, "X-Trace-ID");
      p.body = std::move(m.body);
      p.body_truncated = m.body_truncated;
      if (o.capture_identity) {
        if (auto auth = m.request.FindHeader("Authorization")) {
          if (auto sub = JwtSubject(*auth)) p.jwt_sub = std::move(*sub);
        }
      }
    }
    handler_.out().OnRequestStart(records::RequestStart{
        .tgid = tgid_,
        .workload = workload_,
        .request_id = p.request_id,
        .start_ns = p.start_ns,
        .origin = streams_.in_origins.Find(m.start_ts),
    });
    if (m.request.method == "CONNECT") requests_.SetUpgraded();
  }
}

void Http1ServerConn::DrainResponses() {
  Message m;
  while (true) {
    bool head = !pending_.empty() && pending_.front().head;
    if (responses_.Next(streams_.out, &m, head) != ParseState::kSuccess) break;
    Complete(m);
  }
}

void Http1ServerConn::Complete(const Message& response) {
  int status = response.response.status;
  // Interim responses (100 Continue, 103 Early Hints) precede the final one.
  if (status >= 100 && status < 200 && status != 101) return;
  if (pending_.empty()) {
    conn::ProtocolStats::Add(handler_.stats().unmatched_responses, 1);
    handler_.out().OnUnpairedResponse(
        records::UnpairedResponse{.tgid = tgid_, .workload = workload_, .status = status});
    return;
  }
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  records::HttpExchange x{
      .tgid = tgid_,
      .workload = workload_,
      .request_id = p.request_id,
      .method = p.method,
      .raw_method = p.raw_method,
      .target = p.target,
      .status = status,
      .start_ns = p.start_ns,
      .end_ns = response.end_ts,
      .request_body_bytes = p.body_bytes,
      .response_body_bytes = response.body_size,
      .first_write = streams_.out_origins.Find(response.start_ts),
      .content_type = p.content_type,
      .x_request_id = p.x_request_id,
      .traceparent = p.traceparent,
      .x_trace_id = p.x_trace_id,
      .body = p.body,
      .body_truncated = p.body_truncated,
      .jwt_sub = p.jwt_sub,
  };
  if (handler_.options().keep_bodies) {
    x.response_content_type = HeaderView(response.response, "Content-Type");
    x.response_content_encoding = HeaderView(response.response, "Content-Encoding");
    x.response_body = response.body;
    x.response_body_truncated = response.body_truncated;
  }
  handler_.out().OnExchange(x);
  if (status == 101) requests_.SetUpgraded();
}

void Http1ServerConn::OnClose() {
  Message m;
  if (requests_.Finish(streams_.in, &m)) {
    // A request cut short by close never gets an answer; it is not counted as a request.
  }
  if (responses_.Finish(streams_.out, &m)) Complete(m);
  while (!pending_.empty()) {
    conn::ProtocolStats::Add(handler_.stats().unanswered_requests, 1);
    handler_.out().OnRequestAbandoned(records::RequestAbandoned{
        .tgid = tgid_, .workload = workload_, .request_id = pending_.front().request_id});
    pending_.pop_front();
  }
  AccountStreams();
}

void Http1ServerConn::AccountStreams() {
  streams_.Account(handler_.stats(), requests_.parse_errors() + responses_.parse_errors());
}

}  // namespace fraiseql::handlers
