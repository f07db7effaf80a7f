#!/usr/bin/env bash
# Sessions (issue 5) against the real programs, with the server side in a
# network namespace of its own: sshd listens on 127.0.0.1 *inside* the
# namespace, where the client cannot reach it, and the agent runs there
# too; the namespace and the client's side share only a veth pair, on
# which latchkeyd listens. Everything the client does goes through
# latchkeyd's relay:
#
#   client (root namespace) -- WebSocket --> latchkeyd (veth address)
#   agent (namespace) -- WebSocket dial-back --> latchkeyd
#   agent --> 127.0.0.1:sshd in the namespace
#
# The cases: the switch, the seed's literal "ssh -i key user@i-..." with
# the README's ssh config block, latchkey ssh --tunnel, 200 MB both ways
# with scp, the agent killed mid-transfer, keep-alive of an idle session, a port not
# allowed, a port nothing listens on, EndTerminalSession of a live session,
# latchkey forward, and the session records.
. "$(dirname "$0")/lib.sh"

lk_setup
PLUGIN=config_ecs_instance_connect
LK=$T/bin/latchkey
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
IDLE=4

# lk_cleanup stops the daemons and removes the namespace (lk_netns).
sess_cleanup() {
	rm -f "/tmp/lk-sess-$$"*
	lk_cleanup
}
trap sess_cleanup EXIT

ns_listening() { ip netns exec "$NS" ss -Htln "sport = :$1" | grep -q .; }

# ---------------------------------------------------------------------
# The namespace, the veth pair, sshd inside.
check "a network namespace with a veth pair" lk_netns
NS=$LK_NS HOSTIP=$LK_HOSTIP NSIP=$LK_NSIP
lk_plugin_pkg
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
LK_NETNS=$NS
check "sshd runs in the namespace" lk_mkroot "$R" sshd1
unset LK_NETNS
SSHD=${sshd1_PORT:-0}
check "the seed command installs the plug-in" env LATCHKEY_ROOT="$R" \
    LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P $PLUGIN --params --install
for i in $(seq 1 100); do ns_listening "$SSHD" && break; sleep 0.05; done
check "sshd cannot be reached from the client's side" sh -c \
    "! timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$SSHD' 2>/dev/null"

# An echo server in the namespace, for forward; a port nobody listens on.
ECHO=$(lk_free_port)
DEAD=$(lk_free_port)
LK_PIDFILES+=("$T/echo.pid")
ip netns exec "$NS" "$LK_SRC/tests/tools/echo-server" "$ECHO" >"$T/echo.log" 2>&1 &
echo $! >"$T/echo.pid"

# ---------------------------------------------------------------------
# latchkeyd on the veth address; the agent inside the namespace.
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_accesskey AK --description sess 2>"$T/last.err"
lk_activation ACT --count 2 2>"$T/last.err"
lk_must "latchkeyd listens on $HOSTIP" lk_lkd_start -a "$HOSTIP" latchkeyd \
    --allow-plain-http --session-idle-timeout $IDLE
ENDPOINT=$LKD_URL
LK_NETNS=$NS check "the agent registers from the namespace" \
    lk_agent_register agent
STATE=$T/agent/agent.json
INST=${AGENT_IID:-none}
# start_agent: the agent in the namespace; it has connected (once more)
# when this returns.
start_agent() {
	LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid LK_NETNS=$NS \
	    lk_agent_run agent --session-ports "$SSHD,$ECHO,$DEAD"
}
check "the agent runs in the namespace" start_agent

