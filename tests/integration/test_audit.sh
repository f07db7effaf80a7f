#!/usr/bin/env bash
# The audit trail (docs/audit.md) from real actions: latchkeyd with a file
# sink on a loopback port, one agent with its own sshd and the plug-in,
# the latchkey CLI. Each action's event has the documented fields: admin
# subcommands, a key push (the pushed key's SHA256 fingerprint, user,
# instance) and the ssh login with that key, the agent's result, a policy
# refusal, a bad signature, console sign-ins; DescribeAuditEvents
# (latchkey audit) sees a key's own events only unless its policy allows
# more; verify passes the database and the file, and names an edit;
# kill -9 of latchkeyd before the export: after a restart every event is
# in the file exactly once; a rotated file is reopened.
. "$(dirname "$0")/lib.sh"

lk_setup
PLUGIN=config_ecs_instance_connect
LK=$T/bin/latchkey
LKD=$T/bin/latchkeyd
lk_need_built "$LK" "$LKD" "$T/bin/latchkey-agent"
AF=$T/audit.jsonl

# ev JQ: the events in the database (latchkey audit as the admin key) that
# JQ selects, one compact JSON per line.
ev() {
	"$LK" --output json audit --max 50 | jq -c ".AuditEvents[] | select($1)"
}
# file_seqs_once: the file's seqs are 1..N, each once, in order.
file_seqs_once() {
	local n
	n=$(jq -s 'length' "$AF") || return 1
	[ "$(jq -s '[.[].seq] == [range(1; length + 1)]' "$AF")" = true ] ||
	    { echo "seqs in $AF: $(jq -c -s '[.[].seq]' "$AF")" >&2; return 1; }
	[ "$n" -ge "${1:-1}" ]
}
db_count() { lk_lkd_admin audit verify | sed -n 's/^audit: \([0-9]*\) events intact.*/\1/p'; }

lk_plugin_pkg
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
check "sshd runs in the root" lk_mkroot "$R" sshd1
check "the seed command installs the plug-in" env LATCHKEY_ROOT="$R" \
    LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P $PLUGIN --params --install
sleep 0.5
lk_wait_port "$sshd1_PORT"
SSHD_PORT=$sshd1_PORT

lk_new_db lkd || { echo "not ok - a database"; exit 1; }
check "accesskey create (admin key)" lk_accesskey AK --description admin
check "accesskey create (a key for $LK_ALICE only)" lk_accesskey LIM \
    --users "$LK_ALICE" --actions InvokeCommand,DescribeCommands,DescribeInstances,DescribeCloudAssistantStatus,DescribeInvocations,DescribeInvocationResults,DescribeAuditEvents
lk_activation ACT --count 1 2>"$T/last.err"
check "latchkeyd listens, with --audit-file" lk_lkd_start latchkeyd --audit-file "$AF"
check "the agent registers and runs" lk_agent_register agent-a
A=${AGENT_IID:-none}
LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid lk_agent_run agent-a \
    --sshd-log "$T/sshd/sshd1.log"

export HOME=$T/home TMPDIR=$T/tmp
mkdir -p "$HOME" "$TMPDIR"
unset LATCHKEY_ENDPOINT LATCHKEY_PROFILE LATCHKEY_CONFIG \
    ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET ALIBABA_CLOUD_REGION_ID
check "configure the admin profile" sh -c "printf '%s\n' '$AK_SECRET' |
    '$LK' configure --endpoint '$LKD_URL' --access-key-id '$AK_ID' \
    --access-key-secret - --region cn-hangzhou >/dev/null"
check "audit --help exits 0 with its usage" sh -c "'$LK' audit --help | grep -q 'usage: latchkey audit'"

# ---------------------------------------------------------------------
# Admin subcommands.
is "accesskey.create names the key, the admin and its policy" \
    "$(ev ".kind == \"accesskey.create\" and .detail.access_key_id == \"$LIM_ID\"" |
    jq -r '[.v, .actor.admin, .source, .outcome, .detail.users] | join(" ")')" \
    "1 $(id -un) local ok $LK_ALICE"

