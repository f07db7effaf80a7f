#!/usr/bin/env bash
# latchkey-agent: the task runner through "exec-local" (the code the daemon
# runs a task with: timeout and process-group kill, output cap, user
# switch, error codes, stop), then register / status / run against a real
# latchkeyd on a loopback port with a fresh database, and tasks sent with
# the public API (RunCommand, StopInvocation: signature 1.0, signed here
# with openssl) that reach the agent and come back with their results.
# Every agent and server runs with its own state, log and spool in $T;
# their logs are kept in $LK_LOGDIR when a case fails.
. "$(dirname "$0")/lib.sh"

lk_setup
AGENT=$T/bin/latchkey-agent
LKD=$T/bin/latchkeyd
ALICE_HOME=$(getent passwd "$LK_ALICE" | cut -d: -f6)

if [ ! -x "$AGENT" ]; then
	tap_fail "latchkey-agent is built ($LK_BUILD/bin/latchkey-agent)"
	echo "1..$LK_N"; exit 1
fi

# field FILE KEY: a value of exec-local's report (indented, one key a line).
field() {
	sed -nE "s/^  \"$2\": \"?([^\",]*)\"?,?\$/\\1/p" "$1"
}
output() { field "$1" output | base64 -d; }

# exec NAME [exec-local options] -- SCRIPT: runs one task into $T/NAME.json.
exec_local() {
	local name=$1; shift
	"$AGENT" exec-local "$@" >"$T/$name.json" 2>"$T/$name.err"
}

