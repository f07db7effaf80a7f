#!/usr/bin/env bash
# "make install" at a PREFIX of its own (issue 16): the programs are built
# for it (in an object directory of this test's, so $LK_BUILD is left
# alone), the units go where asked and name the installed programs, a
# second PREFIX rebuilds what depends on it, a bad PREFIX is refused. Then
# the installed programs at work: latchkeyd makes its missing state
# directory 0700 and its files 0600 under umask 022, an agent from the
# PREFIX registers, and the seed's literal
# "acs-plugin-manager -e -P config_ecs_instance_connect --params --install"
# sent through the API finds the manager on the task's PATH and the
# plug-in in PREFIX/lib/latchkey/plugins (LATCHKEY_ROOT points the plug-in
# at a scratch root: the machine's sshd configuration is not touched).
. "$(dirname "$0")/lib.sh"

lk_setup
P=$T/prefix
U=$T/units
OBJ=$T/obj

mode_of() { stat -c '%a %U' "$1" 2>/dev/null; }

# ---------------------------------------------------------------------
# Build and install.
lk_must "make install PREFIX=$P" make -s -C "$LK_SRC" -j2 BUILD="$OBJ" \
    PREFIX="$P" UNITDIR="$U" install
for f in sbin/latchkeyd sbin/latchkey-agent sbin/acs-plugin-manager \
    bin/latchkey lib/latchkey/plugins/config_ecs_instance_connect/config_ecs_instance_connect \
    lib/latchkey/plugins/config_ecs_instance_connect/send_ssh_public_key \
    lib/latchkey/plugins/config_ecs_instance_connect/latchkey-authorized-keys \
    share/man/man8/latchkeyd.8 share/man/man1/latchkey.1 \
    share/bash-completion/completions/latchkey; do
	[ -e "$P/$f" ] || tap_fail "installed: $f"
done
tap_ok "the programs, plug-in, man pages and completion are under PREFIX"
check "acs-plugin-manager looks for plug-ins in PREFIX/lib/latchkey/plugins" \
    grep -qF "$P/lib/latchkey/plugins" "$P/sbin/acs-plugin-manager"
check "the agent's task PATH names PREFIX/sbin" \
    grep -qF "$P/sbin" "$P/sbin/latchkey-agent"
is "the units are in UNITDIR" "$(cd "$U" 2>/dev/null && ls)" \
    "$(printf 'latchkey-agent.service\nlatchkeyd.service')"
is "latchkeyd.service runs PREFIX/sbin/latchkeyd" \
    "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$U/latchkeyd.service")" \
    "$P/sbin/latchkeyd"
is "latchkey-agent.service runs PREFIX/sbin/latchkey-agent" \
    "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$U/latchkey-agent.service")" \
    "$P/sbin/latchkey-agent"
check "systemd-analyze verify accepts both units" \
    systemd-analyze verify --man=no "$U/latchkeyd.service" \
    "$U/latchkey-agent.service"

# The default UNITDIR for a PREFIX outside /usr is /etc/systemd/system (a
# dry run: nothing is installed there).
check "units default to /etc/systemd/system for PREFIX=/opt/x" sh -c \
    "make -n -C '$LK_SRC' BUILD='$OBJ' PREFIX=/opt/x install | grep -q '>/etc/systemd/system/latchkeyd.service'"
check "units default to /lib/systemd/system for PREFIX=/usr" sh -c \
    "make -n -C '$LK_SRC' BUILD='$OBJ' PREFIX=/usr install | grep -q '>/lib/systemd/system/latchkeyd.service'"

# Another PREFIX on the same object directory rebuilds what depends on it.
lk_must "make install PREFIX=$T/other" make -s -C "$LK_SRC" -j2 \
    BUILD="$OBJ" PREFIX="$T/other" UNITDIR="$T/other-units" \
    DESTDIR="$T/dest" install
check "a second PREFIX is compiled in, not the first" sh -c \
    "grep -qF '$T/other/lib/latchkey/plugins' '$T/dest$T/other/sbin/acs-plugin-manager' &&
     ! grep -qF '$P/lib/latchkey/plugins' '$T/dest$T/other/sbin/acs-plugin-manager'"
check "a relative PREFIX is refused, with the reason" err_is 2 \
    'PREFIX must be an absolute path' \
    make -s -C "$LK_SRC" BUILD="$OBJ" PREFIX=opt/x install

# ---------------------------------------------------------------------
# latchkeyd from PREFIX: a missing state directory is made 0700; the
# database, its WAL and shared memory and the master key are 0600, even
# under umask 022.
DBDIR=$T/state/latchkeyd
DB=$DBDIR/latchkeyd.db
mkdir -p "$T/state"
PORT=$(lk_free_port)
LKD_URL=http://127.0.0.1:$PORT
lk_pidfile "$T/lkd.pid"
(umask 022; exec "$P/sbin/latchkeyd" --db "$DB" --listen "127.0.0.1:$PORT" \
    >>"$T/lkd.log" 2>&1 </dev/null) &
