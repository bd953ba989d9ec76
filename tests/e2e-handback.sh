#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Handing sockets back, by construction: kareaper arms only sockets whose owner
# runs no keepalive of its own, and hands back only what still is its own.
#
# 1. A dry run through a transient outage (about 14 s): servers with keepalive of
#    their own (25 s / 5 s / 3, and 25 s / 5 s / 9 with a 20 s user timeout) are
#    never armed (their options read once, never written: before, they were
#    armed, and either handed back with kareaper's unanswered probes counted,
#    which their own timer would have acted on, or "held"); a server without
#    keepalive is armed, found dead but held (no round trip completes: no
#    witness), handed back exactly. Every connection lives on, a reload and a
#    --once --dry-run in between.
# 2. A long outage under a held breaker, 60 probes a round: kill -9 in the first
#    round, the next start hands back what the journal holds; that round leaves
#    some 70 unanswered probes counted, so the next, after its pause, is a
#    shorter one (half of the 35 or so that fit 8 below the kernel's limit, 127),
#    held too; the server with keepalive of its own (600 s / 5 s / 3) is never
#    touched. A peer elsewhere talks all along (a witness: the breaker holds
#    them, not the want of one). Then the outage ends for some peers (3), not for
#    others (2): a --once, with the breaker at its defaults, probes each with a
#    round shorter still; the 3 answer, the 2 are reaped (before, they were all
#    left alone for ever after the first round).
# 3. A journal the previous release left (format 1, no ids, no options armed)
#    after a kill -9: read, and its sockets put back.
# 4. The count a hand-back leaves: peers silent behind a zero window, a
#    --once --dry-run, then the owners write: the zero-window probing of a socket
#    handed back with c unanswered probes gets tcp_retries2 - c probes.
#
# Each scenario in a server namespace of its own, with a kareaper of its own.
. "$TESTS_SRC/lib.sh"

topo_setup
NS_SRV2="$ID-srv2"
NS_DEAD2="$ID-dead2"
NS_DEAD3="$ID-dead3"
NS_TALK="$ID-talk"
ns_add "$NS_SRV2"
ns_add "$NS_DEAD2"
ns_add "$NS_DEAD3"
ns_add "$NS_TALK"
link "$NS_SRV2" vd 198.18.4.1 2001:db8:4::1 "$NS_DEAD2" eth0 198.18.4.2 2001:db8:4::2
link "$NS_SRV2" ve 198.18.6.1 2001:db8:6::1 "$NS_DEAD3" eth0 198.18.6.2 2001:db8:6::2
link "$NS_SRV2" vt 198.18.7.1 2001:db8:7::1 "$NS_TALK" eth0 198.18.7.2 2001:db8:7::2

# wait_opts NAME PATTERN N [SECONDS]: until N of server NAME's sockets show PATTERN
# (each is released at the end of the first round after its peer answered)
wait_opts() {
	local i
	for ((i = 0; i < ${4:-30} * 5 * TIME_FACTOR; i++)); do
		[ "$(opts "$1" | grep -cE -- "$2")" -ge "$3" ] && return 0
		sleep 0.2
	done
	return 1
}

# ---- 1: servers with and without keepalive, a dry run, an outage of about 14 s ----
echo_srv s5301 5301 -k 25,5,3
echo_srv s5302 5302 -k 25,5,9 -u 20000
echo_srv s5303 5303
clients c5301 "$NS_LIVE" 2 198.18.1.1 5301
clients c5301v6 "$NS_LIVE" 1 2001:db8:1::1 5301
clients c5302 "$NS_LIVE" 2 2001:db8:1::1 5302
clients c5303 "$NS_LIVE" 2 198.18.1.1 5303
OWN1='keepalive=1 idle=25 intvl=5 cnt=3 ut=0'
OWN2='keepalive=1 idle=25 intvl=5 cnt=9 ut=20000'
kill_peer "$NS_LIVE"

