#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every way a verdict is reached, and every safety rail, on real connections. Each
# scenario has its own server port and config, so they cannot disturb one another.
. "$TESTS_SRC/lib.sh"

topo_setup
NS_RST="$ID-rst"
ns_add "$NS_RST"
link "$NS_SRV" vr 198.18.3.1 2001:db8:3::1 "$NS_RST" eth0 198.18.3.2 2001:db8:3::2

SYS_IDLE=$(cat /proc/sys/net/ipv4/tcp_keepalive_time)
SYS_INTVL=$(cat /proc/sys/net/ipv4/tcp_keepalive_intvl)
SYS_CNT=$(cat /proc/sys/net/ipv4/tcp_keepalive_probes)

policy() { # policy PORT [KEY=VALUE...]: a config with one fast policy for PORT
	local port=$1
	shift
	printf '[global]\n'
	for kv in "$@"; do case $kv in global:*) echo "${kv#global:}" ;; esac; done
	printf '[policy p%s]\nlocal_port = %s\nidle = 2s\ninterval = 1s\nprobes = 3\n' "$port" "$port"
	for kv in "$@"; do case $kv in global:*) ;; *) echo "$kv" ;; esac; done
}


echo_srv s5101 5101 -k 600,30,5   # live peers of a server that set its own keepalive
echo_srv s5102 5102 -k 1,1,50     # dead peers, the owner's keepalive already probing
echo_srv s5103 5103 -W            # dead peers, data outstanding
echo_srv s5104 5104               # kill-idle on live peers
echo_srv s5105 5105               # ignore
echo_srv s5106 5106               # dry run
echo_srv s5107 5107               # rate limit
echo_srv s5108 5108               # breaker
echo_srv s5109 5109               # SIGTERM while probing
echo_srv s5110 5110               # RST answer to a probe
echo_srv s5111 5111               # live peers that send data while probed

clients c5101 "$NS_LIVE" 2 198.18.1.1 5101
clients c5102 "$NS_DEAD" 3 2001:db8:2::1 5102
clients c5103 "$NS_DEAD" 3 198.18.2.1 5103
clients c5104 "$NS_LIVE" 2 198.18.1.1 5104
clients c5105l "$NS_LIVE" 2 198.18.1.1 5105
clients c5105d "$NS_DEAD" 2 198.18.2.1 5105
clients c5106 "$NS_DEAD" 4 198.18.2.1 5106
clients c5107 "$NS_DEAD" 5 2001:db8:2::1 5107
clients c5108 "$NS_DEAD" 10 198.18.2.1 5108
clients c5109 "$NS_DEAD" 3 198.18.2.1 5109
clients c5110 "$NS_RST" 2 198.18.3.1 5110
clients c5111 "$NS_LIVE" 2 198.18.1.1 5111

# The RST peer: its connections vanish without the server hearing (the RST of the
# abortive close is dropped), then it is reachable again with no state: a rebooted host.
kill_peer "$NS_RST"
send c5110 abort
wait_for "$TMP/c5110.out" '^aborted' 10
revive_peer "$NS_RST"
kill_peer "$NS_DEAD"
sleep 2.5 # every connection passes idle = 2s

# ---- RST in answer to the probe ----
policy 5110 >"$TMP/5110.conf"
kareaper_once r5110 "$TMP/5110.conf"
diag "$TMP/r5110.table"
is "$(rows "$TMP/r5110.table" 'gone (reset-by-peer-on-probe)')" 2 "probe answered by RST: logged as such"
is "$(grep -c 'connection ended while probing.*reason=reset-by-peer-on-probe' "$TMP/r5110.log")" 2 \
	"one log line each"
check "the server saw the resets" wait_count "$TMP/s5110.out" 'closed .* ECONNRESET' 2 10
is "$(established "$NS_SRV" 5110 .)" 0 "no connection left"

