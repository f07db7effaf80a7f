#!/usr/bin/env bash
# Several latchkeyd replicas on one PostgreSQL behind Debian's HAProxy
# (issue 12), all real: a throw-away cluster, three latchkeyd, HAProxy in
# TCP mode with health checks on GET /healthz, real latchkey-agent
# processes and, for counts in the hundreds, bench/agent_load.
#
#  1. every replica answers /healthz with its id; API calls through the
#     balancer land on every replica (Latchkey-Replica varies) and work:
#     DescribeCommands, CreateCommand, InvokeCommand, DescribeInvocation-
#     Results; a fan-out reaches agents parked on every replica at once;
#  2. an invocation created on A, polled on B, reported on C, read back on
#     A, each step on that replica's own port (the agent played by curl);
#  3. kill -9 of the replica holding some agents while invocations are in
#     flight: every invocation ends Success, no task runs twice (the real
#     agents' logs, agent_load's reports), every agent is back on another
#     replica, and the balancer marks the dead one down;
#  4. PostgreSQL restarted under load: every replica is healthy again by
#     itself and every invocation the API accepted ends Success.
#
# It runs only on PostgreSQL (it sets LK_TEST_DB itself) and starts a
# cluster of its own, which it restarts, whatever LK_TEST_PG_DIR says.
export LK_TEST_DB=postgresql
. "$(dirname "$0")/lib.sh"

lk_setup
unset LK_TEST_PG_DIR LATCHKEYD_MASTER_KEY
PGC=$LK_SRC/tests/tools/pg-cluster
LOAD=$LK_BUILD/bench/agent_load
LOAD_AGENTS=${LK_REPLICAS_LOAD:-300}
lk_need_built "$(lk_bin latchkeyd)" "$(lk_bin latchkey-agent)"
command -v haproxy >/dev/null ||
    { tap_fail "haproxy is installed (scripts/install-deps --test)"
      echo "1..$LK_N"; exit 1; }
command -v jq >/dev/null ||
    { tap_fail "jq is installed"; echo "1..$LK_N"; exit 1; }

	lk_must "a PostgreSQL database" lk_new_db replicas
lk_must "an access key" lk_accesskey AK --description replicas
lk_must "an activation" lk_activation ACT --count 20 --ttl 3600
# Behind a TCP balancer every connection comes from the balancer's
# address: the per-address limit would cap the agents of a replica.
lk_must "three replicas on one database" lk_replicas_start 3 \
    --max-conns-per-ip 0
lk_must "HAProxy in front of them, every replica up" lk_haproxy_start ha
port_of() { echo "${LK_LKD_PORT[$1]}"; }
# lk_wait_until CMD...: up to 30 s until CMD succeeds.
lk_wait_until() {
	local i
	for i in $(seq 1 150); do "$@" && return 0; sleep 0.2; done
	return 1
}

# ---------------------------------------------------------------------
# 1. Health checks, and the API through the balancer.
for r in "${LK_REPLICAS[@]}"; do
	out_has "\"replica\": *\"$r\".*\"database\": *\"ok\"|\"database\": *\"ok\".*\"replica\": *\"$r\"" \
	    curl -sf --max-time 5 "http://127.0.0.1:$(port_of "$r")/healthz" &&
	    tap_ok "$r: GET /healthz is 200 with its id and database ok" ||
	    tap_fail "$r: GET /healthz ($(cat "$T/out.txt"))"
done

lk_ha_use
# api_via ACTION ARGS...: lk_api through the balancer, the answering
# replica's id appended to $T/replicas.seen.
api_via() {
	local url
	url=$(lk_signed_url "$@")
	curl -s --max-time 10 -D "$T/hdr" "$url"
	tr -d '\r' <"$T/hdr" | sed -n 's/^[Ll]atchkey-[Rr]eplica: *//p' \
	    >>"$T/replicas.seen"
}
: >"$T/replicas.seen"
bad=0
for i in $(seq 1 9); do
	api_via DescribeCommands Provider=AlibabaCloud >"$T/dc.json"
	jq -e '.Commands.Command | length > 0' "$T/dc.json" >/dev/null ||
	    bad=$((bad + 1))
