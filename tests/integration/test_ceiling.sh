#!/bin/bash
# SPDX-License-Identifier: MIT
# The org ceiling (docs/policy.md, "The org ceiling") as users meet it:
# `ward policy check --org` (exit status, both positions of each violation);
# `ward run` with WARD_STATE pointing to a temp state directory whose
# host/policy.yaml is the host policy in force: a widening policy is refused
# with both positions and exit 125 before the command runs, a narrowing one
# runs it, no file means no ceiling, a host policy that does not compile
# refuses, a --watch edit that widens is not applied; and the daemon (temp socket, state and log): sandbox.create,
# sandbox.start and policy.apply refused with both positions and a deny
# control row. Root only (ward run, the daemon); no network needed.
set -u
. "$(dirname "$0")/lib.sh"
need_root
for t in sqlite3 findmnt; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
[ -n "$(findmnt -t cgroup2 -n -o TARGET | head -1)" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(test_tmpdir ward-test-ceiling)
chmod 755 "$T"
DPID=
cleanup() {
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/state/host" "$T/work"
chmod 777 "$T/work"

# the host policy (org ceiling); line numbers matter below
cat >"$T/org.yaml" <<'EOF'
version: 1
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: "*.example.test", port: 443, protocol: rest, access: read-only }
      - { host: pkg.example.test, port: 80 }
EOF
cat >"$T/narrow.yaml" <<'EOF'
version: 1
extends: [deny-all]
filesystem_policy:
  include_workdir: true
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: api.example.test, port: 443, protocol: rest,
          rules: [{ allow: { method: GET, path: "/v1/**" } }] }
EOF
cat >"$T/wide.yaml" <<'EOF'
version: 1
extends: [deny-all]
filesystem_policy:
  include_workdir: true
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: api.example.test, port: 443, protocol: rest, access: read-write }
      - { host: other.test, port: 443 }
  py:
    binaries: [{ path: /usr/bin/python3 }]
    endpoints:
      - { host: pkg.example.test, port: 80 }
