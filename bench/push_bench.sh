#!/bin/bash
# push_bench.sh BUILD_DIR: latchkeyd under load from many agents.
#
#   1. push latency with 10,000 simulated agents connected (agent_load) and
#      one real latchkey-agent whose instance has the config_ecs_instance_
#      connect plug-in (installed by acs-plugin-manager into a scratch root
#      with its own sshd): a signed InvokeCommand of
#      ACS-ECS-SendSshPublicKey-linux.sh for lk-alice with a fresh ed25519
#      key, timed from the moment the API call has returned until the
#      key's record is in the store that sshd's helper reads (the push
#      latency), and until a real ssh login with the key has succeeded;
#   2. one command (RunCommand `true`) to the 10,000 simulated instances:
#      100 calls of 100 instances each (InstanceId.N takes at most 100),
#      back to back, timed until all 10,000 results have been accepted;
#   3. latchkeyd's resident memory, threads and descriptors with idle
#      connected agents: a series of counts, then 10,000 and 20,000, each
#      on a fresh server; the slope is the cost of one idle agent.
#
# Aims (issue 10): push p50 <= 10 ms and p99 <= 50 ms with 10,000 agents
# connected; all 10,000 reported within 3 s; VmRSS <= 150 MB with 10,000
# idle agents (<= 15 KB per agent). A missed aim is printed ("aim
# missed"); it is not an error.
#
# Descriptors: each agent costs one on each side. latchkeyd raises its
# soft limit to the hard one and admits 95% of (limit - 256 - limit/32)
# connections; the script raises the hard limit of itself and so of what
# it starts where it may (root with CAP_SYS_RESOURCE), else a count that
# cannot fit is measured at the largest that does, and the reason printed.
# The simulated agents connect from 127.1.0.1, 127.1.0.2, ... (500 per
# address, agent_load --sources), so latchkeyd keeps its default
# per-address limit (1,024) as a server facing a fleet would.
#
# Exit status: 0 when every step ran (aims met or not), 1 when the
# benchmark could not run or a check failed (a push whose key never
# reached the store, a login that failed, results missing). Needs root;
# writes only under /run/latchkey-bench.XXXXXX (removed at the end); talks
# only to 127.0.0.1; stops only the processes it started, by their pids.
set -u
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

BUILD=${1:?usage: push_bench.sh BUILD_DIR}
# The tests' harness starts latchkeyd and the agent (docs/testing.md).
LK_BUILD=$BUILD
. "$(dirname "$0")/../tests/integration/lib.sh"
LK_API_SECONDS=20
PUSHES=${LK_BENCH_PUSHES:-50}
BASELINE=${LK_BENCH_BASELINE:-20}	# pushes before the simulated agents
AGENTS=${LK_BENCH_AGENTS:-10000}
IDLE_COUNTS=${LK_BENCH_IDLE_AGENTS:-"10000 20000"}
SERIES=${LK_BENCH_SERIES:-"1000 2500 5000"}
PER_SOURCE=500				# agents per loopback source address
CYCLE_S=27				# one poll cycle (wait=25) and a margin
DB_PARENT=${LK_BENCH_DB_PARENT:-}	# databases elsewhere, e.g. /dev/shm
LKD_OPTS=${LK_BENCH_LKD_OPTS:-}		# e.g. "--conn-memory 12"
FANOUT_BATCH=100			# InstanceId.N of one call, at most
USER_A=lk-alice
HELPER_USER=latchkey-authkeys
PLUGIN=config_ecs_instance_connect
SEND_KEY=ACS-ECS-SendSshPublicKey-linux.sh
AIM_P50_MS=10
AIM_P99_MS=50
AIM_FANOUT_MS=3000
AIM_RSS_MB=150				# at 10,000 idle agents
AIM_PER_AGENT_KB=15
SSHD=/usr/sbin/sshd
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
T=
DBT=			# the databases' directory: $T, or one in $DB_PARENT
PIDS=()			# pid files of everything we started

die() {
	echo "push_bench: $*" >&2
	exit 1
}

