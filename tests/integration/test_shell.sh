#!/usr/bin/env bash
# Shell sessions (issue 17): latchkey session against the real programs,
# latchkeyd and the agent on loopback, no sshd at all.
#
# Through tmux (send-keys, capture-pane): a prompt, id -un prints the
# allowed user, a resize is seen by stty size, Ctrl-C interrupts a sleep,
# exit 3 makes latchkey exit 3, and the terminal's settings (stty -g) are
# the same after. Without a terminal: stdin streamed to cat, exit 5. The
# policy: a user the key may not use is refused with 403 and a user not in
# the agent's --shell-users with 4009, neither starting a process. The
# agent killed (SIGKILL) mid-session: the client ends with a clear message
# and nothing of that session's shell is left.
. "$(dirname "$0")/lib.sh"

lk_setup
LK=$T/bin/latchkey
lk_need_built "$LK" "$T/bin/latchkeyd" "$T/bin/latchkey-agent"
command -v tmux >/dev/null || { echo "not ok 1 - tmux is installed"; exit 1; }
TM="tmux -L lk-shell-$$ -f /dev/null"

shell_cleanup() {
	$TM kill-server 2>/dev/null
	lk_cleanup
}
trap shell_cleanup EXIT

lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_must "an access key for $LK_ALICE and $LK_BOB" lk_accesskey AK \
    --description shell --users "$LK_ALICE,$LK_BOB"
lk_must "an activation" lk_activation ACT --count 1
lk_must "latchkeyd starts" lk_lkd_start latchkeyd --allow-plain-http
lk_must "the agent registers" lk_agent_register agent
INST=${AGENT_IID:-none}
lk_must "the agent runs with --shell-users $LK_ALICE" lk_agent_run agent \
    --shell-users "$LK_ALICE"
lk_must "latchkeyd session-manager enable" lk_lkd_admin session-manager enable

export HOME=$T/home LATCHKEY_CONFIG=$T/home/lk.json
mkdir -p "$HOME"
export LATCHKEY_ENDPOINT=$LKD_URL ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID

# The processes of user U, as a sorted PID list.
pids_of() { pgrep -u "$1" | sort -n | tr '\n' ' '; }

# ---------------------------------------------------------------------
# Without a terminal.
out=$(echo hi | "$LK" session --user "$LK_ALICE" "$INST" -- cat 2>"$T/cat.err")
rc=$?
is "echo hi | latchkey session -- cat prints hi" "$out" "hi"
is "... and exits 0" "$rc" 0
"$LK" session --user "$LK_ALICE" "$INST" -- 'exit 5' </dev/null 2>"$T/e5.err"
is "-- 'exit 5' exits 5" "$?" 5
out=$("$LK" session --user "$LK_ALICE" "$INST" -- 'id -un; echo err >&2' \
    </dev/null 2>/dev/null)
is "the command runs as $LK_ALICE, stderr merged" "$out" "$LK_ALICE
err"
out=$("$LK" session "$INST" --user "$LK_ALICE" -- 'id -un; uname -s' \
    </dev/null 2>"$T/after.err")
is "options after INSTANCE (session INST --user U -- CMD): as U" "$out" \
    "$LK_ALICE
Linux"
"$LK" session --user "$LK_ALICE" "$INST" -- 'kill -TERM $$' </dev/null \
    2>/dev/null
is "a command killed by SIGTERM: 128 + 15" "$?" 143
check "DescribeTerminalSessions lists a shell session with Kind and no PortNumber" \
    python3 -c '
import json, subprocess, sys
j = json.loads(subprocess.check_output([sys.argv[1], "sessions", "--output",
    "json", sys.argv[2]]))
s = j["Sessions"]["Session"][0]
assert s["Kind"] == "shell" and "PortNumber" not in s, s
assert s["Username"] == sys.argv[3], s
' "$LK" "$INST" "$LK_ALICE"

# ---------------------------------------------------------------------
# Policy: refused before anything reaches the agent, or by the agent.
before=$(pids_of root | wc -w)
err=$("$LK" session --user root "$INST" -- id </dev/null 2>&1)
rc=$?
is "a user the key may not use: latchkey exits 4 (the API refused)" "$rc" 4
check "... with 403 Forbidden.RAM" grep -q 'Forbidden.RAM' <<<"$err"
check "... and the agent was not asked (no hand-out in its log)" sh -c \
    "! grep -q 'shell=1 user=root' '$AGENT_LOG'"
bob_before=$(pids_of "$LK_BOB")
err=$("$LK" session --user "$LK_BOB" "$INST" -- 'sleep 30' </dev/null 2>&1)
rc=$?
is "a user not in --shell-users: latchkey exits 255" "$rc" 255
check "... the agent's refusal (4009) is told" grep -q \
    "refused the shell session (4009).*--shell-users" <<<"$err"
