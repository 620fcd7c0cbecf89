#!/usr/bin/env python3
"""Components switched off by the configuration model, end to end, on the GraphQL demo app
(PostgreSQL + Redis per request). Collectors run side by side on the same traffic:

  reference   every component on (--libpq-uprobes on): proves the families below do appear;
  no-db-cache FRAISEQL_DATABASE_MONITORING_ENABLED=false, FRAISEQL_CACHE_MONITORING_ENABLED=
              false (env), --libpq-uprobes on (flag): HTTP and GraphQL counts stay exact, no
              fraiseql_db_*, fraiseql_redis_*, fraiseql_cache_* family, no pgsql/redis bytes
              parsed, no libpq library and no Python context hooked;
  no-metrics  a YAML file with metrics.enabled: false: only fraiseql_collector_* families;
  no-prom     FRAISEQL_PROMETHEUS_ENABLED=false: /metrics answers 404, /healthz and /readyz 200;
  idle        FRAISEQL_OBSERVABILITY_ENABLED=false: health answers, no BPF program is held by
              the collector process (its fds), nothing in /metrics but build info.

Run: /usr/bin/python3 tests/e2e/test_components_e2e.py --collector build/fraiseql-collector
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import unittest

import graphql_client as gc
import test_graphql_e2e as gq
import test_http_e2e as e2e

OPTS: argparse.Namespace
HOST = e2e.HOST
REQUESTS = 120
APP_FAMILIES = ("fraiseql_db_", "fraiseql_redis_", "fraiseql_cache_")


class Collector:
    def __init__(self, name: str, extra: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = e2e.free_port()
        argv = [OPTS.collector, "run", "--cmdline", f"instance={gq.G.token}",
                "--listen", f"{HOST}:{self.port}", "--slow-query-log", ""] + extra
        old = dict(os.environ)
        os.environ.update(env or {})
        try:
            self.proc = e2e.start_collector(f"collector-{name}", argv, self.port, gq.G.log_dir)
        finally:
            os.environ.clear()
            os.environ.update(old)

    def get(self, path: str) -> tuple[int, str]:
        return e2e.http_get(f"http://{HOST}:{self.port}{path}")

    def scrape(self) -> e2e.Scrape:
        status, text = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"{self.name}: /metrics answered {status}")
        return e2e.Scrape(text)

    def families(self) -> set[str]:
        _, text = self.get("/metrics")
        return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def http_total(s: e2e.Scrape, service: str) -> float:
    return sum(s.select("fraiseql_http_requests_total", service_name=service).values())


def bpf_programs_held_by(pid: int) -> int:
    """BPF program file descriptors the process holds (anon_inode:bpf-prog)."""
    fd_dir = f"/proc/{pid}/fd"
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            n += os.readlink(os.path.join(fd_dir, fd)) == "anon_inode:bpf-prog"
        except OSError:
            pass
    return n


class ComponentsE2E(unittest.TestCase):
    cols: dict[str, Collector] = {}
    app: gq.App

    @classmethod
    def setUpClass(cls) -> None:
        yaml_path = os.path.join(gq.G.log_dir, "no-metrics.yaml")
        with open(yaml_path, "w") as f:
            f.write("metrics:\n  enabled: false\n")
        off = {"FRAISEQL_DATABASE_MONITORING_ENABLED": "false",
               "FRAISEQL_CACHE_MONITORING_ENABLED": "false"}
        cls.cols = {
            "reference": Collector("reference", ["--libpq-uprobes", "on"]),
            "no-db-cache": Collector("no-db-cache", ["--libpq-uprobes", "on"], off),
            "no-metrics": Collector("no-metrics", ["--config", yaml_path]),
            "no-prom": Collector("no-prom", [], {"FRAISEQL_PROMETHEUS_ENABLED": "false"}),
            "idle": Collector("idle", [], {"FRAISEQL_OBSERVABILITY_ENABLED": "false"}),
        }
        cls.app = gq.G.app("components", "asyncio")
        ref = cls.cols["reference"]
        # The reference must see the app (and its libpq) before traffic starts.
        deadline = time.monotonic() + 30
        while ref.scrape().value("fraiseql_collector_libpq_libraries") < 1:
            if time.monotonic() > deadline:
                raise AssertionError("reference collector did not attach libpq uprobes:\n"
                                     + ref.proc.tail())
            time.sleep(0.2)
        reqs = gc.make_plan(REQUESTS, OPTS.seed, "comp")
        cls.results = gc.run_load(HOST, cls.app.port, reqs, 4)
        cls.settle()

    @classmethod
    def settle(cls) -> None:
        want = len(cls.results)
        deadline = time.monotonic() + 20
        for name in ("reference", "no-db-cache"):
            while http_total(cls.cols[name].scrape(), cls.app.service) < want:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} did not count {want} requests:\n"
                                         + cls.cols[name].proc.tail())
                time.sleep(0.2)
        time.sleep(0.5)

    @classmethod
    def tearDownClass(cls) -> None:
        for c in cls.cols.values():
            c.proc.stop()

    def test_a_reference_has_every_family(self) -> None:
        fams = self.cols["reference"].families()
        for prefix in APP_FAMILIES:
            self.assertTrue(any(f.startswith(prefix) for f in fams), f"reference lacks {prefix}*")
        s = self.cols["reference"].scrape()
        self.assertGreater(sum(s.select("fraiseql_collector_python_contexts_total").values()), 0)

    def test_b_database_and_cache_off(self) -> None:
        col = self.cols["no-db-cache"]
        fams = col.families()
        for prefix in APP_FAMILIES:
            self.assertEqual([f for f in fams if f.startswith(prefix)], [],
                             f"{prefix}* exported with its component off")
        s = col.scrape()
        ref = self.cols["reference"].scrape()
        svc = self.app.service
        self.assertEqual(http_total(s, svc), len(self.results))
        self.assertEqual(http_total(s, svc), http_total(ref, svc))
        ops = "fraiseql_graphql_queries_total"
        self.assertEqual(s.by(ops, ("operation_name",), service_name=svc),
                         ref.by(ops, ("operation_name",), service_name=svc))
        self.assertEqual(s.value("fraiseql_collector_libpq_libraries"), 0)
        self.assertEqual(sum(s.select("fraiseql_collector_python_contexts_total").values()), 0)
        # The app's pool keeps its PostgreSQL and Redis connections open: the reference tracks
        # (parses) them, the collector with both components off tracks none.
        conns = "fraiseql_collector_tracked_connections"
        for proto in ("pgsql", "redis"):
            self.assertEqual(s.value(conns, protocol=proto), 0,
                             f"{proto} connections tracked with its component off")
            self.assertGreater(ref.value(conns, protocol=proto), 0,
                               f"reference tracks no {proto} connection")

    def test_c_metrics_off_exports_self_metrics_only(self) -> None:
        fams = self.cols["no-metrics"].families()
        self.assertTrue(fams, "no family at all")
        self.assertEqual([f for f in fams if not f.startswith("fraiseql_collector_")], [])

    def test_d_prometheus_off(self) -> None:
        col = self.cols["no-prom"]
        self.assertEqual(col.get("/metrics")[0], 404)
        self.assertEqual(col.get("/healthz")[0], 200)
        self.assertEqual(col.get("/readyz")[0], 200)

    def test_e_observability_off_attaches_nothing(self) -> None:
        col = self.cols["idle"]
        self.assertEqual(col.get("/healthz")[0], 200)
        self.assertEqual(col.get("/readyz")[0], 200)
        self.assertEqual(bpf_programs_held_by(col.proc.p.pid), 0)
        self.assertGreater(bpf_programs_held_by(self.cols["reference"].proc.p.pid), 0,
                            "bpftool shows no program for the reference collector either")
        # The registry's own overflow counter and the build info; no pipeline or kernel family.
        self.assertEqual(self.cols["idle"].families(),
                         {"fraiseql_collector_build_info", "fraiseql_collector_series_overflow_total"})


def setUpModule() -> None:  # noqa: N802
    gq.OPTS = OPTS
    gq.G.log_dir = os.path.join("/tmp/fraiseql-demo", time.strftime("e2e-comp-%Y%m%d-%H%M%S"))
    os.makedirs(gq.G.log_dir, exist_ok=True)
    gq.G.token = f"compe2e-{os.getpid()}-{int(time.time())}"
    subprocess.run([os.path.join(e2e.ROOT, "scripts", "services.sh"), "start"], check=True,
                   stdout=sys.stderr)
    gq.pg.psql_su(gq.SETUP_SQL)
    gq.G.redis = gq.RedisServer(gq.G.log_dir)


def tearDownModule() -> None:  # noqa: N802
    for app in gq.G.apps.values():
        app.proc.stop()
    gq.G.redis.proc.stop()
    e2e._cleanup_all()


def main() -> int:
    global OPTS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--collector", required=True)
    ap.add_argument("--seed", type=int, default=11)
    OPTS, rest = ap.parse_known_args()
    return e2e.run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
