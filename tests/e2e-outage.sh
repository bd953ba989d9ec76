#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An outage of the server's own network whose suspects arrive over many rounds:
# clients that connected a second apart reach the idle threshold a second apart,
# so each round probes a few of them, fewer than the breaker's minimum (10, its
# default). None may be reaped while the outage lasts (no peer is heard from, so
# no verdict has its witness), none after it, and the probes spent on them stay
# few. Then peers that really died, with the network back: reaped.
. "$TESTS_SRC/lib.sh"

topo_setup
echo_srv s5201 5201

cat >"$TMP/kr.conf" <<EOF
[global]
scan_interval = 1s
log_level = debug
[policy p]
local_port = 5201
idle = 3s
interval = 1s
probes = 3
EOF

# the server's own network goes down: nothing in or out but loopback
outage() {
	ip netns exec "$NS_SRV" nft -f - <<-'NFT' || bail "nft in $NS_SRV"
	table inet kareaper_outage {
		chain in { type filter hook input priority 0; iifname != "lo" drop; }
		chain out { type filter hook output priority 0; oifname != "lo" drop; }
	}
	NFT
}
# only its sending: its peers' segments (their retransmissions) still come in
outage_out() {
	ip netns exec "$NS_SRV" nft -f - <<-'NFT' || bail "nft in $NS_SRV"
	table inet kareaper_outage {
		chain out { type filter hook output priority 0; oifname != "lo" drop; }
	}
	NFT
}

daemon kr "$TMP/kr.conf"
for i in $(seq 1 12); do
	clients "c$i" "$NS_LIVE" 1 198.18.1.1 5201
	sleep 1
done
clients dead "$NS_DEAD" 3 198.18.2.1 5201
is "$(established "$NS_SRV" 5201 .)" 15 "15 clients, connected a second apart"

outage
check "the outage: verdicts without a witness are held" \
	wait_for "$TMP/kr.log" "no probe to them went unanswered after a round trip" 30
# a few probe windows (each about 4 s) of suspects arriving
sleep 20
held=$(held_by_breaker "$TMP/kr.log")
grep 'circuit breaker' "$TMP/kr.log" | diag
ok "$([ "$held" -ge 12 ] && echo 0 || echo 1)" "held over several rounds: $held verdicts"
is "$(grep -c 'circuit breaker: [0-9]* of [0-9]* connections' "$TMP/kr.log")" 0 \
	"not the breaker's count (never 10 at once)"
is "$(grep -c 'reaped' "$TMP/kr.log")" 0 "none reaped during the outage"
is "$(established "$NS_SRV" 5201 .)" 15 "all 15 still there"
ns_probes=$(grep -c 'probing with 3 keepalives' "$TMP/kr.log")
sleep 5
is "$(grep -c 'probing with 3 keepalives' "$TMP/kr.log")" "$ns_probes" \
	"a held suspect is not probed again while nothing is heard"

ip netns exec "$NS_SRV" nft delete table inet kareaper_outage
# a second apart again, so that they reach the idle time a few per round
for i in $(seq 1 12); do
	got=$(ping_clients "c$i")
	[ "$got" = "answered 1 of 1" ] || echo "# c$i: $got"
	sleep 1
done

# the host's sending cut (a local firewall), its receiving not: segments still
# come in (20 more talking clients retransmit, on backoffs of their own), sends
# are tried and dropped here (nothing left in flight), and no round trip completes
start talkers "$NS_LIVE" "$TESTS_BIN/tcp-client" -n 20 -t 200 198.18.1.1 4999
wait_for "$TMP/talkers.out" "^connected" 10 || bail "the talkers did not connect"
before=$(held_by_breaker "$TMP/kr.log")
outage_out
check "sending cut: the verdicts of the suspects that arrive are held too" \
	wait_held "$TMP/kr.log" $((before + 12)) 40
is "$(grep -c 'reaped' "$TMP/kr.log")" 0 "none reaped while segments still come in"
ip netns exec "$NS_SRV" nft delete table inet kareaper_outage

kill_peer "$NS_DEAD" # and these three really die
for i in $(seq 1 12); do
	got=$(ping_clients "c$i")
	[ "$got" = "answered 1 of 1" ] || echo "# c$i: $got"
done
is "$(established "$NS_SRV" 5201 198.18.1.2)" 12 "after the outage: the 12 live clients still connected"
check "with the network back, the dead are reaped" \
	wait_count "$TMP/kr.log" "reaped: .*198.18.2.2" 3 60
is "$(grep 'reaped: ' "$TMP/kr.log" | grep -vc '198.18.2.2')" 0 "and only they"
is "$(established "$NS_SRV" 5201 198.18.1.2)" 12 "the 12 live ones kept"
stop "$KR"
ok $? "kareaper stops cleanly"
done_testing
