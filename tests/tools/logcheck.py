#!/usr/bin/env python3
"""logcheck.py text|json [--time yes|no] [--prog NAME] FILE...

A strict reader of latchkeyd's and latchkey-agent's event lines
(docs/operations.md, "Logs"). Every line must parse:

  text: fields "key=value" separated by one space; a key is
        [A-Za-z0-9_.-]+; a value is bare (bytes 0x21-0x7e but " = \\)
        or quoted ("..." with \\" \\\\ and \\xNN as its only escapes);
        no key twice.
  json: one JSON object, every value a string, no key twice.

Both: the fields begin with time (RFC 3339, UTC, milliseconds: present
with --time yes, absent with --time no), level (debug, info, warn, crit),
prog, msg. Prints "N lines ok" or the first bad line and exits 1.
"""
import json
import re
import sys

KEY = r"[A-Za-z0-9_.-]+"
BARE = r'[\x21\x23-\x3c\x3e-\x5b\x5d-\x7e]+'
QUOTED = r'"(?:\\["\\]|\\x[0-9a-f]{2}|[\x20\x21\x23-\x5b\x5d-\x7e])*"'
FIELD = re.compile(r"(%s)=(%s|%s)(?: |$)" % (KEY, QUOTED, BARE))
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LEVELS = {"debug", "info", "warn", "crit"}


def unquote(v):
    if not v.startswith('"'):
        return v
    return re.sub(r'\\(["\\])|\\x([0-9a-f]{2})',
                  lambda m: m.group(1) or chr(int(m.group(2), 16)), v[1:-1])


def parse_text(line):
    pairs, pos = [], 0
    while pos < len(line):
        m = FIELD.match(line, pos)
        if not m:
            raise ValueError("bad field at column %d" % pos)
        pairs.append((m.group(1), unquote(m.group(2))))
        pos = m.end()
    if line.endswith(" "):
        raise ValueError("trailing blank")
    return pairs


def parse_json(line):
    pairs = json.loads(line, object_pairs_hook=lambda p: p)
    if not isinstance(pairs, list):
        raise ValueError("not an object")
    for k, v in pairs:
        if not isinstance(v, str):
            raise ValueError("%s is not a string" % k)
    return pairs


def check(pairs, want_time, prog):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key twice")
    head = ["time", "level", "prog", "msg"] if want_time else \
        ["level", "prog", "msg"]
    if keys[:len(head)] != head:
        raise ValueError("fields begin %s, not %s" % (keys[:4], head))
    d = dict(pairs)
    if "time" in keys[len(head):]:
        raise ValueError("time out of place")
    if want_time and not TIME.match(d["time"]):
        raise ValueError("time %r is not RFC 3339 UTC" % d["time"])
    if d["level"] not in LEVELS:
        raise ValueError("level %r" % d["level"])
    if prog and d["prog"] != prog:
        raise ValueError("prog %r" % d["prog"])
    return d


def main(argv):
    fmt, want_time, prog, files = argv[1], True, None, []
    i = 2
    while i < len(argv):
        if argv[i] == "--time":
            want_time = argv[i + 1] == "yes"
            i += 2
        elif argv[i] == "--prog":
            prog = argv[i + 1]
            i += 2
        else:
            files.append(argv[i])
            i += 1
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            for no, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("ascii").rstrip("\n")
                    pairs = parse_text(line) if fmt == "text" else \
                        parse_json(line)
                    check(pairs, want_time, prog)
                except (ValueError, UnicodeDecodeError) as e:
                    print("%s:%d: %s: %r" % (f, no, e, raw[:300]))
                    return 1
                n += 1
    if n == 0:
        print("no lines")
        return 1
    print("%d lines ok" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