# ---- the owner's own keepalive already proves it ----
check "the kernel has sent 3 unanswered keepalives of the owner's" wait_timer "$NS_SRV" 5102 keepalive 3
policy 5102 >"$TMP/5102.conf"
kareaper_once r5102 "$TMP/5102.conf"
diag "$TMP/r5102.table"
is "$(rows "$TMP/r5102.table" 'reaped (keepalive-unanswered)')" 3 "reaped on the kernel's evidence"
is "$(grep -c 'probing' "$TMP/r5102.log")" 0 "without arming probes of our own"
is "$(established "$NS_SRV" 5102 .)" 0 "gone from ss"

# ---- unacked data retransmitted to a dead peer ----
check "the kernel has retransmitted 3 times" wait_timer "$NS_SRV" 5103 on 3
policy 5103 >"$TMP/5103.conf"
kareaper_once r5103 "$TMP/5103.conf"
diag "$TMP/r5103.table"
# Not evidence: retransmission timeouts back off, so 3 retransmits are about a
# second of loss; the kernel ends such a connection itself (tcp_retries2), and a
# keepalive probe cannot go out while data waits.
is "$(rows "$TMP/r5103.table" 'reaped')" 0 "retransmits alone reap nothing"
is "$(rows "$TMP/r5103.table" 'no probe went out')" 3 "probed: no probe goes out with data in flight"
is "$(established "$NS_SRV" 5103 .)" 3 "all 3 still there (the kernel's to end)"

# ---- kill-idle kills idle live peers ----
policy 5104 "action = kill-idle" >"$TMP/5104.conf"
kareaper_once r5104 "$TMP/5104.conf"
is "$(rows "$TMP/r5104.table" 'reaped (idle)')" 2 "kill-idle reaps live idle peers"
is "$(ping_clients c5104)" "answered 0 of 2" "they are gone for the client too"

# ---- ignore, and a policy that matches nothing ----
{ policy 5105 "action = ignore"; printf '[policy other]\nlocal_port = 5199\nidle = 2s\n'; } >"$TMP/5105.conf"
kareaper_once r5105 "$TMP/5105.conf"
is "$(rows "$TMP/r5105.table" 'ignored$')" 4 "ignore: listed as ignored"
is "$(grep -c 'probing\|reaped' "$TMP/r5105.log")" 0 "nothing probed or reaped"
is "$(established "$NS_SRV" 5105 .)" 4 "all four connections (two dead) untouched"
is "$(opts s5105 | grep -c 'keepalive=0')" 4 "and their options untouched"

# ---- dry run ----
policy 5106 >"$TMP/5106.conf"
kareaper_once r5106 "$TMP/5106.conf" --dry-run
diag "$TMP/r5106.table"
is "$(rows "$TMP/r5106.table" 'would reap (probes-unanswered)')" 4 "dry run reports every dead peer"
is "$(grep -c 'dry run: would reap' "$TMP/r5106.log")" 4 "and logs each"
is "$(established "$NS_SRV" 5106 .)" 4 "and kills none"
is "$(opts s5106 | grep -c "keepalive=0 idle=$SYS_IDLE intvl=$SYS_INTVL cnt=$SYS_CNT")" 4 \
	"their options are back as they were"
policy 5106 "dry_run = yes" >"$TMP/5106p.conf"
kareaper_once r5106p "$TMP/5106p.conf"
is "$(rows "$TMP/r5106p.table" 'would reap (probes-unanswered)')" 4 \
	"per-policy dry_run as well (probed anew: the first run's probes are not the owner's)"
is "$(established "$NS_SRV" 5106 .)" 4 "still none killed"

# ---- rate limit ----
policy 5107 "global:max_reaps_per_scan = 3" >"$TMP/5107.conf"
kareaper_once r5107 "$TMP/5107.conf"
diag "$TMP/r5107.table"
is "$(rows "$TMP/r5107.table" 'reaped (probes-unanswered)')" 3 "3 reaped under max_reaps_per_scan = 3"
is "$(rows "$TMP/r5107.table" 'dead, rate-limited')" 2 "2 left for a later round"
check "the wait is logged" grep -q '2 dead connections wait for a later round' "$TMP/r5107.log"
is "$(established "$NS_SRV" 5107 .)" 2 "2 still there"
kareaper_once r5107b "$TMP/5107.conf"
is "$(rows "$TMP/r5107b.table" 'reaped (probes-unanswered)')" 2 \
	"the next round probes the rest again and reaps them"
