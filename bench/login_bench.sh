#!/bin/bash
# login_bench.sh BUILD_DIR: what the helper costs a real login.
#
# Starts one throw-away sshd (Debian's /usr/sbin/sshd) on a free loopback
# port and logs in with the real ssh client, alternating two users:
#
#   A  lk-bench-a  key in ~/.ssh/authorized_keys (a plain file)
#   B  lk-bench-b  no authorized_keys; key pushed with send_ssh_public_key
#                  --ttl 3600 and found by latchkey-authorized-keys, sshd's
#                  AuthorizedKeysCommand (with %u %f)
#
# Each login runs `true` and is timed from the client's start to its exit.
# The key exchange is pinned (curve25519-sha256) so that the helper's cost
# is not lost in the post-quantum exchange's. Prints the median and p90 of
# each user and the ratio of the medians (aim: helper/plain <= 1.05).
#
# Exit status: 0 when every login succeeded (whether or not the aim is
# met), 1 when the benchmark could not run or a login failed (sshd's log is
# printed). Stops only the sshd it started, by its pid file; removes its
# scratch directory; keeps the accounts (created if missing).
set -u
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

BUILD=${1:?usage: login_bench.sh BUILD_DIR}
LOGINS=${LK_BENCH_LOGINS:-50}		# timed logins per user
WARMUP=2				# untimed logins per user first
AIM_RATIO=1.05
USER_A=lk-bench-a
USER_B=lk-bench-b
HELPER_USER=latchkey-authkeys
SSHD=/usr/sbin/sshd
T=
HOME_A=

die() {
	echo "login_bench: $*" >&2
	exit 1
}

