#!/usr/bin/python3
"""Raw-socket HTTP/1.1 client for the e2e tests: it controls keep-alive, pipelining and chunking,
and counts exactly what it sent and what came back, per (method, endpoint, status).

Standalone (checks the client and the demo app without any collector):
    /usr/bin/python3 tests/e2e/http_client.py --port 8000 [--total 1000] [--seed 1]
exits 0 when every request got a response, every status was the expected one and the counts add
up to --total.

`endpoint` is computed like the collector's label: path without query string, numeric path
segments collapsed to `{id}`.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import socket
import sys
import time
from dataclasses import dataclass, field

USER_AGENT = "fraiseql-e2e-client"
_NUMERIC = re.compile(r"^[0-9]+$")


def normalize_endpoint(target: str) -> str:
    path = target.split("?", 1)[0].split("#", 1)[0]
    return "/".join("{id}" if _NUMERIC.match(seg) else seg for seg in path.split("/"))


@dataclass
class Req:
    method: str
    target: str
    expect: int                      # expected status (a mismatch is a client-side problem)
    body: bytes | None = None        # Content-Length body
    chunks: list[bytes] | None = None  # chunked body (sent as separate writes unless pipelined)
    close: bool = False              # send "Connection: close"
    content_type: str | None = None
    check: str | None = None         # "echo:<n>" / "graphql" / "health"
    kind: str = ""                   # a category name, for plan statistics

    @property
    def endpoint(self) -> str:
        return normalize_endpoint(self.target)

    def head(self, host: str) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {host}",
                 f"User-Agent: {USER_AGENT}", "Accept: */*"]
        if self.content_type:
            lines.append(f"Content-Type: {self.content_type}")
        if self.chunks is not None:
            lines.append("Transfer-Encoding: chunked")
        elif self.body is not None:
            lines.append(f"Content-Length: {len(self.body)}")
        if self.close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def segments(self, host: str) -> list[bytes]:
        """The request as the list of writes a non-pipelining client would do."""
        if self.chunks is not None:
            segs = [self.head(host)]
            for c in self.chunks:
                segs.append(b"%x\r\n" % len(c) + c + b"\r\n")
            segs.append(b"0\r\n\r\n")
            return segs
        return [self.head(host) + (self.body or b"")]

    def encode(self, host: str) -> bytes:
        return b"".join(self.segments(host))


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class ProtocolError(Exception):
    pass


class Conn:
    """One TCP connection with a receive buffer and an HTTP/1.1 response reader."""

    def __init__(self, host: str, port: int, timeout: float = 15.0) -> None:
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_request(self, req: Req, gap_s: float = 0.002) -> None:
        segs = req.segments(self.hostport)
        for i, seg in enumerate(segs):
            self.send(seg)
            if len(segs) > 1 and i + 1 < len(segs):
                time.sleep(gap_s)   # separate syscalls (and usually separate server reads)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _read_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            if not self._fill():
                raise ProtocolError(f"connection closed while waiting for {sep!r}")
        out, self.buf = self.buf.split(sep, 1)
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError("connection closed in the middle of a body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method: str = "GET") -> Resp:
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._read_until(b"\r\n"):   # trailers
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:   # body until close
            while self._fill():
                pass
            body, self.buf = self.buf, b""
            self.closed = True
        resp = Resp(status, headers, body)
        if resp.closes:
            self.closed = True
        return resp

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self.closed = True


class Tally:
    """What was sent and what came back, per label set."""

    def __init__(self) -> None:
        self.sent: collections.Counter = collections.Counter()       # (method, endpoint)
        self.received: collections.Counter = collections.Counter()   # (method, endpoint, status)
        self.kinds: collections.Counter = collections.Counter()
        self.problems: list[str] = []

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def total_received(self) -> int:
        return sum(self.received.values())

    def on_sent(self, req: Req) -> None:
        self.sent[(req.method, req.endpoint)] += 1
        self.kinds[req.kind] += 1

    def on_response(self, req: Req, resp: Resp) -> None:
        self.received[(req.method, req.endpoint, str(resp.status))] += 1
        if resp.status != req.expect:
            self.problems.append(f"{req.method} {req.target}: status {resp.status}, "
                                 f"expected {req.expect}: {resp.body[:200]!r}")
            return
        try:
            if req.check and req.check.startswith("echo:"):
                n = int(req.check[5:])
                got = json.loads(resp.body)["length"]
                if got != n:
                    self.problems.append(f"POST {req.target}: echo length {got}, sent {n}")
            elif req.check == "graphql":
                doc = json.loads(resp.body)
                if "data" not in doc or doc.get("errors"):
                    self.problems.append(f"POST /graphql: unexpected answer {resp.body[:200]!r}")
            elif req.check == "health":
                if json.loads(resp.body).get("status") != "ok":
                    self.problems.append(f"GET {req.target}: {resp.body[:200]!r}")
        except (ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"{req.method} {req.target}: bad body ({exc}): {resp.body[:200]!r}")

    def merge(self, other: "Tally") -> None:
        self.sent.update(other.sent)
        self.received.update(other.received)
        self.kinds.update(other.kinds)
        self.problems.extend(other.problems)

    def duration_counts(self) -> collections.Counter:
        """Expected histogram _count per (method, endpoint)."""
        out: collections.Counter = collections.Counter()
        for (m, e, _s), n in self.received.items():
            out[(m, e)] += n
        return out

    def table(self) -> str:
        rows = [f"{'method':6} {'endpoint':14} {'status':6} {'count':>6}"]
        for (m, e, s), n in sorted(self.received.items()):
            rows.append(f"{m:6} {e:14} {s:6} {n:6d}")
        rows.append(f"sent {self.total_sent}, responses {self.total_received}, "
                    f"problems {len(self.problems)}")
        return "\n".join(rows)


# --------------------------------------------------------------------------- request factory

GQL_USERS = {"query": "query GetUsers($limit: Int) { users(limit: $limit) { id name email } }",
             "operationName": "GetUsers", "variables": {"limit": 5}}
GQL_USER = {"query": "query GetUser($id: Int!) { user(id: $id) { id name } }",
            "operationName": "GetUser"}
GQL_ITEMS = {"query": "{ items(limit: 3) { id title priceCents } }"}
GQL_CREATE = {"query": "mutation CreateUser($input: CreateUserInput!) "
                       "{ createUser(input: $input) { id name email } }",
              "operationName": "CreateUser"}


class Factory:
    """Deterministic (seeded) request generator covering every status and body shape."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def health(self) -> Req:
        target = "/health" if self.rng.random() < 0.8 else f"/health?probe={self.rng.randint(1, 99)}"
        return Req("GET", target, 200, check="health", kind="health")

    def item(self) -> Req:
        if self.rng.random() < 0.1:
            return Req("GET", f"/items/{self.rng.randint(1000, 99999)}", 404, kind="item_missing")
        n = self.rng.randint(1, 100)
        target = f"/items/{n}" if self.rng.random() < 0.85 else f"/items/{n}?fields=all"
        return Req("GET", target, 200, kind="item")

    def graphql(self) -> Req:
        x = self.rng.random()
        if x < 0.3:
            doc = dict(GQL_USERS)
        elif x < 0.6:
            doc = dict(GQL_USER, variables={"id": self.rng.randint(1, 10)})
        elif x < 0.85:
            doc = dict(GQL_ITEMS)
        else:
            doc = dict(GQL_CREATE, variables={"input": {"name": "e2e",
                                                        "email": f"e2e-{os.urandom(8).hex()}@x.test"}})
        return Req("POST", "/graphql", 200, body=json.dumps(doc).encode(),
                   content_type="application/json", check="graphql", kind="graphql")

    def notfound(self) -> Req:
        return Req("GET", "/notfound", 404, kind="notfound")

    def boom(self) -> Req:
        target = "/boom" if self.rng.random() < 0.5 else "/boom?kind=error"
        return Req("GET", target, 500, kind="boom")

    def echo(self, size: int) -> Req:
        return Req("POST", "/echo", 200, body=self.rng.randbytes(size),
                   content_type="application/octet-stream", check=f"echo:{size}",
                   kind=f"echo_{size}")

    def echo_chunked(self) -> Req:
        chunks = [self.rng.randbytes(self.rng.choice((1, 10, 700, 4096, 9000)))
                  for _ in range(self.rng.randint(2, 5))]
        return Req("POST", "/echo", 200, chunks=chunks, content_type="application/octet-stream",
                   check=f"echo:{sum(map(len, chunks))}", kind="echo_chunked")

    def any(self) -> Req:
        x = self.rng.random()
        if x < 0.25:
            return self.health()
        if x < 0.45:
            return self.item()
        if x < 0.63:
            return self.graphql()
        if x < 0.71:
            return self.notfound()
        if x < 0.78:
            return self.boom()
        if x < 0.86:
            return self.echo(100)
        if x < 0.93:
            return self.echo(20 * 1024)
        return self.echo_chunked()


