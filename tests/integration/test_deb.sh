#!/usr/bin/env bash
# The Debian packages (issue 16): "make deb" builds latchkey-server,
# latchkey-agent and latchkey-client; lintian finds no error; dpkg -i
# installs them on this machine; the programs run from their installed
# paths (latchkeyd as the packaged user latchkey on /var/lib/latchkeyd, an
# agent registered in /var/lib/latchkey, the seed's plug-in command through
# it, a key pushed with the installed client and printed by the installed
# sshd helper); a reinstall keeps the database; "dpkg --purge" then leaves
# the file lists of /etc, /usr, /opt, /var/lib, /var/log and /run/latchkey,
# the accounts and every file of /etc/ssh as they were.
#
# This test changes the machine: it needs root and no latchkey package
# installed. It never starts or signals the machine's sshd
# (LATCHKEY_SSHD_PIDFILE points the plug-in's reload at a file that does
# not exist, and there is no systemd to reload through). Its EXIT trap
# purges the packages, puts /etc/ssh back and removes what is new under
# latchkey's own paths even when a case failed. tests/run runs it once (on
# the normal build): it builds its own packages.
. "$(dirname "$0")/lib.sh"

lk_setup
PKGS="latchkey-server latchkey-agent latchkey-client"
DEBDIR=$LK_SRC/build/deb
export LATCHKEY_SSHD_PIDFILE=$T/no-sshd.pid

installed() {	# installed PKG: dpkg has PKG in any state but not-installed
	local s
	s=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	case "$s" in *not-installed) return 1 ;; esac
	return 0
}

# snapshot FILE: the file names that may change, sorted, and the content
# of the accounts and of /etc/ssh.
snapshot() {
	{
		find /etc /usr /opt /var/lib /var/log /run/latchkey -xdev \
		    \( -path /var/lib/dpkg -o -path /var/lib/apt \
		    -o -path /var/lib/ucf -o -path /var/lib/man-db \
		    -o -path /var/log/journal -o -path /var/log/apt \
		    -o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \
		    -o -path /etc/ld.so.cache -o -path /var/lib/postgresql \) \
		    -prune -o -print 2>/dev/null | LC_ALL=C sort
		sha256sum /etc/passwd /etc/group /etc/shadow /etc/gshadow
		find /etc/ssh -type f -exec sha256sum {} + | LC_ALL=C sort -k2
	} >"$1"
}

# The EXIT trap: stop what we started, purge, put /etc/ssh back, remove
# what is new under latchkey's paths, then lib.sh's own cleanup.
PRE_DIRS=()
deb_cleanup() {
	local p f
	for f in "$T/lkd.pid" "$T/agent.pid"; do stop_pidfile "$f" 2>/dev/null; done
	for p in $PKGS; do
		installed "$p" && dpkg --purge "$p" >>"$T/cleanup.log" 2>&1
	done
	if [ -f "$T/etc-ssh.tar" ] && [ -f "$T/before" ]; then
		snapshot "$T/after-cleanup"
		if ! diff -q <(grep ' /etc/ssh/' "$T/before") \
		    <(grep ' /etc/ssh/' "$T/after-cleanup") >/dev/null; then
			rm -f /etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf
			tar -xpf "$T/etc-ssh.tar" -C /
		fi
		# What is new under latchkey's own paths, and only that.
		LC_ALL=C comm -13 <(LC_ALL=C sort "$T/before") \
		    <(LC_ALL=C sort "$T/after-cleanup") |
		    grep -E '^/(var/lib/latchkey|var/log/latchkey|run/latchkey|usr/local/sbin/send_ssh_public_key|usr/local/libexec/latchkey)' |
		    sort -r | while read -r f; do rm -rf "$f"; done
		getent passwd latchkey >/dev/null &&
		    ! grep -q 'latchkey:' "$T/passwd.before" && userdel latchkey
		getent group latchkey >/dev/null &&
		    ! grep -q '^latchkey:' "$T/group.before" && groupdel latchkey
	fi
	local d mode user group
	for d in "${PRE_DIRS[@]}"; do
		read -r f mode user group <<<"$d"
		[ -e "$f" ] || install -d -m "$mode" -o "$user" -g "$group" "$f"
	done
	lk_cleanup
}
trap deb_cleanup EXIT

for p in $PKGS; do
	if installed "$p"; then
		tap_fail "$p is not installed before the test (it would be purged)"
		trap lk_cleanup EXIT; echo "1..$LK_N"; exit 1
	fi
done
for f in /var/lib/latchkeyd /var/lib/latchkey/agent.json; do
	if [ -e "$f" ]; then
		tap_fail "$f does not exist before the test (it would be removed)"
		trap lk_cleanup EXIT; echo "1..$LK_N"; exit 1
	fi
