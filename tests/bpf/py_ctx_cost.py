"""Cost of the PyContext_CopyCurrent uretprobe, for tests/bpf/python_ctx_test.cc and
docs/python-contexts.md: times N contextvars.copy_context() calls (each one PyContext_CopyCurrent
call) with Python's own clock. argv: N. Prints "ready", waits for a line on stdin, prints
"<ns per call> <calls per second>"."""
import contextvars
import sys
import time

n = int(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
copy = contextvars.copy_context
t = time.perf_counter()
for _ in range(n):
    copy()
dt = time.perf_counter() - t
print(f"{dt / n * 1e9:.0f} {n / dt:.0f}", flush=True)
