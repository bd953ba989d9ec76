#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `kareaper --once --dry-run` lists exactly the matching sockets of a real server,
# v4 and v6, with ports, state and owner; the kernel filter changes nothing; the CLI
# behaves (help, version, check-config, errors, missing CAP_NET_ADMIN).
. "$TESTS_SRC/lib.sh"

topo_setup
start_echo srv5000 5000
SRV5000=$SRV_PID
start_echo srv7000 7000
clients c4 "$NS_LIVE" 5 198.18.1.1 5000
clients c6 "$NS_LIVE" 5 2001:db8:1::1 5000
clients other "$NS_LIVE" 3 198.18.1.1 7000

cat >"$TMP/match.conf" <<CONF
[policy echo]
local_port = 5000
idle = 1h
CONF
kareaper_once match "$TMP/match.conf" --dry-run -v
ok $? "--once --dry-run exits 0"
diag "$TMP/match.table"
is "$(rows "$TMP/match.table" '')" 10 "exactly the 10 server ends on port 5000"
is "$(rows "$TMP/match.table" '^echo  *198\.18\.1\.1:5000  *198\.18\.1\.2:[0-9]* *established ')" 5 \
	"5 v4 rows (v4-mapped shown as v4) with local, peer and state"
is "$(rows "$TMP/match.table" '^echo  *\[2001:db8:1::1\]:5000  *\[2001:db8:1::2\]:[0-9]* *established ')" 5 \
	"5 v6 rows"
is "$(rows "$TMP/match.table" " $SRV5000/echo-server ")" 10 "owner pid/comm on every row"
is "$(rows "$TMP/match.table" ' active$')" 10 "all active (idle < 1h)"

# backend = auto, --once, few TCP sockets on the host: netlink, saying how many.
# (The count is the host's: tests running beside this one may push it over.)
tcp_sockets() { ip netns exec "$NS_SRV" awk '/^TCP:/ { print $7 + $9 }' /proc/net/sockstat; }
before=$(tcp_sockets)
kareaper_once few "$TMP/match.conf" --dry-run --backend auto
after=$(tcp_sockets)
n=$(sed -n 's/.*backend: netlink (auto: a one-shot run over \([0-9]*\) TCP sockets, fewer than 10000: .*/\1/p' "$TMP/few.log")
if [ "$before" -lt 10000 ] && [ "$after" -lt 10000 ]; then
	ok "$([ -n "$n" ] && [ "$n" -lt 10000 ]; echo $?)" \
		"auto, --once, $before and $after TCP sockets on the host: netlink, saying so (${n:-none})" ||
		diag "$TMP/few.log"
elif [ "$before" -ge 10000 ] && [ "$after" -ge 10000 ]; then
	check "auto, --once, $before and $after TCP sockets on the host: bpf" \
		grep -q "backend: bpf (auto: the kernel runs its programs" "$TMP/few.log"
else
	check "auto, --once, the host's count crossed 10000 meanwhile: one of the two, saying why" \
		grep -q "backend: \(bpf (auto: the kernel runs\|netlink (auto: a one-shot run over\)" "$TMP/few.log"
fi
is "$(rows "$TMP/few.table" established)" 10 "the same 10 sockets listed"
is "$(rows "$TMP/match.table" ':7000 ')" 0 "the other server's sockets are not listed"
check "the kernel filter was used" grep -q 'kernel filter: [0-9]* bytes' "$TMP/match.log"

# A hostile neighbour: a process whose name (the file it runs, here) holds
# terminal escapes and bytes that are not UTF-8. The table escapes them as ss
# and systemd do; the JSON stays valid UTF-8 for a strict decoder.
HOSTILE=$(printf '\033[2J\033[31mX\300\257')
cp "$TESTS_BIN/echo-server" "$TMP/$HOSTILE"
start hostile "$NS_SRV" "$TMP/$HOSTILE" -p 5001
wait_for "$TMP/hostile.out" '^listening' 10 || bail "the hostile echo server did not start"
clients ch "$NS_LIVE" 1 198.18.1.1 5001
printf '[policy h]\nlocal_port = 5001\nidle = 1h\n' >"$TMP/hostile.conf"
kareaper_once hostile "$TMP/hostile.conf" --dry-run
is "$(tr -d '\n' <"$TMP/hostile.table" | LC_ALL=C grep -c '[[:cntrl:]]')" 0 \
	"the table holds no control character but its newlines"
