#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kareaper's promises under faults: kill -9 mid-probe, SIGSTOP through a dry run (and
# a second kareaper meanwhile), an owner's TCP_USER_TIMEOUT, process= policies across
# scans, SIGHUP while probing, a connection closing while probed, the per-minute limit
# and max_probes_per_scan, a 4-tuple alive in another namespace, a journal on a full
# or read-only file system, a kill -9 between journaling and arming (BPF), a restore
# under sysctls shorter than the idle time, a corrupt journal. What counts is what the kernel does (ss -o timers, connections still
# there) and what the owner sees (its own getsockopt), not what kareaper says.
. "$TESTS_SRC/lib.sh"

topo_setup
SYS_IDLE=$(cat /proc/sys/net/ipv4/tcp_keepalive_time)
SYS_INTVL=$(cat /proc/sys/net/ipv4/tcp_keepalive_intvl)
SYS_CNT=$(cat /proc/sys/net/ipv4/tcp_keepalive_probes)
UNTOUCHED="keepalive=0 idle=$SYS_IDLE intvl=$SYS_INTVL cnt=$SYS_CNT ut=0"
ARMED="keepalive=1 idle=[0-9]* intvl=[0-9]* cnt=127 ut=0"

# conf PORT GLOBALS POLICY-LINES: a config with one policy for PORT
conf() {
	printf '[global]\n%b\n[policy p%s]\nlocal_port = %s\n%b\n' "$2" "$1" "$1" "$3"
}
# timers PORT KIND: established sockets on local PORT whose ss -o timer is KIND
timers() {
	ip netns exec "$NS_SRV" ss -Htno state established "sport = :$1" | grep -c "timer:($2"
}

echo_srv s6101 6101               # kill -9: live peers, the owner set nothing
echo_srv s6102 6102 -k 600,30,5   # kill -9: live peers, the owner's own keepalive
echo_srv s6103 6103               # SIGSTOP during a dry run
echo_srv s6104 6104 -u 3000       # the owner's TCP_USER_TIMEOUT
echo_srv s6105 6105               # process = across scans
echo_srv s6106 6106               # SIGHUP while probing
echo_srv s6107 6107 -H            # CLOSE_WAIT while probed
echo_srv s6108 6108               # max_reaps_per_minute
echo_srv s6110 6110               # journal on a full file system
echo_srv s6111 6111               # journal on a read-only file system
echo_srv s6112 6112 -W            # data in flight: no probe goes out
echo_srv s6113 6113               # SIGHUP under --once
echo_srv s6114 6114               # BPF: kill -9 between journaling and arming
echo_srv s6115 6115               # a restore under sysctls shorter than the idle time
clients c6101 "$NS_LIVE" 2 198.18.1.1 6101
clients c6115 "$NS_DEAD" 2 198.18.2.1 6115
clients c6102 "$NS_LIVE" 2 2001:db8:1::1 6102
clients c6103 "$NS_DEAD" 3 198.18.2.1 6103
clients c6104 "$NS_DEAD" 2 198.18.2.1 6104
clients c6105 "$NS_DEAD" 2 2001:db8:2::1 6105
clients c6106 "$NS_DEAD" 2 198.18.2.1 6106
clients c6107 "$NS_LIVE" 2 198.18.1.1 6107
clients c6108 "$NS_DEAD" 5 198.18.2.1 6108
clients c6110 "$NS_DEAD" 2 198.18.2.1 6110
clients c6111 "$NS_DEAD" 2 198.18.2.1 6111
clients c6113 "$NS_DEAD" 2 198.18.2.1 6113
clients c6114 "$NS_LIVE" 2 198.18.1.1 6114
NS_D2="$ID-d2" # its peers die later, on their own clock
ns_add "$NS_D2"
link "$NS_SRV" vd2 198.18.4.1 2001:db8:4::1 "$NS_D2" eth0 198.18.4.2 2001:db8:4::2
clients c6112 "$NS_D2" 2 198.18.4.1 6112
kill_peer "$NS_DEAD"
sleep 2.5 # every connection passes idle = 2s

# ---- kill -9 mid-probe, restart, stop: every socket as its owner left it ----
conf 6101-6102 'scan_interval = 60s' 'idle = 2s\ninterval = 5s\nprobes = 5' >"$TMP/k.conf"
daemon k1 "$TMP/k.conf"
check "the two live sockets whose owner set nothing armed" wait_count "$TMP/k1.log" 'probing with 5' 2 20
check "the two whose owner runs keepalive left to it" \
	wait_count "$TMP/k1.log" 'its owner runs keepalive' 2 20
