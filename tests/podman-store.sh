# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by tests/e2e-podman.sh and bench/pod.sh: podman and buildah on a
# container store of the caller's own, and the DaemonSet's pod played there.
#
# podman_store DIR: the store, its state and libpod's temporary files in DIR,
# for every podman and buildah this shell runs from now on. Limits no higher
# than a shell's (podman's defaults are higher: raising them needs
# CAP_SYS_RESOURCE, which a sandbox may lack), runc (crun refuses a hybrid
# cgroup layout), no systemd needed (cgroupfs, file logs and events). Nothing
# of the host's podman is touched.
podman_store() {
	cat >"$1/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$1/storage"
runroot = "$1/runroot"
CONF
	cat >"$1/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
log_driver = "k8s-file"
[engine]
tmp_dir = "$1/libpod"
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
	export CONTAINERS_STORAGE_CONF=$1/storage.conf CONTAINERS_CONF=$1/containers.conf
}

# podman_store_clear: every pod, container and volume of the store (all the
# caller's); the files go with its directory. Nothing before podman_store.
podman_store_clear() {
	[ -n "${CONTAINERS_STORAGE_CONF:-}" ] || return 0
	podman pod rm -f -a -t 0 >/dev/null 2>&1
	podman rm -f -a -t 0 >/dev/null 2>&1
	podman volume rm -a -f >/dev/null 2>&1
	return 0
}

# play_daemonset SRC POD FILES IMAGE JOURNAL DROPIN OUT: SRC's
# deploy/kubernetes DaemonSet played as pod POD (tests/kube-pod.py, with its
# files in FILES): IMAGE, the node's /run/kareaper as JOURNAL, DROPIN as
# /etc/kareaper.d/50-local.conf; podman's output in OUT.yaml and OUT.play.
play_daemonset() {
	python3 "$1/tests/kube-pod.py" "$1/deploy/kubernetes" "$2" "$3" --image "$4" \
		--host-path "/run/kareaper=$5" --dropin "50-local.conf=$6" \
		--containers-conf "$CONTAINERS_CONF" >"$7.yaml" &&
		CONTAINERS_CONF=$3/containers.conf podman kube play --network none "$7.yaml" >"$7.play" 2>&1
}
