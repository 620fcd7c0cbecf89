#!/usr/bin/env bash
# Starts/stops the FraiseQL-shaped demo app (demo/fraiseql_demo) under uvicorn, in the background.
#
#   scripts/demo-app.sh start [PORT] [--workers N] [--keepalive SECONDS]
#   scripts/demo-app.sh stop  [PORT]
#   scripts/demo-app.sh status [PORT]
#
# PORT defaults to 8000. State under $STATE_DIR (default /tmp/fraiseql-demo): app-PORT.pid, app-PORT.log.
# Needs scripts/services.sh start first (PostgreSQL + Redis). DATABASE_URL / REDIS_URL /
# DEMO_CACHE_MODE are passed through to the app (see demo/fraiseql_demo/app.py).
# The command line contains "fraiseql_demo", which the collector's auto-detect matches.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
STATE_DIR="${STATE_DIR:-/tmp/fraiseql-demo}"
PY=/usr/bin/python3   # Debian's python (fastapi, uvicorn, psycopg); never the pyenv one on PATH
mkdir -p "$STATE_DIR"

cmd="${1:-}"; shift || true
PORT=8000
WORKERS=1
KEEPALIVE=5
while (($#)); do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --keepalive) KEEPALIVE="$2"; shift 2 ;;
    [0-9]*) PORT="$1"; shift ;;
    *) echo "demo-app: unknown argument $1" >&2; exit 2 ;;
  esac
done
PIDFILE="$STATE_DIR/app-$PORT.pid"
LOGFILE="$STATE_DIR/app-$PORT.log"

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  grep -qa fraiseql_demo "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

healthy() { curl -fsS -m 1 "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; }

case "$cmd" in
  start)
    if pid="$(running_pid)"; then
      echo "demo-app: already running on :$PORT (pid $pid)"; exit 0
    fi
    if healthy; then
      echo "demo-app: port $PORT already serves /health but not from our pid file" >&2; exit 1
    fi
    args=(-m uvicorn fraiseql_demo.app:app --host 127.0.0.1 --port "$PORT"
          --timeout-keep-alive "$KEEPALIVE" --no-access-log)
    ((WORKERS > 1)) && args+=(--workers "$WORKERS")
    cd "$ROOT/demo"
    PYTHONPATH="$ROOT/demo${PYTHONPATH:+:$PYTHONPATH}" setsid nohup "$PY" "${args[@]}" \
      >>"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 150); do
      if healthy; then
        echo "demo-app: up on http://127.0.0.1:$PORT (pid $(cat "$PIDFILE"), workers $WORKERS, log $LOGFILE)"
        exit 0
      fi
      kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
      sleep 0.2
    done
    echo "demo-app: did not become healthy; last log lines:" >&2
    tail -n 20 "$LOGFILE" >&2
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    rm -f "$PIDFILE"
    exit 1
    ;;
  stop)
    if ! pid="$(running_pid)"; then
      echo "demo-app: not running on :$PORT"; rm -f "$PIDFILE"; exit 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      # uvicorn did not exit in 10 s: kill its process group (setsid made pid the group leader)
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    echo "demo-app: stopped (pid $pid)"
    ;;
  status)
    if pid="$(running_pid)"; then echo "demo-app: running on :$PORT (pid $pid)"; else echo "demo-app: not running on :$PORT"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status [PORT] [--workers N] [--keepalive S]" >&2; exit 2 ;;
esac
