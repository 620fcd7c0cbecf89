#!/usr/bin/env bash
# Regenerates tests/fixtures/replay/http_demo.{fqlrec,json}: the raw ring-buffer records the
# collector saw while tests/e2e/http_client.py sent a fixed mix of requests to the demo app,
# and the client's own counts. tests/unit/pipeline replays the recording through the whole
# userspace pipeline and expects exactly those counts. Root; needs a built collector.
set -euo pipefail
cd "$(dirname "$0")/.."
COLLECTOR=${1:-build/fraiseql-collector}
OUT=tests/fixtures/replay
PORT=18000
mkdir -p "$OUT"
scripts/services.sh start >/dev/null
scripts/demo-app.sh start "$PORT" >/dev/null
trap 'kill "$cpid" 2>/dev/null || true; scripts/demo-app.sh stop "$PORT" >/dev/null' EXIT
"$COLLECTOR" run --port "$PORT" --listen 127.0.0.1:0 --service-name demo \
  --record "$OUT/http_demo.fqlrec" >/tmp/record-replay.log 2>&1 &
cpid=$!
sleep 3
/usr/bin/python3 tests/e2e/http_client.py --port "$PORT" --total 200 --seed 7 \
  --json "$OUT/http_demo.json" | tail -1
sleep 1
kill -INT "$cpid"; wait "$cpid" || true
ls -l "$OUT"
