#!/bin/bash
# tunnel_bench.sh BUILD_DIR: the session tunnel (issues 5 and 13) against
# a direct connection, on one machine, over loopback and over an emulated
# long, narrow link between two network namespaces of its own.
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
#   3. scp of a 1 GiB file, up and down, straight to sshd on 127.0.0.1:PORT,
#      through a bare forwarder (bench/splice_fwd as the ProxyCommand:
#      the machine's own limit with one more process on the path) and
#      through `ssh -o ProxyCommand='latchkey proxy %h %p'` to
#      USER@INSTANCE, with the same cipher and key exchange; MB/s (10^6
#      bytes a second) of each, the ratios, and the CPU ms per GiB of
#      ssh+scp, sshd, the forwarder or proxy (bench/cpu_wrap), latchkeyd
#      and the agent;
#   4. (longlink) the same scp over tests/tools/longlink's link (a veth
#      pair between two namespaces, tbf rate limit, bench/delay_fwd
#      holding each chunk 25 ms each way): latchkeyd, the agent and an
#      sshd move to the far namespace, scp and `latchkey proxy` run in
#      the near one; direct against tunnel.
#
# Everything is real: latchkeyd (fresh database, session manager
# enabled), a registered latchkey-agent run with --session-ports
# SSHD_PORT,ECHO_PORT, Debian's sshd on a free loopback port, the
# OpenSSH client, the latchkey CLI.
#
# Aims (issue 13): scp tunnel/direct >= 0.8 each way, or, where the bare
# forwarder itself stays under 0.8 of direct, tunnel/bare >= 0.9; over the
# long link tunnel/direct >= 0.9; echo RTT added by the tunnel < 0.2 ms
# (p50); memory per idle session <= 32 kB in latchkeyd and in the agent.
# A missed aim is printed ("aim missed"); it is not an error.
#
# LK_BENCH_PHASES (default "memory rtt scp longlink") runs only the phases
# it names, e.g. LK_BENCH_PHASES=memory for the idle-session figure alone.
# longlink runs last whatever the order: it moves latchkeyd and the agent.
#
# Exit status: 0 when every step ran, 1 when the benchmark could not run
# or a check failed (a copy that differs, a session not opened or not
# recorded Closed). Needs root; writes under /run/latchkey-bench.XXXXXX
# and, for the big file, a directory in LK_BENCH_SCRATCH (default
# /dev/shm, a tmpfs, so that the disk is not what is measured); removes
# both at the end; talks only to 127.0.0.1 and inside the two network
# namespaces it makes (and deletes at the end); stops only the processes
# it started, by the pids it kept in files.
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
PHASES=" ${LK_BENCH_PHASES:-memory rtt scp longlink} "
LONG_MB=${LK_BENCH_LONG_MB:-256}	# file size over the long link, MiB
LONG_RUNS=${LK_BENCH_LONG_RUNS:-1}
LONG_RATE=${LK_BENCH_LONG_RATE:-100mbit}
LONG_DELAY_MS=${LK_BENCH_LONG_DELAY_MS:-25}	# held each way
SCRATCH_PARENT=${LK_BENCH_SCRATCH:-/dev/shm}
USER_T=lk-bench-tun
PER_INSTANCE=20		# RELAY_PER_INSTANCE in server/relay.h
# One access key opens all the sessions: its quota (default 5 per
# instance) raised to the instance's.
LKD_OPTS="--sessions-per-key $PER_INSTANCE ${LK_BENCH_LKD_OPTS:-}"
AGENTS=$(((SESSIONS + PER_INSTANCE - 1) / PER_INSTANCE))
AIM_RATIO=0.8		# tunnel/direct
AIM_BARE=0.9		# tunnel/bare, where bare/direct < AIM_RATIO
AIM_LONG=0.9		# tunnel/direct over the long link
AIM_RTT_US=200		# added p50
AIM_MEM_KB=32		# per idle session, latchkeyd and agent each
SSHD=/usr/sbin/sshd
SFTP_SERVER=/usr/lib/openssh/sftp-server
BIN=$BUILD/bin
LK=$BIN/latchkey
SPLICE_FWD=$BUILD/bench/splice_fwd
CPU_WRAP=$BUILD/bench/cpu_wrap
LONGLINK=$(cd "$(dirname "$0")/.." && pwd)/tests/tools/longlink
export LONGLINK_DELAY_FWD=$BUILD/bench/delay_fwd
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
	[ -n "$T" ] && [ -e "$T/ll/env" ] && "$LONGLINK" down "$T/ll"
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
	# ssh checks it strictly (HostKeyAlias bench-sshd), no trust on first use.
	printf 'bench-sshd %s\n' "$(cut -d' ' -f1,2 "$T/sshd/host_key.pub")" \
	    >"$T/known_hosts"
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
	# In the foreground under cpu_wrap -r, which reaps whatever sshd's
	# connections leave behind: see sshd_cpu.
	bg sshd-wrap "$CPU_WRAP" -r "$T/sshd-cpu" "$SSHD" -D \
	    -f "$T/sshd/sshd_config" -E "$T/sshd/sshd.log"
	listening "$SSHD_PORT" 5 && sshd_pids "$T/sshd-wrap.pid"
}

