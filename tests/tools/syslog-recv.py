#!/usr/bin/env python3
"""syslog-recv.py SOCKET OUT: a stand-in for the local syslog daemon in
tests. Binds the Unix datagram socket SOCKET (removed first if it is a
stale one) and appends each datagram it receives to OUT as one line.
Stop it with SIGTERM (by its PID); it removes SOCKET on the way out, so
that senders see it gone, as when syslog stops."""
import os
import signal
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(path)

    def stop(*_):
        try:
            os.unlink(path)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(out, "ab", buffering=0) as f:
        while True:
            data = s.recv(1 << 17)
            f.write(data.replace(b"\n", b"\\n") + b"\n")


if __name__ == "__main__":
    main()
