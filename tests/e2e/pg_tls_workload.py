#!/usr/bin/env python3
"""A psycopg 3 client over TLS for tests/e2e/test_pgsql_tls_e2e.py. Prints its pid, waits for
"connect" on stdin, connects with sslmode=require, prints "connected", waits for "go", runs
its plan, prints the plan's own counts as one JSON line and exits."""
import json
import sys

import psycopg

dsn = sys.argv[1]
print(json.dumps({"pid": __import__("os").getpid()}), flush=True)
assert sys.stdin.readline().strip() == "connect"
conn = psycopg.connect(dsn, autocommit=True, application_name="fql-tls-e2e")
assert conn.pgconn.ssl_in_use, "the connection is not TLS"
print(json.dumps({"connected": True}), flush=True)
assert sys.stdin.readline().strip() == "go"

counts = {"SELECT none": 0, "SELECT fql_tls_items": 0, "INSERT fql_tls_items": 0,
          "OTHER none": 0, "errors_22012": 0}
conn.execute("CREATE TEMP TABLE fql_tls_items (id int primary key, name text)")
counts["OTHER none"] += 1   # CREATE TABLE
for i in range(12):          # simple, parameterised; prepared by psycopg after 5 runs
    conn.execute("INSERT INTO fql_tls_items (id, name) VALUES (%s, %s)", (i, f"n{i}"))
    counts["INSERT fql_tls_items"] += 1
for i in range(7):
    conn.execute("SELECT name FROM fql_tls_items WHERE id = %s", (i,)).fetchall()
    counts["SELECT fql_tls_items"] += 1
for _ in range(3):
    conn.execute("SELECT 1").fetchall()
    counts["SELECT none"] += 1
try:
    conn.execute("SELECT 1/0")
except psycopg.errors.DivisionByZero:
    counts["errors_22012"] += 1
print(json.dumps(counts), flush=True)
conn.close()
