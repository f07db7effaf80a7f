#!/usr/bin/env bash
# Sessions that survive a lost connection (issue 13; docs/sessions.md,
# "Resume" and "Keep-alive"), against the real programs in the set-up of
# test_session.sh: sshd and the agent in a network namespace of their
# own, latchkeyd on the host's end of a veth pair, the client (ssh and scp
# with the README's ProxyCommand block, `latchkey -v proxy`) outside.
#
# The cases:
#  1. 1 GiB scp each way through the tunnel (LK_TEST_TUNNEL_MB), sha256
#     equal;
#  2. kill -9 of latchkeyd in the middle of a 200 MB scp (rate-limited
#     with scp -l, so that it is mid-transfer), latchkeyd started again on
#     the same port: the scp completes, sha256 equal, both ways; the
#     session's record is Closed normally with all its bytes;
#  3. the agent's connection to latchkeyd killed under it mid-scp
#     (ss -K in the namespace), and the client's alone (ss -K outside);
#  4. keep-alive through an HAProxy that cuts connections idle for 3 s:
#     an interactive ssh session idle for 10 s (no resume allowed) still
#     answers; a plain idle TCP connection through the same HAProxy is cut;
#  5. hostile resume: another key's ResumeTerminalSession (404), a foreign
#     session (404), a replayed resume URL (401 .Used), a hello out of
#     range (4007) while two real sessions run on undisturbed, a stale
#     resume URL (401 .Expired) and a resume after the wait (403);
#  6. 64 MiB each way over tests/tools/longlink's long, narrow link
#     (100mbit, 25 ms each way): sha256 equal, and it finishes.
# Timings are printed as "# " lines.
. "$(dirname "$0")/lib.sh"

lk_setup
LK=$T/bin/latchkey
WSDIAL=$LK_SRC/tests/tools/wsdial.py
LONGLINK=$LK_SRC/tests/tools/longlink
DELAY_FWD=$LK_BUILD/bench/delay_fwd
lk_need_built "$LK" "$T/bin/latchkeyd" "$T/bin/latchkey-agent" "$DELAY_FWD"
NS=lkr-$$
VA=lkr$$a
VB=lkr$$b
NET=10.232.$((RANDOM % 250)).
HOSTIP=${NET}1
NSIP=${NET}2
IDLE=6
MB=${LK_TEST_TUNNEL_MB:-1024}
KILL_MB=200
XFER=/var/tmp/lk-resume-$$	# big files: /run is a small tmpfs
LL=$T/ll

resume_cleanup() {
	local pf pid
	for pf in "${LK_PIDFILES[@]}"; do
		[ -f "$pf" ] && pid=$(cat "$pf") && [ -n "$pid" ] &&
		    kill "$pid" 2>/dev/null
	done
	sleep 0.3
	[ -d "$LL" ] && "$LONGLINK" down "$LL" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$VA" 2>/dev/null
	rm -rf "$XFER"
	lk_keep_logs
	lk_cleanup
}
trap resume_cleanup EXIT

