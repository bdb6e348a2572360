#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Test upstreams for ward's e2e tests (run inside the test's own netns by
upstream.sh, never on the host's addresses).

--http PORT    plain HTTP echo (may be given more than once)
--https PORT   the same echo over TLS (--cert/--key from the test CA)
--git-root DIR serve `git http-backend` for DIR under /git/ on both ports

Echo: every request is answered 200 with a JSON body telling what the
upstream saw, so a test can check what ward forwarded (injected credentials,
rewritten heads, bodies):
  {"method", "path", "query", "headers": [[name, value], ...],
   "header": {lower-case name: last value}, "body": text, "body_len", "tls"}
Paths /status/N answer status N with the same body. A bounded lifetime
(--lifetime seconds) ends the process even if nobody kills it."""

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ward-test-upstream"
    git_root = None

    def log_message(self, fmt, *args):  # quiet; tests read the echo instead
        if os.environ.get("WARD_UPSTREAM_DEBUG"):
            sys.stderr.write("upstream: " + (fmt % args) + "\n")

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(16)
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        path, _, query = self.path.partition("?")
        if self.git_root and path.startswith("/git/"):
            return self.git(path[len("/git"):], query)
        body = self.read_body()
        status = 200
        if path.startswith("/status/"):
            try:
                status = int(path.split("/")[2])
            except ValueError:
                status = 400
        doc = {
            "method": self.command,
            "path": path,
            "query": query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "header": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "body_len": len(body),
            "tls": isinstance(self.connection, ssl.SSLSocket),
        }
        out = (json.dumps(doc) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def git(self, path_info, query):
        body = self.read_body()
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": self.git_root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": "ward-test",  # lets receive-pack run (push tests)
            "GIT_HTTP_MAX_REQUEST_BUFFER": str(MAX_BODY),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        p = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                           timeout=120)
        head, _, payload = p.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = p.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


def serve(server):
    try:
        server.serve_forever(poll_interval=0.2)
    except Exception:  # one broken listener must not hide the others' errors
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--http", type=int, action="append", default=[])
    ap.add_argument("--https", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--git-root")
    ap.add_argument("--lifetime", type=int, default=900)
    ap.add_argument("--ready-file")
    a = ap.parse_args()

    Handler.git_root = a.git_root
    servers = []
    for port in a.http:
        servers.append(ThreadingHTTPServer((a.bind, port), Handler))
    if a.https:
        s = ThreadingHTTPServer((a.bind, a.https), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        ctx.set_alpn_protocols(["http/1.1"])
        # Handshake in the handler thread: a client refusing the certificate
        # must not stop the accept loop.
        s.socket = ctx.wrap_socket(s.socket, server_side=True, do_handshake_on_connect=False)
        servers.append(s)
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write(str(os.getpid()))
    threading.Event().wait(a.lifetime)
    os._exit(0)


if __name__ == "__main__":
    main()
