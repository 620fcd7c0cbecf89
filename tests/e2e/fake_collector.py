#!/usr/bin/python3
"""A stand-in for `fraiseql-collector run` that validates the e2e HARNESS, not the collector.

It counts requests from the demo app's uvicorn access log (it finds the process listening on
--port and tails the file its stdout points to), so the harness's exposition parser, delta and
histogram checks, readiness wait, restart probing and promtool step can be exercised before the
real collector exists:

    /usr/bin/python3 tests/e2e/test_http_e2e.py --collector tests/e2e/fake_collector.py --app-access-log

Expected with it: a, b, c, e pass; d fails on parse_errors (an access log never sees garbage).
Durations are not known: every request lands in the 0.005 s bucket.
"""
import argparse
import collections
import http.server
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_client import normalize_endpoint  # noqa: E402

BUCKETS = [.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10]
LINE = re.compile(r'"(\S+) (\S+) HTTP/1\.[01]" (\d{3})')
lock = threading.Lock()
counts: collections.Counter = collections.Counter()
state = {"targets": 0, "ready": False}
# FAKE_LOSE_EVERY=N drops every Nth request: checks that the harness reports a mismatch.
LOSE_EVERY = int(os.environ.get("FAKE_LOSE_EVERY", "0"))


def listener_pid(port: int) -> int | None:
    inodes = set()
    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(tab) as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[3] == "0A" and int(p[1].split(":")[1], 16) == port:
                    inodes.add(p[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in {f"socket:[{i}]" for i in inodes}:
                    return int(pid)
        except OSError:
            continue
    return None


def follow(port: int) -> None:
    path, pos, pid = None, 0, None
    while True:
        new_pid = listener_pid(port)
        if new_pid != pid:
            pid = new_pid
            state["targets"] = 1 if pid else 0
            if pid:
                try:
                    new_path = os.readlink(f"/proc/{pid}/fd/1")
                except OSError:
                    new_path = None
                if new_path != path:
                    path = new_path
                    pos = os.path.getsize(path) if path else 0   # count only from now on
        state["ready"] = True
        if path:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
            end = data.rfind(b"\n") + 1
            pos += end
            with lock:
                for m in LINE.finditer(data[:end].decode("utf-8", "replace")):
                    state["seen"] = state.get("seen", 0) + 1
                    if LOSE_EVERY and state["seen"] % LOSE_EVERY == 0:
                        continue
                    counts[(m.group(1), normalize_endpoint(m.group(2)), m.group(3))] += 1
        time.sleep(0.1)


def render(service: str) -> str:
    out = ["# HELP fraiseql_http_requests_total HTTP requests.",
           "# TYPE fraiseql_http_requests_total counter"]
    with lock:
        snap = dict(counts)
    per_ep: collections.Counter = collections.Counter()
    for (m, e, s), n in sorted(snap.items()):
        out.append(f'fraiseql_http_requests_total{{service_name="{service}",method="{m}",'
                   f'endpoint="{e}",status="{s}"}} {n}')
        per_ep[(m, e)] += n
    out += ["# HELP fraiseql_http_request_duration_seconds HTTP request duration.",
            "# TYPE fraiseql_http_request_duration_seconds histogram"]
    for (m, e), n in sorted(per_ep.items()):
        lbl = f'service_name="{service}",method="{m}",endpoint="{e}"'
        for b in BUCKETS:
            out.append(f'fraiseql_http_request_duration_seconds_bucket{{{lbl},le="{b}"}} {n if b >= .005 else 0}')
        out.append(f'fraiseql_http_request_duration_seconds_bucket{{{lbl},le="+Inf"}} {n}')
        out.append(f'fraiseql_http_request_duration_seconds_sum{{{lbl}}} {n * 0.004}')
        out.append(f'fraiseql_http_request_duration_seconds_count{{{lbl}}} {n}')
    out += ["# HELP fraiseql_http_requests_in_flight HTTP requests in flight.",
            "# TYPE fraiseql_http_requests_in_flight gauge",
            f'fraiseql_http_requests_in_flight{{service_name="{service}"}} 0',
            "# HELP fraiseql_collector_targets Observed processes.",
            "# TYPE fraiseql_collector_targets gauge",
            f"fraiseql_collector_targets {state['targets']}"]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--service-name", default="fake")
    args, _ = ap.parse_known_args()
    threading.Thread(target=follow, args=(args.port,), daemon=True).start()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/metrics":
                body, code = render(args.service_name).encode(), 200
            elif self.path == "/healthz":
                body, code = b"ok\n", 200
            elif self.path == "/readyz":
                body, code = (b"ok\n", 200) if state["ready"] else (b"not ready\n", 503)
            else:
                body, code = b"not found\n", 404
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    host, port = args.listen.rsplit(":", 1)
    http.server.ThreadingHTTPServer((host or "0.0.0.0", int(port)), H).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
