#!/usr/bin/env bash
# latchkey(1), the user's command, against the real programs: latchkeyd on
# a loopback port with a fresh database, three agents and two scratch
# roots, each with its own sshd:
#
#   $R   the plug-in installed (by the seed command); agents A and C
#   $R2  no plug-in yet, acs-plugin-manager on the tasks' PATH; agent B
#
# Agents run with LATCHKEY_ROOT pointing at their root, so that
# send_ssh_public_key writes the key store that root's sshd reads. The
# cases: profiles and the config file's mode, send-key, ssh/scp/sftp with
# an ephemeral key (its directory gone afterwards, the key refused after
# its 60 s), run on two agents, listings, and the failures a user meets
# (wrong secret, policy, unknown instance, bad key, missing plug-in,
# offline agent), each a clear message and a non-zero exit.
. "$(dirname "$0")/lib.sh"

lk_setup
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PLUGIN=config_ecs_instance_connect
LK=$T/bin/latchkey
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
TTL=60

lk_need_built "$LK" "$LKD" "$AGENT"

# out_is STATUS ERE CMD...: CMD exits STATUS with ERE on stdout or stderr.
out_is() {
	local want=$1 pat=$2 rc; shift 2
	"$@" >"$T/out.txt" 2>&1; rc=$?
	[ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$T/out.txt" && return 0
	echo "exit $rc, wanted $want: $(head -c 600 "$T/out.txt")" >&2
	return 1
}
fails() { ! "$@"; }

# ---------------------------------------------------------------------
lk_plugin_pkg
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE

R=$T/root
R2=$T/root2
check "sshd runs in root 1" lk_mkroot "$R" sshd1
check "sshd runs in root 2" lk_mkroot "$R2" sshd2
check "the seed command installs the plug-in in root 1" env LATCHKEY_ROOT="$R" \
    LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P $PLUGIN --params --install
sleep 0.5	# sshd reloads after the plug-in install
lk_wait_port "$sshd1_PORT"
SSHD_PORT=$sshd1_PORT	# lk_ssh's default

# ---------------------------------------------------------------------
# latchkeyd, an admin access key, three agents.
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
check "latchkeyd accesskey create" lk_accesskey AK --description cli-admin
lk_activation ACT --count 3 2>"$T/last.err"
check "latchkeyd listens" lk_lkd_start latchkeyd
ENDPOINT=$LKD_URL

declare -A INST=()
# agent NAME ROOT SSHD: registers and starts one agent (agent-NAME), which
# has connected when this returns.
agent() {
	lk_agent_register "agent-$1" || return 1
	INST[$1]=$AGENT_IID
	LATCHKEY_ROOT=$2 LATCHKEY_SSHD_PIDFILE=$T/sshd/$3.pid lk_agent_run "agent-$1"
}
check "agent A registers and runs (root 1)" agent a "$R" sshd1
check "agent B registers and runs (root 2, no plug-in)" agent b "$R2" sshd2
check "agent C registers and runs (root 1)" agent c "$R" sshd1
A=${INST[a]:-none} B=${INST[b]:-none} C=${INST[c]:-none}

# latchkey runs with its own HOME and no profile from the environment.
export HOME=$T/home TMPDIR=$T/tmp
mkdir -p "$HOME" "$TMPDIR"
unset LATCHKEY_ENDPOINT LATCHKEY_PROFILE LATCHKEY_CONFIG \
    ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET \
    ALIBABA_CLOUD_REGION_ID
SSHOPTS=(-o UserKnownHostsFile=/dev/null
    -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10)
lk_keygen alice
lk_keygen bad

# ---------------------------------------------------------------------
# The command line.
check "--version" sh -c "'$LK' --version | grep -qx 'latchkey [0-9.]*'"
for cmd in configure send-key ssh scp sftp run instances invocations commands; do
	check "$cmd --help exits 0 with its usage" sh -c \
	    "'$LK' $cmd --help | grep -q '^usage: latchkey.* $cmd'"
done
check_exit "an unknown command is a usage error (2)" 2 "$LK" frobnicate
check_exit "run without --instance or --all is a usage error (2)" 2 \
    "$LK" run -- true

# ---------------------------------------------------------------------
# Profiles.
check "no profile yet: a clear error (3)" err_is 3 "latchkey configure" \
    "$LK" instances
printf '%s\n' "$AK_SECRET" >"$T/secret"
check "configure from options, the secret from stdin, checked by one call" \
    sh -c "'$LK' configure --endpoint '$ENDPOINT' --access-key-id '$AK_ID' \
    --access-key-secret - --region cn-hangzhou <'$T/secret' 2>'$T/conf.err' &&
    grep -q 'saved profile \"default\" .*: endpoint $ENDPOINT, access key $AK_ID, region cn-hangzhou' '$T/conf.err' &&
    grep -q 'checked: $ENDPOINT answered; this access key sees 3 instances' '$T/conf.err'"
CONF=$HOME/.latchkey/config.json
is "the config file is 0600, its directory 0700" \
    "$(stat -c %a "$CONF" 2>/dev/null) $(stat -c %a "$HOME/.latchkey" 2>/dev/null)" \
    "600 700"
check "the profile is stored" grep -q "\"access_key_id\": \"$AK_ID\"" "$CONF"
check "configure list shows it without the secret" sh -c \
    "'$LK' configure list | grep -q '^\* *default .*$AK_ID' &&
    ! '$LK' configure list | grep -qF -- '$AK_SECRET'"
chmod 0644 "$CONF"
check "a group/world-readable config file is refused (3), naming chmod 600" \
    err_is 3 "chmod 600 $CONF" "$LK" instances
chmod 0600 "$CONF"
check "--profile of a missing profile is refused (3)" err_is 3 \
    'no profile "nope"' "$LK" --profile nope instances
check "environment overrides work without a file's profile" sh -c \
    "LATCHKEY_CONFIG='$T/none.json' LATCHKEY_ENDPOINT='$ENDPOINT' \
    ALIBABA_CLOUD_ACCESS_KEY_ID='$AK_ID' \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET='$AK_SECRET' '$LK' instances | grep -q '$A'"

# ---------------------------------------------------------------------
# Listings.
check "instances lists the three agents" sh -c "'$LK' instances >'$T/inst.txt' &&
    grep -q '^$A ' '$T/inst.txt' && grep -q '^$B ' '$T/inst.txt' &&
    grep -q '^$C ' '$T/inst.txt'"
check "instances --output json" sh -c "'$LK' instances --output json |
    grep -q '\"InstanceId\": \"$A\"'"
check "commands --public lists ACS-ECS-SendSshPublicKey-linux.sh" out_has \
    'ACS-ECS-SendSshPublicKey-linux\.sh' "$LK" commands --public

# ---------------------------------------------------------------------
# Failures that must be clear.
check "a wrong secret: exit 4, \"the access key secret is wrong\"" err_is 4 \
    'the access key secret is wrong' env ALIBABA_CLOUD_ACCESS_KEY_SECRET=wrong \
    "$LK" instances
check "an unknown access key id: exit 4" err_is 4 'is not known to' \
    env ALIBABA_CLOUD_ACCESS_KEY_ID=LTAInosuchkey "$LK" instances
check "an unreachable endpoint: exit 5" err_is 5 'cannot reach' \
    env LATCHKEY_ENDPOINT="http://127.0.0.1:$(lk_free_port)" "$LK" instances
check "a port that is not HTTP (sshd's): exit 5, in latchkey's words" err_is 5 \
    'is not an HTTP server \(a wrong port' env \
    LATCHKEY_ENDPOINT="http://127.0.0.1:$sshd1_PORT" "$LK" instances
check "https:// to a plain-HTTP latchkeyd: exit 5, \"use an http:// URL\"" \
    err_is 5 'TLS on that port.*use an http:// URL' env \
    LATCHKEY_ENDPOINT="https://${ENDPOINT#http://}" "$LK" instances
check "another region: exit 4, naming the one the server serves" err_is 4 \
    'this server serves cn-hangzhou' env ALIBABA_CLOUD_REGION_ID=cn-beijing \
    "$LK" instances
ssh-keygen -q -t dsa -N '' -f "$T/keys/dsa" 2>/dev/null
check "a DSA key: exit 2, saying what to use instead" err_is 2 \
    'DSA keys .* ssh-keygen -t ed25519' "$LK" send-key --user "$LK_ALICE" \
    --key "$T/keys/dsa.pub" "$A"
check "configure with a bare host:port: refused (2) with both URLs" err_is 2 \
    'write https://127.0.0.1:1 .* or http://127.0.0.1:1 ' "$LK" configure \
    --profile bare --endpoint 127.0.0.1:1 --access-key-id x \
    --access-key-secret y --no-check
check "configure checks the profile: a wrong secret is saved, said, exit 4" \
    err_is 4 'the access key secret is wrong' "$LK" configure --profile \
    wrong --endpoint "$ENDPOINT" --access-key-id "$AK_ID" \
    --access-key-secret nope --region cn-hangzhou
check "and the profile was saved all the same" sh -c \
    "'$LK' configure list | grep -q '^ *wrong '"
check "configure --no-check saves an unreachable endpoint without a call" \
    "$LK" configure --profile later --endpoint http://127.0.0.1:1 \
    --access-key-id x --access-key-secret y --region cn-hangzhou --no-check
check "an unknown instance: exit 4, \"unknown instance\"" err_is 4 \
    'unknown instance "i-0000deadbeef"' "$LK" send-key --user "$LK_ALICE" \
    --key "$T/keys/alice.pub" i-0000deadbeef
check "--output json: a failure is also a JSON error object" sh -c \
    "'$LK' --output json send-key --user '$LK_ALICE' --key '$T/keys/alice.pub' \
    i-0000deadbeef 2>/dev/null | grep -q '\"Code\": \"InvalidInstance.NotFound\"'"
# All agents run on this host, so they share its name.
NAME=$(awk -v a="$A" '$1 == a { print $2 }' "$T/inst.txt")
check "a name that fits several instances is refused with their ids (2)" \
    err_is 2 "\"$NAME\" names 3 instances \(.*$B" "$LK" send-key --user \
    "$LK_ALICE" --key "$T/keys/alice.pub" "$NAME"
check "a bad key file is refused here (2)" err_is 2 \
    'not a valid OpenSSH public key' sh -c \
    "echo 'ssh-ed25519 AAAAnotbase64 x' >'$T/keys/bad.pub'; \
    '$LK' send-key --user '$LK_ALICE' --key '$T/keys/bad.pub' '$A'"
check "a bad key sent anyway: the server's line is shown (exit 1)" err_is 1 \
    "refused the public key: .*(invalid|base64|key)" "$LK" send-key \
    --no-key-check --user "$LK_ALICE" --key "$T/keys/bad.pub" "$A"
check "an unknown login user: \"there is no user\" (exit 1)" err_is 1 \
    'there is no user "lk-nosuchuser"' "$LK" send-key --user lk-nosuchuser \
    --key "$T/keys/alice.pub" "$A"
check "a missing plug-in: the install command is printed (exit 1)" err_is 1 \
    'acs-plugin-manager -e -P config_ecs_instance_connect --params --install' \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$B"
grep -q -- '--install-plugin' "$T/err.txt" &&
    tap_ok "a missing plug-in: --install-plugin is suggested" ||
    tap_fail "a missing plug-in: --install-plugin is suggested"
lk_accesskey LIM --users "$LK_BOB" 2>/dev/null
check "a policy refusal (Forbidden.RAM): exit 4, said plainly" err_is 4 \
    "policy does not allow" env \
    ALIBABA_CLOUD_ACCESS_KEY_ID="${LIM_ID:-}" \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET="${LIM_SECRET:-}" \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A"
grep -q 'Forbidden.RAM' "$T/err.txt" && tap_ok "the server's code is shown too" ||
    tap_fail "the server's code is shown too ($(head -c 300 "$T/err.txt"))"

# The agent C goes away now, without a word (a crash: SIGKILL, so no
# goodbye): the server counts it online for its 60 s window, so tasks sent
# to it wait; its offline state is checked after the TTL. (A clean stop,
# with a goodbye, is agent B's at the end.)
C_STOPPED=$(date +%s)
kill -KILL "$(cat "$T/agent-c.pid")" 2>/dev/null

# ---------------------------------------------------------------------
# send-key, then a login with that key.
check "send-key: stored, with its expiry time" out_has \
    "sent key SHA256:[A-Za-z0-9+/]+ to $A .*for user $LK_ALICE; it expires at [0-9-]{10}T[0-9:]{8}Z" \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$A"
SENT_AT=$(date +%s)
is "the pushed key logs in" "$(lk_ssh "$LK_ALICE" "$T/keys/alice" "$sshd1_PORT" -- id -un 2>"$T/ssh.err")" \
    "$LK_ALICE"
check "send-key --output json" sh -c "'$LK' --output json send-key --user \
    '$LK_ALICE' --key '$T/keys/alice.pub' '$A' | grep -q '\"ExpiresAt\": \"20'"
SENT_AT=$(date +%s)

# ---------------------------------------------------------------------
# ssh with an ephemeral key.
"$LK" --verbose ssh "$LK_ALICE@$A" --address 127.0.0.1 --port "$sshd1_PORT" \
    "${SSHOPTS[@]}" -- id -un >"$T/ssh.out" 2>"$T/ssh.log"
rc=$?
is "ssh $LK_ALICE@$A -- id -un prints $LK_ALICE (exit $rc)" "$(cat "$T/ssh.out")" "$LK_ALICE"
KDIR=$(sed -n 's/^latchkey: ephemeral key directory //p' "$T/ssh.log")
EFP=$(sed -n 's/^latchkey: ephemeral key \(SHA256:[^ ]*\)$/\1/p' "$T/ssh.log")
[ -n "$KDIR" ] && [ ! -e "$KDIR" ] &&
    tap_ok "the ephemeral key directory is gone afterwards ($KDIR)" ||
    tap_fail "the ephemeral key directory is gone afterwards ('$KDIR')"
is "nothing is left in TMPDIR" "$(ls -A "$TMPDIR")" ""
helper_has() {	# helper_has USER FP: the sshd helper prints the key
	"$T/bin/latchkey-authorized-keys" --store "$R/run/latchkey/keys" "$1" "$2" |
	    grep -q 'expiry-time='
}
check "the server holds the ephemeral key ($EFP) for now" helper_has "$LK_ALICE" "$EFP"
EPHEMERAL_AT=$(date +%s)

is "ssh exits with the remote command's status" "$("$LK" ssh "$LK_ALICE@$A" \
    --address 127.0.0.1 --port "$sshd1_PORT" "${SSHOPTS[@]}" -- 'exit 7' \
    >/dev/null 2>&1; echo $?)" 7

# A login that reaches sshd only after the pushed key expired (the user's
# ProxyCommand waits TTL + 3 s): ssh fails, and latchkey says why. Its own
# TMPDIR, since the checks below want theirs empty; collected after the wait.
mkdir -p "$T/tmp-late"
TMPDIR=$T/tmp-late "$LK" ssh "$LK_ALICE@$A" --address 127.0.0.1 \
    --port "$sshd1_PORT" -o ConnectTimeout=$((TTL + 60)) \
    -o "ProxyCommand=bash -c 'sleep $((TTL + 3)); exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'" \
    "${SSHOPTS[@]}" -- true </dev/null >/dev/null 2>"$T/late.err" &
LATE_PID=$!

# SIGTERM while ssh runs: ssh is told, the key directory still goes.
"$LK" --verbose ssh "$LK_ALICE@$A" --address 127.0.0.1 --port "$sshd1_PORT" \
    "${SSHOPTS[@]}" -- sleep 30 >/dev/null 2>"$T/term.log" &
lkpid=$!
for i in $(seq 1 100); do grep -q '^latchkey: running' "$T/term.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -TERM "$lkpid"
wait "$lkpid"; rc=$?
KDIR=$(sed -n 's/^latchkey: ephemeral key directory //p' "$T/term.log")
[ "$rc" -ne 0 ] && [ -n "$KDIR" ] && [ ! -e "$KDIR" ] &&
    tap_ok "SIGTERM during ssh: exit $rc, key directory removed" ||
    tap_fail "SIGTERM during ssh: exit $rc, key directory '$KDIR' removed"

# SIGINT while the key is being sent (to the stopped agent C, so the task
# waits): the directory is removed before ssh ever runs.
"$LK" --verbose ssh "$LK_ALICE@$C" --address 127.0.0.1 --port "$sshd1_PORT" \
    "${SSHOPTS[@]}" --timeout 30 -- true >/dev/null 2>"$T/int.log" &
lkpid=$!
for i in $(seq 1 100); do grep -q 'invocation t-' "$T/int.log" 2>/dev/null && break; sleep 0.05; done
kill -INT "$lkpid"
wait "$lkpid"; rc=$?
KDIR=$(sed -n 's/^latchkey: ephemeral key directory //p' "$T/int.log")
[ "$rc" -ne 0 ] && [ -n "$KDIR" ] && [ ! -e "$KDIR" ] &&
    tap_ok "SIGINT before ssh: exit $rc, key directory removed" ||
    tap_fail "SIGINT before ssh: exit $rc, key directory '$KDIR' removed"

# ---------------------------------------------------------------------
# scp both ways, sftp.
head -c 200000 /dev/urandom >"$T/up.bin"
UPNAME=$(basename "$T").bin
ALICE_HOME=$(getent passwd "$LK_ALICE" | cut -d: -f6)
rm -f "$ALICE_HOME/lk-cli-$UPNAME"
check "scp a local file to the instance" "$LK" scp --address 127.0.0.1 \
    --port "$sshd1_PORT" "${SSHOPTS[@]}" "$T/up.bin" "$LK_ALICE@$A:lk-cli-$UPNAME"
check "scp it back" "$LK" scp --address 127.0.0.1 --port "$sshd1_PORT" \
    "${SSHOPTS[@]}" "$LK_ALICE@$A:lk-cli-$UPNAME" "$T/down.bin"
is "the checksums are identical" \
    "$(sha256sum <"$T/up.bin") $(sha256sum <"$ALICE_HOME/lk-cli-$UPNAME" 2>/dev/null)" \
    "$(sha256sum <"$T/down.bin" 2>/dev/null) $(sha256sum <"$T/down.bin" 2>/dev/null)"
printf 'get lk-cli-%s %s\n' "$UPNAME" "$T/sftp.bin" >"$T/batch"
check "sftp -b fetches it too" "$LK" sftp --address 127.0.0.1 --port "$sshd1_PORT" \
    "${SSHOPTS[@]}" -b "$T/batch" "$LK_ALICE@$A"
check "and it is the same file" cmp -s "$T/up.bin" "$T/sftp.bin"
rm -f "$ALICE_HOME/lk-cli-$UPNAME"
is "scp and sftp leave nothing in TMPDIR" "$(ls -A "$TMPDIR")" ""

# ---------------------------------------------------------------------
# --install-plugin on root 2, then a login there.
"$LK" ssh --install-plugin "$LK_ALICE@$B" --address 127.0.0.1 \
    --port "$sshd2_PORT" "${SSHOPTS[@]}" -- id -un >"$T/ip.out" 2>"$T/ip.err"
is "ssh --install-plugin installs the plug-in, then logs in" \
    "$(cat "$T/ip.out")" "$LK_ALICE"
check "root 2 now has send_ssh_public_key" test -x "$R2/usr/local/sbin/send_ssh_public_key"

# ---------------------------------------------------------------------
# run on two agents.
"$LK" run --instance "$A" --instance "$B" -- 'echo out-$(id -un); exit 0' \
    >"$T/run.out" 2>"$T/run.err"
rc=$?
is "run on two agents exits 0" "$rc" 0
check "both results are shown" sh -c "grep -q '^=== $A.*Success, exit code 0' \
    '$T/run.out' && grep -q '^=== $B.*Success, exit code 0' '$T/run.out' &&
    [ \$(grep -c '^out-root\$' '$T/run.out') -eq 2 ]"
check "a progress line goes to stderr" grep -q '2/2 done, 2 succeeded' "$T/run.err"
# The agents pass LATCHKEY_ROOT on to tasks: only B's differs from $R.
check_exit "run: one failure makes the exit non-zero" 1 "$LK" run -i "$A" \
    -i "$B" -- "[ \"\$LATCHKEY_ROOT\" = '$R' ] || exit 3"
cp "$T/last.out" "$T/run-fail.out"
check "the failure's exit code is shown" sh -c \
    "grep -q '^=== $B.*Failed, exit code 3' '$T/run-fail.out' &&
    grep -q '^=== $A.*Success' '$T/run-fail.out'"
check "run --output json" sh -c "'$LK' --output json run -i '$A' -i '$B' -- \
    'echo hi' >'$T/run.json' && grep -q '\"Succeeded\": 2' '$T/run.json' &&
    grep -q '\"Output\": \"hi\\\\n\"' '$T/run.json'"
check "run on one instance prints its output as it is" sh -c \
    "[ \"\$('$LK' run -i '$A' -- 'printf abc')\" = abc ]"
INV=$(json_str InvokeId <"$T/run.json"); [ -n "$INV" ] ||
    INV=$(grep -o 't-[0-9a-f]*' "$T/run.json" | head -n 1)
check "invocations lists the run" out_has "^$INV " "$LK" invocations
check "invocations INVOKE_ID shows its results" out_has \
    "=== $B: Success, exit code 0" "$LK" invocations "$INV"

# SIGTERM stops the invocation.
"$LK" --verbose run -i "$A" -- 'sleep 30' >/dev/null 2>"$T/run-term.log" &
lkpid=$!
for i in $(seq 1 100); do
	grep -q 'invocation t-' "$T/run-term.log" 2>/dev/null && break
	sleep 0.05
done
sleep 0.5
kill -TERM "$lkpid"
wait "$lkpid"; rc=$?
INV=$(grep -o 'invocation t-[0-9a-zA-Z]*' "$T/run-term.log" | head -n 1 | cut -d' ' -f2)
is "run: SIGTERM exits 143" "$rc" 143
check "run: SIGTERM stopped the invocation" out_has \
    "=== $A: (Terminated|Stopped|Stopping|Cancelled)" "$LK" invocations "$INV"

# ---------------------------------------------------------------------
# The agent C stopped: at first the server still counts it online and the
# task waits; latchkey gives up after --timeout and says why.
check "a stopped agent: send-key gives up after --timeout (exit 1)" err_is 1 \
    'did not finish within 3 s|is offline' "$LK" send-key --timeout 3 \
    --user "$LK_ALICE" --key "$T/keys/alice.pub" "$C"

# Wait out the TTL (and the server's 60 s online window for C).
now=$(date +%s)
wait_until=$((EPHEMERAL_AT > SENT_AT ? EPHEMERAL_AT : SENT_AT))
wait_until=$((wait_until + TTL + 2))
[ $((C_STOPPED + 62)) -gt "$wait_until" ] && wait_until=$((C_STOPPED + 62))
[ "$wait_until" -gt "$now" ] && sleep $((wait_until - now))

wait "$LATE_PID"; rc=$?
is "a login that reached sshd after the key's expiry fails (255)" "$rc" 255
check "and latchkey says the key had expired before ssh got there" grep -q \
    "after the key pushed for $LK_ALICE had expired" "$T/late.err"

is "after the TTL the send-key key no longer logs in" \
    "$(lk_ssh "$LK_ALICE" "$T/keys/alice" "$sshd1_PORT" -- id -un 2>/dev/null)" ""
check "after the TTL the server no longer offers the ephemeral key" \
    fails helper_has "$LK_ALICE" "$EFP"
check "an offline agent: \"is offline\" at once (exit 1)" err_is 1 \
    "instance $C is offline: its agent last polled [0-9]+ (s|min) ago \(at 20" \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$C"
check "run skips an offline agent and fails, in latchkey's words" out_is 1 \
    "=== $C.*ClientNotRunning: instance is offline: its agent last polled" \
    "$LK" run -i "$A" -i "$C" -- true
check "and never in Alibaba's (\"the aliyun service\")" fails \
    grep -q 'aliyun service' "$T/out.txt"
check "run --all runs on the online agents only" sh -c "'$LK' run --all -- \
    'echo all' >'$T/all.out' 2>&1 && grep -q '^=== $A' '$T/all.out' &&
    grep -q '^=== $B' '$T/all.out' && ! grep -q '$C' '$T/all.out'"

# ---------------------------------------------------------------------
# What latchkey waits for: said with --verbose (a line when it changes),
# not at all without it (stderr is not a terminal here).
check "run --verbose says what it waits for" sh -c "'$LK' --verbose run -i '$A' \
    -- 'sleep 3' 2>'$T/wait.err' >/dev/null &&
    grep -q '^latchkey: waiting for $A (Running, agent online)' '$T/wait.err'"
check "without --verbose, nothing on stderr" sh -c "'$LK' run -i '$A' \
    -- 'sleep 2; echo done' 2>'$T/quiet.err' >/dev/null && [ ! -s '$T/quiet.err' ]"

# ---------------------------------------------------------------------
# The agent B stops cleanly (SIGTERM, by PID): it says goodbye, so its
# instance is offline at once, and send-key, ssh and run say so within
# seconds in latchkey's words, sending nothing; restarted, a push goes
# through.
bpid=$(cat "$T/agent-b.pid")
kill -TERM "$bpid"
for i in $(seq 1 300); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.05; done
check "agent B stopped on SIGTERM" fails kill -0 "$bpid"
check "agent B said goodbye" grep -q ' conn goodbye http=200' "$T/agent-b.log"
newest_inv() { "$LK" invocations 2>/dev/null | sed -n 2p; }
INV_BEFORE=$(newest_inv)
# within STATUS MS PATTERN CMD...: CMD exits STATUS, within MS, PATTERN on stderr.
within() {
	local want=$1 ms=$2 pat=$3 t0 t1; shift 3
	t0=$(date +%s%N)
	err_is "$want" "$pat" "$@" || return 1
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt "$ms" ] && return 0
	echo "took $(((t1 - t0) / 1000000)) ms" >&2
	return 1
}
check "send-key to B: \"is offline: its agent said goodbye\" within 5 s (exit 1)" \
    within 1 5000 "instance $B is offline: its agent said goodbye [0-9]+ s ago \(at 20.*start latchkey-agent" \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$B"
check "ssh to B: the same within 5 s (exit 1)" within 1 5000 \
    "instance $B is offline: its agent said goodbye" "$LK" ssh \
    "$LK_ALICE@$B" --address 127.0.0.1 --port "$sshd2_PORT" "${SSHOPTS[@]}" -- true
check "run on B: skipped within 5 s, in latchkey's words (exit 1)" within 1 5000 \
    "$B: Skipped \(ClientNotRunning: instance is offline: its agent said goodbye" \
    "$LK" run -i "$B" -- true
is "no invocation was created for them" "$(newest_inv)" "$INV_BEFORE"
check "instances shows B Stopped" sh -c "'$LK' instances | grep -q '^$B .*Stopped'"
LATCHKEY_ROOT=$R2 LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd2.pid \
    lk_agent_run agent-b 2>>"$T/agent-b.err"
check "agent B restarted: a push goes through" out_has \
    "sent key SHA256:[A-Za-z0-9+/]+ to $B .*for user $LK_ALICE" \
    "$LK" send-key --user "$LK_ALICE" --key "$T/keys/alice.pub" "$B"

lk_keep_logs
echo "1..$LK_N"