# ---------------------------------------------------------------------
# A key push and the login with it.
lk_keygen alice
FP=$(ssh-keygen -lf "$T/keys/alice.pub" | awk '{print $2}')
check "send-key as the limited key" env ALIBABA_CLOUD_ACCESS_KEY_ID="$LIM_ID" \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET="$LIM_SECRET" \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A"
is "the pushed key logs in" "$(lk_ssh "$LK_ALICE" "$T/keys/alice" -- id -un 2>"$T/ssh.err")" "$LK_ALICE"
PUSH=$(ev ".kind == \"key.push\"")
is "key.push: who, instance, login user, fingerprint" \
    "$(printf '%s' "$PUSH" | jq -r '[.actor.access_key_id, .target.instance, .target.user, .detail.fingerprint, .detail.ttl_s, .source] | join(" ")')" \
    "$LIM_ID $A $LK_ALICE $FP 60 127.0.0.1"
check "key.push has an RFC 3339 time with ms, and expires_by" sh -c \
    "[ -n '$PUSH' ] && printf '%s' '$PUSH' | jq -e '(.time | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\\\.[0-9]{3}Z\$\")) and (.detail.expires_by | test(\"Z\$\"))' >/dev/null"
INV=$(printf '%s' "$PUSH" | jq -r .detail.invoke_id)
is "api.call InvokeCommand names the same invocation" \
    "$(ev ".kind == \"api.call\" and .detail.invoke_id == \"$INV\"" | jq -r '[.detail.action, .target.instance, .target.user] | join(" ")')" \
    "InvokeCommand $A root"
# The login itself: the agent read sshd's "Accepted publickey" line.
for i in $(seq 1 40); do [ -n "$(ev '.kind == "login"')" ] && break; sleep 0.25; done
LOGIN=$(ev '.kind == "login"' | head -n 1)
is "login: from the agent, instance, user, fingerprint, from" \
    "$(printf '%s' "$LOGIN" | jq -r '[.actor.agent, .target.instance, .target.user, .detail.fingerprint, .detail.key_type, .detail.from] | join(" ")')" \
    "$A $A $LK_ALICE $FP ED25519 127.0.0.1"
is "login links to the key.push: its seq, invocation and access key" \
    "$(printf '%s' "$LOGIN" | jq -r '[.detail.push_seq, .detail.invoke_id, .detail.pushed_by, .detail.push_time] | join(" ")')" \
    "$(printf '%s' "$PUSH" | jq -r '[.seq, .detail.invoke_id, .actor.access_key_id, .time] | join(" ")')"
check "login has a port and an RFC 3339 login_time" sh -c \
    "printf '%s' '$LOGIN' | jq -e '(.detail.port > 0) and (.detail.login_time | test(\"Z\$\"))' >/dev/null"
check "the agent logged the login it reported" grep -q " login accepted user=$LK_ALICE fp=$FP" "$T/agent-a.log"
# A key sshd accepts that latchkey did not push is not reported.
NLOGIN=$(ev '.kind == "login"' | wc -l)
printf 'Accepted publickey for %s from 127.0.0.1 port 1 ssh2: ED25519 %s\n' \
    "$LK_BOB" "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" >>"$T/sshd/sshd1.log"
# Another program's tag in a syslog-style line is not sshd's.
printf 'Dec  5 06:09:00 h evil[1]: Accepted publickey for %s from 127.0.0.1 port 1 ssh2: ED25519 %s\n' \
    "$LK_ALICE" "$FP" >>"$T/sshd/sshd1.log"
sleep 1
is "a key not pushed, or a line not sshd's: no login event" "$(ev '.kind == "login"' | wc -l)" "$NLOGIN"