is "$(opts s6101 | grep -c "$ARMED")" 2 "armed: TCP_KEEPCNT 127, no user timeout"
check "the journal holds both before kill -9" grep -q '^# end 2$' "$TMP/run/probes"
kill -KILL "$KR"
wait "$KR" 2>/dev/null
is "$(timers 6101 keepalive)" 2 "after kill -9 our keepalive timers run on (the trace to undo)"
# a damaged line among them costs that line only
sed -i '3i this line is no entry' "$TMP/run/probes"
daemon k2 "$TMP/k.conf"
check "the restart puts the journaled options back first" \
	wait_for "$TMP/k2.log" 'put back the keepalive options of 2 probed sockets' 20
check "a damaged line is reported with its FILE:LINE, the other entries put back" \
	grep -q "probe journal: lines that could not be read: 1, the first: .*/probes:3: not a valid entry" "$TMP/k2.log"
check "and the damaged file is kept" grep -q 'this line is no entry' "$TMP/run/probes.damaged"
check "before it probes anything" sh -c "grep -m1 'probing\|put back' '$TMP/k2.log' | grep -q 'put back'"
stop "$KR"
is $? 0 "then a clean stop"
is "$(opts s6101 | grep -c "$UNTOUCHED")" 2 "owner that set nothing: its options exactly as before"
is "$(opts s6102 | grep -c 'keepalive=1 idle=600 intvl=30 cnt=5 ut=0')" 2 \
	"owner with its own keepalive: its own values, never touched"
is "$(timers 6101 keepalive)" 0 "ss -o: no keepalive timer where the owner set none"
check "the journal is empty, and gone" test ! -e "$TMP/run/probes"
is "$(ping_clients c6101)" "answered 2 of 2" "the live peers still talk"

# ---- SIGSTOP for many intervals in a dry run: nothing killed ----
conf 6103 'scan_interval = 60s\ndry_run = yes' 'idle = 2s\ninterval = 1s\nprobes = 3' >"$TMP/s.conf"
daemon s "$TMP/s.conf"
check "three dead peers armed" wait_count "$TMP/s.log" 'probing with 3' 3 20
kill -STOP "$KR"
check "frozen: the kernel probes on, 12 intervals and more" wait_timer "$NS_SRV" 6103 keepalive 12
conf 6103 "probe_journal = $TMP/other-probes" 'idle = 2s\ninterval = 1s\nprobes = 3' >"$TMP/s2.conf"
kareaper_once s2 "$TMP/s2.conf" --dry-run
is $? 1 "a second kareaper with a journal of its own: refused in the frozen one's namespace"
check "saying why" grep -q 'another kareaper watches this network namespace' "$TMP/s2.log"
check "before it journaled anything" test ! -e "$TMP/other-probes"
is "$(established "$NS_SRV" 6103 .)" 3 "and ends none of them (before: at probes + 2)"
kill -CONT "$KR"
check "thawed: the verdicts come, as a dry run's" wait_count "$TMP/s.log" 'dry run: would reap' 3 20
is "$(established "$NS_SRV" 6103 .)" 3 "still none killed"
lock=$(ls "$TMP/run"/netns-*.lock 2>/dev/null | head -n 1)
is "$(stat -c '%a %U' "$lock" 2>/dev/null)" "600 root" \
	"its namespace's lock: a file of its own in its runtime directory, 0600"
stop "$KR"
is $? 0 "a clean stop" || diag "$TMP/s.log"
check "and which it removes on stop" test ! -e "$lock" || ls -l "$TMP/run" | diag

# ---- a local user cannot keep kareaper out: the namespace's own file, locked ----
# (one process, the lock on a descriptor of its own: the pid stopped at the end
# is the one that holds it, with nothing left behind)
start userlock "$NS_SRV" setpriv --reuid=65534 --regid=65534 --clear-groups \
	sh -c 'exec 9</proc/self/ns/net && flock -n 9 && echo locked && exec sleep 600'
check "an unprivileged process holds a lock on the namespace's file" \
	wait_for "$TMP/userlock.out" '^locked' 10
