#!/usr/bin/env bash
# Host keys known before the first connection (issue 14), with the real
# programs: a scratch root $R whose sshd has three host keys (ed25519 and
# ECDSA with their .pub, RSA without one, so the agent derives it with
# ssh-keygen -y) plus a HostKey line for a file that does not exist;
# latchkeyd on a loopback port; one agent with LATCHKEY_ROOT=$R.
#
# The cases: register stores exactly the keys ssh-keyscan sees, and
# DescribeInstanceHostKeys answers them with ssh-keygen -l's fingerprints;
# the policy (another instance: 403), an unknown instance (404), no
# InstanceId (400); hostile hellos and a hostile registration (not a key,
# options, a comment, control characters, 17 keys, a 9 KiB line, DSA,
# RSA 1024, a repeat) are each refused 400 "malformed host_keys" with
# nothing of them stored; after two of sshd's keys are made anew and sshd
# reloads, the agent (--hostkey-check 2) reports the new set within 10 s,
# and the key that stayed keeps its FirstSeenTime.
. "$(dirname "$0")/lib.sh"

lk_setup
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
lk_need_built "$LKD" "$AGENT"

finish() { echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }

# keyscan: the keys sshd offers, "type base64" sorted.
keyscan() {
	ssh-keyscan -T 5 -t ed25519,ecdsa,rsa -p "$PORT" 127.0.0.1 2>/dev/null |
	    awk '{ print $2 " " $3 }' | LC_ALL=C sort
}
# hostkeys ID [FIELD]: DescribeInstanceHostKeys' keys, one "PublicKey"
# (or FIELD) a line, sorted; the raw answer in $T/hk.json.
hostkeys() {
	lk_api DescribeInstanceHostKeys InstanceId="$1" >"$T/hk.json"
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in sorted(k[sys.argv[2]] for k in d["HostKeys"]["HostKey"]):
    print(k)' "$T/hk.json" "${2:-PublicKey}"
}
# fingerprints: "SHA256:... type" of keyscan's keys, by ssh-keygen -l.
fingerprints() {
	keyscan | while read -r t b; do
		printf '%s %s\n' "$t" "$b" >"$T/one.pub"
		ssh-keygen -lf "$T/one.pub" | awk '{ print $2 }'
	done | LC_ALL=C sort
}
# post STATUS PATH JSON [AUTH]: POSTs JSON; the status must be STATUS.
post() {
	local want=$1 path=$2 body=$3 got
	got=$(curl -s -o "$T/post.out" -w '%{http_code}' --max-time 10 \
	    -X POST -H 'Content-Type: application/json' \
	    ${4:+-H "Authorization: Bearer $4"} --data-binary @- \
	    "$LKD_URL/agent/v1/$path" <<<"$body")
	[ "$got" = "$want" ] ||
	    { echo "HTTP $got, wanted $want: $(head -c 300 "$T/post.out")" >&2; return 1; }
}
# refused PATH JSON [AUTH]: 400 {"error":"malformed host_keys"}.
refused() {
	post 400 "$@" && grep -q '"error": *"malformed host_keys"' "$T/post.out" ||
	    { echo "answer: $(head -c 300 "$T/post.out")" >&2; return 1; }
}
# hello_with HOSTNAME KEYS_JSON: a hello body.
hello_with() {
	printf '{"hostname":"%s","os":"x","version":"1.2.0","addresses":[],"host_keys":%s}' \
	    "$1" "$2"
}
fails_cmp() { ! cmp -s "$1" "$2"; }
# as_other ACTION ...: lk_api signed with the key limited to another instance.
as_other() { AK_ID=$OTHER_ID AK_SECRET=$OTHER_SECRET lk_api "$@"; }
hostname_of() {
	lk_api DescribeInstances InstanceIds="[\"$1\"]" | json_str HostName
}

# ---------------------------------------------------------------------
# The scratch root: sshd with three host keys and one missing.
unset LATCHKEY_SSHD LATCHKEY_ROOT LATCHKEY_SSHD_PIDFILE
R=$T/root
check "sshd runs in the scratch root" lk_mkroot "$R" sshd1
PORT=${sshd1_PORT:-0}
ssh-keygen -q -t ecdsa -b 384 -N '' -f "$R/etc/ssh/ssh_host_ecdsa_key"
ssh-keygen -q -t rsa -b 3072 -N '' -f "$R/etc/ssh/ssh_host_rsa_key"
rm -f "$R/etc/ssh/ssh_host_rsa_key.pub"
printf 'HostKey %s\n' "$R/etc/ssh/ssh_host_ecdsa_key" \
    "$R/etc/ssh/ssh_host_rsa_key" "$R/etc/ssh/ssh_host_gone_key" \
    >>"$R/etc/ssh/sshd_config"