# The endpoint refuses what is not a login.
ST=$T/agent-a/agent.json
BEARER="Authorization: Bearer $(json_str instance_id <"$ST").$(json_str credential <"$ST")"
login_post() { curl -s -o /dev/null -w '%{http_code}' -H "$BEARER" -d "$1" "$LKD_URL/agent/v1/login"; }
GOODL="{\"user\":\"$LK_ALICE\",\"fingerprint\":\"$FP\",\"key_type\":\"ED25519\",\"from\":\"127.0.0.1\",\"port\":22,\"time\":\"2026-01-01T00:00:00Z\"}"
bad=0
for body in '{}' '{"logins":[]}' '{"logins":{}}' '[1]' \
    "{\"logins\":[${GOODL/\"port\":22/\"port\":0}]}" \
    "{\"logins\":[${GOODL/\"port\":22/\"port\":\"22\"}]}" \
    "{\"logins\":[${GOODL/$LK_ALICE/..}]}" \
    "{\"logins\":[${GOODL/$LK_ALICE/a\\u0000b}]}" \
    "{\"logins\":[${GOODL/127.0.0.1/evil.example}]}" \
    "{\"logins\":[${GOODL/$FP/SHA256:x}]}" \
    "{\"logins\":[${GOODL/ED25519/ed 25519}]}" \
    "{\"logins\":[${GOODL/2026-01-01T00:00:00Z/yesterday}]}" \
    "{\"logins\":[$GOODL,1]}" \
    "{\"logins\":[$(printf "$GOODL,%.0s" $(seq 1 65))$GOODL]}"; do
	c=$(login_post "$body")
	[ "$c" = 400 ] || { echo "# $c for $body" >&2; bad=1; }
done
is "malformed login reports: 400 each, no event" "$bad $(ev '.kind == "login"' | wc -l)" "0 $NLOGIN"
is "a login report without the agent's credential: 401" \
    "$(curl -s -o /dev/null -w '%{http_code}' -d "{\"logins\":[$GOODL]}" "$LKD_URL/agent/v1/login")" 401

sleep 0.3
is "invocation.result: from the agent, Success, exit 0" \
    "$(ev ".kind == \"invocation.result\"" | jq -r '[.actor.agent, .target.instance, .detail.status, .detail.exit_code] | join(" ")' | head -n 1)" \
    "$A $A Success 0"

# ---------------------------------------------------------------------
# Refusals.
env ALIBABA_CLOUD_ACCESS_KEY_ID="$LIM_ID" ALIBABA_CLOUD_ACCESS_KEY_SECRET="$LIM_SECRET" \
    "$LK" send-key --user "$LK_BOB" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
is "a policy refusal: api.refused Forbidden.RAM, status 403" \
    "$(ev ".kind == \"api.refused\" and .code == \"Forbidden.RAM\"" | jq -r '[.actor.access_key_id, .outcome, .detail.status, .detail.action] | join(" ")' | head -n 1)" \
    "$LIM_ID refused 403 InvokeCommand"
env ALIBABA_CLOUD_ACCESS_KEY_ID="$LIM_ID" ALIBABA_CLOUD_ACCESS_KEY_SECRET="wrong$LIM_SECRET" \
    "$LK" instances >/dev/null 2>&1
is "a bad signature: api.refused SignatureDoesNotMatch" \
    "$(ev ".code == \"SignatureDoesNotMatch\"" | jq -r '[.kind, .actor.access_key_id] | join(" ")' | head -n 1)" \
    "api.refused $LIM_ID"

# Console sign-ins.
signin() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"AccessKeyId\":\"$1\",\"AccessKeySecret\":\"$2\"}" "$LKD_URL/console/api/signin"; }
is "console sign-in with a wrong secret: 401" "$(signin "$AK_ID" nope)" 401
is "console sign-in: 200" "$(signin "$AK_ID" "$AK_SECRET")" 200
is "console.signin events: refused BadCredentials, then ok" \
    "$(ev '.kind == "console.signin"' | jq -r '[.outcome, (.code // "-"), .actor.access_key_id, .detail.method] | join(" ")' | tac | tr '\n' ';')" \
    "refused BadCredentials $AK_ID key;ok - $AK_ID key;"

# ---------------------------------------------------------------------
# Query limits and filters.
LIM_KINDS=$(env ALIBABA_CLOUD_ACCESS_KEY_ID="$LIM_ID" ALIBABA_CLOUD_ACCESS_KEY_SECRET="$LIM_SECRET" \
    "$LK" --output json audit --max 50 | jq -r '[.AuditEvents[].actor.access_key_id] | unique | join(" ")')