# sshd_pids WRAPPER_PIDFILE: SSHD_WPID (cpu_wrap -r) and SSHD_LPID (the
# listening sshd, its child).
sshd_pids() {
	local i
	SSHD_WPID=$(cat "$1")
	for i in $(seq 1 100); do
		SSHD_LPID=$(pgrep -P "$SSHD_WPID" | head -n 1)
		[ -n "$SSHD_LPID" ] && return 0
		sleep 0.05
	done
	return 1
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
	    lk_lkd_start lkd $LKD_OPTS || return 1
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
	    -v na="$(((SESSIONS + AGENTS - 1) / AGENTS))" \
	    -v aim="$AIM_MEM_KB" 'BEGIN {
	    l = (w - b) / n; a = (aw - ab) / na;
	    printf "per idle session: latchkeyd %.1f kB, agent %.1f kB" \
		" (aim <= %d kB each): %s\n", l, a, aim,
		(l <= aim && a <= aim) ? "aim met" : "aim missed" }'
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
	    printf "added p50 %.3f ms (aim < %.1f ms): %s\n", (tp - dp) / 1000,
		aim / 1000, (tp - dp < aim) ? "aim met" : "aim missed" }'
}

# ---------------------------------------------------------------------
# 3. scp of a big file: direct, through the bare forwarder, through the
# tunnel; 4. the same over the emulated long, narrow link.
SSH_OPTS=()
set_ssh_opts() {
	SSH_OPTS=(-F /dev/null -i "$T/key"
	    -o IdentitiesOnly=yes -o BatchMode=yes
	    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts"
	    -o GlobalKnownHostsFile=/dev/null -o HostKeyAlias=bench-sshd
	    -o LogLevel=ERROR -o ConnectTimeout=20
	    -o Ciphers=aes128-gcm@openssh.com
	    -o KexAlgorithms=curve25519-sha256 -o Compression=no)
}

# cpu_children_ms PID: CPU time of the waited-for children of a process
# (cutime + cstime), ms.
cpu_children_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($16 + $17) * 1000 / hz) }' \
	    "/proc/$1/stat"
}

# sshd_cpu: CPU ms of sshd's ended connections so far: what the listener
# reaped (each connection's first process, with what that one waited
# for) plus what cpu_wrap -r reaped (processes whose parent ended first,
# e.g. the session's unprivileged child and sftp-server, which the
# listener never sees).
sshd_cpu() {
	echo $(($(cpu_children_ms "$SSHD_WPID") + $(cpu_children_ms "$SSHD_LPID")))
}

# sshd_idle: waits (up to 5 s) until nothing of sshd's connections is
# left to reap: the listener has no child, cpu_wrap no other child.
sshd_idle() {
	local i
	for i in $(seq 1 100); do
		! pgrep -P "$SSHD_LPID" >/dev/null &&
		    [ "$(pgrep -P "$SSHD_WPID" | wc -l)" -le 1 ] && return 0
		sleep 0.05
	done
	return 1
}

