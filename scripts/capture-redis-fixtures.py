#!/usr/bin/python3
"""Capture real Redis 7 RESP2/RESP3 traffic as parser fixtures.

Run with Debian's interpreter (it has python3-redis), Redis on 127.0.0.1:6379:
    /usr/bin/python3 scripts/capture-redis-fixtures.py [out_dir]

Per scenario a tiny TCP relay on a free loopback port sits in front of Redis; redis-py (or a raw
socket, where redis-py cannot: inline commands, RESP3 via HELLO 3, CLIENT REPLY) talks through it
and the relay records the exact bytes of each direction: <name>.req.bin (client -> server) and
<name>.resp.bin (server -> client).

manifest.json holds golden values that do NOT come from the collector's parser:
  commandstats  delta of INFO commandstats (calls, rejected_calls) measured on a separate
                connection around the scenario, minus the commands this script sent itself on
                side connections (publishers, the WATCH spoiler)
  hits/misses   from the client's results (redis-py values / the raw reader's values)
  results       in order, for the commands the scenario issued explicitly: the client's view of
                the reply (nil, error code, integer, per-element nil flags, type for RESP3)
  secrets       strings that are in the bytes but must never come out of the parser

resp3_handwritten.resp.bin is written by hand from the RESP3 spec (Redis 7 does not send
attributes or streamed strings/aggregates without DEBUG PROTOCOL, which is disabled here).
"""
import json
import os
import socket
import sys
import threading
import time

import redis

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "fixtures", "redis")
HOST, PORT = "127.0.0.1", 6379
USER, PASSWORD = "fql_fixture_user", "S3cr3t-Fixture-Passw0rd"
PREFIX = "fqlfx:"


class Relay:
    """Accepts one client, relays it to Redis, records both directions."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.req = bytearray()
        self.resp = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pump(self, src, dst, sink):
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
            sink.extend(data)
            dst.sendall(data)

    def _run(self):
        client, _ = self.listener.accept()
        upstream = socket.create_connection((HOST, PORT))
        t = threading.Thread(target=self._pump, args=(upstream, client, self.resp))
        t.start()
        self._pump(client, upstream, self.req)
        t.join()
        client.close()
        upstream.close()

    def wait(self):
        self.thread.join(10)
        self.listener.close()


def commandstats(r):
    stats = {}
    for name, v in r.info("commandstats").items():
        stats[name[len("cmdstat_"):]] = (v["calls"], v.get("rejected_calls", 0))
    return stats


# --- A small client-side RESP2/RESP3 reader for the raw-socket scenarios -------------------
class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return ("status", rest.decode())
        if t == b"-":
            return ("error", rest.decode())
        if t == b":":
            return ("integer", int(rest))
        if t in (b"$", b"=", b"!"):
            if rest == b"-1":
                return ("nil", None)
            data = self._exact(int(rest))
            return ({b"$": "string", b"=": "string", b"!": "error"}[t], data)
        if t == b"_":
            return ("nil", None)
        if t == b",":
            return ("double", float(rest))
        if t == b"#":
            return ("boolean", rest == b"t")
        if t == b"(":
            return ("big_number", int(rest))
        if t in (b"*", b"~", b">"):
            if rest == b"-1":
                return ("nil", None)
            kind = {b"*": "array", b"~": "set", b">": "push"}[t]
            return (kind, [self.read() for _ in range(int(rest))])
        if t == b"%":
            return ("map", [self.read() for _ in range(2 * int(rest))])
        raise ValueError("unexpected RESP line %r" % line)


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def summarize_raw(name, reply):
    kind, v = reply
    res = {"command": name, "reply": kind}
    if kind == "error":
        text = v.decode() if isinstance(v, bytes) else v
        res["error"] = text.split(" ", 1)[0]
    elif kind == "integer":
        res["integer"] = v
    elif kind == "boolean":
        res["integer"] = 1 if v else 0
    elif kind in ("array", "set", "map"):
        res["nil"] = [e[0] == "nil" for e in v]
    return res


def summarize_py(name, value):
    """The client's view of a redis-py result."""
    res = {"command": name}
    if isinstance(value, redis.exceptions.ResponseError):
        res["reply"] = "error"
        res["error"] = str(value).split(" ", 1)[0]
    elif value is None:
        res["reply"] = "nil"
    elif isinstance(value, bool):
        res["reply"] = "status" if name in ("SET", "SETEX", "MSET", "MULTI") else "integer"
        if res["reply"] == "integer":
            res["integer"] = int(value)
    elif isinstance(value, int):
        res["reply"] = "integer"
        res["integer"] = value
    elif isinstance(value, (list, tuple)):
        res["reply"] = "array"
        res["nil"] = [e is None for e in value]
    elif isinstance(value, dict):
        res["reply"] = "array"  # RESP2 flat array
        res["size"] = len(value)
    else:
        res["reply"] = "string"
    return res


