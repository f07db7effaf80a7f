#!/usr/bin/env bash
# The configuration files of latchkeyd and latchkey-agent
# (latchkeyd.conf(5)): every key of each program parsed (the list below
# must cover every long option --help shows), each bad value refused with
# FILE:LINE, unknown and duplicate keys refused, --check-config and
# check-config, the command line winning over the file, and a daemon and
# an agent that really take their settings from a file.
. "$(dirname "$0")/lib.sh"

lk_setup
LKD=$T/bin/latchkeyd
AGENT=$T/bin/latchkey-agent
lk_need_built "$LKD" "$AGENT"

# out_is STATUS ERE CMD...: CMD exits STATUS with ERE on stdout or stderr.
out_is() {
	local want=$1 pat=$2 rc; shift 2
	"$@" >"$T/out.txt" 2>&1; rc=$?
	[ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$T/out.txt" && return 0
	echo "exit $rc, wanted $want: $(head -c 600 "$T/out.txt")" >&2
	return 1
}

# ---------------------------------------------------------------------
# latchkeyd: every key, a good value and a bad one (with the reason).
declare -A GOOD=(
	[db]="$T/conf.db" [listen]=127.0.0.1:1 [tls-cert]=$T/c.pem
	[tls-key]=$T/k.pem [region]=cn-test [master-key]=$T/m.key [json]=yes
	[actions]='*' [instances]='i-*' [users]=root [description]='a b #c'
	[count]=5 [ttl]=3600 [debug]=no [public-url]=https://lk.example
	[replica-id]=r-1 [advertise-url]=https://r1.example
	[session-idle-timeout]=60 [session-token-ttl]=60
	[session-resume-wait]=0 [session-buffer]=65536 [allow-plain-http]=on
	[max-connections]=100 [max-conns-per-ip]=0 [workers]=2
	[header-timeout]=5 [body-timeout]=5 [idle-timeout]=5
	[sessions-per-key]=3 [conn-memory]=16 [io-threads]=1 [log-format]=json
	[metrics-listen]=off [audit-file]=$T/audit.jsonl [no-audit]=no
	[audit-syslog]=no [audit-syslog-socket]=$T/syslog.sock
	[audit-webhook]=http://127.0.0.1:9/hook [instance-name]=web
	[ip-range]=10.0.0.0/8 [recording-max]=1048576
	[host-ca]=yes [hostca-validity]=86400
)
declare -A BAD=(
	[region]='x1234567890123456789012345678901234567890123456789012345678901234'
	[json]=maybe [count]=0 [ttl]=59 [debug]=2 [public-url]=ftp://x
	[replica-id]='a.b' [advertise-url]=lk.example
	[session-idle-timeout]=86401 [session-token-ttl]=-1
	[session-resume-wait]=3601 [session-buffer]=65535
	[allow-plain-http]=yess [max-connections]=15 [max-conns-per-ip]=1e3
	[workers]=65 [header-timeout]=0 [body-timeout]=x [idle-timeout]=3601
	[sessions-per-key]=21 [conn-memory]=7 [io-threads]=17 [log-format]=xml
	[metrics-listen]=localhost [no-audit]=maybe [audit-syslog]=maybe
	[recording-max]=1000
	[audit-webhook]=ftp://x
	[host-ca]=sometimes [hostca-validity]=3599
)
CMDLINE_ONLY="config check-config help version file"

# Every long option of --help is a key here, or command-line only.
missing=
for o in $("$LKD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	k=${o#--}
	[ -n "${GOOD[$k]+x}" ] || [[ " $CMDLINE_ONLY " == *" $k "* ]] ||
	    missing="$missing $k"
done
is "every option of latchkeyd --help has a key in this test" "$missing" ""

: >"$T/all.conf"
echo "# every key" >>"$T/all.conf"
for k in "${!GOOD[@]}"; do
	printf '%s = %s\n' "$k" "${GOOD[$k]}" >>"$T/all.conf"
done
check "latchkeyd --check-config: a file with every key is ok" \
    out_is 0 "^$T/all.conf: ok\$" "$LKD" --config "$T/all.conf" --check-config

n_bad=0
for k in "${!BAD[@]}"; do
	printf 'region = cn-a\n\n%s = %s\n' "$k" "${BAD[$k]}" >"$T/bad.conf"
	[ "$k" = region ] && printf '%s = %s\n' "$k" "${BAD[$k]}" >"$T/bad.conf"
	line=3; [ "$k" = region ] && line=1
	out_is 1 "^latchkeyd: $T/bad.conf:$line: $k: " \
	    "$LKD" --config "$T/bad.conf" --check-config || {
		tap_fail "bad value of $k refused with its line"; n_bad=1; }
done
[ "$n_bad" -eq 0 ] && tap_ok "each of ${#BAD[@]} bad values refused with FILE:LINE: key:"

printf 'workers = 2\nbogus = 1\n' >"$T/u.conf"
check "an unknown key is refused" out_is 1 \
    "^latchkeyd: $T/u.conf:2: unknown key \"bogus\"" \
    "$LKD" --config "$T/u.conf" --check-config
printf 'workers = 2\n# x\nworkers = 3\n' >"$T/d.conf"
check "a duplicate key is refused" out_is 1 \
    "^latchkeyd: $T/d.conf:3: workers: set twice \(first on line 1\)" \
    "$LKD" --config "$T/d.conf" --check-config
for k in $CMDLINE_ONLY; do
	printf '%s = x\n' "$k" >"$T/c.conf"
	check "$k is refused in the file" out_is 1 \
	    "c.conf:1: $k: only on the command line" \
	    "$LKD" --config "$T/c.conf" --check-config
done
printf 'workers = 2\nregion = a\0b\n' >"$T/nul.conf"
check "a NUL byte is refused" out_is 1 "nul.conf:2: NUL byte" \
    "$LKD" --config "$T/nul.conf" --check-config
head -c 5000 /dev/zero | tr '\0' a | sed 's/^/description = /' >"$T/long.conf"
check "a long line is refused" out_is 1 "long.conf:1: line longer than 4096" \
    "$LKD" --config "$T/long.conf" --check-config
check "a missing --config file is an error" out_is 1 "nope.conf: No such file" \
    "$LKD" --config "$T/nope.conf" --check-config
check "a missing --config file stops latchkeyd" out_is 2 "nope.conf: No such file" \
    "$LKD" --config "$T/nope.conf" --db "$T/x.db" accesskey list
check "a bad file stops latchkeyd before it opens the database" \
    out_is 2 "u.conf:2: unknown key" \
    "$LKD" --config "$T/u.conf" --db "$T/x.db" accesskey list
check "  and no database was created" [ ! -e "$T/x.db" ]
check "--check-config: the plain-HTTP rule checked" out_is 1 "not loopback" \
    "$LKD" --listen 192.0.2.1:80 --config /dev/null --check-config
check "--check-config: the last --config is read" out_is 0 "^/dev/null: ok" \
    "$LKD" --config "$T/u.conf" --listen 192.0.2.1:80 --allow-plain-http \
    --config /dev/null --check-config
printf 'listen = 192.0.2.1:80\nallow-plain-http = no\n' >"$T/p.conf"
check "--check-config: allow-plain-http = no keeps the rule" out_is 1 \
    "not loopback" "$LKD" --config "$T/p.conf" --check-config
check "--help works whatever the file says" out_is 0 "^usage: latchkeyd" \
    "$LKD" --config "$T/u.conf" --help

# ---------------------------------------------------------------------
# latchkeyd serving from a file; the command line wins.
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
printf '# latchkeyd.conf\nworkers = 3   # threads\nregion = cn-conf\n' \
    >"$T/serve.conf"
check "latchkeyd starts with --config" lk_lkd_start lkd --config "$T/serve.conf"
check "  the file's workers are used" grep -q ' workers=3 ' "$LKD_LOG"
check "  the file's region is used" grep -q 'region=cn-conf' "$LKD_LOG"
lk_lkd_stop
check "latchkeyd starts with --config and --workers 2" \
    lk_lkd_start -p "$LKD_PORT" lkd --workers 2 --config "$T/serve.conf"
check "  the command line's workers win" grep -q ' workers=2 ' "$LKD_LOG"
lk_lkd_stop
if [ "${LK_TEST_DB:-sqlite}" = sqlite ]; then
	printf 'db = %s\njson = yes\n' "$DB" >"$T/admin.conf"
	check "an admin command takes db and json from the file" out_is 0 \
	    '"AccessKeyId"' "$LKD" --config "$T/admin.conf" accesskey create
fi

# ---------------------------------------------------------------------
# latchkey-agent: every key of its --help, checked by check-config.
declare -A AGOOD=(
	[server]=https://a.example [activation-id]=act-1
	[activation-code]=code-1 [state]=$T/ag/agent.json [cacert]=$T/ca.pem
	[log]=$T/ag.log [foreground]=yes [debug]=no [session-ports]=22,2222
	[hostkey-check]=60 [log-format]=text [shell-users]=lk-alice
	[sshd-log]=none [machine-id]=none [record-shells]=yes
	[record-max]=1048576 [host-certificates]=yes
)
declare -A ABAD=(
	[server]=ftp://x [activation-id]='a b' [activation-code]='x y'
	[foreground]=sure [debug]=2 [session-ports]=0 [hostkey-check]=86401
	[log-format]=JSON [sshd-log]=relative/path [host-certificates]=maybe
)
ACMDLINE_ONLY="config help version user dir type timeout stop-after"
missing=
for o in $("$AGENT" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	k=${o#--}
	[ -n "${AGOOD[$k]+x}" ] || [[ " $ACMDLINE_ONLY " == *" $k "* ]] ||
	    missing="$missing $k"
done
is "every option of latchkey-agent --help has a key in this test" "$missing" ""
: >"$T/agent.conf"
for k in "${!AGOOD[@]}"; do
	printf '%s = %s\n' "$k" "${AGOOD[$k]}" >>"$T/agent.conf"
done
echo "server = https://b.example" >>"$T/agent.conf"
check "agent check-config: every key (server twice) is ok" \
    out_is 0 "^$T/agent.conf: ok\$" "$AGENT" check-config --config "$T/agent.conf"
n_bad=0
for k in "${!ABAD[@]}"; do
	printf '# x\n%s = %s\n' "$k" "${ABAD[$k]}" >"$T/abad.conf"
	out_is 64 "^latchkey-agent: $T/abad.conf:2: $k: " \
	    "$AGENT" check-config --config "$T/abad.conf" || {
		tap_fail "agent: bad value of $k refused with its line"; n_bad=1; }
done
[ "$n_bad" -eq 0 ] && tap_ok "agent: each of ${#ABAD[@]} bad values refused with FILE:LINE: key:"
for k in $ACMDLINE_ONLY; do
	printf '%s = x\n' "$k" >"$T/ac.conf"
	check "agent: $k is refused in the file" out_is 64 \
	    "ac.conf:1: ($k: only on the command line|unknown key \"$k\")" \
	    "$AGENT" check-config --config "$T/ac.conf"
done
printf 'state = /a\nstate = /b\n' >"$T/ad.conf"
check "agent: a duplicate key is refused" out_is 64 \
    "ad.conf:2: state: set twice \(first on line 1\)" \
    "$AGENT" check-config --config "$T/ad.conf"
printf 'stat = /a\n' >"$T/au.conf"
check "agent: an unknown key is refused" out_is 64 'au.conf:1: unknown key "stat"' \
    "$AGENT" status --config "$T/au.conf"
check "agent: a missing --config file is an error" out_is 64 "nope: No such file" \
    "$AGENT" status --config "$T/nope"

# Registration and status from the file; the command line's --server
# replaces the file's (an unreachable one here).
lk_lkd_start lkd >/dev/null 2>&1 || tap_fail "latchkeyd restarts"
lk_activation ACT --count 2 2>"$T/last.err"
printf 'server = http://127.0.0.1:1\nactivation-id = %s\nactivation-code = %s\nstate = %s\n' \
    "$LK_ACT_ID" "$LK_ACT_CODE" "$T/reg/agent.json" >"$T/reg.conf"
check "agent register: the file's server unreachable" out_is 69 \
    "cannot reach the server" "$AGENT" register --config "$T/reg.conf"
check "agent register: the command line's --server wins over the file's" \
    out_is 0 '^i-' "$AGENT" register --config "$T/reg.conf" --server "$LKD_URL"
check "agent status: the state file from the file" out_is 0 \
    "^server: $LKD_URL" "$AGENT" status --config "$T/reg.conf"
lk_lkd_stop
