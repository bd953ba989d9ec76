#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Namespace churn beside namespaces = all, as on a node where pods come and go:
# 10 network namespaces made and 10 deleted every second for KAREAPER_CHURN_S
# seconds (20 here; bench/churn.sh runs 300), while a server's sockets to dead
# peers are armed in a dry run, and the name of that server's namespace is
# deleted on the way (the server lives on, and so does its namespace, found
# through its process). Afterwards: the daemon's descriptors at their
# baseline and its memory near it, the journal entries kept all along, the
# namespaces gauge right, no error, and a stop that leaves every socket as its
# owner had it.
. "$TESTS_SRC/lib.sh"

CHURN_S=${KAREAPER_CHURN_S:-20}
# (100 probes an interval apart outlast the churn: the dry run's verdict, which
# hands the sockets back, comes after it)
topo_setup
CNAME="krch$((RANDOM % 1000))x$((RANDOM % 10000))" # the server's comm: its namespace's name once its own goes
cp "$TESTS_BIN/echo-server" "$TMP/$CNAME"
start srv "$NS_SRV" "$TMP/$CNAME" -p 5000
echo "$LAST_PID" >"$TMP/srv.pid"
SRV=$LAST_PID
wait_for "$TMP/srv.out" '^listening' 10 || bail "the echo server did not start"
clients live "$NS_LIVE" 2 198.18.1.1 5000
clients dead "$NS_DEAD" 3 198.18.2.1 5000
OWNERS=$(opts srv | sort)
kill_peer "$NS_DEAD"
sleep 1.5 # past idle = 1s

cat >"$TMP/churn.conf" <<EOF
[global]
namespaces = all
scan_interval = 500ms
dry_run = yes
metrics_file = $TMP/churn.prom
[policy churn]
netns = $ID-*, $CNAME
local_port = 5000
idle = 1s
interval = $((CHURN_S / 60 + 1))s
probes = 100
EOF
"$KAREAPER" -c "$TMP/churn.conf" 2>"$TMP/churn.log" &
KR=$!
T_PIDS+=("$KR")
check "the dead peers' sockets armed" wait_count "$TMP/churn.log" "probing with 100" 3 30
dead_journaled() { grep -c '198\.18\.2\.2' "$TMP/run/probes"; } # (the live ones come and go)
check "and journaled" wait_for "$TMP/run/probes" '198\.18\.2\.2' 10
sleep 1 # a round or two more: what a round holds, held
fds() { # its descriptors between rounds: the fewest of 20 looks over a second (a
	# round opens some for a moment)
	local i n min=
	for ((i = 0; i < 20; i++)); do
		n=$(ls "/proc/$KR/fd" | wc -l)
		[ -z "$min" ] || [ "$n" -lt "$min" ] && min=$n
		sleep 0.05
	done
	echo "$min"
}
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$KR/status"; }
FDS0=$(fds)
RSS0=$(rss)

# ---- the churn ----
made=0 lost=0
end=$((SECONDS + CHURN_S))
while [ "$SECONDS" -lt "$end" ]; do
	for k in 0 1 2 3 4 5 6 7 8 9; do
		ip netns add "$ID-c$made-$k" && T_NS+=("$ID-c$made-$k")
	done
	sleep 0.5
	for k in 0 1 2 3 4 5 6 7 8 9; do
		ip netns del "$ID-c$made-$k"
	done
	made=$((made + 1))
	[ "$made" -eq $((CHURN_S / 2)) ] && ip netns del "$NS_SRV" # the server keeps it
	[ "$(dead_journaled)" = 3 ] || lost=$((lost + 1))
	sleep 0.5
done
sleep 2 # the last of them gone from two rounds
FDS1=$(fds)
echo "# $((made * 10)) namespaces made and deleted in $CHURN_S s; descriptors $FDS0 -> $FDS1, RSS $RSS0 -> $(rss) kB"
check "the daemon runs on" kill -0 "$KR"
is "$lost" 0 "the journal held the 3 armed sockets at every look"
is "$FDS1" "$FDS0" "its descriptors back to their baseline"
if grep -q __asan_init "$KAREAPER_BIN"; then
	# AddressSanitizer keeps what is freed in its quarantine, resident: there
	# LeakSanitizer judges the memory, at the stop below (a leak fails it)
	echo "# AddressSanitizer: RSS not compared; LeakSanitizer checks at the stop"
else
	ok "$([ "$(rss)" -le $((RSS0 + 2048)) ]; echo $?)" "its memory within 2 MiB of its baseline"
fi
# the server's (found through its process now), the live peers', the dead peers'
is "$(sed -n 's/^kareaper_namespaces //p' "$TMP/churn.prom")" 3 "kareaper_namespaces: the 3 left"
is "$(grep -c 'kareaper\[\(error\|warning\|crit\)\]' "$TMP/churn.log")" 0 "no error or warning" ||
	diag <(grep 'kareaper\[\(error\|warning\|crit\)\]' "$TMP/churn.log" | head -n 20)
is "$(nsenter -t "$SRV" -n ss -Htn state established "sport = :5000" | grep -c .)" 5 \
	"every connection still there (a dry run)"
stop "$KR"
is $? 0 "a clean stop"
is "$(opts srv | sort)" "$OWNERS" "every socket as its owner had it"
check "the journal is empty, and gone" test ! -e "$TMP/run/probes"
is "$(ping_clients live)" "answered 2 of 2" "the live peers answer"
done_testing
