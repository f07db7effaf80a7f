#!/usr/bin/env python3
"""storm.py: hostile load on a latchkeyd on loopback, and the well-behaved
caller that measures key pushes through it (issue 10).

    storm.py storm --port P --duration S --out DIR [options]
    storm.py push  --port P --duration S --out DIR --keys FILE [options]

storm runs, at once and until --duration is over:
  slow     --slow connections (default 2,000) spread over source addresses
           (--hot-a of them from 127.0.0.2, --hot-b from 127.0.0.3, the
           rest over 127.0.0.4..127.0.0.20), each sending a request head
           one byte a second and never finishing it; a connection the
           server cuts is opened again 0.5 s later;
  flood    --flood-rate requests a second that the server must refuse
           before any handler runs or at the API's door: a request line
           with thousands of query arguments, a huge header, very many
           headers, malformed request lines, unsigned and badly signed API
           calls, an agent poll without a credential; plus plain requests
           from 127.0.0.2 (over its per-address limit), which must be
           answered 503 Throttling;
  signin   a wave of --signins parallel operator sign-ins with wrong
           passwords (POST /console/api/signin) every --signin-every s,
           each wave from 10 fresh addresses in 127.0.1.0/24;
  hog      StartTerminalSession every 100 ms with one access key
           (--hog-ak, --hog-secret) on --instance, never dialling.
At the end it closes every socket it opened and prints one line per
counter ("kind status count") on stdout; DIR/throttled.txt keeps the first
503 answers it got (head and body).

push sends, every --every s, a signed InvokeCommand of
ACS-ECS-SendSshPublicKey-linux.sh for --user with the next key of --keys
(one OpenSSH public key a line) from 127.0.0.1, and polls
DescribeInvocationResults every 20 ms until the invocation is final (at
most 10 s). DIR/push.txt gets one line a push: "<ms> <status> <in_store>
<invoke_id> <fingerprint>" (ms from the call to InvocationStatus Success;
in_store 1 when the key's record was in --store when Success was seen). With --watch PID it samples
/proc/PID/status every 0.5 s into DIR/rss.txt ("<s> <VmRSS kB> <Threads>").

Both bound themselves: they stop at --duration (plus at most 10 s for the
answers in flight) and an alarm ends the process 60 s after that.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import signal
import socket
import sys
import time
import urllib.parse
import uuid
from collections import Counter

COUNTS = Counter()
THROTTLED = []


def enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def signed_path(action, ak, secret, params):
    """The path and query of a signed (signature 1.0, HMAC-SHA1) API GET."""
    p = {"Action": action, "Version": "2014-05-26", "Format": "JSON",
         "RegionId": "cn-hangzhou", "AccessKeyId": ak,
         "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
         "SignatureNonce": uuid.uuid4().hex,
         "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    p.update(params)
    q = "&".join(enc(k) + "=" + enc(v) for k, v in sorted(p.items()))
    sts = "GET&%2F&" + enc(q)
    sig = base64.b64encode(hmac.new((secret + "&").encode(), sts.encode(),
                                    hashlib.sha1).digest()).decode()
    return "/?" + q + "&Signature=" + enc(sig)


async def connect(port, src):
    """A stream from source address src (bound before connect)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((src, 0))
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return await asyncio.open_connection(sock=s)


async def request(port, src, raw, timeout=10.0):
    """Sends raw bytes, reads the answer to EOF: (status, head, body);
    status 0 when the connection was closed without an answer, -1 on a
    connect error or time-out."""
    w = None
    try:
        r, w = await asyncio.wait_for(connect(port, src), timeout)
        w.write(raw)
        await w.drain()
        data = await asyncio.wait_for(r.read(), timeout)
    except (OSError, asyncio.TimeoutError):
        data = None
    finally:
        if w is not None:
            w.close()
    if data is None:
        return -1, b"", b""
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1]) if head else 0
    except (IndexError, ValueError):
        status = 0
    return status, head, body


def get(path, port, close=True):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n" % (
        path, port, "Connection: close\r\n" if close else "")).encode()


async def api(port, src, ak, secret, action, params, timeout=10.0):
    st, _, body = await request(
        port, src, get(signed_path(action, ak, secret, params), port),
        timeout)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, {}


# ---- storm -------------------------------------------------------------

