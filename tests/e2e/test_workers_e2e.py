#!/usr/bin/env python3
"""End to end, the production shape: gunicorn with UvicornWorker workers (forked, not exec'd),
found by auto-detection (no selector, no --service-name).

  a. the master and its workers are all observed, under one service_name derived from the app
     module ("fraiseql_demo"), with no PID label: counts over every worker equal the client's;
  b. a worker killed by SIGKILL is replaced by a freshly forked one (no exec: only the kernel's
     fork hook can watch it in time) and counting stays exact.

Run: /usr/bin/python3 tests/e2e/test_workers_e2e.py --collector build/fraiseql-collector
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import unittest

import test_http_e2e as e2e  # noqa: E402  (shares the harness: Proc, Scrape, exposition parser)
import http_client as hc  # noqa: E402

OPTS: argparse.Namespace
HOST = e2e.HOST
REQS = e2e.REQS
DUR = e2e.DUR
SERVICE = "fraiseql_demo"


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Env:
    log_dir = ""
    app: e2e.Proc | None = None
    app_port = 0
    collector: e2e.Proc | None = None
    metrics_port = 0

    @classmethod
    def scrape(cls) -> e2e.Scrape:
        status, text = e2e.http_get(f"http://{HOST}:{cls.metrics_port}/metrics")
        assert status == 200, status
        return e2e.Scrape(text)


def setUpModule() -> None:  # noqa: N802
    Env.log_dir = os.path.join("/tmp/fraiseql-demo", time.strftime("e2e-workers-%Y%m%d-%H%M%S"))
    os.makedirs(Env.log_dir, exist_ok=True)
    subprocess.run([os.path.join(e2e.ROOT, "scripts", "services.sh"), "start"], check=True,
                   stdout=sys.stderr)
    Env.app_port = e2e.free_port()
    env = dict(os.environ, PYTHONPATH=os.path.join(e2e.ROOT, "demo"))
    Env.app = e2e.Proc("gunicorn", ["/usr/bin/gunicorn", "-w", "2", "-k",
                                    "uvicorn.workers.UvicornWorker", "--keep-alive", "600",
                                    "-b", f"{HOST}:{Env.app_port}", "fraiseql_demo.app:app"],
                       os.path.join(Env.log_dir, "gunicorn.log"), cwd=os.path.join(e2e.ROOT, "demo"),
                       env=env)
    deadline = time.monotonic() + 30
    while not (e2e.port_open(Env.app_port) and len(children(Env.app.pid)) == 2):
        if not Env.app.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start:\n{Env.app.tail()}")
        time.sleep(0.1)
    Env.metrics_port = e2e.free_port()
    # Auto-detection: no --pid/--port/--cmdline, no --service-name.
    Env.collector = e2e.start_collector(
        "collector", [OPTS.collector, "run", "--listen", f"{HOST}:{Env.metrics_port}"],
        Env.metrics_port, Env.log_dir)


def tearDownModule() -> None:  # noqa: N802
    for p in (Env.collector, Env.app):
        if p:
            p.stop()


class WorkersE2E(unittest.TestCase):
    def counts(self, s: e2e.Scrape) -> tuple:
        return (s.by(REQS, ("method", "endpoint", "status"), service_name=SERVICE),
                s.by(DUR + "_count", ("method", "endpoint"), service_name=SERVICE))

    def assert_exact(self, before: e2e.Scrape, tally: hc.Tally) -> None:
        want_req = {k: v for k, v in tally.received.items()}
        want_dur = dict(tally.duration_counts())
        deadline = time.monotonic() + e2e.SETTLE_S
        while True:
            after = Env.scrape()
            r1, d1 = self.counts(after)
            r0, d0 = self.counts(before)
            got_req = {k: r1[k] - r0[k] for k in r1 if r1[k] - r0[k]}
            got_dur = {k: d1[k] - d0[k] for k in d1 if d1[k] - d0[k]}
            if (got_req, got_dur) == (want_req, want_dur) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(got_req, want_req)
        self.assertEqual(got_dur, want_dur)
        services = {dict(k).get("service_name") for k in after.select(REQS)}
        self.assertEqual(services, {SERVICE}, "every worker must aggregate under one service")

    def test_a_all_workers_one_service(self) -> None:
        s = Env.scrape()
        self.assertEqual(s.value("fraiseql_collector_targets"), 3,
                         f"master + 2 workers expected:\n{Env.collector.tail()}")
        before = s
        tally = hc.run_mixed(HOST, Env.app_port, total=400, seed=11)
        self.assert_exact(before, tally)

    def test_b_replacement_worker_is_observed(self) -> None:
        old = children(Env.app.pid)
        self.assertEqual(len(old), 2)
        os.kill(old[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            now = children(Env.app.pid)
            if len(now) == 2 and old[0] not in now:
                break
            self.assertLess(time.monotonic(), deadline, "gunicorn did not replace the worker")
            time.sleep(0.05)
        new = [p for p in now if p not in old][0]
        # Wait until the new worker accepts (it opens its pool first).
        time.sleep(1.0)
        before = Env.scrape()
        self.assertEqual(before.value("fraiseql_collector_targets"), 3, Env.collector.tail())
        # Enough one-connection-per-request traffic that both workers take some of it.
        tally = hc.Tally()
        for _ in range(200):
            hc.run_single(HOST, Env.app_port, hc.Req("GET", "/health", 200), tally)
        self.assert_exact(before, tally)
        with open(Env.collector.log_path) as f:
            self.assertIn(f"observing pid {new}", f.read())


def main() -> int:
    global OPTS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--collector", required=True)
    OPTS, rest = ap.parse_known_args()
    return e2e.run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