class Scenario:
    def __init__(self, name):
        self.name = name
        self.results = []
        self.hits = 0
        self.misses = 0
        self.side = {}  # commands sent on side connections: subtract from the delta
        self.secrets = []
        self.extra = {}

    def read(self, value, n=1):
        if value is None:
            self.misses += n
        else:
            self.hits += n

    def note(self, name, value):
        self.results.append(summarize_py(name, value))
        return value


def run(name, body):
    direct = redis.Redis(host=HOST, port=PORT)
    sc = Scenario(name)
    relay = Relay()
    before = commandstats(direct)
    body(sc, relay.port, direct)
    relay.wait()
    time.sleep(0.05)
    after = commandstats(direct)
    delta = {}
    for cmd, (calls, rejected) in after.items():
        c0, r0 = before.get(cmd, (0, 0))
        dc, dr = calls - c0 - sc.side.get(cmd, 0), rejected - r0
        if cmd == "info":
            dc -= 1  # the "before" snapshot itself
        if dc or dr:
            delta[cmd] = {"calls": dc, "rejected_calls": dr}
    with open(os.path.join(OUT, name + ".req.bin"), "wb") as f:
        f.write(bytes(relay.req))
    with open(os.path.join(OUT, name + ".resp.bin"), "wb") as f:
        f.write(bytes(relay.resp))
    entry = {"commandstats": delta, "hits": sc.hits, "misses": sc.misses,
             "results": sc.results, "secrets": sc.secrets,
             "req_bytes": len(relay.req), "resp_bytes": len(relay.resp)}
    entry.update(sc.extra)
    print("%-18s req=%7d resp=%7d stats=%s hits=%d misses=%d" % (
        name, len(relay.req), len(relay.resp), delta, sc.hits, sc.misses))
    direct.close()
    return entry


def client(port, **kw):
    return redis.Redis(host="127.0.0.1", port=port, **kw)


# --- Scenarios -----------------------------------------------------------------------------
def get_set(sc, port, direct):
    r = client(port)
    sc.note("SET", r.set(PREFIX + "k1", "v1"))
    sc.read(sc.note("GET", r.get(PREFIX + "k1")))
    sc.read(sc.note("GET", r.get(PREFIX + "missing")))
    sc.note("SETEX", r.setex(PREFIX + "k2", 60, "v2"))
    sc.read(sc.note("GET", r.get(PREFIX + "k2")))
    r.close()


def mget_mixed(sc, port, direct):
    r = client(port)
    sc.note("MSET", r.mset({PREFIX + "a": "1", PREFIX + "b": "2"}))
    vals = sc.note("MGET", r.mget(PREFIX + "a", PREFIX + "x", PREFIX + "b", PREFIX + "y"))
    for v in vals:
        sc.read(v)
    r.close()


def hashes(sc, port, direct):
    r = client(port)
    r.delete(PREFIX + "nohash")
    sc.results.append({"command": "DEL"})
    sc.note("HSET", r.hset(PREFIX + "h", mapping={"f1": "v1", "f2": "v2"}))
    sc.read(sc.note("HGET", r.hget(PREFIX + "h", "f1")))
    sc.read(sc.note("HGET", r.hget(PREFIX + "h", "nope")))
    for v in sc.note("HMGET", r.hmget(PREFIX + "h", "f1", "nope", "f2")):
        sc.read(v)
    all1 = r.hgetall(PREFIX + "h")
    sc.results.append({"command": "HGETALL", "reply": "array", "size": 2 * len(all1)})
    sc.read(all1 or None)
    all2 = r.hgetall(PREFIX + "nohash")
    sc.results.append({"command": "HGETALL", "reply": "array", "size": 0})
    sc.read(all2 or None)
    r.close()