is "the limited key sees only its own events" "$LIM_KINDS" "$LIM_ID"
is "the admin key (actions *) sees others' events too" \
    "$("$LK" --output json audit --max 50 --kind accesskey.create | jq '.TotalCount')" 2
is "audit --instance --user --kind" \
    "$("$LK" --output json audit --instance "$A" --user "$LK_ALICE" --kind key.push | jq -r '.AuditEvents | length')" 1
is "audit --since in the future: none" \
    "$("$LK" --output json audit --since 2100-01-01T00:00:00Z | jq '.TotalCount')" 0
check "audit prints a table" sh -c "'$LK' audit --kind key.push | grep -q 'key.push .*$LK_ALICE@$A'"

# ---------------------------------------------------------------------
# The file sink, verify, kill -9, rotation.
sleep 0.5
check "verify: the database's chain is intact" lk_lkd_admin audit verify
check "verify --file: the exported file is intact" lk_lkd_admin audit verify --file "$AF"
check "the file holds seq 1..N, each once" file_seqs_once 10
is "as many lines as events in the database" "$(wc -l <"$AF")" "$(db_count)"

# kill -9 with events not exported: start without the sink, act, kill.
lk_lkd_stop
check "latchkeyd restarts without the sink" lk_lkd_start -p "$LKD_PORT" latchkeyd
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
kill -KILL "$LKD_PID"; wait "$LKD_PID" 2>/dev/null
BEFORE=$(wc -l <"$AF")
check "latchkeyd after kill -9, with the sink" lk_lkd_start -p "$LKD_PORT" latchkeyd --audit-file "$AF"
sleep 0.5
[ "$(wc -l <"$AF")" -gt "$BEFORE" ] && tap_ok "the events made before kill -9 are exported after the restart" ||
    tap_fail "the events made before kill -9 are exported after the restart ($BEFORE lines)"
check "still each seq once" file_seqs_once
is "and as many as in the database" "$(wc -l <"$AF")" "$(db_count)"
# Kill -9 right after an action, with the sink on.
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
kill -KILL "$LKD_PID"; wait "$LKD_PID" 2>/dev/null
check "latchkeyd after another kill -9" lk_lkd_start -p "$LKD_PORT" latchkeyd --audit-file "$AF"
sleep 0.5
check "each seq once after kill -9 during export" file_seqs_once
is "every event exported" "$(wc -l <"$AF")" "$(db_count)"

# Rotation: the file moved away, the sink writes a new one.
mv "$AF" "$AF.1"
"$LK" instances >/dev/null 2>&1			# a read: no event
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
sleep 0.6
check "after a rotation the sink writes a new file" test -s "$AF"
check "the new file verifies on its own (it starts later)" lk_lkd_admin audit verify --file "$AF"
cat "$AF.1" "$AF" >"$T/all.jsonl"
check "both files together are one chain" lk_lkd_admin audit verify --file "$T/all.jsonl"
mv "$AF" "$AF.2"
kill -HUP "$LKD_PID"
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
sleep 0.6
check "SIGHUP: the sink reopens too" test -s "$AF"

