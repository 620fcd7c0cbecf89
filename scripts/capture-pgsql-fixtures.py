#!/usr/bin/python3
"""Capture real PostgreSQL v3 wire bytes between psycopg 3 (libpq) and PostgreSQL 15.

Run with Debian's interpreter (it has python3-psycopg):
    /usr/bin/python3 scripts/capture-pgsql-fixtures.py [out_dir]

Environment: PGHOST/PGPORT (default 127.0.0.1:5432), role/db/password fraiseql.

A tiny TCP relay listens on a free loopback port in front of PostgreSQL; each scenario opens ONE
psycopg connection through it (sslmode=disable unless the scenario says otherwise) and the relay
records the exact bytes of each direction into <name>.fe.bin (frontend: client -> server) and
<name>.be.bin (backend: server -> client).

manifest.json holds golden values that do NOT come from the collector's parser: the SQL text is
what psycopg put on the wire (its PostgresQuery, %s already turned into $n), the command tag and
row count are psycopg's cursor.statusmessage / cursor.rowcount (-1 -> 0), errors are psycopg's
exception .sqlstate, skipped pipeline queries are the ones psycopg reported as PipelineAborted (no result).
Each scenario lists, in order, the query records a correct stitcher must produce.
"""
import json
import os
import socket
import sys
import threading

import psycopg
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "fixtures", "pgsql")
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PGPORT", "5432"))
TABLE = "fql_fixture_items"
APP_NAME = "fql-fixtures"


class Relay:
    """Accepts client connections and pipes them to PostgreSQL, recording both directions."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # [{"fe": bytearray, "be": bytearray, "threads": [...]}]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection((PG_HOST, PG_PORT))
            rec = {"fe": bytearray(), "be": bytearray(), "threads": []}
            for src, dst, key in ((client, server, "fe"), (server, client, "be")):
                t = threading.Thread(target=self._pump, args=(src, dst, rec[key]), daemon=True)
                rec["threads"].append(t)
                t.start()
            with self.lock:
                self.conns.append(rec)

    @staticmethod
    def _pump(src, dst, store):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            store.extend(data)
            dst.sendall(data)

    def take(self):
        """Waits for every recorded connection to finish and returns them (then forgets them)."""
        with self.lock:
            conns, self.conns = self.conns, []
        for rec in conns:
            for t in rec["threads"]:
                t.join(timeout=10)
        return conns


def rows(cur):
    return max(cur.rowcount, 0)


def rec(sql, tag="", nrows=0, sqlstate="", simple=True, statement="", prepared_before=False):
    return {"sql": sql, "command_tag": tag, "rows": nrows, "error": bool(sqlstate),
            "sqlstate": sqlstate, "simple": simple, "statement_name": statement,
            "prepared_before_capture": prepared_before}


def sent_sql(cur, sql=None, params=None):
    # psycopg's own converted query: what went into Q or Parse (%s -> $n).
    if sql is None:
        return cur._query.query.decode()
    q = PostgresQuery(Transformer(cur))
    q.convert(sql, params)
    return q.query.decode()


def statement_name(cur, sql, params):
    # The server-side name psycopg gave the statement once it prepared it ("" if unprepared).
    q = PostgresQuery(Transformer(cur))
    q.convert(sql, params)
    return cur.connection._prepared._names.get((q.query, q.types), b"").decode()


def run(cur, sql, params=None, **kw):
    """Executes one statement and returns its golden record from psycopg's point of view."""
    text = sent_sql(cur, sql, params)
    try:
        cur.execute(sql, params)
    except psycopg.Error as e:
        return rec(text, sqlstate=e.sqlstate or "", simple=params is None, **kw)
    if params is not None:
        kw.setdefault("statement", statement_name(cur, sql, params))
    return rec(text, cur.statusmessage or "", rows(cur), simple=params is None, **kw)


def connect(relay, **kw):
    args = dict(host="127.0.0.1", port=relay.port, user="fraiseql", password="fraiseql",
                dbname="fraiseql", application_name=APP_NAME, sslmode="disable",
                gssencmode="disable", autocommit=True)
    args.update(kw)
    return psycopg.connect(**args)


def setup():
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="fraiseql", password="fraiseql",
                         dbname="fraiseql", autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS %s" % TABLE)
        c.execute("CREATE TABLE %s (id int PRIMARY KEY, name text, price numeric)" % TABLE)
        c.execute("INSERT INTO %s SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 5) g"
                  % TABLE)


def teardown():
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="fraiseql", password="fraiseql",
                         dbname="fraiseql", autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS %s" % TABLE)


