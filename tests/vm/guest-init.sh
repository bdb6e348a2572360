#!/bin/bash
# SPDX-License-Identifier: MIT
# PID 1 of the test guest (tests/vm/run-guest.sh), run by the host's bash from
# the read-only 9p root: give the guest its own proc, sys, dev, cgroup2, bpffs,
# tracefs and tmpfs /tmp /var/tmp, the extracted kernel's modules at
# /lib/modules, then run the test list from the results share and record each
# exit status there. Always powers the guest off.
R=/run/ward-vm/results
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

off() {
	sync
	echo o >/proc/sysrq-trigger 2>/dev/null
	/bin/busybox poweroff -f
	sleep 60
}
trap off EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
. "$R/env"
# the host's root as it is, before the tmpfs below cover parts of it: a
# checkout under /tmp (a CI clone) or /root stays reachable from here
mkdir -p /run/ward-vm/host
mount --bind / /run/ward-vm/host
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/netns /run/lock
# state ward or the tests write outside /tmp (read-only on the host root)
for d in /var/lib /var/log /var/cache /root /home; do
	mount -t tmpfs -o mode=755 tmpfs "$d"
done
# the shell tests' temporary directories (tests/integration/tmpdir.sh): not
# under /tmp, which ward keeps private on a kernel without unix hooks (6.1)
mount -t tmpfs -o mode=755 tmpfs /mnt
export WARD_TEST_TMPDIR=/mnt
# the checkout, the build and the guest's kernel where a tmpfs covered them
for p in "$WARD_SRC" "$WARD_BUILD" "$WARD_VM_DIR"; do
	[ -n "$(ls -A "$p" 2>/dev/null)" ] && continue
	mkdir -p "$p" && mount --bind "/run/ward-vm/host$p" "$p" ||
		echo "ward-vm: cannot show $p inside the guest"
done
kver=$(uname -r)
# the extracted kernel's modules: the host has no /lib/modules to mount on,
# so the kernel's module requests go through modprobe -d (its root directory)
mkdir -p /run/ward-vm/bin
cat >/run/ward-vm/bin/modprobe <<EOM
#!/bin/sh
exec /sbin/modprobe -d "$WARD_VM_DIR/kernel" "\$@"
EOM
chmod 755 /run/ward-vm/bin/modprobe
export PATH=/run/ward-vm/bin:$PATH
echo /run/ward-vm/bin/modprobe >/proc/sys/kernel/modprobe
hostname ward-vm
# the host's limits, not the kernel's defaults for PID 1 (open files: 4096
# hard, too few for tests that fill a 16384-entry map with live sockets)
ulimit -Hn 1048576 2>/dev/null && ulimit -n 1048576
ip link set lo up
# cgroup v2 controllers for the sandboxes' leaves
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done

echo "ward-vm: kernel $kver, $(nproc) vCPU, lsm=$(cat /sys/kernel/security/lsm 2>/dev/null)"
cd "$WARD_SRC" || exit 1
status=0
# the list on fd 3, the tests' stdin /dev/null: a test reading stdin would
# eat the rest of the list
while read -r line <&3; do
	[ -n "$line" ] || continue
	# leading VAR=VALUE words: the test's own environment
	read -ra words <<<"$line"
	envs=()
	while [ ${#words[@]} -gt 1 ] && [[ ${words[0]} == [A-Za-z_]*=* ]]; do
		envs+=("${words[0]}")
		words=("${words[@]:1}")
	done
	t=${words[0]}
	echo "=== ward-vm: $line"
	start=$(date +%s)
	if [ -f "$t" ]; then
		case "$t" in
		*.sh) env "${envs[@]}" bash "$t" </dev/null ;;
		*) env "${envs[@]}" "$t" </dev/null ;;
		esac
		rc=$?
	elif [ -x "$WARD_BUILD/$t" ]; then
		env "${envs[@]}" "$WARD_BUILD/$t" </dev/null
		rc=$?
	else
		echo "ward-vm: no such test: $t"
		rc=127
	fi
	echo "=== ward-vm: $line: exit $rc ($(($(date +%s) - start)) s)"
	echo "$line: $rc" >>"$R/results"
	# 77: skipped; the guest exists to run what the host skips, so a skip
	# inside it is a failure unless the caller allows it
	if [ "$rc" -ne 0 ] && { [ "$rc" -ne 77 ] || [ -z "$WARD_VM_ALLOW_SKIP" ]; }; then
		status=1
	fi
done 3<"$R/tests"
echo "$status" >"$R/rc"
