#include "pipeline/pipeline.h"

#include "sinks/logs/logs.h"
#include "sinks/metrics/recorders.h"

namespace fraiseql::pipeline {

Pipeline::Pipeline(metrics::Registry& registry, PipelineOptions options)
    : options_(std::move(options)),
      registry_(registry),
      statements_(options_.max_statements),
      correlator_(
          [&] {
            correlator::CorrelatorOptions c = options_.correlator;
            c.request_contexts = options_.request_contexts;
            return c;
          }(),
          sinks_),
      db_calls_([&] {
        handlers::DbOptions d = options_.db;
        d.capture_identity = options_.capture_identity;
        return d;
      }()),
      tracker_(options_.conn, workloads_) {
  http_ = std::make_unique<handlers::Http1ServerHandler>(
      handlers::HttpOptions{.keep_bodies = options_.request_contexts,
                            .capture_identity = options_.capture_identity},
      correlator_);
  tracker_.SetServerHandler(http_.get());
  if (options_.database) {
    pg_ = std::make_unique<handlers::PgClientHandler>(db_calls_, correlator_);
    tracker_.AddClientHandler(pg_.get());
    libpq_ = std::make_unique<handlers::LibpqHandler>(tracker_, workloads_, db_calls_,
                                                      correlator_);
  }
  if (options_.cache) {
    redis_ = std::make_unique<handlers::RedisClientHandler>(correlator_);
    tracker_.AddClientHandler(redis_.get());
  }
  tracker_.SetInference(&inference_);
  BuildSinks(registry);
  hook_id_ = registry.AddCollectHook([this, &registry] { CollectSelfMetrics(registry); });
}

Pipeline::~Pipeline() { registry_.RemoveCollectHook(hook_id_); }

void Pipeline::BuildSinks(metrics::Registry& registry) {
  if (options_.metrics) {
    sinks_.Own(std::make_unique<sinks::HttpRecorder>(registry));
    if (options_.database) {
      sinks_.Own(std::make_unique<sinks::DbRecorder>(registry, options_.slow_query_ns));
    }
    if (options_.cache) sinks_.Own(std::make_unique<sinks::RedisRecorder>(registry));
    if (options_.cache || options_.database) {
      sinks_.Own(
          std::make_unique<sinks::CacheRecorder>(registry, options_.cache, options_.database));
    }
    if (options_.request_contexts) sinks_.Own(std::make_unique<sinks::GraphqlRecorder>(registry));
  }
  if (options_.database) sinks_.Add(&statements_);
  if (options_.slow_log) {
    slow_log_ = std::make_unique<sinks::JsonLines>(options_.slow_log, "slow_query_log");
    if (options_.database) {
      sinks_.Own(std::make_unique<sinks::SlowQueryLog>(*slow_log_, options_.slow_query_ns));
    }
    if (options_.request_contexts) {
      sinks_.Own(std::make_unique<sinks::NPlusOneLog>(
          *slow_log_, options_.correlator.n_plus_one_threshold));
    }
  }
  if (options_.request_log && options_.request_contexts) {
    request_log_ = std::make_unique<sinks::JsonLines>(options_.request_log, "request_log");
    sinks_.Own(std::make_unique<sinks::RequestLog>(
        *request_log_, sinks::RequestLogOptions{.capture_identity = options_.capture_identity}));
  }
}

void Pipeline::OnRecord(std::span<const uint8_t> record) {
  Event ev;
  DecodeError err = decoder_.Decode(record, &ev);
  switch (err) {
    case DecodeError::kNone: OnEvent(ev); return;
    case DecodeError::kTooShort: ++stats_.too_short; return;
    case DecodeError::kUnknownKind: ++stats_.unknown_kind; return;
    default: ++stats_.bad_length; return;
  }
}

void Pipeline::OnEvent(const Event& event) {
  if (const auto* d = std::get_if<DataEvent>(&event)) {
    ++stats_.data;
    tracker_.OnData(*d);
  } else if (const auto* c = std::get_if<ConnEvent>(&event)) {
    ++(c->kind == ConnEvent::Kind::kOpen ? stats_.conn_open : stats_.conn_close);
    tracker_.OnConn(*c);
  } else if (const auto* b = std::get_if<PyCtxEvent>(&event)) {
    ++stats_.python_context;
    correlator_.OnContextBirth(b->tgid, b->ts_ns, b->parent, b->child);
  } else if (const auto* q = std::get_if<PqEvent>(&event)) {
    ++stats_.libpq;
    if (libpq_) libpq_->OnEvent(*q);
  } else if (const auto* p = std::get_if<ProcEvent>(&event)) {
    switch (p->kind) {
      case ProcEvent::Kind::kFork: ++stats_.proc_fork; break;
      case ProcEvent::Kind::kExec: ++stats_.proc_exec; break;
      case ProcEvent::Kind::kExit:
        ++stats_.proc_exit;
        ForgetProcess(p->tgid);
        break;
    }
    if (on_proc_) on_proc_(*p);
  }
}

void Pipeline::SetService(uint32_t tgid, std::string service) {
  workloads_.Set(tgid, records::Workload{std::move(service)});
}

void Pipeline::SetDefaultService(std::string service) {
  workloads_.SetDefault(records::Workload{std::move(service)});
}

void Pipeline::SetListeningPortFn(std::function<bool(uint32_t, uint16_t)> fn) {
  tracker_.SetListeningFn(std::move(fn));
}

void Pipeline::SetEncryptedDbListener(std::function<void(uint32_t)> fn) {
  if (pg_) pg_->SetOnEncrypted(std::move(fn));
}

void Pipeline::ForgetProcess(uint32_t tgid) {
  tracker_.ForgetProcess(tgid);
  if (libpq_) libpq_->ForgetProcess(tgid);
  correlator_.ForgetProcess(tgid);
  // The workload stays: a connection event still in flight may name it.
}

void Pipeline::Tick(uint64_t now_ns) {
  tracker_.Tick(now_ns);
  correlator_.OnTick(now_ns);
}

void Pipeline::Finish() {
  tracker_.Finish();
  correlator_.OnFinish();
}

}  // namespace fraiseql::pipeline