kareaper_once ul "$TMP/s2.conf" --dry-run
r=$?
ok $([ "$r" -eq 0 ] || [ "$r" -eq 3 ]; echo $?) "kareaper --once runs all the same (exit $r)"
is "$(grep -c 'another kareaper' "$TMP/ul.log")" 0 "and does not take it for another kareaper"
is "$(opts s6103 | grep -c "$UNTOUCHED")" 3 "options back as they were"
# a name planted where its lock goes is never followed (O_NOFOLLOW)
lockname="$TMP/run/netns-$(stat -L -c '%d-%i' "/run/netns/$NS_SRV").lock"
ln -s "$TMP/planted" "$lockname"
kareaper_once pl "$TMP/s2.conf" --dry-run
check "a symlink in place of its lock file: not followed" test ! -e "$TMP/planted"
check "and said" grep -q "cannot lock network namespace .*Too many levels of symbolic links" "$TMP/pl.log" ||
	diag "$TMP/pl.log"
rm -f "$lockname"

# ---- the owner's TCP_USER_TIMEOUT: saved, neutralised, restored ----
conf 6104 '' 'idle = 2s\ninterval = 1s\nprobes = 3' >"$TMP/u.conf"
kareaper_once u1 "$TMP/u.conf" --dry-run
is $? 3 "--once found dead connections (would reap): exit 3"
diag "$TMP/u1.table"
is "$(rows "$TMP/u1.table" 'would reap (probes-unanswered)')" 2 "dry run: would reap both"
is "$(established "$NS_SRV" 6104 .)" 2 "none killed, though a 3 s user timeout ran out with probes out"
is "$(opts s6104 | grep -c "keepalive=0 idle=$SYS_IDLE intvl=$SYS_INTVL cnt=$SYS_CNT ut=3000")" 2 \
	"the owner's user timeout is back"
kareaper_once u2 "$TMP/u.conf"
is "$(rows "$TMP/u2.table" 'reaped (probes-unanswered)')" 2 "a real run reaps them through the rails"
is "$(established "$NS_SRV" 6104 .)" 0 "gone"

# ---- process = in daemon mode, across several scans ----
conf 6105 'scan_interval = 1s\ndry_run = yes' 'process = echo-server\nidle = 2s\ninterval = 5s\nprobes = 5' \
	>"$TMP/p.conf"
daemon p "$TMP/p.conf" -v
check "two armed" wait_count "$TMP/p.log" 'probing with 5' 2 20
n=$(grep -c '^.*scan: ' "$TMP/p.log")
check "four more scans" wait_count "$TMP/p.log" 'scan: ' $((n + 4)) 20
is "$(grep -c 'probing with 5' "$TMP/p.log")" 2 "armed once, not again every scan"
is "$(opts s6105 | grep -c "$ARMED")" 2 "still armed"
stop "$KR"
is $? 0 "stopped"
is "$(opts s6105 | grep -c "$UNTOUCHED")" 2 "the owner's options restored on stop"

# ---- SIGHUP while probing: armed sockets restored by the reload ----
conf 6106 'scan_interval = 60s\ndry_run = yes' 'idle = 2s\ninterval = 5s\nprobes = 5' >"$TMP/h.conf"
daemon h "$TMP/h.conf"
check "two armed" wait_count "$TMP/h.log" 'probing with 5' 2 20
conf 6106 'scan_interval = 60s\ndry_run = yes' 'action = ignore' >"$TMP/h.conf"
kill -HUP "$KR"
check "reloaded" wait_for "$TMP/h.log" 'configuration reloaded' 10
is "$(opts s6106 | grep -c "$UNTOUCHED")" 2 "the reload put the owner's options back"
is "$(timers 6106 keepalive)" 0 "no keepalive timer left"
stop "$KR"

# ---- a probed connection moves to CLOSE_WAIT ----
conf 6107 'scan_interval = 60s' 'idle = 2s\ninterval = 2s\nprobes = 2' >"$TMP/c.conf"
daemon c "$TMP/c.conf"
check "two live sockets armed" wait_count "$TMP/c.log" 'probing with 2' 2 20
send c6107 close
check "the clients shut down: the server's ends in CLOSE_WAIT" wait_count "$TMP/s6107.out" '^eof' 2 10
check "at the deadline: no longer a candidate, handed back" \
	wait_count "$TMP/c.log" 'no longer a probed candidate (another state' 2 20
is "$(opts s6107 | grep -c "$UNTOUCHED")" 2 "still there, so its options are put back"
is "$(ip netns exec "$NS_SRV" ss -Htno state close-wait 'sport = :6107' | grep -c 'timer:(keepalive')" 0 \
	"no keepalive timer on the CLOSE_WAIT sockets"
