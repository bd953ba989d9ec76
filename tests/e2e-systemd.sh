#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The operator's path under a real systemd: a minimal Debian rootfs booted with
# systemd-nspawn (PID 1 here is not systemd), `make install DESTDIR=` into it,
# enable --now, reload, a broken config, a real dead peer reaped and journaled,
# the watchdog, stop. The container's network namespace is one of ours, so its
# dead client lives outside the container, as a real one would.
. "$TESTS_SRC/lib.sh"
: "${TOP_BUILDDIR:?}"

for tool in debootstrap systemd-nspawn nsenter flock dpkg-buildpackage dh; do
	command -v "$tool" >/dev/null || bail "$tool is missing: .ci/run installs it (debootstrap, systemd-container)"
done

# ---- a cached rootfs, built once, shared by every run (and by the sanitizer and
# distcheck runs: it has their runtime libraries too) ----
CACHE=${KAREAPER_ROOTFS_CACHE:-/var/cache/kareaper-tests}
PKGS=systemd,systemd-sysv,dbus,procps,iproute2,nftables,libmnl0,libinih1,libsystemd0,libmicrohttpd12,libasan8,libubsan1,prometheus-node-exporter
ROOTFS="$CACHE/bookworm"
mkdir -p "$CACHE"
exec {lockfd}>"$CACHE/lock"
flock "$lockfd"
if [ "$(cat "$ROOTFS/.kareaper-rootfs" 2>/dev/null)" != "$PKGS" ]; then
	echo "# building the rootfs cache in $ROOTFS (once)"
	rm -rf "$ROOTFS" "$ROOTFS.tmp"
	debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOTFS.tmp" \
		"${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$TMP/debootstrap.log" 2>&1 ||
		{ tail -20 "$TMP/debootstrap.log" | sed 's/^/# /'; bail "debootstrap failed"; }
	echo "$PKGS" >"$ROOTFS.tmp/.kareaper-rootfs"
	mv "$ROOTFS.tmp" "$ROOTFS"
fi
flock -u "$lockfd"

# ---- make install into a staging tree, copied into the booted container ----
STAGE="$TMP/stage"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP_BUILDDIR" install DESTDIR="$STAGE" \
	>"$TMP/install.log" 2>&1 || { sed 's/^/# /' "$TMP/install.log"; bail "make install failed"; }
UNIT_SRC=$(find "$STAGE" -name kareaper.service -type f | head -n 1)
[ -n "$UNIT_SRC" ] || bail "make install put no kareaper.service"
CONF=$(sed -n 's/^ExecStart=.*--config \([^ ]*\).*/\1/p' "$UNIT_SRC")
check "make install put the binary, the config, the unit and the man pages" \
	test -x "$STAGE$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT_SRC")" -a -f "$STAGE$CONF" \
	-a -n "$(find "$STAGE" -name kareaper.8)" -a -n "$(find "$STAGE" -name kareaper.conf.5)"

# ---- the Debian package, built from the distributed sources ----
PKG="$TMP/pkg"
mkdir -p "$PKG"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP_BUILDDIR" distdir \
	distdir="$PKG/kareaper" >"$TMP/distdir.log" 2>&1 || { sed 's/^/# /' "$TMP/distdir.log"; bail "make distdir failed"; }
(cd "$PKG/kareaper" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS=parallel=2 \
	dpkg-buildpackage -us -uc -b) >"$TMP/deb.log" 2>&1
ok $? "dpkg-buildpackage -us -uc -b" || tail -n 30 "$TMP/deb.log" | sed 's/^/# /'
DEB=$(cd "$PKG" && ls kareaper_*_*.deb 2>/dev/null | head -n 1)
check "it built kareaper_*.deb ($DEB)" test -n "$DEB"

# ---- boot ----
# In a container of its own network namespace nspawn keeps CAP_NET_ADMIN, CAP_BPF
# and CAP_PERFMON only when asked, and its seccomp policy (systemd 252) lacks bpf()
# and pidfd_getfd: what the two backends need.
topo_setup
# nspawn leaves payload/ and supervisor/ cgroups where it starts when PID 1 is not
# systemd: start it in cgroups of its own and remove them afterwards.
CGROUPS=()
for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
	if [ -f "$h/cgroup.procs" ] && mkdir "$h/$ID" 2>/dev/null; then
		CGROUPS+=("$h/$ID")
	fi