# wrap_ms FILE: "U+S" in ms from a cpu_wrap line, waiting up to 10 s for
# it (a detached proxy writes it when it has exited); "-" without.
wrap_ms() {
	local i
	for i in $(seq 1 200); do
		if [ -s "$1" ]; then
			sed -nE 's/^user_ms=([0-9]+) sys_ms=([0-9]+) .*/\1 \2/p' \
			    "$1" | awk '{ print $1 + $2 }'
			return 0
		fi
		sleep 0.05
	done
	echo -
}

# way_args WAY: sets DEST, PORT, NS (a command prefix) and PROXY (ssh
# options) for WAY: direct, bare, tunnel (loopback), long-direct,
# long-tunnel (over the emulated link, from the near namespace).
way_args() {
	NS=() PROXY=() PORT=$SSHD_PORT
	case $1 in
	direct) DEST=127.0.0.1 ;;
	bare) DEST=127.0.0.1
	    PROXY=(-o "ProxyCommand=$CPU_WRAP -d $T/fwd-cpu $SPLICE_FWD %h %p") ;;
	tunnel) DEST=$IID
	    PROXY=(-o "ProxyCommand=$CPU_WRAP -d $T/fwd-cpu $LK proxy %h %p") ;;
	long-direct) DEST=$LL_FAR_IP PORT=$LL_SSH_PORT
	    NS=(ip netns exec "$LL_NEAR") ;;
	long-tunnel) DEST=$IID NS=(ip netns exec "$LL_NEAR")
	    PROXY=(-o "ProxyCommand=$CPU_WRAP -d $T/fwd-cpu $LK proxy %h %p") ;;
	esac
}

# xfer WAY DIR FILE: one scp of $S/src/FILE; WAY as way_args, DIR up or
# down. Sets XFER_S (seconds) and XFER_CPU: "ssh+scp sshd forwarder
# latchkeyd agent", CPU ms of each in this copy ("-" where there is none).
xfer() {
	local src dst t0 t1 c0 c1 a0 a1 s0 s1 scp_ms fwd_ms=- lkd=- agent=-
	way_args "$1"
	if [ "$2" = up ]; then
		src=$S/src/$3 dst=$USER_T@$DEST:$S/up/$3
		rm -f "$S/up/$3"
	else
		src=$USER_T@$DEST:$S/src/$3 dst=$S/down/$3
		rm -f "$S/down/$3"
	fi
	rm -f "$T/fwd-cpu" "$T/scp-cpu"
	sshd_idle
	c0=$(cpu_ms "$LKD_PID"); a0=$(cpu_ms "$AGENT1_PID")
	s0=$(sshd_cpu)
	t0=${EPOCHREALTIME/./}
	"${NS[@]}" "$CPU_WRAP" "$T/scp-cpu" timeout 600 scp -q -P "$PORT" \
	    "${SSH_OPTS[@]}" "${PROXY[@]}" "$src" "$dst" \
	    </dev/null 2>>"$T/scp.err" || { echo "tunnel_bench: scp $1" \
	    "$2 failed: $(tail -n 3 "$T/scp.err")" >&2; return 1; }
	t1=${EPOCHREALTIME/./}
	scp_ms=$(wrap_ms "$T/scp-cpu")
	[ "${#PROXY[@]}" -gt 0 ] && fwd_ms=$(wrap_ms "$T/fwd-cpu")
	sshd_idle || echo "tunnel_bench: sshd's connection" \
	    "still running 5 s after scp $1 $2; its CPU is short" >&2
	s1=$(sshd_cpu)
	c1=$(cpu_ms "$LKD_PID"); a1=$(cpu_ms "$AGENT1_PID")
	if [[ $1 == *tunnel ]]; then
		lkd=$((c1 - c0)) agent=$((a1 - a0))
	fi
	# The copy must be the file.
	if [ "$2" = up ]; then
		cmp -s "$S/src/$3" "$S/up/$3" || { echo "tunnel_bench:" \
		    "scp $1 up: the copy differs" >&2; return 1; }
		rm -f "$S/up/$3"
	else
		cmp -s "$S/src/$3" "$S/down/$3" || { echo "tunnel_bench:" \
		    "scp $1 down: the copy differs" >&2; return 1; }
		rm -f "$S/down/$3"
	fi
	XFER_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	XFER_CPU="$scp_ms $((s1 - s0)) $fwd_ms $lkd $agent"
}