done
# An empty /var/lib/latchkey, /var/log/latchkey or /run/latchkey left on
# this machine (by a "make install" run by hand, say) is the agent
# package's directory: dpkg and its postrm remove it when empty. Set aside here, made again by
# the cleanup with its owner and mode, so that the purge is judged on
# what the packages made; one that holds anything stops the test.
PRE_DIRS=()
for f in /var/lib/latchkey /var/log/latchkey /run/latchkey; do
	[ -d "$f" ] || continue
	if [ -n "$(ls -A "$f")" ]; then
		tap_fail "$f is absent or empty before the test (the purge would change it): $(ls -A "$f" | head -3 | tr '\n' ' ')"
		trap lk_cleanup EXIT; echo "1..$LK_N"; exit 1
	fi
	PRE_DIRS+=("$f $(stat -c '%a %U %G' "$f")")
	rmdir "$f"
done
cp /etc/passwd "$T/passwd.before"
cp /etc/group "$T/group.before"
tar -cpf "$T/etc-ssh.tar" -C / etc/ssh
snapshot "$T/before"

# ---------------------------------------------------------------------
# Build and lint.
lk_must "make deb" make -s -C "$LK_SRC" deb >"$T/make-deb.out"
for p in $PKGS; do
	check "make deb builds $p" test -f "$DEBDIR/${p}_"*.deb
done
DEBS=$(for p in $PKGS; do ls "$DEBDIR/${p}_"*.deb; done)
# shellcheck disable=SC2086
lintian --tag-display-limit 0 $DEBS >"$T/lintian.out" 2>&1
if grep -q '^E: ' "$T/lintian.out"; then
	tap_fail "lintian: no error ($(grep '^E: ' "$T/lintian.out" | head -5 | tr '\n' ' '))"
else
	tap_ok "lintian: no error ($(grep -c '^W: ' "$T/lintian.out") warnings)"
fi
check "latchkey-server holds latchkeyd, its man page and unit" sh -c \
    "dpkg-deb -c '$DEBDIR'/latchkey-server_*.deb | grep -q ' ./usr/sbin/latchkeyd\$' &&
     dpkg-deb -c '$DEBDIR'/latchkey-server_*.deb | grep -q ' ./lib/systemd/system/latchkeyd.service\$' &&
     dpkg-deb -c '$DEBDIR'/latchkey-server_*.deb | grep -q ' ./usr/share/man/man8/latchkeyd.8.gz\$'"

# ---------------------------------------------------------------------
# Install.
# shellcheck disable=SC2086
lk_must "dpkg -i the three packages" dpkg -i $DEBS >"$T/dpkg-i.out"
for f in /usr/sbin/latchkeyd /usr/sbin/latchkey-agent /usr/sbin/acs-plugin-manager \
    /usr/bin/latchkey \
    /usr/lib/latchkey/plugins/config_ecs_instance_connect/config_ecs_instance_connect \
    /usr/lib/latchkey/plugins/config_ecs_instance_connect/send_ssh_public_key \
    /usr/lib/latchkey/plugins/config_ecs_instance_connect/latchkey-authorized-keys \
    /usr/share/bash-completion/completions/latchkey \
    /lib/systemd/system/latchkeyd.service /lib/systemd/system/latchkey-agent.service; do
	[ -e "$f" ] || tap_fail "installed: $f"
done
tap_ok "the programs, plug-in, completion and units are installed"
is "the system user latchkey exists, with no login shell" \
    "$(getent passwd latchkey | cut -d: -f6,7)" /var/lib/latchkeyd:/usr/sbin/nologin
is "/var/lib/latchkeyd is 0700, owned by latchkey" \
    "$(stat -c '%a %U:%G' /var/lib/latchkeyd)" "700 latchkey:latchkey"
check "systemd-analyze verify accepts the installed units" \
    systemd-analyze verify /lib/systemd/system/latchkeyd.service \
    /lib/systemd/system/latchkey-agent.service
check "the units run the installed programs" sh -c \
    "grep -q '^ExecStart=/usr/sbin/latchkeyd ' /lib/systemd/system/latchkeyd.service &&
     grep -q '^ExecStart=/usr/sbin/latchkey-agent run' /lib/systemd/system/latchkey-agent.service"

# ---------------------------------------------------------------------
# latchkeyd as latchkey, on the packaged state directory.
DB=/var/lib/latchkeyd/latchkeyd.db
as_latchkey() { setpriv --reuid=latchkey --regid=latchkey --init-groups "$@"; }
lkd_start() {
	PORT=${PORT:-$(lk_free_port)}
	LKD_URL=http://127.0.0.1:$PORT
	lk_pidfile "$T/lkd.pid"
	(umask 022; exec setpriv --reuid=latchkey --regid=latchkey \
	    --init-groups /usr/sbin/latchkeyd --db "$DB" \
	    --listen "127.0.0.1:$PORT" >>"$T/lkd.log" 2>&1 </dev/null) &
	echo $! >"$T/lkd.pid"
	lk_wait_listen "$(cat "$T/lkd.pid")" "$PORT" "$T/lkd.log" latchkeyd
}
lk_must "latchkeyd runs as latchkey" lkd_start
is "it runs as latchkey" "$(ps -o user= -p "$(cat "$T/lkd.pid")")" latchkey
AK_JSON=$(as_latchkey /usr/sbin/latchkeyd --db "$DB" accesskey create --json)
AK_ID=$(printf '%s' "$AK_JSON" | json_str AccessKeyId)
AK_SECRET=$(printf '%s' "$AK_JSON" | json_str AccessKeySecret)
[ -n "$AK_ID" ] && tap_ok "an access key is created" ||
    tap_fail "accesskey create: $AK_JSON"
