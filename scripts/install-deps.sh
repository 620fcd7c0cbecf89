#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo app need.
# Used by the README quick start and by .ci/run. Debian 12, as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev libspdlog-dev libfmt-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev nlohmann-json3-dev libsqlite3-dev libyaml-cpp-dev
  # scripts/check-sizes.sh (function line counts) and the .clang-format files
  pmccabe clang-format
  # test servers and ground truth
  postgresql postgresql-contrib redis-server prometheus tshark wrk curl procps iproute2
  # demo app (Debian's Python, not any pyenv one)
  python3 python3-fastapi python3-uvicorn gunicorn python3-psycopg python3-psycopg-pool python3-redis
  python3-httpx python3-requests python3-yaml
  # tests/e2e/test_graphql_e2e.py: uvicorn --loop uvloop
  python3-uvloop
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"