def exists_del(sc, port, direct):
    r = client(port)
    sc.note("SET", r.set(PREFIX + "e1", "x"))
    n = sc.note("EXISTS", r.exists(PREFIX + "e1", PREFIX + "e2", PREFIX + "e1"))
    sc.hits += n
    sc.misses += 3 - n
    sc.note("DEL", r.delete(PREFIX + "e1", PREFIX + "e2"))
    sc.note("UNLINK", r.unlink(PREFIX + "e3"))
    r.close()


def pipeline50(sc, port, direct):
    r = client(port)
    p = r.pipeline(transaction=False)
    names = []
    for i in range(25):
        p.set(PREFIX + "p%d" % i, "v%d" % i)
        names.append("SET")
        p.get(PREFIX + ("p%d" % i if i % 3 else "pmiss%d" % i))
        names.append("GET")
    results = p.execute()
    for n, v in zip(names, results):
        sc.note(n, v)
        if n == "GET":
            sc.read(v)
    r.close()


def multi_exec(sc, port, direct):
    r = client(port)
    r.delete(PREFIX + "ctr")
    sc.results.append({"command": "DEL"})
    p = r.pipeline(transaction=True)
    p.set(PREFIX + "m1", "x").get(PREFIX + "m1").incr(PREFIX + "ctr")
    p.mget(PREFIX + "m1", PREFIX + "mnope").get(PREFIX + "mnope2")
    res = p.execute()
    sc.results.append({"command": "MULTI", "reply": "status"})
    for n, v in zip(["SET", "GET", "INCRBY", "MGET", "GET"], res):  # redis-py: INCR -> INCRBY
        sc.note(n, v)
        sc.results[-1]["queued"] = True
    sc.results.append({"command": "EXEC", "reply": "array", "nil": [v is None for v in res]})
    sc.read(res[1])
    for v in res[3]:
        sc.read(v)
    sc.read(res[4])
    r.close()


def watch_fail(sc, port, direct):
    r = client(port)
    r.set(PREFIX + "w", "0")
    sc.results.append({"command": "SET"})
    with r.pipeline(transaction=True) as p:
        p.watch(PREFIX + "w")
        sc.results.append({"command": "WATCH", "reply": "status"})
        direct.set(PREFIX + "w", "spoiled")  # another client changes the key
        sc.side["set"] = sc.side.get("set", 0) + 1
        p.multi()
        p.set(PREFIX + "w", "mine")
        p.incr(PREFIX + "wctr")
        try:
            p.execute()
            raise SystemExit("EXEC should have failed")
        except redis.WatchError:
            pass
    sc.results.append({"command": "MULTI", "reply": "status"})
    sc.results.append({"command": "SET", "reply": "not_executed", "queued": True})
    sc.results.append({"command": "INCRBY", "reply": "not_executed", "queued": True})
    sc.results.append({"command": "EXEC", "reply": "nil"})
    r.close()


def discard(sc, port, direct):
    s = socket.create_connection(("127.0.0.1", port))
    rd = Reader(s)
    for cmd in (("MULTI",), ("SET", PREFIX + "d", "1"), ("GET", PREFIX + "d"), ("DISCARD",),
                ("GET", PREFIX + "dnope")):
        s.sendall(encode(*cmd))
        reply = rd.read()
        if cmd[0] == "GET" and len(sc.results) > 3:
            sc.read(reply[1])
        res = summarize_raw(cmd[0], reply)
        if reply == ("status", "QUEUED"):
            res = {"command": cmd[0], "reply": "not_executed", "queued": True}
        sc.results.append(res)
    # Reorder to completion order: queued ones come out at DISCARD.
    sc.results = [sc.results[0], sc.results[1], sc.results[2], sc.results[3], sc.results[4]]
    s.close()


