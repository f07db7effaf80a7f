#!/usr/bin/env bash
# The managed-instance lifecycle with the real programs (issue 18): a
# scratch root $R holding etc/machine-id, latchkeyd on a loopback port,
# agents run with LATCHKEY_ROOT=$R and their machine id sent (auto).
#
# The cases: a machine that registers again (the same machine-id file)
# leaves one instance, and the old agent is told at its next poll that it
# was replaced and exits 79; DeregisterManagedInstance (latchkeyd instance
# remove) makes the running agent's next poll fail with a clear log line
# and exit 79, its running task and a pending task of another instance
# fail with InstanceReleased; activation refusals (wrong code, unknown id,
# disabled, address outside --ip-range) are named in latchkeyd's log and
# said in words by latchkey-agent register (exit 77); the admin's
# activation and instance subcommands.
. "$(dirname "$0")/lib.sh"

lk_setup
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
lk_need_built "$LKD" "$AGENT"

finish() { lk_keep_logs; echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }

R=$T/root
mkdir -p "$R/etc"
MID=0123456789abcdef0123456789abcdef
printf '%s\n' "$MID" >"$R/etc/machine-id"
unset LATCHKEY_SSHD LATCHKEY_SSHD_PIDFILE
export LK_AGENT_MACHINE_ID=auto

# managed [PARAM...]: DescribeManagedInstances' instance ids, one a line.
managed() {
	lk_api DescribeManagedInstances "$@" | grep -o '"InstanceId": *"[^"]*"' |
	    sed -E 's/.*"([^"]*)"$/\1/'
}
# exits_with PIDFILE STATUS SECONDS: the process of PIDFILE ends within
# SECONDS with STATUS (read from its wait file, written by runbg).
exits_with() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ -s "$1.rc" ] && break
		sleep 0.1
	done
	[ "$(cat "$1.rc" 2>/dev/null)" = "$2" ] ||
	    { echo "exit status $(cat "$1.rc" 2>/dev/null || echo none), wanted $2" >&2; return 1; }
}
# runbg NAME: the agent NAME in the foreground of a job that writes its
# exit status to $T/NAME.pid.rc.
runbg() {
	local name=$1
	rm -f "$T/$name.pid.rc"
	lk_pidfile "$T/$name.pid"
	( LATCHKEY_ROOT=$R "$AGENT" run --state "$T/$name/agent.json" \
	    --log "$T/$name.log" --foreground >>"$T/$name.out" 2>&1 </dev/null
	  echo $? >"$T/$name.pid.rc" ) &
	sleep 0.2
	pgrep -f -n -- "--state $T/$name/agent.json" >"$T/$name.pid" || true
	lk_wait_log "$T/$name.log" ' conn connected' 1 ||
	    { echo "agent $name did not connect" >&2; return 1; }
}

lk_new_db fleet || { tap_fail "a database"; finish; }
check "latchkeyd accesskey create" lk_accesskey AK --description fleet
check "latchkeyd activation create --ip-range 127.0.0.0/8" \
    lk_activation ACT --count 5 --ip-range 127.0.0.0/8
check "latchkeyd listens" lk_lkd_start latchkeyd

# ---------------------------------------------------------------------
# The same machine registers twice: one instance, the old agent told.
IID1= IID2=
LATCHKEY_ROOT=$R lk_agent_register m1 && IID1=$AGENT_IID
check "the first registration ($IID1)" test -n "$IID1"
check "the first agent runs" runbg m1
LATCHKEY_ROOT=$R lk_agent_register m2 && IID2=$AGENT_IID
check "the machine registers again ($IID2)" test -n "$IID2" -a "$IID2" != "$IID1"
is "one instance has the machine id" "$(managed MachineId=$MID)" "$IID2"
check "the old agent exits 79 (replaced)" exits_with "$T/m1.pid" 79 40
check "its log says it was replaced" grep -q "deregistered instance=$IID1 reason=replaced" "$T/m1.log"
check "its stderr says what happened" grep -q "was replaced (this machine registered again" "$T/m1.out"
check "latchkeyd's log names the replacement" grep -q "msg=\"agent replaced\" instance=$IID1" "$LKD_LOG"

# ---------------------------------------------------------------------
# DeregisterManagedInstance: the running agent stops, tasks fail.
check "the second agent runs" runbg m2
INV=$(lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID2" \
    CommandContent="$(printf 'sleep 60' | base64)" ContentEncoding=Base64 |
    json_str InvokeId)
check "a long task starts ($INV)" lk_wait_log "$T/m2.log" "task start" 1
LATCHKEY_ROOT=/nonexistent LK_AGENT_MACHINE_ID=none lk_agent_register m3
IID3=$AGENT_IID
INV3=$(lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID3" \
    CommandContent="$(printf 'true' | base64)" ContentEncoding=Base64 |
    json_str InvokeId)
check "DeregisterManagedInstance (the running one)" out_has "\"InstanceId\":\"$IID2\"" \
    lk_api DeregisterManagedInstance "InstanceId=$IID2"
check "the agent exits 79 at its next poll" exits_with "$T/m2.pid" 79 30
check "its log line says deregistered" grep -q "deregistered instance=$IID2 reason=deregistered" "$T/m2.log"
check "its stderr says how to manage the server again" \
    grep -q "was deregistered by the server: this agent stops (exit 79); to manage" "$T/m2.out"
