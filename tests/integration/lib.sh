# Shared setup for integration tests: sourced by tests/integration/test_*.sh.
#
# Every test prints TAP lines ("ok N - name" / "not ok N - name"), runs real
# programs (the built binaries, Debian's sshd and ssh) in a scratch root
# under /run (root-owned, 0755, as sshd requires of an
# AuthorizedKeysCommand's path), stops only the processes it started, by
# the PIDs it recorded, and keeps sshd's log in $LK_LOGDIR when a case fails.
set -u

: "${LK_BUILD:?set LK_BUILD to a build directory (build or build-asan)}"
LK_LOGDIR=${LK_LOGDIR:-/tmp}
LK_TESTNAME=$(basename "$0" .sh)
LK_N=0
LK_FAILED=0
LK_PIDFILES=()

# The accounts tests log in as; created once, kept (idempotent).
LK_ALICE=lk-alice
LK_BOB=lk-bob
LK_HELPER_USER=latchkey-authkeys
LK_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

tap_ok() { LK_N=$((LK_N + 1)); echo "ok $LK_N - $*"; }
tap_fail() {
	LK_N=$((LK_N + 1)); LK_FAILED=$((LK_FAILED + 1))
	echo "not ok $LK_N - $*"
}
# check NAME CMD...: CMD must succeed.
check() {
	local name=$1; shift
	if "$@" >"$T/last.out" 2>"$T/last.err"; then tap_ok "$name"
	else tap_fail "$name (exit $?: $(head -c 300 "$T/last.err"))"; fi
}
# check_exit NAME STATUS CMD...: CMD must exit with STATUS.
check_exit() {
	local name=$1 want=$2 rc; shift 2
	"$@" >"$T/last.out" 2>"$T/last.err"; rc=$?
	if [ "$rc" -eq "$want" ]; then tap_ok "$name"
	else tap_fail "$name (exit $rc, wanted $want: $(head -c 300 "$T/last.err"))"; fi
}
# is NAME GOT WANT
is() {
	if [ "$2" = "$3" ]; then tap_ok "$1"
	else tap_fail "$1 (got '$2', wanted '$3')"; fi
}

# lk_must NAME CMD...: CMD must succeed, or the test fails once (NAME,
# with CMD's stderr, e.g. the end of a daemon's log) and ends. Prints no
# TAP line when CMD succeeds.
lk_must() {
	local name=$1; shift
	"$@" 2>"$T/must.err" && return 0
	tap_fail "$name ($(tr '\n' ' ' <"$T/must.err" | head -c 600))"
	echo "1..$LK_N"; exit 1
}

# lk_need_built PROG...: each must be an executable of the build; a test
# that lacks one fails once, says which, and ends.
lk_need_built() {
	local prog
	for prog in "$@"; do
		[ -x "$prog" ] && continue
		tap_fail "$(basename "$prog") is built ($LK_BUILD/bin)"
		echo "1..$LK_N"; exit 1
	done
}

lk_ensure_user() {
	local u=$1
	if ! getent passwd "$u" >/dev/null; then
		useradd -m -s /bin/sh "$u" || return 1
	fi
	# sshd without PAM refuses locked accounts; '*' is "no password".
	# (Only when needed: tests run side by side, and usermod locks
	# /etc/shadow.)
	[ "$(getent shadow "$u" | cut -d: -f2)" = '*' ] || usermod -p '*' "$u"
}

lk_ensure_helper_user() {
	getent passwd "$LK_HELPER_USER" >/dev/null ||
	    useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin "$LK_HELPER_USER"
}

