#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real servers that run TCP keepalive of their own, PostgreSQL 15 (20 s / 5 s / 3)
# and Redis (--tcp-keepalive 15: 15 s / 5 s / 3), with real clients (psycopg2,
# RESP over a socket): issue 28, where kareaper killed 5 of 10 live PostgreSQL
# connections after a short outage. kareaper never arms a socket whose owner has
# SO_KEEPALIVE on: the owner's keepalive is the owner's business.
#
# 1. kareaper with a breaker (50 %, 12 probes) over 10 live clients of each server
#    (v4 and v6) and 2 dead ones of each. An outage of about 10 s on the live
#    side; then 5 connections of each server are used and 5 left idle, for 45 s
#    (longer than PostgreSQL's own schedule, 20 + 5 * 3 s). Every live connection
#    answers at the end, none is reaped, armed or handed back; the dead peers'
#    sockets are gone (the owners' keepalive or kareaper ended them); and, sampled
#    before, during and after the outage, every live peer's server socket runs
#    its owner's keepalive timer with exactly its owner's options (read from the
#    owner's own descriptor with pidfd_getfd).
# 2. The same in a dry run, a kareaper of its own, with 2 new dead clients of each
#    server: nothing reaped at all; the owners' keepalive ends the dead ones.
. "$TESTS_SRC/lib.sh"

PG_BIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3 # Debian's, which has python3-psycopg2 (not another python3 in PATH)
[ -x "$PY" ] || PY=python3
[ -x "$PG_BIN/postgres" ] || bail "PostgreSQL 15 is not installed (postgresql-15)"
command -v redis-server >/dev/null || bail "Redis is not installed (redis-server)"
"$PY" -c 'import psycopg2' 2>/dev/null || bail "$PY cannot import psycopg2 (python3-psycopg2)"
id postgres >/dev/null 2>&1 || bail "no user postgres (postgresql-15 makes it)"

PGPORT=5440
RPORT=6395
LIVE_PEER='198\.18\.1\.2:|\[2001:db8:1::2\]:' # as kareaper's log and ss write them (ERE)
DEAD_PEER='198\.18\.2\.2:|\[2001:db8:2::2\]:'
PG_OPTS='keepalive=1 idle=20 intvl=5 cnt=3 ut=0'
REDIS_OPTS='keepalive=1 idle=15 intvl=5 cnt=3 ut=0'

# ---- helpers ----
# clients.py KIND PORT N HOST...: N connections of a real client (KIND pg:
# psycopg2; redis: RESP over a socket), the i-th to HOST[i % number of hosts].
# Prints "connected N", then reads commands on stdin, as tcp-client does:
#   ping [K]  a round trip on each of the first K connections (all without K),
#             "SELECT 1" or PING; prints "answered A of K". The others stay idle.
#             A connection that failed once counts as not answering from then on.
#   quit      close every connection, print "closed", exit
cat >"$TMP/clients.py" <<'PY'
import socket, sys

kind, port, n, hosts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
if kind == "pg":
    import psycopg2

    def connect(host):
        c = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres",
                             connect_timeout=10, tcp_user_timeout=5000)
        c.autocommit = True
        return c

    def roundtrip(c):
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone() == (1,)
else:
    def connect(host):
        return socket.create_connection((host, port), timeout=10)

    def roundtrip(s):
        s.settimeout(5)
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        buf = b""
        while not buf.endswith(b"\r\n"):
            d = s.recv(64)
            if not d:
                return False
            buf += d
        return buf == b"+PONG\r\n"

