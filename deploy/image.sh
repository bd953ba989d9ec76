#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The OCI image, offline, from this tree's build and this host's Debian packages:
#
#   deploy/image.sh IMAGE VERSION BINARY SRCDIR     (make image; root, buildah)
#
# Its root file system: the daemon as /usr/sbin/kareaper, the shipped
# configuration as /etc/kareaper.conf, every library `ldd` names at the path it
# names (and the loader), and, for each Debian package those come from, its
# copyright file. `buildah bud` makes it FROM scratch, tagged IMAGE:VERSION and
# IMAGE:latest. The libraries are those of the machine that builds it: build on
# the Debian release the binary was built on.
set -euo pipefail

image=$1 version=$2 bin=$3 src=$4
command -v buildah >/dev/null || { echo "$0: needs buildah (apt-get install buildah)" >&2; exit 1; }
root=$(mktemp -d /tmp/kareaper-image.XXXXXX)
trap 'rm -rf "$root"' EXIT

install -D -m 0755 "$bin" "$root/usr/sbin/kareaper"
install -D -m 0644 "$src/conf/kareaper.conf" "$root/etc/kareaper.conf"
install -D -m 0644 "$src/COPYING" "$root/usr/share/doc/kareaper/copyright"
# mount points: the probe journal, named namespaces, drop-ins
install -d -m 0755 "$root/run/kareaper" "$root/run/netns" "$root/etc/kareaper.d"

libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || { echo "$0: ldd names no library for $bin" >&2; exit 1; }
pkgs=()
for lib in $libs; do
	install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	# (merged /usr: dpkg may know the file under either name)
	pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null) ||
		{ echo "$0: $lib is in no Debian package" >&2; exit 1; }
	pkgs+=("${pkg%%:*}")
done
for pkg in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
	install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
done

buildah bud --quiet --layers=false -f "$src/deploy/Containerfile" \
	--label org.opencontainers.image.title=kareaper \
	--label org.opencontainers.image.version="$version" \
	--label org.opencontainers.image.licenses=GPL-2.0-or-later \
	--label org.opencontainers.image.description="Reap TCP connections whose peer is gone" \
	-t "$image:$version" -t "$image:latest" "$root" >/dev/null
echo "$image:$version: $(du -sh "$root" | cut -f1), kareaper and $(wc -w <<<"$libs") libraries from $(printf '%s\n' "${pkgs[@]}" | sort -u | wc -l) Debian packages"
