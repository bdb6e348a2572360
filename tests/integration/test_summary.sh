#!/bin/bash
# SPDX-License-Identifier: MIT
# ward run's refusal summary at exit: printed on a terminal (script(1) gives
# ward a pty), with counts per layer, the refused destinations and the policy
# lines that would allow them; never printed when stderr is not a terminal.
set -eu
. "$(dirname "$0")/lib.sh"
need_root
command -v script >/dev/null || { echo "SKIP: needs script(1) (bsdutils)"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(test_tmpdir ward-test-summary)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
cat >"$T/p.yaml" <<'YAML'
version: 1
extends: [deny-all]
filesystem_policy:
  include_workdir: true # python3 reads its cwd (a refusal more where it is not /tmp)
  read_only: [/etc]
network_policies:
  curl:
    binaries: [{ path: /usr/bin/curl }]
    endpoints: [{ host: example.com, port: 443 }]
YAML
# three refusals: a file outside the policy's paths (fs), a connect by a
# binary without a network policy (kernel), twice
CMD='cat /etc/shadow; for i in 1 2; do python3 -c "import socket; socket.create_connection((\"192.0.2.7\", 80), 1)" 2>/dev/null; done; exit 0'

script -qec "$WARD run --log $T/log.db --policy $T/p.yaml --workdir $T -- sh -c '$CMD'" /dev/null \
	>"$T/tty.out" 2>&1 || true
OUT=$(tr -d '\r' <"$T/tty.out")
check "summary on a terminal" grep -q "^ward: 3 refusals in sandbox [0-9a-f]\{12\} (kernel 2, fs 1):" <<<"$OUT"
check "most frequent first, with binary and destination" \
	grep -qE "^ +2 +kernel +/usr/bin/python3[.0-9]* +192\.0\.2\.7:80 +binary has no network policy" <<<"$OUT"
check "the fs refusal" grep -qE "^ +1 +fs +/usr/bin/cat +/etc/shadow" <<<"$OUT"
check "the policy line that would allow the connect" \
	grep -qE "^  network_policies\.python3[.0-9]*: \{ binaries: \[\{ path: /usr/bin/python3[.0-9]* \}\], endpoints: \[\{ host: 192\.0\.2\.7, port: 80 \}\] \}" <<<"$OUT"
check "the policy line that would allow the read" grep -q "^  filesystem_policy.read_only: \[/etc/shadow\]" <<<"$OUT"
ID=$(sed -n 's/^ward: 3 refusals in sandbox \([0-9a-f]*\).*/\1/p' <<<"$OUT")
check "the command that lists all of them" grep -q "^All of them: ward policy suggest --log $T/log.db --sandbox $ID" <<<"$OUT"
check "the counts are the log's" [ "$(sqlite3 "$T/log.db" "SELECT count(*) FROM decisions WHERE sandbox = '$ID' AND action = 'deny'")" = 3 ]
[ "$FAILED" = 0 ] || { cat "$T/tty.out"; "$WARD" logs --log "$T/log.db" --action deny; }

# not a terminal: nothing
"$WARD" run --log "$T/log.db" --policy "$T/p.yaml" --workdir "$T" -- sh -c "$CMD" >"$T/plain.out" 2>&1 || true
check "no summary when stderr is not a terminal" sh -c "! grep -q 'refusals in sandbox' '$T/plain.out'"
finish
