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
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_must "latchkeyd listens over TLS" lk_lkd_start latchkeyd \
    --tls-cert "$T/tls/cert.pem" --tls-key "$T/tls/key.pem"
PORT=$LKD_PORT
URL=$LKD_URL

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
	    "$LKD" --db "$DB" --listen "$addr"
	grep -q 'refusing to serve plain HTTP on .*--tls-cert.*--allow-plain-http' \
	    "$T/last.err" && tap_ok "the refusal of $addr says why and what to do" ||
	    tap_fail "the refusal of $addr says why ($(head -c 300 "$T/last.err"))"
done
ss -Htln "sport = :$P2" | grep -q . && tap_fail "nothing listens on port $P2" ||
    tap_ok "nothing listens on port $P2 after the refusals"
lk_lkd_start -a 127.0.0.2 -p "$P2" plain 2>"$T/plain.err"
out=$(curl -s --max-time 5 "http://127.0.0.2:$P2/?Action=DescribeInstances")
case "$out" in
*'"Code":"MissingAccessKeyId"'*) tap_ok "plain HTTP on another loopback address (127.0.0.2) is served" ;;
*) tap_fail "plain HTTP on 127.0.0.2: $out ($(tail -n 2 "$T/plain.log"))" ;;
esac
lk_lkd_stop plain
lk_lkd_use latchkeyd
check_exit "--max-connections below 16 is a usage error" 2 lk_lkd_admin \
    --listen "127.0.0.1:$P2" --max-connections 3
check_exit "--max-connections above the descriptor limit is refused" 2 \
    lk_lkd_admin --listen "127.0.0.1:$P2" --max-connections 16777216
for bad in "--workers 0" "--workers 65" "--header-timeout 0" "--body-timeout x" \
    "--idle-timeout 3601" "--max-conns-per-ip -1" "--conn-memory 7" \
    "--conn-memory 257" "--io-threads 0" "--io-threads 17" "--workers 1x" \
    "--replica-id a/b" "--replica-id r;1" "--replica-id $(printf 'r%.0s' $(seq 64))" \
    "--advertise-url ftp://10.0.0.5" "--advertise-url http://a?b" \
    "--advertise-url http://a#b"; do
	# shellcheck disable=SC2086
	check_exit "latchkeyd $bad is a usage error" 2 lk_lkd_admin \
	    --listen "127.0.0.1:$P2" $bad
done

lk_must "latchkeyd activation create" lk_activation ACT
lk_must "latchkeyd accesskey create" lk_accesskey AK
check_exit "the agent refuses the server without --cacert" 69 \
    lk_agent_register agent
check "the agent registers over HTTPS with --cacert" \
    lk_agent_register agent --cacert "$T/tls/cert.pem"
INSTANCE=$AGENT_IID

export HOME=$T/home LATCHKEY_ENDPOINT=$URL ALIBABA_CLOUD_REGION_ID=cn-hangzhou \
    ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
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
LK_PIDFILES+=("$T/echo.pid")
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
lk_agent_run agent --session-ports "$ECHO" 2>"$T/agent.err"
lk_lkd_admin session-manager enable >/dev/null
tunnel() { (echo over-wss; sleep 1) | "$T/bin/latchkey" proxy "$INSTANCE" "$ECHO"; }
check_exit "latchkey proxy refuses an untrusted certificate" 5 tunnel
export LATCHKEY_CACERT=$T/tls/cert.pem
tunnel_ok() { tunnel | grep -qx over-wss; }
check "latchkey proxy carries bytes over wss:// both ways (agent with --cacert)" \
    tunnel_ok
unset LATCHKEY_CACERT

lk_lkd_stop latchkeyd
