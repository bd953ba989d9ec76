#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Dead and live peers together, against the echo server and against a real Redis:
# one --once round reaps every dead peer (proved by probes that no one answers) and
# no live one, v4 and v6.
. "$TESTS_SRC/lib.sh"

topo_setup
start_echo srv 5000
start "redis" "$NS_SRV" redis-server --port 6390 --bind 0.0.0.0 :: --tcp-keepalive 0 \
	--timeout 0 --save "" --appendonly no --daemonize no --loglevel notice --protected-mode no \
	--dir "$TMP" --maxclients 1000
# (at notice level, which says when it is ready: at warning it never did, and
# this waited out its bound every run)
wait_for "$TMP/redis.out" '[Rr]eady to accept' 20 ||
	bail "redis-server did not start: $(cat "$TMP/redis.out" "$TMP/redis.err")"

clients live4 "$NS_LIVE" 10 198.18.1.1 5000
clients live6 "$NS_LIVE" 10 2001:db8:1::1 5000
clients dead4 "$NS_DEAD" 10 198.18.2.1 5000
clients dead6 "$NS_DEAD" 10 2001:db8:2::1 5000
clients rlive "$NS_LIVE" 10 198.18.1.1 6390
clients rdead "$NS_DEAD" 5 198.18.2.1 6390
clients rdead6 "$NS_DEAD" 5 2001:db8:2::1 6390

redis_clients() { # redis_clients PATTERN: clients in CLIENT LIST from those addresses
	ip netns exec "$NS_SRV" redis-cli -p 6390 client list | grep -c -- "$1"
}
is "$(redis_clients 'addr=198.18.2.2:\|addr=\[\?2001:db8:2::2')" 10 "Redis sees the 10 doomed clients"

kill_peer "$NS_DEAD"

cat >"$TMP/reap.conf" <<CONF
[global]
breaker_share = 80%
[policy echo]
local_port = 5000
idle = 2s
interval = 1s
probes = 3
[policy redis]
local_port = 6390
remote_addr = !127.0.0.0/8, !::1
idle = 2s
interval = 1s
probes = 3
CONF
sleep 2.5 # let every connection pass `idle`: the policy's threshold, not a race
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	# traced: the BPF backend finds owners without reading /proc/PID/fd. (A
	# sanitizer build's LeakSanitizer stops the world with ptrace, which a traced
	# process cannot: off for this run; the other runs look for leaks.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f --seccomp-bpf -qq -e trace=open,openat -o "$TMP/reap.strace" \
		ip netns exec "$NS_SRV" "$KAREAPER" --once -c "$TMP/reap.conf" >"$TMP/reap.table" 2>"$TMP/reap.log"
else
	kareaper_once reap "$TMP/reap.conf"
fi
is $? 3 "--once exits 3: dead peers found (and reaped)"
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	check "(strace saw kareaper open the kernel's BTF)" grep -q '/sys/kernel/btf/vmlinux' "$TMP/reap.strace"
	is "$(grep -c '"/proc/[0-9]*/fd' "$TMP/reap.strace")" 0 \
		"the round, its table of owners included, opened no /proc/PID/fd"
fi
diag "$TMP/reap.table"

is "$(rows "$TMP/reap.table" '198\.18\.2\.2:.* reaped (probes-unanswered)')" 15 "15 dead v4 peers reaped"
is "$(rows "$TMP/reap.table" '2001:db8:2::2.* reaped (probes-unanswered)')" 15 "15 dead v6 peers reaped"
is "$(rows "$TMP/reap.table" '198\.18\.1\.2:.* alive (answered-probe)')" 20 "20 live v4 peers alive"
is "$(rows "$TMP/reap.table" '2001:db8:1::2.* alive (answered-probe)')" 10 "10 live v6 peers alive"
is "$(established "$NS_SRV" 5000 '198.18.2.2\|2001:db8:2::2')" 0 "no dead echo peer left in ss"
is "$(established "$NS_SRV" 5000 '198.18.1.2\|2001:db8:1::2')" 20 "all 20 live echo peers in ss"
is "$(established "$NS_SRV" 6390 '198.18.2.2\|2001:db8:2::2')" 0 "no dead Redis peer left in ss"
is "$(redis_clients 'addr=198.18.2.2:\|addr=\[\?2001:db8:2::2')" 0 "none in Redis CLIENT LIST"
is "$(redis_clients 'addr=198.18.1.2:')" 10 "the 10 live Redis clients are in CLIENT LIST"
is "$(grep -c 'closed .* ECONNABORTED' "$TMP/srv.out")" 20 "the echo server saw ECONNABORTED 20 times"
is "$(ping_clients live4)" "answered 10 of 10" "live v4 echo clients answer"
is "$(ping_clients live6)" "answered 10 of 10" "live v6 echo clients answer"
is "$(ping_clients rlive)" "answered 10 of 10" "live Redis clients get PONG"
check "every reap is logged with policy, peer, owner, reason" \
	grep -q 'reaped: 198\.18\.2\.1:5000 -> 198\.18\.2\.2:[0-9]* policy=echo pid=[0-9]* comm=echo-server idle=.* reason=probes-unanswered' \
	"$TMP/reap.log"
is "$(grep -c 'reaped: .*comm=redis-server' "$TMP/reap.log")" 10 "10 Redis reaps logged"

done_testing
