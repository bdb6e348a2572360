#!/bin/bash
# SPDX-License-Identifier: MIT
# Executable identity on overlayfs, on the protected-path mechanism ward picks
# (bpf-lsm in the test guest; issue 17 item 4, docs/egress.md "Identity"):
# the (dev, ino) lsm/file_open reads from mm->exe_file must be the one user
# space computed for the binary the policy names, or the named binary is
# refused and its rows have no binary. Two overlays, each in a mount
# namespace of its own (unshare -m), the sandbox's a second one below:
#  - a binary on an overlay whose lower and upper layers are two different
#    tmpfs (stat()'s st_dev names the layer, not the overlay);
#  - ward itself chrooted into an overlay root: lower / (9p in the guest, the
#    host's filesystem elsewhere), upper a tmpfs.
# In both: the named binary reads the protected file and gets an allow row
# naming it; another binary is refused with a row naming it; a copy of the
# named binary is refused.
set -u
. "$(dirname "$0")/../integration/lib.sh"
need_root
[ -x "$WARD" ] || { echo "no ward binary at $WARD"; exit 1; }
WARD=$(readlink -f "$WARD")
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || { echo "SKIP: no overlayfs"; exit 77; }
for c in jq unshare chroot; do
	command -v $c >/dev/null || { echo "SKIP: needs $c"; exit 77; }
done
MECH=$("$WARD" doctor --json | jq -r '.features[] | select(.name == "fs.protect") | .detail')
echo "fs.protect: $MECH"

T=$(test_tmpdir ward-vm-ovl /var/tmp)
chmod 755 "$T"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
UID_=4253
mkdir -p "$T/wd/keys" "$T/ov" "$T/log" "$T/root-ov"
chmod 777 "$T/log"
echo "the-secret" >"$T/wd/keys/id"
chmod -R a+rX "$T/wd"

policy() { # FILE BINARY
	cat >"$1" <<EOP
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /etc, $T/ov]
  binaries:
    - path: $2
      read_only: [$T/wd/keys]
process:
  run_as_user: $UID_
  run_as_group: $UID_
EOP
}
# rows LOG JQ-FILTER
count() { "$WARD" logs --log "$1" --layer fs --json | jq -c "select($2)" | wc -l; }

