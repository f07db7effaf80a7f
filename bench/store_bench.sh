#!/bin/bash
# store_bench.sh BUILD_DIR: latchkeyd on SQLite and on PostgreSQL, side by
# side in one run (issue 11). For each backend in turn, on a fresh
# latchkeyd and database:
#
#   1. push latency with 1,000 simulated agents connected (agent_load) and
#      one real latchkey-agent with the config_ecs_instance_connect
#      plug-in: push_bench.sh's method (a signed InvokeCommand of
#      ACS-ECS-SendSshPublicKey-linux.sh, timed from the moment the call
#      has returned until the key's record is in the store that sshd's
#      helper reads; each push is then also logged in with);
#   2. fan-out: one RunCommand `true` to the 1,000 simulated instances
#      (10 calls of 100, InstanceId.N takes at most 100), timed from the
#      first call until all 1,000 results have been accepted;
#   3. API calls per second: DescribeInvocationResults of one push's
#      invocation on the real agent's instance, from 16 parallel clients
#      (build/bench/api_rate: threads, kept-alive connections, every call
#      freshly signed), LK_BENCH_API_WARMUP s of warm-up (default 3) then
#      LK_BENCH_API_SECONDS s counted (default 15); any failed call fails
#      the benchmark.
#
# Aims (issue 11): PostgreSQL within 2x of SQLite on each figure (push
# p50 and p99, fan-out time, calls/s), and push p99 <= 50 ms on both. A
# missed aim is printed ("aim missed"); it is not an error.
#
# Durability: both backends run with their default, durable settings.
# SQLite is latchkeyd's (WAL, synchronous=FULL: a commit waits for an
# fsync); the PostgreSQL cluster is tests/tools/pg-cluster's, which leaves
# fsync and synchronous_commit on. Both live under the same directory
# (/run/latchkey-bench.XXXXXX, or LK_BENCH_DB_PARENT), whose file system
# is printed: on a tmpfs an fsync costs nothing.
#
# Exit status: 0 when every step ran on both backends (aims met or not), 1
# when the benchmark could not run or a check failed (a push whose key
# never reached the store or whose invocation did not end Success, missing
# fan-out results, a failed API call). The figures of a backend that
# failed are printed as "-", and the other backend still runs. Needs root
# and Debian's postgresql package; writes only under
# /run/latchkey-bench.XXXXXX (removed at the end, the PostgreSQL cluster
# stopped first, also after a failure); talks only to 127.0.0.1 and a Unix
# socket; stops only the processes it started, by their pids.
set -u
BUILD=${1:?usage: store_bench.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
# push_bench.sh's functions (start_lkd, start_load, setup_root,
# start_agent, phase_push, phase_fanout, the signer, cleanup); sourced, it
# runs nothing.
# shellcheck source=push_bench.sh
. "$HERE/push_bench.sh" "$BUILD"

AGENTS=${LK_BENCH_STORE_AGENTS:-1000}
PUSHES=${LK_BENCH_STORE_PUSHES:-100}
API_CLIENTS=16
API_WARMUP=${LK_BENCH_API_WARMUP:-3}
API_SECONDS=${LK_BENCH_API_SECONDS:-15}
BACKENDS=${LK_BENCH_BACKENDS:-"sqlite postgresql"}
# shellcheck disable=SC2034	# push_bench.sh's fd_limits reads these:
SERIES=""			# its idle series is not run here
# shellcheck disable=SC2034
IDLE_COUNTS=""
AIM_RATIO=2			# PostgreSQL within 2x of SQLite
AIM_P99_MS=50
PG_CLUSTER=$SRC/tests/tools/pg-cluster
PGDIR=				# the cluster's directory, once started

die() {
	echo "store_bench: $*" >&2
	exit 1
}

# push_bench.sh's cleanup, with the PostgreSQL cluster stopped once
# latchkeyd (which holds connections to it) is.
cleanup() {
	local pf
	for pf in "${PIDS[@]}"; do
		stop_pid "$pf"
	done
	[ -n "$PGDIR" ] && "$PG_CLUSTER" stop "$PGDIR" >/dev/null 2>&1
	[ -n "$DBT" ] && [ "$DBT" != "$T" ] && rm -rf "$DBT"
	[ -n "$T" ] && rm -rf "$T"
}

# On PostgreSQL, each latchkeyd gets a new database in the cluster.
lkd_db() {
	case $BACKEND in
	sqlite) echo "$DBT/lkd-$1/db" ;;
	postgresql) "$PG_CLUSTER" createdb "$PGDIR" "lkd_$1" \
	    2>>"$DBT/pg-createdb.log" ;;
	esac
}