async def slow_one(a, i, src, deadline):
    """One slow client: a head one byte a second, reconnected when cut."""
    await asyncio.sleep((i % 200) * 0.01)       # ramp: 2 s
    head = b"GET /slow/%d HTTP/1.1\r\nHost: x\r\nX-Slow: " % i
    while time.monotonic() < deadline:
        # Timed from before connect(): a busy event loop can only make a
        # connection look older than it is, never younger.
        t0 = time.monotonic()
        try:
            r, w = await connect(a.port, src)
        except OSError:
            COUNTS["slow connect-error"] += 1
            await asyncio.sleep(0.5)
            continue
        COUNTS["slow opened"] += 1
        pos = 0
        try:
            while time.monotonic() < deadline:
                w.write(head[pos:pos + 1] if pos < len(head) else b"a")
                pos += 1
                try:
                    data = await asyncio.wait_for(r.read(4096), 1.0)
                except asyncio.TimeoutError:
                    continue
                if data:
                    st = data.split(b" ", 2)[1].decode("ascii", "replace")
                    COUNTS["slow answered-" + st] += 1
                elif time.monotonic() - t0 < 0.5:
                    COUNTS["slow closed-at-once " + src] += 1
                else:
                    el = time.monotonic() - t0
                    COUNTS["slow cut"] += 1
                    COUNTS["slow cut-after-%ds" % int(el)] += 1
                    if el < a.header_timeout - 0.1:
                        COUNTS["slow cut-early " + src] += 1
                break
        except OSError:
            COUNTS["slow reset"] += 1
        finally:
            w.close()
        await asyncio.sleep(0.5)


def flood_kinds(a):
    big_args = "&".join("a%d=%d" % (n, n) for n in range(3000))
    ak = a.hog_ak or "LTAInosuchkey"
    return [
        ("many-args", get("/?" + big_args, a.port)),
        ("huge-header", ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n"
                         "Connection: close\r\n\r\n" % ("b" * 40000)).encode()),
        ("many-headers", ("GET / HTTP/1.1\r\nHost: x\r\n%sConnection: "
                          "close\r\n\r\n" % "".join(
                              "X-H%d: v\r\n" % n for n in range(2000))
                          ).encode()),
        ("bad-line", b"GARBAGE\r\n\r\n"),
        ("bad-version", b"GET / HTTP/7.3\r\nHost: x\r\n\r\n"),
        ("unsigned", get("/?Action=DescribeInstances&Version=2014-05-26"
                         "&Format=JSON&RegionId=cn-hangzhou", a.port)),
        ("bad-signature", None),                # signed per request
        ("poll-no-cred", get("/agent/v1/poll?wait=20", a.port)),
    ], ak


async def flood(a, deadline):
    kinds, ak = flood_kinds(a)
    n = 0
    tick = 1.0 / a.flood_rate
    sem = asyncio.Semaphore(200)
    tasks = set()

    async def one(kind, raw, src):
        async with sem:
            st, head, body = await request(a.port, src, raw)
        COUNTS["flood-%s %d" % (kind, st)] += 1
        if st == 503 and len(THROTTLED) < 20:
            THROTTLED.append(head + b"\r\n\r\n" + body)

    nxt = time.monotonic()
    while time.monotonic() < deadline:
        n += 1
        if n % 10 == 0:       # the hot address: over its limit
            kind, raw, src = "hot", get("/?Action=DescribeInstances",
                                        a.port), "127.0.0.2"
        else:
            kind, raw = kinds[n % len(kinds)]
            if raw is None:
                raw = get(signed_path("DescribeInstances", ak,
                                      "not-the-secret", {}), a.port)
            src = "127.0.0.%d" % (21 + n % 20)
        t = asyncio.create_task(one(kind, raw, src))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        nxt += tick
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))
    if tasks:
        await asyncio.wait(tasks, timeout=15)


async def signins(a, deadline):
    wave = 0
    body = json.dumps({"Operator": "lk-storm-admin",
                       "Password": "not-the-password"}).encode()

    async def one(src):
        raw = (b"POST /console/api/signin HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n"
               b"Connection: close\r\n\r\n" % (a.port, len(body))) + body
        st, head, b = await request(a.port, src, raw, 30.0)
        COUNTS["signin %d" % st] += 1
        if st == 503 and len(THROTTLED) < 20:
            THROTTLED.append(head + b"\r\n\r\n" + b)

    while time.monotonic() < deadline and wave < 20:
        srcs = ["127.0.1.%d" % (1 + wave * 10 + k % 10)
                for k in range(a.signins)]
        t0 = time.monotonic()
        await asyncio.gather(*(one(s) for s in srcs))
        COUNTS["signin wave-ms-max"] = max(
            COUNTS["signin wave-ms-max"], int((time.monotonic() - t0) * 1000))
        wave += 1
        await asyncio.sleep(max(0.0, t0 + a.signin_every - time.monotonic()))


async def hog(a, deadline):
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        st, js = await api(a.port, "127.0.0.41", a.hog_ak, a.hog_secret,
                           "StartTerminalSession",
                           {"InstanceId.1": a.instance})
        COUNTS["hog %d %s" % (st, js.get("Code", "Success" if js.get(
            "SessionId") else "none"))] += 1
        await asyncio.sleep(max(0.0, t0 + 0.1 - time.monotonic()))


