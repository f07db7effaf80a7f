#!/usr/bin/env bash
# Sessions across replicas (issue 12; docs/sessions.md, "Sessions across
# replicas"): two latchkeyd, a and b, on one PostgreSQL database, each on
# its own loopback port with --replica-id and --advertise-url; the agent
# registered against b, so its polls are on b. Each replica's --public-url
# is the other's, as a load balancer could send a WebSocket anywhere:
#
#   StartTerminalSession on b -> WebSocketUrl on a: the client is held by
#   a, the agent's poll on b hands the session out with a's URL, the agent
#   dials a ("cross-replica");
#   StartTerminalSession on a -> WebSocketUrl on b: client, poll and
#   dial-back all on b ("same replica").
#
# Cases: ssh logs in through the tunnel and scp of 50 MB matches its
# sha256 both ways, for both; the agent dialled the replica holding the
# client; a dial-back at the other replica gets 409 naming the holder; the
# records. Then the cost, printed as "# " lines (not test cases): session
# setup (ssh login), 1-byte echo RTT through `latchkey proxy` and scp MB/s
# over an established ssh connection, same replica against cross-replica.
#
# Until the cross-replica wake-up is merged, a session whose client is on a
# waits for the agent's poll on b to turn (at most its 25 s wait); the
# relay waits for it (RELAY_HANDOUT_WAIT, 35 s), so the cross-replica
# setup time shows that delay.
. "$(dirname "$0")/lib.sh"

LK_TEST_DB=postgresql		# replicas share one database
lk_setup
LK=$T/bin/latchkey
MB=${LK_REPLICA_SCP_MB:-50}
PINGS=${LK_REPLICA_PINGS:-2000}

lk_new_db lkd || { echo "not ok 1 - a PostgreSQL database"; exit 1; }
lk_accesskey AK --description replicas 2>"$T/last.err" ||
    { echo "not ok 1 - an access key"; exit 1; }
lk_activation ACT --count 1 2>"$T/last.err" ||
    { echo "not ok 1 - an activation"; exit 1; }
PA=$(lk_free_port)
PB=$(lk_free_port)
while [ "$PB" = "$PA" ]; do PB=$(lk_free_port); done
URL_A=http://127.0.0.1:$PA
URL_B=http://127.0.0.1:$PB
lk_must "replica a starts" lk_lkd_start -p "$PA" a --replica-id a \
    --advertise-url "$URL_A" --public-url "$URL_B"
lk_must "replica b starts" lk_lkd_start -p "$PB" b --replica-id b \
    --advertise-url "$URL_B" --public-url "$URL_A"
check "latchkeyd session-manager enable" out_has 'enabled' \
    lk_lkd_admin session-manager enable

# sshd on loopback with alice's key; an echo server.
lk_keygen alice
KEY=$T/keys/alice
mkdir -p "$T/ak" "$T/xfer"
install -m 0644 "$KEY.pub" "$T/ak/$LK_ALICE"
chmod 1777 "$T/xfer"
# scp -O: the sshd here has no sftp subsystem.
lk_must "sshd starts" lk_sshd_start sshd "AuthorizedKeysFile $T/ak/%u"
ECHO_PORT=$(lk_free_port)
LK_PIDFILES+=("$T/echo.pid")
python3 -c '
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
' "$ECHO_PORT" >"$T/echo.log" 2>&1 &
echo $! >"$T/echo.pid"
lk_wait_port "$ECHO_PORT" 2>/dev/null || true

lk_lkd_use b
lk_must "the agent registers against b and runs" lk_agent_start agent \
    --session-ports "$SSHD_PORT,$ECHO_PORT"
INST=${AGENT_IID:-none}