start_pg() {
	PGDIR=$DBT/pg
	"$PG_CLUSTER" start "$PGDIR" || { echo "store_bench: the PostgreSQL" \
	    "cluster did not start" >&2; return 1; }
	echo "PostgreSQL: $("$PG_CLUSTER" psql "$PGDIR" postgres -At -c \
	    "SELECT 'server ' || current_setting('server_version') ||
	    ', fsync=' || current_setting('fsync') ||
	    ', synchronous_commit=' || current_setting('synchronous_commit') ||
	    ', wal_sync_method=' || current_setting('wal_sync_method')")"
}

# phase_api: api_rate against the current latchkeyd; sets API_RATE,
# API_P50, API_P99. It describes the first push's result on the real
# agent's instance, or when no push got that far, the fan-out's first
# invocation on its first instance.
phase_api() {
	local inv iid=$IID line rc
	API_RATE=-; API_P50=-; API_P99=-
	inv=$(head -n 1 "$T/invokes" 2>/dev/null)
	if [ -z "$inv" ]; then
		inv=$(head -n 1 "$T/fanout.invokes" 2>/dev/null)
		iid=$(head -n 1 "$LOAD_IDS")
	fi
	[ -n "$inv" ] || { echo "store_bench: no invocation to describe" >&2
	    return 1; }
	echo "-- DescribeInvocationResults (InvokeId, InstanceId: one result)" \
	    "from $API_CLIENTS clients, ${API_WARMUP} s warm-up," \
	    "${API_SECONDS} s counted"
	line=$(LK_AK_SECRET=$AK_SECRET "$BUILD/bench/api_rate" \
	    --port "$LKD_PORT" --access-key-id "$AK_ID" \
	    --action DescribeInvocationResults --param "InvokeId=$inv" \
	    --param "InstanceId=$iid" --expect "\"$inv\"" \
	    --clients "$API_CLIENTS" --warmup "$API_WARMUP" \
	    --duration "$API_SECONDS" 2>"$T/api_rate.err")
	rc=$?
	cat "$T/api_rate.err" >&2
	echo "$line"
	[ "$rc" -eq 0 ] || return 1
	API_RATE=$(sed -nE 's/.* rate=([0-9.]+).*/\1/p' <<<"$line")
	API_P50=$(sed -nE 's/.* p50_ms=([0-9.]+).*/\1/p' <<<"$line")
	API_P99=$(sed -nE 's/.* p99_ms=([0-9.]+).*/\1/p' <<<"$line")
}

# run_backend NAME: every phase on a fresh latchkeyd on backend NAME; sets
# FIG[NAME.push50|push99|fanout|rate|api50|api99] ("-" when not measured);
# 1 when a step failed.
declare -A FIG
run_backend() {
	local b=$1 bad=0
	BACKEND=$b
	echo
	echo "==== $b"
	if [ "$b" = postgresql ]; then
		start_pg || return 1
		export LATCHKEYD_MASTER_KEY=$DBT/master.key
	else
		unset LATCHKEYD_MASTER_KEY
	fi
	rm -rf "$T/agent" "$T/invokes" "$T/fanout.invokes"
	start_lkd "$b" "$AGENTS" || { echo "store_bench: latchkeyd did not" \
	    "start on $b:" >&2; tail -n 5 "$T/lkd-$b.log" >&2; return 1; }
	echo "latchkeyd --db $LKD_DB"
	start_agent || { echo "store_bench: the real agent did not connect" \
	    >&2; tail -n 5 "$LKD_LOG" >&2; return 1; }
	start_load "$b" "$AGENTS" "$(ready_timeout "$AGENTS")" || return 1
	echo "$LOAD_LINE"
	[ "$(field ready "$LOAD_LINE")" -eq "$AGENTS" ] || { echo \
	    "store_bench: only $(field ready "$LOAD_LINE") of $AGENTS" \
	    "agents connected" >&2; return 1; }
	echo "-- push latency: $PUSHES pushes to the real agent, $AGENTS" \
	    "simulated agents connected"
	PUSH_P50=-; PUSH_P99=-
	# A failed server check (check_pushes) still leaves the timings.
	phase_push "$b" "$PUSHES" || { echo "store_bench: push latency" \
	    "FAILED on $b" >&2; bad=1; }
	FIG[$b.push50]=$PUSH_P50
	FIG[$b.push99]=$PUSH_P99
	echo
	phase_fanout || { echo "store_bench: fan-out FAILED on $b" >&2
	    bad=1; }
	FIG[$b.fanout]=$FANOUT_MS
	echo
	if phase_api; then
		FIG[$b.rate]=$API_RATE
		FIG[$b.api50]=$API_P50
		FIG[$b.api99]=$API_P99
	else
		echo "store_bench: API calls FAILED on $b" >&2
		bad=1
	fi
	[ "$bad" -eq 0 ] || { echo "latchkeyd's database errors (count):"
	    grep -o '[ "]db .*error=.*' "$LKD_LOG" | sort | uniq -c |
	    sort -rn | head -n 10; echo "latchkeyd's log (last lines):"
	    tail -n 3 "$LKD_LOG"; } >&2
	stop_run
	return "$bad"
}

