"""GraphQL load client for tests/e2e/graphql_app.py: realistic documents, a seeded plan of
operations, and an asyncio raw-socket HTTP/1.1 client with exact concurrency (N workers, each on
its own keep-alive connection, each with one request in flight; no library).

    import graphql_client as gc
    plan = gc.make_plan(1000, seed=1, id_prefix="c8-")
    results = gc.run_load("127.0.0.1", port, plan, concurrency=8)

Every request carries X-Request-ID (the key of the app's truth and of the collector's request
log). Each Req knows the operation labels the collector should report for it (`expect`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import time
from urllib.parse import urlencode

DOCS = {
    "getUser": "query getUser($id: ID!) {\n  user(id: $id) {\n    id\n    name\n    email\n  }\n}",
    "listPosts": "query listPosts($limit: Int) {\n  posts(limit: $limit) {\n    id\n    title\n"
                 "    author {\n      id\n      name\n    }\n  }\n}",
    "dashboard": "query dashboard($authorId: ID!) {\n  dashboard(authorId: $authorId) {\n"
                 "    authorId\n    counts\n  }\n}",
    "createPost": "mutation createPost($input: CreatePostInput!) {\n"
                  "  createPost(input: $input) {\n    id\n    title\n    authorId\n  }\n}",
    "getPost": "query getPost($id: ID!) {\n  post(id: $id) {\n    id\n    title\n    body\n"
               "    author {\n      id\n      name\n    }\n  }\n}",
    "searchUsers": "query searchUsers($term: String!) {\n  searchUsers(term: $term) {\n    id\n"
                   "    name\n  }\n  stats {\n    total\n  }\n}",
}
# (depth, fields, complexity) per docs/graphql.md: `{ a { b } }` is depth 2; every selected field
# counts; no literal page multiplier in these documents (limit comes from a variable), so
# complexity == fields.
SHAPE = {"getUser": (2, 4, 4), "listPosts": (3, 6, 6), "dashboard": (2, 3, 3),
         "createPost": (2, 4, 4), "getPost": (3, 7, 7), "searchUsers": (2, 5, 5)}
OP_TYPE = {"createPost": "mutation"}
OP_MODE = {"getUser": "turbo", "createPost": "normal"}   # extensions.execution.mode, if any
N_PLUS_ONE_OP = "listPosts"
WEIGHTS = {"getUser": 25, "listPosts": 10, "dashboard": 15, "createPost": 15, "getPost": 20,
           "searchUsers": 15}


@dataclasses.dataclass
class Req:
    rid: str
    method: str
    path: str
    body: bytes = b""
    # per operation in the request: (operation_type, operation_name, mode, outcome, apq)
    expect: list = dataclasses.field(default_factory=list)
    # per operation: (depth, fields, complexity) or None when not checked
    shape: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Res:
    rid: str
    status: int
    body: bytes
    t_sent: float
    t_done: float

    def json(self):
        return json.loads(self.body)


def variables_for(op: str, rng: random.Random, n: int) -> tuple[dict, str]:
    """(variables, expected outcome)."""
    if op == "getUser":
        return {"id": rng.randint(1, 50)}, "success"
    if op == "listPosts":
        return {"limit": 12}, "success"
    if op == "dashboard":
        return {"authorId": rng.randint(1, 10)}, "success"
    if op == "createPost":
        return {"input": {"authorId": rng.randint(1, 10), "title": f"post {n}"}}, "success"
    if op == "getPost":
        return {"id": rng.randint(1, 40)}, "success"
    if op == "searchUsers":
        term = rng.choice(["", "partial", "user"])
        return {"term": term}, {"": "error", "partial": "partial", "user": "success"}[term]
    raise KeyError(op)


def post(rid: str, payload, expect: list, shape: list | None = None) -> Req:
    return Req(rid, "POST", "/graphql", json.dumps(payload).encode(), expect,
               shape or [None] * len(expect))


def get(rid: str, params: dict, expect: list, shape: list | None = None) -> Req:
    q = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in params.items()}
    return Req(rid, "GET", "/graphql?" + urlencode(q), b"", expect, shape or [None] * len(expect))


def op_request(rid: str, op: str, rng: random.Random, n: int) -> Req:
    variables, outcome = variables_for(op, rng, n)
    return post(rid, {"query": DOCS[op], "operationName": op, "variables": variables},
                [(OP_TYPE.get(op, "query"), op, OP_MODE.get(op, "unknown"), outcome, "none")],
                [SHAPE[op]])


def make_plan(total: int, seed: int, id_prefix: str) -> list[Req]:
    rng = random.Random(seed)
    ops = list(WEIGHTS)
    weights = [WEIGHTS[o] for o in ops]
    plan = []
    for i in range(total):
        op = ops[i] if i < len(ops) else rng.choices(ops, weights)[0]   # every op at least once
        plan.append(op_request(f"{id_prefix}{i}", op, rng, i))
    return plan


def apq_hash(doc: str) -> str:
    return hashlib.sha256(doc.encode()).hexdigest()


# --------------------------------------------------------------------------- HTTP

async def _read_response(r: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await r.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        return status, await r.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await r.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await r.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return status, bytes(body)
            body += await r.readexactly(size)
            await r.readexactly(2)
    raise RuntimeError(f"response without a length: {head!r}")


def _encode(req: Req, host: str, port: int) -> bytes:
    head = [f"{req.method} {req.path} HTTP/1.1", f"Host: {host}:{port}", f"X-Request-ID: {req.rid}",
            "User-Agent: gql-e2e"]
    if req.method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(req.body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + req.body


async def _run(host: str, port: int, reqs: list[Req], concurrency: int) -> list[Res]:
    queue: asyncio.Queue = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)
    out: list[Res] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                try:
                    req = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.monotonic()
                writer.write(_encode(req, host, port))
                await writer.drain()
                status, body = await _read_response(reader)
                out.append(Res(req.rid, status, body, t0, time.monotonic()))
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(reqs)) or 1)))
    return out


def run_load(host: str, port: int, reqs: list[Req], concurrency: int) -> list[Res]:
    """Sends every request with exactly `concurrency` keep-alive connections, one request in
    flight on each; returns the results (order of completion)."""
    return asyncio.run(_run(host, port, reqs, concurrency))
