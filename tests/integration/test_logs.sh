#!/usr/bin/env bash
# The logs of latchkeyd and latchkey-agent (docs/operations.md, "Logs"):
# after real work (an agent registers, `latchkey run` runs a script and
# polls its results), every line of both programs' stderr parses with a
# strict key=value reader (tests/tools/logcheck.py), then again as JSON
# with --log-format json; the time is RFC 3339 and is left out when
# stderr is the journal (JOURNAL_STREAM); result polls are debug events;
# libmicrohttpd's messages are wrapped as "http error"; one migration
# line; a busy port named as such; database files 0600.
. "$(dirname "$0")/lib.sh"

lk_setup
LKD=$T/bin/latchkeyd
LK=$T/bin/latchkey
CHECK="python3 $LK_SRC/tests/tools/logcheck.py"
lk_need_built "$LKD" "$LK" "$T/bin/latchkey-agent"

lk_new_db lkd || { echo "not ok - a database"; exit 1; }
check "latchkeyd accesskey create" lk_accesskey AK --description logs
lk_activation ACT --count 4 2>"$T/last.err"
check "latchkeyd starts (text format, the default)" lk_lkd_start lkd
check "an agent registers and runs in the foreground" lk_agent_start a
IID=$AGENT_IID

# run_script: `latchkey run` on the agent (RunCommand, then result polls).
run_script() {
	env LATCHKEY_CONFIG="$T/none.json" LATCHKEY_ENDPOINT="$LKD_URL" \
	    ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" \
	    ALIBABA_CLOUD_ACCESS_KEY_SECRET="$AK_SECRET" \
	    "$LK" run --instance "$IID" -- 'echo log-test' >"$T/run.out" 2>&1 &&
	    grep -q log-test "$T/run.out"
}
check "latchkey run works" run_script
if [ "${LK_TEST_DB:-sqlite}" = sqlite ]; then
	modes=$(stat -c '%a' "$DB" "$DB-wal" "$DB-shm" "$DB.key" 2>&1 | sort -u | tr '\n' ' ')
	is "database, WAL, shm and master key files are 0600 (while serving)" "$modes" "600 "
fi
lk_agent_stop a
lk_lkd_stop

check "latchkeyd's log: every line strict key=value, stamped" \
    $CHECK text --time yes --prog latchkeyd "$LKD_LOG"
check "the agent's stderr: every line strict key=value, stamped" \
    $CHECK text --time yes --prog latchkey-agent "$T/a.out"
check "the agent's events reach stderr (conn connected)" \
    grep -q 'msg="conn connected" ' "$T/a.out"
check "the RunCommand is an info event with its fields" grep -Eq \
    '^time=[^ ]+ level=info prog=latchkeyd msg="[0-9a-fA-F-]+ api ok" action=RunCommand key=' \
    "$LKD_LOG"
check "the agent's result is logged" grep -q 'msg="agent result" instance=' "$LKD_LOG"
check "result polls are not info events" \
    bash -c "! grep -q 'action=DescribeInvocationResults' '$LKD_LOG'"
if [ "${LK_TEST_DB:-sqlite}" = sqlite ]; then
	"$LKD" --db "$T/fresh.db" migrate >/dev/null 2>"$T/migrate.err"
	is "a fresh database: one migration line, and no other" \
	    "$(grep -c 'db schema version=[0-9]* from=0' "$T/migrate.err") $(wc -l <"$T/migrate.err")" "1 1"
fi

# JSON, with --debug; then stderr "being" the journal: no time.
LKD_LOG_SAVED=$LKD_LOG
"$LKD" --db "$DB" --listen "$LKD_ADDR:$LKD_PORT" --log-format json --debug \
    >>"$T/json.log" 2>&1 </dev/null &
echo $! >"$T/json.pid"; lk_pidfile "$T/json.pid"
lk_wait_log "$T/json.log" '"latchkeyd [0-9.]+ serving"' ||
    tap_fail "latchkeyd --log-format json serves"
: >"$T/journal.log"
JS=$(stat -c '%d:%i' "$T/journal.log")
JOURNAL_STREAM=$JS "$LKD" --db "$DB" --listen "$LKD_ADDR:$(lk_free_port)" \
    >>"$T/journal.log" 2>&1 </dev/null &
echo $! >"$T/journal.pid"; lk_pidfile "$T/journal.pid"
lk_wait_log "$T/journal.log" 'serving' || tap_fail "latchkeyd (journal) serves"
stop_pidfile "$T/journal.pid"
check "with JOURNAL_STREAM naming stderr, lines carry no time" \
    $CHECK text --time no --prog latchkeyd "$T/journal.log"
JOURNAL_STREAM=1:2 "$LKD" --db "$DB" --listen "$LKD_ADDR:$(lk_free_port)" \
    >"$T/notjournal.log" 2>&1 </dev/null &
echo $! >"$T/journal.pid"
lk_wait_log "$T/notjournal.log" 'serving' || tap_fail "latchkeyd (not journal) serves"
stop_pidfile "$T/journal.pid"
check "with JOURNAL_STREAM naming another stream, lines carry the time" \
    $CHECK text --time yes --prog latchkeyd "$T/notjournal.log"

lk_agent_run a --log-format json
check "latchkey run works again" run_script
lk_agent_stop a
stop_pidfile "$T/json.pid"
check "latchkeyd --log-format json: every line a strict JSON object" \
    $CHECK json --time yes --prog latchkeyd "$T/json.log"
check "the agent --log-format json: every line a strict JSON object" \
    bash -c "grep '^{' '$T/a.out' | tail -n +1 >'$T/a.json' &&
    grep -q '\"level\":\"info\",\"prog\":\"latchkey-agent\",\"msg\":\"conn connected\"' '$T/a.json' &&
    $CHECK json --time yes --prog latchkey-agent '$T/a.json'"
check "with --debug, result polls are debug events" grep -q \
    '"level":"debug","prog":"latchkeyd","msg":"[0-9a-fA-F-]* api ok","action":"DescribeInvocationResults"' \
    "$T/json.log"

# libmicrohttpd's own messages, wrapped: a TLS port spoken to in clear.
mkdir -p "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" -days 2 \
    -subj /CN=localhost 2>/dev/null
check "latchkeyd starts with TLS" lk_lkd_start tls --tls-cert "$T/tls/cert.pem" \
    --tls-key "$T/tls/key.pem"
python3 - "$LKD_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x16\x03\x01\x00\x05hello")
s.settimeout(2)
try:
    s.recv(100)
except OSError:
    pass
s.close()
EOF
lk_wait_log "$LKD_LOG" 'http error' 1 >/dev/null 2>&1
check "a libmicrohttpd message is an \"http error\" event with detail=" grep -Eq \
    'level=warn prog=latchkeyd msg="http error" detail="[^"]+"' "$LKD_LOG"

# A busy port: named, with its address.
check "a busy port: \"cannot listen on ADDR:PORT: address already in use\"" \
    bash -c "! '$LKD' --db '$DB' --listen '$LKD_ADDR:$LKD_PORT' >'$T/busy.log' 2>&1 &&
    grep -q 'msg=\"cannot listen on $LKD_ADDR:$LKD_PORT: address already in use\"' '$T/busy.log' &&
    ! grep -q 'port 0' '$T/busy.log'"
lk_lkd_stop
check "no sanitizer report in any log" bash -c "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$LKD_LOG_SAVED' '$T/json.log' '$T/a.out' '$LKD_LOG'"