def pubsub_resp2(sc, port, direct):
    r = client(port)
    ps = r.pubsub()
    ps.subscribe(PREFIX + "ch1", PREFIX + "ch2")
    ps.psubscribe(PREFIX + "pat*")
    got = []
    deadline = time.time() + 5
    while len([m for m in got if m["type"].endswith("subscribe")]) < 3 and time.time() < deadline:
        m = ps.get_message(timeout=0.5)
        if m:
            got.append(m)
    for i in range(3):
        direct.publish(PREFIX + ("ch1" if i != 1 else "pat-x"), "msg%d" % i)
    sc.side["publish"] = 3
    while len([m for m in got if m["type"] in ("message", "pmessage")]) < 3 and \
            time.time() < deadline:
        m = ps.get_message(timeout=0.5)
        if m:
            got.append(m)
    ps.ping()
    sc.side_ping = True
    ps.unsubscribe()
    ps.punsubscribe()
    while time.time() < deadline:
        m = ps.get_message(timeout=0.3)
        if m is None:
            break
        got.append(m)
    sc.extra["messages"] = len([m for m in got if m["type"] in ("message", "pmessage")])
    sc.results += [{"command": "SUBSCRIBE", "reply": "array"},
                   {"command": "PSUBSCRIBE", "reply": "array"},
                   {"command": "PING", "reply": "array"},
                   {"command": "UNSUBSCRIBE", "reply": "array"},
                   {"command": "PUNSUBSCRIBE", "reply": "array"}]
    ps.close()
    r.close()


def big_value(sc, port, direct):
    r = client(port)
    value = b"x" * (1 << 20)
    sc.note("SET", r.set(PREFIX + "big", value))
    got = r.get(PREFIX + "big")
    assert got == value
    sc.results.append({"command": "GET", "reply": "string", "size": len(got)})
    sc.read(got)
    sc.note("STRLEN", r.strlen(PREFIX + "big"))
    r.close()


def wrongtype(sc, port, direct):
    r = client(port)
    r.delete(PREFIX + "list")
    sc.results.append({"command": "DEL"})
    sc.note("LPUSH", r.lpush(PREFIX + "list", "a"))
    try:
        r.get(PREFIX + "list")
    except redis.ResponseError as e:
        sc.note("GET", e)
    r.close()


def raw_session(sc, port, commands, resp3_reads=None):
    """Sends each command and reads its reply with the client-side reader."""
    s = socket.create_connection(("127.0.0.1", port))
    rd = Reader(s)
    for cmd in commands:
        s.sendall(encode(*cmd))
        reply = rd.read()
        name = cmd[0].upper()
        sc.results.append(summarize_raw(name, reply))
        if resp3_reads and name in resp3_reads:
            resp3_reads[name](reply)
    s.close()


def resp3_types(sc, port, direct):
    direct.delete(PREFIX + "h3", PREFIX + "s3", PREFIX + "z3")
    sc.side["del"] = 1

    def hgetall(reply):
        sc.read(reply[1] or None)

    def get(reply):
        if reply[0] != "error":
            sc.read(reply[1])

    raw_session(sc, port, [
        ("HELLO", "3"),
        ("HSET", PREFIX + "h3", "a", "1", "b", "2"),
        ("HGETALL", PREFIX + "h3"),
        ("HGETALL", PREFIX + "h3nope"),
        ("SADD", PREFIX + "s3", "x", "y"),
        ("SMEMBERS", PREFIX + "s3"),
        ("ZADD", PREFIX + "z3", "1.5", "m"),
        ("ZSCORE", PREFIX + "z3", "m"),
        ("ZSCORE", PREFIX + "z3", "nope"),
        ("GET", PREFIX + "nokey"),
        ("MGET", PREFIX + "nokey", PREFIX + "h3"),
        ("EVAL", "return true", "0"),
        ("EVAL", "return {double=3.25}", "0"),
        ("EVAL", "return {big_number='123456789012345678901234567890'}", "0"),
        ("CLIENT", "INFO"),
        ("GET", PREFIX + "h3"),
    ], {"HGETALL": hgetall, "GET": get})
    # MGET with a WRONGTYPE key inside returns nil for it: one miss per key.
    sc.misses += 2
    # CLIENT INFO: commandstats name is client|info
    for res in sc.results:
        if res["command"] == "CLIENT":
            res["subcommand"] = "INFO"


