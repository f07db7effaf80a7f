#!/usr/bin/env python3
"""webhook-recv.py PORT OUT: a receiver for latchkeyd's --audit-webhook in
tests, on 127.0.0.1:PORT. Each POST must be a batch
{"v":1,"first":F,"last":L,"events":[...]} whose events' seqs run F..L;
it is answered 200 and each event is appended to OUT as one line
"<seq> <kind>". Anything else is answered 400 and logged on stderr.
Stop it with SIGTERM (by its PID)."""
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        try:
            b = json.loads(body)
            seqs = [e["seq"] for e in b["events"]]
            assert b["v"] == 1 and seqs == list(range(b["first"], b["last"] + 1))
            assert self.headers.get("Content-Type") == "application/json"
        except Exception as exc:  # noqa: BLE001 - any malformed batch
            sys.stderr.write("bad batch: %r\n" % (exc,))
            self.send_response(400)
            self.end_headers()
            return
        with open(self.server.out, "a") as f:
            for e in b["events"]:
                f.write("%d %s\n" % (e["seq"], e["kind"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def main():
    srv = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.out = sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