done
is "9 DescribeCommands through HAProxy all list commands" "$bad" 0
is "they were answered by all three replicas" \
    "$(sort -u "$T/replicas.seen" | paste -sd ' ')" "r1 r2 r3"

# Six real agents, registered and polling through the balancer.
for i in 1 2 3 4 5 6; do
	lk_must "agent a$i registers and connects through HAProxy" \
	    lk_agent_start "a$i"
	IIDS[i]=$AGENT_IID
done
where() { local i; for i in 1 2 3 4 5 6; do lk_agent_replica "a$i"; done; }
where >"$T/where"
n=$(sort -u "$T/where" | grep -c .)
[ "$n" -ge 2 ] && tap_ok "the agents' polls are spread over $n replicas" ||
    tap_fail "the agents' polls are spread (on: $(sort -u "$T/where" | paste -sd ' '))"

CONTENT=$(printf 'echo hello-from-$(hostname)' | base64 -w0)
api_via CreateCommand Name=replicas Type=RunShellScript \
    "CommandContent=$CONTENT" >"$T/cc.json"
CMD=$(jq -r '.CommandId // empty' "$T/cc.json")
[ -n "$CMD" ] && tap_ok "CreateCommand through HAProxy ($CMD)" ||
    tap_fail "CreateCommand through HAProxy ($(head -c 300 "$T/cc.json"))"

# inv_status ID: the invocation's overall status (DescribeInvocations).
inv_status() {
	lk_api DescribeInvocations "InvokeId=$1" |
	    jq -r '.Invocations.Invocation[0].InvocationStatus // "none"'
}
# wait_inv SECONDS ID...: until every ID is Success; the others in $T/notyet.
wait_inv() {
	local end=$((SECONDS + $1)) id left; shift
	while :; do
		left=()
		for id in "$@"; do
			[ "$(inv_status "$id")" = Success ] || left+=("$id")
		done
		[ "${#left[@]}" -eq 0 ] && return 0
		[ "$SECONDS" -ge "$end" ] && break
		set -- "${left[@]}"
		sleep 0.3
	done
	for id in "${left[@]}"; do echo "$id $(inv_status "$id")"; done \
	    >"$T/notyet"
	echo "${#left[@]} not Success: $(head -c 300 "$T/notyet")" >&2
	return 1
}
args=("CommandId=$CMD")
for i in 1 2 3 4 5 6; do args+=("InstanceId.$i=${IIDS[i]}"); done
t0=$EPOCHREALTIME
api_via InvokeCommand "${args[@]}" >"$T/ic.json"
INV=$(jq -r '.InvokeId // empty' "$T/ic.json")
[ -n "$INV" ] && tap_ok "InvokeCommand to the six agents through HAProxy" ||
    tap_fail "InvokeCommand through HAProxy ($(head -c 300 "$T/ic.json"))"
# Agents parked on other replicas than the one that took the call are
# woken across replicas (LISTEN/NOTIFY): milliseconds, not a poll cycle.
wait_inv 3 "$INV" 2>/dev/null
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
[ "$(inv_status "$INV")" = Success ] && [ "$ms" -lt 3000 ] &&
    tap_ok "the fan-out reached agents on all replicas in $ms ms" ||
    tap_fail "the fan-out reached agents on all replicas within 3 s (not after $ms ms: cross-replica wake-up)"
check "within a poll cycle at the latest, all six ended Success" \
    wait_inv 30 "$INV"
api_via DescribeInvocationResults "InvokeId=$INV" PageSize=50 >"$T/dir.json"
is "DescribeInvocationResults through HAProxy: six results, each Success" \
    "$(jq -r '[.Invocation.InvocationResults.InvocationResult[] |
	select(.InvocationStatus == "Success")] | length' "$T/dir.json")" 6
is "and each output is the agent's" "$(jq -r '.Invocation.InvocationResults.InvocationResult[0].Output' \
    "$T/dir.json" | base64 -d 2>/dev/null)" "hello-from-$(hostname)"

