#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# "Gone" means proven gone: an exact query by cookie that finds no such socket,
# or a network namespace that no longer exists anywhere. A namespace kareaper no
# longer watches is neither.
#
# 1. `namespaces = /run/netns/NAME`, a server there with peers kareaper is
#    probing, then `ip netns del NAME` (the server keeps the namespace alive):
#    kareaper hands the armed sockets back (entering the namespace through the
#    server's process), says why, and leaves no option of its own on them; the
#    connections live on. (Before, the journal entry was dropped as "gone",
#    "reset-by-peer-on-probe" was logged, and TCP_KEEPCNT 127 stayed for good.)
# 2. kill -9 with sockets armed in a namespace that is then deleted by name:
#    the next start hands them back through the server's process.
# 3. kill -9 with sockets armed, then the namespace's last process exits: the
#    next start finds no process holding those sockets, and their journal
#    entries go.
# 4. A namespace that lives on through its sockets alone: a server that entered
#    it to listen and left (no process in it), peers being probed, then
#    `ip netns del`: kareaper goes back in through the file it kept, and hands
#    them back.
. "$TESTS_SRC/lib.sh"

ns_add "$NS_SRV" # where kareaper runs; it watches the others by path
ns_add "$NS_LIVE"
ns_add "$NS_DEAD"
OWNER='keepalive=0 idle=7200 intvl=75 cnt=9 ut=0'

# foo N: namespace $ID-fN with an echo server on 5600 (pid in $TMP/fN.pid), 2
# silent live peers (v4) and 2 dead ones (v6)
foo() {
	local n=$1 ns="$ID-f$1"
	ns_add "$ns"
	link "$ns" l0 "198.18.6$n.1" "2001:db8:6$n::1" "$NS_LIVE" "l$n" "198.18.6$n.2" "2001:db8:6$n::2"
	link "$ns" d0 "198.18.7$n.1" "2001:db8:7$n::1" "$NS_DEAD" "d$n" "198.18.7$n.2" "2001:db8:7$n::2"
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_keepalive_time=7200 net.ipv4.tcp_keepalive_intvl=75 \
		net.ipv4.tcp_keepalive_probes=9
	start "f$n" "$ns" "$TESTS_BIN/echo-server" -p 5600
	echo "$LAST_PID" >"$TMP/f$n.pid"
	wait_for "$TMP/f$n.out" "^listening" 10 || bail "echo-server f$n did not start"
	clients "live$n" "$NS_LIVE" 2 "198.18.6$n.1" 5600
	clients "dead$n" "$NS_DEAD" 2 "2001:db8:7$n::1" 5600
}
conf() { # conf NAME NS: watch namespace NS only; probes enough to stay armed a minute
	printf '[global]\nnamespaces = /run/netns/%s\nscan_interval = 1s\nlog_level = debug\ndry_run = yes\n[policy p]\nlocal_port = 5600\nidle = 2s\ninterval = 1s\nprobes = 60\n' \
		"$2" >"$TMP/$1.conf"
}
# wait_opts N PATTERN COUNT: until COUNT server sockets of fN show PATTERN
wait_opts() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(opts "f$1" | grep -c -- "$2")" -ge "$3" ] && return 0
		sleep 0.2
	done
	return 1
}
foo 1
foo 2
foo 3
kill_peer "$NS_DEAD"
# the live peers keep silent, so every socket is probed: the live ones answer,
# are handed back, and are probed again a few seconds later; the dead ones stay
# armed (60 probes a minute)

# ---- 1: ip netns del while armed ----
conf f1 "$ID-f1"
conf other "$NS_LIVE" # a namespace with nothing on port 5600
daemon k1 "$TMP/f1.conf"
check "namespace 1: its dead peers are being probed" wait_count "$TMP/k1.log" "probing with 60" 2 30
check "at least the dead two armed (TCP_KEEPCNT 127)" wait_opts 1 'cnt=127' 2
ip netns del "$ID-f1" # the server keeps the namespace alive
check "kareaper hands them back, saying why" \
	wait_for "$TMP/k1.log" "its network namespace is not watched now" 20
wait_opts 1 "$OWNER" 4
is "$(opts f1 | grep -c "$OWNER")" 4 "no option of kareaper's left on a socket that lives"
is "$(grep -cE 'reset-by-peer-on-probe|ended while probing' "$TMP/k1.log")" 0 \
	"nothing said to have ended"
is "$(grep -c '^closed' "$TMP/f1.out")" 0 "no connection of namespace 1 ended"
is "$(ping_clients live1)" "answered 2 of 2" "its live peers answer"
stop "$KR"
ok $? "a clean stop"
check "nothing left in the journal" test ! -e "$TMP/run/probes"

# ---- 2: kill -9 while armed, the name deleted, then a restart ----
conf f2 "$ID-f2"
daemon k2 "$TMP/f2.conf"
check "namespace 2: its dead peers are being probed" wait_count "$TMP/k2.log" "probing with 60" 2 30
check "journaled" wait_for "$TMP/run/probes" '^# end [1-9]' 10
kill -KILL "$KR"
wait "$KR" 2>/dev/null
ip netns del "$ID-f2"
daemon k2b "$TMP/other.conf" # watches another namespace
check "the restart hands them back through the server's process" \
	wait_for "$TMP/k2b.log" "put back the keepalive options of [1-9][0-9]* probed sockets" 20
