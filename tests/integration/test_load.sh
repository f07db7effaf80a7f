#!/usr/bin/env bash
# Hostile load (issue 10): latchkeyd on 127.0.0.1 with small, explicit
# limits, a real latchkey-agent whose root has the config_ecs_instance_
# connect plug-in (and its own sshd), and for LK_STORM_SECONDS (25) at once
# (tests/tools/storm.py storm):
#   - 2,000 slow connections from 127.0.0.2..127.0.0.20, each sending a
#     request head one byte a second (240 from .2 and 300 from .3, over
#     --max-conns-per-ip 200), reconnected when cut;
#   - a flood of requests refused before any handler runs (thousands of
#     query arguments, a huge header, 2,000 headers, malformed request
#     lines) or at the API's door (unsigned, badly signed, an agent poll
#     without a credential), 200 a second, and plain requests from the
#     over-limit 127.0.0.2;
#   - waves of 100 parallel operator sign-ins with a wrong password;
#   - one access key starting StartTerminalSession every 100 ms on the
#     agent's instance without ever dialling (a session-slot hog);
# while the well-behaved caller on 127.0.0.1 pushes a key every 200 ms
# (storm.py push: signed InvokeCommand of ACS-ECS-SendSshPublicKey-linux.sh,
# timed until DescribeInvocationResults says Success). Every push must
# succeed within 1 s with its key in the store; latchkeyd's memory and
# threads stay bounded and come back; the slow clients are cut; refused
# callers get 503 Throttling with Retry-After; latchkeyd answers afterwards
# and stops cleanly on SIGTERM with no sanitizer report.
#
# Needs what lands with the rest of issue 10 (see docs/threading.md,
# docs/console.md, docs/sessions.md): the sign-in wave passes only with
# bounded password hashing (console_auth.c), and "another key still gets a
# session" only with the per-access-key session quota (api_sess.c).
. "$(dirname "$0")/lib.sh"

lk_setup
export PYTHONDONTWRITEBYTECODE=1
LK_SRC=$(cd "$(dirname "$0")/../.." && pwd)
STORM=$LK_SRC/tests/tools/storm.py
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
PLUGIN=config_ecs_instance_connect
SECONDS_STORM=${LK_STORM_SECONDS:-25}
PER_IP=200
HEADER_TIMEOUT=3
MAX_CONNS=4000
WORKERS=10

lk_need_built "$LKD" "$AGENT" "$T/bin/latchkey-authorized-keys"
command -v python3 >/dev/null ||
    { tap_fail "python3 is installed"; echo "1..$LK_N"; exit 1; }

ASAN=0
grep -qa '__asan_init' "$LKD" && ASAN=1

# Memory bounds (VmRSS, kB), measured on a 2-core machine with the sign-ins
# left out (LK_STORM_SIGNINS=0). Normal build: ~11 MB before the storm, a
# peak of 38-40 MB, ~14-16 MB a few seconds after it. ASan build: ~34 MB
# before, a peak of ~376 MB (its quarantine keeps 256 MB of freed memory),
# and it keeps that afterwards (its allocator does not give memory back),
# so there the check is that memory does not grow once the storm is over.
# Operator sign-ins add one scrypt (32 MiB) per core at most
# (docs/console.md): 33 MB a core on top.
NCPU=$(nproc)
# A push must end within PUSH_MAX_MS: the issue's 1 s; the ASan build runs
# everything (latchkeyd, the agent, the helpers) about three times slower,
# so there 2.5 s (its p99 was 0.8 s on a loaded 2-core machine).
PUSH_MAX_MS=1000
[ "$ASAN" = 1 ] && PUSH_MAX_MS=2500
if [ "$ASAN" = 1 ]; then
	# (~535 MB measured once --conn-memory became 32 KiB: 2,000 slow
	# connections' pools, with ASan's redzones and quarantine)
	RSS_PEAK_MAX=$(((620 + 33 * NCPU) * 1024))
else
	RSS_PEAK_MAX=$(((80 + 33 * NCPU) * 1024)); RSS_BACK_SLACK=$((20 * 1024))
fi

# ---------------------------------------------------------------------
# The scratch root with its sshd and the plug-in, latchkeyd, the agent.
lk_plugin_pkg
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
STORE=$R/run/latchkey/keys
check "sshd runs in the scratch root" lk_mkroot "$R" sshd1
check "the seed command installs the plug-in" env LATCHKEY_ROOT="$R" \
    LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P $PLUGIN --params --install

lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_accesskey AK --description pusher && lk_accesskey HOG --description hog &&
    lk_accesskey OTHER --description other