cleanup() {
	local pid i
	if [ -n "$T" ] && [ -s "$T/sshd.pid" ]; then
		pid=$(cat "$T/sshd.pid")
		if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
			for i in $(seq 1 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.05
			done
		fi
	fi
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ensure_user() {
	getent passwd "$1" >/dev/null || useradd -m -s /bin/sh "$1" ||
	    return 1
	# sshd without PAM refuses locked accounts; '*' is "no password".
	usermod -p '*' "$1"
}

ensure_helper_user() {
	getent passwd "$HELPER_USER" >/dev/null && return 0
	if getent group "$HELPER_USER" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin -g "$HELPER_USER" "$HELPER_USER"
	else
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin "$HELPER_USER"
	fi
}

# Installs the public key $2 as user $1's only authorized_keys entry.
plain_key() {
	local home
	home=$(getent passwd "$1" | cut -d: -f6)
	[ -d "$home" ] || return 1
	install -d -m 0700 -o "$1" -g "$(id -gn "$1")" "$home/.ssh" &&
	    install -m 0600 -o "$1" -g "$(id -gn "$1")" "$2" \
	    "$home/.ssh/authorized_keys"
}

start_sshd() {
	local i
	ssh-keygen -q -t ed25519 -N '' -f "$T/host_ed25519" || return 1
	# ssh checks it strictly (HostKeyAlias bench-sshd), no trust on first use.
	printf 'bench-sshd %s\n' "$(cut -d' ' -f1,2 "$T/host_ed25519.pub")" \
	    >"$T/known_hosts"
	PORT=$(free_port) || return 1
	cat >"$T/sshd_config" <<-CONF
	Port $PORT
	ListenAddress 127.0.0.1
	HostKey $T/host_ed25519
	PidFile $T/sshd.pid
	UsePAM no
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PubkeyAuthentication yes
	AuthorizedKeysFile .ssh/authorized_keys
	AuthorizedKeysCommand $T/bin/latchkey-authorized-keys --store $T/store %u %f
	AuthorizedKeysCommandUser $HELPER_USER
	LogLevel VERBOSE
	CONF
	"$SSHD" -t -f "$T/sshd_config" || return 1
	"$SSHD" -f "$T/sshd_config" -E "$T/sshd.log" || return 1
	for i in $(seq 1 100); do
		[ -s "$T/sshd.pid" ] &&
		    ss -Htln "sport = :$PORT" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# login USER KEY: one login; prints its wall time in microseconds.
login() {
	local t0 t1 rc
	t0=${EPOCHREALTIME/./}
	ssh -F /dev/null -p "$PORT" -i "$2" \
	    -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes \
	    -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
	    -o UserKnownHostsFile="$T/known_hosts" -o HostKeyAlias=bench-sshd \
	    -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 \
	    -o LogLevel=ERROR "$1@127.0.0.1" true </dev/null 2>"$T/ssh.err"
	rc=$?
	t1=${EPOCHREALTIME/./}
	if [ "$rc" -ne 0 ]; then
		echo "login_bench: login as $1 failed (exit $rc):" >&2
		cat "$T/ssh.err" >&2
		echo "--- last lines of sshd's log:" >&2
		tail -n 20 "$T/sshd.log" >&2
		return 1
	fi
	echo $((t1 - t0))
}

# stats FILE: "median p90 mean" in ms (nearest rank) of microsecond values.
stats() {
	sort -n "$1" | awk '{ v[NR] = $1; sum += $1 }
	    function rank(p,  k) { k = int(p * NR); if (k < p * NR) k++;
		return v[k] / 1000 }
	    END { printf "%.2f %.2f %.2f\n", rank(0.5), rank(0.9),
		sum / NR / 1000 }'
}

# check_paths: from sshd's log, A's key was always accepted from the file
# and never by the helper, and B's only by the helper. Prints the counts.
check_paths() {
	local fa fb n=$((WARMUP + LOGINS)) a_file a_cmd b_file b_cmd
	fa=$(ssh-keygen -lf "$T/key_a.pub" | awk '{ print $2 }')
	fb=$(ssh-keygen -lf "$T/key_b.pub" | awk '{ print $2 }')
	a_file=$(grep -cF \
	    "Accepted key ED25519 $fa found at $HOME_A/.ssh/authorized_keys:" \
	    "$T/sshd.log")
	a_cmd=$(grep -F "Accepted key ED25519 $fa found at" "$T/sshd.log" |
	    grep -cF "latchkey-authorized-keys")
	b_cmd=$(grep -F "Accepted key ED25519 $fb found at" "$T/sshd.log" |
	    grep -cF "$T/bin/latchkey-authorized-keys")
	b_file=$(grep -cF "Accepted key ED25519 $fb found at /" "$T/sshd.log")
	b_file=$((b_file - b_cmd))
	echo "path check (sshd's log): A's key accepted $a_file times from" \
	    "authorized_keys, $a_cmd by the helper;"
	echo "  B's key accepted $b_cmd times by the helper" \
	    "($n logins), $b_file from a file"
	[ "$a_cmd" -eq 0 ] && [ "$a_file" -ge "$n" ] && [ "$b_file" -eq 0 ] &&
	    [ "$b_cmd" -ge "$n" ]
}

# sem FILE: standard error of the mean, in ms, of microsecond values.
sem() {
	awk '{ n++; s += $1; q += $1 * $1 }
	    END { v = n > 1 ? (q - s * s / n) / (n - 1) : 0;
		printf "%.2f\n", sqrt(v > 0 ? v : 0) / sqrt(n) / 1000 }' "$1"
}

main() {
	local bin=$BUILD/bin i a b ma pa ea mb pb eb md pd ed ratio
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	[ -x "$bin/latchkey-authorized-keys" ] &&
	    [ -x "$bin/send_ssh_public_key" ] || die "no binaries in $bin"
	[ -x "$SSHD" ] || die "$SSHD missing (apt-get install openssh-server)"
	ensure_user "$USER_A" && ensure_user "$USER_B" &&
	    ensure_helper_user || die "cannot create the accounts"
	mkdir -p /run/sshd

	# sshd wants the command and every parent root-owned, not writable.
	T=$(mktemp -d /run/latchkey-bench.XXXXXX) || die "mktemp failed"
	chmod 0755 "$T"
	install -d -m 0755 "$T/bin"
	install -m 0755 -o root -g root "$bin/latchkey-authorized-keys" \
	    "$bin/send_ssh_public_key" "$T/bin/" || die "cannot copy binaries"

	ssh-keygen -q -t ed25519 -N '' -C "$USER_A@bench" -f "$T/key_a" &&
	    ssh-keygen -q -t ed25519 -N '' -C "$USER_B@bench" -f "$T/key_b" ||
	    die "ssh-keygen failed"
	HOME_A=$(getent passwd "$USER_A" | cut -d: -f6)
	plain_key "$USER_A" "$T/key_a.pub" ||
	    die "cannot write $USER_A's authorized_keys"
	rm -f "$(getent passwd "$USER_B" | cut -d: -f6)/.ssh/authorized_keys"
	"$T/bin/send_ssh_public_key" --username "$USER_B" \
	    --ssh-public-key "$(cat "$T/key_b.pub")" --ttl 3600 \
	    --store "$T/store" >/dev/null || die "send_ssh_public_key failed"
	# The helper must find B's key as the user sshd runs it as.
	runuser -u "$HELPER_USER" -- "$T/bin/latchkey-authorized-keys" \
	    --store "$T/store" "$USER_B" | grep -q '^expiry-time="' ||
	    die "the helper does not print $USER_B's key as $HELPER_USER"
	start_sshd || { cat "$T/sshd.log" >&2 2>/dev/null;
	    die "sshd did not start"; }

	echo "login_bench: sshd on 127.0.0.1:$PORT, kex curve25519-sha256;"
	echo "  $WARMUP untimed + $LOGINS timed logins per user, alternated" \
	    "(A B, B A, A B, ...)"
	echo "  A = $USER_A: key in ~/.ssh/authorized_keys (plain file)"
	echo "  B = $USER_B: no authorized_keys; key from send_ssh_public_key" \
	    "--ttl 3600, found by the helper"
	echo "  note: sshd tries AuthorizedKeysFile first and runs the" \
	    "AuthorizedKeysCommand only when no"
	echo "  key in the file matched, so A's logins do not run the helper;" \
	    "B's run it at least twice"
	echo "  (checked after the logins from sshd's log, LogLevel VERBOSE)."
	: >"$T/a.us"
	: >"$T/b.us"
	# A B, B A, A B, ...: neither user always goes first.
	for i in $(seq 1 $((WARMUP + LOGINS))); do
		if [ $((i % 2)) -eq 1 ]; then
			a=$(login "$USER_A" "$T/key_a") || exit 1
			b=$(login "$USER_B" "$T/key_b") || exit 1
		else
			b=$(login "$USER_B" "$T/key_b") || exit 1
			a=$(login "$USER_A" "$T/key_a") || exit 1
		fi
		if [ "$i" -gt "$WARMUP" ]; then
			echo "$a" >>"$T/a.us"
			echo "$b" >>"$T/b.us"
		fi
	done
	check_paths || die "logins did not take the paths compared here"
	read -r ma pa ea < <(stats "$T/a.us")
	read -r mb pb eb < <(stats "$T/b.us")
	paste "$T/a.us" "$T/b.us" | awk '{ print $2 - $1 }' >"$T/d.us"
	read -r md pd ed < <(stats "$T/d.us")
	printf '%-34s %6s %10s %8s %8s\n' login logins "median ms" "p90 ms" \
	    "mean ms"
	printf '%-34s %6d %10s %8s %8s\n' "A plain authorized_keys" \
	    "$LOGINS" "$ma" "$pa" "$ea"
	printf '%-34s %6d %10s %8s %8s\n' "B latchkey helper (%u %f)" \
	    "$LOGINS" "$mb" "$pb" "$eb"
	printf '%-34s %6d %10s %8s %8s\n' "B - A, pair by pair" \
	    "$LOGINS" "$md" "$pd" "$ed"
	echo "B - A per login: mean $ed ms, standard error $(sem "$T/d.us") ms;" \
	    "ratio of means $(awk -v a="$ea" -v b="$eb" \
	    'BEGIN { printf "%.3f", b / a }') (see bench/README.md)"
	ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }')
	if awk -v r="$ratio" -v m="$AIM_RATIO" 'BEGIN { exit !(r <= m) }'; then
		echo "ratio of medians helper/plain: $ratio (<= $AIM_RATIO):" \
		    "aim met"
	else
		echo "ratio of medians helper/plain: $ratio (<= $AIM_RATIO):" \
		    "aim missed"
	fi
}

main
