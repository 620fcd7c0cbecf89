#!/usr/bin/env bash
# Lists source files over the file-size limit and functions over the function-size limit.
#
#   scripts/check-sizes.sh [DIR_OR_FILE...]     (default: userspace)
#
# The limits are a rule for userspace code. bpf/ is kernel code shaped by the verifier (one
# object per attach family, helpers inlined into their programs) and is not checked by default;
# `scripts/check-sizes.sh bpf` still lists what is over there.
#
# Limits (project rules): a file has at most MAX_FILE_LINES lines (600), a function at most
# MAX_FUNC_LINES lines (80, counted by pmccabe from its first to its last line). Exits 1 when
# anything is over and not allowed, 2 on a usage or tool error, 0 otherwise.
#
# Exceptions live in scripts/size-allowlist.txt, one per line, each with a written reason:
#   <path>                     # reason          (the file may exceed MAX_FILE_LINES)
#   <path>:<Function>          # reason          (that function may exceed MAX_FUNC_LINES)
# <Function> is the name as printed by this script (e.g. Decoder::Decode). An entry without a
# reason is an error. Entries that no longer match anything are reported as stale (not an error).
#
# Function sizes come from pmccabe (apt-get install pmccabe; listed in scripts/install-deps.sh).
# pmccabe predates C++17 nested namespaces, so `namespace a::b {` is rewritten to
# `namespace a { namespace b {` (same line, so line numbers hold) before it reads a file, and
# C++14 digit separators (1'000) are dropped: pmccabe takes their quotes for char literals.
set -uo pipefail

MAX_FILE_LINES=${MAX_FILE_LINES:-600}
MAX_FUNC_LINES=${MAX_FUNC_LINES:-80}
root=$(cd "$(dirname "$0")/.." && pwd)
allowlist=${SIZE_ALLOWLIST:-$root/scripts/size-allowlist.txt}
cd "$root" || exit 2

command -v pmccabe >/dev/null || { echo "check-sizes: pmccabe not found (apt-get install pmccabe)" >&2; exit 2; }

(($#)) || set -- userspace

# --- allow-list -------------------------------------------------------------------------------
declare -A allowed=() used=()
if [[ -f $allowlist ]]; then
  n=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    key=$(sed -E 's/[[:space:]]*#.*$//; s/^[[:space:]]+//' <<<"$line")
    reason=$(sed -nE 's/^[^#]*#[[:space:]]*//p' <<<"$line")
    if [[ -z $reason ]]; then
      echo "check-sizes: $allowlist:$n: entry '$key' has no '# reason'" >&2
      exit 2
    fi
    allowed[$key]=1
  done <"$allowlist"
fi

# --- files ------------------------------------------------------------------------------------
mapfile -t files < <(find "$@" -type f \( -name '*.cc' -o -name '*.cpp' -o -name '*.h' \
                                           -o -name '*.hpp' -o -name '*.c' \) \
                       ! -name 'vmlinux*.h' ! -name '*.skel.h' | sort)
((${#files[@]})) || { echo "check-sizes: no source files under $*" >&2; exit 2; }

over=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

report() {  # report KEY MESSAGE
  if [[ -n ${allowed[$1]:-} ]]; then
    used[$1]=1
    echo "allowed  $2"
  else
    over=$((over + 1))
    echo "OVER     $2"
  fi
}

for f in "${files[@]}"; do
  lines=$(wc -l <"$f")
  ((lines > MAX_FILE_LINES)) && report "$f" "$f: $lines lines (file limit $MAX_FILE_LINES)"

  # Nested namespaces -> one namespace per level; close the extra levels at the end of the file.
  awk '
    match($0, /^[[:space:]]*(inline[[:space:]]+)?namespace[[:space:]]+[A-Za-z_0-9]+(::[A-Za-z_0-9]+)+[[:space:]]*\{/) {
      head = substr($0, RSTART, RLENGTH); rest = substr($0, RSTART + RLENGTH)
      sub(/\{$/, "", head); sub(/^[[:space:]]*(inline[[:space:]]+)?namespace[[:space:]]+/, "", head)
      gsub(/[[:space:]]/, "", head)
      k = split(head, parts, "::"); out = ""
      for (i = 1; i <= k; i++) out = out "namespace " parts[i] " { "
      extra += k - 1
      print out rest; next
    }
    { print }
    END { for (i = 0; i < extra; i++) print "}" }
  ' "$f" | sed -E ":a; s/([0-9])'([0-9A-Fa-f])/\\1\\2/g; ta" >"$tmp/src.cc"
  # pmccabe columns: mod-complexity complexity statements first-line lines file(line): name
  while IFS=$'\t' read -r _ _ _ first nlines where; do
    ((nlines > MAX_FUNC_LINES)) || continue
    name=${where#*: }
    name=${name#fraiseql::}
    name=${name//anonymous_namespace::/}
    # Protocol code lives in fraiseql::protocols::<proto>:: - keep the class-level part only.
    name=$(sed -E 's/^protocols::[a-z0-9_]+:://; s/^(bpf|abi)::/\1::/' <<<"$name")
    report "$f:$name" "$f:$first: $name: $nlines lines (function limit $MAX_FUNC_LINES)"
  done < <(pmccabe "$tmp/src.cc" 2>/dev/null)
done

for key in "${!allowed[@]}"; do
  [[ -n ${used[$key]:-} ]] || echo "stale    $key (allow-listed but within the limits or gone)"
done

if ((over)); then
  echo "check-sizes: $over over the limits (files > $MAX_FILE_LINES lines, functions > $MAX_FUNC_LINES lines)"
  exit 1
fi
echo "check-sizes: all within the limits (${#files[@]} files)"
