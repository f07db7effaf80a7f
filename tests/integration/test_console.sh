#!/usr/bin/env bash
# The web console in a real browser: Debian's chromium, headless, driven by
# playwright-core (tests/browser/), against latchkeyd on a loopback port,
# one real latchkey-agent and a real sshd in a scratch root $R that has no
# plug-in yet (acs-plugin-manager is on the tasks' PATH).
#
# Phase "send" (tests/browser/console.test.js): a wrong secret shows an
# error by the field; sign in with an access key; the Instances page; the
# plug-in installed with Common Commands -> ACS-ECS-InstallPlugin-linux.sh;
# the key sent with ACS-ECS-SendSshPublicKey-linux.sh -> Create Task (the
# public key picked from a file); the invocation turns Success.
# Then this script logs in with that key through the real sshd.
# Phase "rest": hostile names and output render as text; forged requests
# (no CSRF token, another origin, a cross-site form) are refused and change
# nothing; Stop; sign-out ends the session server-side; an operator made
# with "latchkeyd operator create" signs in; Settings.
# Phase "audit": the Audit page with its filters; a key limited to its own
# events sees only those, and an instance's tags without the tag form.
# Phase "ops", as the operator: add and remove a tag on the instance page
# (seen in the Instances list too), rename and remove an instance, list,
# disable and create activations, Send File; then this script checks the
# instance is gone, the disabled activation refuses and the new one
# admits a server, and the files arrived with their mode.
# Screenshots of each page go to tests/logs/screenshots/BUILD/.
. "$(dirname "$0")/lib.sh"

lk_setup
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER=$SRC/tests/browser
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
CHROMIUM=${LK_CHROMIUM:-/usr/bin/chromium}
NODE_LIMIT=${LK_BROWSER_TIMEOUT:-300}
SHOTS=${LK_SCREENSHOTS:-$SRC/tests/logs/screenshots/$(basename "$LK_BUILD")}

finish() { echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }
for prog in "$LKD" "$AGENT"; do
	[ -x "$prog" ] || { tap_fail "$(basename "$prog") is built ($LK_BUILD/bin)"; finish; }
done
# No browser is a failure, never a skip.
if [ ! -x "$CHROMIUM" ]; then
	tap_fail "chromium is installed ($CHROMIUM; scripts/install-deps --test)"
	finish
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	tap_fail "node and npm are installed"
	finish
fi
if ! "$LK_SRC/tests/tools/npm-pinned" "$BROWSER" >"$T/npm.log" 2>&1; then
	tap_fail "npm ci in tests/browser ($(tail -n 3 "$T/npm.log" | tr '\n' ' '))"
	finish
fi

# ---------------------------------------------------------------------
# The scratch root and its sshd; no plug-in yet.
lk_plugin_pkg
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
check "sshd runs in the scratch root" lk_mkroot "$R" sshd1
SSHD_PORT=${sshd1_PORT:-0}

# ---------------------------------------------------------------------
# latchkeyd, an access key for the console, an operator, one agent.
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
check "latchkeyd accesskey create" lk_accesskey AK --description console
check "a key that sees only its own audit events" lk_accesskey AK2 --description audit \
    --actions DescribeInstances,DescribeCloudAssistantStatus,DescribeAuditEvents
OP_NAME=ops-$RANDOM
OP_PW=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
check "operator create reads the password from stdin" sh -c \
    "printf '%s\n' '$OP_PW' | '$LKD' --db '$DB' operator create '$OP_NAME'"
check_exit "operator create refuses a short password" 1 sh -c \
    "printf 'short\n' | '$LKD' --db '$DB' operator create other"
check_exit "operator create refuses a taken name" 1 sh -c \
    "printf '%s\n' '$OP_PW' | '$LKD' --db '$DB' operator create '$OP_NAME'"
check "operator list shows it, and no hash" sh -c \
    "'$LKD' --db '$DB' operator list --json | grep -q '\"Name\": \"$OP_NAME\"' &&
    ! '$LKD' --db '$DB' operator list --json | grep -q scrypt"
lk_activation ACT --count 1 2>"$T/last.err"

check "latchkeyd listens" lk_lkd_start latchkeyd
URL=$LKD_URL/console/

if lk_agent_register agent 2>/dev/null; then
	INSTANCE=$AGENT_IID
	tap_ok "the agent registers ($INSTANCE)"
else
	INSTANCE=none
	tap_fail "the agent registers ($(tail -n 3 "$T/agent.register" | tr '\n' ' '))"
fi
LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
    lk_agent_run agent 2>>"$T/agent.err"
# For the operator's pages: a second instance (registered, not running)
# to rename and remove, an activation to disable, a directory for Send File.
lk_activation SPARE --count 1 2>>"$T/last.err"
SPARE_IID=none
check "a spare instance registers" lk_agent_register spare
[ -n "$AGENT_IID" ] && SPARE_IID=$AGENT_IID
check "an activation to disable in the console" lk_activation DIS --count 3 \
    --description console-disable