conns = [connect(hosts[i % len(hosts)]) for i in range(n)]
print("connected %d" % n, flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    w = line.split()
    if w and w[0] == "ping":
        k = int(w[1]) if len(w) > 1 else n
        answered = 0
        for i in range(k):
            if conns[i] is None:
                continue
            try:
                ok = roundtrip(conns[i])
            except Exception as e:
                print("failed %d: %s" % (i, str(e).strip()), file=sys.stderr, flush=True)
                ok = False
            if ok:
                answered += 1
            else:
                conns[i] = None
        print("answered %d of %d" % (answered, k), flush=True)
    elif w and w[0] == "quit":
        for c in conns:
            if c is not None:
                c.close()
        print("closed", flush=True)
        break
PY

# sockopts.py PORT: one line per established socket on local PORT in this network
# namespace, "opts PEER timer=T OPTIONS": the timer as ss -o shows it (keepalive,
# on, none...), the keepalive options read from the owner's own descriptor
# (pidfd_getfd), "keepalive=K idle=I intvl=V cnt=C ut=U".
cat >"$TMP/sockopts.py" <<'PY'
import ctypes, os, re, socket, subprocess, sys

SYS_pidfd_getfd = 438  # the same number on every architecture
libc = ctypes.CDLL(None, use_errno=True)
out = subprocess.run(["ss", "-Htnoe", "state", "established", "( sport = :%s )" % sys.argv[1]],
                     capture_output=True, text=True, check=True).stdout
socks = {}
for line in out.splitlines():
    ino = re.search(r"\bino:(\d+)", line)
    timer = re.search(r"timer:\((\w+),", line)
    if ino:
        socks[ino.group(1)] = (line.split()[3], timer.group(1) if timer else "none")
owner = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fds = os.listdir("/proc/%s/fd" % pid)
    except OSError:
        continue
    for fd in fds:
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink("/proc/%s/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m and m.group(1) in socks:
            owner.setdefault(m.group(1), (int(pid), int(fd)))


def options(pid, fd):
    pidfd = os.pidfd_open(pid)
    try:
        dup = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if dup < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(pidfd)
    s = socket.socket(fileno=dup)  # our duplicate: closing it leaves the owner's open
    try:
        return "keepalive=%d idle=%d intvl=%d cnt=%d ut=%d" % (
            s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
    finally:
        s.close()


for ino, (peer, timer) in sorted(socks.items(), key=lambda kv: kv[1][0]):
    try:
        opts = options(*owner[ino]) if ino in owner else "no-owner-found"
    except OSError as e:
        opts = "unreadable(%s)" % e.strerror
    print("opts %s timer=%s %s" % (peer, timer, opts))
PY

# sample LABEL: every live peer's server socket, 10 of each server, runs its
# owner's keepalive timer with exactly its owner's options (kareaper's would
# show TCP_KEEPCNT 127, or the owner's raised while held, or its own timing)
sample() {
	local port name want out
	for port in $PGPORT $RPORT; do
		if [ "$port" = "$PGPORT" ]; then name=PostgreSQL want=$PG_OPTS; else name=Redis want=$REDIS_OPTS; fi
		out=$(ip netns exec "$NS_SRV" "$PY" "$TMP/sockopts.py" "$port" | grep -E -- "$LIVE_PEER")
		is "$(grep -c -- "timer=keepalive $want\$" <<<"$out")" 10 \
			"$1: the 10 live $name sockets run $name's keepalive, exactly ($want)" ||
			diag <<<"$out"
	done
}

# pyclients NAME NS KIND PORT N HOST...: N idle connections held by clients.py
pyclients() {
	local name=$1 ns=$2
	shift 2
	start "$name" "$ns" "$PY" "$TMP/clients.py" "$@"
	wait_for "$TMP/$name.out" '^connected' 20 || bail "clients $name did not connect: $(cat "$TMP/$name.err")"
}

# ask NAME [K]: "answered A of K" after a round trip on K of NAME's connections
ask() {
	local before
	before=$(grep -c '^answered' "$TMP/$1.out")
	send "$1" "ping${2:+ $2}"
	wait_count "$TMP/$1.out" '^answered' $((before + 1)) 90 || return 1
	grep '^answered' "$TMP/$1.out" | tail -n 1
}

# peers PORT PATTERN: the server's established sockets on PORT whose peer matches
peers() { ip netns exec "$NS_SRV" ss -Htn state established "sport = :$1" | grep -cE -- "$2"; }

# wait_gone PORT PATTERN SECONDS: until no socket of those peers is left on PORT
wait_gone() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		[ "$(peers "$1" "$2")" -eq 0 ] && return 0
		sleep 0.2
	done
	return 1
}

# end_clients NAME: the client closes its connections and exits (not by the end
# of its input: every process started later holds its FIFO open too)
end_clients() {
	send "$1" quit
	wait_for "$TMP/$1.out" '^closed' 10
}

# live_lines LOG PATTERN: kareaper's lines matching PATTERN that name a live peer
live_lines() { grep -- "$2" "$1" | grep -cE -- "$LIVE_PEER"; }

# kr_conf [GLOBAL LINE...]: the scenario's kareaper configuration
kr_conf() {
	printf '[global]\nscan_interval = 1s\nbreaker_share = 50%%\nbreaker_min_probes = 12\nlog_level = debug\n'
	printf '%s\n' "$@"
	printf '[policy pg]\nlocal_port = %s\nidle = 3s\ninterval = 1s\nprobes = 3\n' "$PGPORT"
	printf '[policy redis]\nlocal_port = %s\nidle = 3s\ninterval = 1s\nprobes = 3\n' "$RPORT"
}

# outage LABEL: the live side unreachable for about 10 s, sampled twice meanwhile
outage() {
	kill_peer "$NS_LIVE"
	sleep 4
	sample "$1, 4 s into the outage"
	sleep 4
	sample "$1, 8 s into the outage"
	sleep 1
	revive_peer "$NS_LIVE"
}

# ---- the servers ----
topo_setup
chmod 711 "$TMP" # postgres reaches its data directory and socket directory inside
mkdir "$TMP/pg" "$TMP/pgsock"
chown postgres: "$TMP/pg" "$TMP/pgsock"
# setpriv, not runuser: it execs, so the pid start records is the postmaster
# itself (runuser's parent would answer a signal with SIGKILL 2 s later)
as_postgres() { env -C "$TMP" setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_postgres "$PG_BIN/initdb" -D "$TMP/pg/data" -A trust -U postgres -N --no-instructions \
	-E UTF8 --locale=C >"$TMP/initdb.log" 2>&1 || bail "initdb failed: $(tail -n 5 "$TMP/initdb.log")"
printf 'host all all 198.18.0.0/16 trust\nhost all all 2001:db8::/32 trust\n' >>"$TMP/pg/data/pg_hba.conf"
start pg "$NS_SRV" env -C "$TMP" setpriv --reuid=postgres --regid=postgres --init-groups \
	"$PG_BIN/postgres" -D "$TMP/pg/data" -p "$PGPORT" -k "$TMP/pgsock" \
	-c listen_addresses=198.18.1.1,2001:db8:1::1,198.18.2.1,2001:db8:2::1 \
	-c tcp_keepalives_idle=20 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c fsync=off
# fast shutdown (SIGINT): a smart one (SIGTERM) would wait for the dead clients
at_exit "kill -INT $LAST_PID 2>/dev/null"
wait_for "$TMP/pg.err" 'ready to accept connections' 30 ||
	bail "PostgreSQL did not start: $(tail -n 5 "$TMP/pg.err")"
start redis "$NS_SRV" redis-server --port "$RPORT" \
	--bind 198.18.1.1 2001:db8:1::1 198.18.2.1 2001:db8:2::1 --tcp-keepalive 15 --timeout 0 \
	--save '' --appendonly no --daemonize no --protected-mode no --dir "$TMP" --loglevel notice
wait_for "$TMP/redis.out" '[Rr]eady to accept' 20 ||
	bail "redis-server did not start: $(cat "$TMP/redis.out" "$TMP/redis.err")"

# ---- 1: kareaper, an outage of the live side, 45 s of the owners' schedule ----
pyclients pglive "$NS_LIVE" pg "$PGPORT" 10 198.18.1.1 2001:db8:1::1
pyclients rlive "$NS_LIVE" redis "$RPORT" 10 2001:db8:1::1 198.18.1.1
pyclients pgdead "$NS_DEAD" pg "$PGPORT" 2 198.18.2.1 2001:db8:2::1
pyclients rdead "$NS_DEAD" redis "$RPORT" 2 2001:db8:2::1 198.18.2.1
kill_peer "$NS_DEAD"
is "$(established "$NS_SRV" "$PGPORT" .)" 12 "PostgreSQL holds 12 connections, 10 live and 2 dead"
is "$(established "$NS_SRV" "$RPORT" .)" 12 "Redis holds 12 connections, 10 live and 2 dead"
SECONDS=0

kr_conf >"$TMP/kr.conf"
daemon kr "$TMP/kr.conf"
check "kareaper started" wait_for "$TMP/kr.log" 'started' 20
# four rounds: every connection has been idle past idle = 3s in one
check "kareaper's first rounds" wait_count "$TMP/kr.log" 'scan: ' 4 30
sample "before the outage"
outage "kareaper"
is "$(ask pglive 5)" "answered 5 of 5" "after the outage, 5 PostgreSQL connections are used again"
is "$(ask rlive 5)" "answered 5 of 5" "and 5 Redis connections"
for t in 9 18 27 36 45; do # the owners' schedule: PostgreSQL's ends 35 s after silence
	sleep 9
	sample "${t} s after the outage"
done
is "$(ask pglive)" "answered 10 of 10" "every live PostgreSQL connection answers, the 5 left idle too"
is "$(ask rlive)" "answered 10 of 10" "every live Redis connection answers"
is "$(grep -w reaped "$TMP/kr.log" | grep -cE -- "$LIVE_PEER")" 0 "no live peer reaped" || {
	# the story of the first one reaped
	p=$(grep -w reaped "$TMP/kr.log" | grep -oE -- "-> ($LIVE_PEER)[0-9]+" | head -n 1)
	grep -F -- "$p " "$TMP/kr.log" | diag
}
is "$(live_lines "$TMP/kr.log" 'probing with')" 0 \
	"no live peer's socket armed: its owner has SO_KEEPALIVE on"
is "$(grep -c 'handed back' "$TMP/kr.log")" 0 "no socket handed back: none was taken"
check "the dead PostgreSQL peers' sockets are gone" wait_gone "$PGPORT" "$DEAD_PEER" 30
check "the dead Redis peers' sockets are gone" wait_gone "$RPORT" "$DEAD_PEER" 30
diag <<<"phase 1: $SECONDS s with kareaper; its lines naming dead peers:"
grep -E -- "$DEAD_PEER" "$TMP/kr.log" | diag
stop "$KR"
ok $? "kareaper stops cleanly"
ok "$(test ! -s "$TMP/run/probes"; echo $?)" "nothing left in the probe journal"
if [ "$T_FAIL" -gt 0 ]; then
	diag <<<"kareaper's rails:"
	grep -E 'circuit breaker|wait for a later round' "$TMP/kr.log" | diag
	diag <<<"PostgreSQL's log:"
	grep -v 'LOG:  \(checkpoint\|database system\|starting\|listening\)' "$TMP/pg.err" | tail -n 20 | diag
	diag <<<"clients' errors:"
	cat "$TMP/pglive.err" "$TMP/rlive.err" | diag
fi

# ---- 2: the same in a dry run, on connections of its own ----
end_clients pglive
end_clients rlive
check "the first live PostgreSQL clients are gone" wait_gone "$PGPORT" "$LIVE_PEER" 30
check "and the first live Redis clients" wait_gone "$RPORT" "$LIVE_PEER" 30
pyclients pglive2 "$NS_LIVE" pg "$PGPORT" 10 198.18.1.1 2001:db8:1::1
pyclients rlive2 "$NS_LIVE" redis "$RPORT" 10 2001:db8:1::1 198.18.1.1
revive_peer "$NS_DEAD"
pyclients pgdead2 "$NS_DEAD" pg "$PGPORT" 2 2001:db8:2::1 198.18.2.1
pyclients rdead2 "$NS_DEAD" redis "$RPORT" 2 198.18.2.1 2001:db8:2::1
kill_peer "$NS_DEAD"
SECONDS=0
kr_conf 'dry_run = yes' 'probe_journal = /run/kareaper/probes-dry' >"$TMP/dry.conf"
daemon dry "$TMP/dry.conf"
check "the dry run started" wait_for "$TMP/dry.log" 'started.*dry run' 20
check "its first rounds" wait_count "$TMP/dry.log" 'scan: ' 4 30
sample "dry run, before the outage"
outage "dry run"
is "$(ask pglive2 5)" "answered 5 of 5" "dry run: after the outage, 5 PostgreSQL connections are used again"
is "$(ask rlive2 5)" "answered 5 of 5" "dry run: and 5 Redis connections"
# the owners' keepalive ends the dead ones (35 s, 30 s after their last word)
check "dry run: the owners' keepalive ended the dead PostgreSQL peers' connections" wait_gone "$PGPORT" "$DEAD_PEER" 60
check "dry run: and the dead Redis peers'" wait_gone "$RPORT" "$DEAD_PEER" 30
sample "dry run, at the end"
is "$(grep -cw reaped "$TMP/dry.log")" 0 "the dry run reaped nothing"
is "$(live_lines "$TMP/dry.log" 'probing with')" 0 "the dry run armed no live peer's socket"
is "$(grep -c 'handed back' "$TMP/dry.log")" 0 "and handed none back"
is "$(ask pglive2)" "answered 10 of 10" "dry run: every live PostgreSQL connection answers, the 5 left idle too"
is "$(ask rlive2)" "answered 10 of 10" "dry run: every live Redis connection answers"
diag <<<"phase 2: $SECONDS s with the dry run; its lines naming dead peers:"
grep -E -- "$DEAD_PEER" "$TMP/dry.log" | diag
stop "$KR"
ok $? "the dry run stops cleanly"
ok "$(test ! -s "$TMP/run/probes-dry"; echo $?)" "nothing left in its probe journal"
done_testing