cat >"$TMP/dry.conf" <<EOF
[global]
scan_interval = 1s
dry_run = yes
probe_journal = /run/kareaper/probes-dry
log_level = debug
[policy transient]
local_port = 5301, 5302, 5303
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
start_echo2 s5313 5313
# a peer that talks all along, outside the policy: the network works (a witness)
start_echo2 s5310 5310
start talk "$NS_TALK" "$TESTS_BIN/tcp-client" -n 1 -t 500 198.18.7.1 5310
wait_for "$TMP/talk.out" "^connected" 10 || bail "the talker did not connect"
clients c5311 "$NS_DEAD2" 3 198.18.4.1 5311
clients c5312 "$NS_DEAD2" 2 2001:db8:4::1 5312
clients c5313 "$NS_DEAD3" 1 198.18.6.1 5313
clients c5313v6 "$NS_DEAD3" 1 2001:db8:6::1 5313
kill_peer "$NS_DEAD2"
kill_peer "$NS_DEAD3"

cat >"$TMP/breaker.conf" <<EOF
[global]
scan_interval = 1s
breaker_share = 1%
breaker_min_probes = 1
probe_journal = /run/kareaper/probes-breaker
log_level = debug
[policy outage]
local_port = 5311, 5312, 5313
idle = 1s
interval = 1s
probes = 60
EOF
ip netns exec "$NS_SRV2" "$KAREAPER" -c "$TMP/breaker.conf" 2>"$TMP/breaker.log" &
KR_BRK=$!
T_PIDS+=("$KR_BRK")

# ---- 1, on ----
check "the 5 sockets whose owners run keepalive: left to their owners, said once each" \
	wait_count "$TMP/dry.log" "its owner runs keepalive" 5 30
check "with when their owners' keepalive ends a dead peer" \
	grep -q "its owner runs keepalive (25s/5s/9, user timeout 20000ms).*goes 30s after" \
	"$TMP/dry.log"
check "dry run during the outage (no round trip completes): the 2 without keepalive held" \
	wait_held "$TMP/dry.log" 2 60
is "$(opts s5301 | grep -c "$OWN1")" 3 "25s/5s/3: exactly the owner's options during the outage"
is "$(opts s5302 | grep -c "$OWN2")" 2 "25s/5s/9, 20 s user timeout: exactly the owner's too"
is "$(opts s5303 | grep -c 'keepalive=0 ')" 2 "the owner without keepalive: handed back, keepalive off"
# a reload: nothing to hold
kill -HUP "$KR_DRY"
check "reload done" wait_for "$TMP/dry.log" "reloaded" 20
is "$(opts s5301 | grep -c "$OWN1")$(opts s5302 | grep -c "$OWN2")" 32 \
	"after the reload: every owner with keepalive has exactly its options"
revive_peer "$NS_LIVE"
is "$(grep -c '^closed' "$TMP/s5301.out" "$TMP/s5302.out" "$TMP/s5303.out" |
	awk -F: '{ s += $2 } END { print s }')" 0 "no connection of scenario 1 ended"
is "$(ping_clients c5301)" "answered 2 of 2" "the v4 peers of the 25s/5s/3 server answer"
is "$(ping_clients c5301v6)" "answered 1 of 1" "and the v6 one"
is "$(ping_clients c5302)" "answered 2 of 2" "the peers of the user-timeout server answer"
is "$(ping_clients c5303)" "answered 2 of 2" "the peers of the server without keepalive answer"
is "$(grep -E 'probing with|handed back|options back' "$TMP/dry.log" | grep -cE ':530[12]([^0-9]|$)')" 0 \
	"never armed, nothing handed back on the servers with keepalive"
is "$(grep -cw reaped "$TMP/dry.log")" 0 "the dry run reaped nothing"

# ---- 2, on ----
# kill -9 in the first round, a few probes out: the next start hands back what
# the journal holds: exactly the owner's options
check "round 1: the 5 without keepalive armed" \
	wait_count "$TMP/breaker.log" "probing with 60 keepalives" 5 30