# login WAY: seconds for `ssh ... true` (connection, tunnel, key
# exchange, authentication, session) without the file.
login() {
	local t0 t1
	way_args "$1"
	t0=${EPOCHREALTIME/./}
	"${NS[@]}" timeout 60 ssh -p "$PORT" "${SSH_OPTS[@]}" "${PROXY[@]}" \
	    "$USER_T@$DEST" true </dev/null 2>>"$T/scp.err" ||
	    { echo "tunnel_bench: ssh $1 failed: $(tail -n 3 "$T/scp.err")" >&2
	      return 1; }
	t1=${EPOCHREALTIME/./}
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

# scp_files NAME MIB: the source file $S/src/NAME, random bytes; the
# directories the copies go to.
scp_files() {
	mkdir -p "$S/src" "$S/up" "$S/down"
	chmod 0711 "$S"
	chmod 0755 "$S/src"
	chown "$USER_T" "$S/up"
	[ -s "$S/src/$1" ] && return 0
	head -c "$(($2 * 1048576))" /dev/urandom >"$S/src/$1" || return 1
	chmod 0644 "$S/src/$1"
}

# scp_runs FILE RUNS WAY...: RUNS rounds of (up, down) x WAYs, one line
# each; fills SECS[WAY-DIR] and CPU[WAY-DIR-K] (K 1..5 as in XFER_CPU)
# with one value a run, space-separated.
scp_runs() {
	local file=$1 runs=$2 r dir way k v
	shift 2
	printf '%-22s %8s %8s %6s %9s %9s %6s   %s\n' "run" seconds ssh+scp \
	    sshd fwd/proxy latchkeyd agent "(CPU ms)"
	for r in $(seq 1 "$runs"); do
		for dir in up down; do
			for way in "$@"; do
				xfer "$way" "$dir" "$file" || return 1
				SECS[$way-$dir]+="$XFER_S "
				k=1
				for v in $XFER_CPU; do
					CPU[$way-$dir-$k]+="$v "
					k=$((k + 1))
				done
				# shellcheck disable=SC2086
				printf '%-22s %8s %8s %6s %9s %9s %6s\n' \
				    "$r $way $dir" "$XFER_S" $XFER_CPU
			done
		done
	done
}

# med_ms_gib WAY-DIR-K BYTES: the median of CPU[WAY-DIR-K], ms per GiB;
# "-" where it was not measured.
med_ms_gib() {
	local v
	# shellcheck disable=SC2086
	v=$(printf '%s\n' ${CPU[$1]} | grep -v '^-$' | tr '\n' ' ')
	if [ -z "${v// /}" ]; then
		echo -
		return 0
	fi
	# shellcheck disable=SC2086
	awk -v m="$(median $v)" -v b="$2" \
	    'BEGIN { printf "%.0f", m * 1073741824 / b }'
}

declare -A SECS CPU
phase_scp() {
	local bytes r s dir way k lds=() lbs=() lts=() row
	bytes=$((SCP_MB * 1048576))
	echo "-- scp of $SCP_MB MiB ($bytes bytes), $SCP_RUNS runs each," \
	    "aes128-gcm@openssh.com, curve25519-sha256, no compression"
	echo "   direct: to 127.0.0.1; bare: ProxyCommand splice_fwd %h %p;" \
	    "tunnel: ProxyCommand latchkey proxy %h %p"
	scp_files big "$SCP_MB" || return 1
	set_ssh_opts
	for r in 1 2 3; do
		s=$(login direct) || return 1
		lds+=("$s")
		s=$(login bare) || return 1
		lbs+=("$s")
		s=$(login tunnel) || return 1
		lts+=("$s")
	done
	SECS=() CPU=()
	scp_runs big "$SCP_RUNS" direct bare tunnel || return 1
	printf '%-8s %11s %11s %11s %9s %9s %9s  %s\n' "(median)" \
	    "direct MB/s" "bare MB/s" "tunnel MB/s" tun/dir bare/dir tun/bare \
	    "aim: tun/dir >= $AIM_RATIO, or tun/bare >= $AIM_BARE where bare/dir < $AIM_RATIO"
	for dir in up down; do
		# shellcheck disable=SC2086
		awk -v b="$bytes" -v d="$(median ${SECS[direct-$dir]})" \
		    -v f="$(median ${SECS[bare-$dir]})" \
		    -v t="$(median ${SECS[tunnel-$dir]})" -v aim="$AIM_RATIO" \
		    -v aimb="$AIM_BARE" -v dir="$dir" 'BEGIN {
		    dr = b / d / 1e6; fr = b / f / 1e6; tr = b / t / 1e6;
		    met = tr / dr >= aim || (fr / dr < aim && tr / fr >= aimb);
		    printf "%-8s %11.1f %11.1f %11.1f %9.2f %9.2f %9.2f  %s\n",
			dir, dr, fr, tr, tr / dr, fr / dr, tr / fr,
			met ? "aim met" : "aim missed" }'
	done
	echo "ssh login only (ssh true), median of 3: direct" \
	    "$(median "${lds[@]}") s, bare $(median "${lbs[@]}") s," \
	    "tunnel $(median "${lts[@]}") s"
	echo "CPU ms per GiB copied (median of the runs; ssh+scp: the client" \
	    "side, sshd: the session's sshd and sftp-server):"
	printf '%-14s %8s %8s %10s %10s %8s %12s\n' "" ssh+scp sshd \
	    fwd/proxy latchkeyd agent "tunnel total"
	for dir in up down; do
		for way in direct bare tunnel; do
			row=()
			for k in 1 2 3 4 5; do
				row+=("$(med_ms_gib "$way-$dir-$k" "$bytes")")
			done
			s=-
			[ "$way" = tunnel ] && s=$(printf '%s\n' "${row[@]:2:3}" |
			    awk '$1 != "-" { t += $1 } END { print t }')
			printf '%-14s %8s %8s %10s %10s %8s %12s\n' \
			    "$dir $way" "${row[@]}" "$s"
		done
	done
	lkd_alive "during the copies"
}

