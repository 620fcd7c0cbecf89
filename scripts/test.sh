#!/usr/bin/env bash
# Installs dependencies, builds, starts the services the tests need and runs every test
# (unit, BPF and end-to-end). This is the README's test command and what CI runs.
# Needs root (BPF, PostgreSQL/Redis service start). Extra args go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# tracefs: syscall tracepoints live there and some machines do not mount it.
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
scripts/services.sh start
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 "$@"
