#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Container hosts: servers in namespaces of their own, two named in /run/netns and
# one reachable only through its processes. `namespaces = all` reaps the dead peers
# in all of them and no live one; `self` touches none; `netns =` selects; new and
# vanished namespaces while the daemon runs, and a second kareaper that leaves
# them to it; the metrics file.
#
# Other tests may run at the same time with namespaces of their own, which `all`
# sees too: every policy here selects this test's namespaces by name.
. "$TESTS_SRC/lib.sh"

ns_add "$NS_LIVE"
ns_add "$NS_DEAD"
NS_A="$ID-a1"
NS_B="$ID-b1"
CNAME="krc$((RANDOM % 1000))x$((RANDOM % 10000))" # comm of the unnamed namespace's holder

# srv_ns N NS: echo server on 5000 in NS, linked to live (198.18.1N.x) and dead (198.18.2N.x)
srv_links() {
	local n=$1 ns=$2
	link "$ns" l0 "198.18.1$n.1" "2001:db8:1$n::1" "$NS_LIVE" "l$n" "198.18.1$n.2" "2001:db8:1$n::2"
	link "$ns" d0 "198.18.2$n.1" "2001:db8:2$n::1" "$NS_DEAD" "d$n" "198.18.2$n.2" "2001:db8:2$n::2"
}
ns_add "$NS_A"
srv_links 1 "$NS_A"
start srvA "$NS_A" "$TESTS_BIN/echo-server" -p 5000
ns_add "$NS_B"
srv_links 2 "$NS_B"
start srvB "$NS_B" "$TESTS_BIN/echo-server" -p 5000
SRV_B=$LAST_PID

# C: a namespace no one named, held by a process; reached as /proc/PID/ns/net.
cp "$(command -v sleep)" "$TMP/$CNAME"
unshare --net "$TMP/$CNAME" 1d &
HOLDER=$!
T_PIDS+=("$HOLDER")
for _ in $(seq 50); do
	[ "$(readlink "/proc/$HOLDER/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.1
done
ip netns attach "$ID-c-tmp" "$HOLDER" || bail "ip netns attach"
ip -n "$ID-c-tmp" link set lo up
srv_links 3 "$ID-c-tmp"
mkfifo "$TMP/srvC.in"
ip netns exec "$ID-c-tmp" "$TESTS_BIN/echo-server" -p 5000 <"$TMP/srvC.in" >"$TMP/srvC.out" 2>&1 &
T_PIDS+=($!)
exec {fd_srvC}>"$TMP/srvC.in"
for n in A B C; do
	wait_for "$TMP/srv$n.out" '^listening' 10 || bail "echo server $n did not start: $(cat "$TMP/srv$n.out")"
done
ip netns del "$ID-c-tmp" # the name goes; the namespace stays, held by its processes

for n in 1 2 3; do
	clients "live$n" "$NS_LIVE" 2 "198.18.1$n.1" 5000
	clients "dead$n" "$NS_DEAD" 2 "2001:db8:2$n::1" 5000
done
kill_peer "$NS_DEAD"
sleep 2.5 # past idle = 2s

# srv_count N PATTERN: established server ends in namespace N (1 A, 2 B, 3 C)
srv_count() {
	case $1 in
	1) ip netns exec "$NS_A" ss -Htn state established "sport = :5000" ;;
	2) ip netns exec "$NS_B" ss -Htn state established "sport = :5000" ;;
	3) nsenter -t "$HOLDER" -n ss -Htn state established "sport = :5000" ;;
	esac | grep -c -- "$2"
}
policy() { # policy NAMESPACES NETNS-GLOBS [GLOBAL LINES]
	printf '[global]\nnamespaces = %s\n%s\n[policy echo]\nlocal_port = 5000\n%s\nidle = 2s\ninterval = 1s\nprobes = 2\n' \
		"$1" "${3:-}" "${2:+netns = $2}"
}

# ---- self: none of them ----
policy self "" >"$TMP/self.conf"
"$KAREAPER" --once -c "$TMP/self.conf" >"$TMP/self.table" 2>"$TMP/self.log"
is $? 0 "namespaces = self: exit 0" || diag "$TMP/self.log" "$TMP/self.table"
is "$(rows "$TMP/self.table" '')" 0 "no socket of the other namespaces listed"
is "$(( $(srv_count 1 .) + $(srv_count 2 .) + $(srv_count 3 .) ))" 12 "all 12 connections still there"