# ---- a binary on an overlay of two tmpfs ----
policy "$T/ov.yaml" "$T/ov/merged/mycat"
OUT=$(timeout 300 unshare -m /bin/bash -c '
	set -e
	T=$1; WARD=$2
	mkdir -p "$T/ov/lo" "$T/ov/up" "$T/ov/merged"
	mount -t tmpfs ovlo "$T/ov/lo"
	mount -t tmpfs ovup "$T/ov/up"
	mkdir "$T/ov/up/up" "$T/ov/up/work"
	cp /usr/bin/cat "$T/ov/lo/mycat"
	cp /usr/bin/cat "$T/ov/lo/other"
	mount -t overlay ovl -o "lowerdir=$T/ov/lo,upperdir=$T/ov/up/up,workdir=$T/ov/up/work" "$T/ov/merged"
	echo "st_dev $(stat -c %d "$T/ov/merged/mycat") overlay $(awk -v m="$T/ov/merged" "\$5 == m { print \$3 }" /proc/self/mountinfo)"
	set +e
	cd "$T/wd"
	for b in mycat other; do
		timeout 120 "$WARD" run --policy "$T/ov.yaml" --log "$T/log/ov.db" --workdir "$T/wd" \
			-- "$T/ov/merged/$b" keys/id
		echo "RC $b $?"
	done
	true
' ov "$T" "$WARD" 2>&1)
echo "$OUT" | sed 's/^/  /'
check "two-tmpfs overlay: stat()'s st_dev is not the overlay's device (the case under test)" \
	awk '/^st_dev/ { split($4, d, ":"); exit !($2 != d[1] * 256 + d[2]) }' <<<"$OUT"
check "two-tmpfs overlay: the named binary reads the protected file" \
	grep -q "^RC mycat 0" <<<"$OUT"
check "  and its allow row names it" \
	[ "$(count "$T/log/ov.db" ".action == \"allow\" and .binary == \"$T/ov/merged/mycat\" and .path == \"$T/wd/keys/id\"")" = 1 ]
check "  another binary on the overlay is refused" grep -q "^RC other 1" <<<"$OUT"
check "  with a row naming it" \
	[ "$(count "$T/log/ov.db" ".action == \"deny\" and .binary == \"$T/ov/merged/other\" and .path == \"$T/wd/keys/id\"")" = 1 ]
check "  no fs row without a binary" [ "$(count "$T/log/ov.db" ".binary == null")" = 0 ]

# ---- ward chrooted into an overlay root (lower /, upper a tmpfs) ----
# /usr/bin/cat and /usr/bin/head come from the lower layer, the workdir and
# a copy of cat from the upper; the log from a directory bound from outside
policy "$T/root.yaml" /usr/bin/cat
OUT=$(timeout 300 unshare -m /bin/bash -c '
	set -e
	T=$1; WARD=$2; OV=$T/root-ov
	mount -t tmpfs rootov "$OV"
	mkdir "$OV/up" "$OV/work" "$OV/root"
	mount -t overlay rootov -o "lowerdir=/,upperdir=$OV/up,workdir=$OV/work" "$OV/root"
	mkdir -p /run/ward
	for d in proc sys dev run; do mount --rbind "/$d" "$OV/root/$d"; done
	R=$OV/root
	mkdir -p "$R$T/wd/keys" "$R$T/log" "$R$T/bin"
	mount --bind "$T/log" "$R$T/log"
	cp "$T/root.yaml" "$R$T/root.yaml"
	echo the-secret >"$R$T/wd/keys/id"
	cp /usr/bin/cat "$R$T/wd/copycat"
	chmod -R a+rX "$R$T"
	echo "st_dev $(stat -c %d "$R/usr/bin/cat") overlay $(awk -v m="$R" "\$5 == m { print \$3 }" /proc/self/mountinfo)"
	set +e
	chroot "$R" /bin/sh -c "cd $T/wd
		for b in /usr/bin/cat /usr/bin/head $T/wd/copycat; do
			timeout 120 $WARD run --policy $T/root.yaml --log $T/log/root.db --workdir $T/wd \
				-- \$b keys/id
			echo RC \$(basename \$b) \$?
		done"
	true
' root "$T" "$WARD" 2>&1)
echo "$OUT" | sed 's/^/  /'
check "overlay root: stat()'s st_dev is not the overlay's device (the case under test)" \
	awk '/^st_dev/ { split($4, d, ":"); exit !($2 != d[1] * 256 + d[2]) }' <<<"$OUT"
check "overlay root: the named binary (lower layer) reads the protected file" \
	grep -q "^RC cat 0" <<<"$OUT"
# ward, chrooted, reads the sandbox's paths through /proc: outside its own
# root they come with the chroot's prefix (docs/kernels.md), so the rows are
# matched on their end
check "  and its allow row names it" \
	[ "$(count "$T/log/root.db" ".action == \"allow\" and (.binary | endswith(\"/usr/bin/cat\")) and (.path | endswith(\"$T/wd/keys/id\"))")" = 1 ]
check "  another binary is refused" grep -q "^RC head 1" <<<"$OUT"
check "  a copy of the named one (upper layer) is refused" grep -q "^RC copycat 1" <<<"$OUT"
check "  with rows naming them" \
	[ "$(count "$T/log/root.db" ".action == \"deny\" and ((.binary | endswith(\"$T/wd/copycat\")) or (.binary | endswith(\"/usr/bin/head\")))")" = 2 ]
check "  no fs row without a binary" [ "$(count "$T/log/root.db" ".binary == null")" = 0 ]
finish