is "access keys for the pusher, the hog and a second caller" \
    "$([ -n "${AK_SECRET:-}" ] && [ -n "${HOG_SECRET:-}" ] && [ -n "${OTHER_SECRET:-}" ] && echo yes)" yes
lk_activation ACT --count 1
check "session-manager enable" lk_lkd_admin session-manager enable

check "latchkeyd listens with the test's limits" lk_lkd_start latchkeyd \
    --max-conns-per-ip "$PER_IP" --header-timeout "$HEADER_TIMEOUT" \
    --max-connections "$MAX_CONNS" --workers "$WORKERS"
SERVER=$LKD_URL
check "latchkeyd logs its limits" grep -qE \
    "limits\"? connections=$MAX_CONNS per_ip=$PER_IP .*header_timeout=$HEADER_TIMEOUT" \
    "$LKD_LOG"

lk_agent_register agent 2>/dev/null
IID=$AGENT_IID
LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
    check "the agent registers and connects (${IID:-none})" lk_agent_run agent

# Keys to push: one a push, made before the storm.
NKEYS=$((SECONDS_STORM * 5 + 10))
mkdir -p "$T/keys" "$T/out" "$T/warm"
for i in $(seq 1 "$NKEYS"); do
	ssh-keygen -q -t ed25519 -N '' -C "storm$i@test" -f "$T/keys/k$i" &&
	    cat "$T/keys/k$i.pub"
done >"$T/keys.txt"
head -n 3 "$T/keys.txt" >"$T/warm.txt"
tail -n +4 "$T/keys.txt" >"$T/storm-keys.txt"

push_args=(--port "$LKD_PORT" --ak "$AK_ID" --secret "$AK_SECRET"
    --instance "${IID:-none}" --user "$LK_ALICE" --store "$STORE")
# A warm-up: three pushes without load, each must succeed.
python3 "$STORM" push "${push_args[@]}" --duration 5 --out "$T/warm" \
    --keys "$T/warm.txt" >"$T/warm.out" 2>&1
is "warm-up: three pushes succeed without load, keys in the store" \
    "$(awk '$2 == "Success" && $3 == 1' "$T/warm/push.txt" 2>/dev/null | wc -l)" 3

# mem: "VmRSS_kB Threads" of latchkeyd now.
mem() { awk '/^VmRSS:/ { r = $2 } /^Threads:/ { t = $2 } END { print r, t }' \
    "/proc/$LKD_PID/status"; }
read -r RSS0 THR0 < <(mem)
echo "# before the storm: VmRSS ${RSS0} kB, ${THR0} threads"

# ---------------------------------------------------------------------
# The storm, and the pusher beside it.
python3 "$STORM" storm --port "$LKD_PORT" --duration "$SECONDS_STORM" \
    --out "$T/out" --header-timeout "$HEADER_TIMEOUT" \
    --signins "${LK_STORM_SIGNINS:-100}" --hog-ak "$HOG_ID" --hog-secret "$HOG_SECRET" \
    --instance "${IID:-none}" >"$T/storm.out" 2>"$T/storm.err" &
echo $! >"$T/storm.pid"
LK_PIDFILES+=("$T/storm.pid")
python3 "$STORM" push "${push_args[@]}" --duration "$SECONDS_STORM" \
    --out "$T/out" --keys "$T/storm-keys.txt" --watch "$LKD_PID" \
    >"$T/push.out" 2>"$T/push.err" &
echo $! >"$T/push.pid"
LK_PIDFILES+=("$T/push.pid")
wait "$(cat "$T/push.pid")"; push_rc=$?
wait "$(cat "$T/storm.pid")"; storm_rc=$?
is "the pusher ran to its end" "$push_rc" 0
is "the storm ran to its end" "$storm_rc" 0
sed 's/^/# storm: /' "$T/storm.out"
[ -s "$T/storm.err" ] && sed 's/^/# storm stderr: /' "$T/storm.err" | head -n 5
cnt() { awk -v k="$1" '$0 ~ "^" k " " { s += $NF } END { print s + 0 }' \
    "$T/storm.out"; }

# The pushes.
P=$T/out/push.txt
NPUSH=$(wc -l <"$P" 2>/dev/null || echo 0)
awk '{ print $1 }' "$P" | sort -n >"$T/push.ms"
pct() { awk -v p="$1" '{ v[NR] = $1 } END { k = int(p / 100 * NR);
    if (k < p / 100 * NR) k++; if (k < 1) k = 1; print v[k] + 0 }' "$T/push.ms"; }
echo "# pushes during the storm: $NPUSH, ms from InvokeCommand to Success:" \
    "p50 $(pct 50) p99 $(pct 99) max $(pct 100)"
