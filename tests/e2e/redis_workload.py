#!/usr/bin/python3
"""The watched Redis client of tests/e2e/test_redis_e2e.py: one process, driven step by step.

    /usr/bin/python3 tests/e2e/redis_workload.py [--port 6379] [--prefix rde2e:NONCE:]

Protocol (line based): prints {"pid": N, "ready": true} on stdout, then reads steps from stdin
and answers each with one JSON line on stdout:

    main           the measured workload (below); mid-way it prints {"subscribed": CHANNEL} and
                   waits for a line "published N" (another, unwatched process publishes N
                   messages to CHANNEL) before it reads them
    garbage        a RESP connection (PING) then random bytes on Redis' port
    fake PORT      one GET to a fake server on PORT that answers a huge declared length
    after          a small exact workload (the collector must still count exactly after garbage)
    quit           exit 0

No connection exists before "main": the collector is started (--pid) before the first connect.
Each step's answer carries what the plan expects, computed here from the replies themselves
(and checked against the plan): "hits", "misses" (cache reads, redis-py and RESP3 sockets),
"not_executed" (commands queued in a MULTI whose EXEC failed, by INFO commandstats name),
"ops" (cache operations get/set/delete sent, executed or not) and "sent" (every command this
process sent, by commandstats name, not_executed ones included).

Debian's /usr/bin/python3 with python3-redis (redis-py 4.3; no RESP3 support, so the RESP3
connection is a raw socket with its own reader below).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import socket
import sys
import time

import redis
import redis.asyncio as aioredis

HOST = "127.0.0.1"

# Cache classification, as documented in userspace/protocols/redis/connection.h.
GET_OPS = {"get", "getex", "getdel", "hget", "mget", "hmget", "exists", "hgetall"}
SET_OPS = {"set", "setex", "psetex", "setnx", "mset", "msetnx", "hset", "hsetnx", "hmset"}
DEL_OPS = {"del", "unlink", "hdel"}


def cache_op(name: str) -> str | None:
    name = name.lower()
    if name in GET_OPS:
        return "get"
    if name in SET_OPS:
        return "set"
    if name in DEL_OPS:
        return "delete"
    return None


class Tally:
    def __init__(self) -> None:
        self.sent: collections.Counter = collections.Counter()
        self.not_executed: collections.Counter = collections.Counter()
        self.no_reply: collections.Counter = collections.Counter()
        self.ops: collections.Counter = collections.Counter()
        self.hits = 0
        self.misses = 0
        self.notes: dict = {}

    def send(self, name: str, n: int = 1) -> None:
        name = name.lower()
        self.sent[name] += n
        op = cache_op(name)
        if op:
            self.ops[op] += n

    def read(self, name: str, reply) -> None:
        """Hits/misses of a cache read from its (decoded) reply."""
        name = name.lower()
        if name in ("get", "getex", "getdel", "hget"):
            if reply is None:
                self.misses += 1
            else:
                self.hits += 1
        elif name in ("mget", "hmget"):
            for v in reply:
                if v is None:
                    self.misses += 1
                else:
                    self.hits += 1
        else:
            raise ValueError(name)

    def exists(self, keys: int, reply: int) -> None:
        self.hits += reply
        self.misses += keys - reply

    def as_json(self, step: str) -> dict:
        return {"step": step, "sent": dict(self.sent), "not_executed": dict(self.not_executed),
                "no_reply": dict(self.no_reply),
                "ops": dict(self.ops), "hits": self.hits, "misses": self.misses,
                "notes": self.notes}


def out(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


# --------------------------------------------------------------------------- RESP3 raw socket

class Resp3:
    """A minimal RESP2/RESP3 client on a raw socket (values decoded to Python)."""

    def __init__(self, port: int) -> None:
        self.s = socket.create_connection((HOST, port))
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"_":
            return None
        if t == b",":
            return float(rest)
        if t == b"#":
            return rest == b"t"
        if t == b"(":
            return int(rest)
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            return RuntimeError(data.decode()) if t == b"!" else data
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None
            items = [self.read() for _ in range(n)]
            return set(items) if t == b"~" else items
        if t == b"%":
            n = int(rest)
            return {self._key(self.read()): self.read() for _ in range(n)}
        if t == b"|":
            n = int(rest)
            for _ in range(2 * n):
                self.read()
            return self.read()
        raise ValueError(f"unexpected RESP line {line[:40]!r}")

    @staticmethod
    def _key(k):
        return k.decode() if isinstance(k, bytes) else k

    @staticmethod
    def encode(*args) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(parts)

    def pipeline(self, cmds: list[tuple]) -> list:
        self.s.sendall(b"".join(self.encode(*c) for c in cmds))
        return [self.read() for _ in cmds]

    def call(self, *args):
        return self.pipeline([args])[0]

    def close(self) -> None:
        self.s.close()


# --------------------------------------------------------------------------- steps

def step_main(port: int, prefix: str) -> dict:
    t = Tally()
    k = lambda name: f"{prefix}{name}"  # noqa: E731
    r = redis.Redis(host=HOST, port=port)
    r2 = redis.Redis(host=HOST, port=port)   # a second connection (WATCH breaker)

    # 1. Pipelines of 50 commands (transaction=False), 4 of them: 200 commands.
    for p_i in range(4):
        p = r.pipeline(transaction=False)
        names = []
        for i in range(50):
            key = k(f"p{p_i}:{i % 10}")
            kind = i % 5
            if kind == 0:
                p.set(key, f"v{i}")
                names.append("set")
            elif kind == 1:
                p.get(key)
                names.append("get")
            elif kind == 2:
                p.incr(k(f"p{p_i}:ctr"))
                names.append("incrby")   # redis-py incr() sends INCRBY
            elif kind == 3:
                p.hset(k(f"p{p_i}:h"), f"f{i}", i)
                names.append("hset")
            else:
                p.get(k(f"p{p_i}:absent{i}"))
                names.append("get")
        replies = p.execute()
        expect(len(replies) == 50, "pipeline reply count")
        for name, rep in zip(names, replies):
            t.send(name)
            if name == "get":
                t.read(name, rep)
    t.notes["pipelines"] = 4

    # 2. MULTI/EXEC (transaction=True): MULTI + 5 queued + EXEC.
    p = r.pipeline(transaction=True)
    p.set(k("tx:a"), "1").incr(k("tx:ctr")).get(k("tx:a")).hset(k("tx:h"), "f", "v").get(k("tx:none"))
    res = p.execute()
    expect(res[2] == b"1" and res[4] is None, f"MULTI/EXEC replies {res}")
    for name in ("multi", "set", "incrby", "get", "hset", "get", "exec"):
        t.send(name)
    t.read("get", res[2])
    t.read("get", res[4])

    # 3. WATCH + failed EXEC: another connection changes the watched key before EXEC.
    r.set(k("w"), "0")
    t.send("set")
    p = r.pipeline(transaction=True)
    p.watch(k("w"))
    t.send("watch")
    r2.set(k("w"), "changed")
    t.send("set")
    p.multi()
    p.set(k("w"), "mine")
    p.get(k("w"))
    p.incr(k("w:ctr"))
    failed = False
    try:
        p.execute()
    except redis.WatchError:
        failed = True
    expect(failed, "WATCH did not make EXEC fail")
    for name in ("multi", "set", "get", "incrby", "exec"):
        t.send(name)
    for name in ("set", "get", "incrby"):
        t.not_executed[name] += 1
    # EXEC (even aborted) unwatches and redis-py 4.3 then sends no UNWATCH.
    p.reset()

    # 4. Pub/sub: subscribe here, another (unwatched) process publishes to every channel.
    #    redis-py (RESP2) on one channel; a raw RESP3 connection on two channels (pushes), which
    #    also sends PING and GET while subscribed (allowed in RESP3).
    channel = k("chan")
    sub = r.pubsub()
    sub.subscribe(channel)
    t.send("subscribe")
    msg = sub.get_message(timeout=5)
    expect(msg is not None and msg["type"] == "subscribe", f"subscribe confirmation {msg}")
    c3 = Resp3(port)
    expect(isinstance(c3.call("HELLO", "3"), dict), "HELLO 3")
    t.send("hello")
    ch3 = [k("chan3a"), k("chan3b")]
    c3.s.sendall(Resp3.encode("SUBSCRIBE", *ch3))
    t.send("subscribe")
    for i, ch in enumerate(ch3):
        v = c3.read()
        expect(v == [b"subscribe", ch.encode(), i + 1], f"RESP3 confirmation {v}")
    out({"subscribed": [channel] + ch3})
    line = sys.stdin.readline().split()
    expect(line[:1] == ["published"], f"expected 'published N', got {line}")
    n = int(line[1])
    got = 0
    deadline = time.monotonic() + 10
    while got < n and time.monotonic() < deadline:
        m = sub.get_message(timeout=1)
        if m and m["type"] == "message":
            got += 1
    expect(got == n, f"received {got}/{n} messages")
    sub.ping()                                  # RESP2 subscribed PING: ["pong", ""]
    t.send("ping")
    m = sub.get_message(timeout=5)
    expect(m is not None and m["type"] == "pong", f"subscribed ping {m}")
    sub.unsubscribe(channel)
    t.send("unsubscribe")
    m = sub.get_message(timeout=5)
    expect(m is not None and m["type"] == "unsubscribe", f"unsubscribe {m}")
    sub.close()
    pushes = [c3.read() for _ in range(2 * n)]
    expect(all(p_[0] == b"message" for p_ in pushes), "RESP3 pushes")
    # While subscribed (RESP3): PING answers +PONG, GET answers normally.
    rep = c3.pipeline([("PING",), ("GET", k("nothing")), ("SET", k("sub3"), "v"), ("GET", k("sub3"))])
    for name in ("ping", "get", "set", "get"):
        t.send(name)
    expect(rep[0] == "PONG" and rep[1] is None and rep[3] == b"v", f"RESP3 subscribed {rep}")
    t.read("get", rep[1])
    t.read("get", rep[3])
    c3.s.sendall(Resp3.encode("UNSUBSCRIBE"))  # no channel: one confirmation per channel
    t.send("unsubscribe")
    confs = [c3.read() for _ in ch3]
    expect(sorted(c_[0] for c_ in confs) == [b"unsubscribe"] * 2, f"RESP3 unsubscribe {confs}")
    expect(c3.call("PING") == "PONG", "PING after unsubscribe")
    t.send("ping")
    c3.close()
    t.notes["messages"] = {"resp2": got, "resp3": len(pushes)}

    # 4b. A blocking command that times out, a container command, and a large MGET.
    v = r.blpop([k("nolist")], timeout=0.2)
    expect(v is None, f"BLPOP {v}")
    t.send("blpop")
    r.client_setname("rde2e-workload")
    t.send("client")
    big_keys = [k(f"m:{i}") for i in range(5000)]
    r.mset({key: "x" for key in big_keys[:300]})
    t.send("mset")
    v = r.mget(big_keys)                       # 300 hits, 4,700 misses in one 5,000-element reply
    t.send("mget")
    t.read("mget", v)
    r.delete(*big_keys[:300])
    t.send("del")

    # 5. A 1 MiB value.
    big = os.urandom(1 << 20)
    r.set(k("big"), big)
    t.send("set")
    v = r.get(k("big"))
    expect(v == big, "1 MiB GET")
    t.send("get")
    t.read("get", v)

    # 6. The hit/miss plan: GET MGET HGET HMGET EXISTS over present and absent keys.
    hits0, misses0 = t.hits, t.misses
    present = [k(f"c:{i}") for i in range(10)]
    absent = [k(f"c:none:{i}") for i in range(10)]
    r.mset({key: f"val{i}" for i, key in enumerate(present)})
    t.send("mset")
    r.hset(k("c:h"), mapping={"a": "1", "b": "2", "c": "3"})
    t.send("hset")
    plan_hits = plan_misses = 0
    for key in present[:6] + absent[:4]:
        v = r.get(key)
        t.send("get")
        t.read("get", v)
    plan_hits += 6
    plan_misses += 4
    v = r.mget(present[:5] + absent[:3])
    t.send("mget")
    t.read("mget", v)
    plan_hits += 5
    plan_misses += 3
    for field in ("a", "b", "zz"):
        v = r.hget(k("c:h"), field)
        t.send("hget")
        t.read("hget", v)
    v = r.hget(k("c:nohash"), "a")
    t.send("hget")
    t.read("hget", v)
    plan_hits += 2
    plan_misses += 2
    v = r.hmget(k("c:h"), ["a", "x", "c", "y", "b"])
    t.send("hmget")
    t.read("hmget", v)
    plan_hits += 3
    plan_misses += 2
    v = r.exists(*(present[:4] + absent[:3]))
    t.send("exists")
    t.exists(7, v)
    plan_hits += 4
    plan_misses += 3
    v = r.exists(present[0], present[0], absent[0])   # repeated keys count each time
    t.send("exists")
    t.exists(3, v)
    plan_hits += 2
    plan_misses += 1
    # Deletes, then the deleted keys miss.
    r.delete(present[8], present[9])
    t.send("del")
    r.hdel(k("c:h"), "c")
    t.send("hdel")
    r.unlink(present[7])
    t.send("unlink")
    v = r.mget([present[7], present[8], present[0]])
    t.send("mget")
    t.read("mget", v)
    plan_hits += 1
    plan_misses += 2
    v = r.hget(k("c:h"), "c")
    t.send("hget")
    t.read("hget", v)
    plan_misses += 1

    # 7. Errors: WRONGTYPE (failed during execution) and a wrong arity (rejected before).
    try:
        r.get(k("c:h"))
        expect(False, "GET on a hash did not fail")
    except redis.ResponseError as e:
        expect(str(e).startswith("WRONGTYPE"), str(e))
    t.send("get")
    try:
        r.execute_command("GET")
        expect(False, "GET without a key did not fail")
    except redis.ResponseError as e:
        expect("wrong number of arguments" in str(e), str(e))
    t.send("get")
    try:
        r.incr(k("c:h"))
    except redis.ResponseError:
        pass
    t.send("incrby")
    t.notes["errors"] = {"wrongtype": 2, "arity": 1}

    # 8. RESP3: HELLO 3 on a raw connection, then every RESP3 reply type the plan reads.
    c = Resp3(port)
    hello = c.call("HELLO", "3")
    t.send("hello")
    expect(isinstance(hello, dict) and hello.get("proto") == 3, f"HELLO 3 -> {hello}")
    rep = c.pipeline([
        ("SET", k("r3:a"), "x"),            # +OK
        ("GET", k("r3:a")),                 # $ hit
        ("GET", k("r3:none")),              # _ miss
        ("MGET", k("r3:a"), k("r3:none"), present[1]),   # * of $/_ : 2 hits 1 miss
        ("HSET", k("r3:h"), "f", "1", "g", "2"),
        ("HGETALL", k("r3:h")),             # % map
        ("HGETALL", k("r3:nohash")),        # empty map: a miss
        ("HMGET", k("r3:h"), "f", "nope"),  # 1 hit 1 miss
        ("EXISTS", k("r3:a"), k("r3:none")),  # 1 hit 1 miss
        ("SADD", k("r3:s"), "m1", "m2"),
        ("SMEMBERS", k("r3:s")),            # ~ set
        ("ZADD", k("r3:z"), "1.5", "m"),
        ("ZSCORE", k("r3:z"), "m"),         # , double
        ("HGET", k("r3:h"), "nope"),        # _ miss
        ("GET", k("c:h")),                  # WRONGTYPE error in RESP3
        ("DEL", k("r3:a")),
        ("GET", k("r3:a")),                 # miss after delete
    ])
    names = ["set", "get", "get", "mget", "hset", "hgetall", "hgetall", "hmget", "exists",
             "sadd", "smembers", "zadd", "zscore", "hget", "get", "del", "get"]
    for name, v in zip(names, rep):
        t.send(name)
        if isinstance(v, RuntimeError):
            expect(name == "get" and str(v).startswith("WRONGTYPE"), f"{name}: {v}")
            continue
        if name in ("get", "hget", "mget", "hmget"):
            t.read(name, v)
        elif name == "exists":
            t.exists(2, v)
        elif name == "hgetall":
            if v:
                t.hits += 1
            else:
                t.misses += 1
    expect(isinstance(rep[5], dict) and rep[6] == {} and isinstance(rep[10], set)
           and isinstance(rep[12], float), f"RESP3 types: {rep}")
    plan_hits += 1 + 2 + 1 + 1 + 1          # GET, MGET, HGETALL, HMGET, EXISTS
    plan_misses += 1 + 1 + 1 + 1 + 1 + 1 + 1  # GET, MGET, empty HGETALL, HMGET, EXISTS, HGET, GET
    # A MULTI/EXEC in RESP3 too.
    rep = c.pipeline([("MULTI",), ("GET", present[2]), ("GET", k("r3:none2")), ("EXEC",)])
    for name in ("multi", "get", "get", "exec"):
        t.send(name)
    expect(rep[3] is not None and len(rep[3]) == 2, f"RESP3 EXEC {rep}")
    t.read("get", rep[3][0])
    t.read("get", rep[3][1])
    plan_hits += 1
    plan_misses += 1
    c.close()

    # 8b. RESP2 on a raw socket: inline commands, EXECABORT, DISCARD, CLIENT REPLY SKIP/OFF/ON.
    #     The first command is a RESP array: the collector's protocol inference classifies a
    #     connection as Redis only from a RESP array (a connection opened with an inline command
    #     stays unparsed; see the report of this test).
    c = Resp3(port)
    expect(c.call("PING") == "PONG", "PING")
    t.send("ping")
    c.s.sendall(f"PING\r\nSET {k('inl')} v\r\nGET {k('inl')}\r\nEXISTS {k('inl')} {k('nokey')}\r\n"
                .encode())
    rep = [c.read() for _ in range(4)]
    expect(rep == ["PONG", "OK", b"v", 1], f"inline {rep}")
    for name in ("ping", "set", "get", "exists"):
        t.send(name)
    t.read("get", rep[2])
    t.exists(2, rep[3])
    plan_hits += 2
    plan_misses += 1
    # A command rejected at queue time (arity): EXEC answers EXECABORT, nothing runs.
    rep = c.pipeline([("MULTI",), ("SET", k("xa"), "1"), ("GET",), ("EXEC",)])
    expect(rep[0] == "OK" and rep[1] == "QUEUED" and isinstance(rep[2], RuntimeError)
           and isinstance(rep[3], RuntimeError) and str(rep[3]).startswith("EXECABORT"), f"{rep}")
    for name in ("multi", "set", "get", "exec"):
        t.send(name)
    t.not_executed["set"] += 1
    rep = c.pipeline([("MULTI",), ("SET", k("xd"), "1"), ("INCR", k("xd")), ("DISCARD",)])
    expect(rep == ["OK", "QUEUED", "QUEUED", "OK"], f"DISCARD {rep}")
    for name in ("multi", "set", "incr", "discard"):
        t.send(name)
    t.not_executed["set"] += 1
    t.not_executed["incr"] += 1
    # CLIENT REPLY SKIP: no reply to it nor to the next command; OFF ... ON.
    c.s.sendall(Resp3.encode("CLIENT", "REPLY", "SKIP") + Resp3.encode("SET", k("sk"), "1")
                + Resp3.encode("GET", k("sk")))
    v = c.read()
    expect(v == b"1", f"after SKIP {v}")
    t.read("get", v)
    c.s.sendall(Resp3.encode("CLIENT", "REPLY", "OFF") + Resp3.encode("SET", k("off"), "1")
                + Resp3.encode("GET", k("off")) + Resp3.encode("CLIENT", "REPLY", "ON")
                + Resp3.encode("GET", k("off")))
    rep = [c.read(), c.read()]
    expect(rep == ["OK", b"1"], f"after OFF/ON {rep}")
    t.read("get", rep[1])
    plan_hits += 2
    for name in ("client", "set", "get", "client", "set", "get", "client", "get"):
        t.send(name)
    t.no_reply.update({"client": 2, "set": 2, "get": 1})
    c.close()

    # 9. asyncio redis-py (the demo app's client): a pipeline and single commands.
    async def aio() -> None:
        a = aioredis.Redis(host=HOST, port=port)
        try:
            p = a.pipeline(transaction=False)
            for i in range(20):
                p.get(present[i % 10])
            rep = await p.execute()
            for v in rep:
                t.send("get")
                t.read("get", v)
            await a.set(k("aio"), "1", ex=30)
            t.send("set")
            v = await a.get(k("aio"))
            t.send("get")
            t.read("get", v)
        finally:
            await a.close()
            await a.connection_pool.disconnect()
    asyncio.run(aio())
    plan_hits += 7 * 2 + 1      # present[0..6]: hits; present[7..9] were deleted: misses
    plan_misses += 3 * 2

    # Every hit/miss above was derived from a reply; the plan must agree with the replies.
    # Pipelines and MULTI/EXEC reads: counted from their replies only (plan_* excludes them).
    expect((t.hits - hits0, t.misses - misses0) == (plan_hits, plan_misses),
           f"replies gave {t.hits - hits0} hits / {t.misses - misses0} misses, the plan "
           f"{plan_hits} / {plan_misses}")
    t.notes["plan"] = {"hits": plan_hits, "misses": plan_misses}
    r.close()
    r2.close()
    r.connection_pool.disconnect()
    r2.connection_pool.disconnect()
    return t.as_json("main")


def step_garbage(port: int, seed: int) -> dict:
    """A RESP connection (so it is classified Redis), then random bytes. Redis answers errors
    and closes; nothing else is promised."""
    t = Tally()
    rng = random.Random(seed)
    s = socket.create_connection((HOST, port))
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    t.send("ping")
    expect(s.recv(64).startswith(b"+PONG"), "PING")
    # No '*': a multibulk header would make Redis drop the connection at once.
    junk = bytes(b for b in rng.randbytes(8192) if b != ord("*"))
    try:
        s.sendall(junk + b"\r\n")
        s.settimeout(2)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
    # Another connection that starts with garbage right away (classified unparsed or Redis).
    s = socket.create_connection((HOST, port))
    try:
        s.sendall(b"\x16\x03\x01\x02\x00" + rng.randbytes(4000))
        s.settimeout(2)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
    t.notes["junk_bytes"] = len(junk)
    return t.as_json("garbage")


def step_fake(port: int) -> dict:
    """GET against a fake server that declares a 536,870,000-byte reply, sends a little, closes."""
    t = Tally()
    s = socket.create_connection((HOST, port))
    s.sendall(Resp3.encode("GET", "fake:key"))
    t.send("get")
    data = b""
    s.settimeout(5)
    try:
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        pass
    s.close()
    t.notes["received"] = len(data)
    return t.as_json("fake")


def step_after(port: int, prefix: str) -> dict:
    t = Tally()
    r = redis.Redis(host=HOST, port=port)
    p = r.pipeline(transaction=False)
    for i in range(50):
        p.set(f"{prefix}after:{i}", i) if i % 2 == 0 else p.get(f"{prefix}after:{i - (i % 4 == 1)}")
    rep = p.execute()
    for i, v in enumerate(rep):
        if i % 2 == 0:
            t.send("set")
        else:
            t.send("get")
            t.read("get", v)
    v = r.mget([f"{prefix}after:0", f"{prefix}after:1", f"{prefix}after:2"])
    t.send("mget")
    t.read("mget", v)
    r.close()
    r.connection_pool.disconnect()
    return t.as_json("after")


def step_bigpipe(port: int, prefix: str, kind: str) -> dict:
    """One pipeline larger than the 64 KiB capture cap: 60 SETs of 2 KiB values then 60 GETs.
    kind "sync": redis-py packs it into ~6 KB sendall()s; "async": redis.asyncio writes the whole
    pipeline with one transport write (Python 3.11: one send() syscall of ~125 KiB)."""
    t = Tally()
    val = "v" * 2048
    keys = [f"{prefix}big{kind}:{i}" for i in range(60)]

    def account(rep) -> None:
        for i, v in enumerate(rep):
            if i < 60:
                t.send("set")
            else:
                t.send("get")
                t.read("get", v)

    if kind == "sync":
        r = redis.Redis(host=HOST, port=port)
        p = r.pipeline(transaction=False)
        for key in keys:
            p.set(key, val)
        for key in keys:
            p.get(key)
        account(p.execute())
        r.close()
        r.connection_pool.disconnect()
    else:
        async def run() -> None:
            a = aioredis.Redis(host=HOST, port=port)
            try:
                p = a.pipeline(transaction=False)
                for key in keys:
                    p.set(key, val)
                for key in keys:
                    p.get(key)
                account(await p.execute())
            finally:
                await a.close()
                await a.connection_pool.disconnect()
        asyncio.run(run())
    return t.as_json("bigpipe")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--prefix", default=f"rde2e:{os.getpid()}:")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    out({"pid": os.getpid(), "ready": True})
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "main":
                out(step_main(a.port, a.prefix))
            elif words[0] == "garbage":
                out(step_garbage(a.port, a.seed))
            elif words[0] == "fake":
                out(step_fake(int(words[1])))
            elif words[0] == "bigpipe":
                out(step_bigpipe(a.port, a.prefix, words[1]))
            elif words[0] == "after":
                out(step_after(a.port, a.prefix))
            elif words[0] == "quit":
                out({"step": "quit"})
                return 0
            else:
                out({"error": f"unknown step {words[0]}"})
        except Exception as e:  # noqa: BLE001 - reported to the harness
            out({"error": f"{type(e).__name__}: {e}", "step": words[0]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