# Each scenario: fn(relay) -> dict with "records", optional "skipped", "transactions",
# "notifications", "connect" kwargs.

def sc_startup_scram(relay):
    with connect(relay) as c:
        r = run(c.cursor(), "SELECT 1")
    return {"records": [r], "auth": "scram-sha-256"}


def sc_ssl_refused(relay):
    # sslmode=prefer: SSLRequest, the server (ssl=off) answers 'N', startup goes on in clear.
    with connect(relay, sslmode="prefer") as c:
        r = run(c.cursor(), "SELECT 2")
    return {"records": [r], "ssl_request": True}


def sc_simple_query(relay):
    with connect(relay) as c:
        cur = c.cursor()
        out = [run(cur, "SELECT id, name FROM %s WHERE price > 2 ORDER BY id" % TABLE),
               run(cur, "UPDATE %s SET name = name WHERE id <= 3" % TABLE),
               run(cur, "SELECT 1")]
    return {"records": out}


def sc_multi_statement(relay):
    stmts = ["SELECT 1", "SELECT id FROM %s WHERE id IN (1, 2, 3)" % TABLE,
             "UPDATE %s SET price = price WHERE id = 4" % TABLE]
    sql = "; ".join(stmts)
    with connect(relay) as c:
        cur = c.cursor()
        cur.execute(sql)
        out = []
        i = 0
        while True:
            out.append(rec(stmts[i], cur.statusmessage or "", rows(cur)))
            i += 1
            if not cur.nextset():
                break
        # An error in the middle aborts the rest of the string.
        bad = ["SELECT 3", "SELECT 1/0", "SELECT 4"]
        try:
            cur.execute("; ".join(bad))
            raise AssertionError("expected an error")
        except psycopg.Error as e:
            out.append(rec(bad[0], "SELECT 1", 1))  # completed before the error
            out.append(rec(bad[1], sqlstate=e.sqlstate))
    return {"records": out, "multi_statement_sql": [sql, "; ".join(bad)]}


def sc_extended_query(relay):
    with connect(relay) as c:
        cur = c.cursor()
        out = [run(cur, "SELECT id, name FROM %s WHERE id = %%s" % TABLE, (2,)),
               run(cur, "INSERT INTO %s (id, name, price) VALUES (%%s, %%s, %%s)" % TABLE,
                   (100, "new", 9.5)),
               run(cur, "DELETE FROM %s WHERE id = %%s" % TABLE, (100,))]
    return {"records": out}


def sc_prepared_10(relay):
    # psycopg prepares a statement after prepare_threshold (5) executions: a Parse of _pg3_N.
    out = []
    with connect(relay) as c:
        cur = c.cursor()
        for i in range(10):
            r = run(cur, "SELECT name FROM %s WHERE id = %%s" % TABLE, (i % 5 + 1,))
            out.append(r)
    return {"records": out, "prepared_statement_flights": True}


def sc_pipeline(relay):
    with connect(relay) as c:
        cur1, cur2, cur3, cur4 = (c.cursor() for _ in range(4))
        with c.pipeline():
            cur1.execute("INSERT INTO %s (id, name) VALUES (%%s, %%s)" % TABLE, (200, "p"))
            cur2.execute("SELECT id FROM %s WHERE id >= %%s" % TABLE, (3,))
            cur3.execute("UPDATE %s SET name = %%s WHERE id = %%s" % TABLE, ("q", 200))
            cur4.execute("DELETE FROM %s WHERE id = %%s" % TABLE, (200,))
        out = [rec(sent_sql(cu), cu.statusmessage, rows(cu), simple=False)
               for cu in (cur1, cur2, cur3, cur4)]
    return {"records": out}


def sc_pipeline_error(relay):
    # An error inside a pipeline: the server skips the rest until Sync; psycopg reports them as
    # PipelineAborted. A later pipeline on the same connection works again.
    out, skipped = [], 0
    with connect(relay) as c:
        cur1, cur2, cur3, cur4 = (c.cursor() for _ in range(4))
        try:
            with c.pipeline():
                cur1.execute("SELECT %s::int", (7,))
                cur2.execute("SELECT 1 / %s::int", (0,))
                cur3.execute("SELECT %s::int + 1", (8,))
        except psycopg.Error as e:
            state = e.sqlstate
        out.append(rec(sent_sql(cur1), cur1.statusmessage, rows(cur1), simple=False))
        out.append(rec(sent_sql(cur2), sqlstate=state, simple=False))
        # The server never ran it: psycopg got no result for it (libpq saw PGRES_PIPELINE_ABORTED).
        if cur3.pgresult is None:
            skipped += 1
        with c.pipeline():
            cur4.execute("SELECT %s::int * 2", (9,))
        out.append(rec(sent_sql(cur4), cur4.statusmessage, rows(cur4), simple=False))
    return {"records": out, "skipped": skipped}


