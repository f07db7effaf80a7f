#!/usr/bin/env bash
# latchkeyd against the official Alibaba Cloud SDKs for Node.js:
# @alicloud/pop-core (signature 1.0) and @alicloud/ecs20140526 (V3).
#
# This script builds the world the SDK tests in tests/sdk/ run in: a
# scratch root $R with a Debian-like sshd_config, its own sshd on a loopback
# port and the config_ecs_instance_connect plug-in installed by the seed
# command; latchkeyd on a loopback port with a fresh database (lk_new_db:
# SQLite, or PostgreSQL with LK_TEST_DB=postgresql); three agents
# registered with one activation (instances A, B and C) and running with
# LATCHKEY_ROOT=$R, so that send_ssh_public_key writes to the store that
# sshd reads. Then it runs the node tests with a reporter that prints
# one TAP line per test (tests/sdk/tap-reporter.js), numbered after this
# script's own lines. See tests/sdk/README.md and docs/testing.md.
#
# With LK_TEST_REPLICAS=N (N > 1; PostgreSQL only) the same suite runs
# through Debian's HAProxy in front of N latchkeyd replicas on one database:
# every call may land on any replica, the agents poll through the balancer,
# and the tests that kill and restart "latchkeyd" do so to replica r1.
. "$(dirname "$0")/lib.sh"

lk_setup
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SDK=$SRC/tests/sdk
PLUGIN=config_ecs_instance_connect
NODE_LIMIT=${LK_SDK_TIMEOUT:-420}

# ---------------------------------------------------------------------
# Node and the SDKs: npm ci only when node_modules is missing, or older
# than package-lock.json (npm keeps its own copy in node_modules).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	tap_fail "node and npm are installed"
	echo "1..$LK_N"; exit 1
fi
# node --test's --test-concurrency and --test-timeout need Node.js 20.11.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a === 20 && b >= 11) ? 0 : 1)'; then
	tap_fail "Node.js 20.11 or later (found $(node --version))"
	echo "1..$LK_N"; exit 1
fi
if ! "$LK_SRC/tests/tools/npm-pinned" "$SDK" >"$T/npm.log" 2>&1; then
	tap_fail "npm ci in tests/sdk ($(tail -n 3 "$T/npm.log" | tr '\n' ' '))"
	echo "1..$LK_N"; exit 1
fi

# ---------------------------------------------------------------------
# The scratch root, its sshd, and the plug-in installed by the seed command
# (the same layout as test_plugin.sh's drop-in root).
lk_plugin_pkg
unset LATCHKEY_SSHD

R=$T/root
SSHD_PIDFILE=$T/sshd/root.pid
export LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$SSHD_PIDFILE
sshd_up=0
lk_mkroot "$R" root && sshd_up=1
SSHD_PORT=${root_PORT:-0}
[ "$sshd_up" = 1 ] && tap_ok "sshd runs in the scratch root" ||
    tap_fail "sshd runs in the scratch root"
check "the seed command installs the plug-in" \
    "$T/bin/acs-plugin-manager" -e -P config_ecs_instance_connect --params --install
# acs-plugin-manager where the agent's package would put it, on the tasks'
# PATH ($R/usr/local/bin), for the official plug-in's RunCommand step.
install -D -m 0755 -o root -g root "$T/bin/acs-plugin-manager" \
    "$R/usr/local/bin/acs-plugin-manager"
# The install reloads sshd (SIGHUP); wait until it listens again.
sleep 0.5
for i in $(seq 1 100); do
	ss -Htln "sport = :$SSHD_PORT" | grep -q . && break
	sleep 0.05
done

# ---------------------------------------------------------------------
# latchkeyd on a loopback port, a fresh database, an admin access key.
LKD=$T/bin/latchkeyd
mkdir -p "$T/work"
lk_new_db latchkey || { echo "not ok - a database"; exit 1; }

json_field() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8"));
    const v=o[process.argv[1]]; if (v === undefined) process.exit(1);
    process.stdout.write(String(v))' "$1"; }

if [ ! -x "$LKD" ]; then
	tap_fail "latchkeyd is built ($LK_BUILD/bin/latchkeyd)"
	echo "1..$LK_N"; exit 1
fi
check "latchkeyd accesskey create --json" lk_accesskey AK --description sdk-admin

# Jobs are disowned: the tests kill -9 some of them, and bash would report
# it. The cleanup still stops each one by the PID in its file.
# --host-ca: 11-hostkeys.test.js reads the host CA (the agents, without
# --host-certificates, leave the certificates of their hellos unused).
# --session-token-ttl 3: 07-sessions.test.js waits for a WebSocketUrl to
# expire (and restarts latchkeyd with it if 06's restart dropped it).
REPLICAS=${LK_TEST_REPLICAS:-1}
if [ "$REPLICAS" -gt 1 ]; then
	# Behind a balancer every connection comes from its address.
	if lk_replicas_start "$REPLICAS" --session-token-ttl 3 --host-ca \
	    --max-conns-per-ip 0 2>"$T/last.err" &&
	    lk_haproxy_start ha 2>>"$T/last.err"; then
		tap_ok "$REPLICAS replicas behind HAProxy on 127.0.0.1:$HA_PORT"
	else
		tap_fail "replicas behind HAProxy ($(tr '\n' ' ' <"$T/last.err"))"
	fi
	for r in "${LK_REPLICAS[@]}"; do
		lk_lkd_use "$r" && disown "$LKD_PID" 2>/dev/null
	done
	lk_lkd_use r1		# the one 06 and 07 kill and restart
	ENDPOINT=$HA_URL
	LKD_URL=$HA_URL		# agents register and poll through HAProxy
