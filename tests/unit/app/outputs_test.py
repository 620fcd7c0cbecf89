#!/usr/bin/python3
"""Files the user asked for work or fail at once: `run` with an output it cannot open or write
exits 2 with one line naming the flag/path and the reason, before attaching anything (so no
root is needed to see it). Usage: outputs_test.py COLLECTOR"""
import subprocess
import sys
import unittest

COLLECTOR = ""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([COLLECTOR, "run", *args], capture_output=True, text=True, timeout=20)


class Outputs(unittest.TestCase):
    def check(self, args: list[str], *words: str) -> None:
        r = run(*args)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        for w in words:
            self.assertIn(w, lines[0])

    def test_record_to_a_full_device(self) -> None:
        self.check(["--record", "/dev/full"], "/dev/full", "No space left")

    def test_record_in_a_missing_directory(self) -> None:
        self.check(["--record", "/nonexistent/dir/f"], "/nonexistent/dir/f", "No such file")

    def test_request_log_unopenable(self) -> None:
        self.check(["--request-log", "/nonexistent/x.jsonl"], "--request-log", "/nonexistent/x")

    def test_slow_query_log_unopenable(self) -> None:
        self.check(["--slow-query-log", "/proc/nope/x"], "--slow-query-log", "/proc/nope/x")


if __name__ == "__main__":
    COLLECTOR = sys.argv.pop(1)
    unittest.main()
