#!/usr/bin/env python3
"""promcheck.py FILE [SAMPLE...]

A strict reader of the Prometheus text exposition format 0.0.4 (as
latchkeyd's /metrics writes it). It refuses: a line that is not a
"# HELP", "# TYPE", other comment or sample line; a bad metric or label
name; a label value with an unknown escape; a value that is not a Go
float; HELP or TYPE given twice, TYPE after the family's samples or with
an unknown type; a family's samples not together; a sample twice; a
counter without "_total" or negative; a histogram without its +Inf
bucket, _sum and _count, with buckets out of order or decreasing, or
+Inf != _count.

Without SAMPLE, prints every sample as "name{labels} value" (labels in
order); with SAMPLEs (written the same way), prints each one's value, or
"absent". Exits 1 with the line and the reason on the first error.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LVAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*,?)?\})? (\S+)(?: (-?\d+))?$"
                    % (NAME, LNAME, LVAL, LNAME, LVAL))
LABEL = re.compile(r"(%s)=(%s),?" % (LNAME, LVAL))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$"
                  % NAME)
FLOAT = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                   r"|[+-]Inf|NaN)$")


class Bad(Exception):
    pass


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return name


def fval(s):
    if not FLOAT.match(s):
        raise Bad("value %r is not a float" % s)
    return float(s.replace("Inf", "inf"))


def parse(text):
    helps, types, samples, order, done = {}, {}, {}, [], set()
    current = None
    if text and not text.endswith("\n"):
        raise Bad("no newline at the end")
    for no, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.startswith("#"):
                m = HELP.match(line) if line.startswith("# HELP") else None
                t = TYPE.match(line) if line.startswith("# TYPE") else None
                if line.startswith("# HELP"):
                    if not m:
                        raise Bad("bad HELP")
                    if m.group(1) in helps:
                        raise Bad("HELP twice")
                    helps[m.group(1)] = m.group(2)
                elif line.startswith("# TYPE"):
                    if not t:
                        raise Bad("bad TYPE")
                    name = t.group(1)
                    if name in types:
                        raise Bad("TYPE twice")
                    if name in done or name == current:
                        raise Bad("TYPE after the samples")
                    types[name] = t.group(2)
                continue
            if line == "":
                raise Bad("empty line")
            m = SAMPLE.match(line)
            if not m:
                raise Bad("not a sample line")
            name, labels = m.group(1), []
            if m.group(2):
                labels = LABEL.findall(m.group(2))
                if len({k for k, _ in labels}) != len(labels):
                    raise Bad("a label twice")
            value = fval(m.group(3))
            fam = family_of(name, types)
            if fam != current:
                if fam in done:
                    raise Bad("family %s not together" % fam)
                if current is not None:
                    done.add(current)
                current = fam
            key = name + ("{" + ",".join("%s=%s" % kv for kv in labels) + "}"
                          if labels else "")
            if key in samples:
                raise Bad("sample twice")
            samples[key] = value
            order.append((fam, name, labels, value, key))
            kind = types.get(fam, "untyped")
            if kind == "counter":
                if not name.endswith("_total"):
                    raise Bad("counter without _total")
                if value < 0 or math.isnan(value):
                    raise Bad("counter below 0")
        except Bad as e:
            raise Bad("line %d: %s: %r" % (no, e, line))
    for fam, kind in types.items():
        if kind == "histogram":
            check_histogram(fam, order)
    return samples


def check_histogram(fam, order):
    groups = {}
    for f, name, labels, value, _ in order:
        if f != fam:
            continue
        rest = tuple(kv for kv in labels if kv[0] != "le")
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            le = [v for k, v in labels if k == "le"]
            if len(le) != 1:
                raise Bad("%s: a bucket without le" % fam)
            g["buckets"].append((fval(le[0][1:-1]), value))
        elif name == fam + "_sum":
            g["sum"] = value
        elif name == fam + "_count":
            g["count"] = value
        else:
            raise Bad("%s: stray sample %s" % (fam, name))
    if not groups:
        raise Bad("%s: a histogram without samples" % fam)
    for g in groups.values():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise Bad("%s: no +Inf bucket last" % fam)
        for (l1, c1), (l2, c2) in zip(b, b[1:]):
            if not l1 < l2 or c2 < c1:
                raise Bad("%s: buckets out of order or decreasing" % fam)
        if g["sum"] is None or g["count"] is None:
            raise Bad("%s: no _sum or _count" % fam)
        if g["count"] != b[-1][1]:
            raise Bad("%s: +Inf bucket != _count" % fam)


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        samples = parse(text)
    except Bad as e:
        print("promcheck: %s" % e)
        return 1
    if len(argv) == 2:
        for k, v in samples.items():
            print("%s %r" % (k, v))
        return 0
    for want in argv[2:]:
        v = samples.get(want)
        print("absent" if v is None else "%g" % v)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
