"""Workload for tests/bpf/python_ctx_test.cc: an asyncio echo server and N client tasks in one
process, every client send tagged with its task so the test can check py_ctx attribution.

argv: loop ("asyncio" | "uvloop"), number of client tasks.
stdout: "ready" once the server listens; then waits for a line on stdin (the test has
watched us), runs the clients, prints "done" and exits.

Every send is one message "<tag>:<k>;" with tag = T<i:03d> for client task i, C<i:03d> for
the child task i spawns with asyncio.create_task (i % 4 == 0), G<i:03d><j> for the two
children it gathers (i % 4 == 1). Every task object is kept alive until the end, so their
contexts' addresses are never reused during the run.
"""
import asyncio
import sys

MESSAGES = 3


async def echo(reader, writer):
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def talk(port, tag):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for k in range(MESSAGES):
        msg = f"{tag}:{k};".encode()
        writer.write(msg)
        await writer.drain()
        got = await reader.readexactly(len(msg))
        assert got == msg, (got, msg)
        await asyncio.sleep(0.005 * (1 + k))
    writer.close()
    await writer.wait_closed()


async def client(port, i, keep):
    await talk(port, f"T{i:03d}")
    if i % 4 == 0:
        child = asyncio.create_task(talk(port, f"C{i:03d}"))
        keep.append(child)
        await child
    elif i % 4 == 1:
        await asyncio.gather(talk(port, f"G{i:03d}0"), talk(port, f"G{i:03d}1"))
    await talk(port, f"T{i:03d}")  # the task's context again, after its children


async def main(n):
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    keep = []  # every task stays alive (and its context too) until the end
    tasks = [asyncio.create_task(client(port, i, keep)) for i in range(n)]
    keep.extend(tasks)
    await asyncio.gather(*tasks)
    server.close()
    await server.wait_closed()
    print("done", flush=True)


if __name__ == "__main__":
    loop_kind, n = sys.argv[1], int(sys.argv[2])
    if loop_kind == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(main(n))
