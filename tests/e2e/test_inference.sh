#!/bin/bash
# SPDX-License-Identifier: MIT
# inference.local end to end (docs/inference.md): curl and the official
# OpenAI and Anthropic SDKs inside `ward run`, against a mock LLM backend in
# a network namespace of the test's own (tests/e2e/lib/mock_llm.py), which
# checks the injected key and the rewritten model. Routes by model name,
# both providers, streaming and not, plain HTTP and TLS on both legs, budget
# exhaustion, refused paths and APIs, and the key nowhere inside the sandbox
# nor in the decision log. Money: each call priced (cached input apart), rows
# at the warn_at shares of inference.budget.max_usd, then refusals in both
# providers' formats; strict_models; `ward logs --summary`. Root only; exit 77
# when something is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh"
e2e_require /usr/bin/curl /usr/bin/python3 openssl ip sqlite3

T=$(mktemp -d /tmp/ward-test-inference.XXXXXX)
chmod 755 "$T"
LOG=$T/log.db
UID_=4245
OPENAI_KEY="sk-e2e-openai-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
ANTHROPIC_KEY="sk-ant-e2e-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export WARD_E2E_OPENAI_KEY=$OPENAI_KEY WARD_E2E_ANTHROPIC_KEY=$ANTHROPIC_KEY
pass=0
fail=0
MOCK_PID=
e2e_cleanup_hook() {
	[ -n "${KEEP:-}" ] && { echo "kept $T"; return; }
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
	rm -rf "$T"
}

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }
has() { tr '\n' ' ' <<<"$1" | grep -q -- "$2"; } # one line: bodies end in a newline

upstream_up llm llm.test.example || { echo "FAIL: test upstream"; exit 1; }
D=$(upstream_dir llm)
ip netns exec ward-test-llm timeout -s KILL 300 /usr/bin/python3 "$HERE/lib/mock_llm.py" \
	--http 8080 --https 8443 --cert "$D/server.pem" --key "$D/server.key" \
	--openai-key "$OPENAI_KEY" --anthropic-key "$ANTHROPIC_KEY" \
	--model mock-gpt-small --model mock-gpt-big --model mock-claude \
	--delay-ms 20 --log "$T/mock.log" --lifetime 280 --ready-file "$T/mock.ready" \
	>"$T/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 1 100); do [ -s "$T/mock.ready" ] && break; sleep 0.1; done
[ -s "$T/mock.ready" ] || { echo "FAIL: mock LLM did not start"; cat "$T/mock.out"; exit 1; }
# The mock works on its own (so a failure below is ward's).
curl -sS --max-time 10 --noproxy '*' --cacert "$UPSTREAM_CA" \
	--resolve "llm.test.example:8443:$(upstream_ip llm)" https://llm.test.example:8443/v1/models |
	grep -q mock-claude ||
	{ echo "FAIL: mock not reachable directly"; exit 1; }

policy() { # policy FILE [max_tokens] [more lines under inference:]
	cat >"$1" <<EOP
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process:
  run_as_user: $UID_
  run_as_group: $UID_
inference:
  routes:
    - name: fast
      provider: openai
      model: mock-gpt-small
      base_url: http://llm.test.example:8080/v1
      api_key_env: WARD_E2E_OPENAI_KEY
      aliases: [gpt-4o-mini]
    - name: claude
      provider: anthropic
      model: mock-claude
      base_url: https://llm.test.example:8443/v1
      api_key_env: WARD_E2E_ANTHROPIC_KEY
      aliases: [claude-sonnet-4-6]
    - name: big
      provider: openai
      model: mock-gpt-big
      base_url: https://llm.test.example:8443/v1
      api_key_env: WARD_E2E_OPENAI_KEY
EOP
	if [ -n "${2:-}" ]; then
		printf '  budget:\n    max_tokens: %s\n' "$2" >>"$1"
	fi
	if [ -n "${3:-}" ]; then
		printf '%s\n' "$3" >>"$1"
	fi
}
policy "$T/policy.yaml"
policy "$T/budget.yaml" 30
# round prices of the test's own (USD per million tokens), a money budget and
# the model allowlist: chat costs 7*1000 + 4*100 + 7*2000 = 0.0214 USD
policy "$T/money.yaml" "" "  budget:
    max_usd: 0.09
    warn_at: [0.8, 0.95]
  strict_models: true"