# ---------------------------------------------------------------------
# 2. Created on A, polled on B, reported on C, read back on A: the agent
# is played by curl so that each request goes to the replica chosen.
A=$(port_of r1) B=$(port_of r2) C=$(port_of r3)
lk_must "an activation for the hand-played agent" lk_activation HP --count 1
curl -sf --max-time 10 -H 'Content-Type: application/json' \
    -d "{\"activation_id\":\"$HP_ID\",\"activation_code\":\"$HP_CODE\",\"hostname\":\"hand\",\"os\":\"test\",\"version\":\"1.1.0\",\"addresses\":[]}" \
    "http://127.0.0.1:$A/agent/v1/register" >"$T/hp.json"
HP_IID=$(jq -r '.instance_id // empty' "$T/hp.json")
HP_AUTH="Authorization: Bearer $HP_IID.$(jq -r '.credential // empty' "$T/hp.json")"
[ -n "$HP_IID" ] && tap_ok "an agent registers on A ($HP_IID)" ||
    tap_fail "an agent registers on A ($(head -c 200 "$T/hp.json"))"
check "it says hello on B" curl -sf --max-time 10 -H "$HP_AUTH" \
    -H 'Content-Type: application/json' \
    -d '{"hostname":"hand","os":"test","version":"1.1.0","addresses":[]}' \
    "http://127.0.0.1:$B/agent/v1/hello"
curl -s --max-time 25 -H "$HP_AUTH" -H 'Latchkey-Running-Tasks: ' \
    -o "$T/poll.json" -w '%{http_code} %{time_total}\n' \
    "http://127.0.0.1:$B/agent/v1/poll?wait=20" >"$T/poll.status" &
POLL=$!
sleep 1	# the poll is parked on B
lk_lkd_use r1
lk_api RunCommand Type=RunShellScript "InstanceId.1=$HP_IID" Timeout=30 \
    ContentEncoding=PlainText "CommandContent=echo abc" >"$T/abc.json"
ABC=$(jq -r '.InvokeId // empty' "$T/abc.json")
[ -n "$ABC" ] && tap_ok "RunCommand on A ($ABC)" ||
    tap_fail "RunCommand on A ($(head -c 200 "$T/abc.json"))"
wait "$POLL"
read -r code secs <"$T/poll.status"
TASK=$(jq -r '.tasks[0].task_id // empty' "$T/poll.json" 2>/dev/null)
[ "$code" = 200 ] && [ -n "$TASK" ] &&
    tap_ok "the poll parked on B returns the task ($TASK)" ||
    tap_fail "the poll parked on B returns the task (HTTP $code: $(head -c 200 "$T/poll.json"))"
awk -v s="$secs" 'BEGIN { exit !(s < 3) }' &&
    tap_ok "at once: B was woken by A (${secs} s after the poll began, 1 s before the call)" ||
    tap_fail "B was woken by A at once (the poll returned after ${secs} s: cross-replica wake-up)"
check "the result is reported on C" curl -sf --max-time 10 -H "$HP_AUTH" \
    -H 'Content-Type: application/json' \
    -d "{\"task_id\":\"$TASK\",\"status\":\"Success\",\"exit_code\":0,\"output\":\"$(printf 'abc\n' | base64)\",\"dropped\":0,\"error_code\":\"\",\"start_time\":\"$(date -u +%FT%TZ)\",\"finish_time\":\"$(date -u +%FT%TZ)\"}" \
    "http://127.0.0.1:$C/agent/v1/result"
lk_api DescribeInvocationResults "InvokeId=$ABC" >"$T/abc-r.json"
is "read back on A: Success" "$(jq -r '.Invocation.InvocationResults.InvocationResult[0].InvocationStatus' "$T/abc-r.json")" Success
is "read back on A: the output reported on C" "$(jq -r '.Invocation.InvocationResults.InvocationResult[0].Output' "$T/abc-r.json" | base64 -d 2>/dev/null)" abc
lk_ha_use

