# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the end-to-end tests: TAP output, throwaway network namespaces that are
# removed on every exit path, processes we started (and only those) stopped.
#
# Topology of topo_setup: a server namespace with one veth pair to each client
# namespace ("live" and "dead"), v4 and v6, in benchmarking/documentation ranges:
#   srv 198.18.1.1 2001:db8:1::1  <->  live 198.18.1.2 2001:db8:1::2
#   srv 198.18.2.1 2001:db8:2::1  <->  dead 198.18.2.2 2001:db8:2::2
# A peer "dies" by an nftables rule in its namespace that drops everything in and
# out, so no FIN or RST ever reaches the server: what a powered-off host looks like.

set -u

: "${KAREAPER:?KAREAPER must point at the built daemon}"
: "${TESTS_BIN:?TESTS_BIN must point at the built test helpers}"

T_N=0
T_FAIL=0
T_PIDS=()
T_NS=()
T_AT_EXIT=()
ID="kr$$x$RANDOM"
TMP=$(mktemp -d "/tmp/kareaper-e2e.XXXXXX")
NS_SRV="$ID-srv"
NS_LIVE="$ID-live"
NS_DEAD="$ID-dead"

# Every test its own /run/kareaper (the default probe journal and its lock, which
# one kareaper at a time holds): kareaper runs in a mount namespace of its own (a
# slave: namespaces that tests add still show in /run/netns) with
# $TMP/run bound there, so what a killed run journaled is there for the next.
# KAREAPER_BACKEND (bpf, netlink) runs every test against that backend.
KAREAPER_BIN=$KAREAPER
mkdir -p "$TMP/run"
cat >"$TMP/kareaper" <<WRAP
#!/bin/sh
exec unshare -m --propagation slave sh -c 'mkdir -p /run/kareaper && mount --bind "\$0" /run/kareaper && exec "\$@"' "$TMP/run" "$KAREAPER_BIN" ${KAREAPER_BACKEND:+--backend $KAREAPER_BACKEND} "\$@"
WRAP
chmod +x "$TMP/kareaper"
KAREAPER=$TMP/kareaper