for f in "$DB" "$DB-wal" "$DB-shm" "$DB.key"; do
	is "$(basename "$f") is 0600, owned by latchkey" \
	    "$(stat -c '%a %U' "$f" 2>/dev/null)" "600 latchkey"
done
check "the API answers with that key" out_has '"Commands"' \
    lk_api DescribeCommands Provider=AlibabaCloud

# A reinstall (the upgrade path: prerm upgrade, postinst configure with
# the old version) keeps the database, the key and the user.
stop_pidfile "$T/lkd.pid"
sha256sum "$DB" "$DB.key" >"$T/db.sum"
lk_must "dpkg -i latchkey-server again" dpkg -i \
    "$DEBDIR"/latchkey-server_*.deb >"$T/dpkg-i2.out"
check "the reinstall keeps the database and master key" sha256sum -c --quiet "$T/db.sum"
lk_must "latchkeyd starts again" lkd_start
check "the access key still works" out_has '"Commands"' \
    lk_api DescribeCommands Provider=AlibabaCloud

# ---------------------------------------------------------------------
# The agent, installed, registered in /var/lib/latchkey.
J=$(as_latchkey /usr/sbin/latchkeyd --db "$DB" activation create --json)
ACT_ID=$(printf '%s' "$J" | json_str ActivationId)
ACT_CODE=$(printf '%s' "$J" | json_str ActivationCode)
check "the installed agent registers" /usr/sbin/latchkey-agent register \
    --server "$LKD_URL" --activation-id "$ACT_ID" --activation-code "$ACT_CODE"
IID=$(json_str instance_id </var/lib/latchkey/agent.json 2>/dev/null)
is "its state is /var/lib/latchkey/agent.json, 0600" \
    "$(stat -c %a /var/lib/latchkey/agent.json 2>/dev/null)" 600
lk_pidfile "$T/agent.pid"
/usr/sbin/latchkey-agent run --foreground >>"$T/agent.out" 2>&1 </dev/null &
echo $! >"$T/agent.pid"
lk_must "the installed agent connects" lk_wait_log /var/log/latchkey/agent.log \
    ' conn connected' 1
# Beside the key store, for the helper; the purge below must take it.
check "the agent notes its clock's skew in /run/latchkey/clock-skew" sh -c \
    'for i in $(seq 1 100); do grep -q "^skew_ms=" /run/latchkey/clock-skew 2>/dev/null && exit 0; sleep 0.1; done; exit 1'

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
INV=$(lk_api RunCommand Type=RunShellScript "InstanceId.1=$IID" Timeout=60 \
    ContentEncoding=PlainText \
    "CommandContent=acs-plugin-manager -e -P config_ecs_instance_connect --params --install" |
    json_str InvokeId)
check "the seed's plug-in command succeeds through the installed agent" \
    wait_status "$INV" Success
check "the plug-in added its sshd drop-in" grep -q \
    '^AuthorizedKeysCommand /usr/local/libexec/latchkey/latchkey-authorized-keys %u %f' \
    /etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf

# A key pushed with the installed client, printed by the installed helper.
ssh-keygen -q -t ed25519 -N '' -f "$T/id_ed25519"
FP=$(ssh-keygen -lf "$T/id_ed25519.pub" | cut -d' ' -f2)
check "latchkey send-key (installed client) pushes a key" env \
    LATCHKEY_CONFIG="$T/client.json" LATCHKEY_ENDPOINT="$LKD_URL" \
    ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" \
    ALIBABA_CLOUD_ACCESS_KEY_SECRET="$AK_SECRET" \
    ALIBABA_CLOUD_REGION_ID=cn-hangzhou \
    /usr/bin/latchkey send-key --user "$LK_ALICE" --key "$T/id_ed25519.pub" "$IID"
check "sshd's helper prints it with its expiry time" sh -c \
    "/usr/local/libexec/latchkey/latchkey-authorized-keys '$LK_ALICE' '$FP' |
     grep -q '^expiry-time=\"[0-9]*Z\" ssh-ed25519 '"

# ---------------------------------------------------------------------
# Purge: nothing left behind, sshd's configuration as it was.
stop_pidfile "$T/agent.pid"
stop_pidfile "$T/lkd.pid"
# shellcheck disable=SC2086
check "dpkg --purge the three packages" dpkg --purge $PKGS
snapshot "$T/after"
if diff "$T/before" "$T/after" >"$T/diff.out"; then
	tap_ok "after the purge the file lists, accounts and /etc/ssh are as before"
else
	tap_fail "after the purge: $(head -c 800 "$T/diff.out" | tr '\n' ' ')"
fi
check "no sshd drop-in is left" test ! -e \
    /etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf
check "no latchkey user is left" sh -c '! getent passwd latchkey'

echo "1..$LK_N"
