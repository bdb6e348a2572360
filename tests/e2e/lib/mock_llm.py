#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A mock LLM backend for ward's inference tests (run inside the test's own
netns, never on the host's addresses). It speaks enough of both providers'
APIs for the official SDKs, and checks what ward must guarantee:

  --openai-key K       the key OpenAI-style calls must carry (Authorization: Bearer K)
  --anthropic-key K    the key /v1/messages must carry (x-api-key: K)
  --model M            a model ward may send (repeatable); anything else: 404

Every request must carry exactly the expected key and no other credential
header; the model must be one of --model. Responses say what the mock saw
("seen": model, auth ok, stream_options) so tests can check the rewrite.
Usage is fixed so tests can check accounting and cost: chat/completions/
responses 11 prompt (4 of them cached) + 7 completion, embeddings 5 prompt,
messages 13 input + 5 read from the cache + 9 output.
Streams send their events with a short pause between them (--delay-ms).
--log FILE appends one JSON line per request (headers, body) for the tests.
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
LOG_LOCK = threading.Lock()

# Usage as the providers report it, with prompt-cache hits: OpenAI counts the
# cached tokens inside prompt_tokens, Anthropic beside input_tokens.
OPENAI_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                "prompt_tokens_details": {"cached_tokens": 4}}
ANTHROPIC_INPUT = {"input_tokens": 13, "cache_read_input_tokens": 5}


