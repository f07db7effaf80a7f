#!/usr/bin/env bash
# The optional host CA (issue 14, item 5), with the real ssh and sshd:
# latchkeyd --host-ca signs the host keys an agent reports, the agent
# (--host-certificates) installs them for a scratch sshd in a network
# namespace, and ssh with StrictHostKeyChecking yes and a known_hosts file
# holding only `latchkey known-hosts --ca`'s line logs in by address with
# no prompt; when sshd -t refuses the agent's drop-in (an sshd_config
# that includes sshd_config.d in a Match block) the previous drop-in is put
# back, or the new one removed, and sshd is not reloaded; sshd restarted
# with another key (no certificate for it) is refused; without --host-ca
# no certificate is sent and the agent changes nothing.
. "$(dirname "$0")/lib.sh"

lk_setup
PLUGIN=config_ecs_instance_connect
LK=$T/bin/latchkey
LKD=$T/bin/latchkeyd
lk_need_built "$LK" "$LKD" "$T/bin/latchkey-agent"

finish() { echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }

lk_plugin_pkg
check "a network namespace with a veth pair" lk_netns
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
LK_NETNS=$LK_NS lk_must "sshd runs in the namespace" lk_mkroot "$R" sshd1
PORT=${sshd1_PORT:-0}
printf 'ListenAddress %s\n' "$LK_NSIP" >"$R/etc/ssh/sshd_config.d/10-veth.conf"
check "the seed command installs the plug-in" env LATCHKEY_ROOT="$R" \
    LATCHKEY_SSHD_PIDFILE="$T/sshd/sshd1.pid" \
    "$T/bin/acs-plugin-manager" -e -P $PLUGIN --params --install
hup_sshd() { lk_netns_sshd_hup sshd1 "$PORT"; }
check "sshd listens on the namespace's address" hup_sshd

lk_new_db lkd || { echo "not ok - a database"; finish; }
lk_accesskey AK --description hostca 2>"$T/last.err"
lk_activation ACT --count 5 2>"$T/last.err"

CERTDIR=$R/etc/ssh/latchkey-host-certs
DROPIN=$R/etc/ssh/sshd_config.d/20-latchkey-host-certs.conf
start_agent() {
	local name=$1; shift
	LK_NETNS=$LK_NS lk_agent_register "$name" || return 1
	INST=$AGENT_IID
	LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
	    LK_NETNS=$LK_NS lk_agent_run "$name" "$@"
}
# wait_for TEST...: up to 10 s.
wait_for() {
	for i in $(seq 1 100); do "$@" && return 0; sleep 0.1; done
	return 1
}

# ---------------------------------------------------------------------
# Without --host-ca: nothing is sent, the agent changes nothing.
lk_must "latchkeyd (no --host-ca) listens" lk_lkd_start -a "$LK_HOSTIP" \
    latchkeyd --allow-plain-http
check "an agent with --host-certificates runs" start_agent plain \
    --host-certificates
sleep 2
check "no certificate directory, no drop-in" sh -c \
    "[ ! -e '$CERTDIR' ] && [ ! -e '$DROPIN' ]"
export HOME=$T/home TMPDIR=$T/tmp
mkdir -p "$HOME" "$TMPDIR"
export LATCHKEY_CONFIG=$T/none.json LATCHKEY_ENDPOINT=$LKD_URL \
    ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID
check "known-hosts --ca without --host-ca: exit 4, Disabled" err_is 4 \
    'HostCertificateAuthority.Disabled' "$LK" known-hosts --ca
lk_agent_stop plain
lk_lkd_stop

# ---------------------------------------------------------------------
# With --host-ca.
lk_must "latchkeyd --host-ca listens" lk_lkd_start -a "$LK_HOSTIP" \
    latchkeyd --allow-plain-http --host-ca
export LATCHKEY_ENDPOINT=$LKD_URL
CA=$("$LK" known-hosts --ca)
check "known-hosts --ca: one @cert-authority line" sh -c \
    "printf '%s\n' '$CA' | grep -Eq '^@cert-authority \* ssh-ed25519 AAAA[A-Za-z0-9+/=]+ latchkey host CA$'"
is "it names the key latchkeyd hostca show prints" \
    "$(echo "$CA" | cut -d' ' -f3,4)" \
    "$(lk_lkd_admin hostca show 2>/dev/null)"
check "the agent runs with --host-certificates" start_agent ca \
    --host-certificates
A=${INST:-i-none}
check "the agent installs a certificate" wait_for sh -c \
    "ls '$CERTDIR'/*-cert.pub >/dev/null 2>&1 && [ -s '$DROPIN' ]"
