#!/bin/sh
# SPDX-License-Identifier: MIT
# Install everything ward needs to build and test on Debian 12. Idempotent: only
# missing packages are installed, and apt-get update runs only when something is.
set -eu

PKGS="build-essential cmake pkg-config clang llvm libclang-rt-14-dev bpftool libbpf-dev libelf-dev zlib1g-dev
libseccomp-dev libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev libssl-dev
libyaml-dev liblua5.4-dev libsqlite3-dev libcmocka-dev libcap-dev libjansson-dev libpq-dev postgresql
bc time sqlite3 iproute2 nftables bubblewrap curl ca-certificates git python3 python3-yaml openssl
util-linux procps passwd nodejs npm btrfs-progs
qemu-system-x86 busybox-static kmod jq"

# The test guests' kernels (tests/vm, docs/kernels.md): Debian 12's 6.12
# (backports through bookworm-security) and its own 6.1, both with BPF LSM,
# downloaded (never installed: tests/vm/build-guest.sh extracts them into the
# build tree). Each metapackage names its versioned image package.
VM_KERNEL_PKGS=${WARD_VM_KERNEL_PKGS:-"linux-image-6.12-amd64 linux-image-amd64"}
VM_CACHE=/var/cache/ward/vm
vm_kernel() { # vm_kernel METAPACKAGE
	meta=$(ls "$VM_CACHE/$1"_*.deb 2>/dev/null | tail -n1)
	if [ -n "$meta" ]; then
		real=$(dpkg-deb -f "$meta" Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
		[ -n "$real" ] && ls "$VM_CACHE/$real"_*.deb >/dev/null 2>&1 && return 0
	fi
	mkdir -p "$VM_CACHE"
	chown _apt "$VM_CACHE" 2>/dev/null || true
	(cd "$VM_CACHE" && apt-get download -qq "$1") || return 1
	meta=$(ls "$VM_CACHE/$1"_*.deb | tail -n1)
	real=$(dpkg-deb -f "$meta" Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
	[ -n "$real" ] || return 1
	(cd "$VM_CACHE" && apt-get download -qq "$real")
}
vm_kernels() {
	for k in $VM_KERNEL_PKGS; do
		vm_kernel "$k" || { echo "install-deps: cannot download $k" >&2; return 1; }
	done
}

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	# a Node build that bundles npm (NodeSource) conflicts with Debian's npm (i1)
	[ "$p" = npm ] && command -v npm >/dev/null && continue
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	vm_kernels || exit 1
	exit 0
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
vm_kernels || exit 1
