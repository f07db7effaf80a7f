#!/bin/bash
# tunnel_bench.sh BUILD_DIR: the session tunnel (issue 5) against a direct
# connection, on one machine, over loopback.
#
#   1. latchkeyd's memory with 100 idle open sessions: 100 `latchkey proxy
#      INSTANCE ECHO_PORT` processes whose stdin is a fifo nobody writes
#      to, spread over 5 instances (latchkeyd allows RELAY_PER_INSTANCE,
#      20, sessions per instance: 5 agents run on this machine); VmRSS
#      (and threads, descriptors) of latchkeyd and of the first agent
#      before, with the sessions open, and after they are closed; then
#      every one of them must be recorded Closed (`latchkey sessions
#      --output json`);
#   2. the round-trip time of a 1-byte echo (bench/echo_rtt), N times,
#      straight to the echo server and through `latchkey forward`;
#   3. scp of a 1 GiB file, up and down, straight to sshd on 127.0.0.1:PORT
#      and through `ssh -o ProxyCommand='latchkey proxy %h %p'` to
#      USER@INSTANCE, with the same cipher and key exchange; MB/s (10^6
#      bytes a second) of each, and the ratio tunnel/direct.
#
# Everything is real: latchkeyd (fresh database, session manager
# enabled), a registered latchkey-agent run with --session-ports
# SSHD_PORT,ECHO_PORT, Debian's sshd on a free loopback port, the
# OpenSSH client, the latchkey CLI.
#
# Aims (from the issue): scp ratio tunnel/direct >= 0.7 each way; echo RTT
# added by the tunnel < 1 ms (p50). A missed aim is printed ("aim
# missed"); it is not an error.
#
# LK_BENCH_PHASES (default "memory rtt scp") runs only the phases it
# names, e.g. LK_BENCH_PHASES=memory for the idle-session figure alone.
#
# Exit status: 0 when every step ran, 1 when the benchmark could not run
# or a check failed (a copy that differs, a session not opened or not
# recorded Closed). Needs root; writes under /run/latchkey-bench.XXXXXX
# and, for the big file, a directory in LK_BENCH_SCRATCH (default
# /dev/shm, a tmpfs, so that the disk is not what is measured); removes
# both at the end; talks only to 127.0.0.1; stops only the processes it
# started, by the pids it kept in files.
set -u
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