# ratio B A: B / A with two decimals, or "-".
ratio() {
	case "$1$2" in *-*) echo -; return ;; esac
	awk -v b="$1" -v a="$2" 'BEGIN { if (a + 0 > 0) printf "%.2f\n", b / a;
	    else print "-" }'
}

# verdict VALUE LIMIT: aim's answer, or "not measured".
verdict() {
	case "$1" in -) echo "not measured" ;; *) aim "$1" "$2" ;; esac
}

summary() {
	local s=sqlite p=postgresql rp rr k f b
	echo
	echo "== store_bench summary (load average now" \
	    "$(cut -d' ' -f1-3 /proc/loadavg))"
	printf '%-46s %-11s %-11s %-9s %s\n' figure sqlite postgresql \
	    pg/sqlite "aim"
	for k in push50 push99 fanout; do
		rp=$(ratio "${FIG[$p.$k]}" "${FIG[$s.$k]}")
		case $k in
		push50) f="push latency p50 (ms), $AGENTS agents" ;;
		push99) f="push latency p99 (ms, of $PUSHES)" ;;
		fanout) f="fan-out to $AGENTS instances (ms)" ;;
		esac
		printf '%-46s %-11s %-11s %-9s %s\n' "$f" "${FIG[$s.$k]}" \
		    "${FIG[$p.$k]}" "$rp" \
		    "pg <= ${AIM_RATIO}x sqlite: $(verdict "$rp" "$AIM_RATIO")"
	done
	# Calls per second: higher is better, so the aim is on sqlite/pg.
	rr=$(ratio "${FIG[$s.rate]}" "${FIG[$p.rate]}")
	printf '%-46s %-11s %-11s %-9s %s\n' \
	    "DescribeInvocationResults calls/s, $API_CLIENTS clients" \
	    "${FIG[$s.rate]}" "${FIG[$p.rate]}" \
	    "$(ratio "${FIG[$p.rate]}" "${FIG[$s.rate]}")" \
	    "pg >= sqlite/${AIM_RATIO}: $(verdict "$rr" "$AIM_RATIO")"
	printf '%-46s %-11s %-11s %-9s %s\n' \
	    "  its latency p50 / p99 (ms)" \
	    "${FIG[$s.api50]}/${FIG[$s.api99]}" \
	    "${FIG[$p.api50]}/${FIG[$p.api99]}" - "(for reference)"
	for b in $BACKENDS; do
		printf '%-46s %-23s %-9s %s\n' "push latency p99 on $b" \
		    "${FIG[$b.push99]} ms" - \
		    "<= $AIM_P99_MS ms: $(verdict "${FIG[$b.push99]}" \
		    "$AIM_P99_MS")"
	done
}

main() {
	local b k failed=0
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	for b in latchkeyd latchkey-agent acs-plugin-manager $PLUGIN \
	    send_ssh_public_key latchkey-authorized-keys; do
		[ -x "$BUILD/bin/$b" ] || die "$BUILD/bin/$b missing (make)"
	done
	for b in agent_load api_rate; do
		[ -x "$BUILD/bench/$b" ] ||
		    die "$BUILD/bench/$b missing (make $BUILD/bench/$b)"
	done
	[ -x "$SSHD" ] || die "$SSHD missing (apt-get install openssh-server)"
	command -v curl >/dev/null && command -v openssl >/dev/null ||
	    die "curl and openssl are needed"
	case " $BACKENDS " in *" postgresql "*)
		ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
		    die "PostgreSQL's server is missing (apt-get install" \
		    "postgresql, or scripts/install-deps --test)" ;;
	esac
	bench_setup
	if [ -n "$DB_PARENT" ]; then
		DBT=$(mktemp -d "$DB_PARENT/latchkey-bench-db.XXXXXX") ||
		    die "mktemp in $DB_PARENT failed"
		chmod 0755 "$DBT"	# the cluster runs as postgres
	fi
	echo "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)" \
	    "(other work on the machine moves these figures)"
	echo "databases on $(stat -f -c %T "$DBT") ($DBT): every commit" \
	    "waits for an fsync on both backends unless that is a tmpfs"
	for b in sqlite postgresql; do
		for k in push50 push99 fanout rate api50 api99; do
			FIG[$b.$k]=-
		done
	done
	setup_root || die "the scratch root's sshd or plug-in did not start"
	for b in $BACKENDS; do
		run_backend "$b" || { echo "store_bench: $b FAILED" >&2
		    failed=1; stop_run; }
	done
	summary
	[ "$failed" -eq 0 ] || die "a step FAILED on a backend (above)"
	return 0
}

main "$@"
