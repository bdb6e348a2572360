# SPDX-License-Identifier: MIT
# `ward policy test POLICY CASES.yaml [--json]` as a user runs it: every
# example policy against its policies/examples/NAME.test.yaml (exit 0, all
# passed); failing cases printed as CASES:LINE:COL with the verdict and rule
# actually made (exit 1); bad cases files with FILE:LINE:COL (exit 1); usage
# errors (exit 2); the JSON report. No root.
set -u
. "$(dirname "$0")/lib.sh"

T=$(test_tmpdir ptest-test)
trap 'rm -rf "$T"' EXIT
rc() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

# --- the example policies' own tests (make check runs these)
for want in developer claude-code codex org-egress; do
	check "policies/examples/$want.test.yaml exists" [ -f "policies/examples/$want.test.yaml" ]
done
for cases in policies/examples/*.test.yaml; do
	policy=${cases%.test.yaml}.yaml
	r=$(rc "$WARD" policy test "$policy" "$cases")
	n=$(grep -c '^  - ' "$cases")
	check "$cases: exit 0" [ "$r" = 0 ]
	check "$cases: $n cases, all passed" \
		grep -qx "$n cases, $n passed, 0 failed" "$T/out"
	[ "$r" = 0 ] || cat "$T/out" "$T/err"
done

# --- failing cases: the position, the verdict and rule actually made
cat >"$T/fail.yaml" <<'EOF2'
cases:
  - { binary: /usr/bin/curl, host: github.com, port: 443, expect: allow }
  - { binary: /usr/bin/git, host: github.com, port: 443, expect: allow, rule: npm }
  - name: pypi resolves for python
    binary: /usr/bin/python3.11
    dns: pypi.org
    expect: allow
  - { binary: /usr/bin/cat, file: /etc/shadow, access: write, expect: allow }
  - { binary: /usr/bin/node, model: gpt-5, expect: allow }
EOF2
check "failing cases: exit 1" \
	[ "$(rc "$WARD" policy test policies/examples/developer.yaml "$T/fail.yaml")" = 1 ]
cat >"$T/want" <<EOF2
$T/fail.yaml:2:5: expected allow, got deny (rule github: binary /usr/bin/curl is in no network policy)
$T/fail.yaml:3:5: expected rule npm, got allow (rule github: allowed by github)
$T/fail.yaml:8:5: expected allow, got deny (rule /etc: /etc is mapped read-only)
$T/fail.yaml:9:5: expected allow, got deny (rule none: no inference routes)
5 cases, 1 passed, 4 failed
EOF2
check "failing cases: the lines" cmp -s "$T/want" "$T/out" || diff "$T/want" "$T/out"

check "--json: exit 1" \
	[ "$(rc "$WARD" policy test --json policies/examples/developer.yaml "$T/fail.yaml")" = 1 ]
check "--json: counts and results" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert (d["cases"], d["passed"], d["failed"]) == (5, 1, 4), d
r = d["results"]
assert [x["pass"] for x in r] == [False, False, True, False, False], r
assert r[0]["line"] == 2 and r[0]["col"] == 5 and r[0]["action"] == "deny"
assert r[2]["name"] == "pypi resolves for python" and r[2]["rule"] == "pypi"
assert r[1]["expect_rule"] == "npm" and r[1]["rule"] == "github"
' "$T/out"

# --- bad input: FILE:LINE:COL, exit 1
bad() { # NAME WANT-MESSAGE: $T/bad.yaml must fail with WANT-MESSAGE on stderr
	local r
	r=$(rc "$WARD" policy test policies/examples/developer.yaml "$T/bad.yaml")
	check "$1: exit 1" [ "$r" = 1 ]
	check "$1: message" grep -qxF "$2" "$T/err" || cat "$T/err"
}
printf 'cases:\n  - { binary: /usr/bin/curl, hots: x, port: 443, expect: allow }\n' >"$T/bad.yaml"
bad "unknown key" "$T/bad.yaml:2:30: unknown key 'hots' (known: name, binary, host, port, method, path, dns, file, access, workdir, model, expect, rule)"
printf 'cases:\n  - { binary: /usr/bin/curl, host: x.com, port: 443 }\n' >"$T/bad.yaml"
bad "missing expect" "$T/bad.yaml:2:5: case without 'expect' (allow, deny or audit)"
printf 'cases:\n  - binary: /usr/bin/curl\n    host: x.com\n    port: [443]\n    expect: deny\n' >"$T/bad.yaml"
bad "wrong type" "$T/bad.yaml:4:11: 'port' must be a string"
printf 'cases:\n  - { binary: /usr/bin/curl, host: x.com, port: 443, expect: maybe }\n' >"$T/bad.yaml"
bad "bad expect" "$T/bad.yaml:2:62: expect must be allow, deny or audit, not 'maybe'"
printf 'cases:\n  - { binary: /usr/bin/cat, file: /etc/passwd, access: append, expect: deny }\n' >"$T/bad.yaml"
bad "bad access" "$T/bad.yaml:2:56: access must be read, write or exec, not 'append'"
printf 'cases: [\n' >"$T/bad.yaml"
check "syntax error: exit 1" \
	[ "$(rc "$WARD" policy test policies/examples/developer.yaml "$T/bad.yaml")" = 1 ]
check "syntax error: FILE:LINE:COL" grep -q "^$T/bad.yaml:[0-9]*:[0-9]*: " "$T/err"
check "missing cases file: exit 1" \
	[ "$(rc "$WARD" policy test policies/examples/developer.yaml "$T/none.yaml")" = 1 ]

# --- usage
check "no arguments: exit 2" [ "$(rc "$WARD" policy test)" = 2 ]
check "one argument: exit 2" [ "$(rc "$WARD" policy test policies/examples/developer.yaml)" = 2 ]
check "unknown option: exit 2" \
	[ "$(rc "$WARD" policy test --nope policies/examples/developer.yaml "$T/fail.yaml")" = 2 ]
check "--help: exit 0" [ "$(rc "$WARD" policy test --help)" = 0 ]

finish