def pubsub_resp3(sc, port, direct):
    s = socket.create_connection(("127.0.0.1", port))
    rd = Reader(s)
    s.sendall(encode("HELLO", "3"))
    sc.results.append(summarize_raw("HELLO", rd.read()))
    s.sendall(encode("SUBSCRIBE", PREFIX + "c1", PREFIX + "c2"))
    confs = [rd.read(), rd.read()]
    assert all(c[0] == "push" for c in confs), confs
    sc.results.append({"command": "SUBSCRIBE", "reply": "array"})
    for i in range(2):
        direct.publish(PREFIX + "c%d" % (i + 1), "hello%d" % i)
    sc.side["publish"] = 2
    msgs = [rd.read(), rd.read()]
    assert all(m[0] == "push" for m in msgs), msgs
    s.sendall(encode("GET", PREFIX + "r3nope"))  # RESP3 allows commands while subscribed
    reply = rd.read()
    sc.results.append(summarize_raw("GET", reply))
    sc.read(reply[1])
    s.sendall(encode("UNSUBSCRIBE"))
    rd.read()
    rd.read()
    sc.results.append({"command": "UNSUBSCRIBE", "reply": "array"})
    s.sendall(encode("PING"))
    sc.results.append(summarize_raw("PING", rd.read()))
    sc.extra["messages"] = len(msgs)
    s.close()


def inline(sc, port, direct):
    s = socket.create_connection(("127.0.0.1", port))
    rd = Reader(s)
    for line, name in ((b"PING\r\n", "PING"), (b"SET " + PREFIX.encode() + b"inl v\r\n", "SET"),
                       (b"get " + PREFIX.encode() + b"inl\r\n", "GET"),
                       (b"\r\n", None),
                       (b"EXISTS " + PREFIX.encode() + b"inl " + PREFIX.encode() + b"nope\n",
                        "EXISTS")):
        s.sendall(line)
        if name is None:
            continue
        reply = rd.read()
        sc.results.append(summarize_raw(name, reply))
        if name == "GET":
            sc.read(reply[1])
        if name == "EXISTS":
            sc.hits += reply[1]
            sc.misses += 2 - reply[1]
    s.close()


def auth(sc, port, direct):
    r = client(port, username=USER, password=PASSWORD)
    sc.read(sc.note("GET", r.get(PREFIX + "k1")))
    r.close()
    sc.results.insert(0, {"command": "AUTH", "reply": "status"})
    sc.secrets += [PASSWORD, USER]


def hello_auth(sc, port, direct):
    raw_session(sc, port, [("HELLO", "3", "AUTH", USER, PASSWORD), ("PING",),
                           ("AUTH", USER, "wrong-" + PASSWORD)])
    sc.secrets += [PASSWORD, USER]


def client_reply(sc, port, direct):
    s = socket.create_connection(("127.0.0.1", port))
    rd = Reader(s)
    s.sendall(encode("CLIENT", "REPLY", "SKIP") + encode("SET", PREFIX + "cr", "1"))
    s.sendall(encode("GET", PREFIX + "cr"))
    reply = rd.read()
    sc.read(reply[1])
    s.sendall(encode("CLIENT", "REPLY", "OFF") + encode("SET", PREFIX + "cr2", "2") +
              encode("CLIENT", "REPLY", "ON"))
    assert rd.read() == ("status", "OK")
    s.sendall(encode("GET", PREFIX + "cr2"))
    reply2 = rd.read()
    sc.read(reply2[1])
    s.close()
    sc.results += [{"command": "CLIENT", "subcommand": "REPLY", "reply": "no_reply"},
                   {"command": "SET", "reply": "no_reply"},
                   summarize_raw("GET", reply),
                   {"command": "CLIENT", "subcommand": "REPLY", "reply": "no_reply"},
                   {"command": "SET", "reply": "no_reply"},
                   {"command": "CLIENT", "subcommand": "REPLY", "reply": "status"},
                   summarize_raw("GET", reply2)]


