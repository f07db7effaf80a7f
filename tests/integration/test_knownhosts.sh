#!/usr/bin/env bash
# Host keys known before the first connection, from the user's side
# (issue 14): `latchkey known-hosts` as OpenSSH's KnownHostsCommand, with
# the real ssh and sshd and StrictHostKeyChecking yes everywhere.
#
# The server is a network namespace joined by a veth pair: its sshd (a
# scratch root with the plug-in installed) listens on the namespace's
# address, which is the one address its agent reports; latchkeyd listens
# on this side's. The cases: known-hosts by id, address, [address]:port
# and name, against ssh-keyscan; first contact by address and by id
# (through the session relay, with the README's ssh block) with an empty
# known_hosts file and BatchMode (a prompt would fail the login); latchkey
# ssh with no options at all; sshd's keys swapped behind the agent's back
# refused by ssh, with latchkey's explanation; a rotation the agent
# reports accepted at once; a key limited to another instance gets 403;
# bad HOST arguments; and 50 cycles of the server re-registered with new
# host keys on the same address: no prompt, no failure.
. "$(dirname "$0")/lib.sh"

lk_setup
PLUGIN=config_ecs_instance_connect
LK=$T/bin/latchkey
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
CYCLES=${LK_KH_CYCLES:-50}
lk_need_built "$LK" "$LKD" "$AGENT"

finish() { echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }

# out_is STATUS ERE CMD...: CMD exits STATUS with ERE on stdout or stderr.
out_is() {
	local want=$1 pat=$2 rc; shift 2
	"$@" >"$T/out.txt" 2>&1; rc=$?
	[ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$T/out.txt" && return 0
	echo "exit $rc, wanted $want: $(head -c 600 "$T/out.txt")" >&2
	return 1
}
# keyscan HOSTFIELD: sshd's keys as "HOSTFIELD type base64", sorted.
keyscan() {
	ssh-keyscan -T 5 -t ed25519,ecdsa,rsa -p "$PORT" "$LK_NSIP" 2>/dev/null |
	    awk -v h="$1" '{ print h " " $2 " " $3 }' | LC_ALL=C sort
}
sorted() { LC_ALL=C sort; }

# ---------------------------------------------------------------------
lk_plugin_pkg
check "a network namespace with a veth pair" lk_netns
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
LK_NETNS=$LK_NS lk_must "sshd runs in the namespace" lk_mkroot "$R" sshd1
PORT=${sshd1_PORT:-0}
printf 'ListenAddress %s\n' "$LK_NSIP" >"$R/etc/ssh/sshd_config.d/10-veth.conf"
check "the seed command installs the plug-in (sshd reloads)" env \
    LATCHKEY_ROOT="$R" LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P $PLUGIN --params --install
hup_sshd() { lk_netns_sshd_hup sshd1 "$PORT"; }
check "sshd listens on the namespace's address" hup_sshd

lk_new_db lkd || { echo "not ok - a database"; finish; }
lk_accesskey AK --description knownhosts 2>"$T/last.err"
lk_accesskey OTHER --description other \
    --instances 'i-00000000000000000000' 2>"$T/last.err"
lk_activation ACT --count $((CYCLES + 5)) 2>"$T/last.err"
lk_must "latchkeyd listens on $LK_HOSTIP" lk_lkd_start -a "$LK_HOSTIP" \
    latchkeyd --allow-plain-http
check "latchkeyd session-manager enable" out_has 'enabled' \
    lk_lkd_admin session-manager enable

# start_agent NAME [OPTION...]: registers agent NAME from the namespace and
# runs it with the scratch root; INST is its instance.
start_agent() {
	local name=$1; shift
	LK_NETNS=$LK_NS lk_agent_register "$name" || return 1
	INST=$AGENT_IID
	LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
	    LK_NETNS=$LK_NS lk_agent_run "$name" --session-ports "$PORT" "$@"
}
check "the agent registers and runs in the namespace" start_agent agent
A=${INST:-i-none}

export HOME=$T/home TMPDIR=$T/tmp
mkdir -p "$HOME" "$TMPDIR"
export LATCHKEY_CONFIG=$T/none.json LATCHKEY_ENDPOINT=$LKD_URL \
    ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID
lk_keygen alice
KEY=$T/keys/alice
push() { "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "${1:-$A}" >/dev/null; }

# ---------------------------------------------------------------------
# known-hosts itself.
check "known-hosts --help" sh -c "'$LK' known-hosts --help | grep -q '^usage: latchkey known-hosts'"
check "DescribeInstances has the namespace's address" out_has "\"$LK_NSIP\"" \
    lk_api DescribeInstances
is "known-hosts ID: sshd's keys, named as given" \
    "$("$LK" known-hosts "$A" | sorted)" "$(keyscan "$A")"
is "known-hosts ADDRESS" "$("$LK" known-hosts "$LK_NSIP" | sorted)" \
    "$(keyscan "$LK_NSIP")"
is "known-hosts [ADDRESS]:PORT" \
    "$("$LK" known-hosts "[$LK_NSIP]:$PORT" | sorted)" \
    "$(keyscan "[$LK_NSIP]:$PORT")"
NAME=$(lk_api DescribeInstances InstanceIds="[\"$A\"]" | json_str InstanceName)
is "known-hosts NAME ($NAME)" "$("$LK" known-hosts "$NAME" | sorted)" \
    "$(keyscan "$NAME")"
check "keyscan saw a key (so the comparisons above could fail)" \
    test -n "$(keyscan x)"
FP=$(ssh-keygen -lf "$R/etc/ssh/ssh_host_ed25519_key.pub" | awk '{ print $2 }')
check "with the presented key's fingerprint: exit 0, nothing on stderr" sh -c \
    "'$LK' known-hosts '$A' '$FP' >/dev/null 2>'$T/kh.err' && [ ! -s '$T/kh.err' ]"
check "with another fingerprint: exit 0, the keys, and latchkey's explanation" \
    sh -c "'$LK' known-hosts '$A' SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    >'$T/kh.out' 2>'$T/kh.err' && [ -s '$T/kh.out' ] &&
    grep -q 'does not match the keys its agent reported to latchkey' '$T/kh.err' &&
    grep -qF '$FP' '$T/kh.err'"
check "ssh's ordering call (NONE): exit 0 at once, silent, even with no endpoint" sh -c \
    "LATCHKEY_ENDPOINT=http://127.0.0.1:1 '$LK' known-hosts '$A' NONE \
    >'$T/kh.out' 2>'$T/kh.err' && [ ! -s '$T/kh.out' ] && [ ! -s '$T/kh.err' ]"
check "an unreachable endpoint otherwise: exit 5 (ssh then refuses)" err_is 5 \
    'cannot reach' env LATCHKEY_ENDPOINT=http://127.0.0.1:1 "$LK" known-hosts "$A"
check "a key limited to another instance: exit 4, Forbidden.RAM (403)" \
    err_is 4 'Forbidden.RAM' env ALIBABA_CLOUD_ACCESS_KEY_ID="$OTHER_ID" \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET="$OTHER_SECRET" "$LK" known-hosts "$A"
check "an unknown instance id: exit 4, InvalidInstance.NotFound" err_is 4 \
    'InvalidInstance.NotFound' "$LK" known-hosts i-99999999999999999999
for bad in '' 'a b' '*' 'i-*' 'x,y' '[10.0.0.1]' '[10.0.0.1]:0' \
    '[10.0.0.1]:99999' "$(printf 'a\tb')" '@cert-authority' '!x'; do
	check "HOST '$bad' is a usage error (2), nothing printed" sh -c \
	    "'$LK' known-hosts '$bad' >'$T/kh.out' 2>/dev/null; \
	    [ \$? -eq 2 ] && [ ! -s '$T/kh.out' ]"
done
check_exit "--instance that is not an id: exit 2" 2 "$LK" known-hosts \
    --instance 'x; rm -rf /' "$A"
check_exit "no HOST: exit 2" 2 "$LK" known-hosts

# ---------------------------------------------------------------------
# First contact, strict, an empty known_hosts file, no prompt possible.
: >"$T/known_hosts"
cat >"$T/ssh_config" <<EOF
Host i-*
    ProxyCommand $LK proxy %h %p
    KnownHostsCommand $LK known-hosts %H %f
    Port $PORT
Host *
    KnownHostsCommand $LK known-hosts %H %f
    StrictHostKeyChecking yes
    UserKnownHostsFile $T/known_hosts
    GlobalKnownHostsFile /dev/null
    BatchMode yes
    IdentitiesOnly yes
    IdentityFile $KEY
    ConnectTimeout 10
    LogLevel ERROR
EOF
kssh() { ssh -F "$T/ssh_config" "$@"; }
check "send-key" push
check "ssh by address, first contact, strict: logs in" out_has \
    "^by-address $LK_ALICE\$" kssh -p "$PORT" "$LK_ALICE@$LK_NSIP" \
    'echo by-address $(id -un)'
check "ssh by instance id through the relay (the README's block): logs in" \
    out_has "^by-id $LK_ALICE\$" kssh "$LK_ALICE@$A" 'echo by-id $(id -un)'
is "nothing was added to known_hosts (no prompt, no TOFU)" \
    "$(wc -c <"$T/known_hosts")" 0
check "latchkey ssh by id, no ssh options, an empty HOME: logs in" out_has \
    "^lk-ssh $LK_ALICE\$" "$LK" ssh --port "$PORT" "$LK_ALICE@$A" -- \
    'echo lk-ssh $(id -un)'
check "latchkey ssh by address: logs in" out_has "^lk-addr $LK_ALICE\$" \
    "$LK" ssh --port "$PORT" "$LK_ALICE@$LK_NSIP" -- 'echo lk-addr $(id -un)'
check "latchkey ssh --tunnel: logs in" out_has "^lk-tun $LK_ALICE\$" \
    "$LK" ssh --tunnel --port "$PORT" "$LK_ALICE@$A" -- 'echo lk-tun $(id -un)'
check "latchkey scp: copies" "$LK" scp --port "$PORT" "$KEY.pub" \
    "$LK_ALICE@$A:/tmp/lk-kh-$$.pub"
check "latchkey ssh --verbose shows the KnownHostsCommand and strict checking" \
    sh -c "'$LK' --verbose ssh --port '$PORT' '$LK_ALICE@$A' -- true 2>&1 |
    grep 'latchkey: running' | grep -q 'KnownHostsCommand=.* known-hosts --instance $A .*%H %f.*StrictHostKeyChecking=yes'"
check "latchkey ssh: ssh asks for the host keys once a connection (HostKeyAlgorithms=^ the reported types)" \
    sh -c "'$LK' --verbose ssh --port '$PORT' '$LK_ALICE@$A' -o LogLevel=DEBUG3 \
    -E '$T/once.log' -- true 2>'$T/once.err' &&
    grep -q 'HostKeyAlgorithms=^ssh-ed25519' '$T/once.err' &&
    [ \$(grep -c 'subprocess: KnownHostsCommand[^ ]* command' '$T/once.log') -eq 1 ]"
is "HOME/.ssh was not created or written" "$(ls -A "$HOME")" ""
ip netns exec "$LK_NS" rm -f "/tmp/lk-kh-$$.pub" 2>/dev/null; rm -f "/tmp/lk-kh-$$.pub"

# ---------------------------------------------------------------------
# sshd's keys swapped behind the agent's back (it checks every 60 s).
cp -p "$R/etc/ssh/ssh_host_ed25519_key" "$T/orig_key"
cp -p "$R/etc/ssh/ssh_host_ed25519_key.pub" "$T/orig_key.pub"
rm -f "$R/etc/ssh/ssh_host_ed25519_key"*
ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
NEWFP=$(ssh-keygen -lf "$R/etc/ssh/ssh_host_ed25519_key.pub" | awk '{ print $2 }')
check "sshd restarted with another key" hup_sshd
check "keyscan sees the new key" sh -c "ssh-keyscan -T 5 -p '$PORT' \
    '$LK_NSIP' 2>/dev/null | grep -qF '$(cut -d' ' -f2 \
    "$R/etc/ssh/ssh_host_ed25519_key.pub")'"
check "send-key" push
check "ssh by address: refused (255), with latchkey's explanation" out_is 255 \
    'does not match the keys its agent reported to latchkey' \
    kssh -p "$PORT" "$LK_ALICE@$LK_NSIP" true
check "and ssh's own refusal" grep -q 'Host key verification failed' "$T/out.txt"
check "the message names the presented key's fingerprint" grep -qF "$NEWFP" \
    "$T/out.txt"
check "ssh by id through the relay: refused (255)" out_is 255 \
    'does not match the keys its agent reported to latchkey' \
    kssh "$LK_ALICE@$A" true
check "latchkey ssh: refused (255), with latchkey's explanation" out_is 255 \
    'does not match the keys its agent reported to latchkey' \
    "$LK" ssh --port "$PORT" "$LK_ALICE@$A" -- true
check "latchkey ssh with the user's own StrictHostKeyChecking=no (theirs wins): logs in" \
    out_has "^own-choice\$" "$LK" ssh --port "$PORT" "$LK_ALICE@$A" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -- echo own-choice
is "known_hosts is still empty" "$(wc -c <"$T/known_hosts")" 0

# A rotation the agent reports (it starts again): accepted at once.
check "the agent stops" lk_agent_stop agent
if LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
    LK_NETNS=$LK_NS lk_agent_run agent --session-ports "$PORT" \
    --hostkey-check 1; then
	tap_ok "the agent starts again, checking every second"
else
	tap_fail "the agent starts again, checking every second"
fi
check "known-hosts has the new key at once" sh -c \
    "'$LK' known-hosts '$A' | grep -qF \"\$(cut -d' ' -f2 \
    '$R/etc/ssh/ssh_host_ed25519_key.pub')\""
check "send-key" push
check "ssh by address logs in at once" out_has "^rotated$" \
    kssh -p "$PORT" "$LK_ALICE@$LK_NSIP" echo rotated
# And one found by the agent's own check, with no restart.
rm -f "$R/etc/ssh/ssh_host_ed25519_key"*
ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
check "sshd reloads with a third key" hup_sshd
NEWB64=$(cut -d' ' -f2 "$R/etc/ssh/ssh_host_ed25519_key.pub")
for i in $(seq 1 50); do
	"$LK" known-hosts "$A" 2>/dev/null | grep -qF "$NEWB64" && break
	sleep 0.2
done
check "the agent reported it within 10 s" sh -c \
    "'$LK' known-hosts '$A' | grep -qF '$NEWB64'"
check "send-key" push
check "latchkey ssh logs in" out_has "^rotated-again$" "$LK" ssh \
    --port "$PORT" "$LK_ALICE@$A" -- echo rotated-again
check "the agent stops" lk_agent_stop agent

# ---------------------------------------------------------------------
# The server made anew $CYCLES times on the same address: new host key,
# new registration (a new instance), the old agent gone.
fails=0 prompts=0 done_n=0
for c in $(seq 1 "$CYCLES"); do
	rm -f "$R/etc/ssh/ssh_host_ed25519_key"*
	ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
	hup_sshd || { fails=$((fails + 1)); echo "cycle $c: sshd" >&2; continue; }
	start_agent "cycle$c" >/dev/null 2>"$T/cycle.err" ||
	    { fails=$((fails + 1)); echo "cycle $c: agent: $(tail -n 2 "$T/cycle.err")" >&2; continue; }
	if ! "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "$LK_NSIP" \
	    >/dev/null 2>"$T/cycle.err"; then
		fails=$((fails + 1))
		echo "cycle $c: send-key: $(tail -n 2 "$T/cycle.err")" >&2
	elif ! out=$(kssh -p "$PORT" "$LK_ALICE@$LK_NSIP" echo cycle-ok \
	    2>"$T/cycle.err") || [ "$out" != cycle-ok ]; then
		fails=$((fails + 1))
		echo "cycle $c: ssh: $(tail -n 3 "$T/cycle.err")" >&2
	else
		done_n=$((done_n + 1))
	fi
	grep -qiE 'continue connecting|authenticity of host' "$T/cycle.err" &&
	    prompts=$((prompts + 1))
	[ "$c" -lt "$CYCLES" ] && lk_agent_stop "cycle$c" 2>/dev/null
done
is "latchkey instances lists all $((CYCLES + 1)) (more than a page of 50)" \
    "$("$LK" --output json instances | grep -c '"InstanceId"')" $((CYCLES + 1))
is "$CYCLES re-registrations: logins" "$done_n" "$CYCLES"
is "$CYCLES re-registrations: failures" "$fails" 0
is "$CYCLES re-registrations: prompts" "$prompts" 0
is "known_hosts is still empty" "$(wc -c <"$T/known_hosts")" 0
is "for the address, only the online instance's key is offered" \
    "$("$LK" known-hosts "$LK_NSIP")" \
    "$LK_NSIP $(cut -d' ' -f1,2 "$R/etc/ssh/ssh_host_ed25519_key.pub")"
check "the last agent stops" lk_agent_stop "cycle$CYCLES"
check "every instance offline: the address is ambiguous (exit 2), not guessed" \
    err_is 2 'none is online; connect by instance id' "$LK" known-hosts "$LK_NSIP"

check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "no sanitizer report in latchkeyd's output" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/latchkeyd.log'"
finish