check "the name shown escaped: \\x1b[2J\\x1b[31mX\\xc0\\xaf" \
	grep -qF '/\x1b[2J\x1b[31mX\xc0\xaf ' "$TMP/hostile.table"
ip netns exec "$NS_SRV" "$KAREAPER" --once --dry-run --json -c "$TMP/hostile.conf" >"$TMP/hostile.json" 2>/dev/null
python3 - "$TMP/hostile.json" >"$TMP/hostile.check" 2>&1 <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
text = raw.decode("utf-8")  # strict: raises on any byte that is not UTF-8
rows = [json.loads(l) for l in text.splitlines()[:-1]]
assert [r["comm"] for r in rows] == ["\x1b[2J\x1b[31mX\ufffd\ufffd"], rows
print("ok")
PY
is "$(cat "$TMP/hostile.check")" ok "--json: valid UTF-8, the name with U+FFFD for each stray byte" ||
	diag "$TMP/hostile.check"
# --log-format=json: every line of stderr one object with the journal's fields;
# the client has sent nothing since it connected, over a second ago
sleep 1.1
printf '[policy h]\nlocal_port = 5001\nidle = 1s\naction = kill-idle\n' >"$TMP/hostile-log.conf"
ip netns exec "$NS_SRV" "$KAREAPER" --once --dry-run --quiet --log-format=json \
	-c "$TMP/hostile-log.conf" 2>"$TMP/hostile-log.json"
python3 - "$TMP/hostile-log.json" >"$TMP/hostile-log.check" 2>&1 <<'PY'
import json, sys
text = open(sys.argv[1], "rb").read().decode("utf-8")  # strict
events = [json.loads(l) for l in text.splitlines()]
assert events and all(e["SYSLOG_IDENTIFIER"] == "kareaper" and e["PRIORITY"].isdigit() and
                      e["MESSAGE"] and e["__REALTIME_TIMESTAMP"].isdigit() for e in events), events
would = [e for e in events if e.get("MESSAGE_ID") == "97577a4f337842c3a543a3619573787d"]
assert len(would) == 1, events
w = would[0]
assert w["KAREAPER_COMM"] == "\x1b[2J\x1b[31mX\ufffd\ufffd", w
assert w["KAREAPER_POLICY"] == "h" and w["KAREAPER_REASON"] == "idle", w
assert w["KAREAPER_LOCAL"].endswith(":5001") and w["KAREAPER_PEER"].startswith("198.18.1.2:"), w
assert "\x1b" not in w["MESSAGE"], w  # MESSAGE escaped, as in the journal
print("ok")
PY
is "$(cat "$TMP/hostile-log.check")" ok \
	"--log-format=json: one valid object a line, the journal's fields, the name exact" ||
	diag "$TMP/hostile-log.check"
kill "$LAST_PID"

# The same selection without a kernel filter: a second policy that selects no port
# (and matches nothing) turns the filter off. The rows must be identical.
cat >"$TMP/nofilter.conf" <<CONF
[policy echo]
local_port = 5000
idle = 1h
[policy nothing]
remote_addr = 192.0.2.99
CONF
kareaper_once nofilter "$TMP/nofilter.conf" --dry-run -v
check "no kernel filter this time" grep -q 'no kernel filter' "$TMP/nofilter.log"
grep -v '^#' "$TMP/match.table" | awk '{print $1,$2,$3,$4,$6,$7}' | sort >"$TMP/a"
grep -v '^#' "$TMP/nofilter.table" | awk '{print $1,$2,$3,$4,$6,$7}' | sort >"$TMP/b"
check "with and without the kernel filter: the same rows" cmp "$TMP/a" "$TMP/b"