export HOME=$T/home TMPDIR=$T/tmp LATCHKEY_CONFIG=$T/home/lk.json
mkdir -p "$HOME" "$TMPDIR"
export ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID
SSH_OPTS=(-F /dev/null -p "$SSHD_PORT" -i "$KEY" -o IdentitiesOnly=yes
    -o BatchMode=yes -o StrictHostKeyChecking=yes
    -o UserKnownHostsFile="$T/known_hosts" -o GlobalKnownHostsFile=/dev/null
    -o HostKeyAlias="[127.0.0.1]:$SSHD_PORT" -o LogLevel=ERROR -o ConnectTimeout=90
    -o Ciphers=aes128-gcm@openssh.com -o Compression=no
    -o "ProxyCommand=$LK proxy %h %p")

# via NAME: the API endpoint for case NAME (cross: b, same: a).
via() { [ "$1" = cross ] && echo "$URL_B" || echo "$URL_A"; }
# holder NAME: the replica holding the client in case NAME.
holder() { [ "$1" = cross ] && echo a || echo b; }
holder_url() { [ "$1" = cross ] && echo "$URL_A" || echo "$URL_B"; }

dd if=/dev/urandom of="$T/xfer/src.bin" bs=1M count="$MB" status=none
chmod 0644 "$T/xfer/src.bin"
SUM=$(sha256sum <"$T/xfer/src.bin")

# master NAME: an ssh connection through a session of case NAME, kept
# open (ControlMaster) for the transfers; its setup time in SETUP_NAME.
master() {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	LATCHKEY_ENDPOINT=$(via "$1") timeout 120 ssh "${SSH_OPTS[@]}" \
	    -o ControlMaster=yes -o "ControlPath=$T/cm-$1" \
	    -o ControlPersist=yes "$LK_ALICE@$INST" echo logged-in-"$1" || return 1
	t1=${EPOCHREALTIME/./}
	printf -v "SETUP_$1" '%s' "$(awk -v a="$t0" -v b="$t1" \
	    'BEGIN { printf "%.2f", (b - a) / 1e6 }')"
}

# copy NAME up|down: scp over case NAME's connection; the sha256 must match;
# MB/s in MBS_NAME_WAY.
copy() {
	local src dst t0 t1 out
	if [ "$2" = up ]; then
		src=$T/xfer/src.bin dst=$LK_ALICE@$INST:$T/xfer/up-$1.bin
		out=$T/xfer/up-$1.bin
	else
		src=$LK_ALICE@$INST:$T/xfer/src.bin dst=$T/xfer/down-$1.bin
		out=$T/xfer/down-$1.bin
	fi
	t0=${EPOCHREALTIME/./}
	LATCHKEY_ENDPOINT=$(via "$1") timeout 300 scp -q -O "${SSH_OPTS[@]/#-p/-P}" \
	    -o "ControlPath=$T/cm-$1" "$src" "$dst" </dev/null || return 1
	t1=${EPOCHREALTIME/./}
	[ "$(sha256sum <"$out")" = "$SUM" ] || { echo "sha256 differs" >&2; return 1; }
	rm -f "$out"
	printf -v "MBS_$1_$2" '%s' "$(awk -v a="$t0" -v b="$t1" -v m="$MB" \
	    'BEGIN { printf "%.1f", m * 1.048576 / ((b - a) / 1e6) }')"
}

for c in cross same; do
	n0=$(grep -c ' session open ' "$T/agent.log")
	check "$c: ssh logs in through the tunnel ($(holder "$c") holds the client)" \
	    out_has "logged-in-$c" master "$c"
	# The agent dialled the replica holding the client.
	check "$c: the agent dialled $(holder "$c")'s advertise URL" sh -c \
	    "grep ' session open ' '$T/agent.log' | tail -n +$((n0 + 1)) |
	    grep -q 'via=\"$(holder_url "$c")/agent/v1/session/s-'"
	check "$c: scp of $MB MB up matches its sha256" copy "$c" up
	check "$c: scp of $MB MB down matches its sha256" copy "$c" down
done
check "a recorded the cross-replica session connected" \
    grep -q 'session s-[a-z0-9]* connected' "$T/a.log"