cleanup() {
	local p ns
	for p in "${T_AT_EXIT[@]}"; do
		eval "$p"
	done
	for p in "${T_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${T_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	for ns in "${T_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${KAREAPER_KEEP_TMP:-}" ] && cp -a "$TMP" "$KAREAPER_KEEP_TMP" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

at_exit() { T_AT_EXIT+=("$*"); } # run on every exit path, before the rest of cleanup

ok() { # ok STATUS DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T_N - $2"
	else
		echo "not ok $T_N - $2"
		T_FAIL=$((T_FAIL + 1))
		return 1
	fi
}

check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
	local d=$1
	shift
	"$@" >/dev/null 2>&1
	ok $? "$d"
}

is() { # is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got '$1', want '$2'"
		return 1
	fi
}

diag() { sed 's/^/# /' "$@"; }

done_testing() {
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

bail() {
	echo "Bail out! $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || bail "the end-to-end tests need root (network namespaces, CAP_NET_ADMIN)"
ip netns add "$ID-probe" 2>/dev/null || { echo "1..0 # SKIP this kernel cannot create network namespaces"; exit 77; }
ip netns del "$ID-probe"

ns_add() {
	ip netns add "$1" || bail "ip netns add $1"
	T_NS+=("$1")
	ip -n "$1" link set lo up
}

# link NS_A IF_A ADDR4_A ADDR6_A NS_B IF_B ADDR4_B ADDR6_B
link() {
	ip link add "$2" netns "$1" type veth peer name "$6" netns "$5" || bail "veth $2/$6"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" addr add "$4/64" dev "$2" nodad
	ip -n "$5" addr add "$7/24" dev "$6"
	ip -n "$5" addr add "$8/64" dev "$6" nodad
	ip -n "$1" link set "$2" up
	ip -n "$5" link set "$6" up
}

topo_setup() {
	ns_add "$NS_SRV"
	ns_add "$NS_LIVE"
	ns_add "$NS_DEAD"
	link "$NS_SRV" vl 198.18.1.1 2001:db8:1::1 "$NS_LIVE" eth0 198.18.1.2 2001:db8:1::2
	link "$NS_SRV" vd 198.18.2.1 2001:db8:2::1 "$NS_DEAD" eth0 198.18.2.2 2001:db8:2::2
	witness_start
}

# A live peer that talks: every 200 ms, from the live namespace to an echo server
# on port 4999 (no policy's). On a real server some client always is; kareaper
# calls a silent peer dead only once another was heard from after its probes
# began (the witness, kareaper(8)), so a test of reaping needs one, and a test
# of an outage cuts it too.
witness_start() {
	start witness_srv "$NS_SRV" "$TESTS_BIN/echo-server" -p 4999
	wait_for "$TMP/witness_srv.out" "^listening" 10 || bail "the witness's server did not start"
	start witness "$NS_LIVE" "$TESTS_BIN/tcp-client" -t 200 198.18.1.1 4999
	wait_for "$TMP/witness.out" "^connected" 10 || bail "the witness did not connect"
}

# The peer's host is gone: nothing in, nothing out, no RST.
kill_peer() {
	ip netns exec "$1" nft -f - <<-'NFT' || bail "nft in $1"
	table inet kareaper_test {
		chain in { type filter hook input priority 0; policy drop; }
		chain out { type filter hook output priority 0; policy drop; }
	}
	NFT
}

revive_peer() {
	ip netns exec "$1" nft delete table inet kareaper_test
}

# start NAME NS CMD...: run in NS in the background, stdout to $TMP/NAME.out, stdin
# from a FIFO kept open on a descriptor (for tcp-client's commands); sets LAST_PID.
start() {
	local name=$1 ns=$2
	shift 2
	mkfifo "$TMP/$name.in"
	ip netns exec "$ns" "$@" <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	LAST_PID=$!
	T_PIDS+=("$LAST_PID")
	eval "exec {fd_$name}>\"$TMP/$name.in\""
}

send() { # send NAME LINE: a command to a started tcp-client
	local fd="fd_$1"
	echo "$2" >&"${!fd}"
}

# Time bounds (wait_for, wait_count, wait_held, wait_timer) are how long a
# correct run may take on the machine make check runs on, not timing
# assertions. A slower machine (a guest under TCG) stretches them by
# KAREAPER_TIME_FACTOR, which tests/kernels.sh measures with calibrate: the
# guest's time for the same work over the host's.
TIME_FACTOR=${KAREAPER_TIME_FACTOR:-1}

# calibrate: the milliseconds a fixed piece of work takes here (processes
# started, files read, a shell loop: what a test's waits are made of), the
# median of three
calibrate() {
	local t0 i k
	for k in 1 2 3; do
		t0=$(date +%s%N)
		for ((i = 0; i < 40; i++)); do ip -V >/dev/null; done
		for ((i = 0; i < 20000; i++)); do :; done
		for ((i = 0; i < 40; i++)); do grep -c . /proc/self/status >/dev/null; done
		echo $((($(date +%s%N) - t0) / 1000000))
	done | sort -n | sed -n 2p
}

# wait_for FILE PATTERN [SECONDS]: until grep finds PATTERN (bounded; not a timing
# assertion, just how long a correct run may take on a slow machine).
wait_for() { wait_count "$1" "$2" 1 "${3:-30}"; }

# held_by_breaker FILE: how many dead verdicts kareaper's log FILE says the
# breaker held (one line a round, with their number): for want of a witness,
# or (the other line) too many at once
held_by_breaker() {
	grep -oE 'circuit breaker: [0-9]+ (connections look dead, but no probe|of [0-9]+ connections)' \
		"$1" 2>/dev/null | awk '{ n += $3 } END { print n + 0 }'
}

# wait_held FILE N [SECONDS]: until FILE says N or more verdicts were so held
wait_held() {
	local i
	for ((i = 0; i < ${3:-30} * 10 * TIME_FACTOR; i++)); do
		[ "$(held_by_breaker "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_count FILE PATTERN N [SECONDS]: until PATTERN appears at least N times
wait_count() {
	local file=$1 pat=$2 n=$3 limit=$((${4:-30} * TIME_FACTOR)) i=0 c
	while c=$(grep -c -- "$pat" "$file" 2>/dev/null); [ "${c:-0}" -lt "$n" ]; do
		i=$((i + 1))
		[ "$i" -gt $((limit * 10)) ] && return 1
		sleep 0.1
	done
	return 0
}

# established NS LOCALPORT PEERPATTERN: count of ESTABLISHED sockets on the server
established() {
	ip netns exec "$1" ss -Htn state established "sport = :$2" | grep -c -- "$3"
}

# echo-server in the server namespace; sets SRV_PID
start_echo() { # start_echo NAME PORT [ARGS...]
	local name=$1 port=$2
	shift 2
	start "$name" "$NS_SRV" "$TESTS_BIN/echo-server" -p "$port" "$@"
	SRV_PID=$LAST_PID
	wait_for "$TMP/$name.out" "^listening" 10 || bail "echo-server $name did not start"
}

# clients NAME NS COUNT HOST PORT: COUNT idle connections held by tcp-client
clients() {
	start "$1" "$2" "$TESTS_BIN/tcp-client" -n "$3" "$4" "$5"
	wait_for "$TMP/$1.out" "^connected" 10 || bail "clients $1 did not connect: $(cat "$TMP/$1.err")"
}

# ping_clients NAME: "answered A of N" after sending PING on every connection
ping_clients() {
	local before
	before=$(grep -c '^answered' "$TMP/$1.out")
	send "$1" ping
	wait_count "$TMP/$1.out" '^answered' $((before + 1)) 30 || return 1
	grep '^answered' "$TMP/$1.out" | tail -n 1
}

# opts NAME: the echo server NAME's own view of its sockets' options (its pid in
# $TMP/NAME.pid), one "opts PEER keepalive=K idle=I intvl=V cnt=C ut=U" line each
opts() {
	local n
	n=$(grep -c '^end' "$TMP/$1.out")
	kill -USR1 "$(cat "$TMP/$1.pid")"
	wait_count "$TMP/$1.out" '^end' $((n + 1)) 10
	awk -v n="$n" '/^end/ { seen++; next } seen == n && /^opts/' "$TMP/$1.out"
}
echo_srv() { # echo_srv NAME PORT [ARGS]: start an echo server, remember its pid
	start_echo "$@"
	echo "$SRV_PID" >"$TMP/$1.pid"
}

# daemon NAME CONFIG [ARGS]: kareaper in the server namespace, its log in
# $TMP/NAME.log; sets KR
daemon() {
	ip netns exec "$NS_SRV" "$KAREAPER" -c "$2" "${@:3}" 2>"$TMP/$1.log" &
	KR=$!
	T_PIDS+=("$KR")
}
stop() { # stop PID: SIGTERM, and its exit status
	kill -TERM "$1"
	wait "$1"
}

# kareaper_once NAME CONFIG [ARGS...]: run --once in the server namespace
kareaper_once() {
	local name=$1 conf=$2
	shift 2
	ip netns exec "$NS_SRV" "$KAREAPER" --once -c "$conf" "$@" >"$TMP/$name.table" 2>"$TMP/$name.log"
}

# rows TABLE PATTERN: table rows (not header or summary) matching PATTERN
rows() {
	grep -v '^POLICY\|^#' "$1" | grep -c -- "$2"
}

# wait_timer NS PORT TIMER N: until every established socket on local PORT shows the
# kernel timer TIMER ("keepalive", or "on" for retransmission) with N or more
# probes or retransmissions out, as ss -o reports them.
wait_timer() {
	local ns=$1 port=$2 timer=$3 n=$4 i=0 out total got
	while :; do
		out=$(ip netns exec "$ns" ss -Htno state established "sport = :$port")
		total=$(printf '%s\n' "$out" | grep -c .)
		got=$(printf '%s\n' "$out" | grep -oE "timer:\\($timer,[^,]*,[0-9]+\\)" |
			sed -E 's/.*,([0-9]+)\)/\1/' | awk -v n="$n" '$1 >= n' | wc -l)
		[ "$total" -gt 0 ] && [ "$got" -eq "$total" ] && return 0
		i=$((i + 1))
		[ "$i" -gt $((600 * TIME_FACTOR)) ] && return 1
		sleep 0.1
	done
}

# Run against another backend than auto's pick: prove it is the one running, first.
if [ -n "${KAREAPER_BACKEND:-}" ]; then
	printf '[policy none]\nlocal_port = 1\n' >"$TMP/backend.conf"
	"$KAREAPER" --once --quiet -c "$TMP/backend.conf" 2>"$TMP/backend.log"
	grep -q "backend: $KAREAPER_BACKEND " "$TMP/backend.log"
	ok $? "kareaper runs the $KAREAPER_BACKEND backend" || sed 's/^/# /' "$TMP/backend.log"
fi
# The BPF backend converts jiffies with the HZ it reads from the coarse clock's
# tick: the kernel's own CONFIG_HZ where its configuration is readable.
if [ "${KAREAPER_BACKEND:-}" = bpf ]; then
	hz=$("$KAREAPER" --once --quiet -v -c "$TMP/backend.conf" 2>&1 |
		sed -n "s/.*the kernel's HZ is \([0-9]*\) .*/\1/p")
	config_hz=$({ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } |
		sed -n 's/^CONFIG_HZ=//p')
	case ${config_hz:-none} in
	none) case $hz in 100 | 250 | 300 | 1000) ok 0 "HZ $hz, a value Linux has" ;;
		*) ok 1 "HZ '$hz', a value Linux has" ;; esac ;;
	*) is "$hz" "$config_hz" "the BPF backend's HZ is the kernel's CONFIG_HZ" ;;
	esac
fi