kill -HUP "$(cat "$T/sshd/sshd1.pid")"
check "sshd offers three host keys after its reload" sh -c \
    "for i in \$(seq 1 100); do [ \$(ssh-keyscan -T 2 -t ed25519,ecdsa,rsa \
    -p $PORT 127.0.0.1 2>/dev/null | grep -c .) -eq 3 ] && exit 0; sleep 0.1; \
    done; exit 1"
keyscan >"$T/want1"

# ---------------------------------------------------------------------
lk_new_db lkd || { echo "not ok - a database"; finish; }
check "latchkeyd accesskey create" lk_accesskey AK --description hostkeys
check "an access key for another instance only" lk_accesskey OTHER \
    --description other --instances 'i-00000000000000000000'
lk_activation ACT --count 3 2>"$T/last.err"
check "latchkeyd listens" lk_lkd_start latchkeyd

if LATCHKEY_ROOT=$R lk_agent_register agent; then
	IID=$AGENT_IID
	tap_ok "the agent registers ($IID)"
else
	IID=i-none
	tap_fail "the agent registers ($(tail -n 3 "$T/agent.register" | tr '\n' ' '))"
fi
CRED=$(json_str credential <"$T/agent/agent.json")

is "register stored exactly the keys sshd offers (the missing one skipped)" \
    "$(hostkeys "$IID")" "$(cat "$T/want1")"
is "each with ssh-keygen -l's fingerprint" \
    "$(hostkeys "$IID" Fingerprint)" "$(fingerprints)"
is "KeyType is each key's type" "$(hostkeys "$IID" KeyType)" \
    "$(awk '{ print $1 }' "$T/want1" | LC_ALL=C sort)"
check "the answer names the instance and the times" python3 -c '
import json, re, sys
d = json.load(open(sys.argv[1]))
assert d["InstanceId"] == sys.argv[2] and d["RequestId"]
for k in d["HostKeys"]["HostKey"]:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", k["FirstSeenTime"])
    assert k["LastSeenTime"] >= k["FirstSeenTime"]' "$T/hk.json" "$IID"

check "a key limited to another instance: 403 Forbidden.RAM" out_has \
    '"Code": *"Forbidden.RAM"' as_other DescribeInstanceHostKeys \
    InstanceId="$IID"
check "an unknown instance: 404 InvalidInstance.NotFound" out_has \
    '"Code": *"InvalidInstance.NotFound"' \
    lk_api DescribeInstanceHostKeys InstanceId=i-99999999999999999999
check "no InstanceId: 400 MissingInstanceId" out_has \
    '"Code": *"MissingInstanceId"' lk_api DescribeInstanceHostKeys

# ---------------------------------------------------------------------
# The agent runs, checking every 2 s.
LATCHKEY_ROOT=$R lk_agent_run agent --hostkey-check 2 2>>"$T/agent.err"
check "the agent logged the keys it found" grep -q 'hostkeys found keys=3' \
    "$T/agent.log"
HOST0=$(hostname_of "$IID")

# Hostile hellos, with the agent's own credential.
GOOD=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read().split("\n")[:-1]))' "$T/want1")
ED=$(head -n 1 "$T/want1")
mkdir -p "$T/bad"
for i in $(seq 1 17); do
	ssh-keygen -q -t ed25519 -N '' -C '' -f "$T/bad/k$i"
done
ssh-keygen -q -t dsa -N '' -C '' -f "$T/bad/dsa" 2>/dev/null
ssh-keygen -q -t rsa -b 1024 -N '' -C '' -f "$T/bad/rsa1024" 2>/dev/null
SEVENTEEN=$(for i in $(seq 1 17); do cut -d' ' -f1,2 "$T/bad/k$i.pub"; done |
    python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().split("\n")[:-1]))')