FILES=$T/files
mkdir -p "$FILES" && chmod 0755 "$FILES"

lk_keygen console
rm -rf "$SHOTS"
mkdir -p "$SHOTS" "$T/profile"

# ---------------------------------------------------------------------
# The browser. Environment: see tests/browser/README.md.
export LK_URL=$URL LK_AK_ID=$AK_ID LK_AK_SECRET=$AK_SECRET \
    LK_OPERATOR=$OP_NAME LK_OPERATOR_PW=$OP_PW LK_INSTANCE=$INSTANCE \
    LK_LOGIN_USER=$LK_ALICE LK_PUBKEY_FILE=$T/keys/console.pub \
    LK_SHOTS=$SHOTS LK_PROFILE=$T/profile LK_CHROMIUM=$CHROMIUM \
    LK_TAP_COUNTS=$T/tap-counts LK_OP_SESSION_FILE=$T/op-session \
    LK_AK2_ID=$AK2_ID LK_AK2_SECRET=$AK2_SECRET \
    LK_SPARE_INSTANCE=$SPARE_IID LK_DIS_ACTIVATION=${DIS_ID:-none} \
    LK_FILES_DIR=$FILES LK_OPS_OUT=$T/ops.out \
    LK_HOSTKEY_FP="$(ssh-keygen -lf "$R/etc/ssh/ssh_host_ed25519_key.pub" | awk '{ print $2 }')" \
    LK_HOSTKEY_PUB="$(cut -d' ' -f1,2 "$R/etc/ssh/ssh_host_ed25519_key.pub")"
# browser PHASE: runs one phase, continuing the TAP numbering.
browser() {
	rm -f "$T/tap-counts"
	LK_TAP_START=$LK_N timeout --kill-after=5 "$NODE_LIMIT" \
	    node "$BROWSER/console.test.js" "$1" </dev/null 2>>"$T/node.log"
	local rc=$? n f
	if [ -s "$T/tap-counts" ]; then
		read -r n f <"$T/tap-counts"
		LK_N=$n
		LK_FAILED=$((LK_FAILED + f))
	else
		tap_fail "browser phase $1 ended without a report (exit $rc; 124: timed out; $(tail -n 3 "$T/node.log" | tr '\n' ' '))"
	fi
}

browser send

# The key the console sent, used through the real sshd within its 60 s.
lk_wait_port "$SSHD_PORT"
out=$(lk_ssh "$LK_ALICE" "$T/keys/console" -- 'id -un' 2>"$T/ssh.err")
is "ssh with the key sent from the console logs in as $LK_ALICE" "$out" "$LK_ALICE"
check_exit "a key that was never sent is refused" 255 \
    lk_ssh "$LK_BOB" "$T/keys/console" -- true

browser rest
# A tag the limited key (audit phase) and the operator (ops) both see.
check "the instance is tagged seed=shell (TagResources)" out_has '"RequestId"' \
    lk_api TagResources ResourceType=instance "ResourceId.1=$INSTANCE" \
    Tag.1.Key=seed Tag.1.Value=shell
browser audit
browser ops

# What the operator's pages did, seen from outside the browser.
check "the removed instance is gone (latchkeyd instance list)" sh -c \
    "! '$LKD' --db '$DB' instance list --json | grep -qF '$SPARE_IID'"
if LK_ACT_ID=${DIS_ID:-} LK_ACT_CODE=${DIS_CODE:-} lk_agent_register dis 2>/dev/null; then
	tap_fail "the activation disabled in the console refuses a registration"
else
	tap_ok "the activation disabled in the console refuses a registration"
fi
check "the refusal says it is disabled" grep -qi disabled "$T/dis.register"
OPS_ACT_ID=$(sed -n 's/^ACT_ID=//p' "$T/ops.out" 2>/dev/null)
OPS_ACT_CODE=$(sed -n 's/^ACT_CODE=//p' "$T/ops.out" 2>/dev/null)
LK_ACT_ID=$OPS_ACT_ID LK_ACT_CODE=$OPS_ACT_CODE \
    check "the activation code the console showed registers a server" \
    lk_agent_register made
OPS_KEY_ID=$(sed -n 's/^KEY_ID=//p' "$T/ops.out" 2>/dev/null)
check "latchkeyd accesskey list shows the console's key, disabled" sh -c \
    "'$LKD' --db '$DB' accesskey list | grep -E '^${OPS_KEY_ID:-none} +disabled +'"
check "latchkeyd logs who created and disabled it" sh -c \
    "grep -q 'msg=\"console accesskey create\" id=${OPS_KEY_ID:-none} principal=$OP_NAME' '$T/latchkeyd.log' &&
    grep -q 'msg=\"console accesskey disable\" id=${OPS_KEY_ID:-none} principal=$OP_NAME' '$T/latchkeyd.log'"
