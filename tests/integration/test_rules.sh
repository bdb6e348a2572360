#!/bin/bash
# SPDX-License-Identifier: MIT
# Lua rule packs (docs/rules.md) as users meet them: `ward policy check
# --rules` rejecting an example policy at the right positions; each shipped
# pack (policies/rules/) on a policy that breaks it and on a clean one; a
# pack that fails itself (syntax error, Lua error, instruction limit) fails
# the check closed at its own position; WARD_RULES_DIR applied by `ward run`
# (exit 125 with the positions, the command does not run) and by the daemon
# (sandbox create, policy apply: refused with the positions, a deny control
# row). Root only for ward run and the daemon; no network needed.
set -u
. "$(dirname "$0")/lib.sh"
need_root
for t in sqlite3 findmnt; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
[ -n "$(findmnt -t cgroup2 -n -o TARGET | head -1)" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(test_tmpdir ward-test-rules)
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
mkdir -p "$T/work" "$T/rules.d"
chmod 777 "$T/work"
# no packs of the machine's own /etc/ward/rules.d in the way
export WARD_RULES_DIR=$T/empty.d
R=policies/rules
export GH_TOKEN=ward-test-rules-not-a-secret # the clean policy's credential
EX=policies/examples

rc() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

# --- a pack of our own on an example policy
cat >"$T/org.lua" <<'EOF'
-- one port per endpoint; binary globs only with a warning
for _, e in ipairs(ward.endpoints()) do
	if #e.ports > 1 then
		ward.error(e, e.host .. " opens " .. #e.ports .. " ports")
	end
end
for _, b in ipairs(ward.binaries()) do
	if b.path and b.path:find("*", 1, true) and b.line > 0 then
		ward.warn(b, "binary glob " .. b.path)
	end
end
EOF
check "a pack rejects org-egress.yaml: exit 1" \
	[ "$(rc "$WARD" policy check --rules "$T/org.lua" $EX/org-egress.yaml)" = 1 ]
cat >"$T/want" <<EOF
$EX/org-egress.yaml:47:9: error: **.artifacts.corp.example opens 2 ports [pack org.lua:4]
$EX/org-egress.yaml:45:9: warning: binary glob /usr/bin/python3* [pack org.lua:9]
EOF
check "... at the right positions" diff -u "$T/want" "$T/err"
check "... and no ok line" test ! -s "$T/out"
check "--rules=PACK, and a policy the pack passes: exit 0" \
	[ "$(rc "$WARD" policy check --rules="$T/org.lua" $EX/developer.yaml)" = 0 ]
check "... saying the packs passed" \
	grep -qx "$EX/developer.yaml: ok (rev [0-9a-f]\{12\}), rule packs passed" "$T/out"
check "--rules without a file is a usage error" [ "$(rc "$WARD" policy check --rules)" = 2 ]
check "--rules of a missing file: exit 1" \
	[ "$(rc "$WARD" policy check --rules "$T/nope.lua" $EX/developer.yaml)" = 1 ]
check "... naming it" grep -q "$T/nope.lua" "$T/err"

# --- a pack that fails itself fails the check closed, at its own position
printf 'local x = 1\nif then\n' >"$T/syntax.lua"
check "a pack with a syntax error: exit 1" \
	[ "$(rc "$WARD" policy check --rules "$T/syntax.lua" $EX/deny-all.yaml)" = 1 ]
check "... PACK:LINE: error:" grep -qx "$T/syntax.lua:2: error: unexpected symbol near 'then'" "$T/err"
printf '\n\nlocal f = io.open("/etc/shadow")\n' >"$T/io.lua"
check "a pack that reaches for io: exit 1" \
	[ "$(rc "$WARD" policy check --rules "$T/io.lua" $EX/deny-all.yaml)" = 1 ]
check "... PACK:LINE: error:" grep -qx "$T/io.lua:3: error: attempt to index a nil value (global 'io')" "$T/err"
printf 'local n = 0\nwhile true do\n\tn = n + 1\nend\n' >"$T/loop.lua"
check "a pack that never ends: exit 1" \
	[ "$(rc "$WARD" policy check --rules "$T/loop.lua" $EX/deny-all.yaml)" = 1 ]
check "... the instruction limit at its line" \
	grep -q "^$T/loop.lua:[234]: error: rule pack instruction limit (50000000) exceeded$" "$T/err"

# --- each shipped pack: a policy that breaks it, and a clean one
cat >"$T/clean.yaml" <<'EOF'
version: 1
extends: [deny-all]
filesystem_policy:
  include_workdir: true
  read_write: [/tmp]
network_policies:
  gh:
    binaries: [{ path: /usr/bin/curl, ancestors: true }]
    endpoints:
      - { host: api.github.com, port: 443, protocol: rest, access: read-only }
environment:
  pass: [EDITOR]
credentials:
  - { name: gh, env: GH_TOKEN, host: api.github.com, port: 443,
      header: Authorization, format: "Bearer {}" }
EOF
cat >"$T/bad.yaml" <<'EOF'
version: 1
extends: [deny-all]
filesystem_policy:
  include_workdir: true
  read_write: [/tmp, /var/lib/data]
network_policies:
  gh:
    binaries:
      - { path: /usr/bin/python3.12, ancestors: true }
      - { path: /usr/bin/curl, ancestors: true }
    endpoints:
      - { host: api.github.com, port: 443, protocol: rest, enforcement: audit,
          access: read-only }
      - { host: evil.example, port: 443 }
      - { host: api.github.com.evil.example, port: 80, protocol: rest, access: full }
  shell:
    binaries: [{ path: /bin/bash, ancestors: true }]
    endpoints:
      - { host: github.com, port: 443 }
environment:
  pass: [EDITOR, MY_API_TOKEN, "DEPLOY_DSN*"]
credentials:
  - { name: gh, env: GH_TOKEN, host: api.github.com, port: 443,
      header: Authorization, format: "Bearer {}", scheme: http }
  - { name: plain, env: P_TOKEN, host: api.github.com.evil.example, port: 80,
      header: Authorization, format: "Bearer {}" }
EOF
B=$T/bad.yaml
pack() { # PACK WANT-LINES...: the pack rejects bad.yaml with exactly these, passes clean.yaml
	local p=$1
	shift
	printf '%s\n' "$@" >"$T/want"
	check "$p: bad.yaml exits 1" [ "$(rc "$WARD" policy check --rules $R/$p "$B")" = 1 ]
	check "$p: ... at the right positions" diff -u "$T/want" <(grep -v ': warning: ' "$T/err")
	check "$p: clean.yaml passes" [ "$(rc "$WARD" policy check --rules $R/$p "$T/clean.yaml")" = 0 ]
}
pack rest-enforced.lua \
	"$B:12:9: error: rest endpoint api.github.com:443 (policy gh) is in enforcement: audit; enforce it, or list it in config.trials of rest-enforced.lua [pack rest-enforced.lua:18]"
pack host-suffixes.lua \
	"$B:14:9: error: host evil.example (policy gh) is not under an allowed suffix (github.com, githubusercontent.com, npmjs.org, yarnpkg.com, pypi.org, pythonhosted.org, crates.io, anthropic.com, openai.com) [pack host-suffixes.lua:28]" \
	"$B:15:9: error: host api.github.com.evil.example (policy gh) is not under an allowed suffix (github.com, githubusercontent.com, npmjs.org, yarnpkg.com, pypi.org, pythonhosted.org, crates.io, anthropic.com, openai.com) [pack host-suffixes.lua:28]"
pack fs-workdir.lua \
	"$B:5:22: error: /var/lib/data is read-write: only the working directory and /tmp, /dev/null, /dev/zero, /dev/full, /dev/tty may be [pack fs-workdir.lua:23]"
pack cred-tls.lua \
	"$B:23:5: error: credential gh has scheme: http: the secret would cross the network in clear text [pack cred-tls.lua:14]" \
	"$B:25:5: error: credential plain is bound to api.github.com.evil.example:80, a plain-HTTP port [pack cred-tls.lua:17]"
pack no-ancestors-interp.lua \
	"$B:9:9: error: /usr/bin/python3.12 has ancestors: true: everything that interpreter runs would get its access [pack no-ancestors-interp.lua:22]" \
	"$B:17:16: error: /bin/bash has ancestors: true: everything that interpreter runs would get its access [pack no-ancestors-interp.lua:22]"
pack env-secrets.lua \
	"$B:21:18: error: environment.pass MY_API_TOKEN is a secret-looking name; use credentials: [pack env-secrets.lua:31]" \
	"$B:21:32: error: environment.pass DEPLOY_DSN* passes a secret-looking name; use credentials: [pack env-secrets.lua:31]"
all=()
for p in $R/*.lua; do all+=(--rules "$p"); done
check "every shipped pack at once: clean.yaml passes" \
	[ "$(rc "$WARD" policy check "${all[@]}" "$T/clean.yaml")" = 0 ]
for f in deny-all developer; do
	check "every shipped pack at once: $f.yaml passes" \
		[ "$(rc "$WARD" policy check "${all[@]}" $EX/$f.yaml)" = 0 ]
done

# --- WARD_RULES_DIR: ward policy check and ward run apply every pack in it
cp $R/rest-enforced.lua $R/fs-workdir.lua "$T/rules.d/"
echo 'error("not a pack: not *.lua")' >"$T/rules.d/README"
export WARD_RULES_DIR=$T/rules.d
check "check applies the directory's packs without --rules: exit 1" \
	[ "$(rc "$WARD" policy check "$B")" = 1 ]
check "... both packs reported" test "$(grep -c '\[pack \(rest-enforced\|fs-workdir\).lua:' "$T/err")" = 2
run() { # POLICY: ward run, the command leaves a mark in the workdir
	rm -f "$T/work/ran"
	"$WARD" run --policy "$1" --log "$T/run.db" --workdir "$T/work" \
		-- /bin/sh -c 'touch ran' >"$T/out" 2>"$T/err"
	echo $?
}
r=$(run "$B")
check "ward run of a policy that breaks a pack exits 125 ($r)" [ "$r" = 125 ]
check "... the command did not run" test ! -e "$T/work/ran"
check "... the positions" grep -q "^$B:12:9: error: rest endpoint api.github.com:443 .*\[pack rest-enforced.lua:18\]$" "$T/err"
check "... and" grep -q "^$B:5:22: error: /var/lib/data is read-write" "$T/err"
check "... then one line saying why nothing ran" \
	grep -qx "ward: policy $B breaks the rule packs: 2 errors" "$T/err"
r=$(run "$T/clean.yaml")
check "ward run of a clean policy runs, exit 0 ($r: $(head -c 300 "$T/err"))" [ "$r" = 0 ]
check "... the command ran" test -e "$T/work/ran"
# --watch: an edit that breaks a pack is not applied, the policy in force stays
cp "$T/clean.yaml" "$T/watch.yaml"
rm -f "$T/work/started" "$T/work/go"
"$WARD" run --watch --policy "$T/watch.yaml" --log "$T/run.db" --workdir "$T/work" \
	-- /bin/sh -c 'touch started; while [ ! -e go ]; do sleep 0.1; done' >/dev/null 2>"$T/werr" &
WPID=$!
for _ in $(seq 300); do [ -e "$T/work/started" ] && break; sleep 0.1; done
check "--watch: the command started" test -e "$T/work/started"
cat "$B" >"$T/watch.yaml"
for _ in $(seq 300); do grep -q "not applied" "$T/werr" && break; sleep 0.1; done
check "--watch: an edit that breaks a pack is not applied" \
	grep -q "^ward: policy $T/watch.yaml not applied: rev" "$T/werr"
check "... with the positions" grep -q "^$T/watch.yaml:12:9: error: rest endpoint .*\[pack rest-enforced.lua:18\]" "$T/werr"
touch "$T/work/go"
wait "$WPID"
check "... the command ends normally ($?)" test $? -eq 0
printf 'if then\n' >"$T/rules.d/zz-broken.lua"
r=$(run "$T/clean.yaml")
check "a broken pack in the directory refuses every run: 125 ($r)" [ "$r" = 125 ]
check "... at the pack's position" grep -qx "$T/rules.d/zz-broken.lua:1: error: unexpected symbol near 'then'" "$T/err"
check "... the command did not run" test ! -e "$T/work/ran"
rm "$T/rules.d/zz-broken.lua"

# --- the daemon: sandbox create and policy apply
export WARD_SOCKET=$T/ward.sock
"$WARD" daemon --socket "$WARD_SOCKET" --state "$T/dstate" --log "$T/d.db" >"$T/daemon.out" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$WARD_SOCKET" ] && break; sleep 0.1; done
check "the daemon listens" test -S "$WARD_SOCKET"
check "create with a policy that breaks a pack exits 1" \
	[ "$(rc "$WARD" sandbox create bad --policy "$B" --workdir "$T/work")" = 1 ]
check "... with the positions" grep -q "$B:12:9: error: rest endpoint .*\[pack rest-enforced.lua:18\]" "$T/err"
check "... nothing was created" sh -c "! '$WARD' sandbox list --json | grep -q '\"bad\"'"
# a pack that only warns: the warnings reach the client, the change goes through
printf 'for _, e in ipairs(ward.endpoints()) do ward.warn(e, "reviewed " .. e.host .. "?") end\n' \
	>"$T/rules.d/zz-warn.lua"
check "create with a clean policy" \
	[ "$(rc "$WARD" sandbox create box --policy "$T/clean.yaml" --workdir "$T/work")" = 0 ]
check "... the pack's warnings reach the client" \
	grep -q "^$T/clean.yaml:[0-9]*:[0-9]*: warning: reviewed .*? \[pack zz-warn.lua:1\]" "$T/err"
check "apply of a policy that breaks a pack exits 1" [ "$(rc "$WARD" policy apply box "$B")" = 1 ]
check "... with the positions" grep -q "$B:5:22: error: /var/lib/data is read-write" "$T/err"
check "apply of the clean policy" [ "$(rc "$WARD" policy apply box "$T/clean.yaml")" = 0 ]
check "... with the warnings" \
	grep -q "^$T/clean.yaml:[0-9]*:[0-9]*: warning: reviewed .*? \[pack zz-warn.lua:1\]" "$T/err"
rm "$T/rules.d/zz-warn.lua"
"$WARD" sandbox rm box >/dev/null 2>&1
kill "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
DPID=
rows() { # VERB: deny control rows of VERB whose reason names a pack
	sqlite3 "$T/d.db" "select count(*) from decisions where layer = 'control' and
		action = 'deny' and rule = '$1' and reason like '%[pack rest-enforced.lua:18]%'"
}
check "a deny control row for sandbox.create ($(rows sandbox.create))" [ "$(rows sandbox.create)" -ge 1 ]
check "... for policy.apply ($(rows policy.apply))" [ "$(rows policy.apply)" -ge 1 ]

finish
