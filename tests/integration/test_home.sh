#!/bin/bash
# SPDX-License-Identifier: MIT
# The sandbox account has a real home (/home/sandbox, 0700, its own; accounts
# of earlier wards with /nonexistent are moved there), and HOME inside is that
# home when the policy maps it — read-write and persistent across runs — else
# the private /tmp.
set -eu
. "$(dirname "$0")/lib.sh"
need_root
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(test_tmpdir ward-test-home)
chmod 755 "$T"
MARK=".ward-test-home-$$"
trap 'rm -rf "$T" "/home/sandbox/$MARK"' EXIT
pol() {
	cat >"$T/$1.yaml" <<YAML
version: 1
extends: [deny-all]
filesystem_policy:
  read_only: [/etc]
  read_write: [$2]
process: { run_as_user: sandbox, run_as_group: sandbox }
YAML
}
pol mapped /home/sandbox
pol unmapped /var/tmp

OUT=$("$WARD" run --log "$T/log.db" --policy "$T/mapped.yaml" --workdir "$T" -- \
	sh -c "echo HOME=\$HOME; echo kept >\"\$HOME/$MARK\" && echo wrote" 2>&1) || true
check "the account's home is /home/sandbox" [ "$(getent passwd sandbox | cut -d: -f6)" = /home/sandbox ]
check "the home is a 0700 directory of its own" \
	[ "$(stat -c '%a %U' /home/sandbox)" = "700 sandbox" ]
check "HOME inside is the mapped home" grep -q "^HOME=/home/sandbox$" <<<"$OUT"
check "the home is writable inside" grep -q "^wrote$" <<<"$OUT"
OUT=$("$WARD" run --log "$T/log.db" --policy "$T/mapped.yaml" --workdir "$T" -- \
	cat "/home/sandbox/$MARK" 2>&1) || true
check "what a run left in the home is there for the next" [ "$(no_layer_warnings <<<"$OUT")" = kept ]
OUT=$("$WARD" run --log "$T/log.db" --policy "$T/unmapped.yaml" --workdir "$T" -- \
	sh -c 'echo HOME=$HOME' 2>&1) || true
check "an unmapped home becomes the private /tmp" grep -q "^HOME=/tmp$" <<<"$OUT"
[ "$FAILED" = 0 ] || echo "$OUT"
finish