wait_opts 2 "$OWNER" 4
is "$(opts f2 | grep -c "$OWNER")" 4 "exactly the owner's options on all four"
stop "$KR"
check "nothing left in the journal" test ! -e "$TMP/run/probes"

# ---- 4: a namespace with no name and no process in it, only sockets ----
ns_add "$ID-f4"
link "$ID-f4" l0 198.18.64.1 2001:db8:64::1 "$NS_LIVE" l4 198.18.64.2 2001:db8:64::2
ip netns exec "$ID-f4" sysctl -qw net.ipv4.tcp_keepalive_time=7200 net.ipv4.tcp_keepalive_intvl=75 \
	net.ipv4.tcp_keepalive_probes=9
# a server that enters the namespace to listen, comes back to its own, and
# answers "opts" with its sockets' options as echo-server -k does
cat >"$TMP/outside.py" <<'PY'
import ctypes, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
own = os.open("/proc/self/ns/net", os.O_RDONLY)
there = os.open(sys.argv[1], os.O_RDONLY)
assert libc.setns(there, 0x40000000) == 0
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("198.18.64.1", 5600))
ls.listen(8)
assert libc.setns(own, 0x40000000) == 0
os.close(there)
print("listening", flush=True)
conns = [ls.accept()[0] for _ in range(2)]
print("accepted", flush=True)
def o(c, lvl, name):
    return struct.unpack("i", c.getsockopt(lvl, name, 4))[0]
for line in sys.stdin:
    for c in conns:
        print("opts keepalive=%d idle=%d intvl=%d cnt=%d ut=%d" % (
            o(c, socket.SOL_SOCKET, socket.SO_KEEPALIVE), o(c, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            o(c, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), o(c, socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            o(c, socket.IPPROTO_TCP, 18)), flush=True)
    print("end", flush=True)
PY
start outside "$NS_SRV" /usr/bin/python3 "$TMP/outside.py" "/run/netns/$ID-f4"
wait_for "$TMP/outside.out" '^listening' 10 || bail "the outside server did not start"
clients live4 "$NS_LIVE" 2 198.18.64.1 5600
wait_for "$TMP/outside.out" '^accepted' 10 || bail "the outside server accepted nothing"
outside_opts() { # the outside server's sockets' options, once
	local n
	n=$(grep -c '^end' "$TMP/outside.out")
	send outside opts
	wait_count "$TMP/outside.out" '^end' $((n + 1)) 10
	awk -v n="$n" '/^end/ { seen++; next } seen == n && /^opts/' "$TMP/outside.out"
}
printf '[global]\nnamespaces = /run/netns/%s\nscan_interval = 1s\nlog_level = debug\ndry_run = yes\n[policy p]\nlocal_port = 5600\nidle = 2s\ninterval = 30s\nprobes = 3\n' \
	"$ID-f4" >"$TMP/f4.conf"
daemon k4 "$TMP/f4.conf"
check "namespace 4: its two silent live peers are being probed" \
	wait_count "$TMP/k4.log" "probing with 3" 2 30
is "$(outside_opts | grep -c 'cnt=127')" 2 "armed"
ip netns del "$ID-f4"
is "$(ip netns pids "$ID-f4" 2>/dev/null | wc -l)" 0 "no name, no process: only its sockets hold it"
check "kareaper hands them back through the file it kept" \
	wait_for "$TMP/k4.log" "its network namespace is not watched now" 20
is "$(outside_opts | grep -c "$OWNER")" 2 "exactly the owner's options, on sockets that live on"
is "$(grep -cE 'ended while probing|reaped' "$TMP/k4.log")" 0 "nothing said to have ended"
stop "$KR"
ok $? "a clean stop"
check "nothing left in the journal" test ! -e "$TMP/run/probes"

# ---- 3: kill -9 while armed, then the namespace's last process exits ----
conf f3 "$ID-f3"
daemon k3 "$TMP/f3.conf"
check "namespace 3: its dead peers are being probed" wait_count "$TMP/k3.log" "probing with 60" 2 30
check "journaled" wait_for "$TMP/run/probes" '^# end [1-9]' 10
kill -KILL "$KR"
wait "$KR" 2>/dev/null
kill "$(cat "$TMP/f3.pid")"
wait "$(cat "$TMP/f3.pid")" 2>/dev/null
ip netns del "$ID-f3"
# the namespace goes once nothing holds it (its sockets close with the server)
for _ in $(seq 50); do
	ip netns list | grep -q "$ID-f3" || break
	sleep 0.1
done
daemon k3b "$TMP/other.conf"
for _ in $(seq 100); do [ ! -e "$TMP/run/probes" ] && break; sleep 0.2; done
check "the namespace gone, its entries leave the journal" test ! -e "$TMP/run/probes" ||
	{ diag "$TMP/k3b.log"; diag "$TMP/run/probes"; }
is "$(grep -c 'cannot put the owner' "$TMP/k3b.log")" 0 "with no error"
stop "$KR"
ok $? "a clean stop"
done_testing
