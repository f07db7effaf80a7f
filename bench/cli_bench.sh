#!/usr/bin/env bash
# bench/cli_bench.sh [BUILD_DIR]: what the ephemeral-key dance of
# `latchkey ssh USER@INSTANCE -- true` costs, against the same login with a
# key sshd already accepts and plain OpenSSH ssh, on the same sshd.
#
# It starts the demo's servers (scripts/demo with KEEP=1: latchkeyd on
# SQLite, a registered agent, the plug-in, sshd on 127.0.0.1) and stops them
# by PID at the end. Logins alternate plain / latchkey, LK_BENCH_LOGINS
# times each (default 30), with the key exchange pinned to
# curve25519-sha256 so both pay the same handshake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${LK_BENCH_LOGINS:-30}

out=$(KEEP=1 TTL=3 scripts/demo "$BUILD" 2>&1) || {
	echo "cli_bench: the demo setup failed:"; echo "$out" | tail -20; exit 1; }
envf=$(echo "$out" | grep -o '/run/latchkey-demo\.[A-Za-z0-9]*/env' | tail -n 1)
D=$(dirname "$envf")
trap '"$D/stop"' EXIT
# shellcheck disable=SC1090
. "$envf"
line=$(echo "$out" | grep '^latchkey ssh ' | tail -n 1)
DEST=$(echo "$line" | awk '{print $3}')
PORT=$(echo "$line" | awk '{print $NF}')
USER_=${DEST%@*}

# Both check the host key strictly: plain ssh against a known_hosts file
# made here, latchkey ssh through its own KnownHostsCommand (latchkey
# known-hosts, one API call), which is part of what is measured.
OPTS=(-o KexAlgorithms=curve25519-sha256 -o LogLevel=ERROR)
printf 'bench-sshd %s\n' "$(cut -d' ' -f1,2 \
    "$D/root/etc/ssh/ssh_host_ed25519_key.pub")" >"$D/bench_known_hosts"
PLAIN_OPTS=(-o StrictHostKeyChecking=yes -o HostKeyAlias=bench-sshd
    -o "UserKnownHostsFile=$D/bench_known_hosts" -o GlobalKnownHostsFile=/dev/null)
ssh-keygen -q -t ed25519 -N '' -f "$D/keys/pre"
"$D/root/usr/local/sbin/send_ssh_public_key" --username "$USER_" \
    --store "$D/root/run/latchkey/keys" \
    --ssh-public-key "$(cat "$D/keys/pre.pub")" --ttl 3600 >/dev/null

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
plain=() lk=()
for i in $(seq 1 "$N"); do
	t=$(date +%s%N)
	ssh -F /dev/null -p "$PORT" -i "$D/keys/pre" -o BatchMode=yes \
	    -o IdentitiesOnly=yes "${OPTS[@]}" "${PLAIN_OPTS[@]}" \
	    "$USER_@127.0.0.1" true \
	    </dev/null || { echo "cli_bench: plain login $i failed"; exit 1; }
	plain+=("$(ms "$t")")
	t=$(date +%s%N)
	latchkey ssh "$DEST" --address 127.0.0.1 --port "$PORT" "${OPTS[@]}" \
	    -o "UserKnownHostsFile=$D/known_hosts" -o GlobalKnownHostsFile=/dev/null \
	    -- true </dev/null || { echo "cli_bench: latchkey ssh $i failed"; exit 1; }
	lk+=("$(ms "$t")")
done

stat() {	# median p90 of the arguments
	printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {
	    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
	    p = v[int(NR * 0.9 + 0.999)]; printf "%.1f %.1f", m, p }'
}
read -r pm pp <<<"$(stat "${plain[@]}")"
read -r lm lp <<<"$(stat "${lk[@]}")"
printf '%-44s %6s %10s %10s\n' "login ($N each, alternated)" calls "median ms" "p90 ms"
printf '%-44s %6s %10s %10s\n' "plain ssh, key already accepted" "$N" "$pm" "$pp"
printf '%-44s %6s %10s %10s\n' "latchkey ssh (keygen, push, ssh, cleanup)" "$N" "$lm" "$lp"
awk -v a="$pm" -v b="$lm" 'BEGIN {
	printf "ratio of medians latchkey/plain: %.2f; added by the dance: %.1f ms (aim <= 50 ms): %s\n",
	    b / a, b - a, (b - a <= 50) ? "aim met" : "aim missed" }'