sed -i -e 's|^      api_key_env: WARD_E2E_OPENAI_KEY$|&\n      price: { input: 1000, output: 2000, cached_input: 100 }|' \
	-e 's|^      api_key_env: WARD_E2E_ANTHROPIC_KEY$|&\n      price: { input: 1000, output: 2000, cached_input: 100 }|' "$T/money.yaml"
mkdir -p "$T/work"
cp "$HERE/lib/inference_client.sh" "$T/work/" 2>/dev/null
chown -R "$UID_:$UID_" "$T/work"

# run POLICY CMD...: ward run; stdout in $OUT, stderr in $ERR, status in $RC
run() {
	local pol=$1
	shift
	"$WARD" run --policy "$pol" --log "$LOG" --workdir "$T/work" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

C='curl -sS --max-time 20'
J='-H content-type:application/json'

# --- one sandbox, many requests: curl over plain http://inference.local ------
run "$T/policy.yaml" /bin/sh -c "
echo '== models'; $C http://inference.local/v1/models; echo
echo '== chat'; $C $J -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' http://inference.local/v1/chat/completions; echo
echo '== big'; $C $J -H 'Authorization: Bearer sk-from-inside' -d '{ \"messages\":[], \"model\" : \"big\" }' http://inference.local/v1/chat/completions; echo
echo '== stream'; $C -N $J -d '{\"model\":\"fast\",\"stream\":true,\"messages\":[]}' http://inference.local/v1/chat/completions; echo
echo '== messages'; $C $J -H 'x-api-key: sk-ant-inside' -d '{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":5,\"messages\":[]}' http://inference.local/v1/messages; echo
echo '== mstream'; $C -N $J -d '{\"model\":\"claude\",\"max_tokens\":5,\"stream\":true,\"messages\":[]}' http://inference.local/v1/messages; echo
echo '== embed'; $C $J -d '{\"model\":\"fast\",\"input\":\"x\"}' http://inference.local/v1/embeddings; echo
echo '== responses'; $C $J -d '{\"model\":\"big\",\"input\":\"x\"}' http://inference.local/v1/responses; echo
echo '== wrongapi'; $C -w '%{http_code}' $J -d '{\"model\":\"fast\",\"max_tokens\":5,\"messages\":[]}' http://inference.local/v1/messages; echo
echo '== unknown'; $C -w '%{http_code}' $J -d '{}' http://inference.local/v1/files; echo
echo '== badjson'; $C -w '%{http_code}' $J -d '{\"model\":' http://inference.local/v1/chat/completions; echo
echo '== dupmodel'; $C -w '%{http_code}' $J -d '{\"model\":\"fast\",\"model\":\"big\"}' http://inference.local/v1/chat/completions; echo
echo '== tls'; $C $J -d '{\"model\":\"gpt-4o-mini\",\"messages\":[]}' https://inference.local/v1/chat/completions; echo
echo '== tlsstream'; $C -N $J -d '{\"model\":\"claude\",\"max_tokens\":5,\"stream\":true,\"messages\":[]}' https://inference.local/v1/messages; echo
echo '== env'; env | grep WARD_E2E
echo '== grep'; grep -rlI -e sk-e2e-openai- -e sk-ant-e2e- /etc /tmp /run /proc/self/environ $T/work 2>/dev/null | head -3; echo end-grep
"
echo "$OUT" >"$T/out1"; cp "$T/err" "$T/err1"
sec() { awk -v s="== $1" '$0==s{f=1;next} /^== /{f=0} f' "$T/out1"; }
check "ward run exits 0 (rc=$RC)" [ "$RC" = 0 ]
check "GET /v1/models lists the routes" has "$(sec models)" '"id": *"claude"'
check "chat: alias gpt-4o-mini -> route fast, model rewritten, key injected" \
	has "$(sec chat)" '"seen": {"model": "mock-gpt-small", "auth": "ok"'
check "chat: usage passes through unchanged" has "$(sec chat)" '"prompt_tokens": 11'
check "route big over TLS to the backend (--upstream-ca), inside auth stripped" \
	has "$(sec big)" '"seen": {"model": "mock-gpt-big", "auth": "ok"'
check "stream: SSE chunks relayed" has "$(sec stream)" 'data: {"id": "chatcmpl-mock"'
check "stream: ward asked for usage (stream_options.include_usage)" \
	has "$(sec stream)" '"usage": {"prompt_tokens": 11'
check "stream: ends with [DONE]" has "$(sec stream)" 'data: \[DONE\]'
check "messages: alias -> anthropic route, x-api-key injected, version added" \
	has "$(sec messages)" '"model": "mock-claude", "auth": "ok"'
check "messages stream: Anthropic events relayed" has "$(sec mstream)" 'event: message_delta'
check "embeddings served" has "$(sec embed)" '"embedding"'
check "responses served (route big)" has "$(sec responses)" '"model": "mock-gpt-big"'
check "/v1/messages to an openai route: 400 naming the route" \
	has "$(sec wrongapi)" "route 'fast' (provider openai) does not serve POST /v1/messages.* 400 $"
check "unknown path: 403 in OpenAI's error format" \
	has "$(sec unknown)" '{"error":{"message":"ward: POST /v1/files is not served.*"type":"permission_denied".* 403 $'
check "malformed JSON: 400" has "$(sec badjson)" 'not a JSON object.* 400 $'
check "duplicate model: 400" has "$(sec dupmodel)" 'model\\" twice.* 400 $'
check "https://inference.local (ward CA, CONNECT): chat routed" \
	has "$(sec tls)" '"seen": {"model": "mock-gpt-small", "auth": "ok"'
check "https://inference.local: Anthropic stream relayed" has "$(sec tlsstream)" 'event: message_stop'
check "key variables hidden inside the sandbox" \
	bash -c "grep -q 'WARD_E2E_OPENAI_KEY=ward-hidden' <<<\"\$1\" && ! grep -q -e \"$OPENAI_KEY\" -e \"$ANTHROPIC_KEY\" <<<\"\$1\"" _ "$OUT"
check "no file inside the sandbox holds a key (/etc, /tmp, /run, workdir)" \
	[ "$(sec grep)" = end-grep ]
check "the mock saw no key from inside (only ward's)" \
	bash -c "! grep -q -e sk-from-inside -e sk-ant-inside '$T/mock.log'"

# the decision log: rows with route, models, tokens; never a key
ROWS=$("$WARD" logs --log "$LOG" --json --layer inference 2>&1)
check "rows: chat row with route, models and tokens" \
	has "$ROWS" '"rule":"inference.routes.fast".*model_requested=gpt-4o-mini model_sent=mock-gpt-small status=200 stream=false prompt_tokens=11 completion_tokens=7'
check "rows: OpenAI stream usage counted" has "$ROWS" 'stream=true prompt_tokens=11 completion_tokens=7'
check "rows: Anthropic stream usage counted (message_start + message_delta)" \
	has "$ROWS" 'api=messages provider=anthropic model_requested=claude model_sent=mock-claude status=200 stream=true prompt_tokens=18 completion_tokens=9 total_tokens=27 cached_tokens=5 '
check "rows: no price for the route: cost_usd=unknown" \
	has "$ROWS" 'model_sent=mock-gpt-small status=200 stream=false prompt_tokens=11 completion_tokens=7 total_tokens=18 cached_tokens=4 cost_usd=unknown'
check "rows: refusals are deny rows" has "$ROWS" '"action":"deny".*POST /v1/files is not served'
check "no key in the decision log" \
	bash -c "! grep -aq -e '$OPENAI_KEY' -e '$ANTHROPIC_KEY' '$LOG' '$LOG-wal' 2>/dev/null && ! sqlite3 '$LOG' .dump | grep -q -e '$OPENAI_KEY' -e '$ANTHROPIC_KEY'"

# --- the official SDKs from the npm registry, over https://inference.local -----
# (Node 18+, tests/e2e/package.json + package-lock.json; the proxy agent is how
# a Node 18 client honours HTTPS_PROXY)
sdk_tests() {
	command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: SDKs (no node/npm)"; return; }
	cp "$HERE/package.json" "$HERE/package-lock.json" "$T/work/" &&
		(cd "$T/work" && timeout 120 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
			>"$T/npm.log" 2>&1) || {
		if grep -qiE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network' "$T/npm.log"; then
			echo "SKIP: SDKs (npm registry unreachable)"
		else
			ko "npm ci of the SDKs"; cat "$T/npm.log"
		fi
		return
	}
	cat >"$T/work/clients.mjs" <<'EOJ'
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { HttpsProxyAgent } from "https-proxy-agent";

const agent = new HttpsProxyAgent(process.env.HTTPS_PROXY);
const common = { apiKey: "sk-from-inside", httpAgent: agent, maxRetries: 0, timeout: 20000 };
const oa = new OpenAI({ ...common, baseURL: "https://inference.local/v1" });
const an = new Anthropic({ ...common, baseURL: "https://inference.local" });
const out = (k, v) => console.log(k + " " + JSON.stringify(v));
const user = [{ role: "user", content: "hi" }];
async function step(name, fn) {
	try { out(name, await fn()); } catch (e) { out(name + "_err", { status: e.status, type: e.error?.error?.type ?? e.error?.type, msg: String(e) }); }
}
await step("oa_chat", async () => (await oa.chat.completions.create({ model: "gpt-4o-mini", messages: user })).choices[0].message.content);
await step("oa_stream", async () => {
	let text = "", usage = null;
	const s = await oa.chat.completions.create({ model: "big", messages: user, stream: true });
	for await (const ch of s) { text += ch.choices[0]?.delta?.content ?? ""; if (ch.usage) usage = ch.usage; }
	return { text, usage };
});
await step("oa_models", async () => (await oa.models.list()).data.map((m) => m.id));
await step("an_msg", async () => (await an.messages.create({ model: "claude-sonnet-4-6", max_tokens: 5, messages: user })).content[0].text);
await step("an_stream", async () => {
	const fin = await an.messages.stream({ model: "claude", max_tokens: 5, messages: user }).finalMessage();
	return { text: fin.content[0].text, usage: fin.usage };
});
await step("an_wrongapi", async () => an.messages.create({ model: "fast", max_tokens: 5, messages: user }));
EOJ
	chown -R "$UID_:$UID_" "$T/work"
	run "$T/policy.yaml" /usr/bin/node "$T/work/clients.mjs"
	cp "$T/out" "$T/out_sdk"
	check "openai SDK: chat through https://inference.local (alias -> fast)" has "$OUT" 'oa_chat "hello from mock-gpt-small"'
	check "openai SDK: streamed chat, usage chunk (route big)" \
		has "$OUT" 'oa_stream {"text":"hello from mock-gpt-big","usage":{"prompt_tokens":11'
	check "openai SDK: models.list answered by ward (names, aliases, models)" has "$OUT" \
		'oa_models \["fast","claude","big","gpt-4o-mini","claude-sonnet-4-6","mock-gpt-small","mock-claude","mock-gpt-big"\]'
	check "anthropic SDK: messages (alias -> claude)" has "$OUT" 'an_msg "hello from mock-claude"'
	check "anthropic SDK: streamed message with usage" \
		has "$OUT" 'an_stream {"text":"hello from mock-claude","usage":{"input_tokens":13,.*"output_tokens":9}}'
	check "anthropic SDK: wrong API for the route is a 400 invalid_request_error" \
		has "$OUT" 'an_wrongapi_err {"status":400,"type":"invalid_request_error"'
}
sdk_tests

# --- budget: 30 tokens; each chat call spends 18 -----------------------------
run "$T/budget.yaml" /bin/sh -c "
for i in 1 2 3; do $C -w ' %{http_code}\n' $J -d '{\"model\":\"fast\",\"messages\":[]}' http://inference.local/v1/chat/completions; done
$C -i $J -d '{\"model\":\"claude\",\"max_tokens\":5,\"messages\":[]}' http://inference.local/v1/messages"
cp "$T/out" "$T/out_budget"
check "budget: two calls pass" has "$OUT" '"total_tokens": 18.* 200 .*"total_tokens": 18.* 200 '
check "budget: then 429 insufficient_quota (OpenAI format)" \
	has "$OUT" 'budget is spent (36 of 30 tokens).*"type":"insufficient_quota".* 429 '
check "budget: Anthropic format rate_limit_error, x-should-retry: false" \
	bash -c 'grep -q "x-should-retry: false" <<<"$1" && grep -q "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"" <<<"$1"' _ "$OUT"

# --- money: max_usd 0.09, warn_at 80 % and 95 %; strict models -----------------
# a message costs 0.0315 USD (35 %), each chat 0.0214: 58.8 %, 82.6 % (the 80 %
# row), 106.3 % (the 95 % and 100 % rows), then refusals in OpenAI's and
# Anthropic's formats.
CHAT="$C -w ' %{http_code}\n' $J -d '{\"model\":\"fast\",\"messages\":[]}' http://inference.local/v1/chat/completions"
MAIN_LOG=$LOG
LOG=$T/money.db
run "$T/money.yaml" /bin/sh -c "
echo '== models'; $C http://inference.local/v1/models; echo
echo '== strict_oa'; $C -w ' %{http_code}' $J -d '{\"model\":\"gpt-5\",\"messages\":[]}' http://inference.local/v1/chat/completions; echo
echo '== strict_an'; $C -w ' %{http_code}' $J -d '{\"model\":\"claude-opus-4-5\",\"max_tokens\":5,\"messages\":[]}' http://inference.local/v1/messages; echo
echo '== alias'; $C -w ' %{http_code}' $J -d '{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":5,\"messages\":[]}' http://inference.local/v1/messages; echo
echo '== spend'; $CHAT; $CHAT; $CHAT
echo '== over_oa'; $CHAT
echo '== over_an'; $C -i $J -d '{\"model\":\"claude\",\"max_tokens\":5,\"messages\":[]}' http://inference.local/v1/messages; echo
"
LOG=$MAIN_LOG
echo "$OUT" >"$T/out_money"
msec() { awk -v s="== $1" '$0==s{f=1;next} /^== /{f=0} f' "$T/out_money"; }
check "money: ward run exits 0 (rc=$RC)" [ "$RC" = 0 ]
check "models: exactly the route names, aliases and the routes' models" \
	bash -c 'python3 -c "import json,sys; ids=[m[\"id\"] for m in json.load(sys.stdin)[\"data\"]]; sys.exit(ids != sys.argv[1].split(\",\"))" \
		fast,claude,big,gpt-4o-mini,claude-sonnet-4-6,mock-gpt-small,mock-claude,mock-gpt-big <<<"$1"' _ "$(msec models)"
check "strict_models: unknown model 404 model_not_found (OpenAI format)" \
	has "$(msec strict_oa)" '{"error":{"message":"ward: model .gpt-5. is not allowed: no inference route or alias names it (inference.strict_models); models: fast, claude, big, .*"type":"invalid_request_error","param":null,"code":"model_not_found"}}.* 404 $'
check "strict_models: unknown model 404 not_found_error (Anthropic format)" \
	has "$(msec strict_an)" '{"type":"error","error":{"type":"not_found_error","message":"ward: model .claude-opus-4-5. is not allowed.* 404 $'
check "strict_models: an alias still passes" has "$(msec alias)" '"model": "mock-claude", "auth": "ok".* 200 $'
check "money: three calls pass" \
	bash -c '[ "$(grep -c "\"total_tokens\": 18.* 200$" <<<"$1")" = 3 ]' _ "$(msec spend)"
check "money: then 429 insufficient_quota naming inference.budget.max_usd (OpenAI format)" \
	has "$(msec over_oa)" '{"error":{"message":"ward: the sandbox.s inference budget is spent (0.095700 of 0.090000 USD); inference.budget.max_usd","type":"insufficient_quota".* 429 $'
check "money: Anthropic format rate_limit_error naming inference.budget.max_usd" \
	bash -c 'grep -q "^HTTP/1.1 429" <<<"$1" && grep -q "x-should-retry: false" <<<"$1" &&
		grep -q "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"ward: the sandbox.s inference budget is spent (0.095700 of 0.090000 USD); inference.budget.max_usd\"" <<<"$1"' _ "$(msec over_an)"
MROWS=$("$WARD" logs --log "$T/money.db" --json --layer inference 2>&1)
# the rows in order, one line each: action rule reason
MSEQ=$(python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); print(r["action"], r["rule"], r["reason"])' <<<"$MROWS")
echo "$MSEQ" >"$T/money_rows"
check "rows: each call priced (cached input apart) with the price's source" \
	has "$MSEQ" 'model_sent=mock-gpt-small status=200 stream=false prompt_tokens=11 completion_tokens=7 total_tokens=18 cached_tokens=4 cost_usd=0.021400 prices=route '
check "rows: Anthropic cache reads priced as cached (0.0315 USD)" \
	has "$MSEQ" 'model_sent=mock-claude status=200 stream=false prompt_tokens=18 completion_tokens=9 total_tokens=27 cached_tokens=5 cost_usd=0.031500 prices=route '
check "rows: the 80 % row right after the call that reached it, once" \
	bash -c 'grep -A1 "^allow .*spent_usd=0.074300 " <<<"$1" | tail -1 | grep -qx "audit inference.budget.max_usd budget_warning: 80% of inference.budget.max_usd reached (spent_usd=0.074300 max_usd=0.090000)" &&
		[ "$(grep -c "budget_warning: 80%" <<<"$1")" = 1 ]' _ "$MSEQ"
check "rows: 95 % and 100 % after the next call, once each" \
	bash -c 'grep -A2 "allow inference.routes.fast .*spent_usd=0.095700 " <<<"$1" | tail -2 | tr "\n" "|" | grep -qx "audit inference.budget.max_usd budget_warning: 95% of inference.budget.max_usd reached (spent_usd=0.095700 max_usd=0.090000)|audit inference.budget.max_usd budget_spent: 100% of inference.budget.max_usd reached (spent_usd=0.095700 max_usd=0.090000); further inference requests are refused|" &&
		[ "$(grep -c "budget_warning: 95%" <<<"$1")" = 1 ] && [ "$(grep -c "budget_spent: 100%" <<<"$1")" = 1 ]' _ "$MSEQ"
check "rows: the refusals are deny rows with rule inference.budget.max_usd" \
	bash -c '[ "$(grep -c "^deny inference.budget.max_usd api=" <<<"$1")" = 2 ]' _ "$MSEQ"
check "rows: strict refusals are deny rows naming the model" \
	has "$MSEQ" 'deny inference.strict_models api=chat.completions provider=- model_requested=gpt-5 '
SUMMARY=$("$WARD" logs --log "$T/money.db" --summary 2>&1)
echo "$SUMMARY" >"$T/money_summary"
check "ward logs --summary: inference tokens and cost" \
	grep -qx '  inference: 4 calls with usage, tokens 51 in (17 cached) 30 out, cost 0.095700 USD (prices route)' <<<"$SUMMARY"
check "ward logs --summary: no rows, counts per layer" \
	bash -c '! grep -q "^TIME" <<<"$1" && grep -qE "^ +inference +5 allowed +4 denied +3 audited$" <<<"$1"' _ "$SUMMARY"

# --- the provider's own host (route hosts:): a direct call is a route call -----
# The agent calls https://llm-direct.test.example (a name ward never resolves:
# it terminates TLS itself) with a key of its own; ward routes it to route
# claude's backend with the host's key, prices it (0.0315 USD > max_usd 0.03),
# then refuses; strict_models holds there too.
policy "$T/direct.yaml" "" "  budget:
    max_usd: 0.03
  strict_models: true"
sed -i -e 's|^      api_key_env: WARD_E2E_ANTHROPIC_KEY$|&\n      price: { input: 1000, output: 2000, cached_input: 100 }\n      hosts: [llm-direct.test.example]|' \
	-e 's|^      api_key_env: WARD_E2E_OPENAI_KEY$|&\n      price: { input: 1000, output: 2000, cached_input: 100 }|' "$T/direct.yaml"
DIRECT="$C -w ' %{http_code}' $J -H 'x-api-key: sk-ant-inside' https://llm-direct.test.example/v1/messages -d"
MAIN_LOG=$LOG
LOG=$T/direct.db
run "$T/direct.yaml" /bin/sh -c "
echo '== d_call'; $DIRECT '{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":5,\"messages\":[]}'; echo
echo '== d_strict'; $DIRECT '{\"model\":\"fast\",\"max_tokens\":5,\"messages\":[]}'; echo
echo '== d_over'; $DIRECT '{\"model\":\"mock-claude\",\"max_tokens\":5,\"messages\":[]}'; echo
echo '== d_plain'; $C http://llm-direct.test.example/v1/models; echo
"
LOG=$MAIN_LOG
echo "$OUT" >"$T/out_direct"
dsec() { awk -v s="== $1" '$0==s{f=1;next} /^== /{f=0} f' "$T/out_direct"; }
check "direct: ward run exits 0 (rc=$RC)" [ "$RC" = 0 ]
check "direct: provider host served as route claude, the host's key injected" \
	has "$(dsec d_call)" '"seen": {"model": "mock-claude", "auth": "ok".* 200 $'
check "direct: strict_models on the provider host (another route's name: 404)" \
	has "$(dsec d_strict)" '{"type":"error","error":{"type":"not_found_error","message":"ward: model .fast. is not allowed: .*models: claude, claude-sonnet-4-6, mock-claude"}}.* 404 $'
check "direct: the budget holds (429 naming inference.budget.max_usd)" \
	has "$(dsec d_over)" '"rate_limit_error","message":"ward: the sandbox.s inference budget is spent (0.031500 of 0.030000 USD); inference.budget.max_usd".* 429 $'
check "direct: plain http:// to the provider host served too (its routes' models only)" \
	bash -c 'python3 -c "import json,sys; ids=[m[\"id\"] for m in json.load(sys.stdin)[\"data\"]]; sys.exit(ids != [\"claude\", \"claude-sonnet-4-6\", \"mock-claude\"])" <<<"$1"' _ "$(dsec d_plain)"
DROWS=$("$WARD" logs --log "$T/direct.db" --json --layer inference 2>&1)
check "direct: the row names the route, the cost, and the sandbox's key never" \
	bash -c 'grep -q "\"rule\":\"inference.routes.claude\".*model_requested=claude-sonnet-4-6 model_sent=mock-claude status=200 .*cost_usd=0.031500 prices=route" <<<"$1" &&
		! grep -q sk-ant-inside "$2"' _ "$DROWS" "$T/mock.log"

# --- a missing key: 125 before anything runs ---------------------------------
WARD_E2E_ANTHROPIC_KEY= run "$T/policy.yaml" /bin/echo should-not-run
check "missing key: exit 125 with the variable named" \
	bash -c '[ "$1" = 125 ] && grep -q "WARD_E2E_ANTHROPIC_KEY is not set" <<<"$2" && ! grep -q should-not-run <<<"$3"' _ "$RC" "$ERR" "$OUT"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
