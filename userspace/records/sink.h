// Where records go: every stage after the handlers is a RecordSink, and FanOut hands each
// record to every sink in order. A new output (metrics, logs, the statement table, traces, an
// audit store) is a new sink, never a branch in the correlator. Sinks run on the pipeline
// thread and must not block it: a slow one queues (see sinks/common/bounded_queue.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "records/records.h"

namespace fraiseql::records {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnRequestStart(const RequestStart&) {}
  virtual void OnRequestAbandoned(const RequestAbandoned&) {}
  virtual void OnUnpairedResponse(const UnpairedResponse&) {}
  virtual void OnExchange(const HttpExchange&) {}
  virtual void OnDbCall(const DbCall&) {}
  virtual void OnDbTransaction(const DbTransaction&) {}
  virtual void OnDbPool(const DbPool&) {}
  virtual void OnRedisCall(const RedisCall&) {}
  virtual void OnCompletedRequest(const CompletedRequest&) {}
  // Periodic housekeeping on the pipeline thread (gauges, flushes); `now_ns` monotonic.
  virtual void OnTick(uint64_t /*now_ns*/) {}
  // End of input or shutdown: flush everything queued.
  virtual void OnFinish() {}
};

class FanOut final : public RecordSink {
 public:
  // Not owned; must outlive the fan-out.
  void Add(RecordSink* sink) { sinks_.push_back(sink); }
  void Own(std::unique_ptr<RecordSink> sink) {
    sinks_.push_back(sink.get());
    owned_.push_back(std::move(sink));
  }
  size_t size() const { return sinks_.size(); }

  void OnRequestStart(const RequestStart& r) override { Each(&RecordSink::OnRequestStart, r); }
  void OnRequestAbandoned(const RequestAbandoned& r) override {
    Each(&RecordSink::OnRequestAbandoned, r);
  }
  void OnUnpairedResponse(const UnpairedResponse& r) override {
    Each(&RecordSink::OnUnpairedResponse, r);
  }
  void OnExchange(const HttpExchange& r) override { Each(&RecordSink::OnExchange, r); }
  void OnDbCall(const DbCall& r) override { Each(&RecordSink::OnDbCall, r); }
  void OnDbTransaction(const DbTransaction& r) override { Each(&RecordSink::OnDbTransaction, r); }
  void OnDbPool(const DbPool& r) override { Each(&RecordSink::OnDbPool, r); }
  void OnRedisCall(const RedisCall& r) override { Each(&RecordSink::OnRedisCall, r); }
  void OnCompletedRequest(const CompletedRequest& r) override {
    Each(&RecordSink::OnCompletedRequest, r);
  }
  void OnTick(uint64_t now_ns) override {
    for (RecordSink* s : sinks_) s->OnTick(now_ns);
  }
  void OnFinish() override {
    for (RecordSink* s : sinks_) s->OnFinish();
  }

 private:
  template <typename R>
  void Each(void (RecordSink::*fn)(const R&), const R& r) {
    for (RecordSink* s : sinks_) (s->*fn)(r);
  }
  std::vector<RecordSink*> sinks_;
  std::vector<std::unique_ptr<RecordSink>> owned_;
};

}  // namespace fraiseql::records
