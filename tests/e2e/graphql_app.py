#!/usr/bin/python3
"""A FraiseQL-shaped GraphQL server for the attribution end-to-end tests, writing its own ground
truth: which PostgreSQL statements and Redis commands each request executed.

    /usr/bin/python3 tests/e2e/graphql_app.py --port 8001 --loop asyncio|uvloop \
        --dsn postgresql://e2e_gql:fraiseql@127.0.0.1:5432/fraiseql \
        --redis-url redis://127.0.0.1:6380/0 --truth /tmp/truth.jsonl [--prefix K] [--instance X]

Same stack as FraiseQL v1, Debian packages only: uvicorn (asyncio or uvloop loop) + FastAPI/
Starlette, wrapped in a Starlette BaseHTTPMiddleware (so the endpoint runs in a child task of the
task that writes the response, as in FraiseQL apps), a psycopg 3 AsyncConnectionPool
(min 4, max 10, autocommit connections, explicit transactions) and redis.asyncio.

No GraphQL library: requests are dispatched by operationName (else by the first root field of the
document); the collector parses the documents, the app only answers shaped JSON. The schema
(e2e_gql.*, owned by the role in --dsn) is created by the test (test_graphql_e2e.SETUP_SQL).

Every database request is a transaction like FraiseQL's:
    BEGIN; SELECT 1 (pool check); SET LOCAL app.tenant_id = '<tenant>' (sql.Literal);
    <data statements>; SELECT $1::int AS r_<n> (a per-request tag: identifiers survive
    normalization, so a statement of request n found in another request is detectable); COMMIT
with `await asyncio.sleep(random small)` between the steps. Fixed-text statements run many times
per pool connection, so psycopg prepares them after 5 executions (only `_pg3_N` names travel).

Operations (POST/GET /graphql; variables in brackets):
    getUser(id)          query; mode "turbo"; v_user by id + k INCRBYs (k = 0..3 per request)
    listPosts            query; no mode; posts list + 12 x the same v_author statement (N+1)
    dashboard(authorId)  query; no mode; a Redis SET, then asyncio.gather over 3 sub-coroutines,
                         each on its own pool connection (BEGIN, SELECT 1, count AS d<i>_r_<n>,
                         COMMIT) with a Redis GET (always a miss)
    createPost(input)    mutation; mode "normal"; SELECT * FROM e2e_gql.fn_create_post($1::jsonb),
                         k x the v_post statement (k = 0..3), a Redis DEL
    getPost(id)          query; no mode; read-through cache: Redis GET, on a miss the transaction
                         and a Redis SET ... EX
    searchUsers(term)    query; no mode; term "" -> {"data": null, "errors": [...]} without I/O;
                         term "partial" -> data plus an error on `stats` (partial); else success
    anything else        {"data": {"ping": "pong"}} without I/O (cardinality test)
Also: batches (a JSON array -> an array of results, executed in order), GET requests
(?query=&operationName=&variables=&extensions=), Apollo APQ (hash only + unknown -> 200 with
PersistedQueryNotFound; hash + query -> register and execute; later hash only -> execute).

Ground truth (--truth): one JSON line per request, written before the response:
    {"request_id", "method", "status", "ops": [{"name", "type", "outcome", "apq", "mode"}],
     "db": [SQL as sent, "%s" placeholders; BEGIN/COMMIT included], "redis": ["GET", ...],
     "cache_hits", "cache_misses"}
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import hashlib
import json
import os
import random
import re
import sys
import threading
from typing import Any
from urllib.parse import parse_qs

import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.middleware.base import BaseHTTPMiddleware

ARGS: argparse.Namespace
STATE: dict[str, Any] = {}
N_PLUS_ONE = 12
TENANTS = ("acme", "globex", "initech", "umbrella")


# --------------------------------------------------------------------------- truth

class Truth:
    """What one HTTP request did (shared by its middleware task, endpoint task and gather
    children: the contextvar holds this object, the children's context copies point to it)."""

    def __init__(self, request_id: str, method: str) -> None:
        self.request_id = request_id
        self.method = method
        self.ops: list[dict] = []
        self.db: list[str] = []
        self.redis: list[str] = []
        self.hits = 0
        self.misses = 0

    def line(self, status: int) -> str:
        return json.dumps({"request_id": self.request_id, "method": self.method, "status": status,
                           "ops": self.ops, "db": self.db, "redis": self.redis,
                           "cache_hits": self.hits, "cache_misses": self.misses})


CURRENT: contextvars.ContextVar[Truth | None] = contextvars.ContextVar("e2e_truth", default=None)
_truth_lock = threading.Lock()
_seq = 0


def _truth() -> Truth:
    t = CURRENT.get()
    if t is None:
        raise RuntimeError("I/O outside a request")
    return t


def write_truth(t: Truth, status: int) -> None:
    with _truth_lock:
        STATE["truth"].write(t.line(status) + "\n")
        STATE["truth"].flush()


async def jitter() -> None:
    await asyncio.sleep(random.uniform(0.0, 0.001))


# --------------------------------------------------------------------------- I/O helpers

async def q(conn, query, params=None) -> list[tuple]:
    """Executes one statement, records it (as sent: "%s" placeholders, composed literals)."""
    text = query if isinstance(query, str) else query.as_string(conn)
    await jitter()
    cur = await conn.execute(query, params)
    _truth().db.append(text)
    return await cur.fetchall() if cur.description else []


@contextlib.asynccontextmanager
async def transaction(conn):
    t = _truth()
    await jitter()
    t.db.append("BEGIN")
    ok = False
    try:
        async with conn.transaction():
            yield
            ok = True
            await jitter()
    finally:
        t.db.append("COMMIT" if ok else "ROLLBACK")


async def fraiseql_txn(conn, tenant: str):
    """The FraiseQL prologue inside a transaction: pool check, tenant."""
    await q(conn, "SELECT 1")
    await q(conn, sql.SQL("SET LOCAL app.tenant_id = {}").format(sql.Literal(tenant)))


async def tag(conn, n: int, prefix: str = "r") -> None:
    await q(conn, f"SELECT %s::int AS {prefix}_{n}", (n,))


async def rcall(cmd: str, coro):
    await jitter()
    res = await coro
    t = _truth()
    t.redis.append(cmd)
    if cmd == "GET":
        if res is None:
            t.misses += 1
        else:
            t.hits += 1
    return res


def key(*parts: Any) -> str:
    return ":".join([ARGS.prefix] + [str(p) for p in parts])


# --------------------------------------------------------------------------- operations
# Each returns (data, errors, mode). `n` is the request number (the tag), `tenant` its tenant.

async def op_get_user(v: dict, n: int, tenant: str):
    uid = int(v.get("id", 1))
    pool: AsyncConnectionPool = STATE["pool"]
    async with pool.connection() as conn:
        async with transaction(conn):
            await fraiseql_txn(conn, tenant)
            rows = await q(conn, "SELECT data FROM e2e_gql.v_user WHERE id = %s", (uid,))
            await tag(conn, n)
    r = STATE["redis"]
    for _ in range(random.randint(0, 3)):
        await rcall("INCRBY", r.incrby(key("views", uid), 1))   # redis-py sends INCRBY
    return {"user": rows[0][0] if rows else None}, None, "turbo"


async def op_list_posts(v: dict, n: int, tenant: str):
    pool: AsyncConnectionPool = STATE["pool"]
    out = []
    async with pool.connection() as conn:
        async with transaction(conn):
            await fraiseql_txn(conn, tenant)
            posts = await q(conn, "SELECT id, author_id, title FROM e2e_gql.posts ORDER BY id "
                                  "LIMIT %s", (N_PLUS_ONE,))
            for pid, author_id, title in posts:       # the N+1 pattern: one query per post
                a = await q(conn, "SELECT data FROM e2e_gql.v_author WHERE id = %s", (author_id,))
                out.append({"id": pid, "title": title, "author": a[0][0] if a else None})
            await tag(conn, n)
    return {"posts": out}, None, None


async def _dashboard_part(i: int, author: int, n: int) -> int:
    pool: AsyncConnectionPool = STATE["pool"]
    async with pool.connection() as conn:
        async with transaction(conn):
            await q(conn, "SELECT 1")
            rows = await q(conn, f"SELECT count(*) AS d{i}_r_{n} FROM e2e_gql.posts "
                                 "WHERE author_id = %s", (author,))
    await rcall("GET", STATE["redis"].get(key("stat", i, author)))
    return int(rows[0][0])


async def op_dashboard(v: dict, n: int, tenant: str):
    author = int(v.get("authorId", 1))
    await rcall("SET", STATE["redis"].set(key("last-dashboard", author), n))
    counts = await asyncio.gather(*(_dashboard_part(i, author, n) for i in range(3)))
    return {"dashboard": {"authorId": author, "counts": counts}}, None, None


async def op_create_post(v: dict, n: int, tenant: str):
    inp = dict(v.get("input") or {})
    author = int(inp.get("authorId", 1))
    pool: AsyncConnectionPool = STATE["pool"]
    async with pool.connection() as conn:
        async with transaction(conn):
            await fraiseql_txn(conn, tenant)
            rows = await q(conn, "SELECT * FROM e2e_gql.fn_create_post(%s::jsonb)",
                           (Jsonb({"authorId": author, "title": inp.get("title", f"post {n}")}),))
            for _ in range(random.randint(0, 3)):
                await q(conn, "SELECT data FROM e2e_gql.v_post WHERE id = %s", (author,))
            await tag(conn, n)
    await rcall("DEL", STATE["redis"].delete(key("posts", author)))
    return {"createPost": rows[0][0]}, None, "normal"


async def op_get_post(v: dict, n: int, tenant: str):
    pid = int(v.get("id", 1))
    r = STATE["redis"]
    cached = await rcall("GET", r.get(key("post", pid)))
    if cached is not None:
        return {"post": json.loads(cached)}, None, None
    pool: AsyncConnectionPool = STATE["pool"]
    async with pool.connection() as conn:
        async with transaction(conn):
            await fraiseql_txn(conn, tenant)
            rows = await q(conn, "SELECT data FROM e2e_gql.v_post WHERE id = %s", (pid,))
            await tag(conn, n)
    data = rows[0][0] if rows else None
    await rcall("SET", r.set(key("post", pid), json.dumps(data), ex=600))
    return {"post": data}, None, None


async def op_search_users(v: dict, n: int, tenant: str):
    term = str(v.get("term", ""))
    if not term:
        return None, [{"message": "searchUsers: term must not be empty",
                       "extensions": {"code": "BAD_USER_INPUT"}}], None
    pool: AsyncConnectionPool = STATE["pool"]
    async with pool.connection() as conn:
        async with transaction(conn):
            await fraiseql_txn(conn, tenant)
            rows = await q(conn, "SELECT data FROM e2e_gql.v_user WHERE name LIKE %s "
                                 "ORDER BY id LIMIT %s", (f"%{term[:1]}%", 5))
            await tag(conn, n)
    data = {"searchUsers": [r[0] for r in rows]}
    if term == "partial":
        data["stats"] = None
        return data, [{"message": "stats: resolver failed", "path": ["stats"]}], None
    data["stats"] = {"total": len(rows)}
    return data, None, None


async def op_ping(v: dict, n: int, tenant: str):
    return {"ping": "pong"}, None, None


OPS = {
    "getUser": ("query", op_get_user),
    "listPosts": ("query", op_list_posts),
    "dashboard": ("query", op_dashboard),
    "createPost": ("mutation", op_create_post),
    "getPost": ("query", op_get_post),
    "searchUsers": ("query", op_search_users),
}
ROOT_FIELD_OPS = {"user": "getUser", "posts": "listPosts", "dashboard": "dashboard",
                  "createPost": "createPost", "post": "getPost", "searchUsers": "searchUsers"}


# --------------------------------------------------------------------------- GraphQL plumbing

_TOK = re.compile(r'"(?:[^"\\]|\\.)*"|#[^\n]*|[A-Za-z_]\w*|[{}()]|\S')


def root_fields(doc: str) -> tuple[str, str, list[str]]:
    """(operation type, operation name in the document or "", root field names) of the first
    operation: enough for dispatch."""
    op_type, doc_name, fields, depth, paren = "query", "", [], 0, 0
    pos = 0
    for m in _TOK.finditer(doc):
        t = m.group()
        if t.startswith("#") or t.startswith('"'):
            continue
        pos += 1
        if pos == 1 and t in ("query", "mutation", "subscription"):
            op_type = t
        elif pos == 2 and op_type and depth == 0 and re.match(r"[A-Za-z_]", t):
            doc_name = t
        if t == "(":
            paren += 1
        elif t == ")":
            paren -= 1
        elif paren:
            pass
        elif t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and re.match(r"[A-Za-z_]", t):
            fields.append(t)
        elif depth == 1 and t == ":" and fields:
            fields.pop()       # alias: the next name is the field
    return op_type, doc_name, fields


APQ_NOT_FOUND = {"message": "PersistedQueryNotFound",
                 "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}


async def execute_one(payload: dict, t: Truth, n: int) -> dict:
    query = payload.get("query")
    name = payload.get("operationName")
    variables = payload.get("variables") or {}
    ext = payload.get("extensions") or {}
    apq = "none"
    pq = ext.get("persistedQuery") if isinstance(ext, dict) else None
    if pq:
        h = pq.get("sha256Hash", "")
        if query:
            if hashlib.sha256(query.encode()).hexdigest() != h:
                t.ops.append({"name": name, "type": None, "outcome": "error", "apq": "register",
                              "mode": None})
                return {"errors": [{"message": "provided sha does not match query",
                                    "extensions": {"code": "PERSISTED_QUERY_HASH_MISMATCH"}}]}
            STATE["apq"][h] = query
            apq = "register"
        elif h in STATE["apq"]:
            query = STATE["apq"][h]
            apq = "hit"
        else:
            t.ops.append({"name": name, "type": None, "outcome": "error", "apq": "miss",
                          "mode": None})
            return {"errors": [APQ_NOT_FOUND]}
    if not query:
        t.ops.append({"name": name, "type": None, "outcome": "error", "apq": apq, "mode": None})
        return {"errors": [{"message": "no query"}]}
    op_type, doc_name, fields = root_fields(query)
    op_name = name or doc_name or ",".join(fields)
    handler_name = name if name in OPS else ROOT_FIELD_OPS.get(fields[0] if fields else "", "")
    _, handler = OPS.get(handler_name, ("query", op_ping))
    tenant = TENANTS[n % len(TENANTS)]
    data, errors, mode = await handler(variables, n, tenant)
    outcome = "success" if not errors else ("error" if data is None else "partial")
    t.ops.append({"name": op_name, "type": op_type, "outcome": outcome, "apq": apq,
                  "mode": mode})
    out: dict = {"data": data}
    if errors:
        out["errors"] = errors
    if mode:
        out["extensions"] = {"execution": {"mode": mode}}
    return out


def _request_number() -> int:
    global _seq
    _seq += 1
    return _seq


async def graphql(request: Request) -> JSONResponse:
    t = CURRENT.get()
    try:
        if request.method == "GET":
            qs = parse_qs(request.url.query)
            payload: Any = {k: v[0] for k, v in qs.items()}
            for k in ("variables", "extensions"):
                if k in payload:
                    payload[k] = json.loads(payload[k])
        else:
            payload = json.loads(await request.body())
    except ValueError:
        write_truth(t, 400)
        return JSONResponse({"errors": [{"message": "bad request"}]}, status_code=400)
    if isinstance(payload, list):
        result: Any = [await execute_one(p, t, _request_number()) for p in payload]
    else:
        result = await execute_one(payload, t, _request_number())
    write_truth(t, 200)
    return JSONResponse(result)


class TruthMiddleware(BaseHTTPMiddleware):
    """FraiseQL-style middleware: the endpoint runs in a child task (call_next), this task
    writes the response."""

    async def dispatch(self, request: Request, call_next):
        CURRENT.set(Truth(request.headers.get("x-request-id", ""), request.method))
        response = await call_next(request)
        response.headers["x-e2e-app"] = "1"
        return response


def build_app() -> FastAPI:
    app = FastAPI(title="fraiseql-graphql-e2e")
    app.add_api_route("/graphql", graphql, methods=["GET", "POST"])
    app.add_api_route("/health", lambda: {"status": "ok"}, methods=["GET"])
    app.add_middleware(TruthMiddleware)

    @app.on_event("startup")
    async def _startup() -> None:
        pool = AsyncConnectionPool(ARGS.dsn, min_size=ARGS.pool_min, max_size=ARGS.pool_max,
                                   kwargs={"autocommit": True}, open=False, name="gql-e2e")
        await pool.open(wait=True, timeout=30)
        STATE["pool"] = pool
        STATE["redis"] = aioredis.from_url(ARGS.redis_url, max_connections=64)
        STATE["apq"] = {}
        STATE["truth"] = open(ARGS.truth, "a", buffering=1)

    @app.on_event("shutdown")
    async def _shutdown() -> None:
        await STATE["pool"].close()
        await STATE["redis"].close()
        STATE["truth"].close()

    return app


def main() -> int:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--prefix", default=f"gql-e2e:{os.getpid()}", help="Redis key prefix")
    ap.add_argument("--pool-min", type=int, default=4)
    ap.add_argument("--pool-max", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--instance", default="", help="a token for the collector's --cmdline")
    ARGS = ap.parse_args()
    random.seed(ARGS.seed)
    uvicorn.run(build_app(), host=ARGS.host, port=ARGS.port, loop=ARGS.loop,
                timeout_keep_alive=600, access_log=False, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
