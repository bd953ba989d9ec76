#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Log lines name the process that holds each socket, whichever cgroup it is in.
# The BPF backend looks first in the processes of the cgroup the socket was made in
# (a service's descriptors, not the whole host's), then in every process for those
# it did not find there: a server that moved to another cgroup after it listened.
. "$TESTS_SRC/lib.sh"

# cgroup v2: where this host mounts it, else a mount of our own
CGROOT=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
if [ -z "$CGROOT" ]; then
	CGROOT=$TMP/cgroup2
	mkdir "$CGROOT"
	mount -t cgroup2 none "$CGROOT" 2>/dev/null ||
		{ echo "1..0 # SKIP this kernel has no cgroup v2"; exit 77; }
	at_exit 'umount "$CGROOT"'
fi
CG_A=$CGROOT/$ID-a
CG_B=$CGROOT/$ID-b
mkdir "$CG_A" "$CG_B" || bail "cannot make cgroups under $CGROOT"
# our processes back to the root (they are stopped afterwards), then the cgroups go
cg_remove() {
	local cg p
	for cg in "$CG_A" "$CG_B"; do
		while read -r p; do echo "$p" >"$CGROOT/cgroup.procs"; done <"$cg/cgroup.procs"
		rmdir "$cg"
	done
}
at_exit cg_remove

# cg_echo NAME CGROUP PORT: an echo server in the server namespace, in CGROUP before
# it listens; SRV_PID. (CGROUP's cgroup.procs is opened out here: ip netns exec
# mounts a /sys of its own, without cgroups.)
cg_echo() {
	start "$1" "$NS_SRV" sh -c 'echo $$ >&3 && exec "$@" 3>&-' sh \
		"$TESTS_BIN/echo-server" -p "$3" 3>"$2/cgroup.procs"
	SRV_PID=$LAST_PID
	wait_for "$TMP/$1.out" "^listening" 10 || bail "echo-server $1 did not start"
}

topo_setup
# A listens and serves from cgroup a. B listens from cgroup a too, then moves to
# b: its sockets (made from its listener) still say a, where B no longer is.
cg_echo a "$CG_A" 5000
PID_A=$SRV_PID
cg_echo b "$CG_A" 5001
PID_B=$SRV_PID
echo "$PID_B" >"$CG_B/cgroup.procs"
is "$(cat "$CG_A/cgroup.procs")" "$PID_A" "cgroup a holds server A only"
is "$(cat "$CG_B/cgroup.procs")" "$PID_B" "cgroup b holds server B"
clients ca "$NS_LIVE" 3 198.18.1.1 5000
clients cb "$NS_LIVE" 2 2001:db8:1::1 5001
# answered: accepted, so held by the server (one still in its listener's queue is
# held by no process, and its log line could name none)
is "$(ping_clients ca)" "answered 3 of 3" "server A serves its 3 clients"
is "$(ping_clients cb)" "answered 2 of 2" "server B serves its 2 clients"

cat >"$TMP/owners.conf" <<CONF
[policy echo]
local_port = 5000-5001
idle = 1s
interval = 1s
probes = 3
CONF
# owners_once NAME WHAT: a --once round over the 5 sockets of servers A and B;
# each must be logged with its own server's pid and comm
owners_once() {
	kareaper_once "$1" "$TMP/owners.conf" --quiet --dry-run -v
	ok $? "$2: --once exits 0, every peer answered its probe"
	diag "$TMP/$1.log"
	is "$(grep -c "idle, probing .*:5000 -> .* pid=$PID_A comm=echo-server " "$TMP/$1.log")" 3 \
		"$2: server A's 3 sockets logged with its pid and comm"
	is "$(grep -c "idle, probing .*:5001 -> .* pid=$PID_B comm=echo-server " "$TMP/$1.log")" 2 \
		"$2: server B's 2 sockets logged with its pid and comm"
}
sleep 1.5 # let every connection pass `idle`: the policy's threshold, not a race
owners_once owners "A and B"
is "$(grep -c 'peer answered, options restored' "$TMP/owners.log")" 5 "all 5 answered, restored"
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	check "3 owners found in cgroup a's one process" grep -q \
		"owners: 3 of 5 found in the processes of the sockets' cgroups (1 cgroups, 1 processes)" \
		"$TMP/owners.log"
	check "the 2 others in every process" grep -q "owners: 2 of 2 found in every process" \
		"$TMP/owners.log"

	# A kernel before 6.1 refuses a walk of one process's descriptors: asked once,
	# then every owner comes from the pass over every process. A second process
	# in cgroup a, which would be asked next.
	start idler "$NS_SRV" sh -c 'echo $$ >&3 && exec cat 3>&-' 3>"$CG_A/cgroup.procs"
	IDLER=$LAST_PID
	wait_count "$CG_A/cgroup.procs" . 2 10 || bail "the idler did not join cgroup a"
	sleep 1.5 # past `idle` again since the probes were answered
	KAREAPER_BPF_NO_TASK_LINKS=1 owners_once old "before 6.1"
	is "$(grep -c "walks no single process's descriptors" "$TMP/old.log")" 1 \
		"before 6.1: the refusal is met once"
	check "before 6.1: all 5 found in every process" grep -q \
		"owners: 5 of 5 found in every process" "$TMP/old.log"
	kill "$IDLER" && wait "$IDLER"