check "the 2 with keepalive left to their owner" \
	wait_count "$TMP/breaker.log" "its owner runs keepalive" 2 30
check "3 or more probes unanswered on each" wait_timer "$NS_SRV2" 5311 keepalive 3
kill -KILL "$KR_BRK"
wait "$KR_BRK" 2>/dev/null
ip netns exec "$NS_SRV2" "$KAREAPER" -c "$TMP/breaker.conf" 2>"$TMP/breaker2.log" &
KR_BRK=$!
T_PIDS+=("$KR_BRK")
check "after kill -9, the next start puts the journal back" \
	wait_for "$TMP/breaker2.log" "put back the keepalive options of 5 probed sockets" 30
check "the breaker held the first round's verdicts" \
	wait_for "$TMP/breaker2.log" "circuit breaker" 150
# most_probes LOG: the longest of the shorter rounds LOG armed
most_probes() {
	grep -o 'probing with [0-9]* keepalives every 1s (on top' "$1" | grep -o '[0-9]*' |
		sort -n | tail -n 1
}
check "after its pause, a shorter round on each: the policy's 60 no longer fit" \
	wait_count "$TMP/breaker2.log" "probing with [0-9]* keepalives every 1s (on top of the [0-9]* its earlier" 5 30
grep 'on top of' "$TMP/breaker2.log" | diag
n=$(most_probes "$TMP/breaker2.log")
ok "$([ "${n:-60}" -lt 60 ] && [ "$n" -ge 1 ] && echo 0 || echo 1)" "of fewer than 60 probes: ${n:-none}"
check "held too" wait_count "$TMP/breaker2.log" "circuit breaker" 2 120
stop "$KR_BRK"
ok $? "the breaker's kareaper stops cleanly"
probes=$(ip netns exec "$NS_SRV2" ss -Htnoi state established "( sport = :5311 or sport = :5313 )" |
	grep -oE 'timer:\(keepalive[^)]*\)' | wc -l)
is "$probes" 0 "no keepalive timer runs on the sockets handed back"
is "$(opts s5311 | grep -c 'keepalive=0')$(opts s5313 | grep -c 'keepalive=0')" 32 \
	"they have their owners' options (keepalive off)"
is "$(opts s5312 | grep -c 'keepalive=1 idle=600 intvl=5 cnt=3 ut=0')" 2 \
	"the server with keepalive: exactly its options, never touched"
is "$(cat "$TMP/breaker.log" "$TMP/breaker2.log" | grep -cw reaped)" 0 "the held breaker reaped nothing"
# the outage ends for the 3 peers of :5311, not for the 2 of :5313
revive_peer "$NS_DEAD2"
grep -v '^breaker_\|^probe_journal' "$TMP/breaker.conf" >"$TMP/after.conf"
ip netns exec "$NS_SRV2" "$KAREAPER" --once -c "$TMP/after.conf" >"$TMP/after.table" 2>"$TMP/after.log"
is $? 3 "--once after the outage: exit 3, dead connections found"
diag "$TMP/after.table"
grep 'on top of' "$TMP/after.log" | diag
is "$(grep -c 'probing with [0-9]* keepalives every 1s (on top of' "$TMP/after.log")" 5 \
	"each probed again, with a shorter round"
m=$(most_probes "$TMP/after.log")
ok "$([ "${m:-60}" -lt "${n:-0}" ] && [ "$m" -ge 1 ] && echo 0 || echo 1)" \
	"shorter still than the held one: ${m:-none} probes"
is "$(rows "$TMP/after.table" 'alive (answered')" 3 "the 3 peers back answer"
is "$(rows "$TMP/after.table" 'reaped (probes-unanswered)')" 2 "the 2 still silent are reaped"
is "$(established "$NS_SRV2" 5313 .)" 0 "none of them left"
is "$(ping_clients c5311)" "answered 3 of 3" "after the outage, every peer without keepalive answers"
is "$(opts s5311 | grep -c 'keepalive=0')" 3 "with its owner's options"
is "$(ping_clients c5312)" "answered 2 of 2" "and every peer of the server with keepalive"
is "$(grep -c '^closed' "$TMP/s5311.out" "$TMP/s5312.out" | awk -F: '{ s += $2 } END { print s }')" 0 \
	"no connection of scenario 2 ended but the dead ones"