echo $! >"$T/lkd.pid"
lk_must "latchkeyd from PREFIX listens" lk_wait_listen "$(cat "$T/lkd.pid")" \
    "$PORT" "$T/lkd.log" latchkeyd
is "the missing state directory is created 0700" "$(stat -c %a "$DBDIR")" 700
AK_JSON=$(umask 022; "$P/sbin/latchkeyd" --db "$DB" accesskey create --json)
AK_ID=$(printf '%s' "$AK_JSON" | json_str AccessKeyId)
AK_SECRET=$(printf '%s' "$AK_JSON" | json_str AccessKeySecret)
[ -n "$AK_ID" ] && tap_ok "an access key is created ($AK_ID)" ||
    tap_fail "accesskey create: $AK_JSON"
for f in "$DB" "$DB-wal" "$DB-shm" "$DB.key"; do
	is "$(basename "$f") is 0600" "$(stat -c %a "$f" 2>/dev/null)" 600
done

# ---------------------------------------------------------------------
# An agent from PREFIX, and the seed's command through it.
J=$("$P/sbin/latchkeyd" --db "$DB" activation create --json)
LK_ACT_ID=$(printf '%s' "$J" | json_str ActivationId)
LK_ACT_CODE=$(printf '%s' "$J" | json_str ActivationCode)
lk_must "agent register" "$P/sbin/latchkey-agent" register --server "$LKD_URL" \
    --activation-id "$LK_ACT_ID" --activation-code "$LK_ACT_CODE" \
    --state "$T/agent/agent.json" >"$T/register.out"
IID=$(json_str instance_id <"$T/agent/agent.json")

# The plug-in's scratch root: a Debian-like sshd_config with an Include.
R=$T/root
mkdir -p "$R/etc/ssh/sshd_config.d" "$R/run"
ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
cat >"$R/etc/ssh/sshd_config" <<CONF
Include $R/etc/ssh/sshd_config.d/*.conf
ListenAddress 127.0.0.1
HostKey $R/etc/ssh/ssh_host_ed25519_key
UsePAM no
CONF
cp -p "$R/etc/ssh/sshd_config" "$T/sshd_config.orig"

AGENT_LOG=$T/agent.log
lk_pidfile "$T/agent.pid"
LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$T/no-sshd.pid \
    "$P/sbin/latchkey-agent" run --state "$T/agent/agent.json" \
    --log "$AGENT_LOG" --foreground >>"$T/agent.out" 2>&1 </dev/null &
echo $! >"$T/agent.pid"
lk_must "the agent from PREFIX connects" lk_wait_log "$AGENT_LOG" \
    ' conn connected' 1

wait_status() {
	local id=$1 i s
	for i in $(seq 1 150); do
		lk_api DescribeInvocationResults "InvokeId=$id" \
		    "InstanceId=$IID" >"$T/result.json"
		s=$(json_str InvocationStatus <"$T/result.json")
		[ "$s" = "$2" ] && return 0
		case $s in Failed|Error|Timeout|Aborted) break ;; esac
		sleep 0.2
	done
	echo "status $s: $(head -c 600 "$T/result.json")" >&2
	return 1
}
run_task() {
	lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=60 \
	    ContentEncoding=PlainText "CommandContent=$1" | json_str InvokeId
}
INV=$(run_task 'echo "$PATH"')
check "a task runs" wait_status "$INV" Success
OUT=$(json_str Output <"$T/result.json" | base64 -d 2>/dev/null)
case ":$OUT:" in
*":$P/sbin:"*) tap_ok "the task's PATH holds PREFIX/sbin ($OUT)" ;;
*) tap_fail "the task's PATH holds PREFIX/sbin (got '$OUT')" ;;
esac
INV=$(run_task 'acs-plugin-manager -e -P config_ecs_instance_connect --params --install')
check "the seed's acs-plugin-manager command succeeds through the agent" \
    wait_status "$INV" Success
check "the plug-in installed send_ssh_public_key in the scratch root" \
    test -x "$R/usr/local/sbin/send_ssh_public_key"
check "the plug-in wrote its sshd drop-in" \
    grep -q '^AuthorizedKeysCommand ' \
    "$R/etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf"
INV=$(run_task 'acs-plugin-manager -e -P config_ecs_instance_connect --params --uninstall')
check "its uninstall succeeds through the agent" wait_status "$INV" Success
check "sshd_config is as it was" cmp "$T/sshd_config.orig" \
    "$R/etc/ssh/sshd_config"
check "the drop-in is gone" test ! -e \
    "$R/etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf"

stop_pidfile "$T/agent.pid"
stop_pidfile "$T/lkd.pid"
echo "1..$LK_N"
