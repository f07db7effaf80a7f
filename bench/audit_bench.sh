#!/bin/bash
# audit_bench.sh BUILD_DIR: what the audit trail costs a key push
# (issue 15, docs/audit.md). latchkeyd with one real agent (the
# plug-in in a scratch root with its own sshd, push_bench.sh's setup),
# alternately with the trail on (events in the database and all three
# sinks: --audit-file, --audit-syslog-socket to a receiver of its own,
# --audit-webhook to tests/tools/webhook-recv.py on loopback) and off
# (--no-audit), ROUNDS rounds of PUSHES
# pushes each. For each push: how long the signed InvokeCommand took
# (the api.call and key.push events are written before it answers), and
# the push latency, from the call's start until the key's record is in
# the store sshd's helper reads (the agent's result, and its
# invocation.result event, come after that).
#
# Aim: the push latency p50 with the trail on at most 10 % above off.
# A missed aim is printed, not an error. Exit 1 when a push failed or
# the exported file does not verify.
set -u
BUILD=${1:?usage: audit_bench.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/push_bench.sh" "$BUILD"

PUSHES=${LK_BENCH_AUDIT_PUSHES:-40}
ROUNDS=${LK_BENCH_AUDIT_ROUNDS:-2}
AIM_PCT=10

die() {
	echo "audit_bench: $*" >&2
	exit 1
}

# apush N: one timed push; appends "<start_us> <answered_us> <record_us>".
apush() {
	local k=$T/keys/a$1 hash rec url inv s0 dl
	ssh-keygen -q -t ed25519 -N '' -C "a$1@bench" -f "$k" || return 1
	hash=$(awk '{ print $2 }' "$k.pub" | base64 -d | sha256sum |
	    cut -d' ' -f1)
	rec=$STORE/$USER_A/$hash
	url=$(lk_signed_url InvokeCommand "CommandId=$SEND_KEY" \
	    "InstanceId.1=$IID" \
	    "Parameters={\"username\":\"$USER_A\",\"sshPublicKey\":\"$(cat "$k.pub")\"}")
	s0=${EPOCHREALTIME/./}
	http_get "$url" || { echo "audit_bench: InvokeCommand: no answer" >&2
	    return 1; }
	inv=$(json_str InvokeId <<<"$RESP_BODY")
	[ -n "$inv" ] || { echo "audit_bench: InvokeCommand:" \
	    "$(head -c 300 <<<"$RESP_BODY")" >&2; return 1; }
	dl=$((RESP_US + 10000000))
	while [ ! -e "$rec" ]; do
		[ "${EPOCHREALTIME/./}" -lt "$dl" ] || { echo "audit_bench:" \
		    "push $1: no record after 10 s ($inv)" >&2; return 1; }
		nap
	done
	echo "$s0 $RESP_US ${EPOCHREALTIME/./}" >>"$T/$2.times"
}

# round MODE I: latchkeyd with the trail MODE (on, off), PUSHES pushes.
round() {
	local mode=$1 i=$2 n opts
	if [ "$mode" = on ]; then
		opts="--audit-file $T/audit-$i.jsonl --audit-syslog-socket"
		opts="$opts $T/syslog.sock --audit-webhook http://127.0.0.1:$WHP/hook"
	else
		opts="--no-audit"
	fi
	LKD_OPTS=$opts start_lkd "$mode$i" 2 || return 1
	start_agent || return 1
	mkdir -p "$T/keys"
	apush "$mode$i-w1" warm && apush "$mode$i-w2" warm || return 1
	for n in $(seq 1 "$PUSHES"); do
		apush "$mode$i-$n" "$mode" || return 1
	done
	if [ "$mode" = on ]; then
		sleep 0.5
		"$T/bin/latchkeyd" --db "$LKD_DB" audit verify --file \
		    "$T/audit-$i.jsonl" >"$T/verify.out" ||
		    { cat "$T/verify.out" >&2; return 1; }
		EVENTS=$(sed -nE 's/.*: ([0-9]+) events intact.*/\1/p' \
		    "$T/verify.out")
	fi
	stop_pid "$T/agent.pid"
	stop_pid "$LKD_PIDFILE"
}

main() {
	local i on off r
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	bench_setup
	echo "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg);" \
	    "database on $(stat -f -c %T "$DBT") (every commit waits for an" \
	    "fsync unless that is a tmpfs)"
	setup_root || die "the scratch root's sshd or plug-in did not start"
	# The syslog and webhook sinks' receivers, for the rounds with the trail.
	WHP=$(free_port) || die "no free port"
	"$HERE/../tests/tools/syslog-recv.py" "$T/syslog.sock" "$T/syslog.out" &
	echo $! >"$T/syslog-recv.pid"
	"$HERE/../tests/tools/webhook-recv.py" "$WHP" "$T/webhook.out" &
	echo $! >"$T/webhook-recv.pid"
	PIDS+=("$T/syslog-recv.pid" "$T/webhook-recv.pid")
	: >"$T/on.times"; : >"$T/off.times"
	for i in $(seq 1 "$ROUNDS"); do
		round off "$i" || die "round $i (trail off) FAILED"
		round on "$i" || die "round $i (trail on) FAILED"
	done
	for m in off on; do
		awk '{ print ($2 - $1) / 1000 }' "$T/$m.times" >"$T/$m.call.ms"
		awk '{ print ($3 - $1) / 1000 }' "$T/$m.times" >"$T/$m.push.ms"
	done
	echo "$((ROUNDS * PUSHES)) pushes each way; the last file sink held" \
	    "$EVENTS events, verified; syslog received $(wc -l <"$T/syslog.out")," \
	    "the webhook $(wc -l <"$T/webhook.out") (all rounds)"
	printf '%-44s %8s %8s %8s %8s %8s\n' "(ms from the InvokeCommand call)" \
	    p50 p90 p99 mean max
	row "InvokeCommand answered, trail off" "$T/off.call.ms"
	row "InvokeCommand answered, trail on" "$T/on.call.ms"
	row "key in the store (push), trail off" "$T/off.push.ms"
	row "key in the store (push), trail on" "$T/on.push.ms"
	off=$(pct "$T/off.push.ms" 50)
	on=$(pct "$T/on.push.ms" 50)
	r=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+.1f", (a - b) / b * 100 }')
	echo "== audit_bench summary"
	printf '%-48s %-20s %-10s %s\n' figure measured aim result
	printf '%-48s %-20s %-10s %s\n' "push p50, trail on vs off" \
	    "$on vs $off ms ($r %)" "<= +$AIM_PCT %" \
	    "$(awk -v r="$r" -v a="$AIM_PCT" 'BEGIN { print (r + 0 <= a) ? "aim met" : "aim missed" }')"
}

main "$@"