stop "$KR_DRY"
ok $? "the dry run stops cleanly"
# --once --dry-run, as the README's first step, once the daemon is gone
printf '[global]\nprobe_journal = /run/kareaper/probes-once\n[policy t]\nlocal_port = 5301, 5302\nidle = 2s\ninterval = 1s\nprobes = 2\n' >"$TMP/once.conf"
# (an owner's probe answered makes its socket active for a moment: then again)
for try in 1 2 3; do
	kareaper_once once "$TMP/once.conf" --dry-run
	[ "$(rows "$TMP/once.table" ' active')" -eq 0 ] && break
	sleep 2
done
is "$(rows "$TMP/once.table" 'owner-keepalive')" 5 "--once --dry-run: 5 left to their owners' keepalive"
is "$(opts s5301 | grep -c "$OWN1")$(opts s5302 | grep -c "$OWN2")" 32 \
	"and every owner with keepalive has exactly its options after it"

# ---- 3: a journal the previous release left (format 1) ----
# It recorded neither the sockets' ids nor what it wrote: what it may have
# written (armed, or held) is taken as its, and put back.
echo_srv s5321 5321
clients c5321 "$NS_DEAD" 2 198.18.2.1 5321
kill_peer "$NS_DEAD"
printf '[global]\nscan_interval = 1s\ndry_run = yes\nprobe_journal = /run/kareaper/probes-v1\n[policy v1]\nlocal_port = 5321\nidle = 2s\ninterval = 1s\nprobes = 60\n' \
	>"$TMP/v1.conf"
daemon v1a "$TMP/v1.conf"
check "two dead peers armed" wait_count "$TMP/v1a.log" "probing with 60" 2 30
kill -KILL "$KR"
wait "$KR" 2>/dev/null
is "$(opts s5321 | grep -c 'cnt=127')" 2 "after kill -9: armed"
awk 'NR == 1 { print "# kareaper probe journal 1"; next }
	/^# end/ { print; next }
	{ print $1, $2, $3, $10, $11, $12, $13, $14 }' "$TMP/run/probes-v1" >"$TMP/v1.journal"
mv "$TMP/v1.journal" "$TMP/run/probes-v1"
daemon v1b "$TMP/v1.conf"
check "the next start reads the older journal and puts its 2 sockets back" \
	wait_for "$TMP/v1b.log" "put back the keepalive options of 2 probed sockets" 20
check "before it probes them anew" \
	sh -c "grep -m1 'probing\|put back' '$TMP/v1b.log' | grep -q 'put back'"
stop "$KR"
ok $? "a clean stop"
SYS="keepalive=0 idle=$(cat /proc/sys/net/ipv4/tcp_keepalive_time) intvl=$(cat /proc/sys/net/ipv4/tcp_keepalive_intvl) cnt=$(cat /proc/sys/net/ipv4/tcp_keepalive_probes) ut=0"
is "$(opts s5321 | grep -c "$SYS")" 2 "exactly the owner's options"

