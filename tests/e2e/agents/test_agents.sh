#!/bin/bash
# SPDX-License-Identifier: MIT
# Real coding agents under ward (docs/agents.md): Claude Code and Codex from
# the npm registry (pinned by package-lock.json here, installed once into the
# build tree), each run headless and on a terminal under `ward run` with the
# shipped example policy (policies/examples/claude-code.yaml, codex.yaml),
# against a scripted mock model (mock_model.py) behind https://inference.local
# that tells the agent to: write a file in the workdir, fetch a host outside
# the policy, read a secret outside the policy, resolve an exfiltration DNS
# name. Asserts what an auditor looks for: the file, the deny rows, the
# NXDOMAIN, the usage rows naming the agent's executable, and the secret
# nowhere in what reached the model.
#
# The agents are installed where `npm install -g` puts them
# (/usr/lib/node_modules) and the state directories where the examples name
# them (/home/sandbox/.claude, /home/sandbox/.codex), by bind mounts in a
# mount namespace of the test's own (unshare -m: the host's /usr, /home and
# /root are never touched); the secret is /root/.secret-ward-test there.
# Root only; exit 77 when something is missing or the npm registry is
# unreachable.
set -u

WARD=${WARD:-$(pwd)/build/ward}
BUILD=${WARD_BUILD:-$(dirname "$WARD")}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)

# shellcheck source=../lib/upstream.sh
source "$HERE/../lib/upstream.sh"
e2e_require /usr/bin/python3 /usr/bin/curl openssl ip unshare mount node npm sha256sum od

# --- the agents, from the npm registry (once per lockfile) --------------------
AGENTS=$BUILD/e2e-agents
NM=$AGENTS/node_modules
install_agents() {
	local want have
	want=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)
	have=$(cat "$AGENTS/stamp" 2>/dev/null)
	if [ "$want" = "$have" ] && [ -x "$NM/@anthropic-ai/claude-code/bin/claude.exe" ]; then
		echo "agents: cached in $AGENTS"
		return 0
	fi
	rm -rf "$AGENTS"
	mkdir -p "$AGENTS"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$AGENTS/"
	echo "agents: npm ci (@anthropic-ai/claude-code, @openai/codex) into $AGENTS"
	# install scripts run: Claude Code's postinstall links its native binary
	# into bin/claude.exe (what `npm install -g` does for a user)
	if ! (cd "$AGENTS" && timeout 600 npm ci --no-audit --no-fund --loglevel=error --fetch-retries=1 \
		>"$AGENTS/npm.log" 2>&1); then
		if grep -qiE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|socket hang up' \
			"$AGENTS/npm.log"; then
			echo "SKIP: the npm registry is unreachable (npm ci failed, $AGENTS/npm.log)"
			exit 77
		fi
		echo "FAIL: npm ci of the agents"
		cat "$AGENTS/npm.log"
		exit 1
	fi
	echo "$want" >"$AGENTS/stamp"
}
install_agents

CLAUDE=/usr/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe
CODEX_JS=/usr/lib/node_modules/@openai/codex/bin/codex.js
CODEX_BIN=/usr/lib/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex
[ "$(uname -m)" = x86_64 ] || { echo "SKIP: the suite pins the linux-x64 agent packages"; exit 77; }
for f in "$NM/@anthropic-ai/claude-code/bin/claude.exe" \
	"$NM/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"; do
	# the policies name native executables: make sure that is what was installed
	[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] ||
		{ echo "FAIL: $f is not a native executable"; exit 1; }
done

T=$(mktemp -d /tmp/ward-test-agents.XXXXXX)
chmod 755 "$T"
pass=0
fail=0
MOCK_PID=
e2e_cleanup_hook() {
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
	[ -n "${KEEP:-}" ] && { echo "kept $T"; return; }
	rm -rf "$T"
}
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }

