#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run a command on a pseudo-terminal, the way a user runs an agent's TUI
(tests/e2e/agents/test_agents.sh).

  pty_run.py --screen FILE --done PATTERN [--keys K]...
             [--answer PATTERN=KEYS]... --timeout S -- CMD [ARG...]

Everything the command writes to the terminal goes to --screen. Whenever the
screen shows PATTERN (a regular expression over the last 4 KiB, ANSI escapes
removed, and so spaces: TUIs move the cursor instead of printing them), KEYS
are typed once per match (first-run dialogs). When the screen shows --done
(the agent's last answer), the --keys are typed after a short pause (e.g.
"/exit\\r"); if the command is still running 10 s later it gets SIGTERM,
then SIGKILL. Exit status: the command's, or 124 when --timeout ran out
before --done appeared.
"""

import argparse
import codecs
import os
import pty
import re
import select
import signal
import sys
import time

ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]")


def unescape(s):
    return codecs.decode(s.encode(), "unicode_escape").encode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--screen", required=True)
    ap.add_argument("--done", required=True)
    ap.add_argument("--keys", action="append", default=[])
    ap.add_argument("--answer", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    answers = []
    for spec in a.answer:
        pat, _, keys = spec.partition("=")
        answers.append([re.compile(pat), unescape(keys), 0])
    done = re.compile(a.done)

    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(cmd[0], cmd)
    # a screen big enough for the TUIs' layouts
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    os.kill(pid, signal.SIGWINCH)

    start = time.monotonic()
    done_at = None
    keys_sent = False
    term_at = None
    tail = ""
    status = None
    with open(a.screen, "wb") as screen:
        while True:
            now = time.monotonic()
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if data:
                    screen.write(data)
                    screen.flush()
                    text = ANSI.sub("", data.decode("utf-8", "replace")).replace(" ", "")
                    tail = (tail + text)[-4096:]
                    for ans in answers:
                        hits = len(ans[0].findall(tail))
                        if hits > ans[2]:
                            ans[2] = hits
                            time.sleep(0.3)
                            os.write(fd, ans[1])
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                status = os.waitstatus_to_exitcode(st)
                break
            if done_at is None:
                if done.search(tail):
                    done_at = now
                elif now - start > a.timeout:
                    os.kill(pid, signal.SIGTERM)
                    term_at = now
                    done_at = float("inf")
            elif not keys_sent and now - done_at > 2:
                for k in a.keys:
                    os.write(fd, unescape(k))
                    time.sleep(0.5)
                keys_sent = True
            elif keys_sent and term_at is None and now - done_at > 12:
                os.kill(pid, signal.SIGTERM)
                term_at = now
            if term_at is not None and now - term_at > 5:
                os.kill(pid, signal.SIGKILL)
    if term_at is not None and done_at == float("inf"):
        sys.stderr.write("pty_run: timed out before the done text\n")
        return 124
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
