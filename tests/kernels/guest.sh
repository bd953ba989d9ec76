#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside the kernel matrix's virtual machine (tests/kernels.sh), as root, on
# the kernel under test, from the test disk mounted at $KT: the Debian package
# installed as an operator would, the shipped unit with no drop-in, real servers
# and clients, peers made dead with nftables. Then the end-to-end suites named in
# $KT/suites. TAP on stdout; the host numbers and labels it.
KT=${KT:-/run/kt}
export KAREAPER=/usr/sbin/kareaper TESTS_BIN=$KT/bin TESTS_SRC=$KT/tests TOP_BUILDDIR=/nonexistent
. "$TESTS_SRC/lib.sh"

echo "# kernel $(uname -r)"
# the suites' time bounds, stretched by how much slower this guest is than the
# host that booted it (calibrate's work on either side)
guest_ms=$(calibrate)
host_ms=$(cat "$KT/host-ms" 2>/dev/null)
TIME_FACTOR=$(((guest_ms + ${host_ms:-$guest_ms} - 1) / ${host_ms:-$guest_ms}))
[ "$TIME_FACTOR" -ge 1 ] || TIME_FACTOR=1
export KAREAPER_TIME_FACTOR=$TIME_FACTOR
echo "# time bounds x$TIME_FACTOR: calibrate took $guest_ms ms here, ${host_ms:-?} ms on the host"
# The BPF backend needs Linux 5.15 (bpf_setsockopt from iter/tcp): before it, the
# shipped unit is to fail once with the one line that says why and names the
# drop-in, and to work with that drop-in on the netlink backend.
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
bpf_kernel=$([ "$kmaj" -gt 5 ] || { [ "$kmaj" -eq 5 ] && [ "$kmin" -ge 15 ]; } && echo yes || echo no)
PORT=6379
WOULD=97577a4f337842c3a543a3619573787d
REAPED=dd869b3a1a1d4e009442063adba930f3

# ---- the package, installed as an operator would, with no network ----
cp "$KT"/kareaper_*.deb "$TMP/"
# (its dependencies are on the disk already: nothing to download)
(cd "$TMP" && DEBIAN_FRONTEND=noninteractive apt-get install -y ./kareaper_*.deb) >"$TMP/apt.log" 2>&1
ok $? "apt install ./kareaper_*.deb" || { diag "$TMP/apt.log"; bail "the package did not install"; }
check "no drop-in for the unit" test ! -e /etc/systemd/system/kareaper.service.d
for _ in $(seq 600); do
	state=$(systemctl is-active kareaper)
	[ "$state" = activating ] || break
	sleep 0.1
done
log() { journalctl --no-pager -o cat _SYSTEMD_UNIT=kareaper.service; }
if [ "$bpf_kernel" = yes ]; then
	is "$state" active "the service is active after install (shipped unit and config)" ||
		journalctl -u kareaper --no-pager -o cat | diag
	line=$(log | grep '^backend: ' | tail -n 1)
	echo "# $line"
	case $line in "backend: bpf "*) r=0 ;; *) r=1 ;; esac
	ok $r "auto chose the bpf backend"
else
	for _ in $(seq 100); do
		[ "$(systemctl show -p NRestarts --value kareaper)" = 0 ] &&
			[ "$(systemctl is-active kareaper)" = failed ] && break
		sleep 0.1
	done
	is "$(systemctl is-active kareaper)" failed "Linux $kmaj.$kmin: the shipped unit fails"
	sleep 6 # past RestartSec: a restart would have begun
	is "$(systemctl show -p NRestarts --value kareaper)/$(systemctl show -p ExecMainStatus --value kareaper)" \
		0/69 "once, exit 69, no restart"
	line=$(log | grep '^no backend can work here' | tail -n 1)
	echo "# $line"
	is "$(log | grep -c '^no backend can work here')" 1 "with one line that says why"
	case $line in *"bpf: Linux $(uname -r) refuses kareaper's BPF programs"*"needs Linux 5.15"*) r=0 ;; *) r=1 ;; esac
	ok $r "which names the kernel, and the version from which the BPF backend works"
	case $line in *"not permitted"*|*"it needs CAP_BPF"*) r=1 ;; *) r=0 ;; esac
	ok $r "and blames no right the unit gives"
	case $line in *"BPF programs: processed "*|*"failed to load BPF skeleton"*) r=1 ;; *) r=0 ;; esac
	ok $r "with the verifier's own reason, not its statistics nor libbpf's summary"
	cmd=$(printf '%s\n' "$line" | sed -n 's/.*netlink drop-in (\(mkdir .*systemctl restart kareaper\);.*/\1/p')
	ok $([ -n "$cmd" ]; echo $?) "it names the drop-in, with the commands that install it"
	sh -c "$cmd"
	ok $? "those commands run: $cmd"
	for _ in $(seq 600); do
		state=$(systemctl is-active kareaper)
		[ "$state" = activating ] || break
		sleep 0.1
	done
	is "$state" active "with that drop-in the service is active" ||
		journalctl -u kareaper --no-pager -o cat | tail -n 20 | diag
	line=$(log | grep '^backend: ' | tail -n 1)
	echo "# $line"
	case $line in "backend: netlink "*) r=0 ;; *) r=1 ;; esac
	ok $r "on the netlink backend"