BIG=$(python3 -c 'print("ssh-ed25519 " + "A" * (9 * 1024 - 12))')
declare -A BAD=(
	[not-a-key]='["hello"]'
	[options]="[\"no-pty,command=\\\"/bin/sh\\\" $ED\"]"
	[comment]="[\"$ED root@host\"]"
	[control-char]="[\"$ED\\u0001\"]"
	[tab]="[\"${ED%% *}\\t${ED#* }\"]"
	[newline]="[\"$ED\\nssh-ed25519 AAAA\"]"
	[seventeen]="$SEVENTEEN"
	[9KiB]="[\"$BIG\"]"
	[dsa]="[\"$(cut -d' ' -f1,2 "$T/bad/dsa.pub")\"]"
	[rsa1024]="[\"$(cut -d' ' -f1,2 "$T/bad/rsa1024.pub")\"]"
	[repeat]="[\"$ED\",\"$ED\"]"
	[not-a-list]='"x"'
)
for name in not-a-key options comment control-char tab newline seventeen \
    9KiB dsa rsa1024 repeat not-a-list; do
	check "hello with host_keys $name: 400 malformed host_keys" refused \
	    hello "$(hello_with "evil-$name" "${BAD[$name]}")" "$IID.$CRED"
done
is "nothing of them was stored: the keys" "$(hostkeys "$IID")" \
    "$(cat "$T/want1")"
is "nothing of them was stored: the hostname" "$(hostname_of "$IID")" "$HOST0"
# The same hello with the good keys goes through (so the above could fail).
check "the same hello with sshd's keys: 200" post 200 hello \
    "$(hello_with evil-good "$GOOD")" "$IID.$CRED"
is "and is stored" "$(hostname_of "$IID")" evil-good

check "a registration with a bad key: 400 malformed host_keys" refused \
    register "{\"activation_id\":\"$ACT_ID\",\"activation_code\":\"$ACT_CODE\",\"hostname\":\"evil\",\"os\":\"x\",\"version\":\"1.2.0\",\"addresses\":[],\"host_keys\":${BAD[dsa]}}"
check "and no instance was added" out_has '"TotalCount": *1[,}]' \
    lk_api DescribeInstances

# ---------------------------------------------------------------------
# Two keys made anew, sshd reloaded: the agent reports the new set.
FIRST_ECDSA=$(python3 -c '
import json, sys
for k in json.load(open(sys.argv[1]))["HostKeys"]["HostKey"]:
    if k["KeyType"].startswith("ecdsa"): print(k["FirstSeenTime"])' "$T/hk.json")
sleep 1.1	# so that a new first_seen would differ
rm -f "$R/etc/ssh/ssh_host_ed25519_key"* "$R/etc/ssh/ssh_host_rsa_key"*
ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
ssh-keygen -q -t rsa -b 2048 -N '' -f "$R/etc/ssh/ssh_host_rsa_key"
kill -HUP "$(cat "$T/sshd/sshd1.pid")"
check "sshd offers the new keys" sh -c "for i in \$(seq 1 100); do \
    ssh-keyscan -T 2 -t ed25519 -p $PORT 127.0.0.1 2>/dev/null | \
    grep -qF \"\$(cut -d' ' -f2 '$R/etc/ssh/ssh_host_ed25519_key.pub')\" && exit 0; \
    sleep 0.1; done; exit 1"
keyscan >"$T/want2"
check "the new set differs from the old" fails_cmp "$T/want1" "$T/want2"
got=
for i in $(seq 1 50); do
	got=$(hostkeys "$IID")
	[ "$got" = "$(cat "$T/want2")" ] && break
	sleep 0.2
done
is "within 10 s DescribeInstanceHostKeys answers the new keys" "$got" \
    "$(cat "$T/want2")"
is "with their fingerprints" "$(hostkeys "$IID" Fingerprint)" \
    "$(fingerprints)"
check "the agent logged the change" grep -q 'hostkeys changed keys=3' \
    "$T/agent.log"
check "the ECDSA key's FirstSeenTime was read" test -n "$FIRST_ECDSA"
is "the ECDSA key, kept, keeps its FirstSeenTime" "$(python3 -c '
import json, sys
for k in json.load(open(sys.argv[1]))["HostKeys"]["HostKey"]:
    if k["KeyType"].startswith("ecdsa"): print(k["FirstSeenTime"])' "$T/hk.json")" \
    "$FIRST_ECDSA"

check "the agent stops on SIGTERM" lk_agent_stop agent
check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "no sanitizer report in latchkeyd's or the agent's output" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/latchkeyd.log' '$T/agent.out' '$T/agent.register'"
finish