now() { echo "${EPOCHREALTIME/./}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
sum() { sha256sum <"$1" 2>/dev/null | cut -d' ' -f1; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
# mkfile FILE MB: MB MiB of pseudo-random bytes (AES-CTR: fast).
mkfile() {
	openssl enc -aes-128-ctr -nosalt -pass "pass:$RANDOM$$" </dev/zero \
	    2>/dev/null | head -c $(($2 * 1048576)) >"$1"
	chmod 0644 "$1"
}

# ---------------------------------------------------------------------
# The namespace, the veth pair, sshd and an echo server inside.
lk_must "a network namespace with a veth pair" sh -c "
    ip netns add '$NS' && ip link add '$VA' type veth peer name '$VB' &&
    ip link set '$VB' netns '$NS' && ip addr add '$HOSTIP/30' dev '$VA' &&
    ip link set '$VA' up &&
    ip netns exec '$NS' ip addr add '$NSIP/30' dev '$VB' &&
    ip netns exec '$NS' ip link set '$VB' up &&
    ip netns exec '$NS' ip link set lo up"
lk_plugin_pkg
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
LK_NETNS=$NS lk_must "sshd runs in the namespace" lk_mkroot "$R" sshd1
SSHD=${sshd1_PORT:-0}
lk_must "the plug-in is installed" env LATCHKEY_ROOT="$R" \
    LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P config_ecs_instance_connect \
    --params --install
ECHO=$(lk_free_port)
LK_PIDFILES+=("$T/echo.pid")
ip netns exec "$NS" "$LK_SRC/tests/tools/echo-server" "$ECHO" >"$T/echo.log" 2>&1 &
echo $! >"$T/echo.pid"

# ---------------------------------------------------------------------
# latchkeyd on the veth address, pinging each side after IDLE/3 s of
# silence; the agent inside the namespace.
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_must "an access key" lk_accesskey AK --description resume
lk_must "a second access key" lk_accesskey B --description other
lk_must "an activation" lk_activation ACT --count 1
LKD_OPTS=(--allow-plain-http --session-idle-timeout "$IDLE")
lk_must "latchkeyd listens on $HOSTIP" lk_lkd_start -a "$HOSTIP" latchkeyd \
    "${LKD_OPTS[@]}"
LPORT=$LKD_PORT
ENDPOINT=$LKD_URL
LK_NETNS=$NS lk_must "the agent registers from the namespace" \
    lk_agent_register agent
INST=${AGENT_IID:-none}
start_agent() {
	LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid LK_NETNS=$NS \
	    lk_agent_run agent --session-ports "$SSHD,$ECHO"
}
lk_must "the agent runs in the namespace" start_agent
lk_must "latchkeyd session-manager enable" lk_lkd_admin session-manager enable

export HOME=$T/home TMPDIR=$T/tmp LATCHKEY_CONFIG=$T/home/lk.json
mkdir -p "$HOME" "$TMPDIR" "$XFER"
chmod 1777 "$XFER"
export LATCHKEY_ENDPOINT=$ENDPOINT ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID
lk_keygen alice
KEY=$T/keys/alice
push() { "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "$INST" >/dev/null; }

# The README's block; the ProxyCommand is `latchkey -v proxy` through a
# wrapper that notes its PID in $LK_PXPID and its stderr in $LK_PXLOG,
# with $LK_PXOPTS before the instance.
cat >"$T/px" <<EOF
#!/bin/sh
[ -n "\${LK_PXPID:-}" ] && echo \$\$ >"\$LK_PXPID"
exec "$LK" -v proxy \${LK_PXOPTS:-} "\$@" 2>>"\${LK_PXLOG:-$T/px.err}"
EOF
chmod 0755 "$T/px"
cat >"$T/ssh_config" <<EOF
Host i-*
    ProxyCommand $T/px %h %p
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
# sid_of PXLOG: the session id `latchkey -v proxy` reported.
sid_of() {
	sed -n 's/^latchkey: session \(s-[a-z0-9]*\) to .*/\1/p' "$1" | tail -n 1
}
# record SID FIELD: a field of the session's record (latchkey sessions).
record() {
	"$LK" sessions --max 100 --output json "$INST" 2>/dev/null |
	    python3 -c '
import json, sys
for s in json.load(sys.stdin)["Sessions"]["Session"]:
    if s["SessionId"] == sys.argv[1]:
        c = s["Connections"]["Connection"][0]
        print({**s, **c}.get(sys.argv[2], ""))
' "$1" "$2"
}
# wait_record SID FIELD ERE: up to 15 s until the field matches.
wait_record() {
	local i v
	for i in $(seq 1 75); do
		v=$(record "$1" "$2")
		[[ $v =~ $3 ]] && return 0
		sleep 0.2
	done
	echo "$2 of $1 is '$v', wanted /$3/" >&2
	return 1
}

check "send-key for $LK_ALICE" push
check "ssh logs in through the tunnel" out_has '^tunnel-ok$' \
    env LK_PXLOG="$T/first.px" ssh -F "$T/ssh_config" -i "$KEY" \
    "$LK_ALICE@$INST" echo tunnel-ok
check "... its session resumes if its connection is lost" grep -q \
    'resumes if its connection is lost' "$T/first.px"

# ---------------------------------------------------------------------
# 1. MB MiB each way.
t0=$(now)
mkfile "$XFER/big" "$MB"
SUM=$(sum "$XFER/big")
echo "# $MB MiB made and summed in $(secs "$t0" "$(now)") s"
push
t0=$(now)
check "scp uploads $MB MiB through the tunnel" tscp -q "$XFER/big" \
    "$LK_ALICE@$INST:$XFER/big.up"
t1=$(now)
is "... the uploaded file's sha256 is the original's" "$(sum "$XFER/big.up")" "$SUM"
rm -f "$XFER/big.up"
push
t2=$(now)
check "scp downloads $MB MiB through the tunnel" tscp -q \
    "$LK_ALICE@$INST:$XFER/big" "$XFER/big.down"
t3=$(now)
is "... the downloaded file's sha256 is the original's" "$(sum "$XFER/big.down")" "$SUM"
echo "# $MB MiB up in $(secs "$t0" "$t1") s, down in $(secs "$t2" "$t3") s"
rm -f "$XFER/big" "$XFER/big.down"

# ---------------------------------------------------------------------
# The copies that get interrupted: KILL_MB MB at 160 Mbit/s (about 10 s).
mkfile "$XFER/mid" "$KILL_MB"
MIDSUM=$(sum "$XFER/mid")
MIDBYTES=$((KILL_MB * 1048576))
# start_copy NAME up|down: scp -l of the mid file in the background
# (SCP_PID, its output $T/NAME.scp.*, the proxy's $T/NAME.px); COPY_DST is
# the file that grows.
start_copy() {
	local src dst
	if [ "$2" = up ]; then
		src=$XFER/mid dst=$LK_ALICE@$INST:$XFER/$1.up COPY_DST=$XFER/$1.up
	else
		src=$LK_ALICE@$INST:$XFER/mid dst=$XFER/$1.down COPY_DST=$XFER/$1.down
	fi
	rm -f "$COPY_DST" "$T/$1.px"
	push
	LK_PXLOG=$T/$1.px timeout 120 scp -F "$T/ssh_config" -i "$KEY" -q \
	    -l 160000 "$src" "$dst" >"$T/$1.scp.out" 2>"$T/$1.scp.err" &
	SCP_PID=$!
	COPY_T0=$(now)
}
# wait_grown MB: up to 20 s until COPY_DST holds MB MiB.
wait_grown() {
	local i
	for i in $(seq 1 200); do
		[ "$(size "$COPY_DST")" -ge $(($1 * 1048576)) ] && return 0
		sleep 0.1
	done
	echo "$COPY_DST did not grow to $1 MiB: $(size "$COPY_DST") bytes" >&2
	return 1
}
# end_copy NAME WHAT: the copy completes with the original's sha256, the
# proxy reports at least one resume and its session is recorded Closed
# normally with every byte.
end_copy() {
	local rc sid t1 bytes
	wait "$SCP_PID"; rc=$?
	t1=$(now)
	check "$2: the scp completes (exit $rc)" test "$rc" -eq 0
	is "$2: ... with the original's sha256" "$(sum "$COPY_DST")" "$MIDSUM"
	check "$2: ... and latchkey proxy resumed its session" grep -qE \
	    'session s-[a-z0-9]+ resumed|[1-9][0-9]* resumes$' "$T/$1.px"
	sid=$(sid_of "$T/$1.px")
	wait_record "${sid:-none}" Status '^Closed$' 2>/dev/null
	r="$(record "${sid:-none}" Status)|$(record "${sid:-none}" ClosedReason)"
	# Normally: both ends' EOF (1000), or latchkey proxy told to stop by
	# ssh's SIGHUP once it is done (1001, docs/sessions.md).
	check "$2: ... its record: $r" grep -qE '^Closed\|((client|agent): '\
'closed normally \(1000\)|client: going away \(1001\): stopping)$' <<<"$r"
	bytes=$(record "${sid:-none}" "Bytes${3}Client")
	# A latchkeyd killed with -9 never records the bytes it relayed
	# since the session's last record, so the total is checked only
	# where latchkeyd lives on.
	[ "${4:-}" = killed ] || check "$2: ... Bytes${3}Client $bytes >= $MIDBYTES" \
	    test "${bytes:-0}" -ge "$MIDBYTES"
	echo "# $2: $KILL_MB MiB in $(secs "$COPY_T0" "$t1") s (-l 160000);" \
	    "recorded Bytes${3}Client $bytes"
	rm -f "$COPY_DST"
}

# ---------------------------------------------------------------------
# 2. kill -9 of latchkeyd mid-copy, started again on its port.
for way in up down; do
	[ "$way" = up ] && dir=From || dir=To
	start_copy "kill-$way" "$way"
	check "kill -9 ($way): the copy is under way" wait_grown 30
	check "kill -9 ($way): latchkeyd killed mid-transfer ($(size \
	    "$COPY_DST") of $MIDBYTES bytes)" lk_replica_kill latchkeyd
	k0=$(now)
	check "kill -9 ($way): latchkeyd starts again on port $LPORT" \
	    lk_lkd_start -a "$HOSTIP" -p "$LPORT" latchkeyd "${LKD_OPTS[@]}"
	k1=$(now)
	check "kill -9 ($way): ... within 2 s ($(secs "$k0" "$k1") s)" \
	    test $(( (k1 - k0) / 1000 )) -le 2000
	end_copy "kill-$way" "kill -9 ($way)" "$dir" killed
done

# ---------------------------------------------------------------------
# 3. One hop's connection killed under it (ss -K: the kernel aborts the
# socket and sends a reset, so both its ends see the loss). The hop to
# kill is the connection to latchkeyd's port that has moved the most
# bytes: the session's, not the agent's long poll or an API call.
# busiest [NS]: "local-port bytes" of that connection.
busiest() {
	local ns=()
	[ -n "${1:-}" ] && ns=(ip netns exec "$1")
	"${ns[@]}" ss -Htni state established "( dport = :$LPORT )" |
	    awk '/^[0-9]/ { n = split($3, a, ":"); port = a[n]; next }
		{ b = 0
		  for (i = 1; i <= NF; i++)
			if ($i ~ /^bytes_(acked|received):/) {
				split($i, v, ":"); b += v[2] }
		  if (b > best) { best = b; bp = port } }
		END { if (bp != "") print bp, best }'
}
# kill_conn [NS]: ss -K of the busiest connection to latchkeyd.
kill_conn() {
	local ns=() b
	[ -n "${1:-}" ] && ns=(ip netns exec "$1")
	b=$(busiest "${1:-}")
	[ -n "$b" ] || { echo "no connection to port $LPORT" >&2; return 1; }
	echo "killing the connection from port ${b%% *} (${b#* } bytes)" >&2
	"${ns[@]}" ss -HK -tn state established \
	    "( sport = :${b%% *} and dport = :$LPORT )" | grep -q . ||
	    { echo "ss -K killed nothing (CONFIG_INET_DIAG_DESTROY?)" >&2
	      return 1; }
}
n0=$(grep -c ' session resumed' "$T/agent.log")
start_copy agentdrop up
check "agent's hop: the copy is under way" wait_grown 30
check "agent's hop: its connection to latchkeyd killed (ss -K in $NS)" \
    kill_conn "$NS"
end_copy agentdrop "agent's hop" From
check "agent's hop: ... the agent logged the loss and the resume" sh -c \
    "[ \$(grep -c ' session resumed' '$T/agent.log') -gt $n0 ] &&
    grep -q ' session lost' '$T/agent.log'"

start_copy clientdrop down
check "client's hop: the copy is under way" wait_grown 30
check "client's hop: latchkey proxy's connection killed (ss -K)" kill_conn
end_copy clientdrop "client's hop" To
check "client's hop: ... latchkey proxy logged the loss" grep -q \
    'session s-[a-z0-9]* lost' "$T/clientdrop.px"

# ---------------------------------------------------------------------
# 4. Keep-alive through HAProxy with 3 s idle timeouts, in front of
# latchkeyd for the client, and of an echo server for the control.
HAP=$(lk_free_port)
HAE=$(lk_free_port)
HOSTECHO=$(lk_free_port)
LK_PIDFILES+=("$T/hostecho.pid")
"$LK_SRC/tests/tools/echo-server" "$HOSTECHO" >"$T/hostecho.log" 2>&1 &
echo $! >"$T/hostecho.pid"
cat >"$T/idlecut.cfg" <<EOF
global
    log stderr format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 3s
    timeout server 3s
    timeout tunnel 3s
frontend lkd
    bind 127.0.0.1:$HAP
    default_backend lkd
frontend echo
    bind 127.0.0.1:$HAE
    default_backend echo
backend lkd
    server l $HOSTIP:$LPORT
backend echo
    server e 127.0.0.1:$HOSTECHO
EOF
lk_pidfile "$T/idlecut.pid"
haproxy -db -f "$T/idlecut.cfg" >>"$T/idlecut.log" 2>&1 </dev/null &
echo $! >"$T/idlecut.pid"
check "HAProxy with 3 s idle timeouts listens" sh -c \
    "lk_wait_port() { for i in \$(seq 1 200); do ss -Htln \"sport = :\$1\" |
    grep -q . && return 0; sleep 0.05; done; return 1; }
    lk_wait_port $HAP && lk_wait_port $HAE && lk_wait_port $HOSTECHO"
check "control: an idle TCP connection through it is cut after about 3 s" \
    python3 -c '
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
c.sendall(b"a"); assert c.recv(1) == b"a"
t = time.monotonic(); c.settimeout(20)
try:
    d = c.recv(1)
except ConnectionResetError:
    d = b""
t = time.monotonic() - t
print("cut after %.1f s" % t, file=sys.stderr)
assert d == b"" and 2.0 <= t <= 6.0, (d, t)
' "$HAE"
push
t0=$(now)
{ sleep 10; echo 'echo still-here'; } | LK_PXLOG=$T/idle.px \
    LK_PXOPTS="--keepalive 1 --resume-wait 0" \
    LATCHKEY_ENDPOINT=http://127.0.0.1:$HAP timeout 60 \
    ssh -F "$T/ssh_config" -i "$KEY" "$LK_ALICE@$INST" >"$T/idle.out" 2>"$T/idle.err"
rc=$?
t1=$(now)
check "an ssh session idle 10 s through it, then 'echo still-here', works (exit $rc, $(secs "$t0" "$t1") s)" \
    sh -c "[ $rc -eq 0 ] && grep -qx still-here '$T/idle.out' &&
    [ $(( (t1 - t0) / 1000000 )) -ge 10 ]"
check "... by keep-alive alone: the session did not resume, nothing was lost" \
    sh -c "grep -q 'does not resume' '$T/idle.px' &&
    ! grep -qE ' lost|resumed' '$T/idle.px'"

# ---------------------------------------------------------------------
# 5. Hostile resume. Two real sessions print a line a second for 12 s.
# live NAME: one of them in the background (LIVE_PID; its proxy's PID in
# $T/NAME.pxpid).
live() {
	push
	LK_PXLOG=$T/$1.px LK_PXPID=$T/$1.pxpid timeout 60 ssh -F "$T/ssh_config" \
	    -i "$KEY" "$LK_ALICE@$INST" \
	    'for i in $(seq 1 12); do echo line-$i; sleep 1; done' \
	    >"$T/$1.out" 2>"$T/$1.err" &
	LIVE_PID=$!
}
live calm
CALM=$LIVE_PID
live victim
VICTIM=$LIVE_PID
lk_wait_log "$T/calm.out" line-2 && lk_wait_log "$T/victim.out" line-2
S1=$(sid_of "$T/calm.px")
S2=$(sid_of "$T/victim.px")
check "two live sessions ($S1, $S2)" sh -c "[ -n '$S1' ] && [ -n '$S2' ]"
# api_as KEY ACTION ARGS: "HTTP-status Code" of a signed call with KEY.
api_as() {
	local id=${1}_ID secret=${1}_SECRET url; shift
	url=$(AK_ID=${!id} AK_SECRET=${!secret} lk_signed_url "$@")
	curl -s -o "$T/api.json" -w '%{http_code}' --max-time 10 "$url"
	printf ' %s\n' "$(json_str Code <"$T/api.json")"
}
is "(a) ResumeTerminalSession of $S1 by another key: 404 InvalidSessionId.NotFound" \
    "$(api_as B ResumeTerminalSession "SessionId=$S1")" \
    "404 InvalidSessionId.NotFound"
BSID=$(AK_ID=$B_ID AK_SECRET=$B_SECRET lk_api StartTerminalSession \
    "InstanceId.1=$INST" "PortNumber=$ECHO" | json_str SessionId)
is "(e) ResumeTerminalSession of the other key's session $BSID: 404" \
    "$(api_as AK ResumeTerminalSession "SessionId=${BSID:-none}")" \
    "404 InvalidSessionId.NotFound"
is "(e) ResumeTerminalSession of a session that does not exist: 404" \
    "$(api_as AK ResumeTerminalSession SessionId=s-nosuchsession0000000)" \
    "404 InvalidSessionId.NotFound"

# (c), (d): the owner's key takes a new URL for S2 and dials it as an
# attacker would, with a hello out of range. The victim's proxy is held
# (SIGSTOP) meanwhile, so that its own resume, which it starts on the 4006
# this dial gives it, does not replace the attacker's connection before
# the agent has answered the attacker; it resumes when let go.
VPX=$(cat "$T/victim.pxpid" 2>/dev/null)
check "the victim's proxy is held (SIGSTOP)" kill -STOP "${VPX:-none}"
URL=$(lk_api ResumeTerminalSession "SessionId=$S2" | json_str WebSocketUrl)
check "the owner's ResumeTerminalSession of $S2 gives a URL" test -n "$URL"
python3 "$WSDIAL" --resume --send "hello 99999999999" --timeout 15 \
    "${URL:-ws://127.0.0.1:1/}" >"$T/attack.out" 2>&1
check "(d) dialled with Latchkey-Resume: 1, the URL opens (101)" \
    grep -qx 'status 101' "$T/attack.out"
check "(d) 'hello 99999999999' is refused: closed with 4007 ($(tail -n 1 "$T/attack.out"))" \
    grep -q '^close 4007' "$T/attack.out"
python3 "$WSDIAL" --resume "${URL:-ws://127.0.0.1:1/}" >"$T/replay.out" 2>&1
check "(c) the same URL dialled again: 401 InvalidSecurityToken.Used" sh -c \
    "grep -qx 'status 401' '$T/replay.out' &&
    grep -q '\"InvalidSecurityToken.Used\"' '$T/replay.out'"
kill -CONT "${VPX:-none}" 2>/dev/null
wait "$CALM"; rc1=$?
wait "$VICTIM"; rc2=$?
is "(a, e) the calm session printed all its lines" \
    "$(grep -c '^line-' "$T/calm.out") $rc1" "12 0"
check "(a, e) ... undisturbed: it never resumed" grep -q ' 0 resumes$' "$T/calm.px"
# latchkey proxy ends with 1001 when ssh is done (SIGHUP): final for the
# agent too, which closes sshd's connection at once (no wait to resume).
check "the agent closed the ended session at once, with 1001" \
    lk_wait_log "$T/agent.log" "session closed session=$S1 .*code=1001"
is "(c, d) the victim's session printed all its lines" \
    "$(grep -c '^line-' "$T/victim.out") $rc2" "12 0"
check "(c, d) ... its proxy resumed by itself" grep -q \
    "session $S2 resumed" "$T/victim.px"

# (b) Stale: latchkeyd again with URLs that last 2 s and a 8 s wait.
# A proxy killed (-9) loses its session; the owner's resume URL dialled
# after 3 s is expired; after the wait, the session cannot be resumed.
check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
lk_must "latchkeyd restarts with --session-token-ttl 2 --session-resume-wait 8" \
    lk_lkd_start -a "$HOSTIP" -p "$LPORT" latchkeyd "${LKD_OPTS[@]}" \
    --session-token-ttl 2 --session-resume-wait 8
lk_wait_log "$T/agent.log" ' conn connected' \
    $(($(grep -c ' conn connected' "$T/agent.log") + 1))
mkfifo "$T/stale.in"
"$LK" -v proxy "$INST" "$ECHO" <"$T/stale.in" >/dev/null 2>"$T/stale.px" &
SPX=$!
exec 7>"$T/stale.in"
lk_wait_log "$T/stale.px" 'resumes if its connection is lost'
S3=$(sid_of "$T/stale.px")
{ kill -KILL "$SPX" && wait "$SPX"; } 2>/dev/null
exec 7>&-
check "(b) the killed proxy's session $S3 waits to be resumed" \
    wait_record "${S3:-none}" Status '^Disconnected$'
lost=$(now)
URL=$(lk_api ResumeTerminalSession "SessionId=$S3" | json_str WebSocketUrl)
check "(b) the owner's ResumeTerminalSession gives a URL" test -n "$URL"
sleep 3
python3 "$WSDIAL" --resume "${URL:-ws://127.0.0.1:1/}" >"$T/stale.out" 2>&1
check "(b) dialled after 3 s: 401 InvalidSecurityToken.Expired" sh -c \
    "grep -qx 'status 401' '$T/stale.out' &&
    grep -q '\"InvalidSecurityToken.Expired\"' '$T/stale.out'"
sleep $(( 9 - ($(now) - lost) / 1000000 ))
r=$(api_as AK ResumeTerminalSession "SessionId=${S3:-none}")
check "(b) ResumeTerminalSession after the 8 s wait: 403 ($r)" \
    grep -qE '^403 InvalidSessionId\.(Expired|Ended)$' <<<"$r"
check "(b) ... the session is Closed, not resumed within 8 s" \
    wait_record "${S3:-none}" ClosedReason 'not resumed within 8 s'

# ---------------------------------------------------------------------
# 6. The long, narrow link (tests/tools/longlink: 100mbit, 25 ms each
# way): latchkeyd (same database and port), the agent and sshd move to
# the far namespace, scp and `latchkey proxy` run in the near one; the
# tunnel's WebSocket crosses the rate-limited veth pair and a delaying
# forwarder. Correctness, not speed: sha256 equal, and it finishes.
LLMB=${LK_TEST_LONGLINK_MB:-64}
check "the agent stops on SIGTERM" lk_agent_stop agent
check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
far_listening() {
	local i
	for i in $(seq 1 200); do
		ip netns exec "$LL_FAR" ss -Htln "sport = :$1" | grep -q . &&
		    return 0
		sleep 0.05
	done
	echo "nothing listens on port $1 in $LL_FAR" >&2
	return 1
}
longlink_up() {
	LONGLINK_DELAY_FWD=$DELAY_FWD "$LONGLINK" up "$LL" 100mbit 25 \
	    >"$T/ll.env" || return 1
	. "$LL/env"
	lk_pidfile "$T/sshd/far.pid"
	ip netns exec "$LL_FAR" /usr/sbin/sshd -f "$R/etc/ssh/sshd_config" \
	    -o "PidFile=$T/sshd/far.pid" -E "$T/sshd/far.log" || return 1
	far_listening "$SSHD" || return 1
	lk_pidfile "$T/lkd-far.pid"
	ip netns exec "$LL_FAR" "$T/bin/latchkeyd" --db "$DB" \
	    --listen "127.0.0.1:$LPORT" "${LKD_OPTS[@]}" \
	    >>"$T/lkd-far.log" 2>&1 </dev/null &
	echo $! >"$T/lkd-far.pid"
	far_listening "$LPORT" || return 1
	# The agent's state, with latchkeyd's address in the far namespace.
	mkdir -p "$T/agentfar"
	python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
s["server"] = sys.argv[2]
if "servers" in s:
    s["servers"] = [sys.argv[2]]
json.dump(s, open(sys.argv[3], "w"))
' "$T/agent/agent.json" "http://127.0.0.1:$LPORT" "$T/agentfar/agent.json" &&
	    chmod 0600 "$T/agentfar/agent.json" || return 1
	LATCHKEY_ROOT=$R LK_NETNS=$LL_FAR lk_agent_run agentfar \
	    --session-ports "$SSHD,$ECHO" || return 1
	LL_LKD=$(LONGLINK_DELAY_FWD=$DELAY_FWD "$LONGLINK" forward "$LL" 0 \
	    "$LPORT") || return 1
}
check "the long link is up; latchkeyd, the agent and sshd on its far side" \
    longlink_up
LLEP=http://$LL_FAR_IP:${LL_LKD:-1}
near() { ip netns exec "$LL_NEAR" env LATCHKEY_ENDPOINT="$LLEP" "$@"; }
mkfile "$XFER/ll" "$LLMB"
LLSUM=$(sum "$XFER/ll")
check "send-key over the long link" near "$LK" send-key --user "$LK_ALICE" \
    --key "$KEY.pub" "$INST"
t0=$(now)
check "long link: scp uploads $LLMB MiB through the tunnel" near timeout 120 \
    env LK_PXLOG="$T/ll-up.px" scp -F "$T/ssh_config" -i "$KEY" -q \
    "$XFER/ll" "$LK_ALICE@$INST:$XFER/ll.up"
t1=$(now)
is "long link: ... sha256 equal" "$(sum "$XFER/ll.up")" "$LLSUM"
near "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "$INST" >/dev/null
t2=$(now)
check "long link: scp downloads $LLMB MiB through the tunnel" near timeout 120 \
    env LK_PXLOG="$T/ll-down.px" scp -F "$T/ssh_config" -i "$KEY" -q \
    "$LK_ALICE@$INST:$XFER/ll" "$XFER/ll.down"
t3=$(now)
is "long link: ... sha256 equal" "$(sum "$XFER/ll.down")" "$LLSUM"
echo "# long link (100mbit, 25 ms each way): $LLMB MiB up in" \
    "$(secs "$t0" "$t1") s, down in $(secs "$t2" "$t3") s"
rm -f "$XFER/ll" "$XFER/ll.up" "$XFER/ll.down"

check "the agent stops on SIGTERM (far)" lk_agent_stop agentfar
check "latchkeyd stops on SIGTERM (far)" stop_pidfile "$T/lkd-far.pid"
stop_pidfile "$T/sshd/far.pid"
"$LONGLINK" down "$LL"
check "no sanitizer report from latchkeyd, the agent or latchkey proxy" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
    '$T/latchkeyd.log' '$T/lkd-far.log' '$T/agent.out' '$T/agentfar.out' \
    '$T'/*.px '$T'/*.err >&2"
echo "1..$LK_N"