# stop_pid FILE: SIGTERM to the pid in FILE, waits up to 15 s, then
# SIGKILL (only that pid).
stop_pid() {
	local pid i
	[ -s "$1" ] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local pf
	for pf in "${PIDS[@]}" "${LK_PIDFILES[@]}"; do
		stop_pid "$pf"
	done
	[ -n "$DBT" ] && [ "$DBT" != "$T" ] && rm -rf "$DBT"
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ensure_user() {
	getent passwd "$1" >/dev/null || useradd -m -s /bin/sh "$1" ||
	    return 1
	# sshd without PAM refuses locked accounts; '*' is "no password".
	usermod -p '*' "$1"
}

ensure_helper_user() {
	getent passwd "$HELPER_USER" >/dev/null && return 0
	if getent group "$HELPER_USER" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin -g "$HELPER_USER" "$HELPER_USER"
	else
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin "$HELPER_USER"
	fi
}

# nap: about 1 ms without a process (read times out on an idle fifo).
nap() { read -r -t "${1:-0.001}" -u "$NAPFD" _ 2>/dev/null; true; }

# json_str KEY: a string member of the JSON on stdin (flat enough here).
json_str() {
	grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 |
	    sed -E 's/.*: *"([^"]*)"/\1/'
}

# pct FILE P: nearest-rank percentile P (0..100) of the numbers in FILE.
pct() {
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 }
	    END { k = int(p / 100 * NR); if (k < p / 100 * NR) k++;
		if (k < 1) k = 1; printf "%.1f\n", v[k] }'
}
mean() { awk '{ s += $1 } END { printf "%.1f\n", NR ? s / NR : 0 }' "$1"; }

# aim VALUE LIMIT: "aim met" when VALUE <= LIMIT.
aim() {
	awk -v v="$1" -v l="$2" 'BEGIN { if (v + 0 <= l + 0) print "aim met";
	    else print "aim missed" }'
}

# ---------------------------------------------------------------------
# Signature 1.0 (HMAC-SHA1): lk_signed_url and lk_api of the tests' harness
# (AK_ID, AK_SECRET; the current latchkeyd's LKD_URL, also ENDPOINT).

# http_get URL: the GET through bash's /dev/tcp, so that no process start
# or exit lies between the answer and the clock: sets RESP_BODY, and
# RESP_US to the time the whole answer had been read.
http_get() {
	local path=${1#"$ENDPOINT"} fd line len=0
	exec {fd}<>"/dev/tcp/127.0.0.1/$LKD_PORT" || return 1
	printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' \
	    "$path" "$LKD_PORT" >&"$fd"
	while IFS= read -r -t 10 -u "$fd" line; do
		line=${line%$'\r'}
		[ -z "$line" ] && break
		case ${line,,} in
		content-length:*) len=${line#*:}; len=${len//[!0-9]/} ;;
		esac
	done
	RESP_BODY=
	[ "${len:-0}" -gt 0 ] && IFS= read -r -t 10 -N "$len" -u "$fd" RESP_BODY
	RESP_US=${EPOCHREALTIME/./}
	exec {fd}<&-
	[ -n "$RESP_BODY" ]
}

# ---------------------------------------------------------------------
# lkd_db NAME: the --db of latchkeyd NAME, a fresh SQLite file. A script
# that sources this one may redefine it (store_bench.sh: PostgreSQL).
lkd_db() { echo "$DBT/lkd-$1/db"; }

# bench_setup: the descriptor limits, the accounts, and the scratch root
# $T (/run/latchkey-bench.XXXXXX) with a root-owned copy of BUILD's
# programs and the nap fifo; DBT=$T. For this script and those that
# source it (store_bench.sh, replica_bench.sh).
bench_setup() {
	fd_limits
	ensure_user "$USER_A" && ensure_helper_user ||
	    die "cannot create the accounts"
	mkdir -p /run/sshd
	T=$(mktemp -d /run/latchkey-bench.XXXXXX) || die "mktemp failed"
	chmod 0755 "$T"
	install -d -m 0755 "$T/bin"
	install -m 0755 -o root -g root "$BUILD"/bin/* "$T/bin/" ||
	    die "cannot copy the binaries"
	mkfifo "$T/nap.fifo" && exec {NAPFD}<>"$T/nap.fifo" ||
	    die "cannot make the nap fifo"
	DBT=$T
}

# latchkeyd (lk_lkd_start lkd-NAME, log $T/lkd-NAME.log) with a fresh
# database (lkd_db NAME); sets LKD_DB, LKD_PID, LKD_PORT, LKD_PIDFILE, LKD_LOG,
# ENDPOINT, AK_ID, AK_SECRET, ACT_ID, ACT_CODE (an activation for COUNT
# registrations).
start_lkd() {
	local name=$1 count=$2
	mkdir -p "$DBT/lkd-$name"
	DB=$(lkd_db "$name") || return 1
	LKD_DB=$DB
	lk_accesskey AK --description push-bench 2>>"$T/lkd-$name.log" &&
	    lk_activation ACT --count "$count" --ttl 7200 \
	    2>>"$T/lkd-$name.log" || return 1
	# shellcheck disable=SC2086	# LKD_OPTS: options, split on purpose
	lk_lkd_start "lkd-$name" $LKD_OPTS || return 1
	ENDPOINT=$LKD_URL
}

# start_load NAME N READY_TIMEOUT: agent_load with N agents; waits for its
# ready (or not-ready) line; sets LOAD_LINE.
start_load() {
	local name=$1 n=$2 rt=$3 i
	LOAD_OUT=$T/load-$name.out
	LOAD_ERR=$T/load-$name.err
	LOAD_IDS=$T/load-$name.ids
	LOAD_EVENTS=$T/load-$name.events
	"$BUILD/bench/agent_load" --server "127.0.0.1:$LKD_PORT" \
	    --activation-id "$ACT_ID" --activation-code "$ACT_CODE" \
	    --agents "$n" --ids "$LOAD_IDS" --events "$LOAD_EVENTS" \
	    --sources $(((n + PER_SOURCE - 1) / PER_SOURCE)) \
	    --duration 900 --ready-timeout "$rt" \
	    >"$LOAD_OUT" 2>"$LOAD_ERR" &
	echo $! >"$T/load.pid"
	PIDS+=("$T/load.pid")
	for i in $(seq 1 $(((rt + 15) * 10))); do
		LOAD_LINE=$(grep -E '^agent_load: (ready|not-ready) ' \
		    "$LOAD_OUT" 2>/dev/null)
		[ -n "$LOAD_LINE" ] && [ -s "$LOAD_IDS" ] && return 0
		kill -0 "$(cat "$T/load.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "push_bench: agent_load did not get ready:" >&2
	tail -n 5 "$LOAD_OUT" "$LOAD_ERR" >&2
	return 1
}

# mem PID: "rss_kb hwm_kb threads fds" of a process.
mem() {
	local rss hwm thr fds
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status")
	thr=$(awk '/^Threads:/ { print $2 }' "/proc/$1/status")
	fds=$(ls "/proc/$1/fd" | wc -l)
	echo "$rss $hwm $thr $fds"
}

# cpu_ctx PID: "cpu_ms context_switches" of a process so far: user+system
# time of all its threads, and the switches of the threads alive now.
cpu_ctx() {
	local ticks cs
	ticks=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
	cs=$(cat /proc/"$1"/task/*/status 2>/dev/null |
	    awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s }')
	echo "$((ticks * 1000 / $(getconf CLK_TCK))) $cs"
}

