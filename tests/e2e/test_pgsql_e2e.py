#!/usr/bin/python3
"""End to end, the database side: PostgreSQL 15 with pg_stat_statements, fraiseql-collector, and
three clients of it, each in its own process so the collector watches exactly that process
(--pid): tests/e2e/pg_workload.py (psycopg 3), tests/e2e/node/pg_client.js (porsager/postgres,
no libpq, pipelined on one connection) and the demo app (uvicorn + psycopg pool).

    /usr/bin/python3 tests/e2e/test_pgsql_e2e.py --collector build/fraiseql-collector [-v] [TEST...]

Root, Debian's /usr/bin/python3 (psycopg 3), node + npm. Shares the harness of test_http_e2e.py
(Proc, Scrape, exposition parser, free_port).

Isolation: each client logs in as its own role (e2e_pg_py, e2e_pg_node, e2e_pg_demo), so
pg_stat_statements rows are selected by userid = that role and dbid = fraiseql, and reset per
role (`pg_stat_statements_reset(role_oid, 0, 0)` as superuser) right before each measured phase:
other users' statistics (other engineers' runs) are neither read nor wiped. The psycopg and node
roles are members of e2e_pg_owner, which owns schema e2e_pg (tables items, log, copy_in,
fraiseql_cache; recreated before every test, so every run has the same outcomes); e2e_pg_demo is a member of fraiseql (the demo schema's
owner). Connections carry application_name = the phase's name (connection gauges are compared
with pg_stat_activity filtered by it).

Canonical statement form (canonical() below), applied to the collector's normalized SQL
(GET /api/v1/statements), to pg_stat_statements.query and to the client's own SQL text: a
PostgreSQL-ish lexer drops comments and whitespace; string/dollar-quoted literals, numbers,
placeholders ($n, ?, %s, %(name)s) all become "?"; words are lower-cased, quoted identifiers kept;
tokens are joined by one space; "in ( ? , ? )" collapses to "in ( ? )", "values (...), (...)" to
its first row; a trailing ";" is dropped. So `SELECT 1` (collector `SELECT ?`, pg_stat_statements
`SELECT $1`) and `SET LOCAL app.request_id = '<uuid>'` (PG 15 keeps utility statements' literals)
compare equal. Rows are summed per canonical form on each side.

Equalities asserted per canonical statement:
  collector calls - collector errors == pg_stat_statements calls == client completions
  collector errors == client failures
(pg_stat_statements never counts a statement that failed; statements the server skipped after an
error in a pipeline are counted by nobody; pg_stat_statements never tracks PREPARE/EXECUTE/
DEALLOCATE, so psycopg's own `DEALLOCATE ALL` (sent after a ROLLBACK while it has prepared
statements; the workload counts it) compares with the client only.) Plus: fraiseql_db_errors_total by SQLSTATE == the
client's, fraiseql_db_queries_total and the duration histogram count == all client statements,
fraiseql_cache_{hits,misses}_total{cache_type="postgres"} == the plan, the transaction histogram
count == the client's explicit transactions, fraiseql_db_connections == pg_stat_activity rows with
the phase's application_name (and _active 0 / _idle == it when the client is idle).

Tests:
  a. psycopg workload, collector started before any connection: simple, parameterised, one
     statement 10x (prepared by psycopg after 5), pipeline mode (with an error), 22012 + 23505,
     committed / rolled back / failed transactions, COPY in + out, cache table hits/misses,
     every pool connection at once
  b. garbage on connections to 5432 from the same process (random bytes, an HTTP request, a huge
     startup length; a valid StartupMessage then random bytes / a huge message / HTTP): the
     collector survives, parse errors grow, and a later batch is still exact
  c. the same workload with the pool (and the dedicated connection) opened before the collector
  d. node + postgres (npm), max: 1: 50 concurrent queries pipelined on one connection + errors
  e. the demo app: N GraphQL requests -> per-request statements exact vs pg_stat_statements
Logs: /tmp/fraiseql-demo/e2e-pgsql-<time>/.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import unittest
import urllib.request

import test_http_e2e as e2e  # noqa: E402  (shares the harness: Proc, Scrape, exposition parser)

OPTS: argparse.Namespace
HOST = e2e.HOST
PY = e2e.PY
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = e2e.ROOT
DB = "fraiseql"
PASSWORD = "fraiseql"
SETTLE_S = 10.0

PARSE_ERRORS = "fraiseql_collector_parse_errors_total"


# --------------------------------------------------------------------------- canonical SQL

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<lc>--[^\n]*)
  | (?P<bc>/\*.*?\*/)
  | (?P<str>(?:[EeBbXxNn]|[Uu]&)?'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?\$(?P=tag)?\$)
  | (?P<param>\$\d+|%s|%\(\w+\)s|\?)
  | (?P<num>0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
  | (?P<qid>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*)
  | (?P<op>::|<=|>=|<>|!=|\|\||.)
""", re.S | re.X)