cat >"$TMP/other.conf" <<CONF
[policy elsewhere]
local_port = 5999
CONF
kareaper_once other "$TMP/other.conf" --dry-run
ok $? "a policy on another port: exit 0"
is "$(rows "$TMP/other.table" '')" 0 "and no rows"

# Ranges and remote selectors: clients of 7000 seen from their own side too.
cat >"$TMP/client.conf" <<CONF
[policy clientside]
remote_port = 6999-7001
idle = 1h
CONF
ip netns exec "$NS_LIVE" "$KAREAPER" --once --dry-run -c "$TMP/client.conf" >"$TMP/client.table" 2>/dev/null
is "$(rows "$TMP/client.table" '198\.18\.1\.1:7000 *established .*/tcp-client ')" 3 \
	"client ends matched by remote port range, owned by tcp-client"

# ---- command line ----
"$KAREAPER" --help >"$TMP/help" 2>&1
ok $? "--help exits 0"
for opt in --config --once --dry-run --check-config --foreground --verbose --version --help; do
	check "--help documents $opt" grep -q -- "$opt" "$TMP/help"
done
check "--version prints the version" sh -c "'$KAREAPER' --version | grep -q '^kareaper [0-9]'"
"$KAREAPER" --bogus >/dev/null 2>&1
is $? 2 "an unknown option exits 2"

"$KAREAPER" --check-config -c "$TMP/match.conf" >"$TMP/effective" 2>&1
ok $? "--check-config on a good file exits 0"
check "effective config shows defaults from the sysctls" \
	grep -q "^probes = $(cat /proc/sys/net/ipv4/tcp_keepalive_probes)$" "$TMP/effective"
"$KAREAPER" --check-config -c "$TMP/effective" >/dev/null 2>&1
ok $? "the printed effective config is itself valid"
printf '[policy a]\nidle = 5m\nprobes = lots\n' >"$TMP/bad.conf"
"$KAREAPER" --check-config -c "$TMP/bad.conf" >"$TMP/bad.out" 2>&1
is $? 1 "--check-config on a bad file exits 1"
"$KAREAPER" --check-config --quiet -c "$TMP/match.conf" >"$TMP/quiet.out" 2>&1
is "$? $(wc -c <"$TMP/quiet.out")" "0 0" "--check-config --quiet on a good file: exit 0, silent"
check "and names FILE:LINE" grep -q "^$TMP/bad.conf:3: probes = lots: " "$TMP/bad.out"
ip netns exec "$NS_SRV" "$KAREAPER" --once -c "$TMP/bad.conf" >/dev/null 2>"$TMP/bad.start"
is $? 78 "the daemon refuses to start on a bad config (EX_CONFIG)"
check "with the same FILE:LINE message" grep -q "$TMP/bad.conf:3: probes" "$TMP/bad.start"
"$KAREAPER" --once -c /nonexistent.conf >/dev/null 2>"$TMP/missing"
is $? 78 "a missing config exits 78 (EX_CONFIG)"
check "saying it cannot open it" grep -q "/nonexistent.conf: cannot open" "$TMP/missing"

# Without the capability the backend needs: one clear error, exit 1. The BPF
# backend needs CAP_BPF (CAP_SYS_ADMIN would stand in for it), netlink's
# SOCK_DESTROY CAP_NET_ADMIN.
# Not through the $KAREAPER wrapper: its mount namespace needs CAP_SYS_ADMIN, so the
# probe journal goes elsewhere.
{ printf '[global]\nprobe_journal = %s\n' "$TMP/nocap.journal"; cat "$TMP/match.conf"; } >"$TMP/nocap.conf"
nocap() { # nocap CAPS KAREAPER-ARGS...: without those capabilities
	local drop=$1
	shift
	ip netns exec "$NS_SRV" setpriv --bounding-set="$drop" --inh-caps="$drop" \
		"$KAREAPER_BIN" ${KAREAPER_BACKEND:+--backend "$KAREAPER_BACKEND"} "$@"
}
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	drop=-bpf,-perfmon,-sys_admin need=CAP_BPF
else
	drop=-net_admin need=CAP_NET_ADMIN