def log_request(entry):
    if not ARGS.log:
        return
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-llm"
    disable_nagle_algorithm = True  # small SSE writes go out at once

    def log_message(self, fmt, *args):
        if os.environ.get("MOCK_LLM_DEBUG"):
            sys.stderr.write("mock_llm: " + (fmt % args) + "\n")

    # --- plumbing --------------------------------------------------------
    def body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
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

    def send_json(self, status, obj, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-mock", "1")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def openai_error(self, status, msg, typ="invalid_request_error"):
        self.send_json(status, {"error": {"message": msg, "type": typ, "param": None,
                                          "code": typ}})

    def anthropic_error(self, status, msg, typ="invalid_request_error"):
        self.send_json(status, {"type": "error", "error": {"type": typ, "message": msg}})

    def sse_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def sse(self, data, event=None):
        text = ""
        if event:
            text += "event: %s\n" % event
        text += "data: %s\n\n" % (data if isinstance(data, str) else json.dumps(data))
        raw = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.flush()
        if ARGS.delay_ms:
            time.sleep(ARGS.delay_ms / 1000.0)

    def sse_end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- checks ------------------------------------------------------------
    def check_auth(self, anthropic):
        auth = self.headers.get_all("Authorization") or []
        xkey = self.headers.get_all("x-api-key") or []
        if anthropic:
            ok = xkey == [ARGS.anthropic_key] and not auth
            if ok and not self.headers.get("anthropic-version"):
                return "anthropic-version missing"
        else:
            ok = auth == ["Bearer " + ARGS.openai_key] and not xkey
        return None if ok else "bad credentials: auth=%r x-api-key=%r" % (auth, xkey)

    def do_GET(self):
        log_request({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/v1/models"):
            self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model"}
                                                            for m in ARGS.model]})
            return
        self.openai_error(404, "no such path " + self.path)

    def do_POST(self):
        raw = self.body()
        entry = {"method": "POST", "path": self.path, "headers": dict(self.headers),
                 "body": raw.decode("utf-8", "replace")}
        log_request(entry)
        anthropic = self.path.startswith("/v1/messages")
        err = self.check_auth(anthropic)
        if err:
            (self.anthropic_error if anthropic else self.openai_error)(
                401, err, "authentication_error")
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self.openai_error(400, "body is not JSON")
            return
        model = req.get("model")
        if model not in ARGS.model:
            (self.anthropic_error if anthropic else self.openai_error)(
                404, "model %r not served here (ward should have rewritten it)" % (model,),
                "not_found_error")
            return
        seen = {"model": model, "auth": "ok", "stream_options": req.get("stream_options"),
                "path": self.path}
        stream = bool(req.get("stream"))
        path = self.path.split("?")[0]
        if path == "/v1/chat/completions":
            self.chat(req, seen, stream)
        elif path == "/v1/completions":
            self.completions(req, seen, stream)
        elif path == "/v1/embeddings":
            self.send_json(200, {"object": "list", "model": model,
                                 "data": [{"object": "embedding", "index": 0,
                                           "embedding": [0.1, 0.2, 0.3]}],
                                 "usage": {"prompt_tokens": 5, "total_tokens": 5}})
        elif path == "/v1/responses":
            self.api_responses(req, seen, stream)
        elif path == "/v1/messages":
            self.messages(req, seen, stream)
        else:
            self.openai_error(404, "no such path " + self.path)

    # --- APIs ----------------------------------------------------------------
    def chat(self, req, seen, stream):
        text = "hello from %s" % req["model"]
        if not stream:
            self.send_json(200, {
                "id": "chatcmpl-mock", "object": "chat.completion", "created": 1,
                "model": req["model"], "seen": seen,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": OPENAI_USAGE})
            return
        self.sse_start()
        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1,
                "model": req["model"]}
        words = text.split(" ")
        for i, w in enumerate(words):
            self.sse(dict(base, choices=[{"index": 0, "finish_reason": None,
                                          "delta": {"content": (w if i == 0 else " " + w)}}]))
        self.sse(dict(base, choices=[{"index": 0, "finish_reason": "stop", "delta": {}}]))
        if (req.get("stream_options") or {}).get("include_usage"):
            self.sse(dict(base, choices=[], usage=OPENAI_USAGE))
        self.sse("[DONE]")
        self.sse_end()

    def completions(self, req, seen, stream):
        if not stream:
            self.send_json(200, {"id": "cmpl-mock", "object": "text_completion",
                                 "model": req["model"], "seen": seen,
                                 "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
                                 "usage": OPENAI_USAGE})
            return
        self.sse_start()
        self.sse({"id": "cmpl-mock", "object": "text_completion", "model": req["model"],
                  "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]})
        if (req.get("stream_options") or {}).get("include_usage"):
            self.sse({"id": "cmpl-mock", "object": "text_completion", "model": req["model"],
                      "choices": [], "usage": OPENAI_USAGE})
        self.sse("[DONE]")
        self.sse_end()

    def api_responses(self, req, seen, stream):
        resp = {"id": "resp-mock", "object": "response", "model": req["model"],
                "status": "completed", "seen": seen,
                "output": [{"type": "message", "role": "assistant", "id": "msg_1",
                            "status": "completed",
                            "content": [{"type": "output_text", "text": "ok",
                                         "annotations": []}]}],
                "usage": {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 4},
                          "output_tokens": 7, "total_tokens": 18}}
        if not stream:
            self.send_json(200, resp)
            return
        self.sse_start()
        self.sse({"type": "response.output_text.delta", "delta": "ok"},
                 "response.output_text.delta")
        self.sse({"type": "response.completed", "response": resp}, "response.completed")
        self.sse_end()

    def messages(self, req, seen, stream):
        text = "hello from %s" % req["model"]
        msg = {"id": "msg_mock", "type": "message", "role": "assistant", "model": req["model"],
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": dict(ANTHROPIC_INPUT, output_tokens=1)}
        if not stream:
            msg.update(content=[{"type": "text", "text": text}], stop_reason="end_turn",
                       usage=dict(ANTHROPIC_INPUT, output_tokens=9), seen=seen)
            self.send_json(200, msg)
            return
        self.sse_start()
        self.sse({"type": "message_start", "message": msg}, "message_start")
        self.sse({"type": "content_block_start", "index": 0,
                  "content_block": {"type": "text", "text": ""}}, "content_block_start")
        self.sse({"type": "ping"}, "ping")
        for i, w in enumerate(text.split(" ")):
            self.sse({"type": "content_block_delta", "index": 0,
                      "delta": {"type": "text_delta", "text": (w if i == 0 else " " + w)}},
                     "content_block_delta")
        self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self.sse({"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                     "stop_sequence": None},
                  "usage": {"output_tokens": 9}}, "message_delta")
        self.sse({"type": "message_stop"}, "message_stop")
        self.sse_end()


def serve(server):
    try:
        server.serve_forever(poll_interval=0.2)
    except Exception:  # noqa: BLE001 - a dying test server must not hang the test
        pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", type=int)
    ap.add_argument("--https", type=int)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--openai-key", required=True)
    ap.add_argument("--anthropic-key", required=True)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=int, default=600)
    ap.add_argument("--ready-file")
    ARGS = ap.parse_args()

    ThreadingHTTPServer.daemon_threads = True
    servers = []
    if ARGS.http:
        servers.append(ThreadingHTTPServer((ARGS.bind, ARGS.http), Handler))
    if ARGS.https:
        s = ThreadingHTTPServer((ARGS.bind, ARGS.https), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        servers.append(s)
    for s in servers:
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if ARGS.ready_file:
        with open(ARGS.ready_file, "w") as f:
            f.write("ready\n")
    time.sleep(ARGS.lifetime)
    os._exit(0)


if __name__ == "__main__":
    main()