def sc_errors(relay):
    with connect(relay) as c:
        cur = c.cursor()
        out = [run(cur, "SELECT 1/0"),
               run(cur, "INSERT INTO %s (id, name) VALUES (%%s, %%s)" % TABLE, (1, "dup")),
               run(cur, "SELECT 5")]
    return {"records": out}


def sc_rollback(relay):
    with connect(relay) as c:
        cur = c.cursor()
        out = [run(cur, "BEGIN"),
               run(cur, "INSERT INTO %s (id, name) VALUES (%%s, %%s)" % TABLE, (300, "tx")),
               run(cur, "SELECT count(*) FROM %s" % TABLE),
               run(cur, "ROLLBACK"),
               run(cur, "BEGIN"),
               run(cur, "UPDATE %s SET name = 'x' WHERE id = 1" % TABLE),
               run(cur, "COMMIT"),
               run(cur, "BEGIN"),
               run(cur, "SELECT 1/0"),   # the transaction is now failed ('E')
               run(cur, "ROLLBACK")]
    return {"records": out,
            "transactions": [{"committed": False}, {"committed": True}, {"committed": False}]}


def sc_copy(relay):
    with connect(relay) as c:
        cur = c.cursor()
        with cur.copy("COPY %s (id, name) FROM STDIN" % TABLE) as cp:
            for i in range(400, 403):
                cp.write_row((i, "copied %d" % i))
        out = [rec(sent_sql(cur), cur.statusmessage, rows(cur))]
        got = []
        with cur.copy("COPY (SELECT id, name FROM %s ORDER BY id) TO STDOUT" % TABLE) as cp:
            for row in cp.rows():
                got.append(row)
        # After COPY TO psycopg keeps the COPY_OUT result (no statusmessage); its rowcount
        # comes from the final CommandComplete libpq read.
        out.append(rec(sent_sql(cur), cur.statusmessage or "COPY %d" % rows(cur), rows(cur)))
        out.append(run(cur, "DELETE FROM %s WHERE id >= 400" % TABLE))
    return {"records": out, "copy_out_rows": len(got)}


def sc_listen_notify(relay):
    got = []
    with connect(relay) as c:
        c.add_notify_handler(got.append)
        cur = c.cursor()
        out = [run(cur, "LISTEN fql_channel"),
               run(cur, "NOTIFY fql_channel, 'hello'"),
               run(cur, "SELECT 6")]
    return {"records": out, "notifications": len(got)}


def sc_empty_query(relay):
    with connect(relay) as c:
        cur = c.cursor()
        try:
            cur.execute("")
        except psycopg.Error:
            pass
        out = [rec("", "", 0), run(cur, "SELECT 7")]
    return {"records": out}


SCENARIOS = [
    ("startup_scram", sc_startup_scram),
    ("ssl_refused", sc_ssl_refused),
    ("simple_query", sc_simple_query),
    ("multi_statement", sc_multi_statement),
    ("extended_query", sc_extended_query),
    ("prepared_10", sc_prepared_10),
    ("pipeline", sc_pipeline),
    ("pipeline_error", sc_pipeline_error),
    ("errors", sc_errors),
    ("rollback", sc_rollback),
    ("copy", sc_copy),
    ("listen_notify", sc_listen_notify),
    ("empty_query", sc_empty_query),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    setup()
    relay = Relay()
    manifest = {}
    try:
        for name, fn in SCENARIOS:
            info = fn(relay)
            conns = relay.take()
            assert len(conns) == 1, (name, len(conns))
            fe, be = bytes(conns[0]["fe"]), bytes(conns[0]["be"])
            with open(os.path.join(OUT, name + ".fe.bin"), "wb") as f:
                f.write(fe)
            with open(os.path.join(OUT, name + ".be.bin"), "wb") as f:
                f.write(be)
            info.setdefault("skipped", 0)
            info.setdefault("transactions", [])
            info["startup"] = {"user": "fraiseql", "database": "fraiseql",
                               "application_name": APP_NAME}
            info["frontend_bytes"] = len(fe)
            info["backend_bytes"] = len(be)
            manifest[name] = info
            print("%-16s fe=%6d be=%6d records=%d" % (name, len(fe), len(be),
                                                     len(info["records"])))
    finally:
        teardown()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print("wrote %d fixtures to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