fi
is "$(established "$NS_SRV" 5000 198.18.1.2)" 3 "server A's 3 connections still there"
is "$(established "$NS_SRV" 5001 2001:db8:1::2)" 2 "server B's 2 connections still there"

# A pid namespace of their own for a server and for kareaper, with its own /proc,
# as in a container: the server is process 1 there, and the log must say so (not
# the number the host knows it by).
start c "$NS_SRV" unshare --pid --fork --kill-child "$TESTS_BIN/echo-server" -p 5002
UNSHARE=$LAST_PID
wait_for "$TMP/c.out" "^listening" 10 || bail "echo-server c did not start"
read -r PID_C <"/proc/$UNSHARE/task/$UNSHARE/children"
# unshare ignores SIGTERM, and a namespace's first process takes from outside it
# only the signals it handles: SIGKILL, to this one process we started
at_exit 'kill -KILL "$PID_C"'
check "server C is process 1 of its pid namespace" \
	grep -q "^NSpid:[[:space:]]*$PID_C[[:space:]]*1$" "/proc/$PID_C/status"
clients cc "$NS_LIVE" 2 198.18.1.1 5002
is "$(ping_clients cc)" "answered 2 of 2" "server C serves its 2 clients"
sed 's/^local_port = .*/local_port = 5002/' "$TMP/owners.conf" >"$TMP/pidns.conf"
sleep 1.5 # past `idle`, as above
ip netns exec "$NS_SRV" nsenter -t "$PID_C" -p -- unshare -m --mount-proc -- \
	"$KAREAPER" --once --quiet --dry-run -v -c "$TMP/pidns.conf" 2>"$TMP/pidns.log"
ok $? "--once in that pid namespace exits 0"
diag "$TMP/pidns.log"
is "$(grep -c "idle, probing .*:5002 -> .* pid=1 comm=echo-server " "$TMP/pidns.log")" 2 \
	"server C's 2 sockets logged as pid 1, its number in that namespace"
is "$(grep -c 'peer answered, options restored' "$TMP/pidns.log")" 2 "both answered, restored"

# From 4096 owners asked for (KR_BPF_MAX_WANT) the BPF passes write every socket
# of the processes they walk: the same search, first in cgroup a's process.
ulimit -n 16384 || bail "cannot raise the open-file limit for 4097 clients"
clients cbig "$NS_LIVE" 4097 198.18.1.1 5000
is "$(ping_clients cbig)" "answered 4097 of 4097" "server A serves 4097 more"
printf '[global]\nmax_probes_per_scan = 5000\n' | cat - "$TMP/owners.conf" |
	sed 's/^local_port = .*/local_port = 5000/' >"$TMP/big.conf"
sleep 1.5 # past `idle`, as above
kareaper_once big "$TMP/big.conf" --quiet --dry-run -v
ok $? "--once with 4100 idle sockets exits 0"
is "$(grep -c "idle, probing .*:5000 -> .* pid=$PID_A comm=echo-server " "$TMP/big.log")" 4100 \
	"all 4100 logged with server A's pid and comm"
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	check "all 4100 found in cgroup a's one process" grep -q \
		"owners: 4100 of 4100 found in the processes of the sockets' cgroups (1 cgroups, 1 processes)" \
		"$TMP/big.log"
fi
is "$(established "$NS_SRV" 5000 198.18.1.2)" 4100 "server A's 4100 connections still there"

done_testing