is "$(established "$NS_SRV" 5107 .)" 0 "none left"

# ---- circuit breaker ----
policy 5108 "global:breaker_min_probes = 5" "global:breaker_share = 50%" >"$TMP/5108.conf"
kareaper_once r5108 "$TMP/5108.conf"
diag "$TMP/r5108.table"
check "the breaker trips when every probed peer dies at once" \
	grep -q 'circuit breaker: 10 of 10 connections' "$TMP/r5108.log"
is "$(rows "$TMP/r5108.table" 'held by breaker')" 10 "all held"
is "$(grep -c 'reaped' "$TMP/r5108.log")" 0 "none reaped"
is "$(established "$NS_SRV" 5108 .)" 10 "all 10 still there"

# ---- live idle peers of an owner with keepalive: left to it, round after round ----
printf '[global]\nscan_interval = 1s\nlog_level = debug\n' >"$TMP/5101.conf"
policy 5101 | sed 1d | sed 's/^probes = 3$/probes = 2/' >>"$TMP/5101.conf"
daemon d5101 "$TMP/5101.conf"
check "left to its owner's keepalive, with its schedule" \
	wait_count "$TMP/d5101.log" 'its owner runs keepalive (600s/30s/5): .* goes 12m30s after' 2 20
check "several rounds pass" wait_count "$TMP/d5101.log" '^.*scan: ' 6 30
is "$(grep -c 'its owner runs keepalive' "$TMP/d5101.log")" 2 "said once each"
check "never armed, never reaped" sh -c "! grep -q 'probing with\|reaped' '$TMP/d5101.log'"
stop "$KR"
is $? 0 "daemon stops cleanly"
is "$(opts s5101 | grep -c 'keepalive=1 idle=600 intvl=30 cnt=5 ut=0')" 2 \
	"the owner's own keepalive options, never touched"
is "$(ping_clients c5101)" "answered 2 of 2" "the live peers still talk"

# ---- a probed peer that sends data: alive, though no longer idle ----
# The first probe is 30 s away: the data is the only answer. A socket being probed
# must be listed whatever its idle time (the BPF scan drops the recently heard
# unless they are tracked), or it would be taken for closed and left armed.
printf '[global]\nscan_interval = 1s\n[policy p]\nlocal_port = 5111\nidle = 2s\ninterval = 30s\nprobes = 3\n' \
	>"$TMP/5111.conf"
daemon d5111 "$TMP/5111.conf"
check "two sockets armed" wait_count "$TMP/d5111.log" 'probing with 3 keepalives' 2 20
is "$(ping_clients c5111)" "answered 2 of 2" "the probed peers send data"
check "the data is their answer" wait_count "$TMP/d5111.log" 'peer answered, options restored' 2 20
is "$(opts s5111 | grep -c "keepalive=0 idle=$SYS_IDLE intvl=$SYS_INTVL cnt=$SYS_CNT")" 2 \
	"the owner's options are back"
stop "$KR"
is $? 0 "daemon stops cleanly"
check "none reaped, none taken for ended" sh -c "! grep -q 'reaped\|ended while probing' '$TMP/d5111.log'"

# ---- SIGTERM while probing restores every armed socket ----
printf '[global]\nscan_interval = 1s\n[policy p]\nlocal_port = 5109\nidle = 2s\ninterval = 5s\nprobes = 5\n' \
	>"$TMP/5109.conf"
daemon d5109 "$TMP/5109.conf"
check "three sockets armed" wait_count "$TMP/d5109.log" 'probing with 5 keepalives' 3 20
is "$(opts s5109 | grep -c 'keepalive=1 idle=5 intvl=5 cnt=127 ut=0')" 3 \
	"armed: our probes, TCP_KEEPCNT at the kernel's maximum"
stop "$KR"
is $? 0 "SIGTERM while probing: exit 0"
is "$(opts s5109 | grep -c "keepalive=0 idle=$SYS_IDLE intvl=$SYS_INTVL cnt=$SYS_CNT")" 3 \
	"every armed socket restored"
is "$(established "$NS_SRV" 5109 .)" 3 "and none killed"

done_testing
