#!/usr/bin/env bash
# Runs a command on a busy host: an exec loop (~RATE execs/s of /bin/true, default 200) and
# a CPU hog (`yes >/dev/null`) run for the command's duration and are killed at the end.
# The command's exit code is propagated.
#   scripts/busy-host.sh ctest --test-dir build -L bpf --output-on-failure
#   BUSY_EXEC_RATE=500 scripts/busy-host.sh build/tests/bpf/bpf_capture_test
set -u
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]   (env BUSY_EXEC_RATE, default 200 execs/s)" >&2
  exit 2
fi
rate=${BUSY_EXEC_RATE:-200}
batch=$(( rate / 10 ))            # execs per 100 ms tick
[ "$batch" -ge 1 ] || batch=1

bash -c "while :; do for ((i = 0; i < $batch; i++)); do /bin/true; done; sleep 0.1; done" &
exec_loop=$!
yes >/dev/null &
hog=$!
stop_load() {
  kill "$exec_loop" "$hog" 2>/dev/null
  wait "$exec_loop" "$hog" 2>/dev/null
}
trap 'stop_load; exit 130' INT TERM

echo "busy-host: exec loop (pid $exec_loop, ~$rate execs/s) and CPU hog (pid $hog) running" >&2
"$@"
rc=$?
stop_load
trap - INT TERM
echo "busy-host: load stopped; command exited $rc" >&2
exit "$rc"
