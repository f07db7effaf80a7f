#!/usr/bin/env python3
"""tests/tools/wsdial.py: a tiny raw WebSocket client for the hostile cases
of tests/integration/test_resume.sh (RFC 6455 by hand, ws:// only).

    wsdial.py [--resume] [--send TEXT]... [--timeout S] URL

Dials URL (with the request header "Latchkey-Resume: 1" when --resume),
prints "status N" and, when the answer is not 101, "body ..." and exits.
After a 101 it prints "resume-header V" (the answer's Latchkey-Resume, or
-), sends each TEXT as a masked text frame, then prints every frame the
server sends until it closes: "text ...", "binary N" (its length),
"ping", "close CODE REASON" (answered with the same close), or "eof"
when the connection ends without a close frame, or "timeout".
Exits 0 once it has printed the last line.
"""
import base64
import os
import socket
import struct
import sys
import time
from urllib.parse import urlsplit


def frame(opcode, payload):
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + body


class Conn:
    def __init__(self, sock, buf, deadline):
        self.sock, self.buf, self.deadline = sock, buf, deadline

    def need(self, n):
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.need(8))[0]
        mask = self.need(4) if b1 & 0x80 else None
        data = self.need(n)
        if mask:
            data = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
        return b0 & 0x0F, data


def main():
    args = sys.argv[1:]
    resume, texts, timeout = False, [], 10.0
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--resume":
            resume = True
        elif a == "--send":
            texts.append(args.pop(0))
        elif a == "--timeout":
            timeout = float(args.pop(0))
        else:
            sys.exit("wsdial.py: unknown option " + a)
    if len(args) != 1:
        sys.exit(__doc__)
    u = urlsplit(args[0])
    if u.scheme != "ws":
        sys.exit("wsdial.py: a ws:// URL")
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s?%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\n"
           "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: %s\r\n%s\r\n") % (
        u.path, u.query, u.netloc, key,
        "Latchkey-Resume: 1\r\n" if resume else "")
    sock.sendall(req.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    print("status %d" % status, flush=True)
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if status != 101:
        n = int(hdrs.get("content-length", "0") or 0)
        sock.settimeout(2)
        try:
            while len(rest) < n:
                d = sock.recv(65536)
                if not d:
                    break
                rest += d
        except OSError:
            pass
        print("body " + rest.decode("utf-8", "replace").replace("\n", " "))
        return 0
    print("resume-header " + hdrs.get("latchkey-resume", "-"), flush=True)
    for t in texts:
        sock.sendall(frame(0x1, t.encode()))
    c = Conn(sock, rest, deadline)
    try:
        while True:
            op, data = c.read_frame()
            if op == 0x1:
                print("text " + data.decode("utf-8", "replace"), flush=True)
            elif op in (0x0, 0x2):
                print("binary %d" % len(data), flush=True)
            elif op == 0x9:
                print("ping", flush=True)
                sock.sendall(frame(0xA, data))
            elif op == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                print("close %d %s" % (code, data[2:].decode("utf-8", "replace")))
                try:
                    sock.sendall(frame(0x8, data[:2]))
                except OSError:
                    pass
                return 0
    except TimeoutError:
        print("timeout")
    except (EOFError, OSError):
        print("eof")
    return 0


if __name__ == "__main__":
    sys.exit(main())
