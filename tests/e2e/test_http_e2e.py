#!/usr/bin/python3
"""End-to-end HTTP counting tests: PostgreSQL + Redis + the demo app + fraiseql-collector.

    /usr/bin/python3 tests/e2e/test_http_e2e.py --collector build/fraiseql-collector [-v] [TEST...]
    /usr/bin/python3 tests/e2e/test_http_e2e.py --client-only        # no collector: checks the
                                                                     # client, the app, the plumbing

Root, Debian's /usr/bin/python3, stdlib unittest (no pytest). The harness:
  * runs scripts/services.sh start (idempotent; stops the services at the end only if it started
    them and --keep-services is not given),
  * starts the demo app (uvicorn, --timeout-keep-alive 600) on a free loopback port,
  * opens one keep-alive connection and uses it BEFORE the collector starts (test b),
  * starts `fraiseql-collector run --port APP --listen 127.0.0.1:FREE --service-name NAME`,
    waits for /readyz, scrapes /metrics (small exposition parser below),
  * always stops every process it started (app, collector), also on failure / Ctrl-C.
Tests (run in this order):
  a. exact 1,000 requests (raw-socket client: keep-alive, one connection per request, pipelining,
     100 B / 20 KiB / chunked bodies, 200/404/500): counter deltas per (method, endpoint, status)
     and histogram _count per (method, endpoint) equal the client's counts exactly
  b. a keep-alive connection opened before the collector started counts exactly
  c. app restart (new PID): counted again within 2 s of the new process listening; exact after
  d. garbage (TLS ClientHello, 4 KiB random, 1 MiB header line): parse_errors{protocol="http1"}
     grows, the collector survives, 100 later requests count exactly
  e. `promtool check metrics` on a real scrape: exit 0, no output
Logs: /tmp/fraiseql-demo/e2e-<time>/ (app.log, collector.log, failing scrapes).
"""
from __future__ import annotations

import argparse
import atexit
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import http_client as hc  # noqa: E402

PY = "/usr/bin/python3"
HOST = "127.0.0.1"
SETTLE_S = 5.0

OPTS: argparse.Namespace  # set in main()


# --------------------------------------------------------------------------- exposition parser

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?\s*$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(v: str) -> str:
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), m.group(0)), v)


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text format 0.0.4 -> {(name, frozenset(label items)): value}."""
    out: dict[tuple[str, frozenset], float] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"line {n}: not a sample: {line[:200]!r}")
        name, labels_s, value = m.group(1), m.group(3) or "", m.group(4)
        labels = {}
        pos = 0
        while pos < len(labels_s):
            lm = _LABEL.match(labels_s, pos)
            if not lm:
                raise ValueError(f"line {n}: bad labels: {labels_s[pos:pos + 100]!r}")
            labels[lm.group(1)] = _unescape(lm.group(2))
            pos = lm.end()
        key = (name, frozenset(labels.items()))
        if key in out:
            raise ValueError(f"line {n}: duplicate series {name}{labels}")
        out[key] = float(value)
    return out


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = parse_exposition(text)
        self.at = time.monotonic()

    def select(self, name: str, **match: str) -> dict[frozenset, float]:
        return {lbl: v for (n, lbl), v in self.samples.items()
                if n == name and all(dict(lbl).get(k) == want for k, want in match.items())}

    def value(self, name: str, default: float = 0.0, **match: str) -> float:
        sel = self.select(name, **match)
        return sum(sel.values()) if sel else default

    def by(self, name: str, keys: tuple[str, ...], **match: str) -> collections.Counter:
        """Sums series of `name` grouped by the label values `keys`."""
        out: collections.Counter = collections.Counter()
        for lbl, v in self.select(name, **match).items():
            d = dict(lbl)
            out[tuple(d.get(k, "") for k in keys)] += v
        return out


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- processes

class Proc:
    """A child in its own session, logged to a file; stop() kills its whole group."""

    def __init__(self, name: str, argv: list[str], log_path: str, cwd: str | None = None,
                 env: dict | None = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self.log = open(log_path, "ab")
        self.log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        self.log.flush()
        self.p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        ALL_PROCS.append(self)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        else:
            try:   # the leader is gone; make sure no worker of its group survives
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.log.close() if not self.log.closed else None
        if self in ALL_PROCS:
            ALL_PROCS.remove(self)

    def tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


ALL_PROCS: list[Proc] = []


def _cleanup_all() -> None:
    for p in list(ALL_PROCS):
        try:
            p.stop(timeout=5)
        except Exception:   # noqa: BLE001 - best effort at exit
            pass


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, lambda s, f: (_cleanup_all(), os._exit(128 + s)))


def start_collector(name: str, argv: list[str], metrics_port: int, log_dir: str,
                    timeout: float = 60.0) -> Proc:
    """Starts `fraiseql-collector run ...` (argv) and waits until /readyz answers 200 on
    metrics_port; raises with the log's tail if it exits or is not ready in time."""
    p = Proc(name, argv, os.path.join(log_dir, f"{name}.log"))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http_get(f"http://{HOST}:{metrics_port}/readyz", timeout=1)[0] == 200:
                return p
        except OSError:
            pass
        if not p.alive() or time.monotonic() > deadline:
            p.stop()
            raise RuntimeError(f"{name} not ready:\n{p.tail()}")
        time.sleep(0.2)


