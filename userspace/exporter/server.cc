#include "exporter/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include <httplib.h>

namespace fraiseql::exporter {
namespace {

Status BadListenAddress(std::string_view listen) {
  return Status::Error("invalid listen address \"" + std::string(listen) +
                       "\": expected IPv4:PORT, [IPv6]:PORT or :PORT with PORT in 0-65535");
}

// Re-does the bind that httplib reported as failed, to get its errno (httplib
// only returns a bool). Returns 0 if this bind succeeds.
int BindErrno(const std::string& host, int port) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v6);
  } else if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
             inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v4);
  } else {
    return EINVAL;
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int err = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1) != 0) {
    err = errno;
  }
  ::close(fd);
  return err;
}

// Threads, timeouts, payload cap and socket options of the exporter's HTTP server.
void ConfigureHttp(httplib::Server& http) {
  // A scrape endpoint needs few threads; httplib's default is >= 8.
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  http.set_read_timeout(5, 0);
  http.set_write_timeout(10, 0);
  http.set_payload_max_length(64 * 1024);
  // httplib's default sets SO_REUSEPORT, which lets a second collector bind the same
  // port and silently share scrapes. SO_REUSEADDR alone only allows a quick restart.
  http.set_socket_options([](socket_t sock) {
    const int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
}

// {"error": "<what>"}: quotes and backslashes escaped, control characters dropped.
std::string JsonErrorBody(std::string_view what) {
  std::string msg;
  for (char c : what) {
    if (c == '"' || c == '\\') msg += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) msg += c;
  }
  return "{\"error\": \"" + msg + "\"}";
}

}  // namespace

StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view listen) {
  std::string_view host, port;
  if (listen.starts_with('[')) {
    const size_t close = listen.find("]:");
    if (close == std::string_view::npos) return BadListenAddress(listen);
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return BadListenAddress(listen);
    }
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return BadListenAddress(listen);
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    in_addr a4;
    if (!host.empty() && inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1) {
      return BadListenAddress(listen);
    }
  }
  int port_number = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size() ||
      port_number < 0 || port_number > 65535) {
    return BadListenAddress(listen);
  }
  return std::make_pair(std::string(host), port_number);
}

Server::Server(std::string listen, metrics::Registry& registry, std::function<bool()> ready)
    : listen_(std::move(listen)), registry_(registry), ready_(std::move(ready)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (http_) return Status::Error("exporter on " + listen_ + " already started");
  auto parsed = ParseListenAddress(listen_);
  if (!parsed.ok()) return parsed.status();
  const auto& [host, port] = parsed.value();

  auto http = std::make_unique<httplib::Server>();
  ConfigureHttp(*http);

  http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (!metrics_enabled_.load()) {
      res.status = 404;
      res.set_content("metrics disabled (prometheus.enabled=false)\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content(registry_.Render(), std::string(kMetricsContentType));
  });
  http->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain; charset=utf-8");
  });
  http->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = !ready_ || ready_();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready" : "not ready", "text/plain; charset=utf-8");
  });

  // Registered JSON endpoints: looked up per request, so they may be added after Start().
  // Registered last, so the fixed routes above win.
  http->Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<const std::function<std::string()>> handler;
    {
      std::lock_guard<std::mutex> lock(handlers_mu_);
      auto it = json_handlers_.find(req.path);
      if (it != json_handlers_.end()) handler = it->second;
    }
    if (!handler) {
      res.status = 404;
      res.set_content("not found", "text/plain; charset=utf-8");
      return;
    }
    try {
      res.set_content((*handler)(), "application/json");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(JsonErrorBody(e.what()), "application/json");
    }
  });

  // httplib binds with port 0 only through bind_to_any_port().
  auto bind = [&http](const std::string& h, int p) {
    return p == 0 ? http->bind_to_any_port(h) : (http->bind_to_port(h, p) ? p : -1);
  };
  std::string bind_host = host.empty() ? "::" : host;
  int bound = bind(bind_host, port);
  if (bound < 0 && host.empty()) {
    // No IPv6 on this host: all IPv4 interfaces.
    bind_host = "0.0.0.0";
    bound = bind(bind_host, port);
  }
  if (bound < 0) {
    const int err = BindErrno(bind_host, port);
    const std::string what = "cannot listen on " + listen_;
    return err != 0 ? Status::Errno(what, err) : Status::Error(what + ": bind failed");
  }
  port_ = bound;
  http_ = std::move(http);
  thread_ = std::thread([this] {
    http_->listen_after_bind();
    listen_returned_ = true;
  });
  return Status::Ok();
}

Status Server::AddJsonHandler(const std::string& path, std::function<std::string()> body) {
  if (path.empty() || path[0] != '/') {
    return Status::Error("JSON handler path must start with '/': \"" + path + "\"");
  }
  if (path == "/metrics" || path == "/healthz" || path == "/readyz") {
    return Status::Error("JSON handler path " + path + " is reserved");
  }
  if (!body) return Status::Error("JSON handler for " + path + " is empty");
  std::lock_guard<std::mutex> lock(handlers_mu_);
  json_handlers_[path] = std::make_shared<const std::function<std::string()>>(std::move(body));
  return Status::Ok();
}

void Server::RemoveHandler(const std::string& path) {
  std::lock_guard<std::mutex> lock(handlers_mu_);
  json_handlers_.erase(path);
}

void Server::Stop() {
  if (!http_) return;
  if (thread_.joinable()) {
    // stop() is a no-op until the accept loop runs; wait for it to start.
    while (!http_->is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    http_->stop();
    thread_.join();
  }
  http_.reset();
  port_ = 0;
}

}  // namespace fraiseql::exporter