check "b recorded the same-replica session connected" \
    grep -q 'session s-[a-z0-9]* connected' "$T/b.log"

# A dial-back at the replica not holding the client: 409 naming the holder,
# given the agent's own credential (the cross session is Connected on a).
SID=$(grep -o 'session s-[a-z0-9]* connected' "$T/a.log" | head -n 1 |
    cut -d' ' -f2)
CRED=$(json_str credential <"$T/agent/agent.json")
dial() {
	curl -s -o "$T/dial.out" -w '%{http_code}' --max-time 10 \
	    -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' \
	    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	    -H "Authorization: Bearer $INST.$CRED" "$1/agent/v1/session/$SID"
}
is "a dial-back for a's session at b: 409" "$(dial "$URL_B")" 409
check "its error names replica a and its URL" grep -q \
    "\"Code\":\"InvalidSessionId.OtherReplica\".*\"Replica\":\"a\",\"ReplicaUrl\":\"$URL_A\"" \
    "$T/dial.out"
is "at a, the session waits for no agent: 404" "$(dial "$URL_A")" 404

# ---------------------------------------------------------------------
# The cost (not test cases): echo RTT through `latchkey proxy` (stdin and
# stdout pipes, the same for both), after the first byte came back.
rtt() {
	LATCHKEY_ENDPOINT=$(via "$1") timeout 180 python3 - "$LK" "$INST" \
	    "$ECHO_PORT" "$PINGS" <<-'PY'
	import subprocess, sys, time
	lk, inst, port, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
	p = subprocess.Popen([lk, "proxy", inst, port], stdin=subprocess.PIPE,
	    stdout=subprocess.PIPE, bufsize=0)
	t0 = time.monotonic()
	p.stdin.write(b"x"); assert p.stdout.read(1) == b"x"
	setup = time.monotonic() - t0
	v = []
	for i in range(n + 100):
	    t = time.monotonic_ns(); p.stdin.write(b"y")
	    assert p.stdout.read(1) == b"y"
	    if i >= 100: v.append((time.monotonic_ns() - t) / 1000)
	p.stdin.close(); p.wait(timeout=10)
	v.sort()
	print("setup_s=%.2f p50_us=%.0f p99_us=%.0f" % (setup, v[len(v) // 2],
	    v[int(len(v) * 0.99)]))
	PY
}
for c in same cross; do
	r=$(rtt "$c") || r="failed"
	su=SETUP_$c up=MBS_${c}_up down=MBS_${c}_down
	echo "# $c-replica: ssh login ${!su:-?} s; echo rtt $r;" \
	    "scp up ${!up:-?} MB/s, down ${!down:-?} MB/s"
done

for c in cross same; do
	ssh -o "ControlPath=$T/cm-$c" -O exit x 2>/dev/null
done

# ---------------------------------------------------------------------
# A move to another replica (issue 13): the replicas again without
# --public-url, behind HAProxy, which the client and the agent both go
# through; an scp of MOVE_MB MB, rate-limited so that it is mid-transfer,
# and kill -9 of the replica holding the client: latchkey proxy resumes
# through HAProxy on the other replica, the agent follows the new
# hand-out there, and the copy completes intact.
MOVE_MB=${LK_REPLICA_MOVE_MB:-100}
check "the agent stops on SIGTERM" lk_agent_stop agent
check "replica a stops on SIGTERM" lk_lkd_stop a
check "replica b stops on SIGTERM" lk_lkd_stop b
lk_must "replica a starts again without --public-url" lk_lkd_start -p "$PA" a \
    --replica-id a --advertise-url "$URL_A"
lk_must "replica b starts again without --public-url" lk_lkd_start -p "$PB" b \
    --replica-id b --advertise-url "$URL_B"
lk_must "HAProxy in front of a and b" lk_haproxy_start ha a b
# The agent's state, with HAProxy as its server.
mkdir -p "$T/agentha"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
s["server"] = sys.argv[2]
if "servers" in s:
    s["servers"] = [sys.argv[2]]
json.dump(s, open(sys.argv[3], "w"))
' "$T/agent/agent.json" "$HA_URL" "$T/agentha/agent.json"
chmod 0600 "$T/agentha/agent.json"
lk_must "the agent runs through HAProxy" lk_agent_run agentha \
    --session-ports "$SSHD_PORT,$ECHO_PORT"
dd if=/dev/urandom of="$T/xfer/move.bin" bs=1M count="$MOVE_MB" status=none
chmod 0644 "$T/xfer/move.bin"
MOVESUM=$(sha256sum <"$T/xfer/move.bin")
rm -f "$T/xfer/move.up"
t0=${EPOCHREALTIME/./}
LATCHKEY_ENDPOINT=$HA_URL timeout 180 scp -q -O -l 80000 -F /dev/null \
    -P "$SSHD_PORT" -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" \
    -o GlobalKnownHostsFile=/dev/null -o HostKeyAlias="[127.0.0.1]:$SSHD_PORT" \
    -o LogLevel=ERROR -o "ProxyCommand=$LK -v proxy %h %p 2>>$T/move-px.log" \
    "$T/xfer/move.bin" "$LK_ALICE@$INST:$T/xfer/move.up" </dev/null \
    >"$T/move.out" 2>"$T/move.err" &
MOVE=$!
for i in $(seq 1 200); do
	[ "$(stat -c %s "$T/xfer/move.up" 2>/dev/null || echo 0)" -ge \
	    $((MOVE_MB * 1048576 / 5)) ] && break
	sleep 0.1
done
MSID=$(sed -n 's/^latchkey: session \(s-[a-z0-9]*\) to .*/\1/p' "$T/move-px.log" |
    tail -n 1)
HOLDER=
for r in a b; do
	grep -Eq "session ${MSID:-none} connected\"? .*epoch=0" "$T/$r.log" && HOLDER=$r
done
[ "$HOLDER" = a ] && OTHER=b || OTHER=a
check "move: the copy is under way, its client held by replica ${HOLDER:-none}" \
    sh -c "[ -n '$HOLDER' ] && [ \$(stat -c %s '$T/xfer/move.up') -lt \
    $((MOVE_MB * 1048576)) ]"
check "move: kill -9 of replica ${HOLDER:-none} mid-transfer" \
    lk_replica_kill "${HOLDER:-none}"
wait "$MOVE"; rc=$?
t1=${EPOCHREALTIME/./}
check "move: the scp completes (exit $rc)" test "$rc" -eq 0
is "move: ... with the original's sha256" \
    "$(sha256sum <"$T/xfer/move.up" 2>/dev/null)" "$MOVESUM"
check "move: ... latchkey proxy resumed the session" grep -q \
    "session ${MSID:-none} resumed" "$T/move-px.log"
check "move: ... through replica $OTHER" grep -qE \
    "session ${MSID:-none} connected\"? .*epoch=[1-9]" "$T/$OTHER.log"
echo "# move: $MOVE_MB MB at 10 MB/s (scp -l 80000) in $(awk -v a="$t0" \
    -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') s, replica" \
    "$HOLDER killed"
rm -f "$T/xfer/move.bin" "$T/xfer/move.up"
lk_replica_restart "${HOLDER:-a}" --advertise-url \
    "$([ "$HOLDER" = b ] && echo "$URL_B" || echo "$URL_A")" 2>/dev/null
check "the agent stops on SIGTERM (through HAProxy)" lk_agent_stop agentha
lk_haproxy_stop

check "replica a stops on SIGTERM" lk_lkd_stop a
check "replica b stops on SIGTERM" lk_lkd_stop b
check "no sanitizer report from the replicas or the agent" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
    '$T/a.log' '$T/b.log' '$T/agent.log' '$T/agent.out' '$T/agentha.out' \
    '$T/move-px.log' >&2"
echo "1..$LK_N"