# ---------------------------------------------------------------------
# 3. kill -9 of the replica holding some agents, invocations in flight.
lk_must "an activation for agent_load" lk_activation LOADACT --count "$LOAD_AGENTS" --ttl 3600
LOAD_OK=0
if [ -x "$LOAD" ]; then
	lk_pidfile "$T/load.pid"
	"$LOAD" --server "127.0.0.1:$HA_PORT" --activation-id "$LOADACT_ID" \
	    --activation-code "$LOADACT_CODE" --agents "$LOAD_AGENTS" \
	    --ids "$T/load.ids" --events "$T/load.events" --duration 600 \
	    --ready-timeout 60 >"$T/load.out" 2>"$T/load.err" &
	echo $! >"$T/load.pid"
	lk_wait_log "$T/load.out" '^agent_load: (ready|not-ready) ' &&
	    grep -q "^agent_load: ready agents=$LOAD_AGENTS ready=$LOAD_AGENTS dead=0" "$T/load.out" &&
	    LOAD_OK=1
fi
[ "$LOAD_OK" = 1 ] &&
    tap_ok "$LOAD_AGENTS simulated agents poll through HAProxy (agent_load)" ||
    tap_fail "agent_load's agents get ready ($LOAD missing or: $(tail -n 2 "$T/load.out" "$T/load.err" 2>/dev/null | tr '\n' ' '))"
load_stat() {	# load_stat FIELD: from a fresh stats line of agent_load
	local n
	n=$(grep -c '^agent_load: stats ' "$T/load.out")
	kill -USR1 "$(cat "$T/load.pid")" 2>/dev/null || return 1
	lk_wait_log "$T/load.out" '^agent_load: stats ' $((n + 1)) || return 1
	grep '^agent_load: stats ' "$T/load.out" | tail -n 1 |
	    sed -nE "s/.* $1=([0-9-]+).*/\\1/p"
}