# ---- netns = a*: only A ----
policy all "$ID-a*" >"$TMP/a.conf"
"$KAREAPER" --once -c "$TMP/a.conf" >"$TMP/a.table" 2>"$TMP/a.log"
is $? 3 "netns = $ID-a*: exit 3 (dead peers found)"
diag "$TMP/a.table"
is "$(rows "$TMP/a.table" "^$NS_A .* reaped (probes-unanswered)")" 2 "A's two dead peers reaped"
is "$(rows "$TMP/a.table" "^$NS_A .* alive (answered-probe)")" 2 "A's two live peers alive"
is "$(rows "$TMP/a.table" "^$NS_B \|^$CNAME ")" 0 "nothing listed from B or C"
is "$(srv_count 1 '198.18.2\|2001:db8:21')" 0 "no dead peer left in A"
is "$(srv_count 2 '2001:db8:22')" 2 "B's dead peers untouched"
is "$(srv_count 3 '2001:db8:23')" 2 "C's dead peers untouched"
check "journal text names the namespace" grep -q "reaped: .* netns=$NS_A " "$TMP/a.log"

# ---- what any local user can do: 5000 namespaces, each in a user namespace ----
# Made by nobody, each with a connected socket, all named ns-flood (the policies
# below select them by name too), beside kareaper with systemd's default limit
# of 1024 descriptors: it passes them over, and they cost it nothing it needs.
FLOOD=5000
mkfifo "$TMP/flood.in"
"$TESTS_BIN/ns-flood" -u 65534 "$FLOOD" \
	<"$TMP/flood.in" >"$TMP/flood.out" 2>&1 &
T_PIDS+=($!)
exec {fd_flood}>"$TMP/flood.in"
check "nobody made $FLOOD network namespaces, a connected socket in each" \
	wait_for "$TMP/flood.out" "^ready $FLOOD" 300 || diag "$TMP/flood.out"
unwatched() { # unwatched FILE REASON: kareaper_namespaces_unwatched{reason=REASON}
	sed -n "s/^kareaper_namespaces_unwatched{reason=\"$2\"} //p" "$1"
}
# user_namespaces = yes: ours first, then theirs as far as the descriptors go
policy all "$ID-*, $CNAME, ns-flood" "user_namespaces = yes
metrics_file = $TMP/users.prom" >"$TMP/users.conf"
(ulimit -n 1024 && exec "$KAREAPER" --once --dry-run -c "$TMP/users.conf") \
	>"$TMP/users.table" 2>"$TMP/users.log"
is $? 3 "user_namespaces = yes, 1024 descriptors: exit 3 (dead peers found)" || diag "$TMP/users.log"
is "$(rows "$TMP/users.table" "^\($ID-\|$CNAME \).* would reap (probes-unanswered)")" 4 \
	"every dead peer left in our namespaces (B's, C's) found: ours come first"
check "the namespaces left out for want of descriptors: said" \
	grep -q "network namespaces not watched: too few file descriptors (limit 1024" "$TMP/users.log"
ok "$([ "$(unwatched "$TMP/users.prom" descriptors)" -gt 0 ]; echo $?)" \
	"and counted ($(unwatched "$TMP/users.prom" descriptors))"
watched=$(sed -n 's/^kareaper_namespaces //p' "$TMP/users.prom")
ok "$([ "$watched" -gt 50 ]; echo $?)" "as many as fit in half the descriptors watched ($watched)"
# a daemon that watches theirs, then a reload that turns user_namespaces off:
# theirs are closed, ours stay
policy all "$ID-*, $CNAME, ns-flood" "user_namespaces = yes
dry_run = yes
scan_interval = 500ms
probe_journal = /run/kareaper/reload-probes
metrics_file = $TMP/reload.prom" >"$TMP/reload.conf"
(ulimit -n 1024 && exec "$KAREAPER" -c "$TMP/reload.conf") 2>"$TMP/reload.log" &
KRR=$!
T_PIDS+=("$KRR")
gauge() { sed -n "s/^kareaper_namespaces //p" "$TMP/reload.prom" 2>/dev/null; }
wait_gauge() { # wait_gauge TEST: until the namespaces gauge passes TEST (e.g. -gt 100)
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(gauge)" ] && [ "$(gauge)" "$@" ] && return 0
		sleep 0.1
	done
	return 1
}
check "a daemon with user_namespaces = yes: theirs watched as far as the descriptors go" \
	wait_gauge -gt 50