is "... and no process of $LK_BOB was started" "$(pids_of "$LK_BOB")" \
    "$bob_before"

# ---------------------------------------------------------------------
# In a terminal, through tmux.
cat >"$T/run-session" <<EOF
#!/bin/sh
stty -g >"$T/stty.before"
"$LK" session --user "$LK_ALICE" "$INST" 2>"$T/tty.err"
echo "LKEXIT=\$?" >"$T/tty.exit"
stty -g >"$T/stty.after"
exec sleep 600
EOF
chmod 0755 "$T/run-session"
$TM new-session -d -s sh -x 100 -y 30 "$T/run-session"
pane() { $TM capture-pane -p -t sh 2>/dev/null; }
# wait_pane ERE [SECONDS]: until the pane shows ERE.
wait_pane() {
	local i
	for i in $(seq 1 $((${2:-10} * 10))); do
		pane | grep -Eq "$1" && return 0
		sleep 0.1
	done
	echo "# the pane:" >&2; pane | sed 's/^/# /' >&2
	return 1
}
send() { $TM send-keys -t sh "$@"; }
check "a prompt appears" wait_pane '[$#] *$'
send 'id -un' Enter
check "id -un prints $LK_ALICE" wait_pane "^$LK_ALICE\$"
send 'stty size' Enter
check "stty size is the window's (30 100)" wait_pane '^30 100$'
$TM resize-window -t sh -x 90 -y 25 2>/dev/null ||
    $TM resize-pane -t sh -x 90 -y 25
send 'stty size' Enter
check "a resize is seen by stty size (25 90)" wait_pane '^25 90$'
send 'sleep 30; echo slept' Enter
sleep 1
send C-c
send 'echo after-$?' Enter
check "Ctrl-C interrupts the sleep (130)" wait_pane 'after-130$' 5
check "... which did not finish" sh -c "! $TM capture-pane -p -t sh | grep -q '^slept$'"
send 'exit 3' Enter
for i in $(seq 1 100); do [ -s "$T/tty.exit" ] && break; sleep 0.1; done
is "exit 3 makes latchkey exit 3" "$(cat "$T/tty.exit" 2>/dev/null)" "LKEXIT=3"
for i in $(seq 1 20); do [ -s "$T/stty.after" ] && break; sleep 0.1; done
is "the terminal is as it was (stty -g)" "$(cat "$T/stty.after" 2>/dev/null)" \
    "$(cat "$T/stty.before")"
$TM kill-server 2>/dev/null

# ---------------------------------------------------------------------
# The agent killed mid-session: nothing of the session's shell remains.
# The session's processes: its sh -c and the three sleeps, not zombies
# (a PID 1 that does not reap leaves them), not other tests' processes of
# the same user (the suite runs two lanes side by side).
session_pids() {
	ps -u "$LK_ALICE" -o pid=,stat=,args= |
	    awk '$2 !~ /^Z/ && /sleep 30[012]/ { print $1 }' | tr '\n' ' '
}
"$LK" session --user "$LK_ALICE" --resume-wait 3 "$INST" -- \
    'sleep 300 & setsid sleep 301 & sleep 302' </dev/null \
    >"$T/kill.out" 2>"$T/kill.err" &
LKPID=$!
for i in $(seq 1 100); do pgrep -u "$LK_ALICE" -f 'sleep 302' >/dev/null && break; sleep 0.1; done
check "the session's command runs" pgrep -u "$LK_ALICE" -f 'sleep 302'
check "its three sleeps run (one in a session of its own)" sh -c \
    "[ \$(ps -u '$LK_ALICE' -o args= | grep -c '^sleep 30[012]\$') -eq 3 ]"
kill -KILL "$(cat "$AGENT_PIDFILE")"
# Within the keeper's grace (1 s) and a little.
left=
for i in $(seq 1 50); do
	left=$(session_pids)
	[ -z "$left" ] && break
	sleep 0.1
done
is "agent SIGKILLed: no process of the session remains (also a setsid one)" \
    "$left" ""
[ -z "$left" ] || ps -o pid,ppid,stat,cmd -u "$LK_ALICE" | sed 's/^/# /'
rc=
for i in $(seq 1 900); do
	kill -0 "$LKPID" 2>/dev/null || { wait "$LKPID"; rc=$?; break; }
	sleep 0.1
done
[ -z "$rc" ] && kill "$LKPID" 2>/dev/null
is "... the client ends with 255" "${rc:-still running}" 255
check "... saying why" grep -Eq 'session s-[a-z0-9]+ ended: .*\([0-9]+\)' \
    "$T/kill.err"
check "... once, and asking whether the agent on \$INST runs" sh -c "
    [ \$(grep -o 'the agent did not answer' '$T/kill.err' | wc -l) -le 1 ] &&
    grep -q 'is latchkey-agent running on $INST' '$T/kill.err'"
sed 's/^/# /' "$T/kill.err"

echo "1..$LK_N"