BUILD=${1:?usage: tunnel_bench.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
# The tests' harness starts latchkeyd and the agents (docs/testing.md).
LK_BUILD=$BUILD LK_BIN=$BUILD/bin
. "$(dirname "$0")/../tests/integration/lib.sh"
SCP_MB=${LK_BENCH_SCP_MB:-1024}		# file size, MiB
SCP_RUNS=${LK_BENCH_SCP_RUNS:-3}
PINGS=${LK_BENCH_PINGS:-2000}
PING_ROUNDS=${LK_BENCH_PING_ROUNDS:-3}
SESSIONS=${LK_BENCH_SESSIONS:-100}
PHASES=" ${LK_BENCH_PHASES:-memory rtt scp} "
SCRATCH_PARENT=${LK_BENCH_SCRATCH:-/dev/shm}
USER_T=lk-bench-tun
PER_INSTANCE=20		# RELAY_PER_INSTANCE in server/relay.h
AGENTS=$(((SESSIONS + PER_INSTANCE - 1) / PER_INSTANCE))
AIM_RATIO=0.7
AIM_RTT_US=1000
SSHD=/usr/sbin/sshd
SFTP_SERVER=/usr/lib/openssh/sftp-server
BIN=$BUILD/bin
LK=$BIN/latchkey
T=
S=
PIDS=()			# pid files of everything we started

die() {
	echo "tunnel_bench: $*" >&2
	exit 1
}

# stop_pids FILE...: SIGTERM to the pid in each FILE, waits up to 10 s
# for them all, then SIGKILL to the ones left (only those pids).
stop_pids() {
	local pf pid live=() i
	for pf in "$@"; do
		[ -s "$pf" ] || continue
		pid=$(cat "$pf")
		rm -f "$pf"
		[ -n "$pid" ] && kill "$pid" 2>/dev/null && live+=("$pid")
	done
	for i in $(seq 1 100); do
		[ "${#live[@]}" -gt 0 ] || return 0
		for pid in "${!live[@]}"; do
			kill -0 "${live[pid]}" 2>/dev/null || unset 'live[pid]'
		done
		[ "${#live[@]}" -gt 0 ] || return 0
		sleep 0.1
	done
	for pid in "${live[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

cleanup() {
	[ -n "${HOLD_FD:-}" ] && exec {HOLD_FD}>&-
	PIDS+=("${LK_PIDFILES[@]}")
	[ "${#PIDS[@]}" -gt 0 ] && stop_pids "${PIDS[@]}"
	[ -n "$S" ] && rm -rf "$S"
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

json_str() {
	grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 |
	    sed -E 's/.*: *"([^"]*)"/\1/'
}

# bg PIDNAME CMD...: CMD in the background, output to $T/PIDNAME.log, its
# pid in $T/PIDNAME.pid.
bg() {
	local name=$1
	shift
	"$@" >>"$T/$name.log" 2>&1 &
	echo $! >"$T/$name.pid"
	PIDS+=("$T/$name.pid")
}

# mem PID: "rss_kb threads fds" of a process.
mem() {
	local rss thr fds
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
	thr=$(awk '/^Threads:/ { print $2 }' "/proc/$1/status")
	fds=$(ls "/proc/$1/fd" | wc -l)
	echo "$rss $thr $fds"
}

# cpu_ms PID: user+system CPU time of a process so far, ms.
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' \
	    "/proc/$1/stat"
}

# median of the arguments (numbers).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	    if (NR % 2) print v[(NR + 1) / 2];
	    else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# field NAME LINE: the number after NAME= in LINE.
field() { sed -nE "s/.* $1=([0-9.-]+).*/\\1/p" <<<"$2"; }

# lkd_alive WHEN: fails, saying so, when latchkeyd is gone.
lkd_alive() {
	kill -0 "$LKD_PID" 2>/dev/null && return 0
	echo "tunnel_bench: latchkeyd died $1; the end of its log:" >&2
	tail -n 3 "$T/lkd.log" >&2
	return 1
}

lkd_count() {	# lkd_count FROM_LINE REGEX: matching lines of the log after
	tail -n +"$1" "$T/lkd.log" | grep -cE "$2"
}

# ---------------------------------------------------------------------
setup_user() {
	local h
	getent passwd "$USER_T" >/dev/null || useradd -m -s /bin/sh "$USER_T" ||
	    return 1
	# sshd without PAM refuses locked accounts; '*' is "no password".
	usermod -p '*' "$USER_T" || return 1
	h=$(getent passwd "$USER_T" | cut -d: -f6)
	ssh-keygen -q -t ed25519 -N '' -C tunnel-bench -f "$T/key" || return 1
	install -d -m 0700 -o "$USER_T" -g "$(id -gn "$USER_T")" "$h/.ssh" &&
	    install -m 0600 -o "$USER_T" -g "$(id -gn "$USER_T")" \
	    "$T/key.pub" "$h/.ssh/authorized_keys"
}

# The port free_port picked may be taken before sshd binds it (other runs
# share the machine): three tries, each on a new port.
setup_sshd() {
	local i
	mkdir -p "$T/sshd"
	ssh-keygen -q -t ed25519 -N '' -f "$T/sshd/host_key" || return 1
	for i in 1 2 3; do
		setup_sshd_on "$(free_port)" && return 0
	done
	return 1
}

setup_sshd_on() {
	SSHD_PORT=${1:?}
	cat >"$T/sshd/sshd_config" <<-CONF
	Port $SSHD_PORT
	ListenAddress 127.0.0.1
	HostKey $T/sshd/host_key
	PidFile $T/sshd.pid
	AuthorizedKeysFile .ssh/authorized_keys
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	PrintMotd no
	Subsystem sftp $SFTP_SERVER
	LogLevel ERROR
	CONF
	PIDS+=("$T/sshd.pid")
	"$SSHD" -f "$T/sshd/sshd_config" -E "$T/sshd/sshd.log" || return 1
	listening "$SSHD_PORT" 5
}

setup_echo() {
	local i
	bg echo "$BUILD/bench/echo_rtt" serve 0
	for i in $(seq 1 100); do
		ECHO_PORT=$(sed -n 's/^echo_rtt: listening port=//p' \
		    "$T/echo.log")
		[ -n "$ECHO_PORT" ] && return 0
		sleep 0.05
	done
	return 1
}

# latchkeyd (lk_lkd_start lkd: log $T/lkd.log, PID LKD_PID) on a fresh
# database with the session manager enabled; the latchkey command's
# environment for it.
setup_lkd() {
	DB=$T/lkd.db
	lk_accesskey AK --description tunnel-bench 2>>"$T/lkd.log" &&
	    lk_activation ACT --count "$AGENTS" 2>>"$T/lkd.log" &&
	    lk_lkd_admin session-manager enable >>"$T/lkd.log" 2>&1 &&
	    lk_lkd_start lkd || return 1
	export LATCHKEY_ENDPOINT=$LKD_URL
	export ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
	    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
	export LATCHKEY_CONFIG=$T/cli-config.json HOME=$T/home
	unset LATCHKEY_PROFILE
	mkdir -p "$HOME"
}

# setup_agent K: the K-th agent (lk_agent_start agent-K: log
# $T/agent-K.log), registered as its own instance (IIDS[K-1]); agent 1
# (IID, AGENT1_PID) is the one of the copies and the echo.
setup_agent() {
	local k=$1
	lk_agent_register "agent-$k" || return 1
	IIDS+=("$AGENT_IID")
	lk_agent_run "agent-$k" --session-ports "$SSHD_PORT,$ECHO_PORT" ||
	    return 1
	if [ "$k" -eq 1 ]; then
		IID=$AGENT_IID
		AGENT1_PID=$AGENT_PID
	fi
}

# ---------------------------------------------------------------------
# 1. Memory with idle sessions.
phase_memory() {
	local i mark n pf before with after abefore awith aafter ids bad \
	    t0 proxies=()
	echo "-- latchkeyd's memory with $SESSIONS idle open sessions" \
	    "($AGENTS instances)"
	# One session opened and closed first, so that "before" has the
	# relay's code and the agent's first dial-back behind it.
	timeout 30 "$LK" proxy "$IID" "$ECHO_PORT" </dev/null >/dev/null \
	    2>>"$T/proxy.err" || { echo "tunnel_bench: a first session" \
	    "failed: $(tail -n 3 "$T/proxy.err")" >&2; return 1; }
	sleep 1
	before=$(mem "$LKD_PID"); abefore=$(mem "$AGENT1_PID")
	mark=$(($(wc -l <"$T/lkd.log") + 1))
	mkfifo "$T/hold"
	exec {HOLD_FD}<>"$T/hold"
	t0=${EPOCHREALTIME/./}
	for i in $(seq 1 "$SESSIONS"); do
		# Without the {HOLD_FD}>&- each proxy would hold the fifo open
		# for writing itself and never see EOF.
		"$LK" proxy "${IIDS[i % AGENTS]}" "$ECHO_PORT" <"$T/hold" \
		    >/dev/null \
		    2>>"$T/proxy.err" {HOLD_FD}>&- &
		echo $! >"$T/proxy-$i.pid"
		PIDS+=("$T/proxy-$i.pid")
		proxies+=("$T/proxy-$i.pid")
	done
	for i in $(seq 1 600); do
		n=$(lkd_count "$mark" ' session s-[a-z0-9]+ connected ')
		[ "$n" -ge "$SESSIONS" ] && break
		sleep 0.1
	done
	[ "$n" -ge "$SESSIONS" ] || { echo "tunnel_bench: only $n of" \
	    "$SESSIONS sessions connected after 60 s" >&2;
	    tail -n 5 "$T/proxy.err" >&2; return 1; }
	echo "$SESSIONS sessions connected in" \
	    "$(((${EPOCHREALTIME/./} - t0) / 1000)) ms (started at once)"
	sleep 2
	lkd_alive "with the sessions open" || return 1
	with=$(mem "$LKD_PID"); awith=$(mem "$AGENT1_PID")
	ids=$(tail -n +"$mark" "$T/lkd.log" |
	    sed -nE 's/.* session (s-[a-z0-9]+) connected .*/\1/p' | sort -u)
	# EOF on every proxy's stdin: each closes its session normally.
	exec {HOLD_FD}>&-
	HOLD_FD=
	for i in $(seq 1 200); do
		n=0
		for pf in "${proxies[@]}"; do
			[ -s "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null &&
			    n=$((n + 1))
		done
		[ "$n" -eq 0 ] && break
		sleep 0.1
	done
	[ "$n" -eq 0 ] || { echo "tunnel_bench: $n proxies still running" \
	    "20 s after their stdin closed" >&2; return 1; }
	for pf in "${proxies[@]}"; do
		rm -f "$pf"
	done
	for i in $(seq 1 100); do
		n=$(lkd_count "$mark" ' session s-[a-z0-9]+ Closed ')
		[ "$n" -ge "$SESSIONS" ] && break
		sleep 0.1
	done
	sleep 1
	lkd_alive "while the sessions closed" || return 1
	after=$(mem "$LKD_PID"); aafter=$(mem "$AGENT1_PID")
	printf '%-36s %10s %8s %6s   %s\n' "latchkeyd" "VmRSS_kB" threads fds \
	    "(agent 1: VmRSS_kB threads fds)"
	printf '%-36s %10s %8s %6s   %s\n' "before (1 session opened, closed)" \
	    $before "$abefore"
	printf '%-36s %10s %8s %6s   %s\n' "with $SESSIONS idle sessions" \
	    $with "$awith"
	printf '%-36s %10s %8s %6s   %s\n' "after they were closed" \
	    $after "$aafter"
	awk -v b="${before%% *}" -v w="${with%% *}" -v n="$SESSIONS" \
	    -v ab="${abefore%% *}" -v aw="${awith%% *}" \
	    -v na="$(((SESSIONS + AGENTS - 1) / AGENTS))" 'BEGIN {
	    printf "per idle session: latchkeyd %.1f kB, agent %.1f kB\n",
		(w - b) / n, (aw - ab) / na }'
	# The server's records: all of them Closed, normally.
	"$LK" sessions --max 100 --output json >"$T/sessions.json" \
	    2>>"$T/proxy.err" || { echo "tunnel_bench: latchkey sessions" \
	    "failed" >&2; return 1; }
	jq -r '.Sessions.Session[] | [.SessionId,
	    (.Connections.Connection[0].Status // "-"),
	    (.Connections.Connection[0].ClosedReason // "-")] | @tsv' \
	    "$T/sessions.json" >"$T/sessions.tsv" || return 1
	n=0 bad=0
	: >"$T/reasons"
	for i in $ids; do
		if grep -qP "^$i\tClosed\t" "$T/sessions.tsv"; then
			n=$((n + 1))
			grep -P "^$i\t" "$T/sessions.tsv" | cut -f3 >>"$T/reasons"
		else
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && echo "tunnel_bench: session $i:" \
			    "$(grep -P "^$i\t" "$T/sessions.tsv" | tr '\t' ' ')" \
			    >&2
		fi
	done
	echo "server check (latchkey sessions): $n of $SESSIONS recorded" \
	    "Closed ($(sort "$T/reasons" | uniq -c | sed -E 's/^ *([0-9]+) (.*)/\1 "\2"/' |
	    paste -sd ' '))"
	[ "$n" -eq "$SESSIONS" ]
}

# ---------------------------------------------------------------------
# 2. 1-byte echo.
phase_rtt() {
	local i line d_p50=() d_p99=() t_p50=() t_p99=() fport
	echo "-- 1-byte echo, $PINGS round trips after 100 untimed," \
	    "$PING_ROUNDS rounds alternated"
	bg forward "$LK" forward "$IID" "$ECHO_PORT" 0
	for i in $(seq 1 100); do
		fport=$(sed -nE 's/.*forwarding 127\.0\.0\.1 port ([0-9]+) .*/\1/p' \
		    "$T/forward.log")
		[ -n "$fport" ] && break
		sleep 0.05
	done
	[ -n "$fport" ] || { echo "tunnel_bench: latchkey forward did not" \
	    "start: $(tail -n 3 "$T/forward.log")" >&2; return 1; }
	for i in $(seq 1 "$PING_ROUNDS"); do
		line=$("$BUILD/bench/echo_rtt" ping "$ECHO_PORT" "$PINGS") ||
		    return 1
		echo "direct  $i: ${line#echo_rtt: }"
		d_p50+=("$(field p50_us "$line")")
		d_p99+=("$(field p99_us "$line")")
		line=$(timeout 120 "$BUILD/bench/echo_rtt" ping "$fport" \
		    "$PINGS") || { echo "tunnel_bench: echo through the" \
		    "tunnel failed: $(tail -n 3 "$T/forward.log")" >&2;
		    return 1; }
		echo "tunnel  $i: ${line#echo_rtt: }"
		t_p50+=("$(field p50_us "$line")")
		t_p99+=("$(field p99_us "$line")")
	done
	stop_pids "$T/forward.pid"
	lkd_alive "during the echo" || return 1
	awk -v dp="$(median "${d_p50[@]}")" -v dq="$(median "${d_p99[@]}")" \
	    -v tp="$(median "${t_p50[@]}")" -v tq="$(median "${t_p99[@]}")" \
	    -v aim="$AIM_RTT_US" 'BEGIN {
	    printf "%-28s %10s %10s\n", "(median of the rounds)", "p50_us", "p99_us"
	    printf "%-28s %10.1f %10.1f\n", "direct", dp, dq
	    printf "%-28s %10.1f %10.1f\n", "through latchkey forward", tp, tq
	    printf "%-28s %10.1f %10.1f\n", "added by the tunnel", tp - dp, tq - dq
	    printf "added p50 %.3f ms (aim < %.0f ms): %s\n", (tp - dp) / 1000,
		aim / 1000, (tp - dp < aim) ? "aim met" : "aim missed" }'
}

# ---------------------------------------------------------------------
# 3. scp of a big file.
SSH_OPTS=()
set_ssh_opts() {
	SSH_OPTS=(-F /dev/null -i "$T/key"
	    -o IdentitiesOnly=yes -o BatchMode=yes
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	    -o LogLevel=ERROR -o ConnectTimeout=20
	    -o Ciphers=aes128-gcm@openssh.com
	    -o KexAlgorithms=curve25519-sha256 -o Compression=no)
}

# xfer WAY DIR: one scp; WAY direct|tunnel, DIR up|down; prints seconds.
xfer() {
	local dest src dst t0 t1 c0 c1 a0 a1 proxy=()
	if [ "$1" = tunnel ]; then
		dest=$IID
		proxy=(-o "ProxyCommand=$LK proxy %h %p")
	else
		dest=127.0.0.1
	fi
	if [ "$2" = up ]; then
		src=$S/src/file dst=$USER_T@$dest:$S/up/file
		rm -f "$S/up/file"
	else
		src=$USER_T@$dest:$S/src/file dst=$S/down/file
		rm -f "$S/down/file"
	fi
	c0=$(cpu_ms "$LKD_PID"); a0=$(cpu_ms "$AGENT1_PID")
	t0=${EPOCHREALTIME/./}
	timeout 600 scp -q -P "$SSHD_PORT" "${SSH_OPTS[@]}" "${proxy[@]}" "$src" "$dst" \
	    </dev/null 2>>"$T/scp.err" || { echo "tunnel_bench: scp $1" \
	    "$2 failed: $(tail -n 3 "$T/scp.err")" >&2; return 1; }
	t1=${EPOCHREALTIME/./}
	c1=$(cpu_ms "$LKD_PID"); a1=$(cpu_ms "$AGENT1_PID")
	# The copy must be the file.
	if [ "$2" = up ]; then
		cmp -s "$S/src/file" "$S/up/file" || { echo "tunnel_bench:" \
		    "scp $1 up: the copy differs" >&2; return 1; }
		rm -f "$S/up/file"
	else
		cmp -s "$S/src/file" "$S/down/file" || { echo "tunnel_bench:" \
		    "scp $1 down: the copy differs" >&2; return 1; }
		rm -f "$S/down/file"
	fi
	XFER_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	XFER_CPU="$((c1 - c0)) $((a1 - a0))"
}

# login WAY: seconds for `ssh ... true` (connection, tunnel, key
# exchange, authentication, session) without the file.
login() {
	local t0 t1 dest=127.0.0.1 proxy=()
	if [ "$1" = tunnel ]; then
		dest=$IID
		proxy=(-o "ProxyCommand=$LK proxy %h %p")
	fi
	t0=${EPOCHREALTIME/./}
	timeout 60 ssh -p "$SSHD_PORT" "${SSH_OPTS[@]}" "${proxy[@]}" "$USER_T@$dest" \
	    true </dev/null 2>>"$T/scp.err" || { echo "tunnel_bench: ssh" \
	    "$1 failed: $(tail -n 3 "$T/scp.err")" >&2; return 1; }
	t1=${EPOCHREALTIME/./}
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

phase_scp() {
	local r way dir bytes s lds=() lts=() cpu_l=() cpu_a=()
	local -A secs
	bytes=$((SCP_MB * 1048576))
	echo "-- scp of $SCP_MB MiB ($bytes bytes), $SCP_RUNS runs each," \
	    "aes128-gcm@openssh.com, curve25519-sha256, no compression"
	mkdir -p "$S/src" "$S/up" "$S/down"
	chmod 0711 "$S"
	chmod 0755 "$S/src"
	chown "$USER_T" "$S/up"
	head -c "$bytes" /dev/urandom >"$S/src/file" || return 1
	chmod 0644 "$S/src/file"
	set_ssh_opts
	for r in 1 2 3; do
		s=$(login direct) || return 1
		lds+=("$s")
		s=$(login tunnel) || return 1
		lts+=("$s")
	done
	printf '%-22s %s\n' "run" "seconds (latchkeyd, agent CPU ms for the tunnel)"
	for r in $(seq 1 "$SCP_RUNS"); do
		for dir in up down; do
			for way in direct tunnel; do
				xfer "$way" "$dir" || return 1
				secs[$way-$dir]+="$XFER_S "
				s="$XFER_S"
				if [ "$way" = tunnel ]; then
					s+="  (${XFER_CPU% *}, ${XFER_CPU#* })"
					cpu_l+=("${XFER_CPU% *}")
					cpu_a+=("${XFER_CPU#* }")
				fi
				printf '%-22s %s\n' "$r $way $dir" "$s"
			done
		done
	done
	printf '%-10s %12s %12s %8s %s\n' "(median)" "direct MB/s" "tunnel MB/s" \
	    ratio "aim >= $AIM_RATIO"
	for dir in up down; do
		# shellcheck disable=SC2086
		awk -v b="$bytes" -v d="$(median ${secs[direct-$dir]})" \
		    -v t="$(median ${secs[tunnel-$dir]})" -v aim="$AIM_RATIO" \
		    -v dir="$dir" 'BEGIN {
		    dr = b / d / 1e6; tr = b / t / 1e6;
		    printf "%-10s %12.1f %12.1f %8.2f %s\n", dir, dr, tr, tr / dr,
			(tr / dr >= aim) ? "aim met" : "aim missed" }'
	done
	echo "ssh login only (ssh true), median of 3: direct" \
	    "$(median "${lds[@]}") s, tunnel $(median "${lts[@]}") s"
	echo "CPU per tunnelled copy, median: latchkeyd $(median "${cpu_l[@]}")" \
	    "ms, agent $(median "${cpu_a[@]}") ms"
	lkd_alive "during the copies"
}

# ---------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root (sshd, a user, /run)"
[ -x "$BUILD/bench/echo_rtt" ] || die "$BUILD/bench/echo_rtt missing;" \
    "run make $BUILD/bench/echo_rtt"
for f in "$SSHD" "$SFTP_SERVER" "$LK" "$BIN/latchkeyd" \
    "$BIN/latchkey-agent"; do
	[ -x "$f" ] || die "$f missing"
done
command -v jq >/dev/null || die "jq missing"
# DescribeTerminalSessions returns at most 100: the check needs them all.
[ "$SESSIONS" -ge 1 ] && [ "$SESSIONS" -le 100 ] ||
    die "LK_BENCH_SESSIONS: 1 to 100"
for p in $PHASES; do
	case $p in memory|rtt|scp) ;; *) die "LK_BENCH_PHASES: $p is not" \
	    "memory, rtt or scp" ;; esac
