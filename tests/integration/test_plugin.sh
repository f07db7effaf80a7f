#!/usr/bin/env bash
# acs-plugin-manager and the config_ecs_instance_connect plug-in against a
# real sshd, in scratch roots: $T/a (Debian-like sshd_config with an Include
# of sshd_config.d/*.conf: drop-in mode) and $T/b (no Include, ending in a
# Match block: marked-block mode). Each root has its own sshd on a loopback
# port; the plug-in reloads it through LATCHKEY_SSHD_PIDFILE.
. "$(dirname "$0")/lib.sh"

lk_setup
APM=$T/bin/acs-plugin-manager
PLUGIN=config_ecs_instance_connect
BEGIN='# BEGIN latchkey config_ecs_instance_connect'

# The plug-in package, as make install lays it out (lk_plugin_pkg).
lk_plugin_pkg
PKG=$T/plugins/$PLUGIN
unset LATCHKEY_SSHD

# An sshd -t stand-in that refuses every configuration.
cat >"$T/refusing-sshd" <<'EOF'
#!/bin/sh
echo "refusing-sshd: configuration refused for the test" >&2
exit 255
EOF
chmod 0755 "$T/refusing-sshd"

lk_keygen alice
KEY=$T/keys/alice

# mkroot NAME include|block: a scratch root $R with a Debian-like
# sshd_config for a throw-away sshd; keeps a copy in $T/NAME.orig.
mkroot() {
	local name=$1 kind=$2
	R=$T/$name
	PIDFILE=$T/sshd/$name.pid
	SSHD_PORT=$(lk_free_port) || return 1
	mkdir -p "$R/etc/ssh/sshd_config.d" "$R/run"
	ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key"
	lk_known_host "$SSHD_PORT" "$R/etc/ssh/ssh_host_ed25519_key.pub"
	{
		echo "# This is the sshd server system-wide configuration file.  See"
		echo "# sshd_config(5) for more information."
		echo
		[ "$kind" = include ] &&
		    echo "Include $R/etc/ssh/sshd_config.d/*.conf"
		cat <<-CONF

		Port $SSHD_PORT
		ListenAddress 127.0.0.1
		HostKey $R/etc/ssh/ssh_host_ed25519_key
		PidFile $PIDFILE

		# Authentication:
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		AuthorizedKeysFile none
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no

		X11Forwarding yes
		PrintMotd no
		AcceptEnv LANG LC_*
		Subsystem sftp /usr/lib/openssh/sftp-server
		LogLevel VERBOSE
		CONF
		[ "$kind" = block ] &&
		    printf '\nMatch User nobody\n\tX11Forwarding no\n\tPermitTTY no\n'
	} >"$R/etc/ssh/sshd_config"
	chmod 0644 "$R/etc/ssh/sshd_config"
	cp -p "$R/etc/ssh/sshd_config" "$T/$name.orig"
	export LATCHKEY_ROOT=$R LATCHKEY_SSHD_PIDFILE=$PIDFILE
}