# ---------------------------------------------------------------------
# 4. The long, narrow link (tests/tools/longlink): latchkeyd, the agent
# and an sshd move to the far namespace; scp and `latchkey proxy` run in
# the near one; both the direct copy and the tunnel's WebSocket cross the
# rate-limited veth pair and a delaying forwarder each.
longlink() { "$LONGLINK" "$1" "$T/ll" "${@:2}"; }

# far_listening PORT: waits up to 10 s until something listens on PORT
# in the far namespace.
far_listening() {
	local i
	for i in $(seq 1 200); do
		ip netns exec "$LL_FAR" ss -Htln "sport = :$1" | grep -q . &&
		    return 0
		sleep 0.05
	done
	return 1
}

# longlink_move: the far side of the link: sshd, latchkeyd (same
# database, same port) and agent 1; the forwarders to sshd and latchkeyd.
longlink_move() {
	local k
	longlink up "$LONG_RATE" "$LONG_DELAY_MS" >"$T/ll.env" || return 1
	. "$T/ll/env"
	for k in $(seq 1 "$AGENTS"); do
		lk_agent_stop "agent-$k"
	done
	lk_lkd_stop
	sed "s|^PidFile .*|PidFile $T/sshd-far.pid|" "$T/sshd/sshd_config" \
	    >"$T/sshd/sshd_far_config"
	PIDS+=("$T/sshd-far.pid")
	bg sshd-far-wrap "$LONGLINK" exec-far "$T/ll" "$CPU_WRAP" -r \
	    "$T/sshd-far-cpu" "$SSHD" -D -f "$T/sshd/sshd_far_config" \
	    -E "$T/sshd/sshd-far.log"
	far_listening "$SSHD_PORT" && sshd_pids "$T/sshd-far-wrap.pid" ||
	    { echo "tunnel_bench: sshd did not start in $LL_FAR" >&2
	      return 1; }
	# shellcheck disable=SC2086
	ip netns exec "$LL_FAR" "$BIN/latchkeyd" --db "$DB" \
	    --listen "127.0.0.1:$LKD_PORT" $LKD_OPTS >>"$T/lkd.log" 2>&1 \
	    </dev/null &
	LKD_PID=$!
	echo "$LKD_PID" >"$T/lkd-far.pid"
	PIDS+=("$T/lkd-far.pid")
	far_listening "$LKD_PORT" || { echo "tunnel_bench: latchkeyd did" \
	    "not start in $LL_FAR" >&2; return 1; }
	LK_NETNS=$LL_FAR lk_agent_run agent-1 \
	    --session-ports "$SSHD_PORT,$ECHO_PORT" || return 1
	AGENT1_PID=$AGENT_PID
	LL_SSH_PORT=$(longlink forward 0 "$SSHD_PORT") &&
	    LL_LKD_PORT=$(longlink forward 0 "$LKD_PORT") || return 1
	export LATCHKEY_ENDPOINT=http://$LL_FAR_IP:$LL_LKD_PORT
}

