#!/usr/bin/python3
"""Capture real HTTP/1.1 request/response bytes from a uvicorn (h11) + FastAPI server.

Run with Debian's interpreter (it has python3-uvicorn and fastapi):
    /usr/bin/python3 scripts/capture-http-fixtures.py [out_dir]

Starts a tiny FastAPI app on a free loopback port, drives it over raw sockets and writes, per
scenario, <name>.req.bin (exact bytes sent) and <name>.resp.bin (exact bytes the server returned),
plus manifest.json with golden values that do NOT come from the collector's parser: request values
come from what this script built, response values from Python's http.client parsing the bytes.
"""
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "fixtures", "http1")

APP = textwrap.dedent('''
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse, StreamingResponse

    app = FastAPI()

    @app.api_route("/items/{item_id}", methods=["GET", "HEAD"])
    async def item(item_id: int):
        return {"id": item_id, "name": "widget", "tags": ["a", "b"]}

    @app.post("/graphql")
    async def graphql(request: Request):
        body = await request.body()
        return {"data": {"received": len(body)}}

    @app.post("/upload")
    async def upload(request: Request):
        body = await request.body()
        return PlainTextResponse("got %d bytes" % len(body))

    @app.get("/stream")
    async def stream():
        async def gen():
            for i in range(3):
                yield ("part %d;" % i).encode() * (i + 1)
        return StreamingResponse(gen(), media_type="text/plain")  # chunked response

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")
''')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_until_close(sock, timeout=5.0):
    sock.settimeout(timeout)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def recv_until(sock, marker, timeout=5.0):
    sock.settimeout(timeout)
    buf = b""
    while marker not in buf:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    return buf


class _NoCloseBytesIO(io.BytesIO):
    def close(self):  # http.client closes the file at end of body; keep reading after it
        pass


class _FakeSock:
    def __init__(self, f):
        self._f = f

    def makefile(self, *_a, **_k):
        return self._f


def golden_responses(resp_bytes, methods):
    """Parse back-to-back responses with http.client (independent of our parser)."""
    out = []
    f = _NoCloseBytesIO(resp_bytes)
    for method in methods:
        # http.client silently skips interim 100 responses; record them first.
        while f.getvalue()[f.tell():].startswith(b"HTTP/1.1 100"):
            start = f.tell()
            end = resp_bytes.index(b"\r\n\r\n", start) + 4
            out.append({"status": 100, "content_length": None, "body_size": 0,
                        "wire_size": end - start})
            f.seek(end)
        start = f.tell()
        r = http.client.HTTPResponse(_FakeSock(f), method=method)
        r.begin()
        body = r.read()
        cl = r.getheader("content-length")
        out.append({"status": r.status,
                    "content_length": int(cl) if cl is not None else None,
                    "body_size": len(body),
                    "chunked": (r.getheader("transfer-encoding") or "").lower() == "chunked",
                    "wire_size": f.tell() - start})
    assert f.tell() == len(resp_bytes), "trailing bytes after responses"
    return out


def req(method, target, body=b"", headers=(), close=True, content_length=True):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1", "User-Agent: fixture/1.0"]
    lines += list(headers)
    if body and content_length:
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def meta(method, target, body_size, content_length, chunked=False, wire_size=0):
    return {"method": method, "target": target, "body_size": body_size,
            "content_length": content_length, "chunked": chunked, "wire_size": wire_size}


def main():
    port = free_port()
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "fixture_app.py"), "w") as f:
        f.write(APP)
    server = subprocess.Popen(
        ["/usr/bin/python3", "-m", "uvicorn", "fixture_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--http", "h11"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        manifest = {}

        def simple(name, data, reqs, methods):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(data)
            resp = recv_until_close(s)
            s.close()
            save(name, data, resp, reqs, methods)

        def save(name, data, resp, reqs, methods):
            os.makedirs(OUT, exist_ok=True)
            with open(os.path.join(OUT, name + ".req.bin"), "wb") as f:
                f.write(data)
            with open(os.path.join(OUT, name + ".resp.bin"), "wb") as f:
                f.write(resp)
            manifest[name] = {"requests": reqs, "responses": golden_responses(resp, methods),
                              "request_methods": methods}

        d = req("GET", "/items/42?verbose=1", headers=["Accept: application/json"])
        simple("get", d, [meta("GET", "/items/42?verbose=1", 0, None, wire_size=len(d))], ["GET"])

        body = json.dumps({"query": "{ items { id name } }", "variables": {"x": "y" * 40}}).encode()
        body = body[:100] if len(body) >= 100 else body + b" " * (100 - len(body))
        d = req("POST", "/graphql", body, headers=["Content-Type: application/json"])
        simple("post_json", d, [meta("POST", "/graphql", 100, 100, wire_size=len(d))], ["POST"])

        big = (b'{"blob":"' + b"x" * (20 * 1024 - 11) + b'"}')
        d = req("POST", "/upload", big, headers=["Content-Type: application/json"])
        simple("post_20k", d, [meta("POST", "/upload", len(big), len(big), wire_size=len(d))],
               ["POST"])

        chunks = [b"hello ", b"chunked " * 10, b"world"]
        cbody = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        d = req("POST", "/upload", headers=["Transfer-Encoding: chunked",
                                            "Content-Type: text/plain"]) + cbody
        simple("post_chunked",
               d, [meta("POST", "/upload", sum(map(len, chunks)), None, True, len(d))], ["POST"])

        p1 = req("GET", "/items/1", close=False)
        p2 = req("POST", "/graphql", b'{"query":"{a}"}', close=False,
                 headers=["Content-Type: application/json"])
        p3 = req("GET", "/items/3")
        simple("pipelined", p1 + p2 + p3,
               [meta("GET", "/items/1", 0, None, wire_size=len(p1)),
                meta("POST", "/graphql", 15, 15, wire_size=len(p2)),
                meta("GET", "/items/3", 0, None, wire_size=len(p3))], ["GET", "POST", "GET"])

        d = req("HEAD", "/items/7")
        simple("head", d, [meta("HEAD", "/items/7", 0, None, wire_size=len(d))], ["HEAD"])

        d = req("GET", "/does/not/exist")
        simple("not_found", d, [meta("GET", "/does/not/exist", 0, None, wire_size=len(d))],
               ["GET"])

        d = req("GET", "/stream")
        simple("chunked_response", d, [meta("GET", "/stream", 0, None, wire_size=len(d))],
               ["GET"])

        d = req("GET", "/boom")
        simple("server_error", d, [meta("GET", "/boom", 0, None, wire_size=len(d))], ["GET"])

        # Expect: 100-continue: send the head, wait for the interim response, then the body.
        ebody = b'{"query":"{ slow }"}'
        head = req("POST", "/graphql", ebody, headers=["Expect: 100-continue",
                                                        "Content-Type: application/json"])
        head = head[:len(head) - len(ebody)]
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head)
        interim = recv_until(s, b"\r\n\r\n")
        s.sendall(ebody)
        resp = interim + recv_until_close(s)
        s.close()
        save("expect_continue", head + ebody,
             resp, [meta("POST", "/graphql", len(ebody), len(ebody), wire_size=len(head) + len(ebody))],
             ["POST"])

        with open(os.path.join(OUT, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote %d fixtures to %s" % (len(manifest), OUT))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