CERT=$(ls "$CERTDIR"/*-cert.pub 2>/dev/null | head -n 1)
check "root-owned 0644" sh -c "[ \"\$(stat -c %U:%a '$CERT')\" = root:644 ]"
check "ssh-keygen -L: a host certificate, key id latchkey:$A" sh -c \
    "ssh-keygen -L -f '$CERT' | grep -q 'host certificate' &&
    ssh-keygen -L -f '$CERT' | grep -q 'Key ID: \"latchkey:$A\"'"
check "its principals: the id and the address" sh -c \
    "ssh-keygen -L -f '$CERT' | grep -q '^ *$A\$' &&
    ssh-keygen -L -f '$CERT' | grep -q '^ *$LK_NSIP\$'"
check "the drop-in names it" grep -q "^HostCertificate $CERT\$" "$DROPIN"
check "sshd serves it (after the agent's reload)" wait_for sh -c \
    "ssh-keyscan -c -p $PORT $LK_NSIP 2>/dev/null | grep -q cert-v01"

lk_keygen alice
KEY=$T/keys/alice
printf '%s\n' "$CA" >"$T/known_hosts"
kssh() {
	ssh -F /dev/null -p "$PORT" -i "$KEY" -o BatchMode=yes \
	    -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
	    -o UserKnownHostsFile="$T/known_hosts" \
	    -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 \
	    -o LogLevel=ERROR "$@"
}
check "send-key" "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "$A"
check "ssh by address, strict, only the CA line: logs in" out_has \
    "^ca $LK_ALICE\$" kssh "$LK_ALICE@$LK_NSIP" 'echo ca $(id -un)'
is "known_hosts still holds only the CA line" "$(cat "$T/known_hosts")" "$CA"

# sshd refuses the new drop-in (sshd -t): the previous one is put back, or
# the new one removed, and sshd is not reloaded. The real reason: an
# sshd_config that includes sshd_config.d inside a Match block, where sshd
# allows no HostCertificate (the veth address moves into sshd_config).
SSHD_CONFIG=$R/etc/ssh/sshd_config
SSHD_LOG=$T/sshd/sshd1.log
lk_agent_stop ca
cp "$SSHD_CONFIG" "$T/sshd_config.saved"
mv "$R/etc/ssh/sshd_config.d/10-veth.conf" "$T/10-veth.conf.saved"
{ grep -v '^Include ' "$T/sshd_config.saved"
  printf 'ListenAddress %s\nMatch User nobody\n' "$LK_NSIP"
  printf '\tInclude %s/etc/ssh/sshd_config.d/*.conf\n' "$R"; } >"$SSHD_CONFIG"
mv "$DROPIN" "$T/dropin.saved"
check "sshd -t accepts that sshd_config without the drop-in" \
    /usr/sbin/sshd -t -f "$SSHD_CONFIG"
cp "$T/dropin.saved" "$DROPIN"
check "sshd -t refuses it with the drop-in" sh -c \
    "! /usr/sbin/sshd -t -f '$SSHD_CONFIG' 2>'$T/sshd-t.err'"
check "for its HostCertificate in a Match block" grep -q \
    "Directive 'HostCertificate' is not allowed within a Match" "$T/sshd-t.err"
# hello: the agent (stopped) runs again and says hello.
hello() {
	LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/sshd/sshd1.pid \
	    LK_NETNS=$LK_NS lk_agent_run ca --host-certificates
}
# refused_hello: hello, and the agent's drop-in is refused (logged).
refused_hello() {
	local n0
	n0=$(grep -c ' hostcerts install-failed' "$T/ca.log")
	hello && lk_wait_log "$T/ca.log" ' hostcerts install-failed' $((n0 + 1))
}
last_refusal() {
	grep ' hostcerts sshd-refused' "$T/ca.log" | tail -n 1 |
	    grep -o 'restored=[a-z]*'
}
hups() { grep -c 'Received SIGHUP' "$SSHD_LOG"; }
# No drop-in before: the new one is removed.
rm -f "$DROPIN"
H0=$(hups)
check "no drop-in before: sshd -t refuses the agent's" refused_hello
is "logged: sshd-refused, restored=none" "$(last_refusal)" \
    "restored=none"
check "the refused drop-in is removed" test ! -e "$DROPIN"
sleep 1
is "sshd is not reloaded" "$(hups)" "$H0"
lk_agent_stop ca
# A previous drop-in that sshd accepts there (no HostCertificate: with a
# HostCertificate line "sshd -T" would fail too, and the agent would report
# no host key): it is put back as it was.
printf '# The host certificates of latchkey-agent, when it has some.\n' \
    >"$DROPIN"
cp "$DROPIN" "$T/dropin.before"
check "a previous drop-in: sshd -t refuses the agent's" refused_hello
is "logged: sshd-refused, restored=previous" "$(last_refusal)" \
    "restored=previous"
check "the previous drop-in is back, byte for byte" cmp "$DROPIN" \
    "$T/dropin.before"
sleep 1
is "sshd is not reloaded" "$(hups)" "$H0"
check "sshd still serves the certificate" sh -c \
    "ssh-keyscan -c -p $PORT $LK_NSIP 2>/dev/null | grep -q cert-v01"
lk_agent_stop ca
# sshd_config mended: the next hello installs the drop-in and reloads.
cp "$T/sshd_config.saved" "$SSHD_CONFIG"
mv "$T/10-veth.conf.saved" "$R/etc/ssh/sshd_config.d/10-veth.conf"
N0=$(grep -c ' hostcerts reloaded' "$T/ca.log")
check "sshd_config mended: the agent says hello" hello
check "it installs its drop-in and reloads sshd" lk_wait_log "$T/ca.log" \
    ' hostcerts reloaded' $((N0 + 1))
check "the drop-in is the agent's again" cmp "$DROPIN" "$T/dropin.saved"
check "sshd is reloaded" wait_for sh -c "[ \$(grep -c 'Received SIGHUP' \
    '$SSHD_LOG') -gt $H0 ]"

# sshd restarted with another key and no certificate for it.
rm -f "$R/etc/ssh/ssh_host_ed25519_key"* "$DROPIN"
ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
check "sshd restarted with another key, no certificate" hup_sshd
check "send-key" "$LK" send-key --user "$LK_ALICE" --key "$KEY.pub" "$A"
check "refused under StrictHostKeyChecking yes" sh -c \
    "! ssh -F /dev/null -p $PORT -i '$KEY' -o BatchMode=yes \
    -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile='$T/known_hosts' -o GlobalKnownHostsFile=/dev/null \
    -o ConnectTimeout=10 '$LK_ALICE@$LK_NSIP' true 2>'$T/ssh.err'"
lk_agent_stop ca
lk_lkd_stop
finish
