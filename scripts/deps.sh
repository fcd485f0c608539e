#!/usr/bin/env bash
# deps.sh [--ganesha|--bench]: install what `make test` / `make demo` need on a fresh
# Debian 12 machine (run as root), then build the kernel-client VM when the
# shared tools are present. Idempotent: apt is skipped entirely when every
# package is already installed, and build-vm is a no-op when up to date.
#
#   --ganesha  also install nfs-ganesha (reference server for comparisons;
#              not needed by `make test`)
#   --bench    also install what `make bench` (scripts/bench.sh and
#              shared/tools/bench) needs: jq, fio, dbench, fincore
#              (util-linux), sshfs + openssh-server (the sshfs peer), fuse3,
#              iproute2 (ss), procps; linux-perf for profiling
#
# Env: SHARED (default REPO/../shared), NFSVM_DIR (build-vm's, /tmp/nfsvm),
#      DEPS_NO_VM=1 to skip build-vm.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
say() { echo "deps: $*" >&2; }

# fuse3: fusermount3 for go-fuse (mount_remote); libnfs-utils: libnfs-smoke;
# qemu-system-x86 + busybox-static: kernel-client VM; python3-ply: pynfs;
# xz-utils/cpio/kmod-free tools used by build-vm; gcc: `go test -race` (cgo);
# the mkfs/archive tools build the image-backend test images (issue 4) from a
# reference tree: e2fsprogs, xorriso, genisoimage, squashfs-tools,
# erofs-utils, dosfstools+mtools, zip/unzip, tar; attr: getfattr/setfattr;
# krb5-kdc + krb5-admin-server (kadmin.local) + krb5-user (kinit) +
# python3-gssapi: a throwaway Kerberos realm (scripts/krb5-realm.sh) and a
# real MIT GSS initiator for the RPCSEC_GSS tests and pynfs --security=krb5i.
PKGS=(fuse3 libnfs-utils qemu-system-x86 busybox-static python3 python3-ply xz-utils
	gcc libc6-dev git ca-certificates procps
	e2fsprogs xorriso genisoimage squashfs-tools erofs-utils dosfstools mtools zip unzip tar attr
	krb5-kdc krb5-admin-server krb5-user python3-gssapi)
if [ "${1:-}" = --ganesha ]; then
	PKGS=(nfs-ganesha nfs-ganesha-vfs)
elif [ "${1:-}" = --bench ]; then
	PKGS=(jq fio dbench util-linux sshfs openssh-server openssh-client fuse3 iproute2 procps tar linux-perf)
fi

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	say "all packages present: ${PKGS[*]}"
else
	[ "$(id -u)" = 0 ] || { say "not root; install these yourself: ${missing[*]}"; exit 1; }
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
case "${1:-}" in --ganesha | --bench) exit 0 ;; esac

# Go toolchain: expected preinstalled (go.mod wants the version it names).
if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		say "go is at /usr/local/go/bin but not on PATH (the Makefile adds it)"
	else
		say "ERROR: no Go toolchain; install Go $(sed -n 's/^go //p' "$REPO/go.mod") into /usr/local/go"
		exit 1
	fi
fi

if [ "${DEPS_NO_VM:-0}" = 1 ]; then
	say "DEPS_NO_VM=1: not building the kernel-client VM"
elif [ -x "$SHARED/tools/kernel-client/build-vm" ]; then
	say "building the kernel-client VM (build-vm is idempotent)"
	PATH=$PATH:/usr/local/go/bin "$SHARED/tools/kernel-client/build-vm" ||
		say "WARNING: build-vm failed; interop will SKIP the kernel-client tests"
else
	say "no $SHARED/tools/kernel-client: kernel-client VM not built (interop will SKIP it)"
fi