field() { sed -nE "s/.* $1=([0-9-]+).*/\\1/p" <<<"$2"; }

# ready_timeout N: seconds agent_load may take to get N agents polling:
# registering and saying hello are database commits, slow on a busy disk
# (10,000 took 60-100 s with a load average of 15 on 2 cores).
ready_timeout() { echo $((60 + $1 / 100)); }

# fd_need N: the descriptor limit with which latchkeyd admits N agents
# and 64 more connections (the real agent, API calls): it admits 95% of
# (limit - 256 - limit/32), server/conn.c.
fd_need() { echo $(((((($1 + 64) * 20 + 18) / 19 + 256) * 32 + 30) / 31 + 1)); }

# fd_max_agents LIMIT: the most agents both latchkeyd and agent_load
# (agents + 64 descriptors) can hold under LIMIT, in steps of 500.
fd_max_agents() {
	local l=$1 cap soft n
	cap=$((l - 256 - l / 32))
	soft=$((cap - (cap / 20 > 16 ? cap / 20 : 16) - 64))
	n=$((l - 64 < soft ? l - 64 : soft))
	[ "$n" -gt 20000 ] && n=20000	# agent_load's maximum
	echo $((n / 500 * 500))
}

# ---------------------------------------------------------------------
# The scratch root with its sshd and the plug-in, as test_sdk.sh makes it.
setup_root() {
	local i
	PKG=$T/plugins/$PLUGIN
	mkdir -p "$PKG"
	install -m 0755 -o root -g root "$T/bin/$PLUGIN" \
	    "$T/bin/send_ssh_public_key" "$T/bin/latchkey-authorized-keys" \
	    "$PKG/" || return 1
	install -m 0644 -o root -g root "$SRC/plugins/$PLUGIN/VERSION" \
	    "$PKG/" || return 1
	export LATCHKEY_PLUGIN_DIR=$T/plugins
	unset LATCHKEY_SSHD
	R=$T/root
	mkdir -p "$T/sshd" "$R/etc/ssh/sshd_config.d" "$R/run"
	SSHD_PIDFILE=$T/sshd/sshd.pid
	SSHD_PORT=$(free_port) || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key" ||
	    return 1
	# ssh checks it strictly (HostKeyAlias bench-sshd), no trust on first use.
	printf 'bench-sshd %s\n' "$(cut -d' ' -f1,2 \
	    "$R/etc/ssh/ssh_host_ed25519_key.pub")" >"$T/known_hosts"
	cat >"$R/etc/ssh/sshd_config" <<-CONF
	Include $R/etc/ssh/sshd_config.d/*.conf

	Port $SSHD_PORT
	ListenAddress 127.0.0.1
	HostKey $R/etc/ssh/ssh_host_ed25519_key
	PidFile $SSHD_PIDFILE
	PermitRootLogin prohibit-password
	PubkeyAuthentication yes
	AuthorizedKeysFile none
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	PrintMotd no
	LogLevel VERBOSE
	CONF
	chmod 0644 "$R/etc/ssh/sshd_config"
	export LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$SSHD_PIDFILE
	PIDS+=("$SSHD_PIDFILE")
	"$SSHD" -f "$R/etc/ssh/sshd_config" -E "$T/sshd/sshd.log" || return 1
	listening "$SSHD_PORT" 5 || return 1
	"$T/bin/acs-plugin-manager" -e -P "$PLUGIN" --params --install \
	    >"$T/apm.out" 2>&1 || { cat "$T/apm.out" >&2; return 1; }
	STORE=$R/run/latchkey/keys
	# The install reloads sshd (SIGHUP); wait until it listens again.
	sleep 0.5
	listening "$SSHD_PORT" 5
}

# The real agent, registered with its own activation, running with
# LATCHKEY_ROOT=$R so that send_ssh_public_key writes the store sshd reads.
# (lk_agent_start agent: log $T/agent.log, PID $T/agent.pid)
start_agent() {
	lk_activation AGENT_ACT --count 1 2>>"$LKD_LOG" &&
	    lk_agent_register agent || return 1
	IID=$AGENT_IID
	LATCHKEY_ROOT=$R lk_agent_run agent
}

ssh_login() {	# ssh_login KEY: one login as $USER_A running true
	ssh -F /dev/null -p "$SSHD_PORT" -i "$1" \
	    -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes \
	    -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
	    -o UserKnownHostsFile="$T/known_hosts" -o HostKeyAlias=bench-sshd \
	    -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 \
	    -o LogLevel=ERROR "$USER_A@127.0.0.1" true </dev/null \
	    2>>"$T/ssh.err"
}

# push N TIMED: one push of a fresh key; with TIMED, appends
# "<invoke_id> <returned_us> <record_us> <login_us>" to $T/push.times.
push() {
	local k=$T/keys/k$1 hash rec url inv t0 t1 t2 dl ok
	ssh-keygen -q -t ed25519 -N '' -C "push$1@bench" -f "$k" || return 1
	hash=$(awk '{ print $2 }' "$k.pub" | base64 -d | sha256sum |
	    cut -d' ' -f1)
	rec=$STORE/$USER_A/$hash
	[ ! -e "$rec" ] || return 1
	url=$(lk_signed_url InvokeCommand "CommandId=$SEND_KEY" \
	    "InstanceId.1=$IID" \
	    "Parameters={\"username\":\"$USER_A\",\"sshPublicKey\":\"$(cat "$k.pub")\"}")
	http_get "$url" || { echo "push_bench: InvokeCommand: no answer" >&2;
	    return 1; }
	t0=$RESP_US
	inv=$(json_str InvokeId <<<"$RESP_BODY")
	[ -n "$inv" ] || { echo "push_bench: InvokeCommand:" \
	    "$(head -c 300 <<<"$RESP_BODY")" >&2; return 1; }
	# The key's record: a tight loop with ~1 ms naps, at most 10 s.
	dl=$((t0 + 10000000))
	while [ ! -e "$rec" ]; do
		[ "${EPOCHREALTIME/./}" -lt "$dl" ] || { echo "push_bench:" \
		    "push $1: no record after 10 s ($inv)" >&2; return 1; }
		nap
	done
	t1=${EPOCHREALTIME/./}
	# Then the first successful login with the key (at most 10 tries).
	ok=0
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		ssh_login "$k" && { ok=1; break; }
	done
	t2=${EPOCHREALTIME/./}
	[ "$ok" = 1 ] || { echo "push_bench: push $1: no login:" \
	    "$(tail -n 3 "$T/ssh.err")" >&2; return 1; }
	echo "$inv" >>"$T/invokes"
	[ -n "$2" ] || return 0
	echo "$inv $t0 $t1 $t2" >>"$T/push.times"
}

# Every push's invocation must have ended Success on the server.
check_pushes() {
	local inv bad=0
	while read -r inv; do
		lk_api DescribeInvocationResults "InvokeId=$inv" \
		    "InstanceId=$IID" >"$T/res.json"
		[ "$(json_str InvocationStatus <"$T/res.json")" = Success ] ||
		    { bad=$((bad + 1)); head -c 300 "$T/res.json" >&2; }
	done <"$T/invokes"
	echo "server check: $(wc -l <"$T/invokes") push invocations," \
	    "$bad not Success"
	[ "$bad" -eq 0 ]
}

# row LABEL FILE: p50 p90 p99 mean max of FILE (ms).
row() {
	printf '%-44s %8s %8s %8s %8s %8s\n' "$1" "$(pct "$2" 50)" \
	    "$(pct "$2" 90)" "$(pct "$2" 99)" "$(mean "$2")" "$(pct "$2" 100)"
}

# phase_push NAME COUNT: COUNT timed pushes (after 2 untimed); prints
# their figures and sets PUSH_P50, PUSH_P99, LOGIN_P50, LOGIN_P99.
phase_push() {
	local name=$1 count=$2 i inv t0 t1 t2 ts us
	: >"$T/push.times"; : >"$T/invokes"; : >"$T/start.ms"
	mkdir -p "$T/keys"
	for i in 1 2; do
		push "$name-w$i" "" || return 1		# warm-up, untimed
	done
	for i in $(seq 1 "$count"); do
		push "$name-$i" timed || return 1
	done
	awk '{ print ($3 - $2) / 1000 }' "$T/push.times" >"$T/push.ms"
	awk '{ print ($4 - $2) / 1000 }' "$T/push.times" >"$T/login.ms"
	# When the agent logged the task's start (its log has milliseconds).
	while read -r inv t0 t1 t2; do
		ts=$(grep -m 1 -F " task start task=$inv:" "$AGENT_LOG" |
		    cut -d' ' -f1)
		us=$(date -u -d "$ts" +%s%6N 2>/dev/null) || continue
		echo "$us $t0" | awk '{ print ($1 - $2) / 1000 }'
	done <"$T/push.times" >"$T/start.ms"
	printf '%-44s %8s %8s %8s %8s %8s\n' "(ms after InvokeCommand returned)" \
	    p50 p90 p99 mean max
	row "agent logs the task's start (+-1 ms)" "$T/start.ms"
	row "the key's record is in the store" "$T/push.ms"
	row "first ssh login with the key done" "$T/login.ms"
	PUSH_P50=$(pct "$T/push.ms" 50)
	PUSH_P99=$(pct "$T/push.ms" 99)
	LOGIN_P50=$(pct "$T/login.ms" 50)
	LOGIN_P99=$(pct "$T/login.ms" 99)
	check_pushes
}

phase_fanout() {
	local ids=() urls=() i j args t0 t_ret invs n last recv done_n dl \
	    c0 c1 x0 x1
	echo "-- one command to $AGENTS simulated instances"
	FANOUT_MS=-
	mapfile -t ids <"$LOAD_IDS"
	[ "${#ids[@]}" -eq "$AGENTS" ] ||
	    { echo "push_bench: $LOAD_IDS has ${#ids[@]} ids" >&2; return 1; }
	# Signed before the clock starts: signing in bash takes ~20 ms a call.
	for ((i = 0; i < AGENTS; i += FANOUT_BATCH)); do
		args=()
		for ((j = 0; j < FANOUT_BATCH && i + j < AGENTS; j++)); do
			args+=("InstanceId.$((j + 1))=${ids[i + j]}")
		done
		urls+=("$(lk_signed_url RunCommand Type=RunShellScript \
		    CommandContent=true ContentEncoding=PlainText Timeout=60 \
		    "${args[@]}")")
	done
	read -r c0 x0 <<<"$(cpu_ctx "$LKD_PID")"
	t0=${EPOCHREALTIME/./}
	# One curl, the calls one after another on one connection.
	curl -s --max-time 120 -w '\n' "${urls[@]}" >"$T/fanout.json"
	t_ret=${EPOCHREALTIME/./}
	grep -o '"InvokeId": *"[^"]*"' "$T/fanout.json" |
	    sed -E 's/.*"(t-[^"]*)"/\1/' >"$T/fanout.invokes"
	invs=$(wc -l <"$T/fanout.invokes")
	[ "$invs" -eq "${#urls[@]}" ] || { echo "push_bench: RunCommand:" \
	    "$(head -c 300 "$T/fanout.json")" >&2; return 1; }
	# agent_load writes "<task> <received_us> <reported_us>" per result.
	dl=$((t0 + 120000000))
	while :; do
		done_n=$(grep -cFf "$T/fanout.invokes" "$LOAD_EVENTS")
		[ "$done_n" -ge "$AGENTS" ] && break
		[ "${EPOCHREALTIME/./}" -lt "$dl" ] || { echo "push_bench: only" \
		    "$done_n of $AGENTS results after 120 s" >&2; return 1; }
		nap 0.05
	done
	read -r c1 x1 <<<"$(cpu_ctx "$LKD_PID")"
	grep -Ff "$T/fanout.invokes" "$LOAD_EVENTS" >"$T/fanout.events"
	recv=$(awk -v t0="$t0" '{ d = ($2 - t0) / 1000; if (d > m) m = d }
	    END { printf "%.1f\n", m }' "$T/fanout.events")
	last=$(awk -v t0="$t0" '{ d = ($3 - t0) / 1000; if (d > m) m = d }
	    END { printf "%.1f\n", m }' "$T/fanout.events")
	awk -v t0="$t0" '{ print ($3 - t0) / 1000 }' "$T/fanout.events" \
	    >"$T/fanout.ms"
	FANOUT_MS=$last
	echo "${#urls[@]} RunCommand calls of $FANOUT_BATCH instances, back to back," \
	    "returned after $(((t_ret - t0) / 1000)) ms"
	echo "results accepted by latchkeyd (ms after the first call was" \
	    "sent): first $(pct "$T/fanout.ms" 0)," \
	    "p50 $(pct "$T/fanout.ms" 50), all $AGENTS: $last"
	echo "last task received by its agent: $recv ms"
	echo "latchkeyd meanwhile: $((c1 - c0)) ms of CPU, $((x1 - x0))" \
	    "thread switches ($(((x1 - x0) / AGENTS)) per task)"
	# The server's view: every instance of every invocation Finished.
	n=0
	while read -r i; do
		lk_api DescribeInvocations "InvokeId=$i" >"$T/desc.json"
		n=$((n + $(grep -o '"InstanceInvokeStatus": *"Finished"' \
		    "$T/desc.json" | wc -l)))
	done <"$T/fanout.invokes"
	echo "server check (DescribeInvocations): $n of $AGENTS instances" \
	    "Finished"
	[ "$n" -eq "$AGENTS" ]
}

# idle NAME N READY_TIMEOUT: a fresh latchkeyd and N idle agents; sets
# IDLE_MEM ("rss hwm threads fds" 2 s after the agents are connected) and
# IDLE_READY, IDLE_SETUP, IDLE_REG, IDLE_REJECTED.
idle() {
	local name=$1 n=$2 rt=$3
	start_lkd "$name" "$n" || return 1
	start_load "$name" "$n" "$rt" || return 1
	sleep 2
	IDLE_MEM=$(mem "$LKD_PID")
	IDLE_READY=$(field ready "$LOAD_LINE")
	IDLE_SETUP=$(field setup_ms "$LOAD_LINE")
	IDLE_SETUP=${IDLE_SETUP:--}
	IDLE_REG=$(field register_ms "$LOAD_LINE")
	# Connections latchkeyd refused (503 Throttling) or cut at accept.
	IDLE_REJECTED=$(grep -c 'HTTP 503' "$LOAD_ERR" || true)
}

stop_run() {
	stop_pid "$T/load.pid"
	stop_pid "$T/agent.pid"
	stop_pid "$LKD_PIDFILE"
}

idle_row() {	# idle_row LABEL "rss hwm thr fds" READY REG SETUP REJECTED
	local rss hwm thr fds per=-
	read -r rss hwm thr fds <<<"$2"
	[ "$3" -gt 0 ] && [ -n "$B_RSS" ] &&
	    per=$(awk -v r="$rss" -v b="$B_RSS" -v n="$3" \
	    'BEGIN { printf "%.1f\n", (r - b) / n }')
	printf '%-10s %-9s %-9s %-9s %-8s %-6s %-8s %-12s %-9s %s\n' "$1" \
	    "$3" "$((rss / 1024))" "$((hwm / 1024))" "$thr" "$fds" "$per" \
	    "$4" "$5" "$6"
}

# phase_idle: latchkeyd's memory with 0, $SERIES and $IDLE_COUNTS idle
# agents, each on a fresh server; the big counts also one poll cycle
# later. Sets IDLE_RES (per big count: "asked run connected rss_mb
# max_rss_mb threads"), PER_AGENT_KB.
phase_idle() {
	local n asked rss hwm thr fds rt c_rss c_mem big
	echo "-- latchkeyd's memory with idle agents (fresh server each)"
	printf '%-10s %-9s %-9s %-9s %-8s %-6s %-8s %-12s %-9s %s\n' agents \
	    connected VmRSS_MB VmHWM_MB threads fds KiB/agt registered_ms \
	    setup_ms refused
	B_RSS=
	: >"$T/series"
	IDLE_RES=()
	for asked in 0 $SERIES $IDLE_COUNTS; do
		n=$asked
		big=0
		case " $IDLE_COUNTS " in *" $asked "*) big=1 ;; esac
		if [ "$n" -gt "$MAX_AGENTS" ]; then
			echo "$asked idle agents cannot be reached here:" \
			    "descriptor hard limit $FD_LIMIT ($FD_WHY);" \
			    "latchkeyd admits 95% of $FD_LIMIT - 256 -" \
			    "$FD_LIMIT/32 connections and agent_load needs one" \
			    "per agent: measured at $MAX_AGENTS instead"
			n=$MAX_AGENTS
		fi
		if [ "$n" -eq 0 ]; then
			start_lkd "idle0" 1 || return 1
			sleep 0.5
			IDLE_MEM=$(mem "$LKD_PID"); IDLE_READY=0
			IDLE_SETUP=-; IDLE_REG=-; IDLE_REJECTED=0
			B_RSS=$(cut -d' ' -f1 <<<"$IDLE_MEM")
		else
			rt=$(ready_timeout "$n")
			idle "idle$n" "$n" "$rt" || return 1
		fi
		idle_row "$n" "$IDLE_MEM" "$IDLE_READY" "$IDLE_REG" \
		    "$IDLE_SETUP" "$IDLE_REJECTED"
		read -r rss hwm thr fds <<<"$IDLE_MEM"
		[ "$n" -gt 0 ] && echo "$IDLE_READY $rss" >>"$T/series"
		c_rss=$rss
		if [ "$big" = 1 ]; then
			# One full poll cycle later: every agent has polled
			# again on its kept-alive connection.
			sleep "$CYCLE_S"
			c_mem=$(mem "$LKD_PID")
			idle_row "  +${CYCLE_S}s" "$c_mem" "$IDLE_READY" \
			    "(one more" "poll cycle)" \
			    "$(kill -USR1 "$(cat "$T/load.pid")"; sleep 0.2;
			    grep '^agent_load: stats' "$LOAD_OUT" | tail -n 1 |
			    sed -E 's/.*(open_polls=[0-9]+).*(reconnects=[0-9]+).*/\1 \2/')"
			c_rss=$(cut -d' ' -f1 <<<"$c_mem")
			[ "$c_rss" -gt "$rss" ] || c_rss=$rss
			IDLE_RES+=("$asked $n $IDLE_READY $((rss / 1024)) $((c_rss / 1024)) $thr")
		fi
		stop_run
	done
	# Per connected agent: least squares over every count, less the
	# empty server (2 s after connecting).
	PER_AGENT_KB=$(awk -v b="$B_RSS" '{ x = $1; y = $2 - b; sxx += x * x;
	    sxy += x * y } END { if (sxx) printf "%.1f\n", sxy / sxx;
	    else print 0 }' "$T/series")
	echo "empty server: VmRSS $((B_RSS / 1024)) MB; per connected idle" \
	    "agent: $PER_AGENT_KB KiB of VmRSS (least-squares slope over the" \
	    "$(wc -l <"$T/series") counts); KiB/agt is (VmRSS - empty) / agents"
}