is "Send File wrote the typed content" "$(cat "$FILES/console.txt" 2>&1)" "from the console"
is "with the mode and owner asked for" "$(stat -c '%U %a' "$FILES/console.txt" 2>&1)" "root 640"
is "a picked file arrives byte for byte" "$(od -An -tx1 "$FILES/blob.bin" 2>&1 | tr -d ' ')" \
    "000102fffe0a"

out=$("$LKD" --db "$DB" session-manager status 2>/dev/null)
is "the Settings switch turned the session manager on" "$out" "session manager: enabled"

# Forged requests from outside the browser: curl with no cookie, a made-up
# cookie, and a cross-origin Origin.
post() { curl -s -o "$T/curl.out" -w '%{http_code}' -H 'Content-Type: application/json' "$@"; }
is "no cookie: 401" "$(post -d '{"Action":"DescribeInstances"}' "${URL}api/call")" 401
is "a made-up session cookie: 401" "$(post -b "lk_console=$(printf '%064d' 0)" \
    -H 'X-CSRF-Token: 00000000000000000000000000000000' \
    -d '{"Action":"DescribeInstances"}' "${URL}api/call")" 401
is "sign-in from another origin: 403" "$(post -H 'Origin: http://evil.example' \
    -d "{\"AccessKeyId\":\"$AK_ID\",\"AccessKeySecret\":\"$AK_SECRET\"}" \
    "${URL}api/signin")" 403
is "sign-in as a form post: 415" "$(curl -s -o /dev/null -w '%{http_code}' \
    --data-urlencode "AccessKeyId=$AK_ID" "${URL}api/signin")" 415
check "console pages carry the CSP and nosniff headers" sh -c \
    "curl -sD - -o /dev/null '$URL' | grep -qi \"^content-security-policy: default-src 'self'; frame-ancestors 'none'\" &&
    curl -sD - -o /dev/null '$URL' | grep -qi '^x-content-type-options: nosniff'"
read -r OP_SID OP_CSRF <"$T/op-session" 2>/dev/null || OP_SID=none
is "the operator's session works before it is disabled" "$(curl -s -o /dev/null \
    -w '%{http_code}' -b "lk_console=$OP_SID" "${URL}api/session")" 200
check "latchkeyd operator disable" "$LKD" --db "$DB" operator disable "$OP_NAME"
is "a disabled operator's session no longer works" "$(post -b "lk_console=$OP_SID" \
    -H "X-CSRF-Token: ${OP_CSRF:-}" -d '{"Action":"DescribeInstances"}' \
    "${URL}api/call")" 401

# ---------------------------------------------------------------------
# Under TLS the cookie is Secure, and only the https origin is accepted.
mkdir -p "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
chmod 0600 "$T/tls/key.pem"
lk_new_db tls || tap_fail "a database for the TLS latchkeyd"
lk_accesskey TAK 2>/dev/null
lk_lkd_start latchkeyd-tls --tls-cert "$T/tls/cert.pem" \
    --tls-key "$T/tls/key.pem" 2>>"$T/latchkeyd-tls.err"
TLS_PORT=$LKD_PORT
lk_lkd_use latchkeyd
TLS_BODY="{\"AccessKeyId\":\"${TAK_ID:-}\",\"AccessKeySecret\":\"${TAK_SECRET:-}\"}"
tls_signin() {
	curl -s --cacert "$T/tls/cert.pem" -D "$T/tls/headers" -o /dev/null \
	    -w '%{http_code}' -H 'Content-Type: application/json' "$@" \
	    -d "$TLS_BODY" "https://127.0.0.1:$TLS_PORT/console/api/signin"
}
is "over TLS, sign-in from the https origin works" \
    "$(tls_signin -H "Origin: https://127.0.0.1:$TLS_PORT")" 200
check "over TLS the cookie is Secure, HttpOnly, SameSite=Strict" grep -qiE \
    '^set-cookie: lk_console=[0-9a-f]{64}; Path=/console; HttpOnly; SameSite=Strict; Secure' \
    "$T/tls/headers"
is "over TLS, the http:// origin of the same host is refused" \
    "$(tls_signin -H "Origin: http://127.0.0.1:$TLS_PORT")" 403

# ---------------------------------------------------------------------
check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "the TLS latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd-tls
check "the agent stops on SIGTERM" lk_agent_stop agent
check "no sanitizer report in latchkeyd's or the agent's output" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/latchkeyd.log' '$T/latchkeyd-tls.log' '$T/agent.out'"
check "latchkeyd's log has no secret or session id" sh -c \
    "! grep -qF -- '$AK_SECRET' '$T/latchkeyd.log' && ! grep -qF -- '$OP_PW' '$T/latchkeyd.log'"
lk_keep_logs
finish