[ "$NPUSH" -ge $((SECONDS_STORM * 4)) ] &&
    tap_ok "a push every 200 ms throughout the storm ($NPUSH)" ||
    tap_fail "a push every 200 ms throughout the storm (only $NPUSH)"
bad=$(awk '$2 != "Success" || $3 != 1' "$P")
is "every push ends Success with its key in the store" "$bad" ""
slow=$(awk -v max="$PUSH_MAX_MS" '$1 > max' "$P")
is "every push succeeds within $PUSH_MAX_MS ms" "$slow" ""
LASTFP=$(tail -n 1 "$P" | awk '{ print $5 }')
check "latchkey-authorized-keys serves a pushed key ($LASTFP)" sh -c \
    "'$T/bin/latchkey-authorized-keys' --store '$STORE' '$LK_ALICE' '$LASTFP' |
    grep -q 'expiry-time='"

# Memory and threads during the storm.
RSS_PEAK=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$T/out/rss.txt")
THR_PEAK=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$T/out/rss.txt")
echo "# during the storm: VmRSS peak ${RSS_PEAK} kB (bound $RSS_PEAK_MAX)," \
    "threads peak $THR_PEAK, $(wc -l <"$T/out/rss.txt") samples"
[ "$(wc -l <"$T/out/rss.txt")" -ge $((SECONDS_STORM)) ] &&
    [ "$RSS_PEAK" -le "$RSS_PEAK_MAX" ] &&
    tap_ok "VmRSS stays under $((RSS_PEAK_MAX / 1024)) MB during the storm ($((RSS_PEAK / 1024)) MB)" ||
    tap_fail "VmRSS stays under $((RSS_PEAK_MAX / 1024)) MB during the storm (peak $RSS_PEAK kB)"
[ "$THR_PEAK" -le $((THR0 + 2)) ] &&
    tap_ok "the thread count does not grow with the connections ($THR0 -> $THR_PEAK)" ||
    tap_fail "the thread count does not grow with the connections ($THR0 -> $THR_PEAK)"

# After the storm: the slow connections are gone (the storm closed its
# sockets); memory comes back within the slack (ASan: does not grow).
[ "$ASAN" = 1 ] && RSS_BACK_SLACK=$((RSS_PEAK + 5 * 1024 - RSS0))
back=0
for i in $(seq 1 40); do
	read -r RSS1 THR1 < <(mem)
	[ "$RSS1" -le $((RSS0 + RSS_BACK_SLACK)) ] && { back=1; break; }
	sleep 0.25
done
echo "# after the storm: VmRSS ${RSS1} kB, ${THR1} threads"
what="comes back within $((RSS_BACK_SLACK / 1024)) MB of where it started"
[ "$ASAN" = 1 ] && what="does not grow after the storm (ASan)"
[ "$back" = 1 ] && tap_ok "VmRSS $what ($RSS0 -> $RSS1 kB)" ||
    tap_fail "VmRSS $what ($RSS0 -> $RSS1 kB)"

# The slow clients, the flood, the sign-ins, the hog.
check "the slow connections were cut by the header timeout (log: connections cut=)" \
    grep -Eq 'connections"? cut=[0-9]* reason="request too slow"' "$LKD_LOG"
[ "$(cnt 'slow cut')" -ge 2000 ] &&
    tap_ok "the storm saw its slow connections cut ($(cnt 'slow cut') cuts, $(cnt 'slow opened') opened)" ||
    tap_fail "the storm saw its slow connections cut ($(cnt 'slow cut') cuts, $(cnt 'slow opened') opened)"
# (Timed from before the storm's connect(); the over-limit 127.0.0.2 and .3
# may be closed at accept.)
is "no slow connection was cut before $HEADER_TIMEOUT s (127.0.0.4..20)" \
    "$(grep -E '^slow cut-early ' "$T/storm.out" | grep -Ev ' 127\.0\.0\.[23] ')" ""
[ "$(cnt 'slow closed-at-once 127.0.0.3')" -gt 0 ] &&
    [ "$(cnt 'slow closed-at-once 127.0.0.4')" -eq 0 ] &&
    tap_ok "past --max-conns-per-ip + 64, connections are closed at accept (127.0.0.3 only)" ||
    tap_fail "past --max-conns-per-ip + 64, connections are closed at accept ($(grep closed-at-once "$T/storm.out" | tr '\n' ' '))"
[ "$(cnt 'flood-hot 503')" -gt 0 ] &&
    tap_ok "requests over the per-address limit got 503 ($(cnt 'flood-hot 503') of $(cnt flood-hot))" ||
    tap_fail "requests over the per-address limit got 503 ($(grep flood-hot "$T/storm.out" | tr '\n' ' '))"
