// Server side of an HTTP/1.x connection: requests parsed from ingress bytes, responses from
// egress bytes, paired in order (pipelining answers in request order), turned into
// completed exchanges and metrics.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "correlator/attribution.h"
#include "correlator/request_tracker.h"
#include "correlator/stream_pair.h"
#include "metrics/endpoint_normalizer.h"
#include "metrics/registry.h"
#include "protocols/http1/stream_parser.h"

namespace fraiseql::correlator {

// A request and its final response.
struct HttpExchange {
  std::string method;  // normalized (GET … PATCH, else OTHER)
  std::string target;  // raw request target (path + query); never exported as is
  int status = 0;
  uint64_t start_ns = 0;  // first request byte read
  uint64_t end_ns = 0;    // last response byte written
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
};

// The HTTP metric families of the contract, updated per exchange.
class HttpMetrics {
 public:
  HttpMetrics(metrics::Registry& registry, size_t max_endpoints_per_service);

  void OnRequestStart(const std::string& service);
  void OnRequestAbandoned(const std::string& service);  // connection closed unanswered
  // Returns the endpoint label it used.
  std::string OnExchange(const std::string& service, const HttpExchange& x);
  void OnUnmatchedResponse();
  ProtocolCounters& counters() { return counters_; }

 private:
  metrics::EndpointNormalizer endpoints_;
  metrics::CounterFamily& requests_;
  metrics::HistogramFamily& duration_;
  metrics::GaugeFamily& in_flight_;
  ProtocolCounters counters_;
  metrics::Counter& unanswered_;
  metrics::Counter& unmatched_;
};

// Request contexts and attribution for a server connection (optional: without them only the
// HTTP metrics are kept).
struct RequestHooks {
  RequestTracker* tracker = nullptr;
  uint32_t tgid = 0;
  bool capture_identity = false;  // read the JWT `sub` of Authorization (never the token)
};

class HttpServerConn {
 public:
  // Response bodies kept (for GraphQL errors and execution mode); longer ones are truncated.
  static constexpr size_t kResponseBodyLimit = 256 * 1024;

  HttpServerConn(HttpMetrics& metrics, const std::string& service, size_t buffer_bytes,
                 RequestHooks hooks = {});

  void OnIngress(uint64_t pos, std::string_view data, uint64_t orig_size, const Origin& origin);
  void OnEgress(uint64_t pos, std::string_view data, uint64_t orig_size, const Origin& origin);
  // The socket closed: a response delimited by close completes; unanswered requests end.
  void OnClose();

 private:
  struct Pending {
    std::string method;
    std::string raw_method;
    std::string target;
    uint64_t start_ns;
    uint64_t body_bytes;
    bool head;
    uint64_t request_id = 0;  // Attributor's
    std::string content_type{}, x_request_id{}, traceparent{}, x_trace_id{};
    std::string body{};
    bool body_truncated = false;
    std::string jwt_sub{};
  };
  void DrainRequests();
  void DrainResponses();
  void Complete(const protocols::http1::Message& response);
  void AccountStreams();

  HttpMetrics& metrics_;
  const std::string& service_;
  RequestHooks hooks_;
  StreamPair streams_;
  protocols::http1::Http1StreamParser requests_;
  protocols::http1::Http1StreamParser responses_;
  std::deque<Pending> pending_;
};

}  // namespace fraiseql::correlator