def promtool_problems(text: str) -> tuple[int, str]:
    """`promtool check metrics` on a scrape: (exit code, output); (0, "") is clean."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def parse_collector_args(ap: argparse.ArgumentParser) -> tuple[argparse.Namespace, list[str]]:
    """The common start of the e2e scripts' main(): parses `ap` (which defines --collector and
    --client-only) and checks that one of them is given (--client-only clears --collector;
    --collector must be executable). Returns the options and the arguments left for unittest."""
    opts, rest = ap.parse_known_args()
    if not opts.collector and not opts.client_only:
        ap.error("--collector PATH or --client-only is required")
    if opts.client_only:
        opts.collector = None
    elif not os.access(opts.collector, os.X_OK):
        ap.error(f"{opts.collector} is not executable")
    return opts, rest


def run_tests(unittest_args: list[str]) -> int:
    """The common end of the e2e scripts' main(): root is required (BPF, service control);
    runs the calling script's tests; returns the exit code."""
    if os.geteuid() != 0:
        print("e2e: needs root (BPF, service control)", file=sys.stderr)
        return 1
    prog = unittest.main(module="__main__", argv=[sys.argv[0]] + unittest_args, exit=False,
                         verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


def redis_up() -> bool:
    try:
        with socket.create_connection((HOST, 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pg_up() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", HOST, "-p", "5432"]).returncode == 0


class Env:
    """Everything the tests share (created once, in setUpModule)."""
    log_dir = ""
    app: Proc | None = None
    app_port = 0
    collector: Proc | None = None
    metrics_port = 0
    preconn: hc.Conn | None = None
    started_services = False

    @classmethod
    def metrics_url(cls, path: str = "/metrics") -> str:
        return f"http://{HOST}:{cls.metrics_port}{path}"

    @classmethod
    def start_app(cls) -> Proc:
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "demo"))
        p = Proc("app", [PY, "-m", "uvicorn", "fraiseql_demo.app:app", "--host", HOST,
                         "--port", str(cls.app_port), "--timeout-keep-alive", "600"]
                 + ([] if OPTS.app_access_log else ["--no-access-log"]),
                 os.path.join(cls.log_dir, "app.log"), cwd=os.path.join(ROOT, "demo"), env=env)
        # uvicorn binds its socket only after application startup (pool open): a TCP accept means
        # ready, and a plain connect sends no HTTP request the collector could count.
        deadline = time.monotonic() + 30
        while not port_open(cls.app_port):
            if not p.alive() or time.monotonic() > deadline:
                p.stop()
                raise RuntimeError(f"demo app did not start:\n{p.tail()}")
            time.sleep(0.05)
        cls.app = p
        return p

    @classmethod
    def start_collector(cls) -> None:
        argv = [OPTS.collector, "run", "--port", str(cls.app_port),
                "--listen", f"{HOST}:{cls.metrics_port}",
                "--service-name", OPTS.service_name] + OPTS.collector_arg
        cls.collector = start_collector("collector", argv, cls.metrics_port, cls.log_dir,
                                        OPTS.ready_timeout)

    @classmethod
    def scrape(cls) -> Scrape:
        status, text = http_get(cls.metrics_url("/metrics"))
        if status != 200:
            raise AssertionError(f"/metrics answered {status}")
        return Scrape(text)


def setUpModule() -> None:  # noqa: N802 - unittest API
    Env.log_dir = os.path.join("/tmp/fraiseql-demo", time.strftime("e2e-%Y%m%d-%H%M%S"))
    os.makedirs(Env.log_dir, exist_ok=True)
    print(f"\n[e2e] logs in {Env.log_dir}", file=sys.stderr)
    was_up = pg_up() and redis_up()
    subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), "start"], check=True,
                   stdout=sys.stderr)
    Env.started_services = not was_up
    Env.app_port = OPTS.app_port or free_port()
    Env.start_app()
    # Test b: a keep-alive connection opened and used before the collector starts.
    Env.preconn = hc.Conn(HOST, Env.app_port)
    Env.preconn.send_request(hc.Req("GET", "/health", 200))
    if Env.preconn.read_response().status != 200:
        raise RuntimeError("pre-existing connection: /health did not answer 200")
    if OPTS.collector:
        Env.metrics_port = OPTS.metrics_port or free_port()
        t0 = time.monotonic()
        Env.start_collector()
        print(f"[e2e] collector ready in {time.monotonic() - t0:.2f} s "
              f"(app :{Env.app_port} pid {Env.app.pid}, metrics :{Env.metrics_port})", file=sys.stderr)