# --- the mock model, as api.anthropic.com and api.openai.com -----------------
# The examples' routes use the providers' default base URLs; --hosts sends
# those names to the test netns and --upstream-ca makes ward trust the mock.
upstream_up model --bare api.anthropic.com api.openai.com || { echo "FAIL: test upstream"; exit 1; }
D=$(upstream_dir model)
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
export ANTHROPIC_API_KEY="sk-ant-e2e-$(hex 8)" OPENAI_API_KEY="sk-e2e-$(hex 8)"
SECRET="ward-secret-$(hex 12)"
EXFIL="x$(hex 6).exfil-ward-test.example"
cat >"$T/script.json" <<EOJ
{"steps": [
  "echo ward-e2e-ok > agent-wrote.txt && ls -l agent-wrote.txt",
  "curl -sS -m 10 https://not-allowed.example/ ; echo curl-rc=\$?; /usr/bin/python3 -c \"import urllib.request as u; u.urlopen('https://not-allowed.example/', timeout=10)\" 2>&1 | tail -1",
  "cat /root/.secret-ward-test ; echo cat-rc=\$?",
  "/usr/bin/python3 -c \"import socket; socket.getaddrinfo('$EXFIL', 443)\" 2>&1 | tail -1"
 ],
 "final": "All scripted steps done."}
EOJ
ip netns exec ward-test-model timeout -s KILL 400 /usr/bin/python3 "$HERE/mock_model.py" \
	--https 443 --cert "$D/server.pem" --key "$D/server.key" \
	--anthropic-key "$ANTHROPIC_API_KEY" --openai-key "$OPENAI_API_KEY" \
	--script "$T/script.json" --log "$T/mock.log" --lifetime 390 --ready-file "$T/mock.ready" \
	>"$T/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 1 100); do [ -s "$T/mock.ready" ] && break; sleep 0.1; done
[ -s "$T/mock.ready" ] || { echo "FAIL: mock model did not start"; cat "$T/mock.out"; exit 1; }

# --- the host side of the mount namespace ------------------------------------
mkdir -p "$T/home/sandbox/.claude" "$T/home/sandbox/.codex" "$T/root"
# Readable by everyone, so that only ward's filesystem policy keeps it from
# the agent (file modes would hide a policy that maps /root)
printf '%s\n' "$SECRET" >"$T/root/.secret-ward-test"
chmod 755 "$T/root"
chmod 644 "$T/root/.secret-ward-test"
chown -R sandbox:sandbox "$T/home/sandbox" || { echo "FAIL: no sandbox account"; exit 1; }
chmod 700 "$T/home/sandbox"