# fd_limits: raises the hard descriptor limit (of this shell and so of
# everything it starts) to what the largest count needs, where allowed;
# sets FD_LIMIT, FD_WHY, MAX_AGENTS.
fd_limits() {
	local want=0 c n
	for c in "$AGENTS" $SERIES $IDLE_COUNTS; do
		n=$(fd_need "$c")
		[ "$n" -gt "$want" ] && want=$n
	done
	FD_WHY="enough"
	if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]
	then
		if ulimit -Hn "$want" 2>/dev/null; then
			FD_WHY="raised for this benchmark"
		else
			FD_WHY="raising it needs CAP_SYS_RESOURCE, which this"
			FD_WHY+=" root lacks (a container)"
		fi
	fi
	ulimit -n "$(ulimit -Hn)" || die "cannot raise the descriptor limit"
	FD_LIMIT=$(ulimit -n)
	[ "$FD_LIMIT" = unlimited ] && FD_LIMIT=1048576
	MAX_AGENTS=$(fd_max_agents "$FD_LIMIT")
	[ "$MAX_AGENTS" -ge "$AGENTS" ] || die "descriptor limit $FD_LIMIT" \
	    "($FD_WHY) holds at most $MAX_AGENTS agents, < $AGENTS"
}

main() {
	local r1 r2 r3 r4 r5 res asked conn rss crss thr FAILED=0
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	for b in latchkeyd latchkey-agent acs-plugin-manager $PLUGIN \
	    send_ssh_public_key latchkey-authorized-keys; do
		[ -x "$BUILD/bin/$b" ] || die "$BUILD/bin/$b missing (make)"
	done
	[ -x "$BUILD/bench/agent_load" ] ||
	    die "$BUILD/bench/agent_load missing (make $BUILD/bench/agent_load)"
	[ -x "$SSHD" ] || die "$SSHD missing (apt-get install openssh-server)"
	command -v curl >/dev/null && command -v openssl >/dev/null ||
	    die "curl and openssl are needed"
	bench_setup
	if [ -n "$DB_PARENT" ]; then
		DBT=$(mktemp -d "$DB_PARENT/latchkey-bench-db.XXXXXX") ||
		    die "mktemp in $DB_PARENT failed"
	fi
	echo "descriptor limit $FD_LIMIT ($FD_WHY: up to $MAX_AGENTS agents);" \
	    "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)" \
	    "(other work on the machine moves these figures)"
	echo "latchkeyd's databases on $(stat -f -c %T "$DBT") ($DBT):" \
	    "every commit waits for an fsync unless that is a tmpfs"

	setup_root || die "the scratch root's sshd or plug-in did not start"
	start_lkd push "$AGENTS" || die "latchkeyd did not start"
	grep -m 1 -o 'latchkeyd limits.*' "$LKD_LOG"
	start_agent || die "the real agent did not connect"
	echo "real agent $IID connected"
	if [ "$BASELINE" -gt 0 ]; then
		echo
		echo "-- baseline: $BASELINE pushes, the real agent alone"
		phase_push base "$BASELINE" || die "baseline pushes FAILED"
	fi
	echo
	start_load push "$AGENTS" "$(ready_timeout "$AGENTS")" ||
	    die "agent_load failed"
	echo "$LOAD_LINE"
	[ "$(field ready "$LOAD_LINE")" -eq "$AGENTS" ] ||
	    die "only $(field ready "$LOAD_LINE") of $AGENTS agents connected"
	echo "latchkeyd: $(mem "$LKD_PID" |
	    awk '{ printf "VmRSS %d MB, %d threads, %d fds", $1 / 1024, $3, $4 }')"
	echo "-- push latency: $PUSHES pushes to the real agent, $AGENTS" \
	    "simulated agents connected"
	phase_push load "$PUSHES" || die "push latency FAILED"
	echo
	# A failed fan-out (results missing) still lets the memory figures
	# be measured; the exit status says it failed.
	phase_fanout || { echo "push_bench: fan-out FAILED" >&2; FAILED=1; }
	stop_run
	echo
	phase_idle || die "idle memory FAILED"
	echo
	r1=$(aim "$PUSH_P50" "$AIM_P50_MS")
	r2=$(aim "$PUSH_P99" "$AIM_P99_MS")
	r3="FAILED"
	[ "$FANOUT_MS" = - ] || r3=$(aim "$FANOUT_MS" "$AIM_FANOUT_MS")
	r5=$(aim "$PER_AGENT_KB" "$AIM_PER_AGENT_KB")
	echo "== push_bench summary (load average now" \
	    "$(cut -d' ' -f1-3 /proc/loadavg))"
	printf '%-48s %-20s %-10s %s\n' figure measured aim result
	printf '%-48s %-20s %-10s %s\n' \
	    "push latency p50, $AGENTS agents connected" "$PUSH_P50 ms" \
	    "<= $AIM_P50_MS ms" "$r1" \
	    "push latency p99 (nearest rank of $PUSHES)" "$PUSH_P99 ms" \
	    "<= $AIM_P99_MS ms" "$r2" \
	    "first ssh login p50 / p99 (with handshake)" \
	    "$LOGIN_P50 / $LOGIN_P99 ms" "-" "(for reference)" \
	    "one command to $AGENTS instances, all reported" "$FANOUT_MS ms" \
	    "<= $AIM_FANOUT_MS ms" "$r3"
	for res in "${IDLE_RES[@]}"; do
		read -r asked n conn rss crss thr <<<"$res"
		if [ "$conn" -lt "$n" ]; then
			r4="only $conn of $n connected"
		elif [ "$n" -lt "$asked" ]; then
			r4="not reachable here, $n measured"
		elif [ "$asked" -eq 10000 ]; then
			r4=$(aim "$crss" "$AIM_RSS_MB")
		else
			r4="-"
		fi
		printf '%-48s %-20s %-10s %s\n' \
		    "VmRSS (max of +2 s, +${CYCLE_S} s), $asked idle asked" \
		    "$crss MB ($conn conn.)" \
		    "$([ "$asked" -eq 10000 ] && echo "<= $AIM_RSS_MB MB" ||
		    echo -)" "$r4 ($thr threads)"
	done
	printf '%-48s %-20s %-10s %s\n' \
	    "VmRSS per idle agent (slope)" "$PER_AGENT_KB KiB" \
	    "<= $AIM_PER_AGENT_KB KB" "$r5"
	[ "$FAILED" -eq 0 ] || die "a check FAILED (above)"
	return 0
}

# Sourced (store_bench.sh), it only defines; run, it benchmarks.
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
