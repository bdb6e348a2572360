#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A scripted mock model for real coding agents (tests/e2e/agents/test_agents.sh).

It stands in for api.anthropic.com and api.openai.com behind ward's
inference routes (the test's --hosts points both names at this server, in a
network namespace of the test's own) and speaks what Claude Code and Codex
use: Anthropic Messages (POST /v1/messages, SSE: message_start,
content_block_start/delta/stop, message_delta, message_stop; tool_use
blocks) and OpenAI Responses (POST /v1/responses, SSE response.* events;
function_call items, or for Codex 0.17x, whose tools come in an
"additional_tools" input item and whose shell is reached through the "exec"
custom tool, a custom_tool_call with JavaScript calling
tools.exec_command).

The script (--script FILE, JSON: {"steps": ["shell command", ...], "final":
"text"}) is the same for both agents: a conversation request that offers
tools gets step N as a call of the agent's shell tool, where N is the number
of tool results the request already carries; after the last step, the final
text ends the conversation. A request without tools (titles, probes) gets a
short text. Every request is logged whole (--log, one JSON line each: path,
headers, body, the step answered) so the test can check what reached the
model; the key ward must inject is checked (--anthropic-key/--openai-key):
a request without it gets 401.
"""

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
SCRIPT = None
LOG_LOCK = threading.Lock()
USAGE_IN, USAGE_OUT = 17, 5


def log(entry):
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def step_for(n_results):
    """The shell command to ask for after n_results tool results, or None."""
    steps = SCRIPT["steps"]
    return steps[n_results] if n_results < len(steps) else None


# --- Anthropic Messages ------------------------------------------------------
def anthropic_results(req):
    n = 0
    for m in req.get("messages") or []:
        if m.get("role") == "user" and isinstance(m.get("content"), list):
            n += sum(1 for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result")
    return n


def anthropic_tool(req):
    names = [t.get("name") for t in req.get("tools") or [] if isinstance(t, dict)]
    return "Bash" if "Bash" in names else None


# --- OpenAI Responses --------------------------------------------------------
def responses_results(req):
    items = req.get("input")
    if not isinstance(items, list):
        return 0
    return sum(1 for i in items if isinstance(i, dict) and
               i.get("type") in ("function_call_output", "custom_tool_call_output"))


def responses_tools(req):
    """Every tool the request offers, namespaces flattened: {name: tool}.
    Codex 0.17x puts them in an "additional_tools" input item, grouped in
    namespaces; older releases in the top-level "tools"."""
    out = {}

    def walk(tools, ns):
        for t in tools or []:
            if not isinstance(t, dict):
                continue
            if t.get("type") == "namespace":
                walk(t.get("tools"), t.get("name"))
            elif t.get("name"):
                out[t["name"]] = dict(t, _namespace=ns)

    walk(req.get("tools"), None)
    for i in req.get("input") or []:
        if isinstance(i, dict) and i.get("type") == "additional_tools":
            walk(i.get("tools"), None)
    return out


def responses_call(req, n, cmd):
    """The output item that asks the agent's shell tool to run cmd, or None
    when the request offers no shell tool."""
    tools = responses_tools(req)
    call_id = "call_mock_%d" % n
    if "exec" in tools and tools["exec"].get("type") == "custom":
        # code mode: JavaScript that calls the nested exec_command tool
        src = ("const r = await tools.exec_command({cmd: %s, yield_time_ms: 20000});\n"
               "text(r.output);\ntext('exit_code=' + r.exit_code);\n" % json.dumps(cmd))
        return "exec", {"type": "custom_tool_call", "id": "ctc_mock_%d" % n,
                        "status": "completed", "call_id": call_id, "name": "exec",
                        "input": src}
    for name in ("exec_command", "shell_command", "shell"):
        if name in tools:
            props = (tools[name].get("parameters") or {}).get("properties") or {}
            if name == "exec_command":
                args = {"cmd": cmd} if "cmd" in props else {"command": cmd}
            elif name == "shell":
                args = {"command": ["bash", "-lc", cmd]}
            else:
                args = {"command": cmd}
            return name, {"type": "function_call", "id": "fc_mock_%d" % n,
                          "status": "completed", "call_id": call_id, "name": name,
                          "arguments": json.dumps(args)}
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-model"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        if os.environ.get("MOCK_MODEL_DEBUG"):
            sys.stderr.write("mock_model: " + (fmt % args) + "\n")

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sse_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def sse(self, event, data):
        raw = ("event: %s\ndata: %s\n\n" % (event, json.dumps(data))).encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.flush()

    def sse_end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        log({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        self.send_json(404, {"error": {"message": "not here", "type": "not_found_error"}})

    def do_POST(self):
        raw = self.body()
        path = self.path.split("?")[0]
        entry = {"method": "POST", "path": self.path, "headers": dict(self.headers),
                 "body": raw.decode("utf-8", "replace")}
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = None
        if path == "/v1/messages":
            ok = self.headers.get_all("x-api-key") == [ARGS.anthropic_key] and \
                not self.headers.get("Authorization")
        elif path == "/v1/responses":
            ok = self.headers.get_all("Authorization") == ["Bearer " + ARGS.openai_key] and \
                not self.headers.get("x-api-key")
        else:
            ok = True
        entry["auth"] = "ok" if ok else "bad"
        if not ok or not isinstance(req, dict):
            log(entry)
            self.send_json(401 if not ok else 400,
                           {"type": "error", "error": {"type": "authentication_error",
                                                       "message": "mock: wrong key or body"}})
            return
        if path == "/v1/messages":
            self.messages(req, entry)
        elif path == "/v1/responses":
            self.openai_responses(req, entry)
        else:
            log(entry)
            self.send_json(404, {"error": {"message": "mock: no " + path,
                                           "type": "not_found_error"}})

    # --- Anthropic -------------------------------------------------------------
    def messages(self, req, entry):
        tool = anthropic_tool(req)
        n = anthropic_results(req)
        cmd = step_for(n) if tool else None
        entry.update(step=n if cmd else ("final" if tool else "side"), tool=tool)
        log(entry)
        if tool and cmd is None:
            text = SCRIPT["final"]
        elif not tool:
            text = "ok"
        model = req.get("model", "mock")
        msg = {"id": "msg_mock_%d" % n, "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": USAGE_IN, "output_tokens": 1}}
        if cmd is not None:
            block = {"type": "tool_use", "id": "toolu_mock_%d" % n, "name": tool,
                     "input": {"command": cmd, "description": "scripted step %d" % n}}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": text}
            stop = "end_turn"
        if not req.get("stream"):
            msg.update(content=[block], stop_reason=stop,
                       usage={"input_tokens": USAGE_IN, "output_tokens": USAGE_OUT})
            self.send_json(200, msg)
            return
        self.sse_start()
        self.sse("message_start", {"type": "message_start", "message": msg})
        if cmd is not None:
            self.sse("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": dict(block, input={})})
            self.sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "input_json_delta",
                                                       "partial_json": json.dumps(block["input"])}})
        else:
            self.sse("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})
            self.sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": text}})
        self.sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        self.sse("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": stop, "stop_sequence": None},
                                   "usage": {"output_tokens": USAGE_OUT}})
        self.sse("message_stop", {"type": "message_stop"})
        self.sse_end()

    # --- OpenAI Responses ------------------------------------------------------
    def openai_responses(self, req, entry):
        n = responses_results(req)
        cmd = step_for(n)
        name, item = responses_call(req, n, cmd) if cmd is not None else (None, None)
        has_tools = bool(responses_tools(req))
        entry.update(step=n if item else ("final" if has_tools else "side"), tool=name)
        log(entry)
        model = req.get("model", "mock")
        rid = "resp_mock_%d_%d" % (n, int(time.time() * 1000) % 100000)
        if item is None:
            text = SCRIPT["final"] if has_tools else "ok"
            item = {"type": "message", "id": "msg_mock_%d" % n, "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}
        usage = {"input_tokens": USAGE_IN, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": USAGE_OUT, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": USAGE_IN + USAGE_OUT}
        resp = {"id": rid, "object": "response", "created_at": int(time.time()),
                "model": model, "status": "completed", "output": [item], "usage": usage}
        if not req.get("stream"):
            self.send_json(200, resp)
            return
        self.sse_start()
        self.sse("response.created", {"type": "response.created", "sequence_number": 0,
                                      "response": dict(resp, status="in_progress", output=[],
                                                       usage=None)})
        self.sse("response.output_item.added", {"type": "response.output_item.added",
                                                "sequence_number": 1, "output_index": 0,
                                                "item": dict(item, status="in_progress")})
        if item["type"] == "message":
            self.sse("response.output_text.delta",
                     {"type": "response.output_text.delta", "sequence_number": 2,
                      "item_id": item["id"], "output_index": 0, "content_index": 0,
                      "delta": item["content"][0]["text"]})
        self.sse("response.output_item.done", {"type": "response.output_item.done",
                                               "sequence_number": 3, "output_index": 0,
                                               "item": item})
        self.sse("response.completed", {"type": "response.completed", "sequence_number": 4,
                                        "response": resp})
        self.sse_end()


def serve(server):
    try:
        server.serve_forever(poll_interval=0.2)
    except Exception:  # noqa: BLE001 - a dying test server must not hang the test
        pass


def main():
    global ARGS, SCRIPT
    ap = argparse.ArgumentParser()
    ap.add_argument("--https", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--anthropic-key", required=True)
    ap.add_argument("--openai-key", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--lifetime", type=int, default=600)
    ap.add_argument("--ready-file")
    ARGS = ap.parse_args()
    with open(ARGS.script) as f:
        SCRIPT = json.load(f)

    ThreadingHTTPServer.daemon_threads = True
    s = ThreadingHTTPServer(("0.0.0.0", ARGS.https), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if ARGS.ready_file:
        with open(ARGS.ready_file, "w") as f:
            f.write("ready\n")
    time.sleep(ARGS.lifetime)
    os._exit(0)


if __name__ == "__main__":
    main()
