#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon in the foreground: periodic scans, sd_notify READY/STATUS/RELOADING/
# STOPPING/WATCHDOG, SIGHUP with a good then a bad config (kept running on the old
# one), SIGTERM exits 0.
. "$TESTS_SRC/lib.sh"

topo_setup
start_echo srv 5000
clients c "$NS_LIVE" 3 198.18.1.1 5000

cat >"$TMP/d.conf" <<CONF
[global]
scan_interval = 200ms
[policy echo]
local_port = 5000
idle = 1h
CONF

start notify "$NS_SRV" python3 "$TESTS_SRC/notify-listener.py" "$TMP/notify.sock" "$TMP/notify.msgs"
wait_for "$TMP/notify.msgs" '^bound' 10 || bail "notify listener did not start"

NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1000000 \
	ip netns exec "$NS_SRV" "$KAREAPER" -f -v -c "$TMP/d.conf" >"$TMP/kr.out" 2>"$TMP/kr.log" &
KR=$!
T_PIDS+=("$KR")
# WATCHDOG_PID unset: sd-event takes WATCHDOG_USEC as meant for us

check "READY=1 after the first scan" wait_for "$TMP/notify.msgs" '^READY=1' 10
check "STATUS= with counters" wait_for "$TMP/notify.msgs" '^STATUS=.*scans.*probing' 10
check "WATCHDOG=1 pings from the loop" wait_count "$TMP/notify.msgs" '^WATCHDOG=1' 3 10
check "scans repeat at scan_interval" wait_for "$TMP/notify.msgs" '^STATUS=[3-9][0-9]* scans\|^STATUS=[1-9][0-9][0-9]* scans' 20

# a good new config
cat >"$TMP/d.conf" <<CONF
[global]
scan_interval = 300ms
[policy echo]
local_port = 5000, 5001
idle = 2h
CONF
kill -HUP "$KR"
check "good reload logged" wait_for "$TMP/kr.log" 'configuration reloaded' 10
check "RELOADING=1 with MONOTONIC_USEC sent" wait_for "$TMP/notify.msgs" '^MONOTONIC_USEC=[0-9]' 10
check "READY=1 again after the reload" wait_count "$TMP/notify.msgs" '^READY=1' 2 10

# a broken one: kept running with the old config
printf '[global]\nscan_interval = 300ms\n[policy echo]\nlocal_port = 5000\nidle = soon\n' >"$TMP/d.conf"
kill -HUP "$KR"
check "bad reload logged with FILE:LINE" \
	wait_for "$TMP/kr.log" "reload failed, keeping the running configuration: $TMP/d.conf:5: idle = soon" 10
check "and the daemon still runs" kill -0 "$KR"
scans_before=$(grep -c '^STATUS=' "$TMP/notify.msgs")
check "and still scans" wait_count "$TMP/notify.msgs" '^STATUS=' $((scans_before + 3)) 10

kill -TERM "$KR"
wait "$KR"
is $? 0 "SIGTERM: exit 0"
check "STOPPING=1 sent" grep -q '^STOPPING=1' "$TMP/notify.msgs"
check "stop logged" grep -q 'stopping on signal' "$TMP/kr.log"
is "$(ping_clients c)" "answered 3 of 3" "the idle live clients were never touched"

# metrics over HTTP: served, moved by a reload, and an address it cannot take
get() { # get URL: the HTTP status and the body, from the server's namespace
	ip netns exec "$NS_SRV" python3 -c 'import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)' "$1" 2>/dev/null
}
printf '[global]\nscan_interval = 300ms\nmetrics_listen = 127.0.0.1:19101\n[policy echo]\nlocal_port = 5000\nidle = 2h\n' >"$TMP/m.conf"
daemon m "$TMP/m.conf"
check "metrics_listen: listening" wait_for "$TMP/m.log" 'metrics served at http://127.0.0.1:19101/metrics' 10
for _ in $(seq 50); do page=$(get http://127.0.0.1:19101/metrics); grep -q '^kareaper_scans_total [1-9]' <<<"$page" && break; sleep 0.2; done
is "$(head -n 1 <<<"$page")" 200 "GET /metrics: 200"
check "the counters, scans among them" grep -q '^kareaper_scans_total [1-9]' <<<"$page"
check "and the errors by kind" grep -q '^kareaper_errors_total{kind="journal"} 0' <<<"$page"
is "$(get http://127.0.0.1:19101/)" 404 "any other path: 404"
sed -i 's/19101/19102/' "$TMP/m.conf"
kill -HUP "$KR"
check "a reload moves it" wait_for "$TMP/m.log" 'metrics served at http://127.0.0.1:19102/metrics' 10
is "$(get http://127.0.0.1:19102/metrics | head -n 1)" 200 "served at the new address"
is "$(get http://127.0.0.1:19101/metrics | head -n 1)" "" "and no longer at the old one"
kill -TERM "$KR"
wait "$KR"
is $? 0 "SIGTERM: exit 0"
printf '[global]\nmetrics_listen = 192.0.2.99:19103\n[policy echo]\nlocal_port = 5000\n' >"$TMP/bad.conf"
ip netns exec "$NS_SRV" "$KAREAPER" -c "$TMP/bad.conf" 2>"$TMP/bad.log"
is $? 1 "an address it cannot listen on: exit 1"
check "saying so" grep -q 'metrics_listen = 192.0.2.99:19103: cannot listen there' "$TMP/bad.log"

done_testing