def canonical(sql: str) -> str:
    toks: list[str] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup if m.lastgroup != "tag" else "dollar"
        if kind in ("ws", "lc", "bc"):
            continue
        if kind in ("str", "dollar", "param", "num"):
            toks.append("?")
        elif kind == "word":
            toks.append(m.group().lower())
        else:
            toks.append(m.group())
    s = " ".join(toks)
    s = re.sub(r"\bin \( \?(?: , \?)* \)", "in ( ? )", s)
    s = re.sub(r"\b(values \([^()]*\))(?: , \([^()]*\))+", r"\1", s)
    return s[:-2] if s.endswith(" ;") else s.rstrip(";").rstrip()


# --------------------------------------------------------------------------- PostgreSQL

def psql_su(sql: str, db: str = DB) -> str:
    r = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-tA",
                        "-v", "ON_ERROR_STOP=1", "-d", db],
                       input=sql.encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.decode(errors='replace')}\n{sql[:500]}")
    return r.stdout.decode()


SETUP_SQL = f"""
SET client_min_messages = warning;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'e2e_pg_owner') THEN
    CREATE ROLE e2e_pg_owner NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'e2e_pg_py') THEN
    CREATE ROLE e2e_pg_py LOGIN IN ROLE e2e_pg_owner; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'e2e_pg_node') THEN
    CREATE ROLE e2e_pg_node LOGIN IN ROLE e2e_pg_owner; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'e2e_pg_demo') THEN
    CREATE ROLE e2e_pg_demo LOGIN IN ROLE fraiseql; END IF;
END $$;
ALTER ROLE e2e_pg_py PASSWORD '{PASSWORD}';
ALTER ROLE e2e_pg_node PASSWORD '{PASSWORD}';
ALTER ROLE e2e_pg_demo PASSWORD '{PASSWORD}';
DROP SCHEMA IF EXISTS e2e_pg CASCADE;
CREATE SCHEMA e2e_pg AUTHORIZATION e2e_pg_owner;
SET ROLE e2e_pg_owner;
CREATE TABLE e2e_pg.items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0);
INSERT INTO e2e_pg.items SELECT g, 'item-' || g, g % 7 FROM generate_series(1, 100) g;
CREATE TABLE e2e_pg.log (id bigserial PRIMARY KEY, item_id int, note text);
CREATE TABLE e2e_pg.copy_in (id int, v text);
CREATE UNLOGGED TABLE e2e_pg.fraiseql_cache (key text PRIMARY KEY, value jsonb NOT NULL);
RESET ROLE;
"""


def pss_reset(role: str) -> None:
    psql_su(f"SELECT pg_stat_statements_reset('{role}'::regrole::oid, 0, 0)")


def pss_rows(role: str) -> list[tuple[str, int]]:
    out = psql_su(
        "SELECT coalesce(json_agg(json_build_array(query, calls)), '[]') FROM pg_stat_statements "
        f"WHERE userid = '{role}'::regrole AND dbid = (SELECT oid FROM pg_database WHERE datname = '{DB}')")
    return [(q, int(c)) for q, c in json.loads(out)]


