#!/usr/bin/env bash
# Test services for the demo app and the e2e tests: PostgreSQL 15 (cluster 15/main, port 5432) and
# redis-server (127.0.0.1:6379). Idempotent; run as root on Debian 12.
#
#   scripts/services.sh start    # start both, role/db fraiseql (password fraiseql),
#                                # shared_preload_libraries=pg_stat_statements (+ restart if needed),
#                                # CREATE EXTENSION pg_stat_statements, load demo schema
#   scripts/services.sh stop     # stop both (only the redis started by this script, via its pid file)
#   scripts/services.sh status   # exit 0 if both answer
#
# Environment: PG_CLUSTER (default "15 main"), REDIS_PORT (6379), STATE_DIR (/tmp/fraiseql-demo).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
read -r PG_VER PG_NAME <<<"${PG_CLUSTER:-15 main}"
REDIS_PORT="${REDIS_PORT:-6379}"
STATE_DIR="${STATE_DIR:-/tmp/fraiseql-demo}"
DB_USER=fraiseql DB_PASS=fraiseql DB_NAME=fraiseql
PY=/usr/bin/python3
mkdir -p "$STATE_DIR"

log() { echo "services: $*"; }
psql_su() { PGOPTIONS="-c client_min_messages=warning" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
pg_port() { pg_lsclusters -h | awk -v v="$PG_VER" -v n="$PG_NAME" '$1==v && $2==n {print $3}'; }
pg_up() { pg_lsclusters -h | awk -v v="$PG_VER" -v n="$PG_NAME" '$1==v && $2==n {print $4}' | grep -q online; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

wait_for() { # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

pg_accepts() { runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$(pg_port)"; }

start_pg() {
  if ! pg_up; then
    log "starting PostgreSQL $PG_VER/$PG_NAME"
    pg_ctlcluster "$PG_VER" "$PG_NAME" start
  fi
  wait_for 30 pg_accepts || { log "PostgreSQL does not accept connections"; exit 1; }

  # pg_stat_statements must be preloaded (needs a restart the first time).
  local spl
  spl="$(psql_su -tAc 'SHOW shared_preload_libraries')"
  if [[ ",${spl// /}," != *",pg_stat_statements,"* ]]; then
    local want="pg_stat_statements"
    [[ -n "${spl// /}" ]] && want="${spl// /},pg_stat_statements"
    log "setting shared_preload_libraries='$want' and restarting PostgreSQL"
    psql_su -c "ALTER SYSTEM SET shared_preload_libraries = '$want'"
    pg_ctlcluster "$PG_VER" "$PG_NAME" restart
    wait_for 30 pg_accepts || { log "PostgreSQL did not come back"; exit 1; }
  fi

  psql_su <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS';
  ELSE
    ALTER ROLE $DB_USER LOGIN PASSWORD '$DB_PASS';
  END IF;
END \$\$;
SQL
  if [[ "$(psql_su -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]]; then
    log "creating database $DB_NAME"
    psql_su -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
  fi
  psql_su -d "$DB_NAME" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
  psql_su -d "$DB_NAME" -c "GRANT pg_read_all_stats TO $DB_USER" >/dev/null
}

start_redis() {
  if redis_up; then return 0; fi
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save '' --appendonly no --protected-mode yes \
    --dir "$STATE_DIR" --pidfile "$STATE_DIR/redis-$REDIS_PORT.pid" \
    --logfile "$STATE_DIR/redis-$REDIS_PORT.log"
  wait_for 10 redis_up || { log "redis did not start (see $STATE_DIR/redis-$REDIS_PORT.log)"; exit 1; }
}

load_schema() {
  (cd "$ROOT/demo" && DATABASE_URL="${DATABASE_URL:-postgresql://$DB_USER:$DB_PASS@127.0.0.1:$(pg_port)/$DB_NAME}" \
    "$PY" -m fraiseql_demo.setup_db)
}

status() {
  local rc=0
  if pg_up && pg_accepts; then log "postgresql $PG_VER/$PG_NAME: up (port $(pg_port))"; else log "postgresql: down"; rc=1; fi
  if redis_up; then log "redis 127.0.0.1:$REDIS_PORT: up"; else log "redis: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  start)
    start_pg
    start_redis
    load_schema
    status
    ;;
  stop)
    if [[ -f "$STATE_DIR/redis-$REDIS_PORT.pid" ]] && redis_up; then
      log "stopping redis"
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
      rm -f "$STATE_DIR/redis-$REDIS_PORT.pid"
    fi
    if pg_up; then
      log "stopping PostgreSQL $PG_VER/$PG_NAME"
      pg_ctlcluster "$PG_VER" "$PG_NAME" stop
    fi
    ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
