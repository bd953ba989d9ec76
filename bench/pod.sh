#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What the DaemonSet's pod needs: the figures behind deploy/kubernetes's
# resource requests and limits. Root, podman and buildah.
#
#   bench/pod.sh [CONNECTIONS]     (default 100000: 2 x CONNECTIONS sockets)
#
# The image (deploy/image.sh) in the DaemonSet's pod (tests/kube-pod.py, podman
# kube play), namespaces = all, beside a namespace holding CONNECTIONS idle
# loopback connections (bench/mkconns). Two loads of BENCH_SECONDS each (60),
# scanning every 5 s:
#   steady: a policy on every socket, none idle long enough: scans only;
#   probing: every socket idle past the policy: each scan arms
#            max_probes_per_scan (1000) of them, all answer, all put back.
# For each: the daemon's CPU time per scan (utime + stime over the scans
# counted by its metrics), its CPU share at the shipped 30 s scan interval,
# and its peak RSS (VmHWM); against the bare libmnl dump of the same table
# (bench/baredump), medians of 5, in the same run.
set -euo pipefail

N=${1:-100000}
SECONDS_EACH=${BENCH_SECONDS:-60}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_BIN:-$SRC/bench}
KAREAPER=${KAREAPER:-$SRC/src/kareaper}
NS="krpod$$"
TMP=$(mktemp -d /tmp/kareaper-pod.XXXXXX)
PIDS=()
# a container store of its own, as tests/e2e-podman.sh has (before the trap:
# its cleanup clears that store, never the host's)
. "$SRC/tests/podman-store.sh"
podman_store "$TMP"
cleanup() {
	podman_store_clear
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }

bash "$SRC/deploy/image.sh" localhost/kareaper-bench bench "$KAREAPER" "$SRC" >&2

ip netns add "$NS"
ip -n "$NS" link set lo up
workers=$(((N + 8999) / 9000))
mkfifo "$TMP/conns.in"
ip netns exec "$NS" "$BIN/mkconns" -n "$N" -w "$workers" -p 20000 -a 1 <"$TMP/conns.in" >"$TMP/conns.out" &
PIDS+=($!)
exec {conns}>"$TMP/conns.in"
until grep -q '^ready' "$TMP/conns.out"; do sleep 0.1; done
base=$(ip netns exec "$NS" "$BIN/measure" 5 "$BIN/baredump" | sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p')

# load NAME IDLE: the pod for SECONDS_EACH, then "cpu_ms_per_scan hwm_kib scans"
load() {
	local pid scans0 scans1 t0 t1 hz
	hz=$(getconf CLK_TCK)
	printf '[global]\nscan_interval = 5s\n[policy bench]\nnetns = %s\nlocal_port = 20000-%d\nidle = %s\ninterval = 5s\nprobes = 3\n' \
		"$NS" $((20000 + workers - 1)) "$2" >"$TMP/$1.conf"
	mkdir -p "$TMP/files-$1"
	play_daemonset "$SRC" "bench-$1" "$TMP/files-$1" localhost/kareaper-bench:bench \
		"$TMP/journal-$1" "$TMP/$1.conf" "$TMP/$1" || { cat "$TMP/$1.play" >&2; exit 1; }
	pid=$(podman inspect "bench-$1-kareaper" --format '{{.State.Pid}}')
	metric() { nsenter -t "$pid" -n curl -sf http://127.0.0.1:9101/metrics | sed -n "s/^$1 //p"; }
	until [ "$(metric kareaper_scans_total || echo 0)" -ge 2 ] 2>/dev/null; do sleep 0.2; done
	scans0=$(metric kareaper_scans_total)
	t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	sleep "$SECONDS_EACH"
	scans1=$(metric kareaper_scans_total)
	t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	echo "$(( (t1 - t0) * 1000 / hz / (scans1 - scans0) )) $(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status") $((scans1 - scans0))"
	podman pod rm -f -t 30 "bench-$1" >/dev/null 2>&1
}
printf 'pod: %d connections (%d sockets), bare dump %s ms CPU (median of 5)\n' "$N" $((2 * N)) "$base"
for l in steady:1h probing:1s; do
	out=$(load "${l%%:*}" "${l#*:}")
	read -r cpu hwm scans <<<"$out"
	printf '%-8s %5d ms CPU a scan (%s x the bare dump; %d scans), %5.1f m CPU at a 30 s interval, peak RSS %d KiB\n' \
		"${l%%:*}" "$cpu" "$(awk -v a="$cpu" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" "$scans" \
		"$(awk -v c="$cpu" 'BEGIN { print c / 30 }')" "$hwm"
done