async def storm(a):
    deadline = time.monotonic() + a.duration
    hot_b = ["127.0.0.3"] * a.hot_b
    hot_a = ["127.0.0.2"] * a.hot_a
    rest = ["127.0.0.%d" % (4 + k % 17)
            for k in range(a.slow - a.hot_a - a.hot_b)]
    srcs = hot_a + hot_b + rest
    jobs = [slow_one(a, i, s, deadline) for i, s in enumerate(srcs)]
    if a.flood_rate > 0:
        jobs.append(flood(a, deadline))
    if a.signins > 0:
        jobs.append(signins(a, deadline))
    if a.hog_ak:
        jobs.append(hog(a, deadline))
    await asyncio.gather(*jobs)
    with open(os.path.join(a.out, "throttled.txt"), "wb") as f:
        f.write(b"\n----\n".join(THROTTLED))
    for k in sorted(COUNTS):
        print(k, COUNTS[k])


# ---- push --------------------------------------------------------------

def store_has(store, user, pub):
    blob = base64.b64decode(pub.split()[1])
    return os.path.exists(os.path.join(store, user,
                                       hashlib.sha256(blob).hexdigest()))


async def push_one(a, pub, out):
    t0 = time.monotonic()
    st, js = await api(a.port, "127.0.0.1", a.ak, a.secret, "InvokeCommand", {
        "CommandId": "ACS-ECS-SendSshPublicKey-linux.sh",
        "InstanceId.1": a.instance,
        "Parameters": json.dumps({"username": a.user, "sshPublicKey": pub})})
    inv = js.get("InvokeId")
    status = "InvokeCommand-%d-%s" % (st, js.get("Code", ""))
    while inv and time.monotonic() - t0 < 10:
        st, js = await api(a.port, "127.0.0.1", a.ak, a.secret,
                           "DescribeInvocationResults",
                           {"InvokeId": inv, "InstanceId": a.instance})
        res = js.get("Invocation", {}).get("InvocationResults", {}).get(
            "InvocationResult", [{}])
        status = res[0].get("InvocationStatus", "none") if res else "none"
        if status in ("Success", "Failed", "Error", "Timeout", "Aborted",
                      "Terminated", "Cancelled", "Invalid"):
            break
        await asyncio.sleep(0.02)
    ms = (time.monotonic() - t0) * 1000
    ok = status == "Success" and store_has(a.store, a.user, pub)
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(
        pub.split()[1])).digest()).decode().rstrip("=")
    out.write("%.1f %s %d %s %s\n" % (ms, status, 1 if ok else 0, inv, fp))
    out.flush()


async def watch(a, deadline):
    t0 = time.monotonic()
    with open(os.path.join(a.out, "rss.txt"), "w") as f:
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/status" % a.watch) as s:
                    v = dict(line.split(":", 1) for line in s)
                f.write("%.1f %s %s\n" % (time.monotonic() - t0,
                                          v["VmRSS"].split()[0],
                                          v["Threads"].strip()))
                f.flush()
            except OSError:
                return
            await asyncio.sleep(0.5)


async def push(a):
    with open(a.keys) as f:
        keys = [line.strip() for line in f if line.strip()]
    deadline = time.monotonic() + a.duration
    tasks = []
    watcher = asyncio.create_task(watch(a, deadline)) if a.watch else None
    with open(os.path.join(a.out, "push.txt"), "a") as out:
        nxt = time.monotonic()
        for pub in keys:
            if time.monotonic() >= deadline:
                break
            tasks.append(asyncio.create_task(push_one(a, pub, out)))
            nxt += a.every
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        await asyncio.gather(*tasks)
    if watcher:
        await watcher


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["storm", "push"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--slow", type=int, default=2000)
    ap.add_argument("--hot-a", type=int, default=240)
    ap.add_argument("--hot-b", type=int, default=300)
    ap.add_argument("--flood-rate", type=float, default=200)
    ap.add_argument("--signins", type=int, default=100)
    ap.add_argument("--signin-every", type=float, default=10)
    ap.add_argument("--hog-ak", default="")
    ap.add_argument("--hog-secret", default="")
    ap.add_argument("--instance", default="")
    ap.add_argument("--ak", default="")
    ap.add_argument("--secret", default="")
    ap.add_argument("--keys", default="")
    ap.add_argument("--user", default="")
    ap.add_argument("--store", default="")
    ap.add_argument("--header-timeout", type=float, default=10)
    ap.add_argument("--every", type=float, default=0.2)
    ap.add_argument("--watch", type=int, default=0)
    a = ap.parse_args()
    if not (0 < a.duration <= 600) or a.slow > 20000 or \
            a.hot_a + a.hot_b > a.slow or a.flood_rate > 5000 or \
            a.signins > 1000:
        ap.error("out of bounds")
    signal.alarm(int(a.duration) + 60)          # the last word on time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(storm(a) if a.mode == "storm" else push(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