stop "$KR"

# ---- max_reaps_per_minute ----
conf 6108 'scan_interval = 1s\nmax_reaps_per_minute = 2\nbreaker_share = 100%' \
	'idle = 2s\ninterval = 1s\nprobes = 2' >"$TMP/m.conf"
daemon m "$TMP/m.conf" -v
check "two reaped" wait_count "$TMP/m.log" 'reaped:' 2 30
check "the rest wait" wait_for "$TMP/m.log" 'wait for a later round' 20
n=$(grep -c 'scan: ' "$TMP/m.log")
check "three more scans" wait_count "$TMP/m.log" 'scan: ' $((n + 3)) 20
is "$(grep -c 'reaped:' "$TMP/m.log")" 2 "still two within the minute"
is "$(established "$NS_SRV" 6108 .)" 3 "three left for the next minute"
stop "$KR"

# ---- the same 4-tuple in two namespaces, namespaces = a path list ----
NS_A="$ID-a" NS_CA="$ID-ca" NS_B="$ID-b" NS_CB="$ID-cb" NS_WA="$ID-wa"
for ns in "$NS_A" "$NS_CA" "$NS_B" "$NS_CB" "$NS_WA"; do ns_add "$ns"; done
link "$NS_A" v 198.18.9.1 2001:db8:9::1 "$NS_CA" eth0 198.18.9.2 2001:db8:9::2
link "$NS_B" v 198.18.9.1 2001:db8:9::1 "$NS_CB" eth0 198.18.9.2 2001:db8:9::2
link "$NS_A" w 198.18.19.1 2001:db8:19::1 "$NS_WA" eth0 198.18.19.2 2001:db8:19::2
start sa "$NS_A" "$TESTS_BIN/echo-server" -p 6109
start sb "$NS_B" "$TESTS_BIN/echo-server" -p 6109
wait_for "$TMP/sa.out" '^listening' 10 && wait_for "$TMP/sb.out" '^listening' 10 || bail "servers"
start ca "$NS_CA" "$TESTS_BIN/tcp-client" -n 1 -s 40009 198.18.9.1 6109
start cb "$NS_CB" "$TESTS_BIN/tcp-client" -n 1 -s 40009 198.18.9.1 6109
wait_for "$TMP/ca.out" '^connected' 10 && wait_for "$TMP/cb.out" '^connected' 10 || bail "clients"
start wa "$NS_WA" "$TESTS_BIN/tcp-client" -t 200 198.18.19.1 6109 # A's witness: a peer that talks
kill_peer "$NS_CA"
sleep 2.5
conf 6109 "namespaces = /run/netns/$NS_A, /run/netns/$NS_B" 'idle = 2s\ninterval = 1s\nprobes = 2' \
	>"$TMP/t.conf"
"$KAREAPER" --once -c "$TMP/t.conf" >"$TMP/t.table" 2>"$TMP/t.log"
diag "$TMP/t.table"
is "$(grep -c "^$NS_A .*198.18.9.2:40009 .*reaped (probes-unanswered)" "$TMP/t.table")" 1 \
	"the dead one reaped in its namespace"
is "$(grep -c "^$NS_B .*198.18.9.2:40009 .*alive" "$TMP/t.table")" 1 \
	"its twin, same 4-tuple, alive in the other"
is "$(ip netns exec "$NS_B" ss -Htn state established 'sport = :6109' | grep -c ':40009')" 1 \
	"and still established"
is "$(ping_clients cb)" "answered 1 of 1" "and still talking"

# ---- the journal cannot be written: nothing is armed, and it says so ----
mkdir "$TMP/full"
mount -t tmpfs -o size=16k tmpfs "$TMP/full" || bail "tmpfs"
at_exit "umount -l '$TMP/full' 2>/dev/null"
dd if=/dev/zero of="$TMP/full/fill" bs=4k 2>/dev/null
conf 6110 "scan_interval = 1s\nprobe_journal = $TMP/full/probes\nmetrics_file = $TMP/m6110.prom" \
	'idle = 2s\ninterval = 1s\nprobes = 2' >"$TMP/f.conf"
start notify "$NS_SRV" python3 "$TESTS_SRC/notify-listener.py" "$TMP/notify.sock" "$TMP/notify.msgs"
wait_for "$TMP/notify.msgs" '^bound' 10 || bail "notify listener did not start"
NOTIFY_SOCKET="$TMP/notify.sock" daemon f "$TMP/f.conf"
check "full file system: the error is logged" \
	wait_for "$TMP/f.log" 'cannot write the probe journal .*No space left on device; probing none of 2' 20
