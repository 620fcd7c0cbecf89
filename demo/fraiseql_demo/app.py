"""A FraiseQL-shaped demo server for observing with fraiseql-collector.

Same stack as FraiseQL v1: uvicorn + FastAPI/Starlette + psycopg 3 AsyncConnectionPool + redis-py
(asyncio). It is not FraiseQL: the GraphQL layer is a deliberately tiny executor over the
FraiseQL database conventions (v_* views exposing a jsonb `data` column, app.fn_* mutation
functions taking one jsonb argument).

Run (with demo/ as cwd or on PYTHONPATH; always Debian's /usr/bin/python3):
    /usr/bin/python3 -m uvicorn fraiseql_demo.app:app --host 127.0.0.1 --port 8000

Environment:
    DATABASE_URL      default postgresql://fraiseql:fraiseql@127.0.0.1:5432/fraiseql
    REDIS_URL         default redis://127.0.0.1:6379/0
    DEMO_CACHE_MODE   "always" (default): every DB-backed request does exactly one Redis GET, one
                      transaction and one Redis SET, so the I/O per request is deterministic.
                      "readthrough": GET; on a hit answer from Redis, on a miss run the
                      transaction then SET (a real cache; I/O depends on history).
    DEMO_CACHE_TTL_S  TTL of cache entries, default 30
    DEMO_POOL_MIN / DEMO_POOL_MAX  pool size, default 2 / 10

Per DB-backed request the wire shows (psycopg, autocommit connection + explicit transaction):
    BEGIN; SELECT 1; SET LOCAL app.request_id = '<uuid>'; <data query>; COMMIT
where <data query> is `SELECT data FROM v_user ...` / `SELECT data FROM v_item WHERE id = $1`
or, for the createUser mutation, `SELECT * FROM app.fn_create_user($1::jsonb)`.

Every route runs behind a Starlette BaseHTTPMiddleware (`@app.middleware("http")`), as in FraiseQL.

Routes:
    POST /graphql       {"query", "operationName", "variables"} -> {"data": ...}
    GET  /health        no I/O, 200
    GET  /items/{id}    Redis + DB; 200 (ids 1..100 are seeded) or 404 if the row does not exist
    GET  /boom          500 (HTTPException(500)); /boom?kind=error raises an error handled into 500
    POST /echo          reads the whole body (any size, Content-Length or chunked), returns length
    anything else       404 (Starlette's default)
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql://fraiseql:fraiseql@127.0.0.1:5432/fraiseql")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHE_MODE = os.environ.get("DEMO_CACHE_MODE", "always")
CACHE_TTL_S = int(os.environ.get("DEMO_CACHE_TTL_S", "30"))
POOL_MIN = int(os.environ.get("DEMO_POOL_MIN", "2"))
POOL_MAX = int(os.environ.get("DEMO_POOL_MAX", "10"))

if CACHE_MODE not in ("always", "readthrough"):
    raise RuntimeError(f"DEMO_CACHE_MODE must be 'always' or 'readthrough', not {CACHE_MODE!r}")

app = FastAPI(title="fraiseql-demo")
_state: dict[str, Any] = {}


# FraiseQL apps add Starlette BaseHTTPMiddleware (timing, security headers): the endpoint then
# runs in a child task and the middleware's task writes the response — the shape request
# attribution must handle.
@app.middleware("http")
async def _timing(request: Request, call_next):
    response = await call_next(request)
    response.headers["X-Demo-Handled"] = "1"
    return response


class DemoError(Exception):
    """Raised by /boom?kind=error; turned into a 500 by the handler below."""


@app.exception_handler(DemoError)
async def _demo_error_handler(_request: Request, exc: DemoError) -> JSONResponse:
    return JSONResponse(status_code=500, content={"errors": [{"message": str(exc)}]})


@app.on_event("startup")
async def _startup() -> None:
    pool = AsyncConnectionPool(DATABASE_URL, min_size=POOL_MIN, max_size=POOL_MAX,
                               kwargs={"autocommit": True}, open=False, name="fraiseql-demo")
    await pool.open(wait=True, timeout=30)
    _state["pool"] = pool
    _state["redis"] = aioredis.from_url(REDIS_URL)


@app.on_event("shutdown")
async def _shutdown() -> None:
    pool = _state.pop("pool", None)
    if pool is not None:
        await pool.close()
    r = _state.pop("redis", None)
    if r is not None:
        await r.close()


# --------------------------------------------------------------------------- DB + cache plumbing

async def _transaction(query: str, params: tuple) -> list[tuple]:
    """One request's transaction: BEGIN, pool check, request id, the data query, COMMIT."""
    pool: AsyncConnectionPool = _state["pool"]
    async with pool.connection() as conn:
        async with conn.transaction():          # BEGIN ... COMMIT (ROLLBACK on error)
            await conn.execute("SELECT 1")      # the pool check FraiseQL does per checkout
            await conn.execute(sql.SQL("SET LOCAL app.request_id = {}").format(
                sql.Literal(str(uuid.uuid4()))))
            cur = await conn.execute(query, params)
            return await cur.fetchall()