export HOME=$T/home TMPDIR=$T/tmp LATCHKEY_CONFIG=$T/home/lk.json
mkdir -p "$HOME" "$TMPDIR"
export LATCHKEY_ENDPOINT=$ENDPOINT ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID
lk_keygen alice
KEY=$T/keys/alice
push() { "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "$INST" >/dev/null; }

# The README's block, with this test's port and host key settings.
cat >"$T/ssh_config" <<EOF
Host i-*
    ProxyCommand $LK proxy %h %p
    KnownHostsCommand $LK known-hosts %H %f
    Port $SSHD
    StrictHostKeyChecking yes
    UserKnownHostsFile /dev/null
    GlobalKnownHostsFile /dev/null
    BatchMode yes
    IdentitiesOnly yes
    LogLevel ERROR
EOF
tssh() { ssh -F "$T/ssh_config" -i "$KEY" "$@"; }
tscp() { scp -F "$T/ssh_config" -i "$KEY" "$@"; }

# ---------------------------------------------------------------------
check "the switch is off: proxy exits 4 with InvalidOperation.SessionManagerDisabled" \
    err_is 4 'SessionManagerDisabled' "$LK" proxy "$INST" "$SSHD"
check "latchkeyd session-manager enable" out_has 'enabled' \
    lk_lkd_admin session-manager enable
check "proxy --help" sh -c "'$LK' proxy --help | grep -q '^usage: latchkey proxy'"
check "forward --help" sh -c "'$LK' forward --help | grep -q '^usage: latchkey forward'"
check "sessions --help" sh -c "'$LK' sessions --help | grep -q '^usage: latchkey sessions'"
check_exit "proxy with a bad port is a usage error (2)" 2 "$LK" proxy "$INST" 70000

check "send-key for $LK_ALICE" push
check "the seed's literal ssh -i key user@i-... logs in through the tunnel" \
    out_has "^tunnel-ok $LK_ALICE\$" tssh "$LK_ALICE@$INST" 'echo tunnel-ok $(id -un)'
check "latchkey ssh --tunnel logs in with an ephemeral key" out_has \
    '^via-latchkey-ssh$' "$LK" ssh --tunnel --port "$SSHD" "${LK_ALICE}@$INST" \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -- echo via-latchkey-ssh

# ---------------------------------------------------------------------
# 200 MB each way.
BIG=$T/big
REMOTE=/tmp/lk-sess-$$.big
head -c $((200 * 1024 * 1024)) /dev/urandom >"$BIG"
SUM=$(sha256sum <"$BIG" | cut -d' ' -f1)
push
t0=$(date +%s.%N)
check "scp uploads 200 MB through the tunnel" tscp -q "$BIG" "$LK_ALICE@$INST:$REMOTE"
t1=$(date +%s.%N)
is "the uploaded file keeps its checksum" "$(sha256sum <"$REMOTE" 2>/dev/null | cut -d' ' -f1)" "$SUM"
check "scp downloads it back" tscp -q "$LK_ALICE@$INST:$REMOTE" "$T/big.back"
t2=$(date +%s.%N)
is "the downloaded file keeps its checksum" "$(sha256sum <"$T/big.back" 2>/dev/null | cut -d' ' -f1)" "$SUM"
echo "# 200 MB up $(echo "$t1 - $t0" | bc) s, down $(echo "$t2 - $t1" | bc) s"
rm -f "$T/big.back"

# ---------------------------------------------------------------------
# The agent killed mid-transfer and started again: the session, which
# resumes, is resumed by the client and handed to the new agent, which no
# longer has it (the stream died with the old one): the client ends with
# that reason soon after the restart, no hang.
push
timeout 60 scp -F "$T/ssh_config" -i "$KEY" -q -l 16000 "$BIG" \
    "$LK_ALICE@$INST:$REMOTE.2" >"$T/kill.out" 2>"$T/kill.err" &
SCP=$!
sleep 2
kill -9 "$(cat "$T/agent.pid")"
sleep 1
check "the agent starts again" start_agent
t0=$(date +%s)
wait "$SCP"; rc=$?
t1=$(date +%s)
check "scp fails when the agent was killed mid-transfer" test "$rc" -ne 0
check "... within 10 s of the agent's restart, not a hang ($((t1 - t0)) s)" \
    test $((t1 - t0)) -le 10
check "... and says the agent no longer has the session" grep -q \
    "agent no longer has the session" "$T/kill.err"

# ---------------------------------------------------------------------
check "a key is pushed at once after the agent's restart" push
t0=$(date +%s)
tssh "$LK_ALICE@$INST" "sleep $((IDLE * 3)); echo late" >"$T/idle.out" 2>"$T/idle.err"
rc=$?; t1=$(date +%s)
# Keep-alive: latchkeyd pings each side after a third of the idle timeout
# and both ends answer, so no byte for three timeouts closes nothing.
check "an idle session with both ends alive outlives 3 x --session-idle-timeout" \
    sh -c "[ $rc -eq 0 ] && grep -q late '$T/idle.out' && [ $((t1 - t0)) -ge $((IDLE * 3)) ]"

check "a port outside --session-ports: exit 4, InvalidPortNumber.NotAllowed" \
    err_is 4 'InvalidPortNumber.NotAllowed.*it allows [0-9]+, [0-9]+, [0-9]+ ' "$LK" proxy "$INST" 1
check "a port nothing listens on: exit 1, the agent's reason" sh -c \
    "sleep 3 | '$LK' proxy '$INST' '$DEAD' 2>'$T/dead.err'; [ \$? -eq 1 ] &&
    grep -q 'could not connect' '$T/dead.err'"

# End of stream in one direction (an empty message) and signals.
check "end of input is carried: printf hello | latchkey proxy gets the whole echo" \
    sh -c "printf hello | timeout 20 '$LK' proxy '$INST' '$ECHO' >'$T/half.out' &&
    [ \"\$(cat '$T/half.out')\" = hello ]"
head -c 3000000 /dev/urandom >"$T/3m"
check "3 MB piped through the echo and back unchanged" sh -c \
    "timeout 30 '$LK' proxy '$INST' '$ECHO' <'$T/3m' | cmp - '$T/3m'"
mkfifo "$T/fifo"
"$LK" proxy "$INST" "$ECHO" <"$T/fifo" >/dev/null 2>"$T/term.err" &
PX=$!
exec 7>"$T/fifo"	# its input stays open
sleep 1
t0=$(date +%s)
kill -TERM "$PX"
wait "$PX"; rc=$?
t1=$(date +%s)
exec 7>&-
check "latchkey proxy ends on SIGTERM at once (exit $rc, $((t1 - t0)) s)" \
    sh -c "[ $rc -eq 0 ] && [ $((t1 - t0)) -le 3 ]"

# ---------------------------------------------------------------------
# EndTerminalSession of a live session.
push
timeout 20 ssh -F "$T/ssh_config" -i "$KEY" "$LK_ALICE@$INST" \
    'echo started; sleep 3; echo s; sleep 3; echo s; sleep 3; echo late' \
    >"$T/end.out" 2>"$T/end.err" &
SSHP=$!
SID=
for i in $(seq 1 50); do
	SID=$("$LK" sessions --output json "$INST" 2>/dev/null |
	    tr -d '\n ' | grep -o '"SessionId":"s-[a-z0-9]*"[^]]*"Status":"Connected"' |
	    head -n 1 | sed -E 's/"SessionId":"([^"]*)".*/\1/')
	[ -n "$SID" ] && break
	sleep 0.1
done
check "a live session is listed as Connected" test -n "$SID"
check "sessions --end ends it" "$LK" sessions --end "${SID:-none}"
wait "$SSHP"; rc=$?
check "... the client's ssh ends at once, with an error" sh -c \
    "[ $rc -ne 0 ] && ! grep -q late '$T/end.out'"
check "... saying the session was ended" grep -q "session was ended" "$T/end.err"

# ---------------------------------------------------------------------
# latchkey forward.
LK_PIDFILES+=("$T/forward.pid")
"$LK" forward "$INST" "$ECHO" 0 >"$T/forward.out" 2>"$T/forward.err" &
echo $! >"$T/forward.pid"
FPORT=
for i in $(seq 1 100); do
	FPORT=$(sed -n 's/.*forwarding 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$T/forward.err")
	[ -n "$FPORT" ] && break
	sleep 0.05
done
check "forward listens on a local port" test -n "$FPORT"
check "a connection to it reaches the echo server in the namespace" bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/${FPORT:-1}; echo forwarded-hello >&3;
    read -r -t 10 line <&3; [ \"\$line\" = forwarded-hello ]"
check "two connections at once each get their own session" bash -c "
    exec 3<>/dev/tcp/127.0.0.1/${FPORT:-1} 4<>/dev/tcp/127.0.0.1/${FPORT:-1}
    echo one >&3; echo two >&4
    read -r -t 10 a <&3; read -r -t 10 b <&4
    [ \"\$a\" = one ] && [ \"\$b\" = two ]"
kill "$(cat "$T/forward.pid")" 2>/dev/null

# ---------------------------------------------------------------------
# Hostile input at the edges this issue added: the agent's hello, its
# dial-back, and the command lines.
CRED=$(json_str credential <"$STATE")
BEARER="Authorization: Bearer $INST.$CRED"
hello() {
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "$BEARER" \
	    -H 'Content-Type: application/json' --data "$1" \
	    "$ENDPOINT/agent/v1/hello"
}
FACTS='"hostname":"h","os":"Linux","version":"1.1.0","addresses":[]'
for bad in '["22"]' '[0]' '[70000]' '[22.5]' '{"a":22}' \
    "[$(seq -s, 1 65)]"; do
	is "hello with session_ports $(printf '%.20s' "$bad") is refused (400)" \
	    "$(hello "{$FACTS,\"session_ports\":$bad}")" 400
done
is "hello with a good session_ports is accepted" \
    "$(hello "{$FACTS,\"session_ports\":[$SSHD,$ECHO,$DEAD]}")" 200
dial() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" \
	    -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' \
	    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='
}
is "a dial-back without the agent's credential is refused (401)" \
    "$(dial "$ENDPOINT/agent/v1/session/s-nosuchsession0000000")" 401
is "a dial-back for a session no poll handed out is refused (404)" \
    "$(dial -H "$BEARER" "$ENDPOINT/agent/v1/session/s-nosuchsession0000000")" 404
is "a dial-back with a hostile id is refused (404)" \
    "$(dial -H "$BEARER" "$ENDPOINT/agent/v1/session/..%2F..%2Fetc")" 404
check_exit "forward with REMOTE_PORT 0 is a usage error (2)" 2 \
    "$LK" forward "$INST" 0 5000
check_exit "forward --bind with a host name is refused (2)" 2 \
    "$LK" forward --bind not-an-address "$INST" 22 0
check_exit "latchkey-agent --session-ports 0,abc is a usage error (64)" 64 \
    "$AGENT" run --state "$STATE" --session-ports 0,abc
check_exit "latchkeyd --session-idle-timeout 0 is a usage error (2)" 2 \
    "$LKD" --db "$T/other.db" --listen 127.0.0.1:1 --session-idle-timeout 0
check_exit "latchkeyd --public-url ftp://x is a usage error (2)" 2 \
    "$LKD" --db "$T/other.db" --listen 127.0.0.1:1 --public-url ftp://x

# ---------------------------------------------------------------------
# The records.
"$LK" sessions --max 100 --output json "$INST" >"$T/sessions.json" 2>&1
check "sessions are recorded, the 200 MB upload with its byte counts" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["Sessions"]["Session"]
big = [x for x in s if x["BytesFromClient"] > 200 * 1024 * 1024]
assert big and big[0]["Connections"]["Connection"][0]["Status"] == "Closed", s[:2]
assert any("no longer has" in x["Connections"]["Connection"][0]["ClosedReason"]
    for x in s)
assert not any("idle" in x["Connections"]["Connection"][0]["ClosedReason"] for x in s)
assert all(x["PrincipalId"] == sys.argv[2] for x in s)
' "$T/sessions.json" "$AK_ID"
check "latchkeyd still answers" "$LK" instances

check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "the agent stops on SIGTERM" lk_agent_stop agent
check "no sanitizer report from latchkeyd, the agent or latchkey proxy" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
    '$T/latchkeyd.log' '$T/agent.out' '$T'/*.err >&2"

rm -f "$REMOTE" "$REMOTE.2" "$BIG"
echo "1..$LK_N"