fi
# for the table of what the matrix ran (tests/kernels.sh): the kernel as X.Y
# (Debian's ABI numbers move with every point release), the root, the unit as
# it ran, the backend and the capabilities kept, as kareaper logged them
# (os-release read in a subshell: its ID is not lib.sh's)
backend=${line#backend: }
printf '# matrix: %s | %s, systemd %s | %s | %s\n' "$kmaj.$kmin" \
	"$(. /etc/os-release && echo "Debian $VERSION_ID ($VERSION_CODENAME)")" \
	"$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')" \
	"$([ "$bpf_kernel" = yes ] && echo "shipped unit" || echo "shipped unit + netlink drop-in"), ${backend%% *}" \
	"$(printf '%s\n' "$line" | sed -n 's/.*capabilities kept: //p')"
# what it must keep: CAP_BPF, CAP_PERFMON, and CAP_NET_ADMIN without bpf_sock_destroy;
# on netlink CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH
if [ "$bpf_kernel" = no ]; then want=0000000000081004
elif grep -qw bpf_sock_destroy /proc/kallsyms; then want=000000c000000000
else want=000000c000001000; fi
pid=$(systemctl show -p MainPID --value kareaper)
is "$(sed -n 's/^CapEff:\t//p' "/proc/$pid/status")" "$want" \
	"it keeps only the capabilities this kernel needs (CapEff)"
is "$(sed -n 's/^CapAmb:\t//p' "/proc/$pid/status")" "$want" "and no more in its ambient set"

# ---- the host's own namespace is the server's: the service watches it ----
NS_SRV=$ID-host
mkdir -p /run/netns
touch "/run/netns/$NS_SRV"
mount --bind /proc/1/ns/net "/run/netns/$NS_SRV" || bail "cannot name the host's namespace"
at_exit "umount /run/netns/$NS_SRV; rm -f /run/netns/$NS_SRV"
ns_add "$NS_LIVE"
ns_add "$NS_DEAD"
link "$NS_SRV" krlive 198.18.1.1 2001:db8:1::1 "$NS_LIVE" eth0 198.18.1.2 2001:db8:1::2
link "$NS_SRV" krdead 198.18.2.1 2001:db8:2::1 "$NS_DEAD" eth0 198.18.2.2 2001:db8:2::2
echo_srv srv "$PORT"
clients live4 "$NS_LIVE" 3 198.18.1.1 "$PORT"
clients live6 "$NS_LIVE" 2 2001:db8:1::1 "$PORT"
clients dead4 "$NS_DEAD" 3 198.18.2.1 "$PORT"
clients dead6 "$NS_DEAD" 2 2001:db8:2::1 "$PORT"
before=$(opts srv | sort)
is "$(printf '%s\n' "$before" | grep -c .)" 10 "10 connections to the server, 5 of them to die"

count() { # count MESSAGE_ID: distinct peers the service logged with it
	journalctl --no-pager -o export _SYSTEMD_UNIT=kareaper.service "MESSAGE_ID=$1" | sed -n 's/^KAREAPER_PEER=//p' | sort -u | grep -c .
}
wait_peers() { # wait_peers MESSAGE_ID N: until N distinct peers are logged (bounded
	# by time: under TCG one journalctl takes about a second)
	local end=$((SECONDS + 180))
	while [ "$SECONDS" -lt "$end" ]; do
		[ "$(count "$1")" -ge "$2" ] && return 0
		sleep 1
	done
	return 1
}
conf() { # conf DRY_RUN [PROBES]: the operator's own policy, then a reload
	cat >/etc/kareaper.conf <<-CONF
	[global]
	scan_interval = 1s
	dry_run = $1
	[policy redis]
	local_port = $PORT
	idle = 2s
	interval = 1s
	probes = ${2:-3}
	CONF
	! systemctl -q is-active kareaper || systemctl reload kareaper
}

# ---- dry run: every dead peer found, nothing killed, every trace restored ----
kill_peer "$NS_DEAD"
conf yes
ok $? "systemctl reload kareaper"
wait_peers "$WOULD" 5
ok $? "dry run: every dead peer would be reaped" || log | tail -n 30 | diag
is "$(count "$WOULD")" 5 "and no live one"
systemctl stop kareaper
is "$(ip netns exec "$NS_SRV" ss -Htn state established "sport = :$PORT" | grep -c .)" 10 \
	"dry run: all 10 connections still there"
is "$(opts srv | sort)" "$before" "dry run: every socket's options as its owner had them, after stop"

# ---- kill -9 mid-probe: systemd restarts it, and it puts every option back ----
conf yes 60 # a minute of probes: the kill comes while they go out
systemctl start kareaper
armed() { # the dead peers' sockets armed (the live ones come and go: they answer)
	opts srv | grep '198.18.2.2\|2001:db8:2::2' | grep -c 'keepalive=1 idle=[0-9]* intvl=[0-9]* cnt=127 ut=0'
}
end=$((SECONDS + 180))
while [ "$(armed)" -lt 5 ] && [ "$SECONDS" -lt "$end" ]; do sleep 1; done
is "$(armed)" 5 "the dead peers' sockets armed (TCP_KEEPCNT 127)"
n=$(sed -n 's/^# end //p' /run/kareaper/probes)
ok $([ "${n:-0}" -ge 5 ]; echo $?) "and journaled ($n entries)"
pid=$(systemctl show -p MainPID --value kareaper)
systemctl kill -s KILL --kill-who=main kareaper
end=$((SECONDS + 180))
while [ "$SECONDS" -lt "$end" ]; do
	new=$(systemctl show -p MainPID --value kareaper)
	[ "$new" != 0 ] && [ "$new" != "$pid" ] && [ "$(systemctl is-active kareaper)" = active ] && break
	sleep 1
done
is "$(systemctl is-active kareaper)" active "after kill -9, systemd restarts it"
check "the restart puts the journal back" sh -c "journalctl -o cat _SYSTEMD_UNIT=kareaper.service _PID=$new | grep -q 'put back the keepalive options of [0-9]* probed sockets'"
systemctl stop kareaper
is "$(opts srv | sort)" "$before" "after kill -9, restart and stop: every socket as its owner had it"
is "$(systemctl show -p NRestarts --value kareaper)" 1 "one restart: the kill's"

# ---- for real ----
conf no
systemctl start kareaper
ok $? "systemctl start kareaper (dry_run = no)"
wait_peers "$REAPED" 5
ok $? "every dead peer reaped" || log | tail -n 20 | diag
is "$(count "$REAPED")" 5 "no live peer reaped"
is "$(established "$NS_SRV" "$PORT" '198.18.2.2\|2001:db8:2::2')" 0 "the dead peers' sockets are gone"
is "$(ping_clients live4)" "answered 3 of 3" "the live v4 clients answer"
is "$(ping_clients live6)" "answered 2 of 2" "the live v6 clients answer"
systemctl stop kareaper
is "$(opts srv | sort)" "$(printf '%s\n' "$before" | grep -v '198.18.2.2\|2001:db8:2::2')" \
	"the live sockets' options as their owner had them, after stop"
is "$(systemctl show -p NRestarts --value kareaper)" 0 "no restart since (NRestarts counts from the last start)"
is "$(log | grep -c 'libbpf: libbpf:')" 0 "libbpf's lines carry one prefix"

# ---- the end-to-end suites, as root, on this kernel ----
while read -r suite backend kernels; do
	[ -n "$suite" ] || continue
	# shellcheck disable=SC2254
	case $(uname -r) in ${kernels:-*}) ;; *) continue ;; esac
	if [ "$backend" = bpf ] && [ "$bpf_kernel" = no ]; then
		echo "# $suite on the bpf backend: not on Linux $kmaj.$kmin (the backend needs 5.15)"
		continue
	fi
	# the package's kareaper itself: the suite wraps it in a /run/kareaper of
	# its own (lib.sh), which this script's wrapper would cover with another
	KAREAPER=$KAREAPER_BIN KAREAPER_BACKEND=$backend bash "$TESTS_SRC/$suite.sh" >"$TMP/suite.out" 2>&1
	rc=$?
	grep -E '^(not )?ok ' "$TMP/suite.out" | sed "s/^\(\(not \)\?ok\) [0-9]* -/\1 - $suite ($backend):/"
	ok $rc "$suite on the $backend backend: every check passed" ||
		grep -E '^#|^Bail' "$TMP/suite.out" | head -n 60
done <"$KT/suites"
done_testing
