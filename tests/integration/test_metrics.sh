#!/usr/bin/env bash
# latchkeyd's /metrics and /healthz on --metrics-listen (docs/operations.md):
# every scrape parses with a strict text-format reader
# (tests/tools/promcheck.py), and each counter moves with the real action
# behind it: an agent connects, `latchkey run` and `latchkey send-key`
# (a push: its counter and latency histogram), refused calls by Code, a
# session through `latchkey proxy` (open, bytes both ways), database
# errors. /healthz is 200 "ok", and 503 with the reason when PostgreSQL
# is stopped (a cluster of this test's own, whatever LK_TEST_DB says).
. "$(dirname "$0")/lib.sh"

lk_setup
LKD=$T/bin/latchkeyd
LK=$T/bin/latchkey
PGC=$LK_SRC/tests/tools/pg-cluster
PROM="python3 $LK_SRC/tests/tools/promcheck.py"
lk_need_built "$LKD" "$LK" "$T/bin/latchkey-agent"

MPORT=$(lk_free_port)
ECHO=$(lk_free_port)
# scrape NAME: /metrics into $T/NAME.prom; fails unless it parses.
scrape() {
	curl -fsS "http://127.0.0.1:$MPORT/metrics" >"$T/$1.prom" &&
	    $PROM "$T/$1.prom" >/dev/null || { $PROM "$T/$1.prom" >&2; return 1; }
}
# val NAME SAMPLE: the sample's value in scrape NAME.
val() { $PROM "$T/$1.prom" "$2"; }
# moved SAMPLE BY: SAMPLE went up by at least BY from "before" to "after".
moved() {
	local a b
	a=$(val before "$1"); b=$(val after "$1")
	[ "$a" != absent ] || a=0
	python3 -c "import sys; sys.exit(0 if float('$b') - float('$a') >= $2 else 1)" ||
	    { echo "$1: $a -> $b, wanted +$2" >&2; return 1; }
}
lkcli() {
	env LATCHKEY_CONFIG="$T/none.json" LATCHKEY_ENDPOINT="$LKD_URL" \
	    ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" \
	    ALIBABA_CLOUD_ACCESS_KEY_SECRET="${SECRET:-$AK_SECRET}" "$LK" "$@"
}

lk_new_db lkd || { echo "not ok - a database"; exit 1; }
check "latchkeyd accesskey create" lk_accesskey AK --description metrics
lk_activation ACT --count 2 2>"$T/last.err"
check "latchkeyd session-manager enable" lk_lkd_admin session-manager enable
check "latchkeyd starts with --metrics-listen" lk_lkd_start lkd \
    --metrics-listen "127.0.0.1:$MPORT"
check "/healthz: 200 ok" sh -c \
    "[ \"\$(curl -s -o '$T/h.txt' -w '%{http_code}' http://127.0.0.1:$MPORT/healthz)\" = 200 ] &&
    [ \"\$(cat '$T/h.txt')\" = ok ]"
check "/metrics answers in text format 0.0.4" sh -c \
    "curl -fsS -D - -o /dev/null http://127.0.0.1:$MPORT/metrics |
    grep -qi '^content-type: text/plain; version=0.0.4'"
check "an unknown path is 404, a POST 405" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/x)\" = 404 ] &&
    [ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:$MPORT/metrics)\" = 405 ]"
check "the first scrape parses" scrape before
is "no agent connected yet" "$(val before latchkey_agents_connected)" 0

"$LK_SRC/tests/tools/echo-server" "$ECHO" >"$T/echo.log" 2>&1 &
echo $! >"$T/echo.pid"; lk_pidfile "$T/echo.pid"
check "an agent connects" lk_agent_start a --session-ports "$ECHO"
IID=$AGENT_IID
lkcli run --instance "$IID" -- 'echo metrics' >"$T/run.out" 2>&1
check "latchkey run (Success)" grep -q '^metrics' "$T/run.out"
# The push: no plug-in on this agent, so the task fails, but it is a push
# with a result all the same.
ssh-keygen -q -t ed25519 -N '' -f "$T/id" >/dev/null
lkcli send-key --key "$T/id.pub" --timeout 20 "$IID" >"$T/sendkey.out" 2>&1
check "latchkey send-key ran (and failed: no plug-in here)" \
    grep -qi 'plug-in\|failed\|exit' "$T/sendkey.out"
