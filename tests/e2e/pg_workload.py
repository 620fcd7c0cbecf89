#!/usr/bin/python3
"""A PostgreSQL workload in its own process, driven line by line by tests/e2e/test_pgsql_e2e.py,
so that fraiseql-collector can watch exactly this process (--pid).

    /usr/bin/python3 tests/e2e/pg_workload.py --dsn DSN --app-name NAME

Protocol: one JSON command per stdin line, one JSON reply per stdout line ({"ok": true, ...} or
{"ok": false, "error": "..."}). Nothing connects to PostgreSQL before the first command, so the
collector can be started before the first connection exists. Commands:

  {"cmd": "open_pool", "size": N}      a psycopg_pool.ConnectionPool (min = max = N, autocommit)
                                        plus one dedicated connection; waits until all are open
  {"cmd": "warm"}                       one `SELECT 1` on each pool connection (for the variant
                                        where the pool exists before the collector starts)
  {"cmd": "scenario", "name": NAME}     runs a scenario (below); the reply carries the client's
                                        own tally
  {"cmd": "garbage", "host": H, "port": P, "user": U, "database": D, "kind": K}
                                        raw sockets to PostgreSQL writing garbage (see garbage()),
                                        held open until {"cmd": "release"}
  {"cmd": "hold_tx"} / {"cmd": "end_tx"} opens a transaction (BEGIN; one UPDATE) on the dedicated
                                        connection and leaves it open / commits it (not tallied)
  {"cmd": "close"}                      closes the pool and the dedicated connection
  {"cmd": "quit"}

Tally (client side, what the test compares the collector and pg_stat_statements with):
  calls        {sql as given to psycopg: statements that completed}
  errors       {sql: statements that failed}
  sqlstates    {SQLSTATE: failures}
  transactions explicit transactions run (BEGIN ... COMMIT/ROLLBACK; every connection is in
               autocommit, so there are no implicit ones)
  cache_hits / cache_misses   SELECTs on e2e_pg.fraiseql_cache returning >= 1 / 0 rows
psycopg's own maintenance commands (DEALLOCATE ALL after a ROLLBACK while statements are
prepared) are counted as completions too (PrepareManager.get_maintenance_commands is wrapped).
Statements that psycopg never got a result for (skipped by the server after an error in a
pipeline) are in neither calls nor errors, as the server never ran them.

Scenarios:
  main    simple queries (one multi-statement string), parameterised queries, one statement
          10 times on one connection (psycopg prepares it after 5), pipeline mode (with and
          without an error), 22012 and 23505 errors, a committed, a rolled-back and a failed
          transaction, COPY FROM STDIN and COPY TO STDOUT, the cache table (hits and misses),
          concurrent use of every pool connection
  after   a short mixed batch (used after garbage and for the pre-opened pool variant)
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import socket
import struct
import sys
import threading
import traceback

import psycopg
from psycopg import errors as pgerrors
from psycopg._preparing import PrepareManager
from psycopg_pool import ConnectionPool

# psycopg sends maintenance commands of its own (DEALLOCATE ALL after a ROLLBACK while it has
# prepared statements; DEALLOCATE name when its cache of prepared statements overflows). They are
# statements on the wire like any other: count them into the running scenario's tally.
_CURRENT: list["Tally"] = []
_orig_maintenance = PrepareManager.get_maintenance_commands


def _counted_maintenance(self):  # noqa: ANN001
    for cmd in _orig_maintenance(self):
        if _CURRENT:
            _CURRENT[-1].ok(cmd.decode())
        yield cmd


PrepareManager.get_maintenance_commands = _counted_maintenance


class Tally:
    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()
        self.errors: collections.Counter = collections.Counter()
        self.sqlstates: collections.Counter = collections.Counter()
        self.transactions = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.lock = threading.Lock()

    def ok(self, sql: str, n: int = 1) -> None:
        with self.lock:
            self.calls[sql] += n

    def fail(self, sql: str, sqlstate: str | None) -> None:
        with self.lock:
            self.errors[sql] += 1
            self.sqlstates[sqlstate or "unknown"] += 1

    def as_dict(self) -> dict:
        return {"calls": dict(self.calls), "errors": dict(self.errors),
                "sqlstates": dict(self.sqlstates), "transactions": self.transactions,
                "cache_hits": self.cache_hits, "cache_misses": self.cache_misses}


class Workload:
    def __init__(self, dsn: str, app_name: str) -> None:
        self.dsn, self.app_name = dsn, app_name
        self.pool: ConnectionPool | None = None
        self.conn: psycopg.Connection | None = None
        self.rng = random.Random(7)
        self.next_id = 1000
        self.held: list[socket.socket] = []

    # -- plumbing ---------------------------------------------------------------------------

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, application_name=self.app_name)

    def open_pool(self, size: int) -> dict:
        self.pool = ConnectionPool(self.dsn, min_size=size, max_size=size, open=False,
                                   kwargs={"autocommit": True, "application_name": self.app_name},
                                   name="e2e-pg")
        self.pool.open(wait=True, timeout=30)
        self.conn = self.connect()
        return {"connections": size + 1}

    def warm(self) -> dict:
        assert self.pool is not None
        conns = [self.pool.getconn() for _ in range(self.pool.max_size)]
        for c in conns:
            c.execute("SELECT 1")
        for c in conns:
            self.pool.putconn(c)
        return {"warmed": len(conns)}

    def hold_tx(self) -> dict:
        """Opens a transaction on the dedicated connection (one UPDATE) and leaves it open."""
        assert self.conn is not None
        self._tx = self.conn.transaction()
        self._tx.__enter__()
        self.conn.execute("UPDATE e2e_pg.items SET qty = qty WHERE id = %s", (9,))
        return {}

    def end_tx(self) -> dict:
        self._tx.__exit__(None, None, None)
        return {}

    def close(self) -> dict:
        if self.pool:
            self.pool.close()
            self.pool = None
        if self.conn:
            self.conn.close()
            self.conn = None
        return {}

    @staticmethod
    def run(t: Tally, conn: psycopg.Connection, sql: str, params=None, **kw) -> list | None:
        """Executes; counts a completion or a failure (by SQLSTATE) under `sql`."""
        try:
            cur = conn.execute(sql, params, **kw)
            rows = cur.fetchall() if cur.description is not None else []
        except psycopg.Error as e:
            t.fail(sql, e.sqlstate)
            return None
        t.ok(sql)
        return rows

    def fresh_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- scenarios --------------------------------------------------------------------------

    def scenario(self, name: str) -> Tally:
        t = Tally()
        _CURRENT.append(t)
        try:
            getattr(self, "scenario_" + name)(t)
        finally:
            _CURRENT.pop()
        return t

    def scenario_main(self, t: Tally) -> None:
        c = self.conn
        assert c is not None and self.pool is not None

        # Simple query protocol (no parameters -> PQsendQuery): literals vary, one shape each.
        for n in (10, 20, 30):
            self.run(t, c, f"SELECT count(*) FROM e2e_pg.items WHERE id < {n}")
        for name in ("item-1", "item-2"):
            self.run(t, c, f"SELECT id, qty FROM e2e_pg.items WHERE name = '{name}'")
        # One string, three statements: the server runs (and pg_stat_statements counts) each.
        c.execute("SELECT 1; SELECT 'two', 2; SELECT now()")
        t.ok("SELECT 1")
        t.ok("SELECT 'two', 2")
        t.ok("SELECT now()")

        # Parameterised (extended protocol, unnamed statements: < 5 runs per connection).
        for i in (3, 4, 5):
            self.run(t, c, "SELECT name FROM e2e_pg.items WHERE id = %s", (i,))
        self.run(t, c, "SELECT id FROM e2e_pg.items WHERE id = ANY(%s) ORDER BY id", ([1, 2, 3],))
        for i in range(2):
            self.run(t, c, "UPDATE e2e_pg.items SET qty = qty + %s WHERE id = %s", (1, 50 + i))

        # One statement 10 times on one connection: psycopg prepares it (named) after 5.
        for i in range(10):
            self.run(t, c, "SELECT id, name, qty FROM e2e_pg.items WHERE id = %s AND qty >= %s",
                     (i + 1, 0))

        # Pipeline mode: 20 INSERTs and 5 SELECTs in flight before one Sync.
        with c.pipeline():
            for i in range(20):
                c.execute("INSERT INTO e2e_pg.log (item_id, note) VALUES (%s, %s)", (i, f"p{i}"))
            curs = [c.execute("SELECT note FROM e2e_pg.log WHERE item_id = %s LIMIT 1", (i,))
                    for i in range(5)]
        t.ok("INSERT INTO e2e_pg.log (item_id, note) VALUES (%s, %s)", 20)
        t.ok("SELECT note FROM e2e_pg.log WHERE item_id = %s LIMIT 1", 5)
        for cur in curs:
            cur.fetchall()
        # Pipeline with an error in the middle: the first completes, the second fails (22012),
        # the server skips the third until the Sync (never run, never counted).
        try:
            with c.pipeline():
                c.execute("SELECT %s::int + 1 AS a", (1,))
                c.execute("SELECT 10 / %s::int AS b", (0,))
                c.execute("SELECT %s::int + 2 AS c", (2,))
        except pgerrors.DivisionByZero as e:
            t.ok("SELECT %s::int + 1 AS a")
            t.fail("SELECT 10 / %s::int AS b", e.sqlstate)

        # Errors outside pipelines.
        self.run(t, c, "SELECT 1 / 0")                                          # simple, 22012
        self.run(t, c, "SELECT 100 / %s::int", (0,))                            # extended, 22012
        self.run(t, c, "INSERT INTO e2e_pg.items (id, name) VALUES (%s, %s)", (1, "dup"))  # 23505
        self.run(t, c, "INSERT INTO e2e_pg.items (id, name) VALUES (%s, %s)",
                 (self.fresh_id(), "new"))

        # Transactions: committed, rolled back on purpose, failed (23505 then ROLLBACK).
        with c.transaction():
            self.run(t, c, "UPDATE e2e_pg.items SET qty = qty + 1 WHERE id = %s", (7,))
            self.run(t, c, "SELECT qty FROM e2e_pg.items WHERE id = %s", (7,))
        t.ok("BEGIN")
        t.ok("COMMIT")
        t.transactions += 1
        with c.transaction(force_rollback=True):
            self.run(t, c, "DELETE FROM e2e_pg.items WHERE id = %s", (8,))
        t.ok("BEGIN")
        t.ok("ROLLBACK")
        t.transactions += 1
        try:
            with c.transaction():
                c.execute("INSERT INTO e2e_pg.items (id, name) VALUES (%s, %s)", (2, "dup2"))
        except pgerrors.UniqueViolation as e:
            t.fail("INSERT INTO e2e_pg.items (id, name) VALUES (%s, %s)", e.sqlstate)
        t.ok("BEGIN")
        t.ok("ROLLBACK")
        t.transactions += 1

        # COPY in both directions.
        cur = c.cursor()
        with cur.copy("COPY e2e_pg.copy_in (id, v) FROM STDIN") as cp:
            for i in range(50):
                cp.write_row((i, f"v{i}"))
        t.ok("COPY e2e_pg.copy_in (id, v) FROM STDIN")
        out = bytearray()
        with cur.copy("COPY (SELECT id, name FROM e2e_pg.items ORDER BY id) TO STDOUT") as cp:
            for block in cp:
                out += block
        t.ok("COPY (SELECT id, name FROM e2e_pg.items ORDER BY id) TO STDOUT")
        assert out.count(b"\n") >= 100, len(out)

        # FraiseQL's PostgreSQL cache table: 3 sets, then a known plan of hits and misses.
        ins = "INSERT INTO e2e_pg.fraiseql_cache (key, value) VALUES (%s, %s::jsonb)"
        for k in ("k1", "k2", "k3"):
            self.run(t, c, ins, (k, json.dumps({"k": k})))
        get = "SELECT value FROM e2e_pg.fraiseql_cache WHERE key = %s"
        plan = ["k1", "k2", "nope1", "k3", "k1", "nope2", "nope3", "k2", "k1", "nope4"]
        for k in plan:
            rows = self.run(t, c, get, (k,))
            if rows is not None:
                if rows:
                    t.cache_hits += 1
                else:
                    t.cache_misses += 1
        self.run(t, c, "DELETE FROM e2e_pg.fraiseql_cache WHERE key = %s", ("k3",))

        # Every pool connection at once (the gauge must see them all).
        self._pool_burst(t, rounds=5)

    def _pool_burst(self, t: Tally, rounds: int) -> None:
        assert self.pool is not None
        n = self.pool.max_size
        barrier = threading.Barrier(n)
        errs: list[BaseException] = []

        def worker(k: int) -> None:
            try:
                with self.pool.connection() as pc:
                    barrier.wait(10)   # all n held at once: n distinct connections
                    for r in range(rounds):
                        self.run(t, pc, "SELECT qty FROM e2e_pg.items WHERE id = %s", (k * 10 + r + 1,))
                        self.run(t, pc, "SELECT pg_backend_pid()")
            except BaseException as e:  # noqa: BLE001 - reported to the driver
                errs.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errs:
            raise errs[0]

    def scenario_after(self, t: Tally) -> None:
        c = self.conn
        assert c is not None
        for i in range(7):
            self.run(t, c, "SELECT name FROM e2e_pg.items WHERE id = %s OR qty = %s", (i + 1, 99))
        self.run(t, c, "SELECT count(*) FROM e2e_pg.log")
        self.run(t, c, "SELECT 7 / %s::int", (0,))
        with c.transaction():
            self.run(t, c, "INSERT INTO e2e_pg.log (item_id, note) VALUES (%s, %s)", (1, "after"))
        t.ok("BEGIN")
        t.ok("COMMIT")
        t.transactions += 1
        self._pool_burst(t, rounds=2)

    # -- garbage ----------------------------------------------------------------------------

    @staticmethod
    def _startup(user: str, database: str) -> bytes:
        body = struct.pack("!I", 196608)
        for k, v in (("user", user), ("database", database), ("application_name", "e2e-garbage")):
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        return struct.pack("!I", len(body) + 4) + body

    @staticmethod
    def _send(host: str, port: int, chunks: list[bytes], timeout: float = 1.0) -> tuple[socket.socket, bytes]:
        """Writes the chunks (reading the server's answer after each), reads until the server
        closes or goes quiet; returns the socket, still open on our side, and what came back."""
        s = socket.create_connection((host, port), timeout=timeout)
        got = b""
        for ch in chunks:
            try:
                s.sendall(ch)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:   # let the server answer between chunks (one read each)
                got += s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except (socket.timeout, ConnectionResetError, OSError):
            pass
        return s, got

    def garbage(self, host: str, port: int, user: str, database: str, kind: str) -> dict:
        """kind "at_start": no valid PostgreSQL start (expected: classified other, not parsed);
        kind "after_startup": a real StartupMessage (classified pgsql), then garbage. The sockets
        stay open on our side until "release" (so the collector's connection table shows them)."""
        rng = random.Random(1234)
        rand = bytes(rng.getrandbits(8) for _ in range(4096))
        if rand[0] in (0, ord("*")):   # keep it "random" rather than a startup or RESP lookalike
            rand = b"\x81" + rand[1:]
        startup = self._startup(user, database)
        cases = {
            "at_start": {
                "random_4k": [rand],
                "http_request": [b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: e2e\r\n\r\n"],
                "startup_huge_length": [struct.pack("!II", 0x7FFFFFF0, 196608) + b"user\0x\0\0"],
            },
            "after_startup": {
                "random_4k": [startup, rand],
                "huge_message": [startup, b"p" + struct.pack("!I", 0x7FFFFFF0) + b"z" * 2048],
                "http_request": [startup, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
            },
        }[kind]
        answers = {}
        for name, chunks in cases.items():
            sock, got = self._send(host, port, chunks)
            self.held.append(sock)
            answers[name] = got[:1].decode("latin-1")
        return {"answers": answers, "held": len(self.held)}

    def release(self) -> dict:
        n = len(self.held)
        for sock in self.held:
            sock.close()
        self.held = []
        return {"released": n}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--app-name", required=True)
    args = ap.parse_args()
    w = Workload(args.dsn, args.app_name)
    print(json.dumps({"ok": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "quit":
                w.close()
                print(json.dumps({"ok": True}), flush=True)
                return 0
            if cmd == "open_pool":
                reply = w.open_pool(int(msg["size"]))
            elif cmd == "warm":
                reply = w.warm()
            elif cmd == "scenario":
                reply = w.scenario(msg["name"]).as_dict()
            elif cmd == "garbage":
                reply = w.garbage(msg["host"], int(msg["port"]), msg["user"], msg["database"],
                                  msg["kind"])
            elif cmd == "release":
                reply = w.release()
            elif cmd == "hold_tx":
                reply = w.hold_tx()
            elif cmd == "end_tx":
                reply = w.end_tx()
            elif cmd == "close":
                reply = w.close()
            else:
                raise ValueError(f"unknown command {cmd!r}")
            print(json.dumps({"ok": True, **reply}), flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the driver
            traceback.print_exc(file=sys.stderr)
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
