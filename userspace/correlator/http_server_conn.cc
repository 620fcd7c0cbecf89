#include "correlator/http_server_conn.h"

#include <spdlog/spdlog.h>

#include "correlator/identity.h"

namespace fraiseql::correlator {

using protocols::ParseState;
using protocols::http1::Message;
using protocols::http1::MessageType;

namespace {

std::string HeaderValue(const protocols::http1::HeadInfo& head, std::string_view name) {
  auto v = head.FindHeader(name);
  return v ? std::string(*v) : std::string();
}

metrics::CounterFamily& UnpairedFamily(metrics::Registry& registry) {
  return registry.AddCounter("fraiseql_collector_unpaired_messages_total",
                             "Requests whose connection closed unanswered (kind=request) and "
                             "responses with no request seen (kind=response), by protocol",
                             {"protocol", "kind"});
}

}  // namespace

HttpMetrics::HttpMetrics(metrics::Registry& registry, size_t max_endpoints_per_service)
    : endpoints_(max_endpoints_per_service),
      // The endpoint normalizer caps endpoints per service; the family cap is a backstop
      // against an unbounded number of services.
      requests_(registry.AddCounter("fraiseql_http_requests_total",
                                    "HTTP requests answered by observed servers",
                                    {"service_name", "method", "endpoint", "status"}, 10000)),
      duration_(registry.AddHistogram(
          "fraiseql_http_request_duration_seconds",
          "Time from the first request byte read to the last response byte written",
          {"service_name", "method", "endpoint"}, metrics::LatencyBuckets(), 5000)),
      in_flight_(registry.AddGauge("fraiseql_http_requests_in_flight",
                                   "HTTP requests read and not yet answered",
                                   {"service_name"}, 1000)),
      counters_(registry, "http1"),
      unanswered_(UnpairedFamily(registry).WithLabels({"http1", "request"})),
      unmatched_(UnpairedFamily(registry).WithLabels({"http1", "response"})) {}

void HttpMetrics::OnRequestStart(const std::string& service) {
  in_flight_.WithLabels({service}).Inc();
}

void HttpMetrics::OnRequestAbandoned(const std::string& service) {
  in_flight_.WithLabels({service}).Dec();
  unanswered_.Inc();
}

std::string HttpMetrics::OnExchange(const std::string& service, const HttpExchange& x) {
  in_flight_.WithLabels({service}).Dec();
  std::string endpoint = endpoints_.Normalize(service, x.target);
  std::string status = std::to_string(x.status);
  requests_.WithLabels({service, x.method, endpoint, status}).Inc();
  double seconds = x.end_ns > x.start_ns ? double(x.end_ns - x.start_ns) / 1e9 : 0.0;
  duration_.WithLabels({service, x.method, endpoint}).Observe(seconds);
  return endpoint;
}

void HttpMetrics::OnUnmatchedResponse() { unmatched_.Inc(); }

HttpServerConn::HttpServerConn(HttpMetrics& metrics, const std::string& service,
                               size_t buffer_bytes, RequestHooks hooks)
    : metrics_(metrics),
      service_(service),
      hooks_(hooks),
      streams_(buffer_bytes),
      requests_(MessageType::kRequest),
      responses_(MessageType::kResponse,
                 hooks.tracker ? kResponseBodyLimit
                               : protocols::http1::Http1StreamParser::kDefaultBodyLimit) {}

void HttpServerConn::OnIngress(uint64_t pos, std::string_view data, uint64_t orig_size,
                               const Origin& origin) {
  streams_.Add(Direction::kIngress, pos, data, orig_size, origin);
  DrainRequests();
  AccountStreams();
}

void HttpServerConn::OnEgress(uint64_t pos, std::string_view data, uint64_t orig_size,
                              const Origin& origin) {
  streams_.Add(Direction::kEgress, pos, data, orig_size, origin);
  DrainResponses();
  AccountStreams();
}

void HttpServerConn::DrainRequests() {
  Message m;
  while (requests_.Next(streams_.in, &m) == ParseState::kSuccess) {
    pending_.push_back(Pending{
        .method = std::string(metrics::NormalizeMethod(m.request.method)),
        .raw_method = m.request.method,
        .target = m.request.target,
        .start_ns = m.start_ts,
        .body_bytes = m.body_size,
        .head = m.request.method == "HEAD",
    });
    if (hooks_.tracker) {
      Pending& p = pending_.back();
      p.content_type = HeaderValue(m.request, "Content-Type");
      p.x_request_id = HeaderValue(m.request, "X-Request-ID");
      p.traceparent = HeaderValue(m.request, "traceparent");
      p.x_trace_id = HeaderValue(m.request, "X-Trace-ID");
      p.body = std::move(m.body);
      p.body_truncated = m.body_truncated;
      if (hooks_.capture_identity) {
        if (auto auth = m.request.FindHeader("Authorization")) {
          if (auto sub = JwtSubject(*auth)) p.jwt_sub = std::move(*sub);
        }
      }
      p.request_id =
          hooks_.tracker->OnRequestStart(hooks_.tgid, streams_.in_origins.Find(m.start_ts));
    }
    metrics_.OnRequestStart(service_);
    if (m.request.method == "CONNECT") requests_.SetUpgraded();
  }
}

void HttpServerConn::DrainResponses() {
  Message m;
  while (true) {
    bool head = !pending_.empty() && pending_.front().head;
    if (responses_.Next(streams_.out, &m, head) != ParseState::kSuccess) break;
    Complete(m);
  }
}

void HttpServerConn::Complete(const Message& response) {
  int status = response.response.status;
  // Interim responses (100 Continue, 103 Early Hints) precede the final one.
  if (status >= 100 && status < 200 && status != 101) return;
  if (pending_.empty()) {
    metrics_.OnUnmatchedResponse();
    return;
  }
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  HttpExchange x{
      .method = std::move(p.method),
      .target = std::move(p.target),
      .status = status,
      .start_ns = p.start_ns,
      .end_ns = response.end_ts,
      .request_body_bytes = p.body_bytes,
      .response_body_bytes = response.body_size,
  };
  std::string endpoint = metrics_.OnExchange(service_, x);
  if (hooks_.tracker) {
    HttpRequestView v{
        .tgid = hooks_.tgid,
        .request_id = p.request_id,
        .method = std::move(x.method),
        .raw_method = std::move(p.raw_method),
        .target = std::move(x.target),
        .endpoint = std::move(endpoint),
        .status = status,
        .start_ns = x.start_ns,
        .end_ns = x.end_ns,
        .first_write = streams_.out_origins.Find(response.start_ts),
        .content_type = std::move(p.content_type),
        .x_request_id = std::move(p.x_request_id),
        .traceparent = std::move(p.traceparent),
        .x_trace_id = std::move(p.x_trace_id),
        .body = std::move(p.body),
        .body_truncated = p.body_truncated,
        .jwt_sub = std::move(p.jwt_sub),
    };
    v.response_content_type = HeaderValue(response.response, "Content-Type");
    v.response_content_encoding = HeaderValue(response.response, "Content-Encoding");
    v.response_body = response.body;
    v.response_body_truncated = response.body_truncated;
    hooks_.tracker->OnRequest(service_, v);
  }
  if (status == 101) requests_.SetUpgraded();
}

void HttpServerConn::OnClose() {
  Message m;
  if (requests_.Finish(streams_.in, &m)) {
    // A request cut short by close never gets an answer; it is not counted as a request.
  }
  if (responses_.Finish(streams_.out, &m)) Complete(m);
  while (!pending_.empty()) {
    if (hooks_.tracker) hooks_.tracker->OnRequestAbandoned(hooks_.tgid, pending_.front().request_id);
    pending_.pop_front();
    metrics_.OnRequestAbandoned(service_);
  }
  AccountStreams();
}

void HttpServerConn::AccountStreams() {
  streams_.Account(metrics_.counters(), requests_.parse_errors() + responses_.parse_errors());
}

}  // namespace fraiseql::correlator