check "a 503 carries Retry-After and the ECS code Throttling" sh -c \
    "grep -qi '^retry-after: [0-9]' '$T/out/throttled.txt' &&
    grep -q '\"Code\":\"Throttling\"' '$T/out/throttled.txt'"
refused_ok() {	# refused_ok KIND ERE: every answer of KIND has a status in ERE
	local st n
	n=$(cnt "flood-$1")
	[ "$n" -gt 0 ] || { echo "no $1 request was answered" >&2; return 1; }
	st=$(awk -v k="flood-$1" '$1 == k { print $2 }' "$T/storm.out" |
	    grep -Evx "$2" | tr '\n' ' ')
	[ -z "$st" ] || { echo "$1: statuses $st" >&2; return 1; }
}
# Arguments that fill the connection's memory (--conn-memory) before the
# line does: libmicrohttpd 0.9.75 closes the connection without an answer
# (0 here); a line longer than the memory gets 414.
check "thousands of query arguments: 414, 431 or closed" refused_ok many-args '41[34]|431|0'
check "a 40 kB header: 431 (or 413)" refused_ok huge-header '431|413'
check "2,000 headers: 431 (or 413)" refused_ok many-headers '431|413'
# (libmicrohttpd 0.9.75 closes a request line without a URI unanswered.)
check "a malformed request line: 400 or closed" refused_ok bad-line '400|0'
check "an unknown HTTP version: 505 or 400" refused_ok bad-version '505|400'
check "unsigned API calls: 400" refused_ok unsigned '400'
check "badly signed API calls: 400" refused_ok bad-signature '400'
check "an agent poll without a credential: 401" refused_ok poll-no-cred '401'
echo "# flood: $(grep -c . <(grep '^flood-' "$T/storm.out")) counters," \
    "$(awk '/^flood-/ { s += $NF } END { print s + 0 }' "$T/storm.out") requests"
is "no sign-in succeeded" "$(cnt 'signin 200')" 0
is "every sign-in was answered (401, 429 or 503)" \
    "$(grep -E '^signin [0-9-]+ ' "$T/storm.out" | grep -Ev '^signin (401|429|503) ')" ""
[ "$(cnt 'hog 200 Success')" -gt 0 ] && [ "$(cnt 'hog 403')" -gt 0 ] &&
    tap_ok "the hog got sessions, then was refused ($(grep '^hog ' "$T/storm.out" | tr '\n' ' '))" ||
    tap_fail "the hog got sessions, then was refused ($(grep '^hog ' "$T/storm.out" | tr '\n' ' '))"

# ---------------------------------------------------------------------
# latchkeyd still answers, another key still gets a session, and it stops
# cleanly.
# api AK SECRET Action [Name=Value...]: "<status> <JSON>" of a signed call.
api() {
	local ak=$1 secret=$2 action=$3; shift 3
	python3 -c 'import sys, json, asyncio
sys.path.insert(0, sys.argv[1])
import storm
port, ak, secret, action = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
params = dict(kv.split("=", 1) for kv in sys.argv[6:])
st, js = asyncio.run(storm.api(port, "127.0.0.1", ak, secret, action, params))
print(st, json.dumps(js))' "$LK_SRC/tests/tools" "$LKD_PORT" "$ak" "$secret" \
	    "$action" "$@"
}
check "latchkeyd still answers the API (DescribeInstances)" out_has \
    "^200 .*\"InstanceId\": \"$IID\"" api "$AK_ID" "$AK_SECRET" DescribeInstances
# A request whose arguments fill its connection's memory is closed at once,
# not left hanging until the header timeout (libmicrohttpd's epoll mode did).
ARGS=$(python3 -c "print('&'.join('a%d=%d' % (i, i) for i in range(1000)))")
t0=$(date +%s%N)
curl -s -m 8 -o /dev/null "$SERVER/?$ARGS"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 2000 ] && tap_ok "a request with 1,000 query arguments is refused at once ($ms ms)" ||
    tap_fail "a request with 1,000 query arguments is refused at once (took $ms ms)"
check "another access key still starts a session beside the hog" out_has \
    '^200 .*"SessionId"' api "$OTHER_ID" "$OTHER_SECRET" StartTerminalSession \
    "InstanceId.1=$IID"
check "latchkeyd stops on SIGTERM" lk_lkd_stop
wait "$LKD_PID"; rc=$?
is "latchkeyd exits 0" "$rc" 0
check "no sanitizer report in latchkeyd's output" sh -c \
    "! grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' '$LKD_LOG'"
check "latchkeyd logged its stop" grep -Eq 'latchkeyd stopping"? signal=15' "$LKD_LOG"

lk_agent_stop agent
lk_keep_logs
echo "1..$LK_N"
