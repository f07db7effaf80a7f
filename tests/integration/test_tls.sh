#!/usr/bin/env bash
# latchkeyd over TLS (--tls-cert/--tls-key): the agent registers and the
# latchkey command works with the certificate's CA; plain HTTP and clients
# that do not trust the certificate are refused.
. "$(dirname "$0")/lib.sh"
lk_setup

LKD=$T/bin/latchkeyd
mkdir -p "$T/tls" "$T/home"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
chmod 0600 "$T/tls/key.pem"
PORT=$(lk_free_port)
"$LKD" --db "$T/lkd.db" --listen "127.0.0.1:$PORT" \
    --tls-cert "$T/tls/cert.pem" --tls-key "$T/tls/key.pem" \
    >"$T/sshd/latchkeyd.log" 2>&1 &
LKD_PID=$!
echo "$LKD_PID" >"$T/lkd.pid"
LK_PIDFILES+=("$T/lkd.pid")
for _ in $(seq 1 100); do
	ss -Htln "sport = :$PORT" | grep -q . && break; sleep 0.05
done
URL="https://127.0.0.1:$PORT"

out=$(curl -s --max-time 5 --cacert "$T/tls/cert.pem" "$URL/?Action=DescribeInstances")
case "$out" in
*'"Code":"MissingAccessKeyId"'*) tap_ok "HTTPS answers the API's JSON errors" ;;
*) tap_fail "HTTPS answer: $out" ;;
esac
check_exit "a client that does not trust the certificate is refused" 60 \
    curl -s --max-time 5 "$URL/"
curl -s --max-time 5 "http://127.0.0.1:$PORT/" >/dev/null 2>&1
rc=$?
[ "$rc" -ne 0 ] && tap_ok "plain HTTP to the TLS port gets no answer (curl $rc)" ||
    tap_fail "plain HTTP was answered"

# Plain HTTP is served on loopback only, unless --allow-plain-http says so.
P2=$(lk_free_port)
for addr in "0.0.0.0:$P2" "[::]:$P2"; do
	check_exit "plain HTTP on $addr is refused (exit 2)" 2 timeout 10 \
	    "$LKD" --db "$T/lkd.db" --listen "$addr"
	grep -q 'refusing to serve plain HTTP on .*--tls-cert.*--allow-plain-http' \
	    "$T/last.err" && tap_ok "the refusal of $addr says why and what to do" ||
	    tap_fail "the refusal of $addr says why ($(head -c 300 "$T/last.err"))"
done
ss -Htln "sport = :$P2" | grep -q . && tap_fail "nothing listens on port $P2" ||
    tap_ok "nothing listens on port $P2 after the refusals"
"$LKD" --db "$T/lkd.db" --listen "127.0.0.2:$P2" >"$T/plain.log" 2>&1 &
echo $! >"$T/plain.pid"
LK_PIDFILES+=("$T/plain.pid")
lk_wait_port "$P2"
out=$(curl -s --max-time 5 "http://127.0.0.2:$P2/?Action=DescribeInstances")
case "$out" in
*'"Code":"MissingAccessKeyId"'*) tap_ok "plain HTTP on another loopback address (127.0.0.2) is served" ;;
*) tap_fail "plain HTTP on 127.0.0.2: $out ($(tail -n 2 "$T/plain.log"))" ;;
esac
stop_pidfile "$T/plain.pid"
check_exit "--max-connections below 16 is a usage error" 2 "$LKD" --db "$T/lkd.db" \
    --listen "127.0.0.1:$P2" --max-connections 3
check_exit "--max-connections above the descriptor limit is refused" 2 \
    "$LKD" --db "$T/lkd.db" --listen "127.0.0.1:$P2" --max-connections 16777216
for bad in "--workers 0" "--workers 65" "--header-timeout 0" "--body-timeout x" \
    "--idle-timeout 3601" "--max-conns-per-ip -1" "--conn-memory 7" \
    "--conn-memory 257" "--io-threads 0" "--io-threads 17" "--workers 1x"; do
	# shellcheck disable=SC2086
	check_exit "latchkeyd $bad is a usage error" 2 "$LKD" --db "$T/lkd.db" \
	    --listen "127.0.0.1:$P2" $bad
done

"$LKD" --db "$T/lkd.db" activation create --count 1 --json >"$T/act.json"
"$LKD" --db "$T/lkd.db" accesskey create --json >"$T/ak.json"
f() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2"; }
check_exit "the agent refuses the server without --cacert" 69 \
    "$T/bin/latchkey-agent" register --server "$URL" \
    --activation-id "$(f ActivationId "$T/act.json")" \
    --activation-code "$(f ActivationCode "$T/act.json")" \
    --state "$T/agent.json"
check "the agent registers over HTTPS with --cacert" \
    "$T/bin/latchkey-agent" register --server "$URL" \
    --cacert "$T/tls/cert.pem" \
    --activation-id "$(f ActivationId "$T/act.json")" \
    --activation-code "$(f ActivationCode "$T/act.json")" \
    --state "$T/agent.json"
INSTANCE=$(grep -o 'i-[0-9a-f]*' "$T/last.out" | head -n 1)

export HOME=$T/home LATCHKEY_ENDPOINT=$URL ALIBABA_CLOUD_REGION_ID=cn-hangzhou \
    ALIBABA_CLOUD_ACCESS_KEY_ID=$(f AccessKeyId "$T/ak.json") \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$(f AccessKeySecret "$T/ak.json")
if [ -x "$T/bin/latchkey" ]; then
	check_exit "latchkey refuses an untrusted certificate" 5 \
	    "$T/bin/latchkey" instances
	LATCHKEY_CACERT=$T/tls/cert.pem check \
	    "latchkey lists instances over HTTPS with the CA" \
	    "$T/bin/latchkey" instances
	grep -q "$INSTANCE" "$T/last.out" && tap_ok "the registered instance is listed" ||
	    tap_fail "instance $INSTANCE not in: $(cat "$T/last.out")"
else
	tap_fail "latchkey is built"
fi
# A session over TLS: wss:// to latchkeyd from both ends.
ECHO=$(lk_free_port)
LK_PIDFILES+=("$T/echo.pid" "$T/agent.pid")
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4)
while True:
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
' "$ECHO" >/dev/null 2>&1 &
echo $! >"$T/echo.pid"
lk_wait_port "$ECHO"
"$T/bin/latchkey-agent" run --state "$T/agent.json" --log "$T/agent.log" \
    --session-ports "$ECHO" >/dev/null 2>&1 &
echo $! >"$T/agent.pid"
"$LKD" --db "$T/lkd.db" session-manager enable >/dev/null
for _ in $(seq 1 100); do
	grep -q ' conn connected' "$T/agent.log" 2>/dev/null && break; sleep 0.1
done
tunnel() { (echo over-wss; sleep 1) | "$T/bin/latchkey" proxy "$INSTANCE" "$ECHO"; }
check_exit "latchkey proxy refuses an untrusted certificate" 5 tunnel
export LATCHKEY_CACERT=$T/tls/cert.pem
tunnel_ok() { tunnel | grep -qx over-wss; }
check "latchkey proxy carries bytes over wss:// both ways (agent with --cacert)" \
    tunnel_ok
unset LATCHKEY_CACERT

kill "$LKD_PID"
wait "$LKD_PID" 2>/dev/null