# ---------------------------------------------------------------------
# Clock skew: the server's clock faked with LATCHKEY_TEST_CLOCK_OFFSET
# (test-only) for the agent (the time it reports) and the sshd helper
# (the clock it judges expiry by), as if the server's clock were ahead;
# send_ssh_public_key stores the key on the true clock.
DROPIN=$(grep -l AuthorizedKeysCommand "$R"/etc/ssh/sshd_config.d/*.conf | head -n 1)
cp "$DROPIN" "$T/dropin.orig"
HELPER=$(sed -n 's/^AuthorizedKeysCommand \([^ ]*\).*/\1/p' "$T/dropin.orig")
skewed() {	# skewed SECONDS: the agent and the helper SECONDS ahead
	sed "s|^AuthorizedKeysCommand |AuthorizedKeysCommand /usr/bin/env LATCHKEY_TEST_CLOCK_OFFSET=$1 |" \
	    "$T/dropin.orig" >"$DROPIN"
	kill -HUP "$(cat "$T/sshd/sshd1.pid")"
	lk_agent_stop agent-a
	LATCHKEY_TEST_CLOCK_OFFSET=$1 LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
	    lk_agent_run agent-a --sshd-log "$T/sshd/sshd1.log"
	sleep 0.5
	lk_wait_port "$sshd1_PORT"
}
SSHOPTS=(-o "UserKnownHostsFile=$T/known_hosts" -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10)
skewed 120
check "the agent logs its clock 120 s off" grep -qE " clock skew skew_ms=1(19|20)[0-9]{3} " "$T/agent-a.log"
check "the agent wrote the skew beside the key store" grep -qE "^skew_ms=1(19|20)[0-9]{3}\$" "$R/run/latchkey/clock-skew"
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >"$T/skew.out" 2>"$T/skew.err"
check "120 s ahead: send-key warns about the clock" grep -q "warning: the clock of $A is 1[12][0-9] s ahead of latchkeyd's" "$T/skew.err"
is "120 s ahead: the key.push event records the skew" \
    "$(ev '.kind == "key.push"' | head -n 1 | jq '.detail.clock_skew_s >= 115 and .detail.clock_skew_s <= 125')" true
# The helper, as sshd runs it, refuses the key that expired by its clock and says why.
HOUT=$(runuser -u "$LK_HELPER_USER" -- env LATCHKEY_TEST_CLOCK_OFFSET=120 "$HELPER" \
    --store "$R/run/latchkey/keys" "$LK_ALICE" "$FP" 2>&1 >"$T/helper.stdout")
is "120 s ahead: the helper prints no key" "$(cat "$T/helper.stdout")" ""
printf '%s\n' "$HOUT" >"$T/helper.err"
check "120 s ahead: the helper logs the refusal" grep -qF \
    "authkeys refuse user=$LK_ALICE fp=$FP error=\"key expired by this server's clock\" expired_s_ago=" "$T/helper.err"
check "with the skew and its likely cause" grep -qE 'clock_skew_s=\+1[12][0-9] cause="clock skew"$' "$T/helper.err"
out=$("$LK" ssh "$LK_ALICE@$A" --address 127.0.0.1 --port "$sshd1_PORT" "${SSHOPTS[@]}" -- true 2>&1 </dev/null); rc=$?
is "120 s ahead: latchkey ssh is refused (255)" "$rc" 255
check "and latchkey names the skewed clock as the likely cause" sh -c \
    "printf '%s' \"\$1\" | grep -q 'the clock of $A is 1[12][0-9] s ahead of latchkeyd.s, the likely cause'" _ "$out"
for off in 30 -30; do
	skewed "$off"
	"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >"$T/skew.out" 2>"$T/skew.err"
	check "$off s: send-key warns (more than 5 s)" grep -q "warning: the clock of $A is [23][0-9] s" "$T/skew.err"
	is "$off s: the login works" "$(lk_ssh "$LK_ALICE" "$T/keys/alice" -- id -un 2>"$T/ssh.err")" "$LK_ALICE"
	is "$off s: latchkey ssh works" "$("$LK" ssh "$LK_ALICE@$A" --address 127.0.0.1 --port "$sshd1_PORT" "${SSHOPTS[@]}" -- id -un 2>"$T/lkssh.err" </dev/null)" "$LK_ALICE"
done
cp "$T/dropin.orig" "$DROPIN"
kill -HUP "$(cat "$T/sshd/sshd1.pid")"

# ---------------------------------------------------------------------
# The syslog sink: RFC 5424 datagrams to a socket this test binds
# (tests/tools/syslog-recv.py), held back while it is gone, then all sent.
SLS=$T/syslog.sock SLOUT=$T/syslog.out
slog_start() {
	"$LK_SRC/tests/tools/syslog-recv.py" "$SLS" "$SLOUT" &
	echo $! >"$T/syslog-recv.pid"
	lk_pidfile "$T/syslog-recv.pid"
	for i in $(seq 1 50); do [ -S "$SLS" ] && return 0; sleep 0.1; done
	return 1
}
slog_stop() { stop_pidfile "$T/syslog-recv.pid"; }
slog_seqs() { sed -n 's/.*\[latchkey@32473 seq="\([0-9]*\)".*/\1/p' "$SLOUT" | sort -n | uniq; }
check "a syslog receiver listens" slog_start
lk_lkd_stop
check "latchkeyd with --audit-syslog-socket" lk_lkd_start -p "$LKD_PORT" latchkeyd \
    --audit-file "$AF" --audit-syslog-socket "$SLS"
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
sleep 0.6
N=$(db_count)
is "syslog: every event of the database, each seq" "$(slog_seqs | wc -l) $(slog_seqs | head -n 1) $(slog_seqs | tail -n 1)" "$N 1 $N"
L=$(grep ' key.push \[' "$SLOUT" | tail -n 1)
check "syslog: an RFC 5424 line: <PRI>1 time host latchkeyd pid MSGID [SD] JSON" sh -c \
    "printf '%s' \"\$1\" | grep -qE '^<86>1 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [^ ]+ latchkeyd [0-9]+ key\.push \[latchkey@32473 seq=\"[0-9]+\" actor=\"access_key_id:[A-Za-z0-9]+\" instance=\"$A\" user=\"$LK_ALICE\" outcome=\"ok\" hash=\"[0-9a-f]{64}\"\] \{\"v\":1,'" _ "$L"
printf '%s\n' "$L" | sed 's/^[^]]*\] //' >"$T/sl1.jsonl"
check "syslog: the message is the event's line, hash intact" lk_lkd_admin audit verify --file "$T/sl1.jsonl"
check "syslog: a refusal has severity notice and its code" grep -qE '^<85>1 .* outcome="refused" code="[A-Za-z.]+" hash=' "$SLOUT"
is "audit status: the syslog sink has no backlog" \
    "$(lk_lkd_admin audit status | sed -n 's/^sink syslog:.* backlog=\([0-9]*\)$/\1/p')" 0
# The receiver goes away: the events wait, visibly; none is lost.
slog_stop
for i in 1 2 3; do "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1; done
sleep 1
BL=$(lk_lkd_admin audit status | sed -n 's/^sink syslog:.* backlog=\([0-9]*\)$/\1/p')
check "receiver down: audit status shows a growing backlog ($BL)" test "${BL:-0}" -ge 6
check "receiver down: latchkeyd logs the backlog" grep -qE 'msg="audit syslog" socket=.* backlog=[1-9][0-9]* retry_ms=' "$LKD_LOG"
check "the receiver is back" slog_start
for i in $(seq 1 80); do [ "$(slog_seqs | wc -l)" -ge "$(db_count)" ] && break; sleep 0.25; done
N=$(db_count)
is "receiver back: every event delivered, in order, none missing" \
    "$(slog_seqs | wc -l) $(slog_seqs | tail -n 1)" "$N $N"
is "and the backlog is 0 again" \
    "$(lk_lkd_admin audit status | sed -n 's/^sink syslog:.* backlog=\([0-9]*\)$/\1/p')" 0
check "latchkeyd logs that the sink resumed" grep -q 'msg="audit syslog resumed" socket=' "$LKD_LOG"
slog_stop

# ---------------------------------------------------------------------
# The webhook sink: JSON batches to a receiver of the test's own
# (tests/tools/webhook-recv.py); down for a while, then back.
WHP=$(lk_free_port) WHOUT=$T/webhook.out
wh_start() {
	"$LK_SRC/tests/tools/webhook-recv.py" "$WHP" "$WHOUT" 2>>"$T/webhook.err" &
	echo $! >"$T/webhook-recv.pid"
	lk_pidfile "$T/webhook-recv.pid"
	lk_wait_port "$WHP"
}
wh_stop() { stop_pidfile "$T/webhook-recv.pid"; }
wh_seqs() { cut -d' ' -f1 "$WHOUT" | sort -n | uniq; }
wh_backlog() { lk_lkd_admin audit status | sed -n 's/^sink webhook:.* backlog=\([0-9]*\)$/\1/p'; }
out=$("$LKD" --db "$DB" --listen 127.0.0.1:1 --audit-webhook http://10.1.2.3/hook 2>&1); rc=$?
check "--audit-webhook refuses plain http off loopback" sh -c \
    "[ $rc -ne 0 ] && printf '%s' \"\$1\" | grep -q 'plain http:// only to a loopback address'" _ "$out"
check "a webhook receiver listens" wh_start
lk_lkd_stop
check "latchkeyd with --audit-webhook" lk_lkd_start -p "$LKD_PORT" latchkeyd \
    --audit-file "$AF" --audit-webhook "http://127.0.0.1:$WHP/hook"
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
for i in $(seq 1 40); do [ "$(wh_seqs | wc -l)" -ge "$(db_count)" ] && break; sleep 0.25; done
N=$(db_count)
is "webhook: every event, in batches, seqs 1..N" "$(wh_seqs | wc -l) $(wh_seqs | head -n 1) $(wh_seqs | tail -n 1)" "$N 1 $N"
is "webhook: no malformed batch" "$(cat "$T/webhook.err" 2>/dev/null)" ""
wh_stop
for i in 1 2 3; do "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1; done
sleep 1.5
BL=$(wh_backlog)
check "receiver down: audit status shows the backlog ($BL)" test "${BL:-0}" -ge 6
check "receiver down: latchkeyd logs the backlog and the retry" \
    grep -qE 'msg="audit webhook" url=http://127.0.0.1:[0-9]+/hook error=".+" backlog=[1-9][0-9]* retry_ms=[0-9]+' "$LKD_LOG"
"$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A" >/dev/null 2>&1
BL2=$(wh_backlog)
check "the backlog grows while it is down ($BL -> $BL2)" test "${BL2:-0}" -gt "${BL:-0}"
check "the receiver is back" wh_start
for i in $(seq 1 160); do [ "$(wh_backlog)" = 0 ] && break; sleep 0.25; done
N=$(db_count)
is "receiver back: every event delivered, none missing" "$(wh_seqs | wc -l) $(wh_seqs | tail -n 1)" "$N $N"
is "the webhook backlog is 0 again" "$(wh_backlog)" 0
check "latchkeyd logs that the webhook resumed" grep -q 'msg="audit webhook resumed" url=' "$LKD_LOG"
wh_stop

# Tampering is named.
sed -E '3s/"outcome":"ok"/"outcome":"refused"/' "$T/all.jsonl" >"$T/bad.jsonl"
out=$(lk_lkd_admin audit verify --file "$T/bad.jsonl"); rc=$?
is "an edited line: exit 1, the line named" "$rc $(printf '%s' "$out" | grep -o 'line 3: altered')" "1 line 3: altered"
sed '4d' "$T/all.jsonl" >"$T/bad.jsonl"
out=$(lk_lkd_admin audit verify --file "$T/bad.jsonl"); rc=$?
is "a deleted line: exit 1, event 4 missing" "$rc $(printf '%s' "$out" | grep -o 'expected seq 4, found seq 5')" \
    "1 expected seq 4, found seq 5"
lk_agent_stop agent-a
lk_lkd_stop
check "no sanitizer report in latchkeyd's or the agent's output" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/latchkeyd.log' '$T/agent-a.out' '$T/agent-a.log'"
case "$LK_TEST_DB" in
sqlite) sqlite3 "$DB" "UPDATE audit_events SET line = REPLACE(line, '\"outcome\":\"ok\"', '\"outcome\":\"refused\"') WHERE seq = 2" ;;
*) psql -q "$DB" -c "UPDATE audit_events SET line = REPLACE(line, '\"outcome\":\"ok\"', '\"outcome\":\"refused\"') WHERE seq = 2" ;;
esac
out=$(lk_lkd_admin audit verify); rc=$?
is "an edited event in the database: exit 1, named" "$rc $(printf '%s' "$out" | grep -o 'line 2: altered')" "1 line 2: altered"

lk_keep_logs
echo "1..$LK_N"
