#!/bin/bash
# SPDX-License-Identifier: MIT
# Identity you can trust (docs/egress.md, "Identity"; issue 14 item 3, issue
# 17 item 4), through `ward run` on the real kernel. A policy allows a copy of
# python (owned by the sandbox's user, so that the sandbox itself may copy,
# link, rename and delete it) to an upstream in a network namespace:
#  - the original connects; a copy, a hard link in another directory (same
#    name), a hard link under another name, the file moved to another
#    directory (same name) or renamed in its directory, and a memfd holding
#    its bytes (fexecve) get nothing; the original still connects after the
#    links, and again once moved back;
#  - a running process whose executable is renamed, then deleted (while
#    another hard link of it remains), loses its network at once (renamed
#    back: has it again);
#  - on an overlay root (ward itself chrooted into an overlay mount whose
#    lower layer is / and upper a tmpfs: layers on different filesystems, so
#    stat()'s st_dev is not the device the kernel reads), in the sandbox's
#    own mount namespace below it: the allowed binary connects and its rows
#    name it; a copy and a rename get nothing;
#  - a file bind-mounted over the path the policy names connects;
#  - on btrfs (a loop file, when mkfs.btrfs is installed), in a subvolume:
#    the allowed binary connects and its rows name it.
# Every mount is made inside `unshare -m`. Addresses: 10.213.26.0/24.
set -u

. "$(dirname "$0")/lib.sh"
need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
WARD=$(readlink -f "$WARD")
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
grep -qw overlay /proc/filesystems || { echo "SKIP: no overlayfs"; exit 77; }
for c in python3 sqlite3 ip unshare chroot; do
	command -v $c >/dev/null || { echo "SKIP: needs $c"; exit 77; }
done
PY=$(readlink -f /usr/bin/python3)

NS=ident$$
VETH=identv$$
T=$(test_tmpdir ward-test-idtrust)
chmod 755 "$T"
SRV=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$VETH" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
UID_=4251
mkdir -p "$T/rw/bin" "$T/rw/copy" "$T/rw/hl" "$T/rw/mv" "$T/ro" "$T/ov" "$T/ovlog" "$T/bt"
cp "$PY" "$T/rw/bin/py"
chown -R "$UID_:$UID_" "$T/rw"
cp "$PY" "$T/ro/py"

ip netns add "$NS" || { echo "SKIP: ip netns add"; exit 77; }
ip link add "$VETH" type veth peer name up0 netns "$NS"
ip addr add 10.213.26.1/24 dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" addr add 10.213.26.2/24 dev up0
ip -n "$NS" link set up0 up
ip -n "$NS" link set lo up
mkdir "$T/www" && echo "hello from upstream" >"$T/www/index.html"
(cd "$T/www" && exec ip netns exec "$NS" "$PY" -m http.server 8080 --bind 10.213.26.2 \
	>/dev/null 2>&1) &
SRV=$!
for _ in $(seq 50); do
	"$PY" -c 'import urllib.request as u; u.urlopen("http://10.213.26.2:8080/", timeout=1)' \
		2>/dev/null && break
	sleep 0.1
done
printf '10.213.26.2 up.test\n' >"$T/hosts"
chmod 644 "$T/hosts"

# client.py LABEL [selfrename|selfdelete]: "OK LABEL" when up.test answers,
# "NO LABEL" when not; with an action, once before and once after it
cat >"$T/ro/client.py" <<'EOF'
import os, sys, urllib.request
def get(label):
    try:
        urllib.request.urlopen("http://up.test:8080/", timeout=5).read()
        print("OK", label, flush=True)
    except Exception as e:
        print("NO", label, type(e).__name__, flush=True)
label = sys.argv[1]
act = sys.argv[2] if len(sys.argv) > 2 else ""
exe = os.readlink("/proc/self/exe")
if act == "selfrename":
    get(label + "-before")
    os.rename(exe, exe + "-renamed")
    get(label + "-renamed")
    os.rename(exe + "-renamed", exe)
    get(label + "-back")
elif act == "selfdelete":
    get(label + "-before")
    os.unlink(exe)
    get(label + "-deleted")
else:
    get(label)
EOF
# memfd.py: the running interpreter's bytes in a memfd, executed from it
# (fd left open across the exec: it is the executable)
cat >"$T/ro/memfd.py" <<'EOF'
import os, sys
fd = os.memfd_create("py", 0)
os.set_inheritable(fd, True)
with open("/proc/self/exe", "rb") as f:
    os.write(fd, f.read())
