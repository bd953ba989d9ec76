#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Kubernetes deployment, played by podman: the image `make image` builds,
# and the pod of deploy/kubernetes's DaemonSet with its ConfigMap as shipped
# (a drop-in of this test's policy beside it), beside two application pods
# whose echo servers run in network namespaces of their own, named under
# /run/netns as containerd names a pod's, and a container whose namespace is
# named nowhere (reached through its process alone: hostPID). Clients in other
# namespaces, half of them dead (nftables). kareaper, through the pod's hostPID
# and hostPath volumes, in a pod network namespace of its own:
#   1. the shipped dry run, killed (SIGKILL) mid-probe: nothing reaped;
#   2. the next pod puts back every journaled option before anything else:
#      no trace left, every owner's options exact;
#   3. dry_run = no: every dead peer in all three reaped, no live one; the JSON
#      log lines, /metrics and /healthz; a stop that leaves nothing armed.
# podman 4.3 plays Pods, not DaemonSets, and ignores subPath and hostPID:
# tests/kube-pod.py does those its own way, and says how.
# All of it in a container store of this test's own, in $TMP.
. "$TESTS_SRC/lib.sh"

DEPLOY=$TESTS_SRC/../deploy
PORT=6300
IMAGE=localhost/kareaper-test-$ID
APP_IMAGE=localhost/kareaper-test-app-$ID
POD=$ID-kareaper
CTR=$POD-kareaper
SRVNAME="krs$((RANDOM % 90000 + 10000))" # the servers' comm: names the unnamed namespace

# podman and buildah on a store of our own
. "$TESTS_SRC/podman-store.sh"
mkdir -p "$TMP/files" "$TMP/journal"
podman_store "$TMP"
for tool in podman buildah runc python3; do
	command -v "$tool" >/dev/null || bail "$tool is not installed (.ci/run installs it)"
done
python3 -c 'import yaml' 2>/dev/null || bail "python3-yaml is not installed (.ci/run installs it)"
at_exit podman_store_clear