check "in the metrics" wait_for "$TMP/m6110.prom" '^kareaper_errors_total{kind="journal"} [1-9]' 10
check "in STATUS" wait_for "$TMP/notify.msgs" '^STATUS=.*errors, last: cannot write .*No space left on device' 10
is "$(grep -c 'probing with' "$TMP/f.log")" 0 "nothing armed"
is "$(opts s6110 | grep -c "$UNTOUCHED")" 2 "the owner's options untouched"
rm -f "$TMP/full/fill"
check "room again: probed" wait_count "$TMP/f.log" 'probing with 2' 2 20
check "and reaped" wait_count "$TMP/f.log" 'reaped:' 2 20
stop "$KR"
conf 6111 "scan_interval = 1s\nprobe_journal = $TMP/full/probes" 'idle = 2s\ninterval = 1s\nprobes = 2' \
	>"$TMP/r.conf"
mount -o remount,ro "$TMP/full"
daemon r "$TMP/r.conf"
check "read-only file system: the error is logged" \
	wait_for "$TMP/r.log" 'cannot write the probe journal .*Read-only file system; probing none' 20
is "$(grep -c 'probing with' "$TMP/r.log")" 0 "nothing armed"
is "$(opts s6111 | grep -c "$UNTOUCHED")" 2 "the owner's options untouched"
is "$(established "$NS_SRV" 6111 .)" 2 "nothing killed"
stop "$KR"
mount -o remount,rw "$TMP/full"

# ---- no probe went out by the deadline (data in flight): options put back ----
kill_peer "$NS_D2"
sleep 2.5
conf 6112 'scan_interval = 60s' 'idle = 2s\ninterval = 1s\nprobes = 9' >"$TMP/i.conf"
daemon i "$TMP/i.conf" -v
check "two armed" wait_count "$TMP/i.log" 'probing with 9' 2 20
check "inconclusive at the deadline: the kernel retransmits instead of probing" \
	wait_count "$TMP/i.log" 'no probe went out by the deadline' 2 30
is "$(opts s6112 | grep -c "$UNTOUCHED")" 2 "options put back at once, not left for a later round"
stop "$KR"

# ---- SIGHUP ends a --once run like SIGTERM ----
conf 6113 '' 'idle = 2s\ninterval = 5s\nprobes = 5' >"$TMP/o.conf"
ip netns exec "$NS_SRV" "$KAREAPER" --once -c "$TMP/o.conf" >"$TMP/o.table" 2>"$TMP/o.log" &
KR=$!
T_PIDS+=("$KR")
check "two armed" wait_count "$TMP/o.log" 'probing with 5' 2 20
kill -HUP "$KR"
wait "$KR"
is $? 0 "SIGHUP under --once: exit 0"
check "as a stop" grep -q 'stopping on signal Hangup' "$TMP/o.log"
is "$(opts s6113 | grep -c "$UNTOUCHED")" 2 "options put back"
is "$(established "$NS_SRV" 6113 .)" 2 "nothing killed"

# ---- output for people and for scripts ----
conf 6101-6102 '' 'idle = 1h' >"$TMP/out.conf"
kareaper_once out "$TMP/out.conf"
is $? 0 "--once, nothing found dead: exit 0"
diag "$TMP/out.table"
is "$(awk '!/^#/ { print index($0, $NF == "active" ? "active" : "VERDICT") }' "$TMP/out.table" | sort -u | wc -l)" 1 \
	"the verdict column lines up, IPv6 peers included"
check "an IPv6 peer in full" grep -q '\[2001:db8:1::2\]:[0-9]' "$TMP/out.table"
kareaper_once json "$TMP/out.conf" --json
is $? 0 "--json: exit 0"
python3 - "$TMP/json.table" >"$TMP/json.check" 2>&1 <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [json.loads(l) for l in lines[:-1]]
summary = json.loads(lines[-1])["summary"]
assert len(rows) == 4 == summary["matched"], (len(rows), summary)
for r in rows:
    assert isinstance(r["local_port"], int) and isinstance(r["peer_port"], int)
    assert isinstance(r["idle_ms"], int) and isinstance(r["pid"], int)
    assert r["comm"] == "echo-server" and r["verdict"] == "active" and r["reason"] is None
    assert r["family"] in ("inet", "inet6") and r["state"] == "established"