g=$(gauge)
ns_add "$ID-late"
check "a namespace of ours made once theirs filled their half: watched too ($g before)" \
	wait_gauge -gt "$g"
sed -i '/^user_namespaces = yes$/d' "$TMP/reload.conf"
kill -HUP "$KRR"
check "reloaded without it" wait_for "$TMP/reload.log" "reloaded" 20
check "then theirs closed, ours watched" wait_gauge -lt 10
ok "$([ "$(unwatched "$TMP/reload.prom" user-namespace)" -ge "$FLOOD" ]; echo $?)" \
	"and counted as passed over ($(unwatched "$TMP/reload.prom" user-namespace))"
stop "$KRR"
is $? 0 "a clean stop"
# the default: passed over
policy all "$ID-*, $CNAME, ns-flood" "metrics_file = $TMP/kareaper.prom" >"$TMP/all.conf"

# ---- all: every dead one, no live one ----
sleep 2.5 # the live peers the dry run probed answered: idle again, and probed (witnesses)
(ulimit -n 1024 && exec "$KAREAPER" --once -c "$TMP/all.conf") >"$TMP/all.table" 2>"$TMP/all.log"
is $? 3 "namespaces = all: exit 3 (dead peers found)"
check "other users' namespaces passed over, said once" \
	grep -q "not watching [0-9]* network namespaces that other user namespaces own" "$TMP/all.log"
ok "$([ "$(unwatched "$TMP/kareaper.prom" user-namespace)" -ge "$FLOOD" ]; echo $?)" \
	"and counted ($(unwatched "$TMP/kareaper.prom" user-namespace))"
is "$(unwatched "$TMP/kareaper.prom" descriptors)" 0 "no namespace of ours short of descriptors"
is "$(grep -c 'ns-flood' "$TMP/all.table" "$TMP/all.log" | awk -F: '{ s += $2 } END { print s }')" 0 \
	"nothing of theirs listed or logged"
diag "$TMP/all.table"
is "$(rows "$TMP/all.table" "^$NS_B .* reaped (probes-unanswered)")" 2 "B's dead peers reaped"
is "$(rows "$TMP/all.table" "^$CNAME .* reaped (probes-unanswered)")" 2 \
	"C's dead peers reaped (a namespace known only through its processes)"
ALIVE=$(rows "$TMP/all.table" 'alive (answered-probe)')
is "$((ALIVE + $(rows "$TMP/all.table" ' active$')))" 6 \
	"all six live peers alive (or active: A's answered the last round's probes)"
is "$(( $(srv_count 1 '2001:db8:2') + $(srv_count 2 '2001:db8:2') + $(srv_count 3 '2001:db8:2') ))" 0 \
	"no dead peer left anywhere"
is "$(( $(srv_count 1 '198.18.1') + $(srv_count 2 '198.18.1') + $(srv_count 3 '198.18.1') ))" 6 \
	"every live peer still connected"
for n in 1 2 3; do
	is "$(ping_clients "live$n")" "answered 2 of 2" "live clients of server $n answer"
done

# ---- the metrics file ----
check "metrics file written" test -s "$TMP/kareaper.prom"
check "no temporary file left" test ! -e "$TMP/kareaper.prom.tmp"
python3 - "$TMP/kareaper.prom" >"$TMP/prom.check" 2>&1 <<'PY'
# A small Prometheus text-format checker: HELP and TYPE before samples, known
# types, well-formed names, labels and values.
import re, sys
name_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (-?[0-9.]+([eE][-+]?[0-9]+)?)$')
helped, typed, values = set(), {}, {}
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip('\n')
    if line.startswith('# HELP '):
        helped.add(line.split()[2])
    elif line.startswith('# TYPE '):
        _, _, name, kind = line.split()
        assert name_re.match(name) and kind in ('counter', 'gauge'), f'line {n}: {line}'
        typed[name] = kind
    else:
        m = sample_re.match(line)
        assert m, f'line {n}: not a sample: {line}'
        assert m.group(1) in typed and m.group(1) in helped, f'line {n}: no HELP/TYPE for {m.group(1)}'
        values[m.group(1) + (m.group(2) or '')] = float(m.group(5))
for k, v in sorted(values.items()):
    print(f'{k} {v:g}')
