#!/usr/bin/env bash
# Shell sessions' recordings (issue 17 item 4): the real agent with
# --record-shells, latchkeyd and latchkey on loopback.
#
# A recorded session replays the same text it showed: the "o" events of
# the recording, concatenated, are byte for byte what latchkey printed,
# without a terminal and through tmux (where a resize is an "r" event).
# --record-max truncates and says so (a marker event, Truncated, the CLI's
# warning). An upload made while latchkeyd is down stays in the agent's
# spool, is logged, and is sent once latchkeyd is back. Another access key
# gets 403. Hostile uploads (not asciicast, over --recording-max, another
# instance's session, a port session, a bad id) are refused with nothing
# stored.
. "$(dirname "$0")/lib.sh"

lk_setup
LK=$T/bin/latchkey
lk_need_built "$LK" "$T/bin/latchkeyd" "$T/bin/latchkey-agent"
command -v tmux >/dev/null || { echo "not ok 1 - tmux is installed"; exit 1; }
TM="tmux -L lk-rec-$$ -f /dev/null"

rec_cleanup() {
	$TM kill-server 2>/dev/null
	lk_cleanup
}
trap rec_cleanup EXIT

RECMAX=65536
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_must "an access key for $LK_ALICE" lk_accesskey AK --description rec \
    --users "$LK_ALICE"
lk_must "another access key" lk_accesskey AK2 --description other \
    --users "$LK_ALICE"
lk_must "an activation for two instances" lk_activation ACT --count 2
LKD_OPTS=(--allow-plain-http --session-resume-wait 3 --recording-max "$RECMAX")
lk_must "latchkeyd starts" lk_lkd_start latchkeyd "${LKD_OPTS[@]}"
lk_must "the agent registers" lk_agent_register agent
INST=${AGENT_IID:-none}
lk_must "a second instance registers (not running)" lk_agent_register other
INST2=${AGENT_IID:-none}
lk_must "the agent runs with --record-shells" lk_agent_run agent \
    --shell-users "$LK_ALICE" --record-shells
lk_must "latchkeyd session-manager enable" lk_lkd_admin session-manager enable
SPOOL=$T/agent/recordings
check "the agent's recordings spool is root's, 0700" sh -c \
    "[ \"\$(stat -c '%U %a' '$SPOOL')\" = 'root 700' ]"

export HOME=$T/home LATCHKEY_CONFIG=$T/home/lk.json
mkdir -p "$HOME"
export LATCHKEY_ENDPOINT=$LKD_URL ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
unset LATCHKEY_PROFILE ALIBABA_CLOUD_REGION_ID

# The ids of the instance's sessions, one a line (mark them before a
# session with "sids >$T/before", then new_sid finds its id: creation
# times are seconds, so the newest is not always first).
sids() {
	"$LK" sessions --max 100 --output json "$INST" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["Sessions"]["Session"]:
    print(s["SessionId"])'
}
new_sid() { sids | grep -vxF -f "$T/before" | head -n 1; }
# fetch SID FILE: the recording into FILE, waiting up to 15 s for it.
fetch() {
	local i
	for i in $(seq 1 150); do
		"$LK" sessions --recording "$1" >"$2" 2>"$2.err" && return 0
		sleep 0.1
	done
	cat "$2.err" >&2
	return 1
}
# same_text CAST FILE: the "o" events of CAST, concatenated, are FILE's
# bytes (as UTF-8).
same_text() {
	python3 - "$1" "$2" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
h = json.loads(lines[0])
assert h["version"] == 2, h
out = "".join(e[2] for e in map(json.loads, filter(None, lines[1:]))
              if e[1] == "o")
want = open(sys.argv[2], "rb").read().decode("utf-8", "replace")
if out != want:
    sys.exit("differ:\n recorded %r\n shown    %r" % (out[-300:], want[-300:]))
PY
}
# cast_has CAST CODE DATA-ERE: an event of CODE whose data matches.
cast_has() {
	python3 - "$@" <<'PY'
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")[1:]
ev = [json.loads(l) for l in lines if l]
sys.exit(0 if any(e[1] == sys.argv[2] and re.search(sys.argv[3], e[2])
                  for e in ev) else "no such event")
PY
}