# Makes the scratch root $T with a root-owned copy of the binaries in $T/bin.
lk_setup() {
	T=$(mktemp -d /run/latchkey-test.XXXXXX) || exit 1
	chmod 0755 "$T"
	mkdir -p "$T/bin" "$T/sshd"
	install -m 0755 -o root -g root "$LK_BUILD"/bin/* "$T/bin/"
	trap lk_cleanup EXIT
	lk_ensure_user "$LK_ALICE" && lk_ensure_user "$LK_BOB" &&
	    lk_ensure_helper_user || { echo "not ok - cannot create test users"; exit 1; }
	mkdir -p /run/sshd
}

# The EXIT trap: SIGTERM to every process in LK_PIDFILES, the logs kept
# when a case failed (lk_keep_logs), the scratch root removed.
lk_cleanup() {
	local pf pid
	for pf in "${LK_PIDFILES[@]}"; do
		[ -f "$pf" ] && pid=$(cat "$pf") && [ -n "$pid" ] &&
		    kill "$pid" 2>/dev/null
	done
	[ -n "${LK_OWN_PG:-}" ] && "$LK_SRC/tests/tools/pg-cluster" stop "$LK_OWN_PG"
	if [ -n "${LK_NS:-}" ]; then
		sleep 0.3	# the namespace's processes end first
		lk_netns_del
	fi
	lk_keep_logs
	rm -rf "$T"
	[ "$LK_FAILED" -eq 0 ]
	exit $?
}

# The storage backend the tests run latchkeyd on: LK_TEST_DB=sqlite (the
# default) or postgresql. PostgreSQL databases live in the cluster at
# LK_TEST_PG_DIR (tests/run starts one for the whole run), or in one this
# test starts in its scratch root.
LK_TEST_DB=${LK_TEST_DB:-sqlite}
lk_pg_ensure() {
	if [ -z "${LK_TEST_PG_DIR:-}" ]; then
		LK_TEST_PG_DIR=$T/pg
		LK_OWN_PG=$T/pg
		"$LK_SRC/tests/tools/pg-cluster" start "$LK_TEST_PG_DIR" || return 1
	fi
}
# lk_new_db NAME: sets DB to a new, empty database for latchkeyd's --db: the
# file $T/NAME.db, or a new PostgreSQL database (its URI) whose master key
# is $T/NAME.master.key (LATCHKEYD_MASTER_KEY, exported).
lk_new_db() {
	case "$LK_TEST_DB" in
	sqlite)
		DB=$T/$1.db ;;
	postgresql)
		lk_pg_ensure || return 1
		DB=$("$LK_SRC/tests/tools/pg-cluster" createdb "$LK_TEST_PG_DIR" \
		    "lk_${LK_TESTNAME}_${1}_$$_$RANDOM") || return 1
		export LATCHKEYD_MASTER_KEY=$T/$1.master.key ;;
	*)
		echo "LK_TEST_DB: sqlite or postgresql, not $LK_TEST_DB" >&2
		return 1 ;;
	esac
}

# ---------------------------------------------------------------------
# The daemons. One set of functions starts, waits for, stops and logs
# latchkeyd and latchkey-agent for every test and benchmark (OpenSSH's
# regress/test-exec.sh is the model): each daemon writes its log to
# $T/NAME.log, its PID to $T/NAME.pid (in LK_PIDFILES, so lk_cleanup stops
# it), and a start that does not come up returns 1 with the end of the
# log on stderr. See docs/testing.md.

LK_START_SECONDS=${LK_START_SECONDS:-20}

# lk_bin PROG: the program of the build under test ($LK_BIN, default $T/bin).
lk_bin() { echo "${LK_BIN:-$T/bin}/$1"; }

# lk__tail FILE: the last lines of FILE on stderr, indented.
lk__tail() {
	echo "last lines of $1:" >&2
	tail -n "${2:-5}" "$1" 2>/dev/null | sed 's/^/  /' >&2
}

# lk_lkd_start [-a ADDR] [-p PORT] NAME [OPTION...]: latchkeyd --db "$DB"
# (lk_new_db) --listen ADDR:PORT OPTION... in the background; ADDR is
# 127.0.0.1 unless -a says otherwise, PORT a free one unless -p gives it
# (a restart on the same port). Waits until it listens. Sets LKD_NAME,
# LKD_PORT, LKD_ADDR, LKD_URL (https:// with --tls-cert), LKD_PID,
# LKD_PIDFILE ($T/NAME.pid) and LKD_LOG ($T/NAME.log, appended to) for
# the latchkeyd started last; lk_lkd_use NAME makes another one current.
lk_lkd_start() {
	local addr=127.0.0.1 port='' name opt o scheme=http OPTIND=1
	while getopts a:p: opt; do
		case $opt in
		a) addr=$OPTARG ;;
		p) port=$OPTARG ;;
		*) echo "usage: lk_lkd_start [-a ADDR] [-p PORT] NAME [OPTION...]" >&2
		   return 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	name=${1:?lk_lkd_start NAME}; shift
	if [ -z "${DB:-}" ]; then
		echo "lk_lkd_start $name: no database (lk_new_db first)" >&2
		return 1
	fi
	if [ -z "$port" ]; then
		port=$(lk_free_port) ||
		    { echo "lk_lkd_start $name: no free port" >&2; return 1; }
	fi
	for o in "$@"; do [ "$o" = --tls-cert ] && scheme=https; done
	LK_LKD_DB[$name]=$DB
	LK_LKD_KEY[$name]=${LATCHKEYD_MASTER_KEY:-}
	LK_LKD_ADDR[$name]=$addr
	LK_LKD_PORT[$name]=$port
	LK_LKD_SCHEME[$name]=$scheme
	lk_lkd_use "$name"
	lk_pidfile "$LKD_PIDFILE"
	"$(lk_bin latchkeyd)" --db "$DB" --listen "$addr:$port" \
	    $(lk_noconf "$@") $(lk_nometrics "$@") "$@" \
	    >>"$LKD_LOG" 2>&1 </dev/null &
	LKD_PID=$!
	echo "$LKD_PID" >"$LKD_PIDFILE"
	lk_wait_listen "$LKD_PID" "$port" "$LKD_LOG" "latchkeyd $name"
}

# lk_lkd_use NAME: makes the latchkeyd NAME current (LKD_*, and DB and
# LATCHKEYD_MASTER_KEY as it was started with).
declare -gA LK_LKD_DB=() LK_LKD_KEY=() LK_LKD_ADDR=() LK_LKD_PORT=() \
    LK_LKD_SCHEME=()
lk_lkd_use() {
	local name=$1
	[ -n "${LK_LKD_PORT[$name]:-}" ] ||
	    { echo "lk_lkd_use: no latchkeyd $name" >&2; return 1; }
	LKD_NAME=$name
	DB=${LK_LKD_DB[$name]}
	if [ -n "${LK_LKD_KEY[$name]}" ]; then
		export LATCHKEYD_MASTER_KEY=${LK_LKD_KEY[$name]}
	fi
	LKD_ADDR=${LK_LKD_ADDR[$name]}
	LKD_PORT=${LK_LKD_PORT[$name]}
	LKD_URL=${LK_LKD_SCHEME[$name]}://$LKD_ADDR:$LKD_PORT
	LKD_PIDFILE=$T/$name.pid
	LKD_LOG=$T/$name.log
	LKD_PID=$(cat "$LKD_PIDFILE" 2>/dev/null)
}

# lk_lkd_stop [NAME]: SIGTERM to the latchkeyd NAME (default: the current
# one), then up to 10 s for it to go (stop_pidfile).
lk_lkd_stop() {
	stop_pidfile "$T/${1:-$LKD_NAME}.pid"
}

# lk_lkd_admin ARG...: the latchkeyd command line on the current database
# (latchkeyd --db "$DB" ARG...).
lk_lkd_admin() {
	"$(lk_bin latchkeyd)" --db "$DB" $(lk_noconf "$@") "$@"
}

# lk_noconf ARG...: "--config /dev/null" unless ARG... has a --config: the
# programs a test starts never read the machine's /etc/latchkey files
# (test_deb installs packages that may leave some while others run).
lk_noconf() {
	local a
	for a in "$@"; do
		case $a in --config|--config=*) return 0 ;; esac
	done
	echo "--config /dev/null"
}

# lk_nometrics ARG...: "--metrics-listen off" unless ARG... names a
# --metrics-listen or a --config (whose file may): the many latchkeyd of a
# test run do not all reach for the default 127.0.0.1:9188 (the first
# would take it, the others warn), nor for a real service's port.
lk_nometrics() {
	local a
	for a in "$@"; do
		case $a in
		--metrics-listen|--metrics-listen=*|--config|--config=*) return 0 ;;
		esac
	done
	echo "--metrics-listen off"
}

# lk_accesskey VAR [OPTION...]: latchkeyd accesskey create OPTION... on
# the current database; sets VAR_ID and VAR_SECRET. Returns 1, with
# latchkeyd's error on stderr, when either is missing.
lk_accesskey() {
	local var=$1 j; shift
	j=$(lk_lkd_admin accesskey create "$@" --json) || return 1
	printf -v "${var}_ID" '%s' "$(printf '%s' "$j" | json_str AccessKeyId)"
	printf -v "${var}_SECRET" '%s' \
	    "$(printf '%s' "$j" | json_str AccessKeySecret)"
	local id=${var}_ID secret=${var}_SECRET
	[ -n "${!id}" ] && [ -n "${!secret}" ] ||
	    { echo "accesskey create printed no AccessKeyId or AccessKeySecret" >&2
	      return 1; }
}

# lk_activation VAR [OPTION...]: latchkeyd activation create OPTION...
# (e.g. --count 3); sets VAR_ID and VAR_CODE, and LK_ACT_ID and
# LK_ACT_CODE, which lk_agent_register uses.
lk_activation() {
	local var=$1 j; shift
	j=$(lk_lkd_admin activation create "$@" --json) || return 1
	LK_ACT_ID=$(printf '%s' "$j" | json_str ActivationId)
	LK_ACT_CODE=$(printf '%s' "$j" | json_str ActivationCode)
	printf -v "${var}_ID" '%s' "$LK_ACT_ID"
	printf -v "${var}_CODE" '%s' "$LK_ACT_CODE"
	[ -n "$LK_ACT_ID" ] && [ -n "$LK_ACT_CODE" ] ||
	    { echo "activation create printed no activation: $j" >&2; return 1; }
}

# lk_agent_register NAME [OPTION...]: latchkey-agent register with the
# last lk_activation against the current latchkeyd, state in
# $T/NAME/agent.json (its spool beside it), output in $T/NAME.register.
# Sets AGENT_IID (the instance id); returns register's exit status. With
# LK_NETNS set, in that network namespace.
# Agents of one test share a machine: none sends a machine id (which
# would make each replace the one before) unless LK_AGENT_MACHINE_ID says.
# Nor does an agent touch the machine's own /run/latchkey (its key store
# and clock-skew file), /var/lib/latchkey or sshd: LATCHKEY_ROOT is the
# test's (set before the call) or else $T/agent-root, an empty scratch root.
lk_agent_root() {
	if [ -n "${LATCHKEY_ROOT:-}" ]; then
		printf '%s' "$LATCHKEY_ROOT"	# the test's, as it is
	else
		mkdir -p "$T/agent-root" && printf '%s' "$T/agent-root"
	fi
}

lk_agent_register() {
	local name=$1 ns=() rc; shift
	[ -n "${LK_NETNS:-}" ] && ns=(ip netns exec "$LK_NETNS")
	AGENT_IID=
	"${ns[@]}" env LATCHKEY_ROOT="$(lk_agent_root)" \
	    "$(lk_bin latchkey-agent)" register $(lk_noconf "$@") \
	    --server "$LKD_URL" \
	    --activation-id "${LK_ACT_ID:-}" \
	    --activation-code "${LK_ACT_CODE:-}" \
	    --machine-id "${LK_AGENT_MACHINE_ID:-none}" \
	    --state "$T/$name/agent.json" "$@" >"$T/$name.register" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		lk__tail "$T/$name.register" 3
		return "$rc"
	fi
	AGENT_IID=$(json_str instance_id <"$T/$name/agent.json")
}

# lk_agent_run NAME [OPTION...]: latchkey-agent run --foreground with the
# state of lk_agent_register NAME, its log in $T/NAME.log (appended to),
# output in $T/NAME.out, PID in $T/NAME.pid; waits until it has said
# hello once more (log: conn connected). Sets AGENT_PID, AGENT_PIDFILE,
# AGENT_LOG. Variables set before the call (LATCHKEY_ROOT=...
# lk_agent_run a) reach the agent. With LK_NETNS set, in that namespace.
lk_agent_run() {
	local name=$1 ns=() n0; shift
	[ -n "${LK_NETNS:-}" ] && ns=(ip netns exec "$LK_NETNS")
	AGENT_LOG=$T/$name.log
	AGENT_PIDFILE=$T/$name.pid
	n0=$(grep -c ' conn connected' "$AGENT_LOG" 2>/dev/null)
	lk_pidfile "$AGENT_PIDFILE"
	"${ns[@]}" env LATCHKEY_ROOT="$(lk_agent_root)" \
	    "$(lk_bin latchkey-agent)" run $(lk_noconf "$@") \
	    --state "$T/$name/agent.json" \
	    --log "$AGENT_LOG" --foreground "$@" >>"$T/$name.out" 2>&1 </dev/null &
	AGENT_PID=$!
	echo "$AGENT_PID" >"$AGENT_PIDFILE"
	lk_wait_log "$AGENT_LOG" ' conn connected' $((${n0:-0} + 1)) ||
	    { echo "agent $name did not connect to $LKD_URL" >&2
	      lk__tail "$AGENT_LOG"; lk__tail "$T/$name.out" 3; return 1; }
}

# lk_agent_stop NAME: SIGTERM to the agent NAME, then up to 10 s for it
# to go (stop_pidfile).
lk_agent_stop() {
	stop_pidfile "$T/$1.pid"
}

# lk_agent_start NAME [OPTION...]: lk_agent_register NAME, then
# lk_agent_run NAME OPTION...
lk_agent_start() {
	lk_agent_register "$1" && lk_agent_run "$@"
}

# lk_pidfile FILE: FILE is stopped by lk_cleanup (listed once).
lk_pidfile() {
	local pf
	for pf in "${LK_PIDFILES[@]}"; do [ "$pf" = "$1" ] && return 0; done
	LK_PIDFILES+=("$1")
}

# lk_wait_listen PID PORT LOG WHAT: up to LK_START_SECONDS for PID to
# listen on PORT; fails at once if PID exits, with the end of LOG.
lk_wait_listen() {
	local pid=$1 port=$2 log=$3 what=$4 i
	for i in $(seq 1 $((LK_START_SECONDS * 20))); do
		ss -Htln "sport = :$port" | grep -q . && return 0
		kill -0 "$pid" 2>/dev/null || {
			echo "$what exited before it listened on port $port" >&2
			lk__tail "$log"; return 1; }
		sleep 0.05
	done
	echo "$what did not listen on port $port in $LK_START_SECONDS s" >&2
	lk__tail "$log"
	return 1
}

# lk_wait_log FILE ERE [N]: up to LK_START_SECONDS until FILE has N (1)
# lines matching ERE.
lk_wait_log() {
	local i n
	for i in $(seq 1 $((LK_START_SECONDS * 20))); do
		n=$(grep -cE -- "$2" "$1" 2>/dev/null)
		[ "${n:-0}" -ge "${3:-1}" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------
# The public API, signature 1.0 (HMAC-SHA1), signed here with openssl.

# lk_enc TEXT: RFC 3986 percent-encoding of ASCII text.
lk_enc() {
	local LC_ALL=C s=$1 i c out=''
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c"; out+=$c ;;
		esac
	done
	printf '%s' "$out"
}
# lk_signed_url ACTION [NAME=VALUE...]: the signed GET URL of ACTION on the
# current latchkeyd, signed with the access key AK_ID / AK_SECRET (set
# them for the call to sign with another: AK_ID=... AK_SECRET=... lk_api).
# Parameters are sorted by name alone (sort -t= -k1,1): sorting whole
# lines puts InstanceId.10=... before InstanceId.1=..., and the server's
# canonical order does not.
lk_signed_url() {
	local p=("Action=$1" "Version=2014-05-26" "Format=JSON"
	    "RegionId=cn-hangzhou" "AccessKeyId=$AK_ID"
	    "SignatureMethod=HMAC-SHA1" "SignatureVersion=1.0"
	    "SignatureNonce=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
	    "Timestamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)") kv q sig
	shift
	p+=("$@")
	q=$(for kv in "${p[@]}"; do printf '%s=%s\n' "$(lk_enc "${kv%%=*}")" \
	    "$(lk_enc "${kv#*=}")"; done | LC_ALL=C sort -t= -k1,1 |
	    paste -sd '&')
	sig=$(printf 'GET&%%2F&%s' "$(lk_enc "$q")" |
	    openssl dgst -sha1 -hmac "$AK_SECRET&" -binary | base64)
	printf '%s/?%s&Signature=%s' "$LKD_URL" "$q" "$(lk_enc "$sig")"
}
# lk_api ACTION [NAME=VALUE...]: prints latchkeyd's JSON answer.
lk_api() { curl -s --max-time "${LK_API_SECONDS:-10}" "$(lk_signed_url "$@")"; }

# out_has ERE CMD...: CMD succeeds and prints (stdout or stderr) ERE.
out_has() {
	local pat=$1; shift
	"$@" >"$T/out.txt" 2>&1 && grep -Eq -- "$pat" "$T/out.txt" ||
	    { echo "output: $(head -c 600 "$T/out.txt")" >&2; return 1; }
}
# err_is STATUS ERE CMD...: CMD exits STATUS with ERE on stderr.
err_is() {
	local want=$1 pat=$2 rc; shift 2
	"$@" >"$T/out.txt" 2>"$T/err.txt"; rc=$?
	[ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$T/err.txt" && return 0
	echo "exit $rc, wanted $want: $(head -c 600 "$T/err.txt")" >&2
	return 1
}
# json_str KEY <JSON: the first string value of KEY.
json_str() { grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed -E 's/.*: *"([^"]*)"/\1/'; }
# stop_pidfile FILE: SIGTERM to the PID in FILE, then up to 10 s for it to go.
stop_pidfile() {
	local pf=$1 pid i
	[ -s "$pf" ] || return 0
	pid=$(cat "$pf")
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "pid $pid ($pf) still running 10 s after SIGTERM" >&2
	return 1
}

# lk_keep_logs: after a failed case, copies the scratch root's logs to
# $LK_LOGDIR (tests call it before they end; lk_cleanup calls it too).
# On PostgreSQL the copies are named TEST-pg-FILE, and the test's own
# cluster's log is kept as well.
lk_keep_logs() {
	local f pre=$LK_TESTNAME
	[ "$LK_FAILED" -ne 0 ] || return 0
	[ "$LK_TEST_DB" = postgresql ] && pre=$pre-pg
	for f in "$T"/*.log "$T"/*.out "$T"/*.err "$T"/sshd/*.log \
	    "$T"/pg/server.log; do
		[ -f "$f" ] && cp "$f" "$LK_LOGDIR/$pre-$(basename "$f")"
	done
}
# lk_wait_port PORT: up to 10 s for something to listen on 127.0.0.1:PORT.
lk_wait_port() {
	local i
	for i in $(seq 1 200); do
		ss -Htln "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# A free TCP port on 127.0.0.1, chosen at random from a high range.
# A port below the kernel's ephemeral range (32768-60999 on Debian), so
# that no outgoing connection can hold it between this check and the
# program's bind(2), and with no TCP socket of any state on it now.
lk_free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((12000 + RANDOM % 20000))
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# lk_sshd_start NAME [EXTRA_CONFIG_LINE...]: starts a throw-away sshd on a
# loopback port; sets SSHD_PORT, SSHD_CONFIG. AuthorizedKeysFile is none
# unless an extra line says otherwise.
lk_sshd_start() {
	local name=$1 i; shift
	local dir="$T/sshd"
	[ -f "$dir/host_ed25519" ] ||
	    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" || return 1
	SSHD_PORT=$(lk_free_port) || return 1
	SSHD_CONFIG="$dir/$name.conf"
	{
		printf '%s\n' "$@"
		cat <<-CONF
		Port $SSHD_PORT
		ListenAddress 127.0.0.1
		HostKey $dir/host_ed25519
		PidFile $dir/$name.pid
		UsePAM no
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PubkeyAuthentication yes
		AuthorizedKeysFile none
		LogLevel VERBOSE
		CONF
	} >"$SSHD_CONFIG"
	LK_PIDFILES+=("$dir/$name.pid")
	lk_known_host "$SSHD_PORT" "$dir/host_ed25519.pub"
	/usr/sbin/sshd -f "$SSHD_CONFIG" -E "$dir/$name.log" || return 1
	for i in $(seq 1 100); do
		[ -s "$dir/$name.pid" ] &&
		    ss -Htln "sport = :$SSHD_PORT" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# The AuthorizedKeysCommand lines for the helper in $T/bin and store $T/store.
lk_helper_config() {
	echo "AuthorizedKeysCommand $T/bin/latchkey-authorized-keys --store $T/store %u %f"
	echo "AuthorizedKeysCommandUser $LK_HELPER_USER"
}

# lk_known_host PORT PUBFILE: sshd on 127.0.0.1:PORT has the host key
# PUBFILE; lk_ssh checks it strictly against $T/known_hosts.
lk_known_host() {
	printf '[127.0.0.1]:%s %s\n' "$1" "$(cut -d' ' -f1,2 "$2")" \
	    >>"$T/known_hosts"
}

# lk_ssh USER KEYFILE [PORT] -- CMD...: the real ssh client, non-interactive,
# checking the host key strictly (lk_known_host; no trust on first use).
lk_ssh() {
	local user=$1 key=$2 port=${SSHD_PORT}
	shift 2
	if [ "${1:-}" != "--" ]; then port=$1; shift; fi
	shift
	ssh -F /dev/null -p "$port" -i "$key" -o BatchMode=yes \
	    -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
	    -o UserKnownHostsFile="$T/known_hosts" \
	    -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 \
	    -o LogLevel=ERROR "$user@127.0.0.1" "$@"
}

# lk_keygen NAME [TYPE [BITS]]: a throw-away key pair in $T/keys/NAME.
lk_keygen() {
	mkdir -p "$T/keys"
	ssh-keygen -q -t "${2:-ed25519}" ${3:+-b "$3"} -N '' -C "$1@test" \
	    -f "$T/keys/$1"
}

# lk_plugin_pkg: the plug-in package as make install lays it out,
# root-owned, in $T/plugins; exports LATCHKEY_PLUGIN_DIR.
lk_plugin_pkg() {
	local pkg=$T/plugins/config_ecs_instance_connect
	mkdir -p "$pkg"
	install -m 0755 -o root -g root "$T/bin/config_ecs_instance_connect" \
	    "$T/bin/send_ssh_public_key" "$T/bin/latchkey-authorized-keys" \
	    "$pkg/"
	install -m 0644 -o root -g root \
	    "$LK_SRC/plugins/config_ecs_instance_connect/VERSION" "$pkg/"
	export LATCHKEY_PLUGIN_DIR=$T/plugins
}

# lk_netns: a network namespace joined to this one by a veth pair, for a
# test whose agent and sshd must be somewhere other than this loopback:
# sets LK_NS, LK_HOSTIP (this side's address) and LK_NSIP (the
# namespace's, which is the only address an agent there reports).
# lk_netns_del removes both; lk_cleanup calls it.
lk_netns() {
	local net=10.233.$((RANDOM % 250)).
	LK_NS=lkn-$$ LK_VA=lkn$$a LK_VB=lkn$$b
	LK_HOSTIP=${net}1 LK_NSIP=${net}2
	ip netns add "$LK_NS" &&
	    ip link add "$LK_VA" type veth peer name "$LK_VB" &&
	    ip link set "$LK_VB" netns "$LK_NS" &&
	    ip addr add "$LK_HOSTIP/30" dev "$LK_VA" && ip link set "$LK_VA" up &&
	    ip netns exec "$LK_NS" ip addr add "$LK_NSIP/30" dev "$LK_VB" &&
	    ip netns exec "$LK_NS" ip link set "$LK_VB" up &&
	    ip netns exec "$LK_NS" ip link set lo up
}
lk_netns_del() {
	[ -n "${LK_NS:-}" ] || return 0
	ip netns del "$LK_NS" 2>/dev/null
	ip link del "$LK_VA" 2>/dev/null
	LK_NS=
}

# lk_netns_sshd_hup NAME PORT: SIGHUP to the scratch sshd NAME (its PID in
# $T/sshd/NAME.pid) in the namespace of lk_netns, so that it rereads its
# configuration, keys and certificates; waits until it listens on
# LK_NSIP:PORT again. sshd re-executes itself on SIGHUP and rewrites its
# PID file, so a reload just before (the plug-in's, the agent's) may have
# left it empty for a moment: up to 5 s for it first.
lk_netns_sshd_hup() {
	local pf=$T/sshd/$1.pid port=$2 i
	for i in $(seq 1 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	kill -HUP "$(cat "$pf" 2>/dev/null)" 2>/dev/null ||
	    { echo "lk_netns_sshd_hup: no sshd to signal in $pf" >&2; return 1; }
	sleep 0.2
	for i in $(seq 1 100); do
		ip netns exec "$LK_NS" ss -Htln "src $LK_NSIP:$port" | grep -q . &&
		    return 0
		sleep 0.05
	done
	echo "lk_netns_sshd_hup: sshd does not listen on $LK_NSIP:$port" >&2
	return 1
}

# lk_mkroot DIR NAME: a scratch root with a Debian-like sshd_config and its
# own sshd (port in ${NAME}_PORT), acs-plugin-manager on the tasks' PATH.
lk_mkroot() {
	local r=$1 name=$2 port i
	port=$(lk_free_port) || return 1
	mkdir -p "$r/etc/ssh/sshd_config.d" "$r/run"
	ssh-keygen -q -t ed25519 -N '' -f "$r/etc/ssh/ssh_host_ed25519_key"
	cat >"$r/etc/ssh/sshd_config" <<-CONF
	Include $r/etc/ssh/sshd_config.d/*.conf

	Port $port
	ListenAddress 127.0.0.1
	HostKey $r/etc/ssh/ssh_host_ed25519_key
	PidFile $T/sshd/$name.pid
	PubkeyAuthentication yes
	AuthorizedKeysFile none
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	PrintMotd no
	Subsystem sftp /usr/lib/openssh/sftp-server
	LogLevel VERBOSE
	CONF
	chmod 0644 "$r/etc/ssh/sshd_config"
	install -D -m 0755 -o root -g root "$T/bin/acs-plugin-manager" \
	    "$r/usr/local/bin/acs-plugin-manager"
	LK_PIDFILES+=("$T/sshd/$name.pid")
	lk_known_host "$port" "$r/etc/ssh/ssh_host_ed25519_key.pub"
	# With LK_NETNS set, sshd runs in that network namespace.
	local ns=()
	[ -n "${LK_NETNS:-}" ] && ns=(ip netns exec "$LK_NETNS")
	"${ns[@]}" /usr/sbin/sshd -f "$r/etc/ssh/sshd_config" \
	    -E "$T/sshd/$name.log" || return 1
	for i in $(seq 1 100); do
		[ -s "$T/sshd/$name.pid" ] &&
		    "${ns[@]}" ss -Htln "sport = :$port" | grep -q . && break
		sleep 0.05
	done
	printf -v "${name}_PORT" '%s' "$port"
}

# ---------------------------------------------------------------------
# Replicas behind a real load balancer (issue 12): N latchkeyd on one
# PostgreSQL database and Debian's HAProxy in TCP mode in front of them,
# all on loopback. docs/deployment.md describes the same set-up in
# production; test_replicas.sh, scripts/demo-ha and bench/replica_bench.sh
# use these functions.

LK_REPLICAS=()

# lk_replicas_start N [OPTION...]: N latchkeyd on the current database
# (lk_new_db, PostgreSQL), named r1..rN (logs $T/rK.log, PIDs $T/rK.pid),
# each on its own free port with --replica-id rK and OPTION... Sets
# LK_REPLICAS to the names. The last one started is current (lk_lkd_use).
lk_replicas_start() {
	local n=${1:?lk_replicas_start N} i; shift
	LK_REPLICAS=()
	for i in $(seq 1 "$n"); do
		lk_lkd_start "r$i" --replica-id "r$i" "$@" || return 1
		LK_REPLICAS+=("r$i")
	done
}

# lk_replica_kill NAME: kill -9 of the latchkeyd NAME (no goodbye, no
# clean close: what a crashed machine does); waits until it is gone and
# empties its PID file, so that nothing signals the PID again.
lk_replica_kill() {
	local pf=$T/$1.pid pid i
	pid=$(cat "$pf" 2>/dev/null)
	[ -n "$pid" ] || { echo "lk_replica_kill: no pid for $1" >&2; return 1; }
	# A child of this shell is reaped at once, so that bash reports no
	# "Killed"; any other is waited for below.
	{ kill -KILL "$pid" && wait "$pid"; } 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { : >"$pf"; return 0; }
		sleep 0.05
	done
	echo "lk_replica_kill: $1 ($pid) still there after SIGKILL" >&2
	return 1
}

# lk_replica_restart NAME [OPTION...]: latchkeyd NAME again, on its port
# and database, --replica-id NAME OPTION...
lk_replica_restart() {
	local name=$1; shift
	lk_lkd_use "$name" || return 1
	lk_lkd_start -p "$LKD_PORT" "$name" --replica-id "$name" "$@"
}

# lk_haproxy_start [-b ALGO] [-m MAXCONN] NAME [REPLICA...]: Debian's
# haproxy in TCP mode on a free loopback port in front of REPLICA...
# (default: LK_REPLICAS), with its configuration in $T/NAME.cfg, its PID
# in $T/NAME.pid and its log (stderr) in $T/NAME.log. Health checks are
# GET /healthz every second (down after 2 failures, up after 2 successes);
# a connection to a replica that refuses it is redispatched to another;
# the client, server and tunnel timeouts are an hour, far above the 25 s
# long polls and idle WebSockets. ALGO is roundrobin (default) or
# leastconn. Waits until it listens and every replica is up. Sets
# HA_NAME, HA_PORT, HA_URL, HA_STATS_PORT (the runtime API, on loopback).
lk_haproxy_start() {
	local algo=roundrobin maxconn=4000 opt name r cfg OPTIND=1 i
	while getopts b:m: opt; do
		case $opt in
		b) algo=$OPTARG ;;
		m) maxconn=$OPTARG ;;
		*) echo "usage: lk_haproxy_start [-b ALGO] [-m MAXCONN] NAME [REPLICA...]" >&2
		   return 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	name=${1:?lk_haproxy_start NAME}; shift
	[ "$#" -gt 0 ] || set -- "${LK_REPLICAS[@]}"
	command -v haproxy >/dev/null ||
	    { echo "lk_haproxy_start: no haproxy (scripts/install-deps --test)" >&2
	      return 1; }
	HA_NAME=$name
	HA_PORT=$(lk_free_port) && HA_STATS_PORT=$(lk_free_port) ||
	    { echo "lk_haproxy_start: no free port" >&2; return 1; }
	HA_URL=http://127.0.0.1:$HA_PORT
	cfg=$T/$name.cfg
	{
		cat <<-CFG
		global
		    maxconn $maxconn
		    log stderr format raw local0 info
		    stats socket ipv4@127.0.0.1:$HA_STATS_PORT level admin
		defaults
		    mode tcp
		    log global
		    option tcplog
		    option redispatch
		    retries 3
		    timeout connect 2s
		    timeout client 1h
		    timeout server 1h
		    timeout tunnel 1h
		    timeout check 2s
		frontend latchkey
		    bind 127.0.0.1:$HA_PORT
		    maxconn $maxconn
		    default_backend replicas
		backend replicas
		    balance $algo
		    option httpchk GET /healthz
		    http-check expect status 200
		    default-server inter 1s fall 2 rise 2 maxconn $maxconn
		CFG
		for r in "$@"; do
			printf '    server %s 127.0.0.1:%s check\n' "$r" \
			    "${LK_LKD_PORT[$r]:?lk_haproxy_start: no latchkeyd $r}"
		done
	} >"$cfg"
	haproxy -c -q -f "$cfg" >>"$T/$name.log" 2>&1 ||
	    { echo "lk_haproxy_start: bad configuration $cfg" >&2
	      lk__tail "$T/$name.log"; return 1; }
	lk_pidfile "$T/$name.pid"
	haproxy -db -f "$cfg" >>"$T/$name.log" 2>&1 </dev/null &
	echo $! >"$T/$name.pid"
	lk_wait_listen "$!" "$HA_PORT" "$T/$name.log" "haproxy $name" ||
	    return 1
	for i in $(seq 1 $((LK_START_SECONDS * 10))); do
		[ "$(lk_haproxy_up | wc -w)" -eq "$#" ] && return 0
		sleep 0.1
	done
	echo "haproxy $name: not every replica is up: $(lk_haproxy_up)" >&2
	return 1
}

# lk_haproxy_cmd COMMAND: one command of HAProxy's runtime API (the stats
# socket on 127.0.0.1:HA_STATS_PORT); prints the answer.
lk_haproxy_cmd() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$HA_STATS_PORT" || return 1
	printf '%s\n' "$1" >&"$fd"
	cat <&"$fd"
	exec {fd}<&-
}

# lk_haproxy_up: the replicas HAProxy's health checks hold up, one a line.
lk_haproxy_up() {
	lk_haproxy_cmd "show stat" 2>/dev/null |
	    awk -F, '$1 == "replicas" && $2 != "BACKEND" && $18 ~ /^UP/ { print $2 }'
}

# lk_haproxy_wait_up N [SECONDS]: up to SECONDS (20) until exactly N
# replicas are up in HAProxy.
lk_haproxy_wait_up() {
	local i
	for i in $(seq 1 $((${2:-20} * 10))); do
		[ "$(lk_haproxy_up | wc -l)" -eq "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# lk_haproxy_stop: SIGTERM to HAProxy, then up to 10 s for it to go.
lk_haproxy_stop() {
	stop_pidfile "$T/${1:-$HA_NAME}.pid"
}

# lk_ha_use: the API calls (lk_api), registrations (lk_agent_register)
# and the agents go through the balancer: LKD_URL is HA_URL, the database
# stays the current replica's. lk_lkd_use NAME talks to one replica again.
lk_ha_use() {
	LKD_URL=$HA_URL
	LKD_PORT=$HA_PORT
}

# lk_agent_replica NAME: the replica (HAProxy server name) the agent NAME's
# connections to the balancer reach now, from HAProxy's sessions ("show
# sess") and the agent's own sockets; the most frequent one when the
# agent holds several. Prints nothing when it holds none.
lk_agent_replica() {
	local pid ports
	pid=$(cat "$T/$1.pid" 2>/dev/null) || return 1
	ports=$(ss -Htnp state established "( dport = :$HA_PORT )" 2>/dev/null |
	    grep "pid=$pid," | awk '{ n = split($3, a, ":"); print a[n] }')
	[ -n "$ports" ] || return 0
	lk_haproxy_cmd "show sess" 2>/dev/null | awk -v ports=" $(echo $ports) " '
	    { src = ""; srv = "" }
	    { for (i = 1; i <= NF; i++) {
		if ($i ~ /^src=/) { n = split($i, a, ":"); src = a[n] }
		if ($i ~ /^srv=/) srv = substr($i, 5) } }
	    src != "" && srv != "" && index(ports, " " src " ") { c[srv]++ }
	    END { for (s in c) if (c[s] > best) { best = c[s]; b = s }
		if (b != "") print b }'
}

# lk_replica_conns NAME: how many established connections latchkeyd NAME
# holds (from HAProxy, agents' long polls mostly).
lk_replica_conns() {
	ss -Htn state established "( sport = :${LK_LKD_PORT[$1]} )" | wc -l
}

# lk_replica_of_header URL_ARGS...: the Latchkey-Replica header of one
# GET (curl ARGS...).
lk_replica_of_header() {
	curl -s -o /dev/null -D - --max-time "${LK_API_SECONDS:-10}" "$@" |
	    tr -d '\r' | sed -n 's/^[Ll]atchkey-[Rr]eplica: *//p'
}