fi
nocap "$drop" --once --dry-run -c "$TMP/nocap.conf" >/dev/null 2>"$TMP/nocap"
is $? 69 "without $need: exit 69 (cannot work here: no restart)"
diag "$TMP/nocap"
check "one clear error naming $need" grep -q "$need" "$TMP/nocap"
is "$(grep -c 'error' "$TMP/nocap")" 1 "exactly one error line"
# auto never falls back to a backend that cannot reap: without the BPF rights,
# netlink without the rights to find owners is no choice either.
ip netns exec "$NS_SRV" setpriv --bounding-set=-bpf,-perfmon,-sys_admin,-sys_ptrace,-dac_read_search \
	--inh-caps=-bpf,-perfmon,-sys_admin,-sys_ptrace,-dac_read_search \
	"$KAREAPER_BIN" --backend auto --once --dry-run -c "$TMP/nocap.conf" >/dev/null 2>"$TMP/noauto"
is $? 69 "auto, neither backend able to reap: exit 69"
diag "$TMP/noauto"
check "one line names the rights netlink lacks and the drop-in" \
	grep -q "no backend can work here.*cap_sys_ptrace cap_dac_read_search.*netlink drop-in" "$TMP/noauto"
is "$(grep -c 'error' "$TMP/noauto")" 1 "exactly one error line"
# What it keeps of its capabilities: what the backend needs on this kernel, said
# in the line that names the backend, and so in the daemon's effective set.
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	if grep -qw bpf_sock_destroy /proc/kallsyms; then
		kept="cap_bpf cap_perfmon" capeff=000000c000000000
	else
		kept="cap_bpf cap_perfmon cap_net_admin" capeff=000000c000001000
	fi
else
	kept="cap_net_admin cap_sys_ptrace cap_dac_read_search" capeff=0000000000081004
fi
"$KAREAPER" --once --quiet -c "$TMP/nocap.conf" 2>"$TMP/kept"
check "--once logs the backend and the capabilities kept: $kept" \
	grep -q "^kareaper\[info\]: backend: ${KAREAPER_BACKEND:-bpf} (.*); capabilities kept: $kept$" "$TMP/kept"
daemon kept "$TMP/nocap.conf"
wait_for "$TMP/kept.log" "started" 30
capeff_of() { sed -n 's/^CapEff:\t//p' "/proc/$1/status"; }
cap_of() { printf '%x\n' $((0x$(capeff_of "$1") & 0x000000c000081004)); }
is "$(cap_of "$KR")" "$(printf '%x' $((0x$capeff)))" "the daemon's effective set holds those and no other of the five"
# dropped for good: from the permitted set (else it could raise them again), and
# the inheritable and ambient sets (else a program it ran would have them)
for set in CapPrm CapInh CapAmb; do
	is "$(printf '%x' $((0x$(sed -n "s/^$set:\t//p" "/proc/$KR/status") & 0x000000c000081004 & ~0x$capeff)))" 0 \
		"$set: none of the five it dropped"