# by its /proc/self/fd name: the sandbox refuses execveat(AT_EMPTY_PATH)
os.execv("/proc/self/fd/%d" % fd, ["py", sys.argv[1], "memfd"])
EOF
chmod 755 "$T/ro"/*

policy() { # policy FILE BINARY
	cat >"$1" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T/ro, $T/bt]
  read_write: [$T/rw]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  web:
    binaries: [{ path: $2 }]
    endpoints: [{ host: up.test, port: 8080 }]
EOF
}
policy "$T/policy.yaml" "$T/rw/bin/py"
mkdir "$T/wd"

LOG=$T/log.db
run() { # run POLICY LOG CMD...
	local pol=$1 log=$2
	shift 2
	OUT=$(timeout 120 "$WARD" run --policy "$pol" --log "$log" --hosts "$T/hosts" \
		--workdir "$T/wd" -- "$@" 2>&1)
	RC=$?
}
ok() { grep -q "^OK $1\$" <<<"$OUT"; }
no() { grep -q "^NO $1 " <<<"$OUT"; }
q() { sqlite3 "$1" "$2"; }

# ---- copy, links, rename, memfd, deletion ----
P=$T/rw/bin/py
C=$T/ro/client.py
run "$T/policy.yaml" "$LOG" /bin/sh -c "
	'$P' '$C' orig
	cp '$P' '$T/rw/copy/py' && '$T/rw/copy/py' '$C' copy
	ln '$P' '$T/rw/hl/py' && '$T/rw/hl/py' '$C' hardlink
	ln '$P' '$T/rw/bin/py-link' && '$T/rw/bin/py-link' '$C' hardlink-name
	'$P' '$C' orig-after-links
	rm -f '$T/rw/hl/py' '$T/rw/bin/py-link'
	mv '$P' '$T/rw/mv/py' && '$T/rw/mv/py' '$C' moved; mv '$T/rw/mv/py' '$P'
	mv '$P' '$T/rw/bin/py2' && '$T/rw/bin/py2' '$C' renamed; mv '$T/rw/bin/py2' '$P'
	'$P' '$C' orig-back
	'$P' '$T/ro/memfd.py' '$C'
	'$P' '$C' running selfrename
	ln '$P' '$T/rw/hl/keep' && '$P' '$C' running selfdelete
	true"
echo "$OUT" | sed 's/^/  /'
check "the allowed binary connects" ok orig
check "a copy of it gets nothing" no copy
check "a hard link in another directory (same name) gets nothing" no hardlink
check "a hard link under another name gets nothing" no hardlink-name
check "the original still connects after the links" ok orig-after-links
check "moved to another directory (same name): nothing" no moved
check "renamed in its directory: nothing" no renamed
check "moved back where the policy names it: connects again" ok orig-back
check "executed from a memfd holding its bytes: nothing" no memfd
check "a running process connects..." ok running-before
check "...loses its network when its executable is renamed" no running-renamed
check "...has it again when renamed back" ok running-back
check "...loses it when its executable is deleted (another hard link left)" no running-deleted
check "rows: the allowed binary's allows name it" \
	[ "$(q "$LOG" "select count(*) from decisions where action='allow' and layer='l7'
		and binary='$P'")" -ge 4 ]
check "rows: no allow names the copy" \
	[ "$(q "$LOG" "select count(*) from decisions where action='allow'
		and layer in ('kernel','proxy','l7') and binary='$T/rw/copy/py'")" = 0 ]
check "rows: the copy's refusal names the copy" \
	[ "$(q "$LOG" "select count(*) from decisions where action='deny' and layer='kernel'
		and binary='$T/rw/copy/py'")" -gt 0 ]

# ---- an overlay root: lower /, upper a tmpfs ----
# ward in a mount namespace of its own, chrooted into the overlay; the log
# goes to a directory bound from outside (the upper layer dies with the
# namespace); the sandbox's mount namespace is a second one below it.
policy "$T/ov.yaml" "$T/ro/py"
OVLOG=$T/ovlog/log.db
OUT=$(timeout 180 unshare -m /bin/bash -c '
	set -e
	OV=$1; T=$2; WARD=$3
	mount -t tmpfs identov "$OV"
	mkdir "$OV/up" "$OV/work" "$OV/root"
	mount -t overlay identov -o "lowerdir=/,upperdir=$OV/up,workdir=$OV/work" "$OV/root"
	# /run too: ward claims its sandbox network index in /run/ward
	mkdir -p /run/ward
	for d in proc sys dev run; do mount --rbind "/$d" "$OV/root/$d"; done
	mount --bind "$T/ovlog" "$OV/root$T/ovlog"
	echo "st_dev $(stat -c %d "$OV/root$T/ro/py") mount $(stat -c %d "$OV/root$T/ro")"
	set +e
	chroot "$OV/root" "$WARD" run --policy "$T/ov.yaml" --log "$T/ovlog/log.db" \
		--hosts "$T/hosts" --workdir "$T/wd" -- /bin/sh -c "
		\"$T/ro/py\" \"$T/ro/client.py\" overlay
		cp \"$T/ro/py\" \"$T/rw/copy/ovpy\" && \"$T/rw/copy/ovpy\" \"$T/ro/client.py\" overlay-copy
		true"
	# a rename on the overlay (copied up to the tmpfs), as root, outside the sandbox
	mv "$OV/root$T/ro/py" "$OV/root$T/ro/py-renamed"
	chroot "$OV/root" "$WARD" run --policy "$T/ov.yaml" --log "$T/ovlog/log.db" \
		--hosts "$T/hosts" --workdir "$T/wd" -- /bin/sh -c "
		\"$T/ro/py-renamed\" \"$T/ro/client.py\" overlay-renamed; true"
	true
' identov "$T/ov" "$T" "$WARD" 2>&1)
echo "$OUT" | grep -E '^(OK|NO|st_dev) ' | sed 's/^/  /'
check "overlay: the layer's st_dev differs from the overlay's (the case under test)" \
	awk '/^st_dev/ { exit !($2 != $4) } END { }' <<<"$OUT"
check "overlay: the allowed binary connects" ok overlay
check "overlay: its rows name it (binary not null)" \
	[ "$(q "$OVLOG" "select count(*) from decisions where action='allow'
		and layer in ('kernel','l7') and binary='$T/ro/py'")" -gt 0 ]
check "overlay: no row without a binary" \
	[ "$(q "$OVLOG" "select count(*) from decisions where layer in ('kernel','proxy','l7')
		and (binary is null or binary like 'inode %')")" = 0 ]
check "overlay: a copy gets nothing" no overlay-copy
check "overlay: renamed (copied up): nothing" no overlay-renamed

# ---- a file bind-mounted over the path the policy names ----
# the kernel's dentry is the source's (another name, another directory):
# the identity pins its ctime instead
: >"$T/ro/bound"
policy "$T/bind.yaml" "$T/ro/bound"
BDLOG=$T/ovlog/bind.db
OUT=$(timeout 180 unshare -m /bin/bash -c '
	T=$1; WARD=$2
	mount --bind "$T/ro/py" "$T/ro/bound" || exit 1
	"$WARD" run --policy "$T/bind.yaml" --log "$T/ovlog/bind.db" --hosts "$T/hosts" \
		--workdir "$T/wd" -- /bin/sh -c "
		\"$T/ro/bound\" \"$T/ro/client.py\" bound
		cp \"$T/ro/bound\" \"$T/rw/copy/bound\" && \"$T/rw/copy/bound\" \"$T/ro/client.py\" bound-copy
		true"
' identbind "$T" "$WARD" 2>&1)
echo "$OUT" | grep -E '^(OK|NO) ' | sed 's/^/  /'
check "bind-mounted file: the allowed binary connects" ok bound
check "bind-mounted file: its rows name it" \
	[ "$(q "$BDLOG" "select count(*) from decisions where action='allow'
		and layer in ('kernel','l7') and binary='$T/ro/bound'")" -gt 0 ]
check "bind-mounted file: a copy gets nothing" no bound-copy

# ---- btrfs: a subvolume on a loop file ----
if command -v mkfs.btrfs >/dev/null && grep -qw btrfs /proc/filesystems; then
	policy "$T/bt.yaml" "$T/bt/sv/py"
	BTLOG=$T/ovlog/bt.db
	OUT=$(timeout 180 unshare -m /bin/bash -c '
		set -e
		T=$1; PY=$2; WARD=$3
		truncate -s 160M "$T/bt.img"
		mkfs.btrfs -q "$T/bt.img" >/dev/null
		mount -o loop "$T/bt.img" "$T/bt"
		btrfs subvolume create "$T/bt/sv" >/dev/null
		cp "$PY" "$T/bt/sv/py"
		echo "st_dev $(stat -c %d "$T/bt/sv/py") mount $(awk -v m="$T/bt" "\$5 == m { print \$3 }" /proc/self/mountinfo)"
		set +e
		"$WARD" run --policy "$T/bt.yaml" --log "$T/ovlog/bt.db" --hosts "$T/hosts" \
			--workdir "$T/wd" -- "$T/bt/sv/py" "$T/ro/client.py" btrfs
		umount "$T/bt"
		true
	' identbt "$T" "$PY" "$WARD" 2>&1)
	echo "$OUT" | grep -E '^(OK|NO|st_dev) ' | sed 's/^/  /'
	if grep -q '^st_dev' <<<"$OUT"; then
		check "btrfs: the allowed binary in a subvolume connects" ok btrfs
		check "btrfs: its rows name it" \
			[ "$(q "$BTLOG" "select count(*) from decisions where action='allow'
				and layer in ('kernel','l7') and binary='$T/bt/sv/py'")" -gt 0 ]
	else
		echo "$OUT" | tail -5
		skip "btrfs: no btrfs on a loop file here"
	fi
else
	skip "btrfs: mkfs.btrfs not installed"
fi

finish