result() {
	lk_api DescribeInvocationResults "InvokeId=$1" | grep -o '"ErrorCode": *"[^"]*"' | head -n 1
}
is "the running task failed InstanceReleased" "$(result "$INV")" '"ErrorCode":"InstanceReleased"'
check "latchkeyd instance remove $IID3 (a pending task)" \
    lk_lkd_admin instance remove "$IID3"
is "the pending task failed InstanceReleased" "$(result "$INV3")" '"ErrorCode":"InstanceReleased"'
is "no managed instance is left" "$(managed)" ""
check "a command for it now: InvalidInstance.NotFound" out_has 'InvalidInstance.NotFound' \
    lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID2" CommandContent=dHJ1ZQ== ContentEncoding=Base64

# ---------------------------------------------------------------------
# latchkey activations and latchkey instances --rename/--remove.
lk() {
	LATCHKEY_CONFIG=$T/none.json LATCHKEY_ENDPOINT=$LKD_URL \
	    ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
	    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET \
	    ALIBABA_CLOUD_REGION_ID=cn-hangzhou "$T/bin/latchkey" "$@"
}
check "latchkey activations --create" out_has 'ActivationCode: ' \
    lk activations --create --count 2 --instance-name cli --ip-range 127.0.0.1
CLI_ACT=$(grep -o 'act-[0-9a-f]*' "$T/out.txt" | head -n 1)
CLI_CODE=$(sed -n 's/^ActivationCode: //p' "$T/out.txt")
check "latchkey activations lists it" out_has "$CLI_ACT +active +2 +2 +0 " lk activations
LK_ACT_ID=$CLI_ACT LK_ACT_CODE=$CLI_CODE \
    LATCHKEY_ROOT=/nonexistent LK_AGENT_MACHINE_ID=none lk_agent_register c1
IID4=$AGENT_IID
is "the CLI's activation names it cli-1" "$(lk_api DescribeManagedInstances "InstanceId.1=$IID4" | json_str InstanceName)" "cli-1"
check "latchkey instances --rename" out_has "renamed $IID4 to cli-web" lk instances --rename cli-1 cli-web
check "latchkey instances --remove (by name)" out_has "removed $IID4" lk instances --remove cli-web
check "latchkey activations --disable" out_has "disabled $CLI_ACT" lk activations --disable "$CLI_ACT"
check "latchkey activations --delete (no instance uses it now)" \
    out_has "deleted $CLI_ACT" lk activations --delete "$CLI_ACT"
check "latchkey activations --delete again: exit 4, not found" \
    err_is 4 'InvalidActivationId.NotFound' lk activations --delete "$CLI_ACT"

# ---------------------------------------------------------------------
# Refusals: the reason in latchkeyd's log, words in the agent's output.
refused() {	# NAME ERE: register exits 77 and says ERE
	LATCHKEY_ROOT=$R lk_agent_register "$1" >/dev/null 2>&1
	local rc=$?
	[ "$rc" = 77 ] && grep -Eq -- "$2" "$T/$1.register" ||
	    { echo "exit $rc: $(cat "$T/$1.register")" >&2; return 1; }
}
GOOD_CODE=$LK_ACT_CODE
LK_ACT_CODE=wrong-code-0123456789 check "a wrong code: refused in words" \
    refused r1 'no activation has this id and code'
check "latchkeyd's log: reason=wrong-code" grep -q "msg=\"agent register refused\" activation=$ACT_ID .*reason=wrong-code" "$LKD_LOG"
LK_ACT_ID=act-nosuch check "an unknown id: the same words" \
    refused r2 'no activation has this id and code'
check "latchkeyd's log: reason=unknown-activation" grep -q "msg=\"agent register refused\" activation=act-nosuch .*reason=unknown-activation" "$LKD_LOG"
check "latchkeyd activation create --ip-range 10.0.0.0/8" lk_activation FAR --ip-range 10.0.0.0/8
check "outside IpAddressRange: refused in words" \
    refused r3 "outside the activation's IpAddressRange.*127\.0\.0\.1"
check "latchkeyd's log: reason=address-not-allowed" grep -q "msg=\"agent register refused\" activation=$FAR_ID .*reason=address-not-allowed" "$LKD_LOG"
check "latchkeyd activation disable" lk_lkd_admin activation disable "$ACT_ID"
LK_ACT_ID=$ACT_ID LK_ACT_CODE=$GOOD_CODE check "disabled: refused in words" \
    refused r4 'the activation was disabled'
check "latchkeyd's log: reason=disabled" grep -q "msg=\"agent register refused\" activation=$ACT_ID .*reason=disabled" "$LKD_LOG"

# ---------------------------------------------------------------------
# The admin's subcommands.
check "activation list shows both" out_has "$FAR_ID" lk_lkd_admin activation list
check "activation list --json: disabled" out_has '"Disabled": true' lk_lkd_admin activation list --json
check "activation delete of an unused one" lk_lkd_admin activation delete "$FAR_ID"
check "activation delete again: not found" err_is 1 'InvalidActivationId.NotFound' lk_lkd_admin activation delete "$FAR_ID"
check "instance rename of an unknown id: not found" err_is 1 'InvalidInstance.NotFound' \
    lk_lkd_admin instance rename i-nosuch web-1
check "instance list (empty) prints its header" out_has 'InstanceId' lk_lkd_admin instance list

check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
no_sanitizer_report() {
	! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" >&2
}
check "no sanitizer report in latchkeyd's or the agents' output" \
    no_sanitizer_report "$LKD_LOG" "$T"/*.out "$T"/*.register
finish
