#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Handing sockets back while the kernel still counts kareaper's unanswered probes
# (icsk_probes_out, which only an ACK resets). Two outages that end, each with
# every connection alive afterwards:
#
# 1. A dry run through a transient outage, servers with keepalive of their own
#    (25 s / 5 s / 3, and 25 s / 5 s / 9 with a 20 s user timeout): kareaper
#    says "would reap" at about 10 s, the peers answer again from about 15 s.
#    Handed back exactly, the owners' own keepalive timers would find 3..4
#    unanswered probes at 25 s and reset the connections without probing.
#    Held (TCP_KEEPCNT raised by the count, no user timeout), the owners' first
#    probe goes out, is answered, and kareaper puts the owners' options back.
# 2. A long outage the circuit breaker holds, 60 probes a round: one round
#    leaves about 64 unanswered probes counted, and a second would reach the
#    kernel's limit (127), where it ends the connection itself. kareaper leaves
#    such sockets alone, without a keepalive timer of its own on them; a server
#    with keepalive of its own keeps its socket held until its peer is heard.
#    kareaper is killed (-9) in the first round and started again.
#
# Both with a reload (scenario 1) and a stop at the end.
#
# Each scenario in a server namespace of its own, with a kareaper of its own.
. "$TESTS_SRC/lib.sh"

topo_setup
NS_SRV2="$ID-srv2"
NS_DEAD2="$ID-dead2"
ns_add "$NS_SRV2"
ns_add "$NS_DEAD2"
link "$NS_SRV2" vd 198.18.4.1 2001:db8:4::1 "$NS_DEAD2" eth0 198.18.4.2 2001:db8:4::2

# wait_opts NAME PATTERN N [SECONDS]: until N of server NAME's sockets show PATTERN
# (each is released at the end of the first round after its peer answered)
wait_opts() {
	local i
	for ((i = 0; i < ${4:-30} * 5; i++)); do
		[ "$(opts "$1" | grep -cE -- "$2")" -ge "$3" ] && return 0
		sleep 0.2
	done
	return 1
}

# ---- 1: servers with keepalive, a dry run, an outage of about 14 s ----
echo_srv s5301 5301 -k 25,5,3
echo_srv s5302 5302 -k 25,5,9 -u 20000
clients c5301 "$NS_LIVE" 2 198.18.1.1 5301
clients c5301v6 "$NS_LIVE" 1 2001:db8:1::1 5301
clients c5302 "$NS_LIVE" 2 2001:db8:1::1 5302
kill_peer "$NS_LIVE"

cat >"$TMP/dry.conf" <<EOF
[global]
scan_interval = 1s
dry_run = yes
probe_journal = /run/kareaper/probes-dry
log_level = debug
[policy transient]
local_port = 5301, 5302
idle = 2s
interval = 2s
probes = 3
EOF
daemon dry "$TMP/dry.conf"
KR_DRY=$KR

# ---- 2: a long outage under a held breaker ----
start_echo2() { # start_echo2 NAME PORT [ARGS]: an echo server in the second server namespace
	local name=$1 port=$2
	shift 2
	start "$name" "$NS_SRV2" "$TESTS_BIN/echo-server" -p "$port" "$@"
	echo "$LAST_PID" >"$TMP/$name.pid"
	wait_for "$TMP/$name.out" "^listening" 10 || bail "echo-server $name did not start"
}
start_echo2 s5311 5311
start_echo2 s5312 5312 -k 600,5,3
clients c5311 "$NS_DEAD2" 3 198.18.4.1 5311
clients c5312 "$NS_DEAD2" 2 2001:db8:4::1 5312
kill_peer "$NS_DEAD2"

cat >"$TMP/breaker.conf" <<EOF
[global]
scan_interval = 1s
breaker_share = 1%
breaker_min_probes = 1
probe_journal = /run/kareaper/probes-breaker
log_level = debug
[policy outage]
local_port = 5311, 5312
idle = 1s
interval = 1s
probes = 60
EOF
ip netns exec "$NS_SRV2" "$KAREAPER" -c "$TMP/breaker.conf" 2>"$TMP/breaker.log" &
KR_BRK=$!
T_PIDS+=("$KR_BRK")

# ---- 1, on ----
check "dry run: all 5 would be reaped" wait_count "$TMP/dry.log" "dry run: would reap" 5 60
check "and handed back held: the kernel counts probes the owners' keepalive would act on" \
	wait_count "$TMP/dry.log" "handed back held" 5 30
