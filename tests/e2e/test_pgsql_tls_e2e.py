#!/usr/bin/env python3
"""PostgreSQL over TLS, end to end: a throwaway PostgreSQL 15 with ssl=on (self-signed
certificate made here) and a psycopg client with sslmode=require.

  a. --libpq-uprobes auto: the collector sees the SSLRequest answered 'S', attaches libpq
     uprobes to the client process, and counts its queries with normalized SQL exactly as the
     client ran them (query_type, table_name, outcome, SQLSTATE), no wire parse errors;
  b. --libpq-uprobes off: the same connection is reported as encrypted, not misparsed: no
     query counted, no parse error.

Run: /usr/bin/python3 tests/e2e/test_pgsql_tls_e2e.py --collector build/fraiseql-collector
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import test_http_e2e as e2e  # noqa: E402

OPTS: argparse.Namespace
HOST = e2e.HOST
PG_BIN = "/usr/lib/postgresql/15/bin"


class TlsPostgres:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="fql-e2e-pgtls-")
        self.port = e2e.free_port()
        d = self.dir
        as_pg = "runuser -u postgres -- "
        script = f"""set -e; cd {d}
openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 2 \
  -subj /CN=localhost >openssl.log 2>&1
chown -R postgres:postgres {d}; chmod 700 {d}; chmod 600 server.key
{as_pg}{PG_BIN}/initdb -D {d}/data -A trust -U postgres >initdb.log 2>&1
printf 'local all all trust\\nhostssl all all 127.0.0.1/32 trust\\n' > data/pg_hba.conf
cat >> data/postgresql.conf <<CONF
port = {self.port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{d}'
ssl = on
ssl_cert_file = '{d}/server.crt'
ssl_key_file = '{d}/server.key'
fsync = off
max_connections = 20
CONF
chown postgres:postgres data/pg_hba.conf
{as_pg}{PG_BIN}/pg_ctl -D {d}/data -l {d}/pg.log -w -t 60 start >pgctl.log 2>&1
"""
        subprocess.run(["bash", "-c", script], check=True)
        self.dsn = f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres sslmode=require"

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D",
                        f"{self.dir}/data", "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


class Run:
    """A workload process watched by its own collector."""

    def __init__(self, pg: TlsPostgres, log_dir: str, name: str, uprobes: str) -> None:
        self.work = subprocess.Popen([e2e.PY, os.path.join(e2e.HERE, "pg_tls_workload.py"), pg.dsn],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = json.loads(self.work.stdout.readline())["pid"]
        self.metrics_port = e2e.free_port()
        self.collector = e2e.start_collector(
            f"collector-{name}",
            [OPTS.collector, "run", "--pid", str(self.pid), "--listen",
             f"{HOST}:{self.metrics_port}", "--service-name", "tls-e2e", "--libpq-uprobes",
             uprobes],
            self.metrics_port, log_dir)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.metrics_port}{path}"

    def scrape(self) -> e2e.Scrape:
        return e2e.Scrape(e2e.http_get(self.url("/metrics"))[1])

    def send(self, line: str) -> None:
        self.work.stdin.write(line + "\n")
        self.work.stdin.flush()

    def stop(self) -> None:
        if self.work.poll() is None:
            self.work.kill()
        self.work.wait()
        self.work.stdin.close()
        self.work.stdout.close()
        self.collector.stop()


class PgTlsE2E(unittest.TestCase):
    pg: TlsPostgres
    log_dir: str

    @classmethod
    def setUpClass(cls) -> None:
        cls.log_dir = os.path.join("/tmp/fraiseql-demo", time.strftime("e2e-pgtls-%Y%m%d-%H%M%S"))
        os.makedirs(cls.log_dir, exist_ok=True)
        cls.pg = TlsPostgres()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.pg.stop()

    def wait_for(self, run: Run, pred, what: str, timeout: float = 10.0) -> e2e.Scrape:
        deadline = time.monotonic() + timeout
        while True:
            s = run.scrape()
            if pred(s):
                return s
            self.assertLess(time.monotonic(), deadline, f"{what}:\n{run.collector.tail()}")
            time.sleep(0.1)

    def test_a_uprobes_count_tls_queries(self) -> None:
        run = Run(self.pg, self.log_dir, "auto", "auto")
        try:
            run.send("connect")
            self.assertTrue(json.loads(run.work.stdout.readline())["connected"])
            self.wait_for(run, lambda s: s.value("fraiseql_collector_libpq_libraries") >= 1,
                          "libpq uprobes were not attached after the TLS handshake")
            run.send("go")
            plan = json.loads(run.work.stdout.readline())
            run.work.wait(30)
            q = "fraiseql_db_queries_total"
            want = {(k.split()[0], k.split()[1], "success"): v for k, v in plan.items()
                    if not k.startswith("errors")}
            want[("SELECT", "none", "error")] = plan["errors_22012"]
            s = self.wait_for(run, lambda s: sum(s.select(q).values()) >= sum(want.values()),
                              "not every TLS query was counted")
            time.sleep(0.5)
            s = run.scrape()
            got = dict(s.by(q, ("query_type", "table_name", "outcome"), service_name="tls-e2e"))
            self.assertEqual(got, want)
            self.assertEqual(s.value("fraiseql_db_errors_total", service_name="tls-e2e",
                                     sqlstate="22012"), plan["errors_22012"])
            self.assertGreaterEqual(
                s.value("fraiseql_collector_encrypted_connections_total", protocol="pgsql"), 1)
            self.assertEqual(s.value("fraiseql_collector_parse_errors_total", protocol="pgsql"), 0)
            self.assertGreater(s.value("fraiseql_collector_libpq_queries_total", result="counted"), 0)
        finally:
            run.stop()

    def test_b_uprobes_off_reports_encrypted(self) -> None:
        run = Run(self.pg, self.log_dir, "off", "off")
        try:
            run.send("connect")
            self.assertTrue(json.loads(run.work.stdout.readline())["connected"])
            run.send("go")
            json.loads(run.work.stdout.readline())
            run.work.wait(30)
            s = self.wait_for(
                run, lambda s: s.value("fraiseql_collector_encrypted_connections_total",
                                       protocol="pgsql") >= 1,
                "the TLS connection was not reported as encrypted")
            time.sleep(0.5)
            s = run.scrape()
            self.assertEqual(sum(s.select("fraiseql_db_queries_total").values()), 0,
                             "TLS bytes must not be parsed as queries")
            self.assertEqual(s.value("fraiseql_collector_parse_errors_total", protocol="pgsql"), 0)
            self.assertEqual(s.value("fraiseql_collector_libpq_libraries"), 0)
        finally:
            run.stop()


def main() -> int:
    global OPTS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--collector", required=True)
    OPTS, rest = ap.parse_known_args()
    return e2e.run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
