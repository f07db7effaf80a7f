#!/usr/bin/env bash
# The web console's terminal (issue 17) in a real browser: Debian's
# chromium, headless, driven by playwright-core (tests/browser/
# terminal.test.js), against latchkeyd and one latchkey-agent with
# --shell-users on loopback; no sshd.
#
# Connect on the instance page; uname -s shows Linux and id -un the user;
# stty size follows the viewport; copy and paste; api/terminal's answer
# and refusals; forged WebSockets (no console session, another Origin, no
# Origin, another console session, the token at /session) refused; exit
# ends the page's session, which (the agent runs with --record-shells)
# Replay on the instance page plays back; a user the key's policy does not allow is
# refused with 403 and never reaches the agent.
. "$(dirname "$0")/lib.sh"

lk_setup
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BROWSER=$SRC/tests/browser
CHROMIUM=${LK_CHROMIUM:-/usr/bin/chromium}
NODE_LIMIT=${LK_BROWSER_TIMEOUT:-300}
SHOTS=${LK_SCREENSHOTS:-$SRC/tests/logs/screenshots/$(basename "$LK_BUILD")}
LKD=$T/bin/latchkeyd

finish() { echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }
lk_need_built "$LKD" "$T/bin/latchkey-agent"
# No browser is a failure, never a skip.
if [ ! -x "$CHROMIUM" ]; then
	tap_fail "chromium is installed ($CHROMIUM; scripts/install-deps --test)"
	finish
fi
if ! command -v node >/dev/null || [ ! -d "$BROWSER/node_modules/playwright-core" ]; then
	tap_fail "node and playwright-core are installed (tests/browser; test_console.sh installs it)"
	finish
fi

lk_new_db lkd || { echo "not ok - a database"; exit 1; }
lk_must "an access key for $LK_ALICE" lk_accesskey AK --description term \
    --users "$LK_ALICE"
lk_must "an activation" lk_activation ACT --count 1
lk_must "latchkeyd starts" lk_lkd_start latchkeyd
lk_must "the agent registers" lk_agent_register agent
INSTANCE=${AGENT_IID:-none}
lk_must "the agent runs with --shell-users $LK_ALICE" lk_agent_run agent \
    --shell-users "$LK_ALICE" --record-shells
lk_must "latchkeyd session-manager enable" lk_lkd_admin session-manager enable
mkdir -p "$T/profile" "$SHOTS"

export LK_URL=$LKD_URL/console/ LK_AK_ID=$AK_ID LK_AK_SECRET=$AK_SECRET \
    LK_INSTANCE=$INSTANCE LK_LOGIN_USER=$LK_ALICE LK_SHOTS=$SHOTS \
    LK_PROFILE=$T/profile LK_CHROMIUM=$CHROMIUM \
    LK_TAP_COUNTS=$T/tap-counts LK_TAP_START=$LK_N
rm -f "$T/tap-counts"
timeout --kill-after=5 "$NODE_LIMIT" node "$BROWSER/terminal.test.js" \
    </dev/null 2>>"$T/node.log"
rc=$?
if [ -s "$T/tap-counts" ]; then
	read -r n f <"$T/tap-counts"
	LK_N=$n
	LK_FAILED=$((LK_FAILED + f))
else
	tap_fail "the browser test ended without a report (exit $rc; 124: timed out; $(tail -n 3 "$T/node.log" | tr '\n' ' '))"
fi

check "latchkeyd logged the console's terminal session" grep -q \
    "console terminal\" session=s-.* principal=$AK_ID" "$T/latchkeyd.log"
check "latchkeyd logged the refused forged dials" grep -q \
    "console terminal refused\" code=Forbidden.Origin" "$T/latchkeyd.log"
check "the agent ran the shell as $LK_ALICE" grep -q \
    "shell=1 user=$LK_ALICE" "$AGENT_LOG"
check "the agent was never asked for root" sh -c \
    "! grep -q 'shell=1 user=root' '$AGENT_LOG'"

check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "the agent stops on SIGTERM" lk_agent_stop agent
check "no sanitizer report in latchkeyd's or the agent's output" sh -c \
    "! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/latchkeyd.log' '$AGENT_LOG'"
check "latchkeyd's log has no secret" sh -c \
    "! grep -qF -- '$AK_SECRET' '$T/latchkeyd.log'"
lk_keep_logs
finish