PY
ok $? "it parses as Prometheus text format"
diag "$TMP/prom.check"
is "$(sed -n 's/^kareaper_reaped_total{policy="echo",reason="probes-unanswered"} //p' "$TMP/prom.check")" 4 \
	"reaped counter matches the 4 reaps of this round"
is "$(sed -n 's/^kareaper_alive_total //p' "$TMP/prom.check")" "$ALIVE" "alive counter matches the table"
check "the namespaces gauge counts ours" \
	awk '/^kareaper_namespaces / { exit !($2 >= 4) }' "$TMP/prom.check"

# ---- the daemon: a namespace created, one deleted, while it runs ----
# The new one takes the inode number of one the daemon passed over a moment
# before (no policy selects it): the kernel gives a new namespace the lowest
# number free. Nobody's 5000 stay, so that no other is freed meanwhile.
NS_U="u$ID" # not $ID-*
ns_add "$NS_U"
policy all "$ID-*" "scan_interval = 3s" >"$TMP/d.conf"
"$KAREAPER" -v -c "$TMP/d.conf" 2>"$TMP/d.log" &
KR=$!
T_PIDS+=("$KR")
check "the daemon is up" wait_for "$TMP/d.log" 'started' 10
wait_for "$TMP/d.log" 'scan: ' 10 # U passed over; the next discovery in 3 s
NS_D="$ID-d1"
ino_u=$(stat -L -c %i "/run/netns/$NS_U")
ip netns del "$NS_U"
holders=()
for ((i = 0; i < 100; i++)); do # made until one has U's number; kept until then
	unshare --net sleep 1d &
	holders+=($!)
	T_PIDS+=($!)
	while ino_d=$(stat -L -c %i "/proc/$!/ns/net" 2>/dev/null) &&
		[ "$ino_d" = "$(stat -L -c %i /proc/self/ns/net)" ]; do sleep 0.01; done
	[ "$ino_d" = "$ino_u" ] && break
	sleep 0.02 # U freed a moment after its name
done
is "$ino_d" "$ino_u" "a namespace made anew has the inode number of one passed over"
ip netns attach "$NS_D" "${holders[-1]}" || bail "ip netns attach $NS_D"
T_NS+=("$NS_D")
kill "${holders[@]::${#holders[@]}-1}" 2>/dev/null
ip -n "$NS_D" link set lo up
srv_links 4 "$NS_D"
revive_peer "$NS_DEAD"
start srvD "$NS_D" "$TESTS_BIN/echo-server" -p 5000
wait_for "$TMP/srvD.out" '^listening' 10 || bail "echo server D did not start"
clients dead4 "$NS_DEAD" 2 198.18.24.1 5000
start witnessD "$NS_LIVE" "$TESTS_BIN/tcp-client" -t 200 198.18.14.1 5000 # heard from
kill_peer "$NS_DEAD"
check "a namespace made while the daemon runs is picked up and its dead reaped" \
	wait_count "$TMP/d.log" "reaped: .* netns=$NS_D " 2 30
# one kareaper per namespace: another, with a journal of its own, passes them over
policy all "$ID-*" "probe_journal = $TMP/other-probes" >"$TMP/o.conf"
"$KAREAPER" --once -c "$TMP/o.conf" >"$TMP/o.table" 2>"$TMP/o.log"
is $? 0 "a second kareaper, namespaces = all, while the daemon runs: exit 0"
diag "$TMP/o.log"
is "$(rows "$TMP/o.table" "^$ID-")" 0 "it lists nothing from the namespaces the daemon watches"
check "and says it leaves them to the daemon" \
	grep -q "network namespace $NS_A (.*) is watched by another kareaper" "$TMP/o.log"
check "it journaled nothing" test ! -e "$TMP/other-probes"
kill "$SRV_B"
wait "$SRV_B" 2>/dev/null
ip netns del "$NS_B"
check "a namespace deleted while it runs: a debug line" \
	wait_for "$TMP/d.log" "network namespace $NS_B is no longer watched" 10
check "and the daemon still runs" kill -0 "$KR"
is "$(grep -c 'kareaper\[\(error\|warning\|crit\)\]' "$TMP/d.log")" 0 "with no error or warning" ||
	diag <(grep 'kareaper\[\(error\|warning\|crit\)\]' "$TMP/d.log")
kill -TERM "$KR"
wait "$KR"
is $? 0 "stops cleanly"
exec {fd_flood}>&- # and nobody's go

done_testing
