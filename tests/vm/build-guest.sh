#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the qemu guest for the kernel tests (docs/kernels.md) into
# BUILD/vm: the Debian kernel package's vmlinuz and modules, extracted (never
# installed as the host's kernel), and a busybox initramfs that loads 9p and
# mounts the host's / read-only as the guest's root. Cached: rebuilt only when
# the kernel package, busybox or this script and tests/vm/init change.
#
# usage: build-guest.sh BUILD_DIR
# env:   WARD_VM_KERNEL_PKG  the kernel's metapackage (default linux-image-6.12-amd64,
#                            Debian 12's backported 6.12; linux-image-amd64 is
#                            its own 6.1): the guest is BUILD_DIR/vm/PKG
#        WARD_VM_KERNEL_DEB  a linux-image-*.deb to use instead (BUILD_DIR/vm/custom)
# prints the guest directory on success.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: build-guest.sh BUILD_DIR}" && pwd)
pkg=${WARD_VM_KERNEL_PKG:-linux-image-6.12-amd64}
case $pkg in */* | .* | '') die "bad WARD_VM_KERNEL_PKG: $pkg" ;; esac
vm=$build/vm/$pkg
[ -n "${WARD_VM_KERNEL_DEB:-}" ] && vm=$build/vm/custom
# tools/install-deps.sh downloads the package here (apt-get download)
cache=${WARD_VM_CACHE:-/var/cache/ward/vm}

die() { echo "build-guest: $*" >&2; exit 1; }

for tool in qemu-system-x86_64 busybox depmod modprobe dpkg-deb xz; do
	command -v "$tool" >/dev/null || die "$tool missing (tools/install-deps.sh installs it)"
done
bb=$(command -v busybox)
# the initramfs has no libc: busybox must be the static build
ldd "$bb" >/dev/null 2>&1 && die "$bb is dynamically linked (install busybox-static)"

mkdir -p "$vm"

# --- the kernel package: explicit, cached by install-deps, or fetched. The
# metapackage (a few KiB) names the versioned image package in its Depends.
deb=${WARD_VM_KERNEL_DEB:-}
image_of() { # image_of DIR: the image package the metapackage in DIR names
	local meta
	meta=$(ls "$1/${pkg}"_*.deb 2>/dev/null | tail -n1)
	[ -n "$meta" ] || return 1
	real=$(dpkg-deb -f "$meta" Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
	[ -n "$real" ] || die "$meta names no image package"
	ls "$1/${real}"_*.deb 2>/dev/null | tail -n1
}
if [ -z "$deb" ]; then
	for dir in "$cache" "$vm/dl"; do
		deb=$(image_of "$dir") && [ -n "$deb" ] && break
		deb=
	done
fi
if [ -z "$deb" ]; then
	mkdir -p "$vm/dl"
	(cd "$vm/dl" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		die "cannot download $pkg (run tools/install-deps.sh)"
	real=$(dpkg-deb -f "$vm/dl/${pkg}"_*.deb Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
	[ -n "$real" ] || die "$pkg names no image package"
	(cd "$vm/dl" && apt-get download -q "$real" >/dev/null 2>&1) || die "cannot download $real"
	deb=$(ls "$vm/dl/${real}"_*.deb)
fi
[ -f "$deb" ] || die "no kernel package: $deb"

key=$( (sha256sum "$here/build-guest.sh" "$here/init" | cut -d' ' -f1
	echo "$deb $(stat -c %s.%Y "$deb")"
	busybox 2>/dev/null | sed -n 1p) | sha256sum | cut -d' ' -f1)
if [ -f "$vm/stamp" ] && [ "$(cat "$vm/stamp")" = "$key" ] &&
   [ -f "$vm/vmlinuz" ] && [ -f "$vm/initramfs.cpio.gz" ]; then
	echo "$vm"
	exit 0
fi

rm -rf "$vm/kernel" "$vm/initramfs" "$vm/stamp" "$vm/vmlinuz" "$vm/initramfs.cpio.gz"
dpkg-deb -x "$deb" "$vm/kernel"
kver=$(ls "$vm/kernel/lib/modules")
[ -n "$kver" ] && [ -f "$vm/kernel/boot/vmlinuz-$kver" ] || die "$deb: no vmlinuz/modules"
grep -q '^CONFIG_BPF_LSM=y' "$vm/kernel/boot/config-$kver" || die "$kver: no CONFIG_BPF_LSM"
depmod -b "$vm/kernel" "$kver"
ln -sf "kernel/boot/vmlinuz-$kver" "$vm/vmlinuz"

# --- initramfs: busybox, the 9p modules (with their deps, decompressed for
# busybox insmod), /init
ir=$vm/initramfs
mkdir -p "$ir"/{bin,dev,proc,sys,newroot,modules}
cp "$bb" "$ir/bin/busybox"
for a in sh mount umount insmod mkdir switch_root cat echo poweroff sleep ls; do
	ln -s busybox "$ir/bin/$a"
done
: >"$ir/modules/order"
# virtio_pci: built in on 6.12, a module on 6.1 (modprobe says "builtin" then)
for m in virtio_pci 9pnet_virtio 9p; do
	modprobe -d "$vm/kernel" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	base=$(basename "$ko")
	base=${base%.xz}
	if [ -f "$ir/modules/$base" ]; then continue; fi
	case "$ko" in
	*.xz) xz -dc "$ko" >"$ir/modules/$base" ;;
	*) cp "$ko" "$ir/modules/$base" ;;
	esac
	echo "$base" >>"$ir/modules/order"
done
cp "$here/init" "$ir/init"
chmod 755 "$ir/init"
(cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$vm/initramfs.cpio.gz")
echo "$kver" >"$vm/kver"
echo "$key" >"$vm/stamp"
echo "$vm"