# --------------------------------------------------------------------------- runners

def run_single(host: str, port: int, req: Req, tally: Tally) -> None:
    """One connection for one request; closed by the client or by the server (Connection: close)."""
    c = Conn(host, port)
    try:
        c.send_request(req)
        tally.on_sent(req)
        tally.on_response(req, c.read_response(req.method))
    finally:
        c.close()


def run_sequential(conn: Conn, reqs: list[Req], tally: Tally) -> None:
    for req in reqs:
        conn.send_request(req)
        tally.on_sent(req)
        resp = conn.read_response(req.method)
        tally.on_response(req, resp)
        if conn.closed:
            raise ProtocolError(f"server closed a keep-alive connection after {req.target}")


def run_pipelined(conn: Conn, reqs: list[Req], tally: Tally) -> None:
    """All requests in ONE send on one connection, then read every response in order."""
    conn.send(b"".join(r.encode(conn.hostport) for r in reqs))
    for req in reqs:
        tally.on_sent(req)
    for req in reqs:
        tally.on_response(req, conn.read_response(req.method))
        if conn.closed and req is not reqs[-1]:
            raise ProtocolError("server closed a pipelined connection early")


def run_mixed(host: str, port: int, total: int = 1000, seed: int = 1,
              n_keepalive_conns: int = 6) -> Tally:
    """Exactly `total` requests: ~20% one connection per request, ~42% over keep-alive
    connections used round-robin, the rest pipelined in batches of 2..10; every status
    (200/404/500), /echo with 100 B and 20 KiB bodies, chunked bodies."""
    rng = random.Random(seed)
    f = Factory(rng)
    tally = Tally()
    n_single = total // 5
    n_keep = total * 42 // 100
    n_pipe = total - n_single - n_keep

    # Guarantee coverage, whatever the seed: a few of every kind in each mode.
    def batch(n: int) -> list[Req]:
        must = [f.health(), f.item(), f.graphql(), f.notfound(), f.boom(), f.echo(100),
                f.echo(20 * 1024), f.echo_chunked(), f.graphql()]
        must = must[:n]
        reqs = must + [f.any() for _ in range(n - len(must))]
        rng.shuffle(reqs)
        return reqs

    # 1. one connection per request; half announce Connection: close, half are closed by us.
    for req in batch(n_single):
        req.close = rng.random() < 0.5
        run_single(host, port, req, tally)

    # 2. keep-alive connections, interleaved round-robin (several open at once).
    conns = [Conn(host, port) for _ in range(n_keepalive_conns)]
    try:
        for i, req in enumerate(batch(n_keep)):
            run_sequential(conns[i % len(conns)], [req], tally)
    finally:
        for c in conns:
            c.close()

    # 3. pipelines: batches of 2..10 written in one send each, over a few connections.
    reqs = batch(n_pipe)
    conn = Conn(host, port)
    try:
        i = 0
        while i < len(reqs):
            n = min(rng.randint(2, 10), len(reqs) - i)
            run_pipelined(conn, reqs[i:i + n], tally)
            i += n
            if rng.random() < 0.2:          # switch to a fresh connection now and then
                conn.close()
                conn = Conn(host, port)
    finally:
        conn.close()
    assert tally.total_sent == total, (tally.total_sent, total)
    return tally


