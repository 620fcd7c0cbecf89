// HTTP endpoint of the collector: GET /metrics (Prometheus text 0.0.4), /healthz and
// /readyz, plus any JSON endpoints registered with AddJsonHandler (e.g.
// /api/v1/statements), served by cpp-httplib on its own thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "common/status.h"
#include "metrics/registry.h"

namespace httplib {
class Server;
}

namespace fraiseql::exporter {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Parses "IPv4:PORT", "[IPv6]:PORT" or ":PORT" (all interfaces) into {host, port}.
// Hosts must be IP literals (no name resolution); the host of ":PORT" is "".
// PORT is decimal 0-65535 (0 = any free port). Every malformed input gives the
// same error: invalid listen address "<input>": expected IPv4:PORT, [IPv6]:PORT
// or :PORT with PORT in 0-65535.
StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view listen);

class Server {
 public:
  // `ready` is called from HTTP threads on every GET /readyz and must be
  // thread-safe; an empty function means always ready. `registry` must outlive
  // the server.
  Server(std::string listen, metrics::Registry& registry, std::function<bool()> ready);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Parses the address, binds and listens (":PORT" binds [::] dual-stack, or
  // 0.0.0.0 where IPv6 is unavailable), then serves on a new thread. Errors name
  // the address and the errno text. Call at most once.
  Status Start();
  // Stops serving and joins the thread. Idempotent.
  void Stop();

  // prometheus.enabled=false: GET /metrics answers 404; health and JSON endpoints stay.
  void SetMetricsEnabled(bool on) { metrics_enabled_.store(on); }

  // The bound port once Start() succeeded (resolves ":0"), else 0.
  int port() const { return port_; }

  // Serves `GET path` (exact match, query string ignored) with 200 and the string `body()`
  // returns, as application/json. Allowed before or after Start() (thread-safe); a second
  // handler for the same path replaces the first; /metrics, /healthz and /readyz cannot be
  // replaced. `body` runs on an HTTP thread, concurrently with everything else: it must be
  // thread-safe and stay valid until Stop() (or RemoveHandler(path)) returns. An exception
  // it throws answers 500 with {"error": "..."}.
  Status AddJsonHandler(const std::string& path, std::function<std::string()> body);
  void RemoveHandler(const std::string& path);

 private:
  const std::string listen_;
  metrics::Registry& registry_;
  const std::function<bool()> ready_;
  std::mutex handlers_mu_;
  std::map<std::string, std::shared_ptr<const std::function<std::string()>>> json_handlers_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::atomic<bool> metrics_enabled_{true};
  int port_ = 0;
};

}  // namespace fraiseql::exporter