where >"$T/where"
VICTIM=$(sort "$T/where" | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
ON_VICTIM=$(grep -cx "$VICTIM" "$T/where")
SURVIVORS=()
for r in "${LK_REPLICAS[@]}"; do [ "$r" = "$VICTIM" ] || SURVIVORS+=("$r"); done
[ -n "$VICTIM" ] && tap_ok "$VICTIM holds $ON_VICTIM of the six agents and $(lk_replica_conns "$VICTIM") connections" ||
    tap_fail "an agent's replica is found (HAProxy's sessions)"

# Invocations in flight: the real agents run each for 1 s; the simulated
# ones report at once, 100 instances a call (935 tasks with 300).
INVS=()
invoke() {	# invoke ARGS...: one accepted call, its id in INVS
	local id
	api_via "$@" >"$T/inv.json"
	id=$(jq -r '.InvokeId // empty' "$T/inv.json" 2>/dev/null)
	[ -n "$id" ] && INVS+=("$id")
}
real=()
for i in 1 2 3 4 5 6; do real+=("InstanceId.$i=${IIDS[i]}"); done
for k in 1 2 3 4 5; do
	invoke RunCommand Type=RunShellScript Timeout=60 ContentEncoding=PlainText \
	    "CommandContent=sleep 1; echo run-$k" "${real[@]}"
done
if [ "$LOAD_OK" = 1 ]; then
	mapfile -t LIDS <"$T/load.ids"
	for ((s = 0; s < ${#LIDS[@]}; s += 100)); do
		la=()
		for ((j = s; j < s + 100 && j < ${#LIDS[@]}; j++)); do
			la+=("InstanceId.$((j - s + 1))=${LIDS[j]}")
		done
		for k in 1 2 3; do
			invoke RunCommand Type=RunShellScript Timeout=60 \
			    ContentEncoding=PlainText "CommandContent=true" "${la[@]}"
		done
	done
fi
WANT=$((5 + (LOAD_OK ? 3 * ((LOAD_AGENTS + 99) / 100) : 0)))
is "every invocation before the kill is accepted" "${#INVS[@]}" "$WANT"
check "kill -9 of $VICTIM" lk_replica_kill "$VICTIM"
KILLED_AT=$SECONDS
# More calls through the balancer right after the kill: the ones that
# fail were not accepted; the accepted ones must end like the others.
for k in 6 7 8; do
	invoke RunCommand Type=RunShellScript Timeout=60 ContentEncoding=PlainText \
	    "CommandContent=sleep 1; echo run-$k" "${real[@]}" || true
done
check "HAProxy marks $VICTIM down (health checks)" lk_haproxy_wait_up 2 10
back() {
	local i r
	for i in 1 2 3 4 5 6; do
		r=$(lk_agent_replica "a$i")
		[ -n "$r" ] && [ "$r" != "$VICTIM" ] || return 1
	done
}
lk_wait_until back && tap_ok "every real agent polls a surviving replica again ($((SECONDS - KILLED_AT)) s after the kill)" ||
    tap_fail "every real agent is back on a surviving replica (on: $(where | paste -sd ' '))"
check "every invocation ends Success (${#INVS[@]} invocations)" \
    wait_inv 90 "${INVS[@]}"
dups=$(grep -ho ' task start task=[^ ]*' "$T"/a[1-6].log | sort | uniq -d | wc -l)
runs=$(grep -ho ' task start task=[^ ]*' "$T"/a[1-6].log | wc -l)
is "no task ran twice on a real agent ($runs runs)" "$dups" 0
redo=$(grep -h ' task duplicate ' "$T"/a[1-6].log | wc -l)
is "no task was handed to a real agent twice" "$redo" 0
if [ "$LOAD_OK" = 1 ]; then
	is "no task was reported twice by agent_load ($(wc -l <"$T/load.events") reports)" \
	    "$(awk '{ print $1 }' "$T/load.events" | sort | uniq -d | wc -l)" 0
	ok=0
	for _ in $(seq 1 60); do
		[ "$(load_stat open_polls)" -ge "$LOAD_AGENTS" ] &&
		    [ "$(load_stat dead)" = 0 ] && { ok=1; break; }
		sleep 0.5
	done
	[ "$ok" = 1 ] && tap_ok "every simulated agent polls again, none given up" ||
	    tap_fail "every simulated agent polls again ($(grep '^agent_load: stats' "$T/load.out" | tail -n 1))"
	is "and none of them on $VICTIM" "$(lk_replica_conns "$VICTIM")" 0
fi
check "$VICTIM restarts on its port" lk_replica_restart "$VICTIM" \
    --max-conns-per-ip 0
check "HAProxy marks it up again" lk_haproxy_wait_up 3 10
lk_ha_use

# ---------------------------------------------------------------------
# 4. PostgreSQL restarted under load: calls go on through the balancer
# while the database stops and starts; each accepted one must end Success.
INVS=()
: >"$T/pg-calls"
end=$((SECONDS + 12))
(
	while [ "$SECONDS" -lt "$end" ]; do
		api_via RunCommand Type=RunShellScript Timeout=60 \
		    ContentEncoding=PlainText "CommandContent=echo pg" "${real[@]}" \
		    2>/dev/null | jq -r '.InvokeId // ("refused " + (.Code // "?"))' \
		    2>/dev/null >>"$T/pg-calls" || echo "no-answer" >>"$T/pg-calls"
		sleep 0.2
	done
) &
CALLS=$!
sleep 3
check "PostgreSQL stops (fast shutdown) under load" "$PGC" stop "$T/pg"
sleep 2
check "PostgreSQL starts again" "$PGC" start "$T/pg"
wait "$CALLS"
healthy() {
	local r
	for r in "${LK_REPLICAS[@]}"; do
		curl -sf --max-time 2 "http://127.0.0.1:$(port_of "$r")/healthz" \
		    >/dev/null || return 1
	done
}
check "every replica is healthy again by itself" lk_wait_until healthy
check "HAProxy holds all three up" lk_haproxy_wait_up 3 10
mapfile -t INVS < <(grep -E '^t-' "$T/pg-calls")
refused=$(grep -vcE '^t-' "$T/pg-calls")
[ "${#INVS[@]}" -gt 0 ] && tap_ok "${#INVS[@]} calls accepted around the restart ($refused refused or unanswered)" ||
    tap_fail "calls accepted around the restart ($(head -c 200 "$T/pg-calls"))"
check "every accepted invocation ends Success" wait_inv 60 "${INVS[@]}"
dups=$(grep -ho ' task start task=[^ ]*' "$T"/a[1-6].log | sort | uniq -d | wc -l)
is "still no task ran twice" "$dups" 0

stop_pidfile "$T/load.pid"
lk_haproxy_stop
echo "1..$LK_N"