assert sorted(r["peer_addr"] for r in rows) == ["198.18.1.2"] * 2 + ["2001:db8:1::2"] * 2, rows
print("ok")
PY
is "$(cat "$TMP/json.check")" ok "one JSON object per socket, typed fields, then the summary"
ip netns exec "$NS_SRV" "$KAREAPER" --json -c "$TMP/out.conf" >/dev/null 2>&1
is $? 2 "--json without --once: a usage error"

# ---- BPF: kill -9 after journaling, before the listing that was to arm ----
# The daemon arms on the next scan's walk; a socket journaled but never armed
# keeps its options as they were, "never set" included: it follows the sysctl.
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	conf 6114 'scan_interval = 5s' 'idle = 5s\ninterval = 1s\nprobes = 2' >"$TMP/q.conf"
	daemon q1 "$TMP/q.conf" -v
	check "two suspects journaled" wait_for "$TMP/run/probes" '^# end 2$' 10
	kill -KILL "$KR"
	wait "$KR" 2>/dev/null
	is "$(grep -c 'probing with' "$TMP/q1.log")" 0 "killed before the walk that was to arm them"
	daemon q2 "$TMP/q.conf"
	check "the restart puts the journal back" \
		wait_for "$TMP/q2.log" 'put back the keepalive options of 2 probed sockets' 20
	stop "$KR"
	is $? 0 "then a clean stop"
	check "the journal is empty, and gone" test ! -e "$TMP/run/probes"
	is "$(opts s6114 | grep -c "$UNTOUCHED")" 2 "the owner's options as they were"
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_keepalive_time=$((SYS_IDLE + 11))
	is "$(opts s6114 | grep -c "keepalive=0 idle=$((SYS_IDLE + 11)) ")" 2 \
		"and still never set: TCP_KEEPIDLE follows the sysctl"
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_keepalive_time="$SYS_IDLE"
fi

# ---- max_probes_per_scan: probes armed together leave together; the rest wait ----
conf 6103 'max_probes_per_scan = 2' 'idle = 2s\ninterval = 1s\nprobes = 2' >"$TMP/mp.conf"
kareaper_once mp "$TMP/mp.conf" --dry-run
is $? 3 "--once, max_probes_per_scan = 2: dead found, exit 3"
diag "$TMP/mp.table"
is "$(rows "$TMP/mp.table" 'would reap (probes-unanswered)')" 2 "two of the three dead probed"
is "$(rows "$TMP/mp.table" ' suspect$')" 1 "the third left a suspect, never armed"
check "the log says why" \
	grep -q '1 idle connections wait for a later round (max_probes_per_scan = 2)' "$TMP/mp.log"
is "$(opts s6103 | grep -c "$UNTOUCHED")" 3 "all three as their owner had them"

# ---- a restore never lets the kernel end what a dry run spared ----
# The owner never set its keepalive times: they follow the namespace's sysctls,
# here shorter than the socket's idle time and fewer than the probes that went
# unanswered. Set while probes still run, TCP_KEEPIDLE would fire the timer at
# once with the kernel's count past TCP_KEEPCNT: switched off first, it cannot.
ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_keepalive_time=3 net.ipv4.tcp_keepalive_probes=2
conf 6115 '' 'idle = 2s\ninterval = 1s\nprobes = 3' >"$TMP/rs.conf"
kareaper_once rs "$TMP/rs.conf" --dry-run
is $? 3 "--dry-run, sysctls of 3 s and 2 probes: the dead found"
is "$(rows "$TMP/rs.table" 'would reap (probes-unanswered)')" 2 "both would be reaped"
is "$(established "$NS_SRV" 6115 198.18.2.2)" 2 "both still there after the restore"
is "$(opts s6115 | grep -c "keepalive=0 idle=3 intvl=$SYS_INTVL cnt=2 ut=0")" 2 \
	"with the owner's options (the sysctls')"
ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_keepalive_time="$SYS_IDLE" \
	net.ipv4.tcp_keepalive_probes="$SYS_CNT"

# ---- a corrupt journal is reported and ignored ----
printf 'not a journal\n' >"$TMP/run/probes"
kareaper_once j "$TMP/u.conf"
is $? 0 "a corrupt journal does not stop kareaper"
check "it is reported" grep -q 'probe journal ignored: .*not a kareaper probe journal' "$TMP/j.log"
check "and replaced" test ! -e "$TMP/run/probes"

done_testing
