#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Clients that tests/e2e/test_service.sh runs inside `ward exec` sessions.

hold HOST TAG STOPFILE [direct]
    One TLS connection through the proxy (CONNECT from $HTTPS_PROXY, then TLS
    with ward's CA from SSL_CERT_FILE) to HOST:443, or with "direct" straight
    to HOST:443 (transparent: the kernel redirects it to the proxy), kept
    alive: a GET
    /hold/TAG/N on it every 50 ms, one line per answer ("ok N"). Ends with one
    line and a status: "stopped" (0) once STOPFILE exists or after 120 s;
    "closed EXC" (3) when the connection breaks (EOF, reset); "reconnected"
    (4) when http.client had to open a new connection (the old one was closed
    cleanly, e.g. "Connection: close"); "status S" (5) for an answer that is
    not 200 on the same connection.

connect403 HOST
    CONNECT HOST:443 on a raw socket to the proxy; prints the status line,
    then the body of the answer.

pair DIR TAG
    Writes DIR/TAG.ready, waits (at most 60 s) for DIR/go, then one GET
    https://a.service.test/TAG/python through $HTTPS_PROXY; prints the path
    the upstream saw.
"""

import http.client
import os
import socket
import ssl
import sys
import time


def proxy_addr():
    p = os.environ.get("HTTPS_PROXY") or os.environ["https_proxy"]
    p = p.split("//", 1)[-1].rstrip("/")
    h, port = p.rsplit(":", 1)
    return h, int(port)


def hold(host, tag, stopf, mode="connect"):
    ctx = ssl.create_default_context()
    if mode == "direct":
        c = http.client.HTTPSConnection(host, 443, timeout=10, context=ctx)
    else:
        ph, pp = proxy_addr()
        c = http.client.HTTPSConnection(ph, pp, timeout=10, context=ctx)
        c.set_tunnel(host, 443)
    c.connect()
    sock = c.sock
    n = 0
    deadline = time.monotonic() + 120
    while not os.path.exists(stopf) and time.monotonic() < deadline:
        try:
            c.request("GET", "/hold/%s/%d" % (tag, n))
            r = c.getresponse()
            r.read()
        except (OSError, http.client.HTTPException) as e:
            print("closed %s %s" % (type(e).__name__, e), flush=True)
            return 3
        if r.status != 200:
            print("status %d" % r.status, flush=True)
            return 5
        if c.sock is not sock:
            print("reconnected", flush=True)
            return 4
        print("ok %d" % n, flush=True)
        n += 1
        time.sleep(0.05)
    print("stopped", flush=True)
    return 0


def connect403(host):
    s = socket.create_connection(proxy_addr(), timeout=10)
    s.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (host, host)).encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v)
            if len(body) >= n:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    print(head.split(b"\r\n")[0].decode())
    print(body.decode("utf-8", "replace"))
    return 0


def pair(d, tag):
    open(os.path.join(d, tag + ".ready"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(d, "go")):
        if time.monotonic() > deadline:
            print("no go")
            return 2
        time.sleep(0.02)
    ph, pp = proxy_addr()
    c = http.client.HTTPSConnection(ph, pp, timeout=15, context=ssl.create_default_context())
    c.set_tunnel("a.service.test", 443)
    c.request("GET", "/%s/python" % tag)
    r = c.getresponse()
    import json
    print(json.loads(r.read())["path"], flush=True)
    return 0


if __name__ == "__main__":
    verb = sys.argv[1]
    if verb == "hold":
        sys.exit(hold(*sys.argv[2:6]))
    if verb == "connect403":
        sys.exit(connect403(sys.argv[2]))
    if verb == "pair":
        sys.exit(pair(*sys.argv[2:4]))
    sys.exit("unknown verb " + verb)