def tearDownModule() -> None:  # noqa: N802
    if Env.preconn:
        Env.preconn.close()
    if Env.collector:
        Env.collector.stop()
    if Env.app:
        Env.app.stop()
    _cleanup_all()
    if Env.started_services and not OPTS.keep_services:
        subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), "stop"], stdout=sys.stderr)


# --------------------------------------------------------------------------- tests

REQS = "fraiseql_http_requests_total"
DUR = "fraiseql_http_request_duration_seconds"
PARSE_ERRORS = "fraiseql_collector_parse_errors_total"
PROBE = "/e2e/pickup-probe"


class HttpE2E(unittest.TestCase):
    maxDiff = None

    # -- helpers ------------------------------------------------------------------------------

    def setUp(self) -> None:
        if Env.collector and not Env.collector.alive():
            self.fail(f"collector died before {self.id()}:\n{Env.collector.tail()}")

    def scrape(self) -> Scrape | None:
        return Env.scrape() if Env.collector else None

    @staticmethod
    def _svc() -> dict[str, str]:
        return {"service_name": OPTS.service_name}

    def _deltas(self, before: Scrape, after: Scrape) -> tuple[collections.Counter, collections.Counter, collections.Counter]:
        keys3 = ("method", "endpoint", "status")
        keys2 = ("method", "endpoint")
        req = after.by(REQS, keys3, **self._svc())
        req.subtract(before.by(REQS, keys3, **self._svc()))
        cnt = after.by(DUR + "_count", keys2, **self._svc())
        cnt.subtract(before.by(DUR + "_count", keys2, **self._svc()))
        inf = after.by(DUR + "_bucket", keys2, le="+Inf", **self._svc())
        inf.subtract(before.by(DUR + "_bucket", keys2, le="+Inf", **self._svc()))
        return (collections.Counter({k: v for k, v in req.items() if v}),
                collections.Counter({k: v for k, v in cnt.items() if v}),
                collections.Counter({k: v for k, v in inf.items() if v}))

    def _mismatch(self, before: Scrape, after: Scrape, tally: hc.Tally,
                  ignore_endpoints: tuple[str, ...]) -> str:
        """'' when the deltas equal the client's counts exactly, else a readable diff."""
        req, cnt, inf = self._deltas(before, after)
        ign = lambda k: k[1] in ignore_endpoints  # noqa: E731
        want_req = {k: float(v) for k, v in tally.received.items() if not ign(k)}
        want_cnt = {k: float(v) for k, v in tally.duration_counts().items() if not ign(k)}
        got_req = {k: v for k, v in req.items() if not ign(k)}
        got_cnt = {k: v for k, v in cnt.items() if not ign(k)}
        got_inf = {k: v for k, v in inf.items() if not ign(k)}
        lines = []
        for k in sorted(set(want_req) | set(got_req)):
            if want_req.get(k, 0) != got_req.get(k, 0):
                lines.append(f"  {REQS}{k}: client {want_req.get(k, 0):g}, collector delta {got_req.get(k, 0):g}")
        for k in sorted(set(want_cnt) | set(got_cnt)):
            if want_cnt.get(k, 0) != got_cnt.get(k, 0):
                lines.append(f"  {DUR}_count{k}: client {want_cnt.get(k, 0):g}, collector delta {got_cnt.get(k, 0):g}")
        for k in sorted(set(got_cnt) | set(got_inf)):
            if got_cnt.get(k, 0) != got_inf.get(k, 0):
                lines.append(f"  {DUR}_bucket{{le=+Inf}}{k} delta {got_inf.get(k, 0):g} != _count delta {got_cnt.get(k, 0):g}")
        return "\n".join(lines)

    def assert_counted_exactly(self, before: Scrape | None, tally: hc.Tally,
                               ignore_endpoints: tuple[str, ...] = ()) -> Scrape | None:
        """Client-side sanity always; with a collector, polls /metrics until the deltas equal the
        client's counts or SETTLE_S passes, then asserts equality per label set."""
        self.assertEqual(tally.problems, [], "the app did not answer as expected")
        self.assertEqual(tally.total_sent, tally.total_received, "requests without a response")
        if before is None:
            print(f"\n[client-only] {self.id()}:\n{tally.table()}", file=sys.stderr)
            return None
        deadline = time.monotonic() + SETTLE_S
        while True:
            after = Env.scrape()
            diff = self._mismatch(before, after, tally, ignore_endpoints)
            if not diff or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if diff:
            path = os.path.join(Env.log_dir, f"{self._testMethodName}.scrape.txt")
            with open(path, "w") as f:
                f.write(after.text)
            self.fail(f"counts differ after {SETTLE_S} s (scrape saved to {path}):\n{diff}\n"
                      f"client:\n{tally.table()}")
        self._check_histogram_shape(after)
        return after

    def _check_histogram_shape(self, s: Scrape) -> None:
        """Buckets are cumulative (non-decreasing in le) and _bucket{+Inf} == _count."""
        series: dict[tuple, list[tuple[float, float]]] = collections.defaultdict(list)
        for lbl, v in s.select(DUR + "_bucket", **self._svc()).items():
            d = dict(lbl)
            le = d.pop("le")
            series[tuple(sorted(d.items()))].append((float("inf") if le == "+Inf" else float(le), v))
        for key, buckets in series.items():
            buckets.sort()
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values), f"non-cumulative buckets for {key}")
            cnt = s.value(DUR + "_count", **dict(key))
            self.assertEqual(buckets[-1][1], cnt, f"+Inf bucket != _count for {key}")

    # -- a ------------------------------------------------------------------------------------

    def test_a_exact_1000_requests(self) -> None:
        before = self.scrape()
        t0 = time.monotonic()
        tally = hc.run_mixed(HOST, Env.app_port, total=1000, seed=OPTS.seed)
        print(f"\n[e2e] a: 1000 requests in {time.monotonic() - t0:.2f} s; kinds "
              f"{dict(sorted(tally.kinds.items()))}", file=sys.stderr)
        self.assertEqual(tally.total_sent, 1000)
        for kind in ("health", "item", "graphql", "notfound", "boom", "echo_100", "echo_20480",
                     "echo_chunked"):
            self.assertGreater(tally.kinds[kind], 0, f"plan has no {kind} request")
        for status in ("200", "404", "500"):
            self.assertTrue(any(k[2] == status for k in tally.received), f"no {status} received")
        after = self.assert_counted_exactly(before, tally)
        if after is not None:
            deadline = time.monotonic() + SETTLE_S
            while (inflight := after.value("fraiseql_http_requests_in_flight", **self._svc())) != 0 \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
                after = Env.scrape()
            self.assertEqual(inflight, 0, "requests still in flight after every response arrived")

    # -- b ------------------------------------------------------------------------------------

    def test_b_keepalive_connection_from_before_start(self) -> None:
        conn = Env.preconn
        self.assertTrue(conn is not None and not conn.closed,
                        "the connection opened before the collector started is gone")
        before = self.scrape()
        rng = hc.random.Random(OPTS.seed + 1)
        f = hc.Factory(rng)
        tally = hc.Tally()
        hc.run_sequential(conn, [f.health(), f.item(), f.notfound(), f.boom(), f.graphql(),
                                 f.echo(100), f.echo(20 * 1024), f.echo_chunked()]
                          + [f.any() for _ in range(22)], tally)
        hc.run_pipelined(conn, [f.health(), f.item(), f.graphql(), f.notfound(), f.echo(100)], tally)
        self.assertEqual(tally.total_sent, 35)
        self.assert_counted_exactly(before, tally)

    # -- c ------------------------------------------------------------------------------------

    def test_c_app_restart_picked_up(self) -> None:
        old_pid = Env.app.pid
        if Env.preconn:
            Env.preconn.close()
        base = self.scrape()
        probes_base = base.value(REQS, endpoint=PROBE, **self._svc()) if base else 0.0
        Env.app.stop()
        t_down = time.monotonic()
        targets_down = None
        if base:   # note what the targets gauge does while the app is down (informational)
            time.sleep(0.5)
            targets_down = Env.scrape().value("fraiseql_collector_targets", default=-1)
        Env.start_app()
        t_up = time.monotonic()
        self.assertNotEqual(Env.app.pid, old_pid)
        print(f"\n[e2e] c: app restarted: pid {old_pid} -> {Env.app.pid}, listening "
              f"{t_up - t_down:.2f} s after kill; targets gauge while down: {targets_down}",
              file=sys.stderr)
        if base:
            # Probe with one request per new connection on an endpoint of its own, until one is
            # counted. Upper bound of the pickup time: send time of the last probe sent before
            # the scrape that first shows a probe.
            pickup = None
            last_send = None
            while time.monotonic() - t_up < 10:
                last_send = time.monotonic() - t_up
                hc.run_single(HOST, Env.app_port, hc.Req("GET", PROBE, 404), hc.Tally())
                time.sleep(0.05)
                if Env.scrape().value(REQS, endpoint=PROBE, **self._svc()) > probes_base:
                    pickup = last_send
                    break
                time.sleep(0.05)
            targets = Env.scrape().value("fraiseql_collector_targets", default=-1)
            print(f"[e2e] c: first probe counted; pickup <= {pickup if pickup is None else round(pickup, 3)} s "
                  f"after the new process listened; targets gauge now {targets}", file=sys.stderr)
            self.assertIsNotNone(pickup, "the restarted app was not picked up within 10 s")
            self.assertLessEqual(pickup, 2.0, f"pickup took {pickup:.2f} s (> 2 s)")
            time.sleep(0.3)   # let any late probe events land before the 'before' scrape
        before = self.scrape()
        tally = hc.run_mixed(HOST, Env.app_port, total=200, seed=OPTS.seed + 2)
        self.assert_counted_exactly(before, tally, ignore_endpoints=(PROBE,))

    # -- d ------------------------------------------------------------------------------------

    def test_d_garbage_then_valid(self) -> None:
        before = self.scrape()
        pe_before = before.value(PARSE_ERRORS, protocol="http1") if before else 0.0
        answers = {}
        for name, payload in hc.garbage_payloads().items():
            answers[name] = hc.send_garbage(HOST, Env.app_port, payload)[:40]
        print(f"\n[e2e] d: server answers to garbage: {answers}", file=sys.stderr)
        self.assertTrue(port_open(Env.app_port), "the app died on garbage")
        if before is not None:
            deadline = time.monotonic() + SETTLE_S
            while (pe := Env.scrape().value(PARSE_ERRORS, protocol="http1")) <= pe_before \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"[e2e] d: parse_errors{{protocol=\"http1\"}} {pe_before:g} -> {pe:g}", file=sys.stderr)
            self.assertTrue(Env.collector.alive(), f"collector died:\n{Env.collector.tail()}")
            self.assertEqual(http_get(Env.metrics_url("/healthz"))[0], 200)
            self.assertGreater(pe, pe_before, 'fraiseql_collector_parse_errors_total{protocol="http1"} did not grow')
            time.sleep(0.3)
        mid = self.scrape()
        tally = hc.run_mixed(HOST, Env.app_port, total=100, seed=OPTS.seed + 3)
        self.assert_counted_exactly(mid, tally)
        if Env.collector:
            self.assertTrue(Env.collector.alive())

    # -- e ------------------------------------------------------------------------------------

    def test_e_promtool_check_metrics(self) -> None:
        if not Env.collector:
            self.skipTest("no collector (--client-only)")
        hc.run_simple(HOST, Env.app_port, 20)      # make sure histograms have samples
        time.sleep(0.5)
        status, text = http_get(Env.metrics_url("/metrics"))
        self.assertEqual(status, 200)
        with open(os.path.join(Env.log_dir, "promtool-input.txt"), "w") as f:
            f.write(text)
        rc, out = promtool_problems(text)
        self.assertEqual((rc, out), (0, ""), f"promtool check metrics:\n{out}")


# --------------------------------------------------------------------------- main

def main() -> int:
    global OPTS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collector", help="path to the fraiseql-collector binary")
    ap.add_argument("--client-only", action="store_true",
                    help="no collector: run every test's traffic and check only the client side")
    ap.add_argument("--service-name", default="fraiseql-e2e")
    ap.add_argument("--app-port", type=int, default=0, help="default: a free port")
    ap.add_argument("--metrics-port", type=int, default=0, help="default: a free port")
    ap.add_argument("--collector-arg", action="append", default=[],
                    help="extra argument for `fraiseql-collector run` (repeatable)")
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--app-access-log", action="store_true",
                    help="keep uvicorn's access log on (tests/e2e/fake_collector.py needs it)")
    ap.add_argument("--keep-services", action="store_true",
                    help="leave PostgreSQL/Redis running even if this run started them")
    OPTS, rest = parse_collector_args(ap)
    return run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