async def _fetch(key: str, query: str, params: tuple) -> list[Any]:
    """The `data` column of every row: Redis GET, then (unless a readthrough hit) the
    transaction and a Redis SET of the result."""
    r = _state["redis"]
    cached = await r.get(key)
    if cached is not None and CACHE_MODE == "readthrough":
        return json.loads(cached)
    rows = await _transaction(query, params)
    data = [row[0] for row in rows]
    await r.set(key, json.dumps(data, default=str), ex=CACHE_TTL_S)
    return data


# --------------------------------------------------------------------------- plain routes

@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> dict:
    rows = await _fetch(f"fraiseql:item:{item_id}",
                        "SELECT data FROM v_item WHERE id = %s", (item_id,))
    if not rows:
        raise HTTPException(status_code=404, detail=f"item {item_id} not found")
    return rows[0]


@app.get("/db-heavy")
async def db_heavy(n: int = 20) -> dict:
    """A DB-heavy request (the overhead benchmark's third route): one transaction running n
    statements (default 20, at most 200), no cache."""
    n = max(1, min(n, 200))
    pool: AsyncConnectionPool = _state["pool"]
    total = 0
    async with pool.connection() as conn:
        async with conn.transaction():
            for i in range(n):
                cur = await conn.execute("SELECT data FROM v_item WHERE id = %s", (i % 100 + 1,))
                total += len(await cur.fetchall())
    return {"statements": n, "rows": total}


@app.get("/boom")
async def boom(kind: str = "http") -> dict:
    if kind == "error":
        raise DemoError("boom: a handled application error")
    raise HTTPException(status_code=500, detail="boom")


@app.post("/echo")
async def echo(request: Request) -> dict:
    body = await request.body()
    return {"length": len(body)}


# --------------------------------------------------------------------------- GraphQL (tiny)

_TOKEN = re.compile(r'\s*(?:#[^\n]*\n\s*)*(\.\.\.|[{}():!,$=\[\]]|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|[A-Za-z_]\w*)')