# start_sshd NAME: the root's own sshd, reading $R/etc/ssh/sshd_config.
start_sshd() {
	local i
	LK_PIDFILES+=("$PIDFILE")
	/usr/sbin/sshd -f "$R/etc/ssh/sshd_config" -E "$T/sshd/$1.log" ||
	    return 1
	for i in $(seq 1 100); do
		[ -s "$PIDFILE" ] &&
		    ss -Htln "sport = :$SSHD_PORT" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# After a SIGHUP sshd re-executes itself; wait until it listens again.
wait_sshd() {
	local i
	sleep 0.5
	for i in $(seq 1 100); do
		ss -Htln "sport = :$SSHD_PORT" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# out_lacks ERE CMD...: CMD succeeds and prints no line matching ERE.
out_lacks() {
	local pat=$1; shift
	"$@" >"$T/out.txt" 2>&1 && ! grep -Eq -- "$pat" "$T/out.txt" ||
	    { cat "$T/out.txt" >&2; return 1; }
}
fails() { ! "$@"; }
same() { cmp -s "$1" "$2" || { echo "$1 differs from $2" >&2; return 1; }; }

push_key() {
	"$R/usr/local/sbin/send_ssh_public_key" --username "$1" \
	    --ssh-public-key "$(cat "$KEY.pub")" \
	    --store "$R/run/latchkey/keys" --ttl 30
}
login_as() { lk_ssh "$1" "$KEY" -- id -un 2>>"$T/ssh.err"; }
sums() {
	sha256sum "$R/etc/ssh/sshd_config" "$R"/etc/ssh/sshd_config.d/* \
	    "$R/usr/local/sbin/send_ssh_public_key" \
	    "$R/usr/local/libexec/latchkey/latchkey-authorized-keys" \
	    "$R/var/lib/latchkey/plugins/$PLUGIN.state" 2>&1
}

# ---------------------------------------------------------------------
# The manager's own errors: distinct exit statuses, one clear line.
mkroot a include
check_exit "help exits 0" 0 "$APM" --help
check "unknown plug-in: exit 66" err_is 66 'unknown plug-in "no_such_plugin"' \
    "$APM" -e -P no_such_plugin --params --install
check "hostile name ../x: exit 65" err_is 65 'invalid plug-in name' \
    "$APM" -e -P ../x --params --install
check "hostile name with a slash for -r: exit 65" err_is 65 \
    'invalid plug-in name' "$APM" -r -P "a/$PLUGIN"
check "-e without -P: exit 64" err_is 64 'option -P NAME is required' \
    "$APM" -e --params --install
check "--params without a value: exit 64" err_is 64 'needs a value' \
    "$APM" -e -P "$PLUGIN" --params
check "not root: exit 77" err_is 77 'must be run as root' \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$APM" -e -P "$PLUGIN" --params --install
check "plug-in run directly, not root: exit 3" err_is 3 'must be run as root' \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$PKG/$PLUGIN" --install
mkdir -m 0775 "$T/plugins/writable_pkg"
install -m 0755 "$T/bin/$PLUGIN" "$T/plugins/writable_pkg/writable_pkg"
check "group-writable package is refused: exit 78" err_is 78 \
    'not writable by group or others' "$APM" -e -P writable_pkg --params --status
rm -rf "$T/plugins/writable_pkg"
check "nothing was run or recorded by the failures" \
    fails test -e "$R/var/lib/latchkey/plugins/installed"

# A root whose directories sshd would not trust is refused up front.
mkdir -m 0775 "$T/unsafe"
mkdir -p "$T/unsafe/root/etc/ssh"
cp "$T/a.orig" "$T/unsafe/root/etc/ssh/sshd_config"
check "root under a group-writable directory: exit 7" err_is 7 \
    'sshd refuses an AuthorizedKeysCommand unless every parent' \
    env LATCHKEY_ROOT="$T/unsafe/root" \
    "$APM" -e -P "$PLUGIN" --params --install
check "... and nothing was created there" \
    bash -c "! test -e '$T/unsafe/root/usr' &&
    cmp -s '$T/unsafe/root/etc/ssh/sshd_config' '$T/a.orig'"

# ---------------------------------------------------------------------
# Drop-in mode: sshd_config has "Include .../sshd_config.d/*.conf".
DROPIN=$R/etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf
HELPER=$R/usr/local/libexec/latchkey/latchkey-authorized-keys
start_sshd a || { tap_fail "sshd a did not start"; exit 1; }

check "drop-in: refused sshd -t leaves no drop-in, exit 4" err_is 4 \
    'refusing-sshd: configuration refused' \
    env LATCHKEY_SSHD="$T/refusing-sshd" \
    "$APM" -e -P "$PLUGIN" --params --install
check "drop-in: ... and sshd_config is byte-identical, nothing recorded" \
    bash -c "cmp -s '$R/etc/ssh/sshd_config' '$T/a.orig' &&
    ! test -e '$DROPIN' && ! test -e '$HELPER' &&
    ! grep -qs '^$PLUGIN ' '$R/var/lib/latchkey/plugins/installed'"

printf 'NoSuchKeyword yes\n' >"$R/etc/ssh/sshd_config.d/00-broken.conf"
check "drop-in: real sshd -t refusal (planted bad line) exits 4" err_is 4 \
    'NoSuchKeyword|Bad configuration option' \
    "$APM" -e -P "$PLUGIN" --params --install
check "drop-in: ... and leaves the configuration as it was" \
    bash -c "cmp -s '$R/etc/ssh/sshd_config' '$T/a.orig' &&
    ! test -e '$DROPIN'"
rm -f "$R/etc/ssh/sshd_config.d/00-broken.conf"

check "drop-in: the seed command installs" \
    "$APM" -e -P config_ecs_instance_connect --params --install
check "drop-in: sshd_config untouched, drop-in has our two lines" \
    bash -c "cmp -s '$R/etc/ssh/sshd_config' '$T/a.orig' &&
    grep -qx 'AuthorizedKeysCommand $HELPER --store $R/run/latchkey/keys %u %f' '$DROPIN' &&
    grep -qx 'AuthorizedKeysCommandUser latchkey-authkeys' '$DROPIN'"
is "drop-in: helper installed root:root 0755" \
    "$(stat -c '%U:%G %a' "$HELPER" 2>&1)" "root:root 755"
check "-l lists it with version 1.0.0, installed" \
    out_has "^$PLUGIN +1\\.0\\.0 .* yes\$" "$APM" -l
check "--list --local lists it with version 1.0.0" \
    out_has "^$PLUGIN +1\\.0\\.0 " "$APM" --list --local
check "--status is ok" out_has '^status: ok$' "$APM" --status
check "--status -P is ok" out_has '^mode: drop-in' "$APM" --status -P "$PLUGIN"
check "the action log has the install" grep -q \
    "acs-plugin-manager exec plugin=$PLUGIN params=--install result=ok" \
    "$R/var/log/latchkey/acs-plugin-manager.log"

wait_sshd
is "drop-in: install reloaded sshd (SIGHUP)" \
    "$(grep -c 'Received SIGHUP; restarting' "$T/sshd/a.log")" 1
check "send_ssh_public_key (installed) stores a key for lk-alice" push_key lk-alice
is "drop-in: the key logs in as lk-alice through sshd" \
    "$(login_as lk-alice)" "lk-alice"
check "drop-in: the key does not open lk-bob" fails login_as lk-bob

sums >"$T/sums.before"
check "drop-in: second install succeeds" \
    "$APM" -e -P "$PLUGIN" --params --install
sums >"$T/sums.after"
check "drop-in: second install changes no byte" same "$T/sums.before" "$T/sums.after"
is "drop-in: still one drop-in file" \
    "$(ls "$R/etc/ssh/sshd_config.d" | wc -l)" 1

check "drop-in: uninstall with --params --uninstall" \
    "$APM" -e -P "$PLUGIN" --params --uninstall
check "drop-in: sshd_config byte-identical, drop-in, programs, store gone" \
    bash -c "cmp -s '$R/etc/ssh/sshd_config' '$T/a.orig' &&
    ! test -e '$DROPIN' && ! test -e '$HELPER' &&
    ! test -e '$R/usr/local/sbin/send_ssh_public_key' &&
    ! test -e '$R/run/latchkey/keys' &&
    ! test -e '$R/var/lib/latchkey/plugins/$PLUGIN.state'"
wait_sshd
is "drop-in: idempotent install did not reload, uninstall did" \
    "$(grep -c 'Received SIGHUP; restarting' "$T/sshd/a.log")" 2
check "drop-in: after uninstall the key no longer logs in" fails login_as lk-alice
check "--list --local no longer lists it" out_lacks "^$PLUGIN " "$APM" -l --local
check "-l lists it as not installed" out_has "^$PLUGIN +1\\.0\\.0 .* no\$" "$APM" -l
check "uninstall again succeeds and says so" \
    out_has 'not installed; nothing to do' \
    "$APM" -e -P "$PLUGIN" --params --uninstall
check_exit "--status -P when not installed: exit 5" 5 "$APM" --status -P "$PLUGIN"

# A drop-in of the same name that was there before is put back.
printf '# an older drop-in\n' >"$DROPIN"
cp -p "$DROPIN" "$T/dropin.old"
check "drop-in: refused check restores the previous drop-in (exit 4)" \
    err_is 4 'refused' env LATCHKEY_SSHD="$T/refusing-sshd" \
    "$APM" -e -P "$PLUGIN" --params --install
check "drop-in: ... byte-identical" same "$DROPIN" "$T/dropin.old"
rm -f "$DROPIN"
kill "$(cat "$PIDFILE")" 2>/dev/null

# ---------------------------------------------------------------------
# Block mode: no Include, sshd_config ends with a Match block.
mkroot b block
DROPIN=$R/etc/ssh/sshd_config.d/10-latchkey-instance-connect.conf
start_sshd b || { tap_fail "sshd b did not start"; exit 1; }
check "block: refused sshd -t exits 4" err_is 4 'refused' \
    env LATCHKEY_SSHD="$T/refusing-sshd" \
    "$APM" -e -P "$PLUGIN" --params --install
check "block: ... sshd_config byte-identical, no check copy left" \
    bash -c "cmp -s '$R/etc/ssh/sshd_config' '$T/b.orig' &&
    ! ls '$R/etc/ssh' | grep -q latchkey"
check "block: the seed command installs" \
    "$APM" -e -P config_ecs_instance_connect --params --install
is "block: the block is the first line of sshd_config" \
    "$(head -n 1 "$R/etc/ssh/sshd_config")" "$BEGIN"
check "block: everything after the block is the old sshd_config" \
    bash -c "sed '1,/^# END latchkey config_ecs_instance_connect\$/d' \
    '$R/etc/ssh/sshd_config' | cmp -s - '$T/b.orig'"
check "block: no drop-in written" fails test -e "$DROPIN"
check "block: --status is ok" out_has '^mode: block' "$APM" --status
wait_sshd
check "block: send_ssh_public_key stores a key" push_key lk-alice
is "block: the key logs in as lk-alice" "$(login_as lk-alice)" "lk-alice"
check "block: the key does not open lk-bob" fails login_as lk-bob
sums >"$T/sums.before"
check "block: second install succeeds" "$APM" -e -P "$PLUGIN" --params --install
sums >"$T/sums.after"
check "block: second install changes no byte" same "$T/sums.before" "$T/sums.after"
is "block: one block only" "$(grep -c "^$BEGIN\$" "$R/etc/ssh/sshd_config")" 1
rm -f "$R/usr/local/sbin/send_ssh_public_key"
check_exit "block: --status with a program missing: exit 6" 6 "$APM" --status
check "block: install again repairs it" "$APM" -e -P "$PLUGIN" --params --install
check "block: ... and --status is ok again" out_has '^status: ok$' "$APM" --status
check "block: -r removes it" out_has "removed plug-in $PLUGIN" "$APM" -r -P "$PLUGIN"
check "block: sshd_config byte-identical to before install" \
    same "$R/etc/ssh/sshd_config" "$T/b.orig"
wait_sshd
is "block: install and -r each reloaded sshd once" \
    "$(grep -c 'Received SIGHUP; restarting' "$T/sshd/b.log")" 2
check "block: after -r the key no longer logs in" fails login_as lk-alice
check "block: --list --local no longer lists it" \
    out_lacks "^$PLUGIN " "$APM" --list --local
check "block: the action log has the removal" grep -q \
    "acs-plugin-manager remove plugin=$PLUGIN params=--uninstall result=ok" \
    "$R/var/log/latchkey/acs-plugin-manager.log"

echo "1..$LK_N"
