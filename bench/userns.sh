#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What an unprivileged user's namespaces cost kareaper. Root.
#
#   bench/userns.sh [NAMESPACES]     (default 5000)
#
# `--once` with namespaces = all, on each backend, beside a namespace of root's
# holding CONNECTIONS (default 10000) idle loopback connections under a policy:
# without, then with NAMESPACES network namespaces that nobody made (each in a
# user namespace of its own, with a connected socket: tests/ns-flood). Wall and
# CPU time (medians of RUNS, default 5) and peak RSS, and their ratios against
# the run without, measured in the same run; then the same with
# user_namespaces = yes, which watches them as far as the descriptor limit goes
# (RUNS_YES runs, default 1: each namespace watched walks the host's shared TCP
# table, so a run takes minutes).
set -euo pipefail

FLOOD=${1:-5000}
CONNS=${CONNECTIONS:-10000}
RUNS=${RUNS:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_BIN:-$SRC/bench}
KAREAPER=${KAREAPER:-$SRC/src/kareaper}
FLOODER=${NS_FLOOD:-$SRC/tests/ns-flood}
NS="kruserns$$"
TMP=$(mktemp -d /tmp/kareaper-userns.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || :; done
	wait 2>/dev/null || :
	ip netns del "$NS" 2>/dev/null || :
	rm -rf "$TMP"
}
trap cleanup EXIT
for b in "$BIN/mkconns" "$BIN/measure" "$FLOODER" "$KAREAPER"; do
	[ -x "$b" ] || { echo "userns.sh: $b is missing (make bench/mkconns bench/measure tests/ns-flood)" >&2; exit 1; }
done

ip netns add "$NS"
ip -n "$NS" link set lo up
mkfifo "$TMP/conns.in"
ip netns exec "$NS" "$BIN/mkconns" -n "$CONNS" -w 4 -p 7000 <"$TMP/conns.in" >"$TMP/conns.out" 2>&1 &
PIDS+=($!)
exec {fd_conns}>"$TMP/conns.in"
for _ in $(seq 600); do grep -q '^ready' "$TMP/conns.out" && break; sleep 0.1; done
grep -q '^ready' "$TMP/conns.out" || { cat "$TMP/conns.out" >&2; exit 1; }

conf() { # conf USER_NAMESPACES
	printf '[global]\nnamespaces = all\nuser_namespaces = %s\n[policy p]\nnetns = %s, ns-flood\nlocal_port = %s\nidle = 2h\n' \
		"$1" "$NS" 7000-7003 >"$TMP/$1.conf"
}
conf no
conf yes
measure() { # measure BACKEND CONF [RUNS]: the figures of RUNS runs
	"$BIN/measure" "${3:-$RUNS}" "$KAREAPER" --backend "$1" --once -c "$2"
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

declare -A base
for backend in netlink bpf; do
	base[$backend]=$(measure "$backend" "$TMP/no.conf")
done
mkfifo "$TMP/flood.in"
"$FLOODER" -u 65534 "$FLOOD" <"$TMP/flood.in" >"$TMP/flood.out" 2>&1 &
PIDS+=($!)
exec {fd_flood}>"$TMP/flood.in"
for _ in $(seq 1200); do grep -q '^ready\|^failed' "$TMP/flood.out" && break; sleep 0.1; done
grep -q '^ready' "$TMP/flood.out" || { cat "$TMP/flood.out" >&2; exit 1; }
echo "# $CONNS connections in a namespace of root's; $FLOOD namespaces made by nobody; medians of $RUNS (user_namespaces = yes: ${RUNS_YES:-1}); descriptor limit $(ulimit -n)"
printf '%-8s %-26s %10s %10s %10s   %s\n' backend case wall_ms cpu_ms rss_kib "ratio to the run without (wall, cpu, rss)"
for backend in netlink bpf; do
	b=${base[$backend]}
	printf '%-8s %-26s %10s %10s %10s\n' "$backend" "without" "$(field wall_ms "$b")" \
		"$(field cpu_ms "$b")" "$(field maxrss_kib "$b")"
	for u in ${CASES:-no yes}; do
		m=$(measure "$backend" "$TMP/$u.conf" "$([ "$u" = yes ] && echo "${RUNS_YES:-1}" || echo "$RUNS")")
		printf '%-8s %-26s %10s %10s %10s   %s %s %s\n' "$backend" "with, user_namespaces = $u" \
			"$(field wall_ms "$m")" "$(field cpu_ms "$m")" "$(field maxrss_kib "$m")" \
			"$(ratio "$(field wall_ms "$m")" "$(field wall_ms "$b")")" \
			"$(ratio "$(field cpu_ms "$m")" "$(field cpu_ms "$b")")" \
			"$(ratio "$(field maxrss_kib "$m")" "$(field maxrss_kib "$b")")"
	done
done