held=$(opts s5301 | grep -c 'keepalive=1 idle=25 intvl=5 cnt=[4-9] ut=0')
is "$held" 3 "25s/5s/3 sockets held: their owner's timing, TCP_KEEPCNT raised by the count"
held=$(opts s5302 | grep -c 'keepalive=1 idle=25 intvl=5 cnt=[2-9] ut=0')
is "$held" 2 "20 s user timeout sockets held: no user timeout, a count in its place"
# a reload hands back what is armed and keeps what is held
kill -HUP "$KR_DRY"
check "reload: the held sockets stay held, and it says so" \
	wait_for "$TMP/dry.log" "sockets held for their owners" 20
is "$(opts s5301 | grep -c 'keepalive=1 idle=25 intvl=5 cnt=[4-9] ut=0')" 3 "still held after the reload"
revive_peer "$NS_LIVE"
# the owners' own first probe, at 25 s of silence, is answered
check "the peers answered the owners' own probes; options put back" \
	wait_for "$TMP/dry.log" "held sockets: their peers answered" 60
wait_count "$TMP/dry.log" "held sockets: their peers answered" 1 5
is "$(grep -c '^closed' "$TMP/s5301.out" "$TMP/s5302.out" | awk -F: '{ s += $2 } END { print s }')" 0 \
	"no connection of scenario 1 ended"
is "$(ping_clients c5301)" "answered 2 of 2" "the v4 peers of the 25s/5s/3 server answer"
is "$(ping_clients c5301v6)" "answered 1 of 1" "and the v6 one"
is "$(ping_clients c5302)" "answered 2 of 2" "the peers of the user-timeout server answer"
check "25s/5s/3: exactly the owner's options again" \
	wait_opts s5301 'keepalive=1 idle=25 intvl=5 cnt=3 ut=0' 3
check "25s/5s/9, 20 s: exactly the owner's options again, the user timeout too" \
	wait_opts s5302 'keepalive=1 idle=25 intvl=5 cnt=9 ut=20000' 2
is "$(grep -cw reaped "$TMP/dry.log")" 0 "the dry run reaped nothing"

# ---- 2, on ----
# kill -9 in the first round, a few probes out: the next start hands back what
# the journal holds, held where the owner runs keepalive
check "round 1: all 5 armed" wait_count "$TMP/breaker.log" "probing with 60 keepalives" 5 30
check "3 or more probes unanswered on each" wait_timer "$NS_SRV2" 5311 keepalive 3
kill -KILL "$KR_BRK"
wait "$KR_BRK" 2>/dev/null
ip netns exec "$NS_SRV2" "$KAREAPER" -c "$TMP/breaker.conf" 2>"$TMP/breaker2.log" &
KR_BRK=$!
T_PIDS+=("$KR_BRK")
check "after kill -9, the next start puts the journal back: the 2 with keepalive held" \
	wait_for "$TMP/breaker2.log" "2 sockets held for their owners" 30
check "the breaker held the first round's verdicts" \
	wait_for "$TMP/breaker2.log" "circuit breaker" 150
check "the next round leaves the 3 sockets without keepalive of their own alone" \
	wait_count "$TMP/breaker2.log" "probe-budget-spent" 3 60
probes=$(ip netns exec "$NS_SRV2" ss -Htnoi state established "sport = :5311" |
	grep -oE 'timer:\(keepalive[^)]*\)' | wc -l)
is "$probes" 0 "no keepalive timer runs on the sockets left alone"
is "$(opts s5311 | grep -c 'keepalive=0')" 3 \
	"the sockets left alone have their owner's options (keepalive off)"
is "$(opts s5312 | grep -cE 'keepalive=1 idle=600 intvl=5 cnt=([4-9]|[1-9][0-9]|1[0-2][0-9]) ut=0')" 2 \
	"held with their owner's timing, TCP_KEEPCNT raised by the count spent"
is "$(cat "$TMP/breaker.log" "$TMP/breaker2.log" | grep -cw reaped)" 0 "the held breaker reaped nothing"
revive_peer "$NS_DEAD2"
is "$(ping_clients c5311)" "answered 3 of 3" "after the outage, every peer without keepalive answers"
is "$(ping_clients c5312)" "answered 2 of 2" "and every peer of the server with keepalive"
check "the held sockets handed back once their peers were heard" \
	wait_for "$TMP/breaker2.log" "held sockets: their peers answered" 30
check "exactly their owner's options again" \
	wait_opts s5312 'keepalive=1 idle=600 intvl=5 cnt=3 ut=0' 2
is "$(grep -c '^closed' "$TMP/s5311.out" "$TMP/s5312.out" | awk -F: '{ s += $2 } END { print s }')" 0 \
	"no connection of scenario 2 ended"

stop "$KR_DRY"
ok $? "the dry run stops cleanly"
stop "$KR_BRK"
ok $? "the breaker's kareaper stops cleanly"
ok "$(test ! -s "$TMP/run/probes-dry" && test ! -s "$TMP/run/probes-breaker"; echo $?)" \
	"nothing left in either probe journal"
done_testing