def blocking(sc, port, direct):
    r = client(port)
    r.delete(PREFIX + "blist")
    sc.results.append({"command": "DEL"})
    sc.note("BLPOP", r.blpop(PREFIX + "blist", timeout=0.2))
    r.rpush(PREFIX + "blist", "item")
    sc.results.append({"command": "RPUSH"})
    res = r.blpop(PREFIX + "blist", timeout=1)
    sc.note("BLPOP", list(res))
    r.close()


def handwritten():
    """RESP3 constructs Redis 7 does not send here, written from the RESP3 spec."""
    frames = [
        (b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
         b"*2\r\n:2039123\r\n:9543892\r\n",
         {"type": "array", "size": 2, "attributed": True}),
        (b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n",
         {"type": "bulk_string", "size": 10, "streamed": True}),
        (b"*?\r\n:1\r\n:2\r\n_\r\n.\r\n", {"type": "array", "size": 3, "streamed": True,
                                           "nil": [False, False, True]}),
        (b"%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n", {"type": "map", "size": 2, "streamed": True}),
        (b"~?\r\n+x\r\n.\r\n", {"type": "set", "size": 1, "streamed": True}),
        (b"(3492890328409238509324850943850943825024385\r\n", {"type": "big_number"}),
        (b"#f\r\n", {"type": "boolean", "integer": 0}),
        (b"!21\r\nSYNTAX invalid syntax\r\n", {"type": "bulk_error", "error": "SYNTAX"}),
        (b"=15\r\ntxt:Some string\r\n", {"type": "verbatim_string", "size": 15}),
        (b",-inf\r\n", {"type": "double"}),
        (b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
         {"type": "push", "size": 3, "first": "message"}),
        (b"*3\r\n$1\r\na\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nb\r\n*-1\r\n",
         {"type": "array", "size": 3, "nil": [False, False, True]}),
    ]
    with open(os.path.join(OUT, "resp3_handwritten.resp.bin"), "wb") as f:
        f.write(b"".join(b for b, _ in frames))
    return {"handwritten": True, "frames": [dict(v, bytes=len(b)) for b, v in frames]}


def main():
    os.makedirs(OUT, exist_ok=True)
    direct = redis.Redis(host=HOST, port=PORT)
    direct.acl_setuser(USER, enabled=True, passwords=["+" + PASSWORD], keys=["*"],
                       channels=["*"], commands=["+@all"])
    for k in direct.scan_iter(PREFIX + "*"):
        direct.delete(k)
    direct.set(PREFIX + "k1", "seed")
    manifest = {}
    try:
        for name, body in (("get_set", get_set), ("mget_mixed", mget_mixed),
                           ("hashes", hashes), ("exists_del", exists_del),
                           ("pipeline50", pipeline50), ("multi_exec", multi_exec),
                           ("watch_fail", watch_fail), ("discard", discard),
                           ("pubsub_resp2", pubsub_resp2), ("pubsub_resp3", pubsub_resp3),
                           ("big_value", big_value), ("wrongtype", wrongtype),
                           ("resp3_types", resp3_types), ("inline", inline), ("auth", auth),
                           ("hello_auth", hello_auth), ("client_reply", client_reply),
                           ("blocking", blocking)):
            # Redis is shared: another client's commands can land in the delta. Retry until
            # the delta names only commands this scenario sent.
            for attempt in range(5):
                entry = run(name, body)
                sent = {r["command"].lower() + ("|" + r["subcommand"].lower()
                                                if r.get("subcommand") else "")
                        for r in entry["results"]}
                if set(entry["commandstats"]) <= sent:
                    break
                print("  noise from other clients: %s; retrying" % (
                    set(entry["commandstats"]) - sent))
            else:
                raise SystemExit("could not get a clean commandstats delta for " + name)
            manifest[name] = entry
        manifest["resp3_handwritten"] = handwritten()
    finally:
        direct.acl_deluser(USER)
        for k in direct.scan_iter(PREFIX + "*"):
            direct.delete(k)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