# wait_for FILE ERE TENTHS: until FILE has a line matching ERE.
wait_for() {
	local i
	for i in $(seq 1 "$3"); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------
# Without a terminal.
sids >"$T/before"
"$LK" session --user "$LK_ALICE" "$INST" -- \
    'printf "one\ntwo\r\n"; echo "wörld €"; printf "\033[1mbold\033[0m\tt\\\\ \"q\"\n"; seq 1 2000' \
    </dev/null >"$T/pipe.out" 2>"$T/pipe.err"
is "a command without a terminal exits 0" "$?" 0
SID1=$(new_sid)
check "its recording is stored (latchkey sessions --recording)" fetch \
    "$SID1" "$T/pipe.cast"
check "a recorded session replays the same text it showed (no terminal)" \
    same_text "$T/pipe.cast" "$T/pipe.out"
check "... its header is asciicast v2 with TERM dumb" grep -q \
    '^{"version":2,"width":80,"height":24,"timestamp":[0-9]*,"env":{"TERM":"dumb"}}$' \
    "$T/pipe.cast"
check "... and the spool is empty once it is stored" sh -c \
    "[ -z \"\$(ls -A '$SPOOL')\" ]"
check "DescribeTerminalSessions says HasRecording" python3 -c '
import json, subprocess, sys
j = json.loads(subprocess.check_output([sys.argv[1], "sessions", "--output",
    "json", sys.argv[2]]))
s = [s for s in j["Sessions"]["Session"] if s["SessionId"] == sys.argv[4]][0]
assert s["HasRecording"] is True and s["RecordingTruncated"] is False, s
assert s["RecordingSize"] == int(sys.argv[3]), s
' "$LK" "$INST" "$(stat -c %s "$T/pipe.cast")" "$SID1"
check "the audit trail has session.recording" sh -c \
    "'$T/bin/latchkeyd' --db '$DB' --config /dev/null audit export --file '$T/audit.jsonl' >/dev/null && grep -q '\"session.recording\".*$SID1' '$T/audit.jsonl'"

# ---------------------------------------------------------------------
# Another access key.
out=$(AK_ID=$AK2_ID AK_SECRET=$AK2_SECRET lk_api \
    DescribeTerminalSessionRecording SessionId="$SID1")
check "another access key gets 403 Forbidden.SessionOwner" grep -q \
    '"Code":"Forbidden.SessionOwner"' <<<"$out"
check "... and no recording" bash -c "! grep -q Recording <<<'$out'"

# ---------------------------------------------------------------------
# Through tmux: a terminal, a resize.
cat >"$T/run-session" <<EOF2
#!/bin/sh
"$LK" session --user "$LK_ALICE" "$INST" 2>"$T/tty.err" | tee "$T/tty.out"
echo done >"$T/tty.exit"
exec sleep 600
EOF2
chmod 0755 "$T/run-session"
sids >"$T/before"
$TM new-session -d -s rec -x 100 -y 30 "$T/run-session"
pane() { $TM capture-pane -p -t rec 2>/dev/null; }
wait_pane() {
	local i
	for i in $(seq 1 $((${2:-10} * 10))); do
		pane | grep -Eq "$1" && return 0
		sleep 0.1
	done
	echo "# the pane:" >&2; pane | sed 's/^/# /' >&2
	return 1
}
send() { $TM send-keys -t rec "$@"; }
check "a prompt appears in tmux" wait_pane '[$#] *$'
send 'echo marker-$((6*7))' Enter
check "echo runs" wait_pane '^marker-42$'
$TM resize-window -t rec -x 90 -y 25 2>/dev/null ||
    $TM resize-pane -t rec -x 90 -y 25
send 'stty size' Enter
check "the resize reached the shell (25 90)" wait_pane '^25 90$'
send 'exit' Enter
for i in $(seq 1 100); do [ -s "$T/tty.exit" ] && break; sleep 0.1; done
$TM kill-server 2>/dev/null
SID2=$(new_sid)
check "the terminal session's recording is stored" fetch "$SID2" \
    "$T/tty.cast"
check "a recorded session replays the same text it showed (tmux)" \
    same_text "$T/tty.cast" "$T/tty.out"
check "... the header has the first size and xterm-256color" grep -q \
    '^{"version":2,"width":100,"height":30,.*"TERM":"xterm-256color"' \
    "$T/tty.cast"
check "... the resize is an \"r\" event 90x25" cast_has "$T/tty.cast" r '^90x25$'
check "... and marker-42 an \"o\" event" cast_has "$T/tty.cast" o 'marker-42'

# ---------------------------------------------------------------------
# The limit.
lk_must "the agent stops" lk_agent_stop agent
lk_must "the agent runs with --record-max $RECMAX" lk_agent_run agent \
    --shell-users "$LK_ALICE" --record-shells --record-max "$RECMAX"
sids >"$T/before"
"$LK" session --user "$LK_ALICE" "$INST" -- \
    'head -c 300000 /dev/zero | tr "\0" x; echo; echo end-of-output' \
    </dev/null >"$T/big.out" 2>/dev/null
is "a session with 300 KB of output exits 0" "$?" 0
check "... and showed all of it" grep -q '^end-of-output$' "$T/big.out"
SID3=$(new_sid)
check "its recording is stored" fetch "$SID3" "$T/big.cast"
check "... no larger than --record-max" test "$(stat -c %s "$T/big.cast")" \
    -le "$RECMAX"
check "... ending with the truncation marker" sh -c \
    "tail -n 1 '$T/big.cast' | grep -q '\"m\", \"latchkey: recording truncated: limit of $RECMAX bytes\"'"
check "... without the output after the limit" sh -c \
    "! grep -q end-of-output '$T/big.cast'"
check "latchkey says it is truncated" grep -q 'truncated' "$T/big.cast.err"
out=$(lk_api DescribeTerminalSessionRecording SessionId="$SID3")
check "DescribeTerminalSessionRecording: Truncated true" grep -q \
    '"Truncated":true' <<<"$out"
check "the agent logged the truncation" grep -q \
    "recording truncated session=$SID3" "$AGENT_LOG"

# ---------------------------------------------------------------------
# latchkeyd down when the session ends: spooled, logged, sent later.
sids >"$T/before"
"$LK" session --user "$LK_ALICE" --resume-wait 2 "$INST" -- \
    'echo before-the-outage; sleep 2; echo after-it' \
    </dev/null >"$T/down.out" 2>"$T/down.err" &
LKPID=$!
lk_wait_log "$T/down.out" 'before-the-outage' 1
SID4=$(new_sid)
lk_must "latchkeyd stops (by its PID)" lk_lkd_stop latchkeyd
wait "$LKPID"
check "the agent could not upload: logged" lk_wait_log "$AGENT_LOG" \
    "recording upload-failed session=$SID4" 1
check "... and the recording waits in the spool (0600)" sh -c \
    "[ \"\$(stat -c '%U %a' '$SPOOL/$SID4.cast')\" = 'root 600' ]"
lk_must "latchkeyd starts again on its port" lk_lkd_start -p "$LKD_PORT" \
    latchkeyd "${LKD_OPTS[@]}"
# Its retries back off to 20 s (+-50 %): up to 45 s.
check "the agent sent it once latchkeyd was back" wait_for "$AGENT_LOG" \
    "recording uploaded session=$SID4" 450
check "it is stored" fetch "$SID4" "$T/down.cast"
check "... with what the shell printed" cast_has "$T/down.cast" o \
    'before-the-outage'
check "... and the spool is empty" sh -c "[ -z \"\$(ls -A '$SPOOL')\" ]"

# ---------------------------------------------------------------------
# Hostile uploads, with the agents' own credentials.
CRED1=$(json_str credential <"$T/agent/agent.json")
CRED2=$(json_str credential <"$T/other/agent.json")
# A shell session that never connects: nothing records it.
out=$(lk_api StartTerminalSession InstanceId.1="$INST" Username="$LK_ALICE")
SID5=$(printf '%s' "$out" | json_str SessionId)
check "a shell session left Pending (no recording)" test -n "$SID5"
GOOD='{"version":2,"width":80,"height":24}
[0.5, "o", "forged\r\n"]'
# upload IID CRED SID FILE: prints the HTTP status.
upload() {
	curl -s -o "$T/up.body" -w '%{http_code}' --max-time 10 \
	    -H "Authorization: Bearer $1.$2" --data-binary "@$4" \
	    "$LKD_URL/agent/v1/recording/$3"
}
printf '%s\n' "$GOOD" >"$T/good.cast"
printf 'not asciicast\n' >"$T/junk.cast"
python3 -c '
import sys
body = "{\"version\":2,\"width\":80,\"height\":24}\n"
body += "[0.1, \"o\", \"%s\"]\n" % ("y" * (int(sys.argv[1]) + 10))
open(sys.argv[2], "w").write(body)' "$RECMAX" "$T/huge.cast"
is "another instance's session: 404" \
    "$(upload "$INST2" "$CRED2" "$SID5" "$T/good.cast")" 404
is "not asciicast: 400" "$(upload "$INST" "$CRED1" "$SID5" "$T/junk.cast")" 400
is "over --recording-max: 413" \
    "$(upload "$INST" "$CRED1" "$SID5" "$T/huge.cast")" 413
is "a bad credential: 401" \
    "$(upload "$INST" "nope" "$SID5" "$T/good.cast")" 401
# A forged Bearer gets the ordinary body limit (1 MiB) at most: a body over
# it is refused before latchkeyd holds it. (With --recording-max above
# 1 MiB, only a registered agent's credential raises the limit: http.c.)
python3 -c '
import sys
open(sys.argv[1], "w").write("x" * (1024 * 1024 + 4096))' "$T/big-forged.cast"
is "a forged credential with a body over 1 MiB: 413" \
    "$(upload "$INST" "nope" "$SID5" "$T/big-forged.cast")" 413
is "not a session id: 400" \
    "$(upload "$INST" "$CRED1" "s-../x" "$T/good.cast")" 400
out=$(lk_api DescribeTerminalSessionRecording SessionId="$SID5")
check "... nothing was stored (InvalidRecording.NotFound)" grep -q \
    '"Code":"InvalidRecording.NotFound"' <<<"$out"
is "the instance's own upload of it: 200" \
    "$(upload "$INST" "$CRED1" "$SID5" "$T/good.cast")" 200
out=$(lk_api DescribeTerminalSessionRecording SessionId="$SID5")
check "... stored as sent" grep -q 'forged' <<<"$out"
is "... a junk second upload is still refused: 400" \
    "$(upload "$INST" "$CRED1" "$SID5" "$T/junk.cast")" 400
printf '%s\n' '{"version":2,"width":80,"height":24}' '[0.5, "o", "other"]' \
    >"$T/other.cast"
upload "$INST" "$CRED1" "$SID5" "$T/other.cast" >/dev/null
out=$(lk_api DescribeTerminalSessionRecording SessionId="$SID5")
check "... the first one stays" bash -c \
    "grep -q forged <<<'$out' && ! grep -q other <<<'$out'"
check "refusals are in the audit trail" sh -c \
    "'$T/bin/latchkeyd' --db '$DB' --config /dev/null audit export --file '$T/audit2.jsonl' >/dev/null && grep -q 'InvalidRecording.Format' '$T/audit2.jsonl'"

check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "the agent stops on SIGTERM" lk_agent_stop agent
check "no sanitizer report in latchkeyd's or the agent's output" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/latchkeyd.log' '$T/agent.out' '$AGENT_LOG'"

echo "1..$LK_N"
