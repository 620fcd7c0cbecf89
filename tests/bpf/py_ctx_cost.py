"""Cost of the context-birth probes, for tests/bpf/python_ctx_test.cc and
docs/python-contexts.md: times N operations with Python's own clock (only the operation
itself: batches of 1000, the loop runs them between batches, untimed).

argv: mode N, mode one of
  copy               contextvars.copy_context()         (PyContext_CopyCurrent in the interpreter)
  create_task        loop.create_task(coro)             (_asyncio task_init's copy)
  call_soon          loop.call_soon(f)                  (asyncio Handle: copy_context in Python)
  add_done_callback  C Future.add_done_callback(f)      (_asyncio's copy when no context=)
A single argument N means "copy N" (the first version of this script).
Prints "ready" (asyncio is imported: _asyncio is mapped), waits for a line on stdin, prints
"<ns per op> <ops per second>"."""
import asyncio
import contextvars
import sys
import time

if len(sys.argv) == 2:
    mode, n = "copy", int(sys.argv[1])
else:
    mode, n = sys.argv[1], int(sys.argv[2])
BATCH = 1000


def nothing(*_):
    pass


async def nop():
    pass


async def run():
    loop = asyncio.get_running_loop()
    spent = 0.0
    left = n
    while left > 0:
        k = min(BATCH, left)
        left -= k
        if mode == "create_task":
            coros = [nop() for _ in range(k)]
            t = time.perf_counter()
            tasks = [loop.create_task(c) for c in coros]
            spent += time.perf_counter() - t
            await asyncio.gather(*tasks)
        elif mode == "call_soon":
            t = time.perf_counter()
            for _ in range(k):
                loop.call_soon(nothing)
            spent += time.perf_counter() - t
            await asyncio.sleep(0)
        elif mode == "add_done_callback":
            fut = loop.create_future()
            t = time.perf_counter()
            for _ in range(k):
                fut.add_done_callback(nothing)
            spent += time.perf_counter() - t
            fut.set_result(None)
            await asyncio.sleep(0)
        else:
            raise SystemExit(f"unknown mode {mode}")
    return spent


def main():
    print("ready", flush=True)
    sys.stdin.readline()
    if mode == "copy":
        copy = contextvars.copy_context
        t = time.perf_counter()
        for _ in range(n):
            copy()
        dt = time.perf_counter() - t
    else:
        dt = asyncio.run(run())
    print(f"{dt / n * 1e9:.0f} {n / dt:.0f}", flush=True)


main()