# run NAME POLICY [pty_run options --] CMD...: ward run in the test's mount
# namespace, workdir $T/NAME/work, decision log $T/NAME/log.db; the mock's
# log for this run ends up in $T/NAME/mock.log. $RC is ward's status.
run() {
	local name=$1 pol=$2 pty=()
	shift 2
	if [ "$1" = --pty ]; then
		shift
		while [ "$1" != -- ]; do pty+=("$1"); shift; done
		shift
		pty=(/usr/bin/python3 "$HERE/pty_run.py" --screen "$T/$name/screen"
			--done 'Allscriptedstepsdone' --timeout 90 "${pty[@]}" --)
	fi
	mkdir -p "$T/$name/work"
	chown sandbox:sandbox "$T/$name/work"
	: >"$T/mock.log"
	local t0=$SECONDS
	(cd "$T/$name/work" && timeout -k 10 100 "${pty[@]}" \
		unshare -m --propagation private /bin/sh -c '
		set -e
		[ "$(readlink /proc/self/ns/mnt)" != "$0" ] # a mount namespace of our own
		mount --bind "$1" /usr/lib/node_modules
		mount --bind "$2" /home
		mount --bind "$3" /root
		shift 3
		exec "$@"' "$(readlink /proc/self/ns/mnt)" "$NM" "$T/home" "$T/root" \
		"$WARD" run --policy "$pol" --log "$T/$name/log.db" --workdir "$T/$name/work" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$@" \
		>"$T/$name/out" 2>"$T/$name/err")
	RC=$?
	echo "$name: ward run exited $RC after $((SECONDS - t0)) s"
	cp "$T/mock.log" "$T/$name/mock.log"
	"$WARD" logs --log "$T/$name/log.db" --json >"$T/$name/rows.json" 2>/dev/null
}

# rows NAME PYTHON-EXPR: some decision row r of run NAME satisfies the expression
rows() {
	/usr/bin/python3 - "$T/$1/rows.json" "$2" <<'EOP'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
sys.exit(0 if any(eval(sys.argv[2], {}, {"r": r}) for r in rows) else 1)
EOP
}

# screen_has NAME TEXT: the terminal of run NAME showed TEXT (escape
# sequences and spaces removed, as pty_run.py matches it)
screen_has() {
	/usr/bin/python3 -B -c 'import sys
sys.path.insert(0, sys.argv[1])
from pty_run import ANSI
s = open(sys.argv[2], "rb").read().decode("utf-8", "replace")
sys.exit(0 if sys.argv[3] in ANSI.sub("", s).replace(" ", "") else 1)' "$HERE" "$T/$1/screen" "$2"
}

# mock NAME: what reached the model in run NAME, as one JSON document per
# request: its step, whether ward injected the key, and the tool results
mock_steps() {
	/usr/bin/python3 - "$T/$1/mock.log" <<'EOP'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(e.get("path"), e.get("auth"), e.get("step"), e.get("tool"))
EOP
}

# assertions shared by every run of an agent
verify() {
	local name=$1 exe=$2 api=$3 steps
	steps=$(mock_steps "$name")
	check "$name: ward run exit status (rc=$RC)" [ "$RC" = 0 ]
	check "$name: the model was called through ward with the key ward injected ($api)" \
		bash -c '! grep -q " bad " <<<"$1" && grep -q "^$2[^ ]* ok 0 " <<<"$1"' _ "$steps" "$api"
	check "$name: the agent ran every scripted step and the last turn" \
		bash -c 'for s in 0 1 2 3 final; do grep -q " ok $s " <<<"$1" || exit 1; done' _ "$steps"
	check "$name: the file is written in the workdir" \
		grep -qx ward-e2e-ok "$T/$name/work/agent-wrote.txt"
	check "$name: foreign host: curl refused at connect (kernel deny row)" \
		rows "$name" 'r["layer"]=="kernel" and r["action"]=="deny" and r["binary"]=="/usr/bin/curl" and "no network policy" in r["reason"]'
	check "$name: foreign host: python3 refused by the proxy (deny row naming not-allowed.example)" \
		rows "$name" 'r["layer"]=="proxy" and r["action"]=="deny" and r["host"]=="not-allowed.example" and r["binary"].startswith("/usr/bin/python3")'
	check "$name: the secret outside the policy: the agent's tool saw an error" \
		grep -q '/root/.secret-ward-test: No such file or directory' "$T/$name/mock.log"
	check "$name: the secret's content never reached the model" \
		bash -c '! grep -q "$1" "$2"' _ "$SECRET" "$T/$name/mock.log"
	check "$name: exfil DNS name: NXDOMAIN (dns deny row)" \
		rows "$name" "r['layer']=='dns' and r['action']=='deny' and r['host']=='$EXFIL'"
	check "$name: exfil DNS name: the agent's tool saw the lookup fail" \
		grep -q 'Name or service not known' "$T/$name/mock.log"
	check "$name: usage rows (inference) name the agent's executable $exe" \
		rows "$name" "r['layer']=='inference' and r['action']=='allow' and r['binary']=='$exe' and 'prompt_tokens=17 completion_tokens=5' in r['reason']"
	check "$name: no inference row names another executable" \
		bash -c '! /usr/bin/python3 -c "
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1]) if l.startswith(\"{\")]
sys.exit(0 if any(r[\"layer\"]==\"inference\" and r[\"binary\"]!=sys.argv[2] for r in rows) else 1)" "$1" "$2"' \
		_ "$T/$name/rows.json" "$exe"
	check "$name: no key anywhere in the decision log" \
		bash -c '! grep -aq -e "$1" -e "$2" "$3"' _ "$ANTHROPIC_API_KEY" "$OPENAI_API_KEY" "$T/$name/rows.json"
}

# quiet NAME EXE: the policy's switches silence the agent's nonessential
# traffic (telemetry, error reports, updates): no network deny row for its
# executable (its runtime's probes of hidden /sys files are fs rows, rightly)
quiet() {
	check "$1: nonessential traffic switched off (no network deny row for the agent itself)" \
		bash -c '! /usr/bin/python3 -c "
import json,sys
net={\"kernel\",\"nft\",\"unix\",\"proxy\",\"l7\",\"dns\",\"inference\"}
rows=[json.loads(l) for l in open(sys.argv[1]) if l.startswith(\"{\")]
sys.exit(0 if any(r[\"action\"]==\"deny\" and r[\"layer\"] in net and r[\"binary\"]==sys.argv[2] for r in rows) else 1)" "$1" "$2"' \
		_ "$T/$1/rows.json" "$2"
}

PROMPT="Run the scripted steps."
CLAUDE_POL=$SRC/policies/examples/claude-code.yaml
CODEX_POL=$SRC/policies/examples/codex.yaml

# --- Claude Code --------------------------------------------------------------
# The state a user's first interactive run leaves in the state directory
# (onboarding done, this workdir trusted, bypass mode and ward's placeholder
# key accepted): the terminal run then starts straight at the prompt.
/usr/bin/python3 - "$T/home/sandbox/.claude/.claude.json" "$T/claude-pty/work" <<'EOP'
import json, sys
key = "ward-hidden:use-https://inference.local"
json.dump({"hasCompletedOnboarding": True, "theme": "dark",
           "bypassPermissionsModeAccepted": True,
           "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []},
           "projects": {sys.argv[2]: {"hasTrustDialogAccepted": True,
                                      "hasCompletedProjectOnboarding": True}}},
          open(sys.argv[1], "w"))
EOP
chown sandbox:sandbox "$T/home/sandbox/.claude/.claude.json"

# AGENT_RUNS="claude-pty codex-headless" runs only those (while debugging)
want() { [ -z "${AGENT_RUNS:-}" ] || [[ " $AGENT_RUNS " == *" $1 "* ]]; }

if want claude-headless; then
run claude-headless "$CLAUDE_POL" "$CLAUDE" -p "$PROMPT" --dangerously-skip-permissions
verify claude-headless "$CLAUDE" /v1/messages
quiet claude-headless "$CLAUDE"
check "claude-headless: the agent's last text on stdout" grep -q 'All scripted steps done' "$T/claude-headless/out"
fi

if want claude-pty; then
run claude-pty "$CLAUDE_POL" --pty --keys '/exit\r' -- "$CLAUDE" --dangerously-skip-permissions "$PROMPT"
verify claude-pty "$CLAUDE" /v1/messages
quiet claude-pty "$CLAUDE"
check "claude-pty: the agent's last text on the terminal" screen_has claude-pty Allscriptedstepsdone
fi

# --- Codex ----------------------------------------------------------------------
# The model provider is a custom one pointing at inference.local (Codex's
# built-in openai provider ignores OPENAI_BASE_URL and prefers WebSockets);
# Codex's own sandbox is off (ward's seccomp refuses its user namespaces).
# Codex has no environment switch for its nonessential traffic (plugins,
# apps, update checks, analytics, feedback: raw.githubusercontent.com,
# api.github.com, chatgpt.com, git to github.com); these flags silence it
# but for the TUI's announcement tip.
CODEX_ARGS=(--dangerously-bypass-approvals-and-sandbox
	--disable plugins --disable remote_plugin --disable apps
	-c check_for_update_on_startup=false -c analytics.enabled=false -c feedback.enabled=false
	-c model_provider=ward
	-c 'model_providers.ward={name="ward",base_url="https://inference.local/v1",env_key="OPENAI_API_KEY",wire_api="responses"}')

if want codex-headless; then
run codex-headless "$CODEX_POL" /usr/bin/node "$CODEX_JS" exec --skip-git-repo-check "${CODEX_ARGS[@]}" "$PROMPT" </dev/null
verify codex-headless "$CODEX_BIN" /v1/responses
quiet codex-headless "$CODEX_BIN"
check "codex-headless: the agent's last text on stdout" grep -q 'All scripted steps done' "$T/codex-headless/out"
fi

if want codex-pty; then
run codex-pty "$CODEX_POL" --pty --keys '\x03' -- /usr/bin/node "$CODEX_JS" "${CODEX_ARGS[@]}" "$PROMPT"
verify codex-pty "$CODEX_BIN" /v1/responses
# (no quiet check: the TUI fetches
# raw.githubusercontent.com/openai/codex/main/announcement_tip.toml, refused
# and logged, and 0.171 has no switch for it)
check "codex-pty: the agent's last text on the terminal" screen_has codex-pty Allscriptedstepsdone
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
