#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A disk of the kernel matrix: a Debian root file system with systemd, made by
# debootstrap, with Debian's own kernel packages installed in it, each with the
# initramfs Debian makes for it: on Debian 12 (bookworm) its 6.1,
# bookworm-backports' 6.12 and Debian 11's 5.10; on Debian 13 (trixie) its own
# 6.12 alone. And everything the package and the tests need at run time, since
# the guest has no network. Built once into DIR and kept: rebuilt only when this
# file changes.
#
#   image.sh DIR [bookworm|trixie]  ->  DIR/base.raw (ext4), DIR/boot/{vmlinuz,initrd.img}-VERSION
set -euo pipefail

DIR=${1:?usage: image.sh CACHE_DIR [bookworm|trixie]}
SUITE=${2:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The package's own dependencies are here so that `apt install ./kareaper_*.deb`
# needs nothing from the network; redis is there for the tests, not started.
PKGS=systemd,systemd-sysv,dbus,udev,kmod,initramfs-tools,linux-image-amd64,iproute2,nftables,procps,python3,strace,redis-server,libmnl0,libinih1,libsystemd0,libbpf1
case $SUITE in
bookworm) PKGS=$PKGS,libmicrohttpd12 ;;
trixie) PKGS=$PKGS,libmicrohttpd12t64 ;; # the 64-bit time_t rebuild; provides libmicrohttpd12
*) echo "image.sh: no such suite: $SUITE" >&2; exit 2 ;;
esac
KEY="$(sha256sum "$0" | cut -d' ' -f1) $SUITE"

if [ "$(cat "$DIR/key" 2>/dev/null)" = "$KEY" ] && [ -f "$DIR/base.raw" ]; then
	exit 0
fi
echo "# building the kernel matrix's disk in $DIR (once; a few minutes)"
rm -rf "$DIR"
mkdir -p "$DIR/boot"
ROOT="$DIR/rootfs"
debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$ROOT" "$MIRROR" >"$DIR/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$DIR/debootstrap.log" >&2; exit 1; }

mount --bind /proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || :' EXIT
if [ "$SUITE" = bookworm ]; then
# bookworm-backports' kernel beside the stock one (both keep their own modules)
echo "deb $MIRROR bookworm-backports main" >"$ROOT/etc/apt/sources.list.d/backports.list"
chroot "$ROOT" apt-get update >"$DIR/backports.log" 2>&1 &&
	DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y --no-install-recommends \
		-t bookworm-backports linux-image-amd64 >>"$DIR/backports.log" 2>&1 ||
	{ tail -n 30 "$DIR/backports.log" >&2; exit 1; }
rm -f "$ROOT/etc/apt/sources.list.d/backports.list"
# Debian 11's kernel, 5.10 (its ABI name fixed: bullseye main is frozen; the
# metapackage would be a downgrade of backports')
echo "deb $MIRROR bullseye main" >"$ROOT/etc/apt/sources.list.d/bullseye.list"
chroot "$ROOT" apt-get update >"$DIR/bullseye.log" 2>&1 &&
	DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y --no-install-recommends \
		linux-image-5.10.0-32-amd64 >>"$DIR/bullseye.log" 2>&1 ||
	{ tail -n 30 "$DIR/bullseye.log" >&2; exit 1; }
rm -f "$ROOT/etc/apt/sources.list.d/bullseye.list"
chroot "$ROOT" apt-get update >/dev/null 2>&1 || :
fi
chroot "$ROOT" apt-get clean
umount "$ROOT/proc"
trap - EXIT

# The guest: no password, no redis at boot, and one job: mount the test disk
# (/dev/vdb), run its run.sh with its output on the second serial port, power off.
echo kareaper-vm >"$ROOT/etc/hostname"
chroot "$ROOT" passwd -d root >/dev/null
ln -sf /dev/null "$ROOT/etc/systemd/system/redis-server.service"
cat >"$ROOT/usr/local/sbin/kareaper-vm-run" <<'RUN'
#!/bin/sh
mkdir -p /run/kt
mount -o ro /dev/vdb /run/kt && sh /run/kt/run.sh >/dev/ttyS1 2>&1
echo "# exit $?" >/dev/ttyS1
sync
systemctl poweroff --force
RUN
chmod 755 "$ROOT/usr/local/sbin/kareaper-vm-run"
cat >"$ROOT/etc/systemd/system/kareaper-vm-run.service" <<'UNIT'
[Unit]
Description=kareaper kernel matrix: the tests on the second disk
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kareaper-vm-run
StandardOutput=journal+console
UNIT
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf ../kareaper-vm-run.service "$ROOT/etc/systemd/system/multi-user.target.wants/kareaper-vm-run.service"

for k in "$ROOT"/boot/vmlinuz-*; do
	v=${k##*/vmlinuz-}
	cp "$k" "$DIR/boot/vmlinuz-$v"
	cp "$ROOT/boot/initrd.img-$v" "$DIR/boot/initrd.img-$v"
done
mkfs.ext4 -q -L kareaper-vm -d "$ROOT" "$DIR/base.raw" 3G
rm -rf "$ROOT"
echo "$KEY" >"$DIR/key"
ls "$DIR/boot"