# gone PID: the process has exited (a zombie that init has not reaped yet
# counts: it is dead); waits up to 3 s.
gone() {
	local i s
	for i in $(seq 1 60); do
		s=$(ps -o stat= -p "$1" 2>/dev/null)
		[ -z "$s" ] || [ "${s#Z}" != "$s" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------
# The command line.
check "--version prints the version" sh -c \
    "'$AGENT' --version | grep -qx 'latchkey-agent 1.4.0'"
check "--help prints the usage" sh -c "'$AGENT' --help | grep -q 'register --server URL'"
check_exit "an unknown command is a usage error (64)" 64 "$AGENT" frobnicate
check_exit "status without a state file says not registered (78)" 78 \
    "$AGENT" status --state "$T/none/agent.json"

# ---------------------------------------------------------------------
# The task runner, through exec-local.
exec_local ok -- 'echo hello; echo to-stderr >&2; exit 0'
is "exec-local: exit 0 is Success" "$(field "$T/ok.json" status)" Success
is "exec-local: stdout and stderr in one output" "$(output "$T/ok.json")" \
    "$(printf 'hello\nto-stderr')"

exec_local fail -- 'exit 3'
is "exec-local: exit 3 is Failed" "$(field "$T/fail.json" status)/$(field "$T/fail.json" exit_code)/$(field "$T/fail.json" error_code)" \
    "Failed/3/ExitCodeNonzero"

exec_local sig -- 'kill -KILL $$'
is "exec-local: killed by SIGKILL is Failed with exit code 137" \
    "$(field "$T/sig.json" status)/$(field "$T/sig.json" exit_code)" "Failed/137"

# Timeout: the shell, a background grandchild and one that ignores SIGTERM
# (it shares the process group) must all be gone.
start=$(date +%s)
exec_local timeout --timeout 1 -- "sleep 300 & echo \$! >$T/gc1.pid;
    (trap '' TERM; sleep 300) & echo \$! >$T/gc2.pid; echo started; sleep 300"
elapsed=$(($(date +%s) - start))
is "exec-local: timeout is Timeout/ExecutionTimeout" \
    "$(field "$T/timeout.json" status)/$(field "$T/timeout.json" error_code)" \
    "Timeout/ExecutionTimeout"
is "exec-local: output before the timeout is kept" "$(output "$T/timeout.json")" started
[ "$elapsed" -le 5 ] && tap_ok "exec-local: the timeout ends the task within 5 s ($elapsed s)" ||
    tap_fail "exec-local: the timeout ends the task within 5 s (took $elapsed s)"
check "exec-local: the background grandchild was killed" gone "$(cat "$T/gc1.pid")"
check "exec-local: the grandchild ignoring SIGTERM was killed" gone "$(cat "$T/gc2.pid")"

# Output cap: the first 24 KiB are kept, the rest is counted.
exec_local cap -- 'head -c 30000 /dev/zero | tr "\0" a'
is "exec-local: output is capped at 24576 bytes" \
    "$(field "$T/cap.json" output | base64 -d | wc -c | tr -d ' ')" 24576
is "exec-local: the rest is counted in dropped" "$(field "$T/cap.json" dropped)" 5424

# A background process that keeps the pipe open does not hold the task.
start=$(date +%s)
exec_local bg -- "sleep 30 & echo \$! >$T/bg.pid; echo done"
elapsed=$(($(date +%s) - start))
[ "$(field "$T/bg.json" status)" = Success ] && [ "$elapsed" -le 3 ] &&
    tap_ok "exec-local: the task ends with its shell, not its background job" ||
    tap_fail "exec-local: the task ends with its shell ($(field "$T/bg.json" status), $elapsed s)"
kill "$(cat "$T/bg.pid")" 2>/dev/null

# The user switch, its home as the directory, and the clean environment.
exec_local alice --user "$LK_ALICE" -- 'id -un; id -G; pwd; echo "$HOME $USER $LOGNAME"; env | cut -d= -f1 | sort | tr "\n" " "'
got=$(output "$T/alice.json")
is "exec-local --user: runs as $LK_ALICE" "$(echo "$got" | sed -n 1p)" "$LK_ALICE"
is "exec-local --user: with $LK_ALICE's groups only" "$(echo "$got" | sed -n 2p)" \
    "$(id -G "$LK_ALICE")"
is "exec-local --user: in $LK_ALICE's home" "$(echo "$got" | sed -n 3p)" "$ALICE_HOME"
is "exec-local --user: HOME USER LOGNAME" "$(echo "$got" | sed -n 4p)" \
    "$ALICE_HOME $LK_ALICE $LK_ALICE"
is "exec-local: a clean environment" "$(echo "$got" | sed -n 5p)" \
    "HOME LOGNAME PATH PWD SHELL USER "
FOO=bar exec_local env -- 'echo "$PATH"; echo "${FOO:-unset}"'
is "exec-local: the fixed PATH, nothing else of the agent's environment" \
    "$(output "$T/env.json" | tr '\n' ' ')" \
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin unset "

mkdir -p "$T/wd"
exec_local wd --user "$LK_ALICE" --dir "$T/wd" -- 'pwd; cat; echo eof'
is "exec-local --dir: runs in the directory, stdin is /dev/null" \
    "$(output "$T/wd.json" | tr '\n' ' ')" "$T/wd eof "

exec_local nodir --dir "$T/no/such/dir" -- 'pwd'
is "exec-local: a missing directory is Error/DirectoryNotExists" \
    "$(field "$T/nodir.json" status)/$(field "$T/nodir.json" error_code)" \
    "Error/DirectoryNotExists"
exec_local nouser --user lk-no-such-user -- 'id'
is "exec-local: an unknown user is Error/AccountNotExists" \
    "$(field "$T/nouser.json" status)/$(field "$T/nouser.json" error_code)" \
    "Error/AccountNotExists"
exec_local bat --type RunBatScript -- 'dir'
is "exec-local: RunBatScript is Error/CommandNotApplicable" \
    "$(field "$T/bat.json" status)/$(field "$T/bat.json" error_code)" \
    "Error/CommandNotApplicable"

start=$(date +%s)
exec_local stop --stop-after 300 -- "sleep 30 & echo \$! >$T/stop.pid; sleep 30"
elapsed=$(($(date +%s) - start))
is "exec-local --stop-after: Stopped" "$(field "$T/stop.json" status)" Stopped
[ "$elapsed" -le 4 ] && tap_ok "exec-local: a stop ends the task at once ($elapsed s)" ||
    tap_fail "exec-local: a stop ends the task at once (took $elapsed s)"
check "exec-local: a stop kills the process group" gone "$(cat "$T/stop.pid")"

# ---------------------------------------------------------------------
# Against a real latchkeyd.
if [ ! -x "$LKD" ]; then
	tap_fail "latchkeyd is built ($LK_BUILD/bin/latchkeyd)"
	echo "1..$LK_N"; exit 1
fi
if ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then
	tap_fail "curl and openssl are installed (the API calls are signed with them)"
	echo "1..$LK_N"; exit 1
fi
lk_new_db lkd || { echo "not ok - a database"; exit 1; }

# json_str KEY: a string member of the JSON on stdin (flat enough here).
json_num() { grep -o "\"$1\": *-\{0,1\}[0-9]*" | head -n 1 | sed -E 's/.*: *//'; }

check "latchkeyd accesskey create" lk_accesskey AK --description agent-test
check "latchkeyd activation create --count 1" lk_activation ACT --count 1

lk_lkd_start latchkeyd 2>"$T/last.err" && tap_ok "latchkeyd listens on $LKD_URL" ||
    tap_fail "latchkeyd listens ($(tr '\n' ' ' <"$T/last.err"))"
SERVER=$LKD_URL

STATE=$T/agent/agent.json
check_exit "register: a bad URL is a usage error (64)" 64 "$AGENT" register \
    --server "ftp://127.0.0.1:$LKD_PORT" --activation-id "$ACT_ID" \
    --activation-code "$ACT_CODE" --state "$STATE"
check "register: a bare host:port is 64, with both URLs it may mean" sh -c \
    "'$AGENT' register --server '127.0.0.1:$LKD_PORT' --activation-id x \
    --activation-code y --state '$T/none.json' 2>&1 >/dev/null | grep -q \
    'write https://127.0.0.1:$LKD_PORT .*or http://127.0.0.1:$LKD_PORT' &&
    [ ! -e '$T/none.json' ]"
check_exit "register: a bare host:port exits 64" 64 "$AGENT" register \
    --server "127.0.0.1:$LKD_PORT" --activation-id x --activation-code y \
    --state "$T/none.json"
check "register: https:// to a plain-HTTP latchkeyd says to use http://" sh -c \
    "'$AGENT' register --server 'https://127.0.0.1:$LKD_PORT' \
    --activation-id x --activation-code y --state '$T/none.json' 2>&1 |
    grep -q 'TLS on that port.*use an http:// URL'"
DEAD_PORT=$(lk_free_port)
check_exit "register: an unreachable server is 69" 69 "$AGENT" register \
    --server "http://127.0.0.1:$DEAD_PORT" --activation-id "$ACT_ID" \
    --activation-code "$ACT_CODE" --state "$STATE"
check_exit "register: a wrong activation code is refused (77)" 77 "$AGENT" \
    register --server "$SERVER" --activation-id "$ACT_ID" \
    --activation-code "wrong$ACT_CODE" --state "$STATE"
grep -q 'activation refused' "$T/last.err" &&
    tap_ok "register: the refusal is said clearly" ||
    tap_fail "register: the refusal is said clearly ($(head -c 300 "$T/last.err"))"
[ ! -e "$STATE" ] && tap_ok "register: nothing stored after a refusal" ||
    tap_fail "register: nothing stored after a refusal"

"$AGENT" register --server "$SERVER/" --activation-id "$ACT_ID" \
    --activation-code "$ACT_CODE" --state "$STATE" >"$T/register.out" 2>"$T/last.err"
rc=$?
IID=$(cat "$T/register.out")
[ "$rc" -eq 0 ] && printf '%s' "$IID" | grep -qE '^i-[0-9a-f]{20}$' &&
    tap_ok "register: a good activation prints the instance id ($IID)" ||
    tap_fail "register: good activation (exit $rc: $(head -c 300 "$T/last.err"))"
is "register: the state file is 0600 root:root" "$(stat -c '%a %U:%G' "$STATE" 2>/dev/null)" \
    "600 root:root"
is "register: the state file names the server and instance" \
    "$(json_str server <"$STATE") $(json_str instance_id <"$STATE")" "$SERVER $IID"
"$AGENT" status --state "$STATE" >"$T/status.out" 2>&1
is "status prints the instance id and server" \
    "$(grep -E '^(instance_id|server):' "$T/status.out" | tr '\n' ' ')" \
    "instance_id: $IID server: $SERVER "
check_exit "register: the used-up activation is refused (77)" 77 "$AGENT" \
    register --server "$SERVER" --activation-id "$ACT_ID" \
    --activation-code "$ACT_CODE" --state "$T/agent2/agent.json"

check "run: the agent says hello (log: conn connected)" lk_agent_run agent
wait_log() {	# wait_log REGEX SECONDS
	local i
	for i in $(seq 1 $(($2 * 20))); do
		grep -qE "$1" "$AGENT_LOG" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
check "run: one event a line, <time> <subsystem> <event>" sh -c \
    "grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z agent start version=1.4.0 ' '$AGENT_LOG'"

# ---------------------------------------------------------------------
# The public API, signature 1.0 (HMAC-SHA1), signed by lk_api (lib.sh)
# with AK_ID / AK_SECRET.
# wait_status INVOKE_ID STATUS... : waits up to 30 s for one of them.
wait_status() {
	local id=$1 i s; shift
	for i in $(seq 1 150); do
		lk_api DescribeInvocationResults "InvokeId=$id" "InstanceId=$IID" \
		    >"$T/result.json"
		s=$(json_str InvocationStatus <"$T/result.json")
		for want in "$@"; do [ "$s" = "$want" ] && return 0; done
		sleep 0.2
	done
	echo "last status: $s ($(head -c 400 "$T/result.json"))" >&2
	return 1
}

lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=30 \
    ContentEncoding=PlainText "CommandContent=id -un; echo from-agent" >"$T/run.json"
INV=$(json_str InvokeId <"$T/run.json")
[ -n "$INV" ] && tap_ok "RunCommand on the agent's instance ($INV)" ||
    tap_fail "RunCommand ($(head -c 300 "$T/run.json"))"
check "the task reaches the agent and ends Success" wait_status "$INV" Success
is "its exit code is 0" "$(json_num ExitCode <"$T/result.json")" 0
got=$(json_str Output <"$T/result.json")
[ "$got" = "$(printf 'root\nfrom-agent\n' | base64)" ] || [ "$got" = 'root\nfrom-agent\n' ] &&
    tap_ok "its output came back" || tap_fail "its output came back (got '$got')"
check "the agent logged the task's start and end" sh -c \
    "grep -q ' task start task=$INV' '$AGENT_LOG' && grep -q ' task end task=$INV.* status=Success' '$AGENT_LOG'"

lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=30 \
    ContentEncoding=PlainText "Username=$LK_ALICE" "WorkingDir=/nonexistent" \
    "CommandContent=pwd" >"$T/run.json"
INV=$(json_str InvokeId <"$T/run.json")
check "a missing WorkingDir comes back as Error" wait_status "$INV" Error Failed
is "with ErrorCode DirectoryNotExists" "$(json_str ErrorCode <"$T/result.json")" \
    DirectoryNotExists

# Two tasks run in parallel: both take 2 s, together well under 4 s.
start=$(date +%s)
lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=30 \
    ContentEncoding=PlainText "CommandContent=sleep 2" >"$T/run1.json"
lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=30 \
    ContentEncoding=PlainText "CommandContent=sleep 2" >"$T/run2.json"
wait_status "$(json_str InvokeId <"$T/run1.json")" Success &&
    wait_status "$(json_str InvokeId <"$T/run2.json")" Success
rc=$?
elapsed=$(($(date +%s) - start))
[ "$rc" -eq 0 ] && [ "$elapsed" -lt 4 ] &&
    tap_ok "two tasks run in parallel ($elapsed s)" ||
    tap_fail "two tasks run in parallel (rc $rc, $elapsed s)"

lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=60 \
    ContentEncoding=PlainText \
    "CommandContent=sleep 60 & echo \$! >$T/api-stop.pid; sleep 60" >"$T/run.json"
INV=$(json_str InvokeId <"$T/run.json")
check "a long task is Running on the agent" wait_status "$INV" Running
lk_api StopInvocation "InvokeId=$INV" "InstanceId.1=$IID" >"$T/stop.json"
check "StopInvocation stops it (Terminated)" wait_status "$INV" Terminated Stopped
check "the stop killed the task's process group" gone "$(cat "$T/api-stop.pid")"

lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=10 \
    ContentEncoding=PlainText "CommandContent=sleep 30" >"$T/run.json"
INV=$(json_str InvokeId <"$T/run.json")
check "a task past its Timeout ends Timeout" wait_status "$INV" Timeout Failed
is "with ErrorCode ExecutionTimeout" "$(json_str ErrorCode <"$T/result.json")" \
    ExecutionTimeout

# ---------------------------------------------------------------------
# The server goes away while a task runs: the report is spooled, retried,
# and delivered once the server is back; the agent reconnects.
lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=30 \
    ContentEncoding=PlainText "CommandContent=sleep 2; echo late" >"$T/run.json"
INV=$(json_str InvokeId <"$T/run.json")
wait_status "$INV" Running >/dev/null 2>&1
lk_lkd_stop
check "while the server is down, the finished task's report is spooled" sh -c \
    "for i in \$(seq 1 100); do ls '$T/agent/spool' 2>/dev/null | grep -q '^$INV' && exit 0; sleep 0.05; done; exit 1"
check "the agent logs that it retries" wait_log " report retry task=$INV" 10
# (restarted with --public-url, for the error bodies' Recommend below)
lk_lkd_start -p "$LKD_PORT" latchkeyd --public-url "$SERVER/" 2>>"$T/agent-test.err"
check "after the restart, the report is delivered: Success" wait_status "$INV" Success
check "the agent reconnected and said hello again" wait_log ' conn reconnected ' 40
check "the spool is empty again" sh -c "[ -z \"\$(ls -A '$T/agent/spool')\" ]"

# An error body's Recommend: with --public-url, the absolute link to the
# code's entry on the error page, which is served.
lk_api DeleteCommand CommandId=c-doesnotexist0000000 >"$T/err.json"
REC=$(json_str Recommend <"$T/err.json")
is "an error's Recommend is <public URL>/console/static/errors.html#Code" "$REC" \
    "$SERVER/console/static/errors.html#InvalidCmdId.NotFound"
check "the page is served as text/html with that anchor" sh -c \
    "curl -s -D '$T/page.hdr' --max-time 10 '${REC%%#*}' >'$T/page.html' &&
    grep -qi '^content-type: text/html' '$T/page.hdr' &&
    grep -q 'id=\"InvalidCmdId.NotFound\"' '$T/page.html'"

# ---------------------------------------------------------------------
# Fair shares of the agent's 128 task slots (docs/threading.md): one
# caller's tasks other than key pushes take at most 64 slots, and 16 are
# kept for key pushes; a task over its share waits, Pending.
lk_accesskey AK2 --description share-b 2>"$T/last.err"
as_b() { AK_ID=$AK2_ID AK_SECRET=$AK2_SECRET "$@"; }
# count STATUS: the caller's invocations in that InvocationStatus (the
# InvokeStatus filter's "Running" also matches Pending: subtract them)
count() {
	local n p
	n=$(lk_api DescribeInvocations "InvokeStatus=$1" PageSize=1 | json_num TotalCount)
	if [ "$1" = Running ]; then
		p=$(lk_api DescribeInvocations InvokeStatus=Pending PageSize=1 |
		    json_num TotalCount)
		n=$((n - p))
	fi
	echo "$n"
}
# count_is N STATUS: waits up to 30 s until exactly N are in STATUS
count_is() {
	local i n
	for i in $(seq 1 150); do
		n=$(count "$2")
		[ "$n" = "$1" ] && return 0
		sleep 0.2
	done
	echo "$n $2, wanted $1" >&2
	return 1
}
long_tasks() {	# long_tasks N FILE: N tasks of 120 s; their ids in FILE
	local i
	: >"$2"
	for i in $(seq 1 "$1"); do
		lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" \
		    Timeout=120 ContentEncoding=PlainText \
		    "CommandContent=sleep 120" | json_str InvokeId >>"$2"
	done
}
stop_all() {	# stop_all FILE: StopInvocation of each id in FILE
	local id
	while read -r id; do
		lk_api StopInvocation "InvokeId=$id" "InstanceId.1=$IID" >/dev/null
	done <"$1"
}
long_tasks 66 "$T/share-a.ids"
check "one caller's 66 long tasks: 64 run" count_is 64 Running
check "one caller's 66 long tasks: 2 wait, Pending" count_is 2 Pending
as_b long_tasks 48 "$T/share-b.ids"
check "another caller's tasks still run (48 of 48)" as_b count_is 48 Running
# quick_task TEXT: runs "echo TEXT" on the instance; its invoke id
quick_task() {
	lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=30 \
	    ContentEncoding=PlainText "CommandContent=echo $1" | json_str InvokeId
}
# status_after ID: its InvocationStatus 2 s later (time for a poll to take it)
status_after() {
	sleep 2
	lk_api DescribeInvocationResults "InvokeId=$1" "InstanceId=$IID" |
	    json_str InvocationStatus
}
WAITING=$(as_b quick_task after-the-storm)
is "with 112 slots taken by other tasks, a third task waits" \
    "$(as_b status_after "$WAITING")" Pending
SENDKEY_ID=$(lk_api DescribeCommands Provider=AlibabaCloud \
    Name=ACS-ECS-SendSshPublicKey-linux.sh | json_str CommandId)
as_b lk_api InvokeCommand "CommandId=$SENDKEY_ID" "InstanceId.1=$IID" \
    "Parameters={\"username\":\"$LK_ALICE\",\"sshPublicKey\":\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\"}" \
    >"$T/push.json"
PUSH=$(json_str InvokeId <"$T/push.json")
[ -n "$PUSH" ] && tap_ok "a key push is accepted ($PUSH)" ||
    tap_fail "a key push is accepted ($(head -c 300 "$T/push.json"))"
# The plug-in is not installed here: the push is handed out and ends
# (Failed), which is what matters: it was not left waiting for a slot.
check "a key push still gets a slot (handed out, not Pending)" as_b \
    wait_status "$PUSH" Success Failed Error
stop_all "$T/share-a.ids"
as_b stop_all "$T/share-b.ids"
check "once slots free, the waiting task runs" as_b wait_status "$WAITING" Success
check "the stopped tasks are no longer Running" count_is 0 Running

# An agent that dies without a goodbye (SIGKILL): its long poll's socket
# closes, and latchkeyd must not hand the next task to that poll (today's
# poll would have taken it, Running, for an agent that is gone).
apid=$(cat "$T/agent.pid")
kill -KILL "$apid"
wait "$apid" 2>/dev/null
sleep 0.5
INV=$(quick_task after-restart)
is "after the agent is killed, a new task stays Pending (no dead poll took it)" \
    "$(status_after "$INV")" Pending
lk_agent_run agent 2>>"$T/agent-test.err"
check "the agent restarted: the waiting task runs (Success)" wait_status "$INV" Success

# ---------------------------------------------------------------------
# POST /agent/v1/goodbye, hostile: each refused with its status, and the
# instance still online afterwards.
CRED=$(json_str credential <"$STATE")
bye() {		# bye STATUS [curl options]: the answer's HTTP status is STATUS
	local want=$1 got; shift
	got=$(curl -s -o "$T/bye.out" -w '%{http_code}' --max-time 10 "$@")
	[ "$got" = "$want" ] && return 0
	echo "HTTP $got, wanted $want: $(head -c 200 "$T/bye.out")" >&2
	return 1
}
agent_online() {	# agent_online true|false: CloudAssistantStatus of $IID
	lk_api DescribeCloudAssistantStatus "InstanceId.1=$IID" >"$T/cas.json"
	[ "$(json_str CloudAssistantStatus <"$T/cas.json")" = "$1" ] ||
	    { head -c 400 "$T/cas.json" >&2; return 1; }
}
check "goodbye without a credential: 401" bye 401 -X POST -d '{}' \
    "$SERVER/agent/v1/goodbye"
check "goodbye with a wrong credential: 401" bye 401 -X POST -d '{}' \
    -H "Authorization: Bearer $IID.AAAAwrongcredentialAAAAAAAAAAAAAAAAAAAAAAAA" \
    "$SERVER/agent/v1/goodbye"
check "goodbye for another instance's id with this credential: 401" bye 401 \
    -X POST -d '{}' -H "Authorization: Bearer i-00000000000000000000.$CRED" \
    "$SERVER/agent/v1/goodbye"
check "goodbye as GET: 404" bye 404 -H "Authorization: Bearer $IID.$CRED" \
    "$SERVER/agent/v1/goodbye"
check "goodbye with a body that is not JSON: 400" bye 400 -X POST \
    -d 'bye{' -H "Authorization: Bearer $IID.$CRED" "$SERVER/agent/v1/goodbye"
check "goodbye with a JSON array: 400" bye 400 -X POST -d '[]' \
    -H "Authorization: Bearer $IID.$CRED" "$SERVER/agent/v1/goodbye"
check "after the refused goodbyes the instance is still online" agent_online true

# SIGTERM: the agent stops polling, finishes, says goodbye and exits 0;
# the instance is offline at once, its last heartbeat kept.
apid=$(cat "$T/agent.pid")
kill -TERM "$apid"
rc=0
for i in $(seq 1 300); do kill -0 "$apid" 2>/dev/null || break; sleep 0.05; done
wait "$apid"; rc=$?
is "SIGTERM: the agent exits 0" "$rc" 0
check "SIGTERM: it logged its stop" wait_log ' agent stopped' 1
check "SIGTERM: it said goodbye (log: conn goodbye http=200)" \
    wait_log ' conn goodbye http=200' 1
check "after the goodbye the instance is offline at once" agent_online false
hb=$(json_str LastHeartbeatTime <"$T/cas.json")
hbs=$(date -u -d "$hb" +%s 2>/dev/null || echo 0)
[ $(($(date +%s) - hbs)) -lt 60 ] &&
    tap_ok "its LastHeartbeatTime is the goodbye ($hb)" ||
    tap_fail "its LastHeartbeatTime is the goodbye (got '$hb')"
lk_api DescribeInstances "InstanceIds=[\"$IID\"]" >"$T/di.json"
check "DescribeInstances shows it Stopped" grep -qE '"Status": *"Stopped"' \
    "$T/di.json"

# ---------------------------------------------------------------------
# Several server URLs (register --server, repeated): replicas of latchkeyd
# on one database. The agent moves to the next URL when one gives no
# answer or a 5xx, logs each reconnect once with the replica that answered
# (Latchkey-Replica), and names its unreported tasks in every poll
# (Latchkey-Running-Tasks).
lk_lkd_use latchkeyd
lk_activation FO --count 2 2>"$T/last.err" ||
    tap_fail "activation for the failover cases ($(head -c 200 "$T/last.err"))"
CLOSED_PORT=$(lk_free_port)
FOSTATE=$T/fo/agent.json
"$AGENT" register --server "http://127.0.0.1:$CLOSED_PORT" --server "$LKD_URL" \
    --activation-id "$FO_ID" --activation-code "$FO_CODE" --state "$FOSTATE" \
    >"$T/fo.register" 2>&1
rc=$?
FO_IID=$(json_str instance_id <"$FOSTATE" 2>/dev/null)
[ "$rc" -eq 0 ] && [ -n "$FO_IID" ] &&
    tap_ok "register with two --server URLs, the first a closed port: through the second" ||
    tap_fail "register with two --server URLs ($rc: $(head -c 300 "$T/fo.register"))"
is "the state file lists both URLs in order, the first as server" \
    "$(tr -d ' \n' <"$FOSTATE" | grep -o '"servers":\[[^]]*\]') $(json_str server <"$FOSTATE")" \
    "\"servers\":[\"http://127.0.0.1:$CLOSED_PORT\",\"$LKD_URL\"] http://127.0.0.1:$CLOSED_PORT"

# Hostile Latchkey-Running-Tasks headers (the ids meet a LIKE pattern in
# the store): wildcards, quotes, an id too long, too many ids; each 400.
FO_CRED=$(json_str credential <"$FOSTATE" 2>/dev/null)
many=$(for i in $(seq 1 129); do printf 't-%032d:i-x,' "$i"; done)
long=t-$(printf 'a%.0s' $(seq 1 100)):i-x
for h in 't-1%:i-x' 't-1_:i-x' "t-1':i-x" 't-1":i-x' 't-1\:i-x' \
    "${many%,}" "$long" 't-1:i-x,,t-2:i-x'; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	    -H "Authorization: Bearer $FO_IID.$FO_CRED" \
	    -H "Latchkey-Running-Tasks: $h" "$LKD_URL/agent/v1/poll?wait=1")
	is "a poll naming '$(printf '%.20s' "$h")' as running tasks is refused (400)" \
	    "$code" 400
done
"$AGENT" status --state "$FOSTATE" >"$T/fo.status" 2>&1
is "status prints every server URL" "$(grep '^server:' "$T/fo.status" | tr '\n' ' ')" \
    "server: http://127.0.0.1:$CLOSED_PORT server: $LKD_URL "
many=()
for i in 1 2 3 4 5 6 7 8 9; do many+=(--server "http://127.0.0.1:$((CLOSED_PORT + i))"); done
check_exit "register: more than 8 --server URLs is a usage error (64)" 64 "$AGENT" \
    register "${many[@]}" --activation-id x --activation-code y --state "$T/fo9/agent.json"
LKD_REPLICA=$(curl -s -D - -o /dev/null --max-time 10 "$LKD_URL/healthz" |
    tr -d '\r' | sed -n 's/^[Ll]atchkey-[Rr]eplica: //p')
if lk_agent_run fo 2>"$T/last.err" &&
    grep -qE " conn connected url=$LKD_URL replica=$LKD_REPLICA failures=[1-9]" "$AGENT_LOG"; then
	tap_ok "run: past the closed port, connected through the second URL to replica $LKD_REPLICA"
else
	tap_fail "run: connected through the second URL ($(grep ' conn ' "$AGENT_LOG" | tail -n 3 | tr '\n' ' '))"
fi
IID_SAVED=$IID
IID=$FO_IID
INV=$(quick_task through-the-second)
check "a task reaches the agent through the second URL (Success)" wait_status "$INV" Success
IID=$IID_SAVED
lk_agent_stop fo

# Two replicas. On PostgreSQL both run on one database and the first is
# killed (SIGKILL) under the agent; on SQLite two latchkeyd cannot share
# the file, so the second starts on it once the first is killed.
lk_lkd_stop latchkeyd
R2_PORT=$(lk_free_port)
lk_must "replica r1 starts" lk_lkd_start r1 --replica-id lk-r1
R1_URL=$LKD_URL
R2_URL=http://127.0.0.1:$R2_PORT
if [ "$LK_TEST_DB" = postgresql ]; then
	lk_must "replica r2 starts on the same database" lk_lkd_start -p "$R2_PORT" r2 \
	    --replica-id lk-r2
	lk_lkd_use r1
fi
lk_activation RR --count 1 2>"$T/last.err"
"$AGENT" register --server "$R1_URL" --server "$R2_URL" --activation-id "$RR_ID" \
    --activation-code "$RR_CODE" --state "$T/rr/agent.json" >"$T/rr.register" 2>&1
RR_IID=$(json_str instance_id <"$T/rr/agent.json" 2>/dev/null)
lk_must "the agent of two replicas registers and runs" lk_agent_run rr
check "it connected to the first replica (lk-r1)" \
    grep -qE " conn connected url=$R1_URL replica=lk-r1 " "$AGENT_LOG"
kill -KILL "$(cat "$T/r1.pid")"
wait "$(cat "$T/r1.pid")" 2>/dev/null
if [ "$LK_TEST_DB" != postgresql ]; then
	lk_must "replica r2 starts once r1 is gone" lk_lkd_start -p "$R2_PORT" r2 \
	    --replica-id lk-r2
fi
lk_lkd_use r2
check "after SIGKILL of r1, the agent logs its disconnection" \
    wait_log " conn disconnected url=$R1_URL replica=lk-r1\$" 20
check "and its reconnect to $R2_URL, replica lk-r2, with the time it was down" \
    wait_log " conn reconnected url=$R2_URL replica=lk-r2 previous_replica=lk-r1 failures=[0-9]+ down_ms=[0-9]+" 40
is "the disconnection and the reconnect are logged once each" \
    "$(grep -c ' conn disconnected ' "$AGENT_LOG") $(grep -c ' conn reconnected ' "$AGENT_LOG")" "1 1"
IID_SAVED=$IID
IID=$RR_IID
INV=$(quick_task through-r2)
check "a RunCommand through the second replica still runs (Success)" wait_status "$INV" Success
IID=$IID_SAVED
lk_agent_stop rr

# A fake server (two ports, a and b) shows what the agent sends: the
# Latchkey-Running-Tasks header of each poll, a task handed out again, a
# change of replica behind one URL (a balancer's failover), a 503.
mkdir -p "$T/fake"
cat >"$T/fake/fake.py" <<'PY'
import http.server, json, os, sys, threading, time
d = sys.argv[1]
def path(n): return os.path.join(d, n)
def log(line):
    with open(path("requests.log"), "a") as f: f.write(line + "\n")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, code, body):
        b = json.dumps(body).encode()
        try: rep = open(path(self.server.name + ".replica")).read().strip()
        except OSError: rep = "fake-" + self.server.name
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.send_header("Latchkey-Replica", rep)
        self.end_headers()
        self.wfile.write(b)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        run = self.headers.get("Latchkey-Running-Tasks")
        p = self.path.split("?")[0]
        extra = ""
        if p == "/agent/v1/result":
            extra = " task=" + json.loads(body).get("task_id", "")
        log("%s %s %s running=%s%s" % (self.server.name, self.command, p,
            "ABSENT" if run is None else "[" + run + "]", extra))
        if os.path.exists(path(self.server.name + ".fail")):
            return self.answer(503, {"error": "fake failure"})
        if p == "/agent/v1/poll":
            tasks = []
            try:
                tasks = json.load(open(path("tasks.json")))
                os.unlink(path("tasks.json"))
            except OSError: time.sleep(0.3)
            return self.answer(200, {"tasks": tasks})
        return self.answer(200, {})
    do_GET = do_POST = handle_any
for name, port in (("a", int(sys.argv[2])), ("b", int(sys.argv[3]))):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    s.name = name
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
open(path("ready"), "w").close()
while True: time.sleep(3600)
PY
FA_PORT=$(lk_free_port)
FB_PORT=$(lk_free_port)
while [ "$FB_PORT" = "$FA_PORT" ]; do FB_PORT=$(lk_free_port); done
lk_pidfile "$T/fake.pid"
python3 "$T/fake/fake.py" "$T/fake" "$FA_PORT" "$FB_PORT" >"$T/fake.out" 2>&1 &
echo $! >"$T/fake.pid"
lk_must "the fake server listens" lk_wait_listen "$!" "$FB_PORT" "$T/fake.out" fake
FA=http://127.0.0.1:$FA_PORT
FB=http://127.0.0.1:$FB_PORT
# A state file of before "servers": one "server" only.
mkdir -p "$T/fake-agent"
printf '{"server":"%s","instance_id":"i-fake0000000000000000","credential":"fakecred"}\n' \
    "$FA" >"$T/fake-agent/agent.json"
chmod 0600 "$T/fake-agent/agent.json"
lk_must "the agent runs on an old state file (one server)" lk_agent_run fake-agent
FREQ=$T/fake/requests.log
fake_wait() {	# fake_wait ERE [SECONDS]: a request line of the fake matches
	local i
	for i in $(seq 1 $((${2:-20} * 20))); do
		grep -qE -- "$1" "$FREQ" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no request matching $1 (last: $(tail -n 2 "$FREQ" | tr '\n' ' '))" >&2
	return 1
}
check "a poll with no task running sends an empty Latchkey-Running-Tasks" \
    fake_wait '^a GET /agent/v1/poll running=\[\]$'
TASK='[{"task_id":"t-fake-1","command_type":"RunShellScript","timeout":30,"content":"echo run >>'"$T"'/fake/runs; sleep 3"}]'
printf '%s' "$TASK" >"$T/fake/tasks.json"
check "the task handed out starts" wait_log ' task start task=t-fake-1 ' 10
check "the next polls name it in Latchkey-Running-Tasks" \
    fake_wait '^a GET /agent/v1/poll running=\[t-fake-1\]$'
printf '%s' "$TASK" >"$T/fake/tasks.json"
check "handed out again while it runs: logged as a duplicate, not run" \
    wait_log ' task duplicate task=t-fake-1$' 10
check "its result is reported" fake_wait '^a POST /agent/v1/result .* task=t-fake-1$' 20
check "and taken off the queue" wait_log ' report sent task=t-fake-1$' 10
printf '%s' "$TASK" >"$T/fake/tasks.json"
check "handed out again after its report: still a duplicate" sh -c \
    "for i in \$(seq 1 200); do [ \$(grep -c ' task duplicate task=t-fake-1\$' '$AGENT_LOG') -ge 2 ] && exit 0; sleep 0.05; done; exit 1"
is "the task ran once" "$(wc -l <"$T/fake/runs" | tr -d ' ')" 1
n=$(grep -c 'poll running=\[\]$' "$FREQ")
check "once reported, the polls' list is empty again" sh -c \
    "for i in \$(seq 1 200); do [ \$(grep -c 'poll running=\[\]\$' '$FREQ') -gt $n ] && exit 0; sleep 0.05; done; exit 1"
n_hello=$(grep -c '^a POST /agent/v1/hello' "$FREQ")
echo fake-other >"$T/fake/a.replica"
check "another replica behind the same URL is logged (replica-changed)" \
    wait_log " conn replica-changed url=$FA replica=fake-other previous_replica=fake-a\$" 10
check "and the new replica gets a hello" sh -c \
    "for i in \$(seq 1 200); do [ \$(grep -c '^a POST /agent/v1/hello' '$FREQ') -gt $n_hello ] && exit 0; sleep 0.05; done; exit 1"
is "no reconnect was logged for it (no failure)" \
    "$(grep -c ' conn reconnected ' "$AGENT_LOG")" 0
lk_agent_stop fake-agent

# Two URLs, the first answering 503: the agent moves on and stays.
printf '{"servers":["%s","%s"],"instance_id":"i-fake0000000000000000","credential":"fakecred"}\n' \
    "$FA" "$FB" >"$T/fake-agent/agent.json"
: >"$T/fake/a.fail"
lk_must "the agent runs with a first URL answering 503" lk_agent_run fake-agent
check "it logged the 503 of the first URL" grep -qE \
    " conn http-error request=hello url=$FA http=503 " "$AGENT_LOG"
check "and connected through the second" grep -qE \
    " conn connected url=$FB replica=fake-b " "$AGENT_LOG"
rm -f "$T/fake/a.fail"
na=$(grep -c '^a ' "$FREQ")
nb=$(grep -c '^b GET /agent/v1/poll' "$FREQ")
sleep 2
[ "$(grep -c '^a ' "$FREQ")" -eq "$na" ] &&
    [ "$(grep -c '^b GET /agent/v1/poll' "$FREQ")" -gt "$nb" ] &&
    tap_ok "after a success it stays on that URL" ||
    tap_fail "after a success it stays on that URL (a: $na -> $(grep -c '^a ' "$FREQ"))"
lk_agent_stop fake-agent

lk_keep_logs
echo "1..$LK_N"
