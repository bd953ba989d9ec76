#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kareaper's scan and reap cost against a bare libmnl dump of the same socket table,
# measured in the same run, in a throwaway network namespace. Root. `make bench`.
#
#   bench/run.sh [CONNECTIONS]     (default 100000: 200000 sockets)
#
# 1. scan, on each backend (BACKENDS="bpf netlink"): the daemon's CPU time per scan
#    with a policy on every socket (none idle) and on the server ports, against the
#    bare dump's CPU time; `--once` whole-process figures, the table with owners.
#    For bpf, the floor under its scan too: the same walk with a program that turns
#    every socket away unread (KAREAPER_BPF_EMPTY_WALK=1), the kernel's own cost.
# 2. reap: 1% of the connections dead (an nftables rule drops their packets), the
#    rest just active; one `--once` round per backend finds, probes and reaps its
#    half of the dead.
# 3. detection: the daemon, from the moment peers die to the last reap, against
#    its bound; and, from its own log, the CPU time of each kind of round: steady,
#    the one that found the dead, the one whose walk armed them, the verdicts;
#    RUNS3 runs (default RUNS), each with new dead peers and a new daemon, medians.
#    Each set of connections is a service in a cgroup v2 of its own, as systemd
#    runs services (BENCH_CGROUPS=no: all in the caller's), which is where the
#    BPF backend looks for the owners of the sockets in its log lines first.
# 4. a flood: FLOOD peers (default 40% of the connections) die at once, more than
#    a round may probe (max_probes_per_scan, 1000) or reap (6000 a minute); the
#    daemon works through them for FLOOD_S seconds on each backend. The CPU of
#    its rounds and of its verdict passes against the bare dump, medians.
# 5. namespaces: 50 namespaces against one of the same total size, with the host's
#    shared TCP hash and with a hash per namespace (tcp_child_ehash_entries, set
#    for the test and put back).
set -euo pipefail

KAREAPER=${KAREAPER:-src/kareaper}
BIN=${BENCH_BIN:-bench}
SRC=${BENCH_SRC:-$(dirname "$0")}
N=${1:-100000}
RUNS=${RUNS:-5}
DEAD=$((N / 100))
LIVE=$((N - DEAD))
NS="krbench$$"
TMP=$(mktemp -d /tmp/kareaper-bench.XXXXXX)
PIDS=()
CGROOT=
[ "${BENCH_CGROUPS:-yes}" = no ] || CGROOT=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
CGS=()