# ---- 4: a count handed back, and the owner's zero-window probing ----
# A socket handed back after an unanswered round keeps the count of probes that
# went unanswered until its peer is next heard from; no setsockopt() clears it.
# The owner's keepalive is off, so no timer of its reads it but the zero-window
# probe timer, which ends the connection once the count reaches tcp_retries2.
# Here: peers whose last word was a zero window (nft rewrites the window their
# ACKs advertise), then silent; a --once --dry-run probes those of one server
# and hands them back; then both servers write. Never armed: tcp_retries2
# zero-window probes, then ETIMEDOUT; handed back with a count c: tcp_retries2 - c.
NS_SRV3="$ID-srv3"
NS_ZW="$ID-zw"
ns_add "$NS_SRV3"
ns_add "$NS_ZW"
link "$NS_SRV3" vz 198.18.5.1 2001:db8:5::1 "$NS_ZW" eth0 198.18.5.2 2001:db8:5::2
RETRIES2=5
ip netns exec "$NS_SRV3" sysctl -qw net.ipv4.tcp_retries2=$RETRIES2
start_echo3() { # start_echo3 NAME PORT: an echo server in the third server namespace
	start "$1" "$NS_SRV3" "$TESTS_BIN/echo-server" -p "$2"
	echo "$LAST_PID" >"$TMP/$1.pid"
	wait_for "$TMP/$1.out" "^listening" 10 || bail "echo-server $1 did not start"
}
start_echo3 s5331 5331 # probed, handed back
start_echo3 s5332 5332 # never armed
clients c5331 "$NS_ZW" 1 198.18.5.1 5331
clients c5332 "$NS_ZW" 1 2001:db8:5::1 5332
ip netns exec "$NS_SRV3" nft -f - <<-'NFT' || bail "nft in $NS_SRV3"
table inet kareaper_zw {
	counter armed {}
	counter never {}
	chain pre { type filter hook prerouting priority -150; tcp dport { 5331, 5332 } tcp window set 0; }
	chain out {
		type filter hook output priority 0;
		tcp sport 5331 counter name armed
		tcp sport 5332 counter name never
	}
}
NFT
sent() { # sent COUNTER: segments the server's side sent since the counters were reset
	ip netns exec "$NS_SRV3" nft list counter inet kareaper_zw "$1" |
		sed -n 's/.*packets \([0-9]*\).*/\1/p'
}
for s in s5331 s5332; do
	kill -USR2 "$(cat "$TMP/$s.pid")"
	check "$s: a line written" wait_for "$TMP/$s.out" '^said 1' 10
done
kill_peer "$NS_ZW"
ip netns exec "$NS_SRV3" nft reset counters table inet kareaper_zw >/dev/null
sleep 1.5 # past idle = 1s
printf '[global]\nprobe_journal = /run/kareaper/probes-zw\n[policy zw]\nlocal_port = 5331\nidle = 1s\ninterval = 1s\nprobes = 3\n' >"$TMP/zw.conf"
ip netns exec "$NS_SRV3" "$KAREAPER" --once --dry-run -c "$TMP/zw.conf" >"$TMP/zw.table" 2>"$TMP/zw.log"
c=$(sent armed)
ok "$(test "$c" -ge 3; echo $?)" "--once --dry-run: 3 or more keepalive probes unanswered (c = $c)"
is "$(opts s5331 | grep -c 'keepalive=0 ')" 1 "handed back, keepalive off"
is "$(sent never)" 0 "the other server's socket never probed"
for s in s5331 s5332; do
	kill -USR2 "$(cat "$TMP/$s.pid")"
done
check "the write waits on the zero window (ss -o: a persist timer)" \
	sh -c "ip netns exec '$NS_SRV3' ss -Htno state established 'sport = :5332' | grep -q 'timer:(persist'"
check "never armed: ended by its zero-window probing" \
	wait_for "$TMP/s5332.out" '^closed .* ETIMEDOUT' 120
check "handed back: ended by its zero-window probing" \
	wait_for "$TMP/s5331.out" '^closed .* ETIMEDOUT' 120
is "$(sent never)" "$RETRIES2" "never armed: tcp_retries2 ($RETRIES2) zero-window probes"
want=$((RETRIES2 > c ? RETRIES2 - c : 0))
is "$(( $(sent armed) - c ))" "$want" \
	"handed back with c = $c: tcp_retries2 - c zero-window probes, as kareaper(8) says"

ok "$(test ! -s "$TMP/run/probes-dry" && test ! -s "$TMP/run/probes-breaker" &&
	test ! -s "$TMP/run/probes-once" && test ! -s "$TMP/run/probes-v1" &&
	test ! -s "$TMP/run/probes-zw"; echo $?)" \
	"nothing left in any probe journal"
done_testing