phase_longlink() {
	local bytes dir s ld lt
	bytes=$((LONG_MB * 1048576))
	echo "-- the long, narrow link: scp of $LONG_MB MiB, $LONG_RUNS" \
	    "run(s) each way, $LONG_RATE each way, ${LONG_DELAY_MS} ms held" \
	    "each way"
	longlink_move || return 1
	echo "near $LL_NEAR ($LL_NEAR_IP): scp, ssh, latchkey proxy;" \
	    "far $LL_FAR ($LL_FAR_IP): sshd, latchkeyd, agent;" \
	    "forwarders $LL_FAR_IP:$LL_SSH_PORT -> sshd," \
	    "$LL_FAR_IP:$LL_LKD_PORT -> latchkeyd"
	scp_files long "$LONG_MB" || return 1
	set_ssh_opts
	ld=$(login long-direct) && lt=$(login long-tunnel) || return 1
	echo "ssh login only (ssh true): direct $ld s, tunnel $lt s"
	SECS=() CPU=()
	scp_runs long "$LONG_RUNS" long-direct long-tunnel || return 1
	printf '%-8s %11s %11s %9s  %s\n' "(median)" "direct MB/s" \
	    "tunnel MB/s" tun/dir "aim >= $AIM_LONG"
	for dir in up down; do
		# shellcheck disable=SC2086
		awk -v b="$bytes" -v d="$(median ${SECS[long-direct-$dir]})" \
		    -v t="$(median ${SECS[long-tunnel-$dir]})" \
		    -v aim="$AIM_LONG" -v dir="$dir" 'BEGIN {
		    dr = b / d / 1e6; tr = b / t / 1e6;
		    printf "%-8s %11.2f %11.2f %9.2f  %s\n", dir, dr, tr,
			tr / dr, (tr / dr >= aim) ? "aim met" : "aim missed" }'
	done
	lkd_alive "during the copies over the link"
}

# ---------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root (sshd, a user, /run)"
for b in echo_rtt splice_fwd cpu_wrap delay_fwd; do
	[ -x "$BUILD/bench/$b" ] || die "$BUILD/bench/$b missing;" \
	    "run make $BUILD/bench/$b"
done
for f in "$SSHD" "$SFTP_SERVER" "$LK" "$BIN/latchkeyd" \
    "$BIN/latchkey-agent"; do
	[ -x "$f" ] || die "$f missing"
done
command -v jq >/dev/null || die "jq missing"
# DescribeTerminalSessions returns at most 100: the check needs them all.
[ "$SESSIONS" -ge 1 ] && [ "$SESSIONS" -le 100 ] ||
    die "LK_BENCH_SESSIONS: 1 to 100"
for p in $PHASES; do
	case $p in memory|rtt|scp|longlink) ;; *) die "LK_BENCH_PHASES: $p" \
	    "is not memory, rtt, scp or longlink" ;; esac
done
if [[ $PHASES == *" longlink "* ]]; then
	command -v tc >/dev/null && command -v ip >/dev/null ||
	    die "the longlink phase needs ip and tc (iproute2)"
fi
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
[ "$rc" -eq 0 ] && want scp && { phase_scp || rc=1; echo; }
[ "$rc" -eq 0 ] && want longlink && { phase_longlink || rc=1; }
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$rc" -ne 0 ]; then
	echo "tunnel_bench: logs:" >&2
	tail -n 20 "$T/lkd.log" "$T/agent-1.log" >&2 2>/dev/null
fi
exit "$rc"
