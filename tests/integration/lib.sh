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
	usermod -p '*' "$u"
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

lk_cleanup() {
	local pf pid
	for pf in "${LK_PIDFILES[@]}"; do
		[ -f "$pf" ] && pid=$(cat "$pf") && [ -n "$pid" ] &&
		    kill "$pid" 2>/dev/null
	done
	[ -n "${LK_OWN_PG:-}" ] && "$LK_SRC/tests/tools/pg-cluster" stop "$LK_OWN_PG"
	if [ "$LK_FAILED" -ne 0 ] && [ -d "$T/sshd" ]; then
		for f in "$T"/sshd/*.log; do
			[ -f "$f" ] && cp "$f" "$LK_LOGDIR/$LK_TESTNAME-$(basename "$f")"
		done
	fi
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
# $LK_LOGDIR (tests call it before they end).
lk_keep_logs() {
	local f
	[ "$LK_FAILED" -ne 0 ] || return 0
	for f in "$T"/*.log "$T"/*.out "$T"/*.err "$T"/sshd/*.log; do
		[ -f "$f" ] && cp "$f" "$LK_LOGDIR/$LK_TESTNAME-$(basename "$f")"
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
lk_free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
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

# lk_ssh USER KEYFILE [PORT] -- CMD...: the real ssh client, non-interactive.
lk_ssh() {
	local user=$1 key=$2 port=${SSHD_PORT}
	shift 2
	if [ "${1:-}" != "--" ]; then port=$1; shift; fi
	shift
	ssh -F /dev/null -p "$port" -i "$key" -o BatchMode=yes \
	    -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 \
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