def pg_activity(app_name: str) -> tuple[int, int]:
    """(connections, of which busy) with this application_name. Busy = running a statement or in
    a transaction (state 'active' or 'idle in transaction[ (aborted)]'), the collector's
    definition of an active connection."""
    out = psql_su("SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'active' "
                  "OR state LIKE 'idle in transaction%') "
                  f"FROM pg_stat_activity WHERE application_name = '{app_name}'").split()
    return int(out[0]), int(out[1])


def dsn(role: str, app_name: str) -> str:
    return f"postgresql://{role}:{PASSWORD}@{HOST}:5432/{DB}?application_name={app_name}"


# --------------------------------------------------------------------------- processes

class PipeProc(e2e.Proc):
    """A child driven through stdin/stdout JSON lines (stderr to a log file)."""

    def __init__(self, name: str, argv: list[str], log_path: str, cwd: str | None = None,
                 env: dict | None = None) -> None:
        import subprocess as sp
        self.name, self.argv, self.log_path = name, argv, log_path
        self.log = open(log_path, "ab")
        self.log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        self.log.flush()
        self.p = sp.Popen(argv, cwd=cwd, env=env, stdin=sp.PIPE, stdout=sp.PIPE, stderr=self.log,
                          start_new_session=True)
        e2e.ALL_PROCS.append(self)

    def send(self, line: str) -> None:
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def recv(self, timeout: float = 120.0) -> dict:
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline() if r else b""
        if not line:
            raise RuntimeError(f"{self.name}: no answer (alive={self.alive()}):\n{self.tail()}")
        return json.loads(line)

    def call(self, cmd: str, timeout: float = 120.0, **args) -> dict:
        self.send(json.dumps({"cmd": cmd, **args}))
        reply = self.recv(timeout)
        if not reply.get("ok", True):
            raise RuntimeError(f"{self.name} {cmd}: {reply.get('error')}\n{self.tail()}")
        return reply


class Collector:
    def __init__(self, name: str, pids: list[int], service: str, extra: list[str] | None = None):
        self.service = service
        self.port = e2e.free_port()
        argv = [OPTS.collector, "run", "--listen", f"{HOST}:{self.port}", "--service-name", service]
        for pid in pids:
            argv += ["--pid", str(pid)]
        argv += (extra or []) + OPTS.collector_arg
        self.proc = e2e.start_collector(f"collector-{name}", argv, self.port, Env.log_dir)
        # Ready = watching; give the kernel map a moment before the first connection.
        time.sleep(0.3)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def scrape(self) -> e2e.Scrape:
        status, text = e2e.http_get(self.url("/metrics"))
        assert status == 200, status
        return e2e.Scrape(text)

    def statements(self) -> list[dict]:
        status, text = e2e.http_get(self.url("/api/v1/statements"))
        if status != 200:
            raise AssertionError(f"/api/v1/statements answered {status}: {text[:200]}")
        return [s for s in json.loads(text)["statements"] if s["service_name"] == self.service]

    def stop(self) -> None:
        self.proc.stop()


class Env:
    log_dir = ""
    node_modules = ""


def setUpModule() -> None:  # noqa: N802
    Env.log_dir = os.path.join("/tmp/fraiseql-demo", time.strftime("e2e-pgsql-%Y%m%d-%H%M%S"))
    os.makedirs(Env.log_dir, exist_ok=True)
    print(f"\n[pg-e2e] logs in {Env.log_dir}", file=sys.stderr)
    subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), "start"], check=True,
                   stdout=sys.stderr)
    psql_su(SETUP_SQL)


def tearDownModule() -> None:  # noqa: N802
    e2e._cleanup_all()


# --------------------------------------------------------------------------- comparisons

def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def sum_by_canonical(pairs) -> collections.Counter:
    out: collections.Counter = collections.Counter()
    for q, n in pairs:
        out[canonical(q)] += n
    return out