cleanup() {
	local p cg
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	# workers that have not exited yet go back to the root, then the cgroup goes
	for cg in "${CGS[@]}"; do
		# (a worker that just exited keeps it busy until it is reaped: try again)
		for try in 1 2 3 4 5 6 7 8 9 10; do
			while read -r p; do echo "$p" >"$CGROOT/cgroup.procs" || true; done <"$cg/cgroup.procs"
			rmdir "$cg" 2>/dev/null && break
			sleep 0.5
		done
	done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
ip netns add "$NS"
ip -n "$NS" link set lo up
inns() { ip netns exec "$NS" "$@"; }

# conns NAME COUNT PORT ADDR: a mkconns set whose stdin we keep open on fd_NAME
conns() {
	local workers=$((($2 + 8999) / 9000))
	local cg=
	mkfifo "$TMP/$1.in"
	if [ -n "$CGROOT" ]; then
		cg="$CGROOT/$NS-$1"
		mkdir "$cg"
		CGS+=("$cg")
	fi
	# one process from the shell to mkconns: $! is the set's first process. (The
	# cgroup first: ip netns exec mounts a /sys of its own, without cgroups.)
	CG="$cg" sh -c '[ -z "$CG" ] || echo $$ >"$CG/cgroup.procs"; exec "$@"' mkconns \
		ip netns exec "$NS" "$BIN/mkconns" -n "$2" -w "$workers" -p "$3" -a "$4" \
		<"$TMP/$1.in" >"$TMP/$1.out" &
	PIDS+=($!)
	eval "exec {fd_$1}>\"$TMP/$1.in\""
	local i=0
	until grep -q '^ready' "$TMP/$1.out"; do
		i=$((i + 1))
		[ "$i" -lt 1200 ] || { echo "bench: mkconns $1 did not finish" >&2; exit 1; }
		sleep 0.1
	done
}
warm() { # warm NAME: one byte each way on every connection of the set
	local fd="fd_$1" n
	n=$(grep -c '^warmed' "$TMP/$1.out" || true)
	echo warm >&"${!fd}"
	until [ "$(grep -c '^warmed' "$TMP/$1.out" || true)" -gt "$n" ]; do sleep 0.05; done
}
close_set() { eval "exec {fd_$1}>&-"; } # close_set NAME: its connections end
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
field() { sed -n "s/.*$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }
established() { inns ss -Htn state established "( sport >= :$1 and sport <= :$2 )" | wc -l; }

echo "# kareaper bench: $N connections ($((2 * N)) sockets), $RUNS runs each, $(nproc) CPUs, $(uname -r)"
if [ -n "$CGROOT" ]; then
	echo "# each set of connections in a cgroup of its own"
else
	echo "# every set of connections in the cgroup of the caller"
fi
# BPF run-time statistics time every program run: a BPF walk then costs half as
# much again, and its figures mean nothing
if [ "$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null)" = 1 ]; then
	echo "# WARNING: kernel.bpf_stats_enabled = 1 inflates every bpf figure below"
fi
# the dead: 1% on server port 21000 (reaped by the bpf round), 1% more on 21050
conns dead "$DEAD" 21000 200
conns deadn "$DEAD" 21050 201
T_DEAD=$(date +%s.%N)
inns nft -f - <<-NFT
table inet bench {
	chain in { type filter hook input priority 0; policy accept;
		tcp sport 21000-21099 drop; tcp dport 21000-21099 drop; }
}
NFT
conns live "$LIVE" 20000 1
echo "# made $(inns ss -Htn state established | wc -l) established sockets"

# ---- 1. scan, each backend ----
# measure() runs inside the namespace, so wait4's peak RSS is the measured program's.
measure() { inns "$BIN/measure" "$@"; }
# steady BACKEND CONF: the daemon's CPU time per scan (utime + stime over SCANS
# scans every 100 ms, after the first) and its peak RSS, as "cpu_ms=X maxrss_kib=Y".
SCANS=${SCANS:-20}
steady() {
	local b=$1 conf=$2 pid t0 t1 c0 c1 hz
	hz=$(getconf CLK_TCK)
	{ printf '[global]\nscan_interval = 100ms\nprobe_journal = %s\n' "$TMP/steady-$b.journal"; cat "$conf"; } >"$TMP/steady.conf"
	ip netns exec "$NS" "$KAREAPER" --backend "$b" -v -c "$TMP/steady.conf" 2>"$TMP/steady.log" &
	pid=$!
	until [ "$(grep -c 'scan: ' "$TMP/steady.log")" -ge 2 ]; do sleep 0.05; done
	c0=$(grep -c 'scan: ' "$TMP/steady.log")
	t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	until [ "$(grep -c 'scan: ' "$TMP/steady.log")" -ge $((c0 + SCANS)) ]; do sleep 0.05; done
	t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	c1=$(grep -c 'scan: ' "$TMP/steady.log")
	echo "cpu_ms=$(awk -v d=$((t1 - t0)) -v n=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.1f", d * 1000 / hz / n }') maxrss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
# The machine's speed drifts (a virtual machine: by a third, in steps, from one
# minute to the next), so every figure is set against the mean of the bare dumps
# taken just before and just after it.
mean_of() { # mean_of FIELD RESULT1 RESULT2
	awk -v a="$(field "$1" "$2")" -v b="$(field "$1" "$3")" 'BEGIN { printf "%.1f", (a + b) / 2 }'
}
vs() { # vs FIELD RESULT BEFORE AFTER: RESULT's FIELD over the bare dumps' mean
	ratio "$(field "$1" "$2")" "$(mean_of "$1" "$3" "$4")"
}
BACKENDS=${BACKENDS:-bpf netlink}
base=$(measure "$RUNS" "$BIN/baredump")
printf '[policy servers]\nlocal_port = 20000-21099\nidle = 1h\n' >"$TMP/scan.conf"
printf '[policy everything]\nidle = 1h\n' >"$TMP/all.conf"
echo "bare libmnl dump, v4+v6, tcp_info, all sockets: $base"
for b in $BACKENDS; do
	b0=$(measure "$RUNS" "$BIN/baredump")
	all=$(steady "$b" "$TMP/all.conf")
	# the floor under a bpf scan: the kernel's iteration of the same table, with a
	# program that turns every socket away unread
	[ "$b" != bpf ] || floor=$(KAREAPER_BPF_EMPTY_WALK=1 steady "$b" "$TMP/all.conf")
	b1=$(measure "$RUNS" "$BIN/baredump")
	ports=$(steady "$b" "$TMP/scan.conf")
	b2=$(measure "$RUNS" "$BIN/baredump")
	once=$(measure "$RUNS" "$KAREAPER" --backend "$b" --once --dry-run --quiet -c "$TMP/all.conf")
	b3=$(measure "$RUNS" "$BIN/baredump")
	table=$(measure "$RUNS" "$KAREAPER" --backend "$b" --once --dry-run -c "$TMP/scan.conf")
	b4=$(measure "$RUNS" "$BIN/baredump")
	rows=$(inns "$KAREAPER" --backend "$b" --once --dry-run -c "$TMP/scan.conf" 2>/dev/null | grep -vc '^POLICY\|^#')
	echo "[$b] bare dumps around each figure, CPU ms:    $(for r in "$b0" "$b1" "$b2" "$b3" "$b4"; do printf '%s ' "$(field cpu_ms "$r")"; done)"
	echo "[$b] daemon, policy on every socket, none idle: per scan $all"
	echo "[$b] daemon, policy on server ports:            per scan $ports"
	echo "[$b] --once --quiet, policy on every socket:    $once"
	echo "[$b] --once table of $rows rows with owners:    $table"
	echo "[$b] ratio daemon scan CPU / bare dump CPU: every socket $(vs cpu_ms "$all" "$b0" "$b1")x, server ports $(vs cpu_ms "$ports" "$b1" "$b2")x; peak RSS $(($(field maxrss_kib "$all") / 1024)) MiB"
	[ "$b" != bpf ] || echo "[$b] the kernel's walk alone (KAREAPER_BPF_EMPTY_WALK=1): per scan $floor; $(vs cpu_ms "$floor" "$b0" "$b1")x the bare dump; the scan over it: $(ratio "$(field cpu_ms "$all")" "$(field cpu_ms "$floor")")x"
	echo "[$b] ratio --once whole process / bare dump: every socket quiet cpu $(vs cpu_ms "$once" "$b2" "$b3")x, table wall $(vs wall_ms "$table" "$b3" "$b4")x, peak RSS $(($(field maxrss_kib "$table") / 1024)) MiB"
done

# ---- 2. one reaping round per backend: 1% dead among active peers ----
since() { awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.2f", n - t }'; }
while awk -v s="$(since "$T_DEAD")" 'BEGIN { exit !(s < 6) }'; do sleep 0.2; done
for b in $BACKENDS; do
	case $b in
	bpf) dports=21000-21049 ;;
	*) dports=21050-21099 ;;
	esac
	[ "$(established "${dports%-*}" "${dports#*-}")" -gt 0 ] || { echo "[$b] no dead peers left for its round"; continue; }
	printf '[global]\nbreaker_share = 100%%\nmax_reaps_per_scan = 100000\nmax_reaps_per_minute = 100000\nmax_probes_per_scan = 100000\n[policy servers]\nlocal_port = 20000-20999, %s\nidle = 5s\ninterval = 1s\nprobes = 3\n' "$dports" >"$TMP/reap.conf"
	warm live
	before=$(established "${dports%-*}" "${dports#*-}")
	base2=$(measure "$RUNS" "$BIN/baredump")
	warm live
	# --once exits 3 when it found dead connections: here that is the point
	round=$(measure 1 sh -c "'$KAREAPER' --backend $b --once --quiet -v -c '$TMP/reap.conf' 2>'$TMP/round.log'; [ \$? -eq 3 ]")
	after=$(established "${dports%-*}" "${dports#*-}")
	live_after=$(established 20000 20099)
	base2b=$(measure "$RUNS" "$BIN/baredump")
	echo "[$b] dead server ends before the round: $before, after: $after; live server ends after: $live_after of $LIVE"
	echo "[$b] bare dump (same table), before and after: $base2; $base2b"
	echo "[$b] one --once round (scan, $before probed, reaped): $round"
	echo "[$b] round CPU / bare dump CPU: $(vs cpu_ms "$round" "$base2" "$base2b")x"
	echo "[$b] round phases: $(grep -o 'scan: .*\|verdicts: .*' "$TMP/round.log" | tr '\n' ';')"
done

# ---- 3. detection by the daemon, and what each of its rounds costs ----
# Two policies: the live connections' idle is an hour, the dead ones' 5 s, so no
# live peer is ever probed and none needs keeping warm (traffic on loopback is
# softirq work that lands in the CPU time of whatever process runs: the figures
# would be the load's, not the daemon's). Every socket is still walked and judged.
printf '[global]\nscan_interval = 5s\nbreaker_share = 100%%\nmax_reaps_per_scan = 100000\nmax_reaps_per_minute = 100000\nmax_probes_per_scan = 100000\n[policy dead]\nlocal_port = 21100-21199\nidle = 5s\ninterval = 1s\nprobes = 3\n[policy live]\nlocal_port = 20000-21099\nidle = 1h\n' >"$TMP/daemon.conf"
# the dead peers' rules, in a chain of their own: emptied after each run
inns nft add chain inet bench dead3 '{ type filter hook input priority 1; policy accept; }'
# RUNS3 runs (default RUNS), each with a new set of dead peers, a new daemon and
# its own bare dumps before and after; the figures are medians over the runs.
RUNS3=${RUNS3:-$RUNS}
: >"$TMP/rounds"
for run in $(seq "$RUNS3"); do
	base3=$(measure "$RUNS" "$BIN/baredump")
	# The peers die before the daemon starts (the drop rule is in place), so it
	# never hears from them: a probe answered just before death would (rightly)
	# restart their idle time.
	conns "dead3_$run" "$DEAD" 21100 210
	inns nft add rule inet bench dead3 tcp sport 21100-21199 drop
	inns nft add rule inet bench dead3 tcp dport 21100-21199 drop
	T_DIE=$(date +%s.%N)
	# not through inns: $! must be the daemon itself
	ip netns exec "$NS" "$KAREAPER" -v -c "$TMP/daemon.conf" 2>"$TMP/daemon.log" &
	KR_PID=$!
	PIDS+=($!)
	# done when the last reap is logged (grep is cheap; an ss dump of the table is not)
	until [ "$(grep -c 'reaped:' "$TMP/daemon.log")" -ge "$DEAD" ]; do
		awk -v s="$(since "$T_DIE")" 'BEGIN { exit !(s > 120) }' && { echo "bench: the daemon did not reap within 120 s" >&2; exit 1; }
		sleep 0.1
	done
	took=$(since "$T_DIE")
	# two quiet scans after the reaps, for the steady cost beside them
	n=$(grep -c 'scan: ' "$TMP/daemon.log")
	until [ "$(grep -c 'scan: ' "$TMP/daemon.log")" -ge $((n + 2)) ]; do sleep 0.2; done
	kill "$KR_PID"
	wait "$KR_PID" 2>/dev/null || true
	base3b=$(measure "$RUNS" "$BIN/baredump")
	backend=$(grep -o 'backend: [a-z]*' "$TMP/daemon.log" | head -n 1)
	dead_left=$(established 21100 21199)
	live_left=$(established 20000 21099)
	# The daemon's own account of each round's CPU time (getrusage, in its debug
	# log), over the bare dumps' mean: steady, the round that found the dead (and
	# its owner lookup), the one whose walk armed them, the verdict passes.
	awk -v bare="$(mean_of cpu_ms "$base3" "$base3b")" -v took="$took" -v dl="$dead_left" -v ll="$live_left" '
		/scan: / {
			cpu = $0; sub(/.*cpu /, "", cpu); sub(/ ms.*/, "", cpu)
			arm = $0; sub(/.*arming /, "", arm); sub(/ on the way.*/, "", arm)
			own = $0; sub(/.*owners /, "", own); sub(/ ms.*/, "", own)
			pr = $0; sub(/.*probes and reaps /, "", pr); sub(/ ms.*/, "", pr)
			n++; c[n] = cpu + 0; a[n] = arm + 0; o[n] = own + 0; p[n] = pr + 0
		}
		/verdicts: / && !/verdicts: 0 / {
			cpu = $0; sub(/.*cpu /, "", cpu); sub(/ ms.*/, "", cpu); vn++; vc += cpu
		}
		END {
			for (i = 2; i <= n; i++) {          # the first scan loads the programs
				if (a[i] > a[ai]) ai = i
				if (o[i] > o[fi]) fi = i
				if (!a[i] && !o[i] && !p[i]) { q++; qs += c[i] }
			}
			printf "took=%s dead_left=%d live_left=%d steady=%.2f found=%.2f owners_ms=%d armed=%.2f verdicts=%.2f verdict_passes=%d\n",
				took, dl, ll, qs / (q ? q : 1) / bare, c[fi] / bare, o[fi], ai ? c[ai] / bare : 0, vc / bare, vn
		}' "$TMP/daemon.log" | tee -a "$TMP/rounds" | sed "s/^/daemon run $run ($backend): /"
	close_set "dead3_$run"
	inns nft flush chain inet bench dead3
	while [ "$(inns ss -Htn state established "( sport >= :21100 and sport <= :21199 ) or ( dport >= :21100 and dport <= :21199 )" | wc -l)" -gt 0 ]; do sleep 0.2; done
done
# med FIELD [UNIT [FILE]]: the median and the range of one field over the runs
med() {
	sed -n "s/.* $1=\\([0-9.]*\\).*/\\1/p; s/^$1=\\([0-9.]*\\).*/\\1/p" "${3:-$TMP/rounds}" | sort -n |
		awk -v u="${2:-}" 'function f(x) { return x == int(x) ? sprintf("%d", x) : sprintf("%.4g", x) }
			{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s%s (%s-%s)", f(m), u, f(v[1]), f(v[NR]) }'
}
echo "daemon ($backend), $RUNS3 runs, median (range): $DEAD peers died; all reaped after $(med took " s") (bound: idle 5 + scan_interval 5 to be seen + scan_interval 5 to be armed by the next walk (bpf) + interval x probes 3 = 18 s, + grace 0.5 s)"
echo "daemon: dead server ends left: $(med dead_left); live server ends left: $(med live_left) of $LIVE"
echo "daemon: CPU per round over the bare dump: steady scans $(med steady x); the round that found the $DEAD and journaled them $(med found x) (owners $(med owners_ms " ms") of it); the round whose walk armed them $(med armed x); the verdict passes that reaped them $(med verdicts x)"

# ---- 4. a flood of dead peers ----
# They die before the daemon starts and are past `idle` when it does: its first
# round finds them all (and their owners); the figures are the rounds after it,
# each of which arms the next max_probes_per_scan on its walk and reaps what the
# rate limit lets through.
FLOOD=${FLOOD:-$((N * 2 / 5))}
FLOOD_S=${FLOOD_S:-30}
printf '[global]\nscan_interval = 2s\nprobe_journal = %s\nbreaker_share = 100%%\n[policy flood]\nlocal_port = 21200-21299\nidle = 5s\ninterval = 1s\nprobes = 3\n[policy live]\nlocal_port = 20000-21199\nidle = 1h\n' \
	"$TMP/flood.journal" >"$TMP/flood.conf"
inns nft add chain inet bench flood '{ type filter hook input priority 2; policy accept; }'
for b in $BACKENDS; do
	base5=$(measure "$RUNS" "$BIN/baredump")
	conns "flood_$b" "$FLOOD" 21200 220
	inns nft add rule inet bench flood tcp sport 21200-21299 drop
	inns nft add rule inet bench flood tcp dport 21200-21299 drop
	sleep 6 # past `idle`
	ip netns exec "$NS" "$KAREAPER" --backend "$b" -v -c "$TMP/flood.conf" 2>"$TMP/flood.log" &
	KR_PID=$!
	PIDS+=($!)
	sleep "$FLOOD_S"
	kill "$KR_PID"
	wait "$KR_PID" 2>/dev/null || true
	base5b=$(measure "$RUNS" "$BIN/baredump")
	bare=$(mean_of cpu_ms "$base5" "$base5b")
	# one line per round after the first, one per verdict pass
	awk -v bare="$bare" '
		/scan: / && n++ { c = $0; sub(/.*cpu /, "", c); sub(/ ms.*/, "", c); printf "round=%.3f\n", c / bare }
		/verdicts: / && !/verdicts: 0 / { c = $0; sub(/.*cpu /, "", c); sub(/ ms.*/, "", c); printf "verdict=%.3f\n", c / bare }
	' "$TMP/flood.log" >"$TMP/flood-$b"
	echo "[$b] flood: $FLOOD peers dead at once; in ${FLOOD_S} s $(grep -c 'idle, probing' "$TMP/flood.log") probed, $(grep -c 'reaped:' "$TMP/flood.log") reaped (max_probes_per_scan 1000, max_reaps_per_minute 6000); bare dump before and after: $base5; $base5b"
	echo "[$b] flood: CPU over the bare dump, median (range): $(grep -c round= "$TMP/flood-$b") rounds after the first $(med round x "$TMP/flood-$b"); $(grep -c verdict= "$TMP/flood-$b") verdict passes $(med verdict x "$TMP/flood-$b")"
	close_set "flood_$b"
	inns nft flush chain inet bench flood
	while [ "$(inns ss -Htn state established "( sport >= :21200 and sport <= :21299 ) or ( dport >= :21200 and dport <= :21299 )" | wc -l)" -gt 0 ]; do sleep 0.2; done
done

# ---- 5. many namespaces ----
# One namespace of 50 000 connections (namespaces = self, run inside it), then 50
# namespaces of 1000 (namespaces = all, from the host): the same 100 000 sockets.
wait_gone() { while [ "$(inns ss -Htn state established | wc -l)" -gt 0 ]; do sleep 0.2; done; }
for set in dead deadn live; do close_set "$set"; done
wait_gone
conns one $((N / 2)) 20000 1
printf '[policy everything]\nidle = 1h\n' >"$TMP/one.conf"
single=$(measure "$RUNS" "$KAREAPER" --once --dry-run --quiet -c "$TMP/one.conf")
close_set one
wait_gone
NSS=50
EHASH_ORIG=$(cat /proc/sys/net/ipv4/tcp_child_ehash_entries 2>/dev/null || echo 0)
cleanup_many() {
	for i in $(seq "$NSS"); do ip netns del "$NS-m$i" 2>/dev/null || true; done
	sysctl -qw net.ipv4.tcp_child_ehash_entries="$EHASH_ORIG" 2>/dev/null || true
}
trap 'cleanup; cleanup_many' EXIT
printf '[global]\nnamespaces = all\n[policy everything]\nidle = 1h\n' >"$TMP/many.conf"
echo "one namespace, $N sockets (self):                 $single"
# By default every namespace shares the host's TCP established hash, and each dump
# walks all of it. net.ipv4.tcp_child_ehash_entries (Linux 5.19) gives namespaces
# created after it is set a hash of their own.
for ehash in 0 4096; do
	sysctl -qw net.ipv4.tcp_child_ehash_entries=$ehash
	for i in $(seq "$NSS"); do
		ip netns add "$NS-m$i"
		ip -n "$NS-m$i" link set lo up
		rm -f "$TMP/m$i.in"
		mkfifo "$TMP/m$i.in"
		ip netns exec "$NS-m$i" "$BIN/mkconns" -n $((N / 100)) -w 1 -p 20000 -a 1 \
			<"$TMP/m$i.in" >"$TMP/m$i.out" &
		PIDS+=($!)
		eval "exec {fd_m$i}>\"$TMP/m$i.in\""
	done
	for i in $(seq "$NSS"); do
		until grep -q '^ready' "$TMP/m$i.out"; do sleep 0.1; done
	done
	many=$("$BIN/measure" "$RUNS" "$KAREAPER" --once --dry-run --quiet -c "$TMP/many.conf")
	nsn=$("$KAREAPER" --once --dry-run --quiet -v -c "$TMP/many.conf" 2>&1 |
		sed -n 's/.*scan: \([0-9]*\) sockets in \([0-9]*\) namespaces.*/\1 sockets in \2 namespaces/p')
	echo "$NSS namespaces x $((2 * N / 100)) sockets, tcp_child_ehash_entries=$ehash ($nsn): $many"
	echo "  per-socket cost, many / one: $(ratio "$(field wall_ms "$many")" "$(field wall_ms "$single")")x; per-namespace overhead: $(awk -v m="$(field wall_ms "$many")" -v s="$(field wall_ms "$single")" -v n="$NSS" 'BEGIN { printf "%.2f ms", (m - s) / n }'); peak RSS $(($(field maxrss_kib "$many") / 1024)) MiB"
	for i in $(seq "$NSS"); do
		eval "exec {fd_m$i}>&-"
	done
	for i in $(seq "$NSS"); do
		while [ "$(ip netns exec "$NS-m$i" ss -Htn state established | wc -l)" -gt 0 ]; do sleep 0.1; done
		ip netns del "$NS-m$i"
	done
done
sysctl -qw net.ipv4.tcp_child_ehash_entries="$EHASH_ORIG"