done
stop "$KR"
# Kernels before 6.5 have no bpf_sock_destroy: the BPF backend then destroys by
# cookie over netlink, which needs CAP_NET_ADMIN. KAREAPER_BPF_NO_SOCK_DESTROY=1
# takes that path here, and the self-test destroys a real socket through it.
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	nocap -net_admin --once --dry-run -c "$TMP/nocap.conf" >/dev/null 2>"$TMP/nokfunc"
	is $? 0 "with bpf_sock_destroy, the BPF backend needs no CAP_NET_ADMIN"
	KAREAPER_BPF_NO_SOCK_DESTROY=1 nocap -net_admin --once --dry-run -c "$TMP/nocap.conf" \
		>/dev/null 2>"$TMP/nokfunc"
	is $? 69 "without bpf_sock_destroy, nor CAP_NET_ADMIN: exit 69"
	diag "$TMP/nokfunc"
	check "the error names CAP_NET_ADMIN" grep -q "CAP_NET_ADMIN" "$TMP/nokfunc"
	KAREAPER_BPF_NO_SOCK_DESTROY=1 ip netns exec "$NS_SRV" "$KAREAPER_BIN" --backend bpf \
		--once --dry-run -c "$TMP/nocap.conf" >"$TMP/nokfunc.table" 2>"$TMP/nokfunc"
	is $? 0 "without bpf_sock_destroy, with CAP_NET_ADMIN: the self-test destroys over netlink"
	is "$(grep -c 'error' "$TMP/nokfunc")" 0 "no error"
	# libbpf's own lines, at debug level, carry one "libbpf: " prefix, not two
	"$KAREAPER" --once --quiet -v -c "$TMP/nocap.conf" 2>"$TMP/libbpf.log"
	ok $([ "$(grep -c 'libbpf: ' "$TMP/libbpf.log")" -gt 0 ] &&
		[ "$(grep -c 'libbpf: libbpf:' "$TMP/libbpf.log")" -eq 0 ]; echo $?) \
		"-v: libbpf's lines shown, each with one prefix"
	# the kernel's kfuncs decide which object is loaded; the variables tell
	KAREAPER_BPF_NO_SOCK_DESTROY=1 KAREAPER_BPF_NO_RDONLY_CAST=1 "$KAREAPER" --once --quiet \
		-c "$TMP/nocap.conf" 2>"$TMP/nokf.log"
	check "KAREAPER_BPF_NO_*: Linux 6.1's object, no kfunc, and CAP_NET_ADMIN kept" \
		grep -q "kfuncs it uses: none); capabilities kept: cap_bpf cap_perfmon cap_net_admin$" "$TMP/nokf.log"
	# The bench's floor under a BPF scan: the same walk, every socket turned away.
	KAREAPER_BPF_EMPTY_WALK=1 ip netns exec "$NS_SRV" "$KAREAPER" --once --dry-run \
		-c "$TMP/match.conf" >"$TMP/empty.table" 2>"$TMP/empty"
	is $? 0 "KAREAPER_BPF_EMPTY_WALK=1: runs"
	is "$(rows "$TMP/empty.table" '')" 0 "and lists none of the 10 sockets"
	check "saying so" grep -q "KAREAPER_BPF_EMPTY_WALK is set" "$TMP/empty"
fi

# A table of thousands: the owners of every row (the BPF backend then lists every
# socket's owner in one pass instead of asking for each).
ulimit -n 12000
start_echo many 7100
MANY=$SRV_PID
clients many "$NS_LIVE" 5000 198.18.1.1 7100
accepted() { # the server's ends past its accept queue (an inode: a descriptor)
	ip netns exec "$NS_SRV" ss -Hten state established "sport = :7100" 2>/dev/null | grep -c ' ino:[1-9]'
}
for _ in $(seq 300); do
	[ "$(accepted)" -ge 5000 ] && break
	sleep 0.1
done
printf '[policy many]\nlocal_port = 7100\nidle = 1h\n' >"$TMP/many.conf"
kareaper_once many "$TMP/many.conf" --dry-run
is "$(rows "$TMP/many.table" ':7100 ')" 5000 "a table of 5000 rows"
is "$(rows "$TMP/many.table" " $MANY/echo-server ")" 5000 "each with its owner"

# backend = auto takes BPF where it can run, and says why when it cannot; a
# one-shot run over fewer than 10000 TCP sockets on the host takes netlink.
ip netns exec "$NS_SRV" "$KAREAPER" --once --dry-run --backend auto -c "$TMP/match.conf" \
	>/dev/null 2>"$TMP/auto"
check "auto, --once beside this test's 10000 TCP sockets: the BPF backend" \
	grep -q "backend: bpf (auto: the kernel runs its programs" "$TMP/auto"
nocap -bpf,-perfmon,-sys_admin --once --dry-run --backend auto -c "$TMP/nocap.conf" \
	>"$TMP/auto.table" 2>"$TMP/auto"
is $? 0 "auto, without CAP_BPF: runs"
check "on netlink, saying why" grep -q "backend: netlink (auto: .*CAP_BPF" "$TMP/auto"
is "$(rows "$TMP/auto.table" established)" 10 "and lists the same 10 sockets"

done_testing