def _tokenize(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"syntax error near {text[pos:pos + 20]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
    return [t for t in out if t != ","]


class _Parser:
    """Parses `[query|mutation [Name] [(vars)]] { field[(args)] { sub ... } }` (one root field)."""

    def __init__(self, text: str, variables: dict) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.vars = variables

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expect: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expect is not None and tok != expect):
            raise ValueError(f"expected {expect or 'token'}, got {tok!r}")
        self.i += 1
        return tok

    def skip_balanced(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            tok = self.take()
            depth += tok == open_
            depth -= tok == close
            if depth == 0:
                return

    def value(self) -> Any:
        tok = self.take()
        if tok == "$":
            return self.vars.get(self.take())
        if tok.startswith('"'):
            return json.loads(tok)
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok == "{":
            obj = {}
            while self.peek() != "}":
                k = self.take()
                self.take(":")
                obj[k] = self.value()
            self.take("}")
            return obj
        return {"true": True, "false": False, "null": None}.get(tok, tok)

    def selection(self) -> list[str]:
        names: list[str] = []
        self.take("{")
        while self.peek() != "}":
            name = self.take()
            if self.peek() == ":":          # alias: keep the real field name
                self.take(":")
                name = self.take()
            if self.peek() == "(":
                self.skip_balanced("(", ")")
            if self.peek() == "{":
                self.skip_balanced("{", "}")
            names.append(name)
        self.take("}")
        return names

    def parse(self) -> tuple[str, str, dict, list[str]]:
        op_type = "query"
        if self.peek() in ("query", "mutation", "subscription"):
            op_type = self.take()
            if self.peek() not in ("{", "("):
                self.take()                 # operation name
            if self.peek() == "(":
                self.skip_balanced("(", ")")
        self.take("{")
        field = self.take()
        if self.peek() == ":":
            self.take(":")
            field = self.take()
        args: dict = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                k = self.take()
                self.take(":")
                args[k] = self.value()
            self.take(")")
        sub = self.selection() if self.peek() == "{" else []
        return op_type, field, args, sub


def _project(obj: Any, fields: list[str]) -> Any:
    if not fields or not isinstance(obj, dict):
        return obj
    return {f: obj.get(f) for f in fields}


async def _resolve(op_type: str, field: str, args: dict, sub: list[str], cache_key: str) -> Any:
    if op_type == "query" and field == "users":
        rows = await _fetch(cache_key, "SELECT data FROM v_user ORDER BY id LIMIT %s",
                            (int(args.get("limit", 10)),))
        return [_project(r, sub) for r in rows]
    if op_type == "query" and field == "user":
        rows = await _fetch(cache_key, "SELECT data FROM v_user WHERE id = %s",
                            (int(args["id"]),))
        return _project(rows[0], sub) if rows else None
    if op_type == "query" and field == "items":
        rows = await _fetch(cache_key, "SELECT data FROM v_item ORDER BY id LIMIT %s",
                            (int(args.get("limit", 10)),))
        return [_project(r, sub) for r in rows]
    if op_type == "mutation" and field == "createUser":
        inp = dict(args.get("input") or {})
        inp.setdefault("name", "anonymous")
        inp.setdefault("email", f"{uuid.uuid4().hex}@example.com")
        r = _state["redis"]
        await r.get(cache_key)              # keep the GET/SET cache shape for mutations too
        rows = await _transaction("SELECT * FROM app.fn_create_user(%s::jsonb)", (Jsonb(inp),))
        await r.set(cache_key, json.dumps(rows[0][0], default=str), ex=CACHE_TTL_S)
        return _project(rows[0][0], sub)
    raise ValueError(f"Cannot query field {field!r} on type "
                     f"{'Mutation' if op_type == 'mutation' else 'Query'}")


@app.post("/graphql")
async def graphql(request: Request) -> JSONResponse:
    try:
        payload = json.loads(await request.body())
        query = payload["query"]
        variables = payload.get("variables") or {}
        op_name = payload.get("operationName")
    except (ValueError, KeyError, TypeError):
        return JSONResponse(status_code=400,
                            content={"errors": [{"message": "expected a GraphQL JSON body"}]})
    try:
        op_type, field, args, sub = _Parser(query, variables).parse()
    except ValueError as exc:
        return JSONResponse(status_code=200, content={"data": None,
                                                      "errors": [{"message": str(exc)}]})
    digest = hashlib.sha256(json.dumps([query, op_name, variables], sort_keys=True)
                            .encode()).hexdigest()
    try:
        value = await _resolve(op_type, field, args, sub, f"fraiseql:gql:{digest}")
    except ValueError as exc:
        return JSONResponse(status_code=200, content={"data": None,
                                                      "errors": [{"message": str(exc)}]})
    return JSONResponse(content={"data": {field: value},
                                 "extensions": {"execution": {"mode": "normal"}}})