done
rm_cgroups() {
	local c
	for c in "${CGROUPS[@]}"; do
		find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}
stop_container() { # an orderly shutdown (nspawn asks the container's systemd), then force
	[ -n "${NSPAWN:-}" ] || return 0
	kill -TERM "$NSPAWN" 2>/dev/null
	for _ in $(seq 150); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
	[ -n "${LEADER:-}" ] && kill -KILL "$LEADER" 2>/dev/null
	kill -KILL "$NSPAWN" 2>/dev/null
	wait "$NSPAWN" 2>/dev/null
}
at_exit stop_container
at_exit rm_cgroups
(
	for c in "${CGROUPS[@]}"; do echo "$BASHPID" >"$c/cgroup.procs"; done
	exec systemd-nspawn --quiet --register=no --keep-unit -D "$ROOTFS" --volatile=overlay \
		--network-namespace-path="/run/netns/$NS_SRV" --capability=CAP_NET_ADMIN,CAP_BPF,CAP_PERFMON \
		--system-call-filter="pidfd_getfd bpf" \
		--bind-ro="$STAGE:/run/kareaper-stage" --bind-ro="$TESTS_BIN:/run/kareaper-tests" \
		--bind-ro="$PKG:/run/kareaper-pkg" \
		--machine="$ID" -b
) >"$TMP/nspawn.log" 2>&1 </dev/null &
NSPAWN=$!
# The container's init: nspawn's child in another pid namespace that has become
# systemd (nspawn's own helper children come and go first).
LEADER=
for _ in $(seq 300); do
	for pid in $(cat /proc/"$NSPAWN"/task/*/children 2>/dev/null); do
		if [ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] &&
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
			LEADER=$pid
		fi
	done
	[ -n "$LEADER" ] && break
	sleep 0.1
done
[ -n "$LEADER" ] || { sed 's/^/# /' "$TMP/nspawn.log"; bail "the container did not start"; }
cexec() { nsenter -t "$LEADER" -a "$@" </dev/null; }
for _ in $(seq 300); do
	state=$(cexec systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.1
done
case $state in
running | degraded) ;;
*)
	sed 's/^/# /' "$TMP/nspawn.log"
	bail "the container's systemd did not come up (${state:-no answer})"
	;;
esac
ok 0 "a real systemd booted in the container ($state)"

# ---- install and enable ----
# tar keeps the rootfs's /lib -> usr/lib symlink where cp would trip over it
cexec tar -C /run/kareaper-stage -cf - . | nsenter -t "$LEADER" -a tar -C / -xf - --keep-directory-symlink
ok $? "make install DESTDIR= tree copied into the container"
# named explicitly: make distcheck's prefix is not where systemd-sysusers looks
SYSUSERS=$(find "$STAGE" -path '*/sysusers.d/kareaper.conf' | head -n 1)
cexec systemd-sysusers "${SYSUSERS#"$STAGE"}"
check "systemd-sysusers makes the kareaper user from what make install put" cexec id kareaper
UNIT_PATH=${UNIT_SRC#"$STAGE"}
case $UNIT_PATH in
/lib/systemd/system/* | /usr/lib/systemd/system/* | /usr/local/lib/systemd/system/* | /etc/systemd/system/*) ;;
*) cexec systemctl link "$UNIT_PATH" >/dev/null 2>&1 ;; # make distcheck's own prefix
esac
cexec mkdir -p /etc/systemd/system/kareaper.service.d
# A quicker watchdog and restart than the shipped unit, to test them in seconds.
printf '[Service]\nWatchdogSec=3s\nRestartSec=1s\n' >"/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/test.conf"
# LeakSanitizer stops the world with ptrace, which the unit's system call filter
# refuses: in a sanitizer build it would fail every exit. The other tests, which
# run kareaper unconfined, still look for leaks.
# make distcheck installs under its own build tree, which the unit's private /tmp
# (DynamicUser= implies it) or ProtectHome= hide when that tree is under /tmp or
# a home directory: bind the prefix into the service for such a prefix only.
EXEC=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT_SRC")
case $EXEC in
/tmp/* | /var/tmp/* | /home/* | /root/* | /run/user/*)
	printf 'BindReadOnlyPaths=%s\n' "$(dirname "$(dirname "$EXEC")")" \
		>>"/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/test.conf"
	;;
esac
if ldd "$KAREAPER_BIN" | grep -q libasan; then
	printf 'Environment=ASAN_OPTIONS=detect_leaks=0\n' >>"/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/test.conf"
fi
cat >"$TMP/good.conf" <<CONF
[global]
scan_interval = 1s
[policy echo]
local_port = 5000
idle = 2s
interval = 1s
probes = 2
CONF
cp "$TMP/good.conf" "/proc/$LEADER/root$CONF"
cexec systemctl daemon-reload

# --man=no: the minimal rootfs has no man(1); tests/docs.sh checks the pages
out=$(cexec systemd-analyze verify --man=no "$UNIT_PATH" 2>&1)
ok $([ -z "$out" ]; echo $?) "systemd-analyze verify: clean"
[ -z "$out" ] || echo "$out" | sed 's/^/# /'
score=$(cexec systemd-analyze security kareaper.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for kareaper.service: *\([0-9.]*\).*/\1/p')
echo "# systemd-analyze security: overall exposure $score"
ok $(awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'; echo $?) "exposure score $score <= 2.0"

journal() { cexec journalctl --no-pager -u kareaper "$@"; }
wait_for_journal() { # wait_for_journal MATCH PATTERN: bounded wait for a journal line
	for _ in $(seq 100); do
		journal "$1" -o cat | grep -q -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
status_has() { cexec systemctl show -p StatusText --value kareaper | grep -q -- "$1"; }
verbose_has() { journal "$1" -o verbose | grep -q -- "$2"; }
cexec systemctl enable --now kareaper >/dev/null 2>&1
ok $? "systemctl enable --now kareaper"
is "$(cexec systemctl is-active kareaper)" active "active (running): READY=1 arrived" ||
	journal -n 40 | sed 's/^/# /'

check "the status line shows kareaper's STATUS" status_has scans ||
	echo "# StatusText: $(cexec systemctl show -p StatusText --value kareaper)"
is "$(cexec systemctl is-enabled kareaper)" enabled "enabled for boot"

ID_REAPED=dd869b3a1a1d4e009442063adba930f3
ID_RELOADED=2ca2bd0d9e154b34adda40239b94db13
ID_CONFIG_ERROR=c35c12e388144a51b0d19317abf85b4b
ID_STARTED=420f47c7a5f242bb872bc2ce84fdcf59

check "the shipped unit runs the BPF backend (auto)" \
	wait_for_journal _SYSTEMD_UNIT=kareaper.service 'backend: bpf (auto' ||
	journal -n 20 | sed 's/^/# /'

# ---- a real dead peer, reaped by the service ----
cexec systemd-run --quiet --unit=krtest-echo /run/kareaper-tests/echo-server -p 5000
reap_three() { # reap_three: 3 clients made dead, reaped and journaled
	local before port
	before=$(journal MESSAGE_ID=$ID_REAPED -o cat | grep -c .)
	revive_peer "$NS_DEAD" 2>/dev/null # the previous round's
	clients "dead$before" "$NS_DEAD" 3 198.18.2.1 5000
	port=$(ip netns exec "$NS_DEAD" ss -Htn state established "dport = :5000" | awk '{ split($3, a, ":"); print a[2]; exit }')
	kill_peer "$NS_DEAD"
	for _ in $(seq 300); do
		[ "$(journal MESSAGE_ID=$ID_REAPED -o cat | grep -c .)" -ge $((before + 3)) ] && break
		sleep 0.1
	done
	is "$(journal MESSAGE_ID=$ID_REAPED -o cat | tail -n +$((before + 1)) | grep -c 'reaped: .* -> 198\.18\.2\.2:')" 3 \
		"the 3 dead peers reaped, each with MESSAGE_ID=$ID_REAPED" || journal -n 30 | sed 's/^/# /'
	check "journalctl KAREAPER_PEER=198.18.2.2:$port finds its reap" \
		verbose_has "KAREAPER_PEER=198.18.2.2:$port" 'KAREAPER_REASON=probes-unanswered'
	is "$(ip netns exec "$NS_SRV" ss -Htn state established "sport = :5000" | grep -c .)" 0 "gone from the socket table"
}
reap_three
check "with the policy field" verbose_has MESSAGE_ID=$ID_REAPED 'KAREAPER_POLICY=echo'
check "with the owner's comm" verbose_has MESSAGE_ID=$ID_REAPED 'KAREAPER_COMM=echo-server'
check "with the unanswered probes" verbose_has MESSAGE_ID=$ID_REAPED 'KAREAPER_PROBES=[2-9]'
check "with the idle time" verbose_has MESSAGE_ID=$ID_REAPED 'KAREAPER_IDLE_MS=[0-9]'

# ---- reload ----
cexec systemctl reload kareaper
ok $? "systemctl reload kareaper"
is "$(cexec systemctl is-active kareaper)" active "still active"
check "the journal shows the reload" wait_for_journal MESSAGE_ID=$ID_RELOADED 'configuration reloaded'

# ---- a broken config: reload keeps the old one; restart fails with the same message ----
printf '[global]\nscan_interval = 1s\n[policy echo]\nlocal_port = 5000\nidle = 2 minutes\n' \
	>"/proc/$LEADER/root$CONF"
cexec systemctl reload kareaper >/dev/null 2>&1
ok $([ $? -ne 0 ]; echo $?) "systemctl reload with a broken config fails"
check "the journal shows the error with its line" \
	wait_for_journal _SYSTEMD_UNIT=kareaper.service "^$CONF:5: idle = 2 minutes"
check "so does systemctl status" sh -c "nsenter -t $LEADER -a systemctl status --no-pager -n 20 kareaper |
	grep -q '$CONF:5: idle = 2 minutes'"
is "$(cexec systemctl is-active kareaper)" active "still active, on the old config"
scans_now() { cexec systemctl show -p StatusText --value kareaper | grep -o '^[0-9]*'; }
scans=$(scans_now)
scanning_on() { [ "$(scans_now)" -gt "$1" ]; }
sleep 2.5 # a few scan intervals: the old config must still be scanning
check "and still scanning" scanning_on "${scans:-0}"
cexec systemctl restart kareaper >/dev/null 2>&1
ok $([ $? -ne 0 ]; echo $?) "systemctl restart with the broken config fails"
check "with the same FILE:LINE message" \
	wait_for_journal MESSAGE_ID=$ID_CONFIG_ERROR "^$CONF:5: idle = 2 minutes"
is "$(cexec systemctl show -p ExecMainStatus --value kareaper)" 78 "exit status 78 (EX_CONFIG)"
sleep 2.5 # past the test's RestartSec=1s: a loop would have restarted it by now
is "$(cexec systemctl is-active kareaper) $(cexec systemctl show -p NRestarts --value kareaper)" \
	"failed 0" "failed once, not restarted in a loop"
cp "$TMP/good.conf" "/proc/$LEADER/root$CONF"
cexec systemctl reset-failed kareaper
cexec systemctl restart kareaper
is "$(cexec systemctl is-active kareaper)" active "a good config: restart succeeds"

# ---- watchdog: a stopped daemon is killed and restarted by systemd ----
MAINPID=$(cexec systemctl show -p MainPID --value kareaper)
[ "${MAINPID:-0}" -gt 1 ] || bail "kareaper has no main process to stop"
cexec kill -STOP "$MAINPID"
new=$MAINPID
for _ in $(seq 200); do
	new=$(cexec systemctl show -p MainPID --value kareaper)
	[ "$new" != "$MAINPID" ] && [ "$new" != 0 ] && [ "$(cexec systemctl is-active kareaper)" = active ] && break
	sleep 0.1
done
ok $([ "$new" != "$MAINPID" ] && [ "$new" != 0 ]; echo $?) "SIGSTOPped: killed and restarted (pid $MAINPID -> $new)"
check "systemd says why" wait_for_journal _PID=1 'Watchdog timeout'
is "$(cexec systemctl is-active kareaper)" active "active again"

# ---- namespaces = all, with the drop-in kareaper(8) documents ----
cexec ip netns add krtest
cat >"/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/netns.conf" <<'UNIT'
[Service]
AmbientCapabilities=CAP_SYS_ADMIN
CapabilityBoundingSet=CAP_SYS_ADMIN
RestrictNamespaces=net
UNIT
printf '[global]\nscan_interval = 1s\nnamespaces = all\nlog_level = debug\n[policy echo]\nlocal_port = 5000\n' \
	>"/proc/$LEADER/root$CONF"
cexec systemctl daemon-reload
cexec systemctl restart kareaper
is "$(cexec systemctl is-active kareaper)" active "namespaces = all under the drop-in: active"
check "it enters and watches the container's other namespace" \
	wait_for_journal _SYSTEMD_UNIT=kareaper.service 'watching network namespace krtest'
check "without a complaint" sh -c "! nsenter -t $LEADER -a journalctl --no-pager -u kareaper -o cat | grep -q 'cannot watch'"
rm -f "/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/netns.conf"
cp "$TMP/good.conf" "/proc/$LEADER/root$CONF"

# ---- the netlink backend, with the drop-in make install puts in the docs ----
DROPIN=$(find "$STAGE" -name netlink.conf -path '*/doc/*' | head -n 1)
check "make install put the netlink drop-in" test -n "$DROPIN"
cp "$DROPIN" "/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/netlink.conf"
cexec systemctl daemon-reload
cexec systemctl restart kareaper
is "$(cexec systemctl is-active kareaper)" active "under the netlink drop-in: active"
check "on the netlink backend" \
	wait_for_journal _SYSTEMD_UNIT=kareaper.service 'backend: netlink (as configured)'
reap_three
rm -f "/proc/$LEADER/root/etc/systemd/system/kareaper.service.d/netlink.conf"
cexec systemctl daemon-reload
cexec systemctl restart kareaper

# ---- stop ----
cexec systemctl stop kareaper
ok $? "systemctl stop kareaper"
is "$(cexec systemctl is-active kareaper)" inactive "inactive" || journal -n 15 | sed 's/^/# /'
is "$(cexec systemctl show -p ExecMainStatus --value kareaper)" 0 "clean exit (status 0)"
check "it logged its stop" wait_for_journal MESSAGE_ID=95b7aab7eeff47b0ad411355853e5834 'stopping on signal'

# ---- the package: install, upgrade keeping a changed conffile, remove, purge ----
# first everything make install put there, so that nothing shadows the package's
cexec systemctl disable kareaper >/dev/null 2>&1
(cd "$STAGE" && find . -type f -o -type l) | sed 's/^\.//' | while read -r f; do
	rm -f "/proc/$LEADER/root$f"
done
# and the directories it made (those it found are not empty)
(cd "$STAGE" && find . -mindepth 1 -depth -type d) | sed 's/^\.//' | while read -r d; do
	rmdir "/proc/$LEADER/root$d" 2>/dev/null
done
rm -rf "/proc/$LEADER/root/etc/systemd/system/kareaper.service.d"
cexec systemctl daemon-reload
cexec dpkg -i "/run/kareaper-pkg/$DEB" >"$TMP/dpkg-i.log" 2>&1
ok $? "dpkg -i $DEB" || sed 's/^/# /' "$TMP/dpkg-i.log"
is "$(cexec systemctl is-enabled kareaper)" enabled "enabled on install"
is "$(cexec systemctl is-active kareaper)" active "and started, with the shipped config" ||
	journal -n 20 | sed 's/^/# /'
check "the shipped config is a dry run" cexec grep -q '^dry_run = yes' /etc/kareaper.conf
check "its STATUS" status_has scans

# metrics under the shipped unit, served by Debian's node_exporter, as documented
sed -i 's|^\[global\]$|[global]\nmetrics_file = /run/kareaper/kareaper.prom|' \
	"/proc/$LEADER/root/etc/kareaper.conf"
cexec ln -s /run/kareaper/kareaper.prom /var/lib/prometheus/node-exporter/
cexec systemctl reload kareaper
ok $? "metrics_file set, reloaded"
metrics_mode() { cexec stat -c %a /run/kareaper/kareaper.prom 2>/dev/null; }
for _ in $(seq 100); do [ "$(metrics_mode)" = 644 ] && break; sleep 0.1; done
is "$(metrics_mode)" 644 "written by the sandboxed service, mode 0644"
scrape() {
	ip netns exec "$NS_SRV" python3 -c 'import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9100/metrics", timeout=5).read().decode())' 2>/dev/null
}
for _ in $(seq 100); do
	page=$(scrape)
	grep -q '^kareaper_scans_total [1-9]' <<<"$page" && break
	sleep 0.2
done
ok $(grep -q '^kareaper_scans_total [1-9]' <<<"$page"; echo $?) \
	"node_exporter serves the kareaper_ series on /metrics" || {
	cexec stat -c "# %n %a %U:%G" /run/kareaper /run/kareaper/kareaper.prom /var/lib/prometheus/node-exporter/kareaper.prom
	cexec systemctl show -p RuntimeDirectoryMode -p UMask kareaper | sed "s/^/# /"
	grep 'textfile' <<<"$page" | sed 's/^/# /'
}
is "$(grep -c '^kareaper_' <<<"$page")" "$(cexec grep -c '^kareaper_' /run/kareaper/kareaper.prom)" \
	"every sample of the file"
check "read without error" grep -q '^node_textfile_scrape_error 0' <<<"$page"

# the same metrics over HTTP, from the sandboxed service itself (seccomp, the
# unit's IPAddressAllow=localhost), turned on by a reload
sed -i 's|^\[global\]$|[global]\nmetrics_listen = 127.0.0.1:9101|' "/proc/$LEADER/root/etc/kareaper.conf"
cexec systemctl reload kareaper
ok $? "metrics_listen set, reloaded"
scrape_kr() {
	ip netns exec "$NS_SRV" python3 -c 'import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:9101/metrics", timeout=5)
sys.stdout.write(r.headers["Content-Type"] + "\n" + r.read().decode())' 2>/dev/null
}
for _ in $(seq 100); do
	served=$(scrape_kr)
	grep -q '^kareaper_scans_total [1-9]' <<<"$served" && break
	sleep 0.2
done
ok $(grep -q '^kareaper_scans_total [1-9]' <<<"$served"; echo $?) \
	"kareaper serves its metrics at http://127.0.0.1:9101/metrics" ||
	journal -n 20 | sed 's/^/# /'
is "$(head -n 1 <<<"$served")" "text/plain; version=0.0.4; charset=utf-8" "as Prometheus text 0.0.4"
is "$(grep -c '^kareaper_' <<<"$served")" "$(cexec grep -c '^kareaper_' /run/kareaper/kareaper.prom)" \
	"the same samples as the file"
echo '# changed by the admin' >>"/proc/$LEADER/root/etc/kareaper.conf"
cexec dpkg -i "/run/kareaper-pkg/$DEB" >"$TMP/dpkg-u.log" 2>&1
ok $? "the same version installed over itself" || sed 's/^/# /' "$TMP/dpkg-u.log"
check "keeps the changed conffile" cexec grep -q '^# changed by the admin' /etc/kareaper.conf
check "metrics_file included" cexec grep -q '^metrics_file = /run/kareaper/kareaper.prom' /etc/kareaper.conf
is "$(cexec systemctl is-active kareaper)" active "active after the upgrade"
cexec dpkg -r kareaper >"$TMP/dpkg-r.log" 2>&1
ok $? "dpkg -r kareaper" || sed 's/^/# /' "$TMP/dpkg-r.log"
is "$(cexec systemctl is-active kareaper)" inactive "stopped"
check "the binary is gone, the config stays" cexec sh -c '! test -e /usr/sbin/kareaper && test -f /etc/kareaper.conf'
cexec rm /var/lib/prometheus/node-exporter/kareaper.prom # the admin's link, the admin's to remove
# an entry the stop could not put back: the purge keeps it
printf '# kareaper probe journal 1\n4026531840 77 1234 0 7200 75 9 0\n# end 1\n' \
	>"/proc/$LEADER/root/run/kareaper/probes"
cexec dpkg -P kareaper >"$TMP/dpkg-p.log" 2>&1
ok $? "dpkg --purge kareaper" || sed 's/^/# /' "$TMP/dpkg-p.log"
check "a journal with entries not put back survives the purge" \
	cexec grep -q '^4026531840 77 1234' /run/kareaper/probes
check "and the purge says so" grep -q 'could not be put back: kept' "$TMP/dpkg-p.log"
cexec rm -r /run/kareaper # the admin's, once read
# systemd removes the unit's PrivateTmp directories (/var/tmp/systemd-private-*-
# kareaper.service-*) in a child of its own after the stop: wait for them, 10 s.
for _ in $(seq 100); do
	left=$(cexec sh -c 'find / -xdev -name "*kareaper*" 2>/dev/null; ls -d /run/kareaper /etc/kareaper* 2>/dev/null' |
		grep -v '^/run/kareaper-\(stage\|tests\|pkg\)\|^/.kareaper-rootfs$')
	[ -z "$left" ] && break
	sleep 0.1
done
is "$left" "" "nothing of kareaper left: config, runtime state, unit links"

done_testing
