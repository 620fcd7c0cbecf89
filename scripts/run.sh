#!/usr/bin/env bash
# Installs dependencies, builds, and runs the collector in the foreground:
#   scripts/run.sh [fraiseql-collector run flags...]   e.g. --port 8000, --listen :9474
# With no selector flag the collector auto-detects FraiseQL processes (docs/discovery.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >&2
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAISEQL_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target fraiseql-collector >&2
exec "$BUILD_DIR/fraiseql-collector" run "$@"