SECRET=wrong-secret lkcli instances >/dev/null 2>&1
SECRET=wrong-secret lkcli instances >/dev/null 2>&1
head -c 100000 /dev/urandom >"$T/blob"
(cat "$T/blob"; sleep 4) | timeout 30 env LATCHKEY_CONFIG="$T/none.json" \
    LATCHKEY_ENDPOINT="$LKD_URL" ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET="$AK_SECRET" "$LK" proxy "$IID" "$ECHO" >"$T/proxy.out" 2>"$T/proxy.err" &
PROXY=$!
sleep 2
check "the scrape with the session open parses" scrape during
is "one session open" "$(val during latchkey_sessions_open)" 1
is "one agent connected" "$(val during latchkey_agents_connected)" 1
wait "$PROXY"
check "the session carried the bytes back" cmp "$T/blob" "$T/proxy.out"
sleep 0.5
check "the last scrape parses" scrape after
is "no session open at the end" "$(val after latchkey_sessions_open)" 0
check "key pushes: +1" moved latchkey_key_pushes_total 1
check "push latency observed: _count +1" moved latchkey_key_push_duration_seconds_count 1
check "push latency in the +Inf bucket" moved 'latchkey_key_push_duration_seconds_bucket{le="+Inf"}' 1
check "push latency in the 60 s bucket too" moved 'latchkey_key_push_duration_seconds_bucket{le="60"}' 1
check "invocation results: Success +1" moved 'latchkey_invocation_results_total{status="Success"}' 1
check "invocation results: Failed +1 (the push)" moved 'latchkey_invocation_results_total{status="Failed"}' 1
check "bytes from the client: +100000" moved 'latchkey_session_bytes_total{from="client"}' 100000
check "bytes from the agent: +100000" moved 'latchkey_session_bytes_total{from="agent"}' 100000
check "refusals by code: the wrong secret twice" moved \
    'latchkey_api_errors_total{code="SignatureDoesNotMatch"}' 2
lk_agent_stop a
lk_lkd_stop

# A busy --metrics-listen given: an error; the default taken: a warning.
check "latchkeyd with a busy --metrics-listen does not start" sh -c \
    "! timeout 10 '$LKD' --db '$DB' --listen 127.0.0.1:$(lk_free_port) \
    --metrics-listen 127.0.0.1:$ECHO >'$T/busy.log' 2>&1 &&
    grep -q 'cannot listen on 127.0.0.1:$ECHO: address already in use' '$T/busy.log'"
check "--metrics-listen nonsense is refused" sh -c \
    "'$LKD' --metrics-listen nonsense --check-config 2>&1 | grep -q 'ADDRESS:PORT or off'"

# PostgreSQL stopped: /healthz 503, database errors counted.
check "a PostgreSQL cluster of this test's own starts" "$PGC" start "$T/pgm"
URI=$("$PGC" createdb "$T/pgm" lk_metrics) || URI=none
export LATCHKEYD_MASTER_KEY=$T/pgm.master.key
DB=$URI
check "latchkeyd serves on it" lk_lkd_start pgm --metrics-listen "127.0.0.1:$MPORT"
check "/healthz: 200 while PostgreSQL runs" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/healthz)\" = 200 ]"
scrape before
"$PGC" stop "$T/pgm" >/dev/null 2>&1
code=$(curl -s -m 30 -o "$T/h503.txt" -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")
is "/healthz: 503 once PostgreSQL is stopped" "$code" 503
check "  saying the database does not answer" grep -q '^database: not answering$' "$T/h503.txt"
check "the scrape still answers" scrape after
check "database errors counted" moved latchkey_db_errors_total 1
check "PostgreSQL starts again" "$PGC" start "$T/pgm"
ok=0
for i in $(seq 1 100); do
	[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")" = 200 ] &&
	    { ok=1; break; }
	sleep 0.2
done
is "/healthz: 200 again, without a restart" "$ok" 1
lk_lkd_stop
"$PGC" stop "$T/pgm" >/dev/null 2>&1
check "no sanitizer report" sh -c "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/lkd.log' '$T/pgm.log' '$T/a.out'"