EOF
cat >"$T/want" <<EOF
$T/wide.yaml:9:9: error: web (/usr/bin/curl) -> api.example.test:443 POST, PUT, PATCH, DELETE /** (access: read-write) is not allowed by the host policy
ORG:6:9: note: the host policy's closest rule for /usr/bin/curl is here
$T/wide.yaml:10:9: error: web (/usr/bin/curl) -> other.test:443 is not allowed by the host policy
ORG:6:9: note: the host policy's closest rule for /usr/bin/curl is here
$T/wide.yaml:12:16: error: network access of py (/usr/bin/python3) is not allowed by the host policy
ORG:2:1: note: the host policy has no rule for /usr/bin/python3
EOF
want() { sed "s|^ORG:|$1:|" "$T/want"; } # the host policy's file name

rc() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

# --- ward policy check --org
check "check --org: a narrower policy exits 0" \
	[ "$(rc "$WARD" policy check --org "$T/org.yaml" "$T/narrow.yaml")" = 0 ]
check "... and says it is within the ceiling" \
	grep -qx "$T/narrow.yaml: ok (rev [0-9a-f]\{12\}), within the ceiling" "$T/out"
check "... nothing on stderr" [ ! -s "$T/err" ]
check "check --org: a wider policy exits 1" \
	[ "$(rc "$WARD" policy check --org="$T/org.yaml" "$T/narrow.yaml" "$T/wide.yaml")" = 1 ]
check "... each violation with both positions" diff -u <(want "$T/org.yaml") "$T/err"
check "... the narrower file is still ok" grep -q "^$T/narrow.yaml: ok" "$T/out"
check "... the wider one is not" sh -c "! grep -q '^$T/wide.yaml: ok' '$T/out'"
check "check without --org: the wider policy is valid" \
	[ "$(rc "$WARD" policy check "$T/wide.yaml")" = 0 ]
printf 'version: 1\nnetwork_policies: 3\n' >"$T/badorg.yaml"
check "an invalid ceiling exits 1" \
	[ "$(rc "$WARD" policy check --org "$T/badorg.yaml" "$T/narrow.yaml")" = 1 ]
check "... with its own position" grep -q "^$T/badorg.yaml:2:" "$T/err"
check "--org without a file is a usage error" [ "$(rc "$WARD" policy check --org)" = 2 ]

# --- ward run under the host policy in force
run() { # POLICY: ward run, the command leaves a mark in the workdir
	rm -f "$T/work/ran"
	WARD_STATE=$T/state "$WARD" run --policy "$1" --log "$T/run.db" --workdir "$T/work" \
		-- /bin/sh -c 'touch ran' >"$T/out" 2>"$T/err"
	echo $?
}
check "no host policy: a wider policy runs" [ "$(run "$T/wide.yaml")" = 0 ]
check "... the command ran" test -e "$T/work/ran"
cp "$T/org.yaml" "$T/state/host/policy.yaml"
r=$(run "$T/wide.yaml")
check "host policy in force: a wider policy exits 125 ($r)" [ "$r" = 125 ]
check "... the command did not run" test ! -e "$T/work/ran"
head -n 6 "$T/err" >"$T/err6"
check "... each violation with both positions" \
	diff -u <(want "$T/state/host/policy.yaml") "$T/err6"
check "... then one line saying why nothing ran" \
	grep -qx "ward: policy $T/wide.yaml widens the host policy in force ($T/state/host/policy.yaml): 3 violations" "$T/err"
r=$(run "$T/narrow.yaml")
check "host policy in force: a narrower policy runs, exit 0 ($r: $(head -c 300 "$T/err"))" [ "$r" = 0 ]
check "... the command ran" test -e "$T/work/ran"
# --watch: an edit that widens is not applied, the policy in force stays
cp "$T/narrow.yaml" "$T/watch.yaml"
rm -f "$T/work/started" "$T/work/go"
WARD_STATE=$T/state "$WARD" run --watch --policy "$T/watch.yaml" --log "$T/run.db" \
	--workdir "$T/work" -- /bin/sh -c 'touch started; while [ ! -e go ]; do sleep 0.1; done' \
	>/dev/null 2>"$T/werr" &
WPID=$!
for _ in $(seq 300); do [ -e "$T/work/started" ] && break; sleep 0.1; done
check "--watch: the command started" test -e "$T/work/started"
cat "$T/wide.yaml" >"$T/watch.yaml"
for _ in $(seq 300); do grep -q "not applied" "$T/werr" && break; sleep 0.1; done
check "--watch: a wider edit is not applied" grep -q "^ward: policy $T/watch.yaml not applied: rev" "$T/werr"
check "... with both positions" grep -q "^$T/watch.yaml:10:9: error: web (/usr/bin/curl) -> other.test:443 is not allowed by the host policy" "$T/werr"
touch "$T/work/go"
wait "$WPID"
check "... the command ends normally ($?)" test $? -eq 0
check "... a deny control row" test "$(sqlite3 "$T/run.db" "select count(*) from decisions where
	layer = 'control' and action = 'deny' and reason like '%is not allowed by the host policy%'")" -ge 1

printf 'version: 1\nnetwork_policies: [\n' >"$T/state/host/policy.yaml"
r=$(run "$T/narrow.yaml")
check "a host policy that does not compile refuses: 125 ($r)" [ "$r" = 125 ]
check "... saying so" grep -q "host policy in force ($T/state/host/policy.yaml) does not compile" "$T/err"
check "... the command did not run" test ! -e "$T/work/ran"

# --- the daemon: sandbox.create, sandbox.start and policy.apply
export WARD_SOCKET=$T/ward.sock
rm -f "$T/state/host/policy.yaml"
"$WARD" daemon --socket "$WARD_SOCKET" --state "$T/dstate" --log "$T/d.db" >"$T/daemon.out" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$WARD_SOCKET" ] && break; sleep 0.1; done
check "the daemon listens" test -S "$WARD_SOCKET"
# a sandbox made before the host policy, with the wider policy
check "create before the ceiling" [ "$(rc "$WARD" sandbox create early --policy "$T/wide.yaml" --workdir "$T/work")" = 0 ]
check "... stop it" [ "$(rc "$WARD" sandbox stop early)" = 0 ]
mkdir -p "$T/dstate/host"
cp "$T/org.yaml" "$T/dstate/host/policy.yaml"
check "create with a wider policy exits 1" \
	[ "$(rc "$WARD" sandbox create wide --policy "$T/wide.yaml" --workdir "$T/work")" = 1 ]
check "... each violation with both positions" \
	diff -u <(want "$T/dstate/host/policy.yaml") "$T/err"
check "... nothing was created" sh -c "! '$WARD' sandbox list --json | grep -q '\"wide\"'"
check "start of a sandbox whose policy is wider exits 1" [ "$(rc "$WARD" sandbox start early)" = 1 ]
check "... with both positions" grep -q "^$T/wide.yaml:10:9: error: .* -> other.test:443 is not allowed" "$T/err"
check "create with a narrower policy" \
	[ "$(rc "$WARD" sandbox create box --policy "$T/narrow.yaml" --workdir "$T/work")" = 0 ]
check "apply of a wider policy exits 1" [ "$(rc "$WARD" policy apply box "$T/wide.yaml")" = 1 ]
check "... each violation with both positions" \
	diff -u <(want "$T/dstate/host/policy.yaml") "$T/err"
check "... --dry-run too" [ "$(rc "$WARD" policy apply box "$T/wide.yaml" --dry-run)" = 1 ]
rev=$("$WARD" policy check "$T/narrow.yaml" | sed -n 's/.*rev \([0-9a-f]*\).*/\1/p')
check "... the narrower policy stays (rev $rev)" sh -c "'$WARD' sandbox list --json | grep '\"box\"' | grep -q '\"policy_rev\": *\"$rev'"
check "apply of the same narrower policy" [ "$(rc "$WARD" policy apply box "$T/narrow.yaml")" = 0 ]
"$WARD" sandbox rm box >/dev/null 2>&1
"$WARD" sandbox rm early >/dev/null 2>&1
kill "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
DPID=
rows() { # VERB: deny control rows of VERB whose reason names the host policy
	sqlite3 "$T/d.db" "select count(*) from decisions where layer = 'control' and
		action = 'deny' and rule = '$1' and reason like '%is not allowed by the host policy%'"
}
check "a deny control row for sandbox.create ($(rows sandbox.create))" [ "$(rows sandbox.create)" -ge 1 ]
check "... for sandbox.start ($(rows sandbox.start))" [ "$(rows sandbox.start)" -ge 1 ]
check "... for policy.apply ($(rows policy.apply))" [ "$(rows policy.apply)" -ge 2 ]

finish