else
	if lk_lkd_start latchkeyd --session-token-ttl 3 --host-ca \
	    2>"$T/last.err"; then
		tap_ok "latchkeyd listens on 127.0.0.1:$LKD_PORT"
	else
		tap_fail "latchkeyd listens ($(tr '\n' ' ' <"$T/last.err"))"
	fi
	disown "$LKD_PID" 2>/dev/null
	ENDPOINT=$LKD_URL
fi

# ---------------------------------------------------------------------
# Three agents, one activation: instances A, B (policy tests) and C (the
# agent that is killed mid-command). Each runs in the foreground of its own
# background job with LATCHKEY_ROOT=$R.
AGENT=$T/bin/latchkey-agent
declare -A INST=()
if [ -x "$AGENT" ]; then
	check "latchkeyd activation create --count 3 --json" \
	    lk_activation ACT --count 3
	for a in a b c; do
		if lk_agent_register "agent-$a" 2>/dev/null &&
		    [ -n "$AGENT_IID" ]; then
			INST[$a]=$AGENT_IID
			tap_ok "agent $a registers (${INST[$a]})"
		else
			tap_fail "agent $a registers ($(tail -n 3 "$T/agent-$a.register" | tr '\n' ' '))"
			continue
		fi
		LATCHKEY_ROOT=$R lk_agent_run "agent-$a" 2>>"$T/agent-$a.err"
		disown "$AGENT_PID" 2>/dev/null
	done
else
	tap_fail "latchkey-agent is built ($LK_BUILD/bin/latchkey-agent)"
fi

# ---------------------------------------------------------------------
# The node tests. Their environment is documented in tests/sdk/README.md.
LK_PORT=${HA_PORT:-$LKD_PORT}
LK_RESTART_EXTRA="--host-ca"
[ "$REPLICAS" -gt 1 ] &&
    LK_RESTART_EXTRA="--host-ca --replica-id r1 --max-conns-per-ip 0"
# Every latchkeyd's log, colon-separated: behind HAProxy a call may be
# answered by any replica, so what one logged is looked for in all.
LK_LKD_LOGS=$LKD_LOG
if [ "$REPLICAS" -gt 1 ]; then
	LK_LKD_LOGS=
	for r in "${LK_REPLICAS[@]}"; do
		LK_LKD_LOGS+=${LK_LKD_LOGS:+:}$T/$r.log
	done
fi
export LK_ENDPOINT=$ENDPOINT LK_PORT LK_RESTART_PORT=$LKD_PORT LK_RESTART_EXTRA \
    LK_REGION=cn-hangzhou \
    LK_AK_ID=$AK_ID LK_AK_SECRET=$AK_SECRET LK_T=$T LK_WORK=$T/work \
    LK_LATCHKEYD=$LKD LK_DB=$DB LK_LKD_PIDFILE=$LKD_PIDFILE \
    LK_LKD_LOG=$LKD_LOG LK_LKD_LOGS LK_SSHD_PORT=$SSHD_PORT LK_ROOT=$R \
    LK_AGENT_B_LOG=$T/agent-b.log LK_AGENT_C_PIDFILE=$T/agent-c.pid \
    LK_INSTANCE_A=${INST[a]:-} LK_INSTANCE_B=${INST[b]:-} \
    LK_INSTANCE_C=${INST[c]:-} LK_TAP_START=$LK_N \
    LK_TAP_COUNTS=$T/tap-counts

# One file at a time, in this order (99 ends what 00 started). The
# --test-timeout bounds each file as a whole as well as each test in it.
(cd "$SDK" && timeout --kill-after=5 "$NODE_LIMIT" node --test \
    --test-concurrency=1 --test-timeout=180000 \
    --test-reporter=./tap-reporter.js \
    --test-reporter-destination=stdout \
    00-online.test.js 01-seed-popcore.test.js 02-seed-v3.test.js \
    03-errors.test.js 04-hostile-params.test.js 05-policy.test.js \
    06-persistence.test.js 07-sessions.test.js 08-fleet.test.js \
    09-sendfile.test.js 10-tags.test.js 11-hostkeys.test.js \
    99-agent-killed.test.js) \
    </dev/null
rc=$?
if [ -s "$T/tap-counts" ]; then
	read -r LK_N nfail <"$T/tap-counts"
	LK_FAILED=$((LK_FAILED + nfail))
else
	tap_fail "node --test ended without a report (exit $rc; 124: timed out after ${NODE_LIMIT}s)"
fi

# Stop latchkeyd and the agents now (SIGTERM, as the cleanup would), so
# that a sanitizer build's report at exit lands in their logs in time.
check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
for a in a b; do
	[ -f "$T/agent-$a.pid" ] &&
	    check "agent $a stops on SIGTERM" lk_agent_stop "agent-$a"
done
no_sanitizer_report() {
	! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" >&2
}
check "no sanitizer report in latchkeyd's or the agents' output" \
    no_sanitizer_report "$LKD_LOG" "$T"/agent-*.out

lk_keep_logs
echo "1..$LK_N"