def coll_counts(stmts: list[dict]) -> tuple[collections.Counter, collections.Counter]:
    calls = sum_by_canonical((s["query"], s["calls"]) for s in stmts)
    errors = sum_by_canonical((s["query"], s["errors"]) for s in stmts)
    return calls, errors


def sub(a: collections.Counter, b: collections.Counter) -> collections.Counter:
    out = collections.Counter(a)
    out.subtract(b)
    return out


class PgE2E(unittest.TestCase):
    maxDiff = None

    # -- helpers ------------------------------------------------------------------------------

    def setUp(self) -> None:
        psql_su(SETUP_SQL)   # same rows in e2e_pg for every test: the same outcomes

    def start_workload(self, name: str, app_name: str) -> PipeProc:
        w = PipeProc(name, [PY, os.path.join(HERE, "pg_workload.py"), "--dsn",
                            dsn("e2e_pg_py", app_name), "--app-name", app_name],
                     os.path.join(Env.log_dir, f"{name}.log"))
        hello = w.recv(30)
        self.assertEqual(hello["pid"], w.pid)
        return w

    def statement_diff(self, col: Collector, base: list[dict], role: str, tally: dict) -> tuple[str, dict]:
        """'' when collector == pg_stat_statements == client for every canonical statement."""
        c_calls, c_err = coll_counts(col.statements())
        b_calls, b_err = coll_counts(base)
        c_calls, c_err = sub(c_calls, b_calls), sub(c_err, b_err)
        pss = sum_by_canonical(pss_rows(role))
        cl_ok = sum_by_canonical(tally["calls"].items())
        cl_err = sum_by_canonical(tally["errors"].items())
        keys = {k for k in set(c_calls) | set(pss) | set(cl_ok) | set(cl_err)
                if c_calls[k] or pss[k] or cl_ok[k] or cl_err[k]}
        lines, table = [], {}
        for k in sorted(keys):
            row = {"collector_calls": c_calls[k], "collector_errors": c_err[k], "pss_calls": pss[k],
                   "client_ok": cl_ok[k], "client_errors": cl_err[k]}
            table[k] = row
            # pg_stat_statements never tracks PREPARE, EXECUTE and DEALLOCATE (pgss_ProcessUtility
            # skips them): those compare with the client only.
            want_pss = 0 if re.match(r"(deallocate|prepare|execute)\b", k) else cl_ok[k]
            if not (c_calls[k] - c_err[k] == cl_ok[k] and pss[k] == want_pss
                    and c_err[k] == cl_err[k]):
                lines.append(f"  {k!r}: {row}")
        return "\n".join(lines), table

    def assert_statements_exact(self, col: Collector, base: list[dict], role: str, tally: dict,
                                label: str) -> dict:
        deadline = time.monotonic() + SETTLE_S
        while True:
            diff, table = self.statement_diff(col, base, role, tally)
            if not diff or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        path = os.path.join(Env.log_dir, f"{label}.statements.json")
        with open(path, "w") as f:
            json.dump({"table": table, "collector": col.statements(), "pss": pss_rows(role),
                       "client": tally}, f, indent=1)
        n_ok = sum(r["client_ok"] for r in table.values())
        n_err = sum(r["client_errors"] for r in table.values())
        print(f"\n[pg-e2e] {label}: {len(table)} canonical statements, client {n_ok} completed + "
              f"{n_err} failed; pg_stat_statements calls {sum(r['pss_calls'] for r in table.values())}; "
              f"collector calls {sum(r['collector_calls'] for r in table.values())} "
              f"(errors {sum(r['collector_errors'] for r in table.values())})", file=sys.stderr)
        self.assertEqual(diff, "", f"{label}: per-statement counts differ (details in {path})")
        return table

    def assert_metrics(self, col: Collector, before: e2e.Scrape | None, tally: dict, label: str,
                       app_name: str | None, cache: bool = False) -> e2e.Scrape:
        svc = {"service_name": col.service}

        def delta(s: e2e.Scrape, name: str, keys=(), **m) -> collections.Counter:
            got = s.by(name, keys, **svc, **m)
            if before is not None:
                got.subtract(before.by(name, keys, **svc, **m))
            return collections.Counter({k: v for k, v in got.items() if v})

        n_ok = sum(tally["calls"].values())
        n_err = sum(tally["errors"].values())
        want = {
            "errors_by_sqlstate": {(k,): float(v) for k, v in tally["sqlstates"].items() if v},
            "queries_total": float(n_ok + n_err),
            "queries_error": float(n_err),
            "duration_count": float(n_ok + n_err),
            "tx_count": float(tally["transactions"]),
        }
        if cache:
            want["cache_hits"] = float(tally["cache_hits"])
            want["cache_misses"] = float(tally["cache_misses"])
            # Every statement on the cache table is a cache operation: SELECT get, INSERT set,
            # DELETE delete (from the client's own statement texts).
            ops: collections.Counter = collections.Counter()
            verbs = {"select": "get", "insert": "set", "update": "set", "delete": "delete"}
            for sql_text, n in list(tally["calls"].items()) + list(tally["errors"].items()):
                if "fraiseql_cache" in sql_text:
                    ops[(verbs[sql_text.split()[0].lower()],)] += n
            want["cache_ops"] = {k: float(v) for k, v in ops.items()}
        deadline = time.monotonic() + SETTLE_S
        while True:
            s = col.scrape()
            got = {
                "errors_by_sqlstate": dict(delta(s, "fraiseql_db_errors_total", ("sqlstate",))),
                "queries_total": sum(delta(s, "fraiseql_db_queries_total", ("query_type",)).values()),
                "queries_error": sum(delta(s, "fraiseql_db_queries_total", ("query_type",),
                                           outcome="error").values()),
                "duration_count": sum(delta(s, "fraiseql_db_query_duration_seconds_count",
                                            ("query_type",)).values()),
                "tx_count": sum(delta(s, "fraiseql_db_transaction_duration_seconds_count").values()),
            }
            if cache:
                got["cache_hits"] = sum(delta(s, "fraiseql_cache_hits_total", cache_type="postgres").values())
                got["cache_misses"] = sum(delta(s, "fraiseql_cache_misses_total", cache_type="postgres").values())
                got["cache_ops"] = dict(delta(s, "fraiseql_cache_operation_duration_seconds_count",
                                              ("operation",), cache_type="postgres"))
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        with open(os.path.join(Env.log_dir, f"{label}.scrape.txt"), "w") as f:
            f.write(s.text)
        print(f"[pg-e2e] {label}: metrics {got}", file=sys.stderr)
        self.assertEqual(got, want, f"{label}: metric deltas differ from the client's counts")
        if app_name is not None:
            self.assert_connections(col, app_name, label)
        return s

    def assert_connections(self, col: Collector, app_name: str, label: str) -> None:
        svc = {"service_name": col.service}
        deadline = time.monotonic() + SETTLE_S
        while True:
            n, active = pg_activity(app_name)
            s = col.scrape()
            got = (s.value("fraiseql_db_connections", default=-1, **svc),
                   s.value("fraiseql_db_connections_active", default=-1, **svc),
                   s.value("fraiseql_db_connections_idle", default=-1, **svc))
            if got == (n, active, n - active) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        print(f"[pg-e2e] {label}: pg_stat_activity {n} connections ({active} active); collector "
              f"connections/active/idle {got}", file=sys.stderr)
        self.assertGreater(n, 0)
        self.assertEqual(got, (n, active, n - active), f"{label}: connection gauges vs pg_stat_activity")

    # -- a + b: psycopg, collector first; then garbage ---------------------------------------

    def test_a_psycopg_collector_first_then_garbage(self) -> None:
        app = "e2e-pg-py-a"
        w = self.start_workload("workload-a", app)
        col = Collector("a", [w.pid], "e2e-pg-py")
        try:
            pss_reset("e2e_pg_py")
            self.assertEqual(pss_rows("e2e_pg_py"), [])
            w.call("open_pool", size=3)
            tally = w.call("scenario", name="main")
            self.assertEqual(tally["sqlstates"], {"22012": 3, "23505": 2})
            self.assertEqual((tally["cache_hits"], tally["cache_misses"]), (6, 4))
            self.assertEqual(tally["transactions"], 3)
            self.assert_statements_exact(col, [], "e2e_pg_py", tally, "a-main")
            self.assert_metrics(col, None, tally, "a-main", app, cache=True)
            # One connection idle in a transaction: active 1, idle 3 on both sides.
            pss_reset("e2e_pg_py")
            w.call("hold_tx")
            self.assertEqual(pg_activity(app), (4, 1))
            self.assert_connections(col, app, "a-idle-in-transaction")
            w.call("end_tx")
            self.assert_connections(col, app, "a-after-commit")

            # b: garbage from the same (watched) process, then a batch that must still be exact.
            self.garbage_checks(col, w)
            base = col.statements()
            before = col.scrape()
            pss_reset("e2e_pg_py")
            tally_b = w.call("scenario", name="after")
            self.assert_statements_exact(col, base, "e2e_pg_py", tally_b, "b-after-garbage")
            self.assert_metrics(col, before, tally_b, "b-after-garbage", app)
            self.assertTrue(col.proc.alive())
            w.call("quit")
        finally:
            col.stop()
            w.stop()

    def garbage_checks(self, col: Collector, w: PipeProc) -> None:
        def tracked(s: e2e.Scrape) -> dict[str, float]:
            return {dict(k)["protocol"]: v
                    for k, v in s.select("fraiseql_collector_tracked_connections").items()}

        def settle(pred) -> e2e.Scrape:
            deadline = time.monotonic() + SETTLE_S
            while True:
                s = col.scrape()
                if pred(s) or time.monotonic() > deadline:
                    return s
                time.sleep(0.2)

        s0 = col.scrape()
        t0, pe0 = tracked(s0), s0.value(PARSE_ERRORS, protocol="pgsql")
        # 1. No PostgreSQL start: random bytes, an HTTP request, a startup with a huge length.
        r1 = w.call("garbage", host=HOST, port=5432, user="e2e_pg_py", database=DB, kind="at_start")
        s1 = settle(lambda s: tracked(s).get("other", 0) >= t0.get("other", 0) + 3)
        t1, pe1 = tracked(s1), s1.value(PARSE_ERRORS, protocol="pgsql")
        print(f"\n[pg-e2e] b1 garbage at connection start (server's first answer byte "
              f"{r1['answers']}): tracked connections {t0} -> {t1}; "
              f"parse_errors{{pgsql}} {pe0:g} -> {pe1:g}", file=sys.stderr)
        self.assertTrue(col.proc.alive(), f"collector died:\n{col.proc.tail()}")
        self.assertEqual(t1.get("other", 0) - t0.get("other", 0), 3,
                         "the 3 garbage-at-start connections are not classified 'other'")
        self.assertEqual(t1.get("pgsql"), t0.get("pgsql"), "garbage classified as pgsql")
        self.assertEqual(pe1, pe0, "garbage at start (not parsed as pgsql) made pgsql parse errors")
        w.call("release")
        # 2. A real StartupMessage, then random bytes / a huge declared length / HTTP.
        r2 = w.call("garbage", host=HOST, port=5432, user="e2e_pg_py", database=DB,
                    kind="after_startup")
        s2 = settle(lambda s: s.value(PARSE_ERRORS, protocol="pgsql") > pe1
                    and tracked(s).get("pgsql", 0) >= t0.get("pgsql", 0) + 3)
        t2, pe2 = tracked(s2), s2.value(PARSE_ERRORS, protocol="pgsql")
        print(f"[pg-e2e] b2 garbage after a StartupMessage (server's first answer byte "
              f"{r2['answers']}): tracked connections {t1} -> {t2}; "
              f"parse_errors{{pgsql}} {pe1:g} -> {pe2:g}", file=sys.stderr)
        self.assertTrue(col.proc.alive(), f"collector died:\n{col.proc.tail()}")
        self.assertEqual(e2e.http_get(col.url("/healthz"))[0], 200)
        self.assertEqual(t2.get("pgsql", 0) - t0.get("pgsql", 0), 3,
                         "the 3 connections that began with a StartupMessage are not pgsql")
        self.assertGreater(pe2, pe1, 'parse_errors_total{protocol="pgsql"} did not grow')
        w.call("release")

    # -- c: pool opened before the collector -------------------------------------------------

    def test_c_psycopg_pool_opened_before_collector(self) -> None:
        app = "e2e-pg-py-c"
        w = self.start_workload("workload-c", app)
        w.call("open_pool", size=3)
        w.call("warm")                  # every pool connection used once before we attach
        col = Collector("c", [w.pid], "e2e-pg-py-pre")
        try:
            pss_reset("e2e_pg_py")
            tally = w.call("scenario", name="main")
            self.assertEqual(tally["sqlstates"], {"22012": 3, "23505": 2})
            self.assertEqual((tally["cache_hits"], tally["cache_misses"]), (6, 4))
            self.assert_statements_exact(col, [], "e2e_pg_py", tally, "c-preopened")
            self.assert_metrics(col, None, tally, "c-preopened", app, cache=True)
            w.call("quit")
        finally:
            col.stop()
            w.stop()

    # -- d: node, porsager/postgres, pipelined on one connection -----------------------------

    def node_modules(self) -> str:
        if Env.node_modules:
            return Env.node_modules
        node_dir = os.path.join(HERE, "node")
        cache = OPTS.node_cache
        os.makedirs(cache, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            src, dst = os.path.join(node_dir, f), os.path.join(cache, f)
            if not os.path.exists(dst) or _read(src) != _read(dst):
                shutil.copyfile(src, dst)
                shutil.rmtree(os.path.join(cache, "node_modules"), ignore_errors=True)
        if not os.path.isdir(os.path.join(cache, "node_modules", "postgres")):
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=cache,
                               capture_output=True, timeout=300)
            if r.returncode != 0:
                self.fail(f"npm ci failed:\n{(r.stdout + r.stderr).decode(errors='replace')}")
        Env.node_modules = os.path.join(cache, "node_modules")
        return Env.node_modules

    def test_d_node_postgres_pipelined(self) -> None:
        app = "e2e-pg-node"
        env = dict(os.environ, NODE_PATH=self.node_modules())
        n = PipeProc("node", ["node", os.path.join(HERE, "node", "pg_client.js"),
                              dsn("e2e_pg_node", app), app],
                     os.path.join(Env.log_dir, "node.log"), env=env)
        hello = n.recv(30)
        self.assertEqual(hello["pid"], n.pid)
        col = Collector("d", [n.pid], "e2e-pg-node")
        try:
            pss_reset("e2e_pg_node")
            n.send("go")
            tally = n.recv(60)
            self.assertEqual(tally["sqlstates"], {"22012": 1, "23505": 1})
            # 50 concurrent + the 23505 + SELECT 42 + BEGIN, 2 statements, COMMIT
            self.assertEqual(sum(tally["calls"].values()) + sum(tally["errors"].values()), 56)
            self.assert_statements_exact(col, [], "e2e_pg_node", tally, "d-node")
            self.assert_metrics(col, None, tally, "d-node", app)
            s = col.scrape()
            writes = s.value("fraiseql_collector_events_total", kind="data")
            print(f"[pg-e2e] d: data events {writes:g}", file=sys.stderr)
            n.send("quit")
            n.p.wait(15)
        finally:
            col.stop()
            n.stop()

    # -- e: the demo app ---------------------------------------------------------------------

    def test_e_demo_app_graphql(self) -> None:
        app = "e2e-pg-demo"
        port = e2e.free_port()
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "demo"),
                   DATABASE_URL=dsn("e2e_pg_demo", app), DEMO_POOL_MIN="2", DEMO_POOL_MAX="2")
        demo = e2e.Proc("demo", [PY, "-m", "uvicorn", "fraiseql_demo.app:app", "--host", HOST,
                                 "--port", str(port), "--no-access-log"],
                        os.path.join(Env.log_dir, "demo.log"), cwd=os.path.join(ROOT, "demo"), env=env)
        deadline = time.monotonic() + 30
        while not e2e.port_open(port):
            if not demo.alive() or time.monotonic() > deadline:
                self.fail(f"demo app did not start:\n{demo.tail()}")
            time.sleep(0.05)
        # The pool's 2 connections exist before the collector: picked up mid-stream.
        col = Collector("e", [demo.pid], "e2e-pg-demo", ["--port", str(port)])
        try:
            pss_reset("e2e_pg_demo")
            per_kind = OPTS.demo_requests // 4
            plan = ([("users", {"query": "{ users(limit: 3) { id name } }"})] * per_kind
                    + [("user", {"query": "query U($id: Int!) { user(id: $id) { id name } }",
                                 "variables": {"id": 2}})] * per_kind
                    + [("items", {"query": "{ items(limit: 5) { id } }"})] * per_kind
                    + [("create", {"query": 'mutation { createUser(input: {name: "e2e"}) { id } }'})]
                    * per_kind)
            data_sql = {"users": "SELECT data FROM v_user ORDER BY id LIMIT %s",
                        "user": "SELECT data FROM v_user WHERE id = %s",
                        "items": "SELECT data FROM v_item ORDER BY id LIMIT %s",
                        "create": "SELECT * FROM app.fn_create_user(%s::jsonb)"}
            tally = {"calls": collections.Counter(), "errors": {}, "sqlstates": {},
                     "transactions": 0}
            for kind, body in plan:
                req = urllib.request.Request(f"http://{HOST}:{port}/graphql",
                                             data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    payload = json.loads(r.read())
                self.assertNotIn("errors", payload, payload)
                for q in ("BEGIN", "SELECT 1", "SET LOCAL app.request_id = 'x'", data_sql[kind],
                          "COMMIT"):
                    tally["calls"][q] += 1
                tally["transactions"] += 1
            tally["calls"] = dict(tally["calls"])
            self.assert_statements_exact(col, [], "e2e_pg_demo", tally, "e-demo")
            self.assert_metrics(col, None, tally, "e-demo", app)
        finally:
            col.stop()
            demo.stop()


class CanonicalSelfTest(unittest.TestCase):
    def test_forms(self) -> None:
        eq = self.assertEqual
        eq(canonical("SELECT 1"), canonical("SELECT $1"))
        eq(canonical("SELECT ?"), "select ?")
        eq(canonical("SET LOCAL app.request_id = 'ab-cd'"), "set local app . request_id = ?")
        eq(canonical("SELECT * FROM t WHERE id IN ($1, $2,$3)"), canonical("SELECT * FROM t WHERE id IN (?)"))
        eq(canonical("INSERT INTO t (a) VALUES ($1), ($2)"), canonical("insert into t (a) values (?)"))
        eq(canonical("SELECT %s::int + 1 -- c\n"), canonical("SELECT $1::int + 1"))
        eq(canonical("SELECT 'it''s', $$x$$, $a$y$a$, 1.5e3"), "select ? , ? , ? , ?")
        eq(canonical('SELECT "Col" FROM t1;'), 'select "Col" from t1')


def main() -> int:
    global OPTS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collector", required=True, help="path to the fraiseql-collector binary")
    ap.add_argument("--collector-arg", action="append", default=[],
                    help="extra argument for `fraiseql-collector run` (repeatable)")
    ap.add_argument("--node-cache", default="/tmp/fraiseql-e2e-node",
                    help="where `npm ci` installs tests/e2e/node's dependencies")
    ap.add_argument("--demo-requests", type=int, default=40)
    OPTS, rest = ap.parse_known_args()
    e2e.OPTS = OPTS
    if not os.access(OPTS.collector, os.X_OK):
        ap.error(f"{OPTS.collector} is not executable")
    return e2e.run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