def run_simple(host: str, port: int, n: int, seed: int = 7) -> Tally:
    """n requests (health / items / notfound / graphql) over one keep-alive connection."""
    rng = random.Random(seed)
    f = Factory(rng)
    tally = Tally()
    pick = [f.health, f.item, f.notfound, f.graphql]
    conn = Conn(host, port)
    try:
        run_sequential(conn, [rng.choice(pick)() for _ in range(n)], tally)
    finally:
        conn.close()
    return tally


# --------------------------------------------------------------------------- garbage

def tls_client_hello(server_name: str = "localhost") -> bytes:
    """A syntactically valid TLS 1.2/1.3 ClientHello record (what a TLS client sends first)."""
    sni_name = server_name.encode()
    sni = (b"\x00\x00" + (len(sni_name) + 5).to_bytes(2, "big") + (len(sni_name) + 3).to_bytes(2, "big")
           + b"\x00" + len(sni_name).to_bytes(2, "big") + sni_name)
    versions = b"\x00\x2b\x00\x05\x04\x03\x04\x03\x03"
    groups = b"\x00\x0a\x00\x04\x00\x02\x00\x1d"
    sigalgs = b"\x00\x0d\x00\x06\x00\x04\x04\x03\x08\x04"
    keyshare_key = os.urandom(32)
    keyshare = (b"\x00\x33" + (len(keyshare_key) + 6).to_bytes(2, "big")
                + (len(keyshare_key) + 4).to_bytes(2, "big") + b"\x00\x1d"
                + len(keyshare_key).to_bytes(2, "big") + keyshare_key)
    exts = sni + versions + groups + sigalgs + keyshare
    ciphers = b"\x13\x01\x13\x02\xc0\x2f\xc0\x2b"
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32)
            + len(ciphers).to_bytes(2, "big") + ciphers + b"\x01\x00"
            + len(exts).to_bytes(2, "big") + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def send_garbage(host: str, port: int, payload: bytes, chunk: int = 65536,
                 read_timeout: float = 3.0) -> bytes:
    """Writes payload on a fresh connection (tolerating the server closing on us), then reads
    whatever comes back until close or timeout. Returns the bytes received."""
    s = socket.create_connection((host, port), timeout=read_timeout)
    got = b""
    try:
        try:
            for i in range(0, len(payload), chunk):
                s.sendall(payload[i:i + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                got += data
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    return got


def garbage_payloads() -> dict[str, bytes]:
    return {
        "tls_client_hello": tls_client_hello(),
        "random_4k": os.urandom(4096),
        "huge_header_1m": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * (1 << 20)
                           + b"\r\n\r\n"),
    }


# --------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--total", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--garbage", action="store_true", help="also send the garbage payloads first")
    ap.add_argument("--json", metavar="FILE",
                    help="write the received counts as JSON: [[method, endpoint, status, n], ...]")
    args = ap.parse_args(argv)
    if args.garbage:
        for name, payload in garbage_payloads().items():
            got = send_garbage(args.host, args.port, payload)
            print(f"garbage {name}: {len(payload)} B sent, answer {got[:60]!r}")
    t0 = time.monotonic()
    tally = run_mixed(args.host, args.port, args.total, args.seed)
    dt = time.monotonic() - t0
    print(tally.table())
    if args.json:
        with open(args.json, "w") as f:
            json.dump([[m, e, st, n] for (m, e, st), n in sorted(tally.received.items())], f, indent=1)
    print("kinds:", dict(sorted(tally.kinds.items())))
    print(f"{args.total} requests in {dt:.2f} s")
    for p in tally.problems[:20]:
        print("PROBLEM:", p)
    ok = (not tally.problems and tally.total_sent == args.total
          and tally.total_received == args.total)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