done
T=$(mktemp -d /run/latchkey-bench.XXXXXX) || die "no scratch directory"
S=$(mktemp -d "$SCRATCH_PARENT/latchkey-bench.XXXXXX") ||
    die "no scratch directory in $SCRATCH_PARENT"

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
setup_user || die "cannot set up the user $USER_T"
setup_sshd || die "sshd did not start: $(cat "$T/sshd/sshd.log" 2>/dev/null)"
setup_echo || die "the echo server did not start"
setup_lkd || die "latchkeyd did not start: $(tail -n 5 "$T/lkd.log")"
IIDS=()
for k in $(seq 1 "$AGENTS"); do
	setup_agent "$k" || die "agent $k did not start:" \
	    "$(tail -n 5 "$T/agent-$k.log")"
done
echo "latchkeyd 127.0.0.1:$LKD_PORT, instance $IID (and $((AGENTS - 1)) more)," \
    "sshd 127.0.0.1:$SSHD_PORT," \
    "echo 127.0.0.1:$ECHO_PORT"

# want PHASE: is PHASE among LK_BENCH_PHASES?
want() { [[ $PHASES == *" $1 "* ]]; }
rc=0
want memory && { phase_memory || rc=1; echo; }
[ "$rc" -eq 0 ] && want rtt && { phase_rtt || rc=1; echo; }
[ "$rc" -eq 0 ] && want scp && { phase_scp || rc=1; }
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$rc" -ne 0 ]; then
	echo "tunnel_bench: logs:" >&2
	tail -n 20 "$T/lkd.log" "$T/agent-1.log" >&2 2>/dev/null
fi
exit "$rc"