# ---- the images ----
bash "$DEPLOY/image.sh" "$IMAGE" test "$KAREAPER_BIN" "$TESTS_SRC/.." >"$TMP/image.log" 2>&1
ok $? "make image's script builds the image" || diag "$TMP/image.log"
diag "$TMP/image.log"
podman run --rm "$IMAGE:test" --check-config >"$TMP/shipped.conf" 2>"$TMP/check.log"
ok $? "the image's own configuration is valid" || diag "$TMP/check.log"
check "and is the shipped dry run" grep -qx 'dry_run = yes' "$TMP/shipped.conf"
# the application image: the test's echo server, its libraries, nothing else
mkdir -p "$TMP/app"
install -m 0755 "$TESTS_BIN/echo-server" "$TMP/app/$SRVNAME"
for lib in $(ldd "$TESTS_BIN/echo-server" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
	install -D "$(readlink -f "$lib")" "$TMP/app$lib"
done
printf 'FROM scratch\nCOPY . /\nENTRYPOINT ["/%s"]\n' "$SRVNAME" >"$TMP/app/Containerfile"
buildah bud --quiet --layers=false -t "$APP_IMAGE" "$TMP/app" >"$TMP/app.log" 2>&1 ||
	bail "the application image: $(cat "$TMP/app.log")"

# ---- three applications: two pods as Kubernetes makes them, one container ----
# app N NS|- OWNER-ARGS: application N's echo server on PORT, linked to the live
# and dead clients' namespaces (198.18.1N.0/24 and 198.18.2N.0/24): in pod
# $ID-appN with namespace NS (under /run/netns), or with -, a container in a
# namespace that has no name (its process's pid in PID3)
ns_add "$NS_LIVE"
ns_add "$NS_DEAD"
app() {
	local n=$1 ns=$2 pid
	shift 2
	if [ "$ns" != - ]; then
		# the pod's namespace, then its name under /run/netns (containerd's cni-*)
		podman pod create --name "$ID-app$n" --network none >/dev/null &&
			podman pod start "$ID-app$n" >/dev/null &&
			pid=$(podman inspect "$(podman pod inspect "$ID-app$n" --format '{{.InfraContainerID}}')" \
				--format '{{.State.Pid}}') &&
			ip netns attach "$ns" "$pid" || bail "application pod $n"
		T_NS+=("$ns")
	else
		podman run -d --network none --name "$ID-srv$n" "$APP_IMAGE" -p "$PORT" "$@" >/dev/null &&
			PID3=$(podman inspect "$ID-srv$n" --format '{{.State.Pid}}') &&
			ip netns attach "$ID-tmp$n" "$PID3" || bail "application container $n"
		T_NS+=("$ID-tmp$n")
	fi
	ip -n "${ns/#-/$ID-tmp$n}" link set lo up
	link "${ns/#-/$ID-tmp$n}" l0 "198.18.1$n.1" "2001:db8:1$n::1" "$NS_LIVE" "l$n" "198.18.1$n.2" "2001:db8:1$n::2"
	link "${ns/#-/$ID-tmp$n}" d0 "198.18.2$n.1" "2001:db8:2$n::1" "$NS_DEAD" "d$n" "198.18.2$n.2" "2001:db8:2$n::2"
	if [ "$ns" != - ]; then
		podman run -d --pod "$ID-app$n" --name "$ID-srv$n" "$APP_IMAGE" -p "$PORT" "$@" >/dev/null ||
			bail "the echo server of application pod $n"
	else
		ip netns del "$ID-tmp$n" # the name goes; its process holds the namespace
	fi
	for _ in $(seq 100); do
		podman logs "$ID-srv$n" 2>/dev/null | grep -q '^listening' && return
		sleep 0.1
	done
	bail "echo server $n did not start: $(podman logs "$ID-srv$n" 2>&1)"
}
NS1="$ID-cni-1"
NS2="$ID-cni-2"
app 1 "$NS1"                 # an owner that sets nothing
app 2 "$NS2" -u 30000        # an owner with a user timeout of its own
app 3 -                      # an owner that sets nothing, in a namespace with no name
for n in 1 2 3; do
	clients "live$n" "$NS_LIVE" 2 "198.18.1$n.1" "$PORT"
	clients "dead$n" "$NS_DEAD" 2 "2001:db8:2$n::1" "$PORT"
done
kill_peer "$NS_DEAD"
OWNER1="keepalive=0 idle=[0-9]* intvl=[0-9]* cnt=[0-9]* ut=0"
OWNER2="keepalive=0 idle=[0-9]* intvl=[0-9]* cnt=[0-9]* ut=30000"
ARMED="keepalive=1 idle=[0-9]* intvl=[0-9]* cnt=127 ut=0"

# inapp N CMD...: run CMD in application N's network namespace
inapp() {
	case $1 in
	1) ip netns exec "$NS1" "${@:2}" ;;
	2) ip netns exec "$NS2" "${@:2}" ;;
	3) nsenter -t "$PID3" -n "${@:2}" ;;
	esac
}
# conns N [PATTERN]: established server ends in application N
conns() { inapp "$1" ss -Htn state established "sport = :$PORT" | grep -c -- "${2:-.}"; }
all_conns() { echo $(( $(conns 1) + $(conns 2) + $(conns 3) )); }
# timers [PATTERN]: server ends in any application with a keepalive timer running
timers() {
	for n in 1 2 3; do inapp "$n" ss -Htno state established "sport = :$PORT"; done |
		grep -- "${1:-.}" | grep -c 'timer:(keepalive'
}
# owner N PATTERN: application N's echo server's own view of its sockets ("opts" lines,
# on SIGUSR1) that match PATTERN
owner() {
	local before
	before=$(podman logs "$ID-srv$1" 2>/dev/null | grep -c '^end')
	podman kill --signal USR1 "$ID-srv$1" >/dev/null
	for _ in $(seq 100); do
		[ "$(podman logs "$ID-srv$1" 2>/dev/null | grep -c '^end')" -gt "$before" ] && break
		sleep 0.1
	done
	podman logs "$ID-srv$1" 2>/dev/null | awk -v n="$before" '/^end/ { seen++; next } seen == n && /^opts/' |
		grep -c -- "$2"
}
# play NAME DROPIN: the DaemonSet's pod, this test's policy as a drop-in
play() {
	podman pod rm -f -t 0 "$POD" >/dev/null 2>&1
	play_daemonset "$TESTS_SRC/.." "$POD" "$TMP/files" "$IMAGE:test" "$TMP/journal" "$2" "$TMP/$1"
	ok $? "podman kube play of the DaemonSet's pod ($1)" || diag "$TMP/$1.play"
	is "$(podman inspect "$CTR" --format '{{.HostConfig.PidMode}}')" host "in the host's PID namespace (hostPID)"
}
# log NAME: the pod's log so far, in $TMP/NAME.log (kept after the pod goes)
log() { podman logs "$CTR" >"$TMP/$1.log" 2>&1; }
# wait_log NAME PATTERN [N]: until the pod's log holds PATTERN N times (bounded)
wait_log() {
	for _ in $(seq 300); do
		log "$1"
		[ "$(grep -c -- "$2" "$TMP/$1.log")" -ge "${3:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}
policy() { # policy IDLE INTERVAL PROBES [GLOBAL LINES]: this test's drop-in
	printf '[global]\n%b%b\n[policy e2e]\nnetns = %s-cni-*, %s\nlocal_port = %s\nidle = %s\ninterval = %s\nprobes = %s\n' \
		"${KAREAPER_BACKEND:+backend = $KAREAPER_BACKEND\n}" "${4:-}" "$ID" "$SRVNAME" "$PORT" "$1" "$2" "$3"
}
sleep 2.5 # past idle = 2s

# ---- 1. the shipped dry run, killed mid-probe ----
policy 2s 5s 20 >"$TMP/dry.conf"
play dry "$TMP/dry.conf"
check "six dead peers being probed" wait_log dry '"MESSAGE_ID":"b06bf58fc39a4caf810efbe6affd96a3"' 6 || diag "$TMP/dry.log"
check "the probe journal, on the node's path, holds them" grep -q '^# end \([6-9]\|1[0-2]\)$' "$TMP/journal/probes"
check "logged as JSON lines: the backend it picked, with the capabilities it kept" \
	grep -q '"MESSAGE":"backend: .*capabilities kept: ' "$TMP/dry.log"
diag <(grep -o '"MESSAGE":"backend: [^"]*"' "$TMP/dry.log")
# what the process holds: the manifest's capabilities, less what kareaper
# dropped for this kernel and backend (CAP_SYS_ADMIN it keeps, for setns)
python3 - "$TMP/dry.log" "/proc/$(podman inspect "$CTR" --format '{{.State.Pid}}')/status" \
	>"$TMP/caps.check" 2>&1 <<'PY'
import json, re, sys
bits = {"cap_dac_read_search": 2, "cap_net_admin": 12, "cap_sys_ptrace": 19,
        "cap_sys_admin": 21, "cap_perfmon": 38, "cap_bpf": 39}
line = next(json.loads(l)["MESSAGE"] for l in open(sys.argv[1]) if '"MESSAGE":"backend: ' in l)
kept = re.search(r"capabilities kept: (.*)$", line).group(1).split()
status = dict(l.split(":\t", 1) for l in open(sys.argv[2]).read().splitlines() if ":\t" in l)
eff, bnd = int(status["CapEff"], 16), int(status["CapBnd"], 16)
want = sum(1 << bits[c] for c in kept + ["cap_sys_admin"])
assert eff == want, f"CapEff {eff:#x}, want {want:#x} ({kept} and cap_sys_admin)"
assert bnd & ~sum(1 << b for b in bits.values()) == 0, f"CapBnd {bnd:#x}: more than the manifest's"
print("ok")
PY
is "$(cat "$TMP/caps.check")" ok "its effective set: what it kept for this kernel, and CAP_SYS_ADMIN" ||
	diag "$TMP/caps.check"
podman pod kill "$POD" >/dev/null
podman wait "$CTR" >/dev/null 2>&1
is "$(podman inspect "$CTR" --format '{{.State.ExitCode}}')" 137 "the kareaper pod killed (SIGKILL) mid-probe"
is "$(all_conns)" 12 "nothing reaped in the dry run"
is "$(timers 2001:db8:2)" 6 "the dead peers' sockets still armed: the trace to undo"
is "$(( $(owner 1 "2001:db8:2.*$ARMED") + $(owner 2 "2001:db8:2.*$ARMED") + $(owner 3 "2001:db8:2.*$ARMED") ))" 6 \
	"with kareaper's options (TCP_KEEPCNT 127, no user timeout)"
check "the journal kept on the node" test -s "$TMP/journal/probes"

# ---- 2. the next pod: everything put back before anything else ----
policy 1h 10s 9 >"$TMP/calm.conf"
play restart "$TMP/calm.conf"
check "the next pod puts the journaled options back" \
	wait_log restart 'put back the keepalive options of \([6-9]\|1[0-2]\) probed sockets'
check "the journal emptied" sh -c "! grep -q '^[^#]' '$TMP/journal/probes' 2>/dev/null"
is "$(timers)" 0 "no keepalive timer left on any socket"
is "$(owner 1 "$OWNER1")" 4 "pod 1's owner: its options exactly (no keepalive)"
is "$(owner 2 "$OWNER2")" 4 "pod 2's owner: its own options exactly (a 30 s user timeout)"
is "$(owner 3 "$OWNER1")" 4 "the container's owner: its options exactly"
is "$(all_conns)" 12 "nothing reaped"
podman pod stop -t 30 "$POD" >/dev/null

# ---- 3. dry_run = no ----
# Scans every second: the dead are reaped only on a witness, a live peer's
# round trip seen completed after their probes began. The live peers answered
# the restored probes of part 2 moments ago, so the first scan may find them not
# yet idle and probe only the dead, which are then held until a later scan hears
# the live ones answer (at the default 30 s, past this test's wait).
policy 2s 1s 3 'dry_run = no\nscan_interval = 1s' >"$TMP/reap.conf"
play reap "$TMP/reap.conf"
check "six reaped" wait_log reap '"MESSAGE_ID":"dd869b3a1a1d4e009442063adba930f3"' 6
for n in 1 2 3; do
	is "$(conns "$n" 2001:db8:2)" 0 "application $n: no dead peer left"
	is "$(conns "$n" 198.18.1)" 2 "application $n: both live peers still connected"
	is "$(ping_clients "live$n")" "answered 2 of 2" "application $n: and they answer"
done
log reap
python3 - "$TMP/reap.log" "$ID" "$SRVNAME" >"$TMP/reap.check" 2>&1 <<'PY'
# every line one JSON object with the journal's fields; the six reaps name
# their application's namespace (the unnamed one by its process), the owner,
# the policy and the reason
import json, sys
events = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8").read().splitlines()]
assert all(e["SYSLOG_IDENTIFIER"] == "kareaper" and e["MESSAGE"] for e in events), events
reaped = [e for e in events if e.get("MESSAGE_ID") == "dd869b3a1a1d4e009442063adba930f3"]
assert len(reaped) == 6, reaped
names = {1: f"{sys.argv[2]}-cni-1", 2: f"{sys.argv[2]}-cni-2", 3: sys.argv[3]}
for n in (1, 2, 3):
    mine = [e for e in reaped if e["KAREAPER_NETNS"] == names[n]]
    assert len(mine) == 2, (n, reaped)
    assert all(e["KAREAPER_POLICY"] == "e2e" and e["KAREAPER_REASON"] == "probes-unanswered" and
               e["KAREAPER_COMM"] == sys.argv[3] and int(e["KAREAPER_PID"]) > 0 and
               e["KAREAPER_PEER"].startswith(f"[2001:db8:2{n}::2]:") for e in mine), mine
print("ok")
PY
is "$(cat "$TMP/reap.check")" ok "its log: JSON lines; each reap names its namespace and process" ||
	diag "$TMP/reap.check"

# metrics and health, from the pod's network namespace, as a scraper and the
# kubelet reach them
KPID=$(podman inspect "$CTR" --format '{{.State.Pid}}')
nsenter -t "$KPID" -n curl -sf "http://127.0.0.1:9101/metrics" >"$TMP/metrics" 2>"$TMP/curl.err"
ok $? "curl of :9101/metrics" || diag "$TMP/curl.err"
is "$(sed -n 's/^kareaper_reaped_total{policy="e2e",reason="probes-unanswered"} //p' "$TMP/metrics")" 6 \
	"it counts the six reaps"
check "a scan counted" awk '/^kareaper_scans_total / { exit !($2 >= 1) }' "$TMP/metrics"
is "$(nsenter -t "$KPID" -n curl -s -o "$TMP/healthz" -w '%{http_code}' "http://127.0.0.1:9101/healthz")" 200 \
	"the liveness probe's /healthz: 200"
is "$(cat "$TMP/healthz")" ok "answering ok"
check "the root file system is read-only" sh -c "podman inspect '$CTR' --format '{{.HostConfig.ReadonlyRootfs}}' | grep -qx true"

podman pod stop -t 30 "$POD" >/dev/null
is "$(podman inspect "$CTR" --format '{{.State.ExitCode}}')" 0 "SIGTERM: a clean stop"
is "$(timers)" 0 "nothing left armed"
is "$(owner 1 "$OWNER1")" 2 "pod 1's live sockets: their owner's options"
is "$(owner 2 "$OWNER2")" 2 "pod 2's live sockets: their owner's options"
is "$(owner 3 "$OWNER1")" 2 "the container's live sockets: their owner's options"
check "the journal empty" sh -c "! grep -q '^[^#]' '$TMP/journal/probes' 2>/dev/null"

done_testing
