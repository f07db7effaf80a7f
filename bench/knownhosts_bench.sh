#!/bin/bash
# knownhosts_bench.sh BUILD_DIR: what checking the host key through
# latchkey costs a login (issue 14). ssh runs `latchkey known-hosts` twice
# per connection: once to order its host key algorithms (%f is NONE:
# answered at once, no request) and once with the presented key (one
# signed DescribeInstanceHostKeys). Both are timed N times (default 40)
# against latchkeyd on SQLite with one registered agent, with the
# process start included, as ssh sees them. Prints median and p90.
set -u
BUILD=${1:?usage: knownhosts_bench.sh BUILD_DIR}
N=${LK_BENCH_KH_CALLS:-40}
HERE=$(cd "$(dirname "$0")" && pwd)
export LK_BUILD=$(cd "$HERE/.." && pwd)/$BUILD
# shellcheck source=../tests/integration/lib.sh
. "$HERE/../tests/integration/lib.sh"
lk_setup
lk_new_db lkd >/dev/null || exit 1
lk_accesskey AK --description knownhosts-bench >/dev/null || exit 1
lk_activation ACT --count 1 >/dev/null 2>&1 || exit 1
lk_lkd_start latchkeyd >/dev/null || exit 1
# An agent reporting the host key of a scratch root's sshd, whose
# fingerprint the key check below presents (the matching case).
R=$T/root
lk_mkroot "$R" sshd1 >/dev/null || exit 1
LATCHKEY_ROOT=$R lk_agent_register agent >/dev/null || exit 1
A=$AGENT_IID
export HOME=$T/home LATCHKEY_CONFIG=$T/none.json LATCHKEY_ENDPOINT=$LKD_URL \
    ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET
mkdir -p "$HOME"
# times FP: N calls, one duration in microseconds a line.
times() {
	local i t
	for i in $(seq 1 "$N"); do
		t=${EPOCHREALTIME/./}
		"$T/bin/latchkey" known-hosts --instance "$A" "$A" "$1" \
		    >/dev/null 2>&1 || { echo "known-hosts failed" >&2; return 1; }
		echo $(( ${EPOCHREALTIME/./} - t ))
	done
}
stat() {	# "median p90" in ms of the microsecond lines on stdin
	sort -n | awk '{ v[NR] = $1 } END {
	    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
	    printf "%.1f %.1f", m / 1000, v[int(NR * 0.9 + 0.999)] / 1000 }'
}
FP=$(ssh-keygen -lf "$R/etc/ssh/ssh_host_ed25519_key.pub" | awk '{ print $2 }')
[ -n "$FP" ] || { echo "no host key in $R" >&2; exit 1; }
read -r om op <<<"$(times NONE | stat)"
read -r km kp <<<"$(times "${FP:-SHA256:none}" | stat)"
printf '%-46s %6s %10s %10s\n' "latchkey known-hosts ($N calls each)" calls "median ms" "p90 ms"
printf '%-46s %6s %10s %10s\n' "ordering call (%f NONE: no request)" "$N" "$om" "$op"
printf '%-46s %6s %10s %10s\n' "key check (one DescribeInstanceHostKeys)" "$N" "$km" "$kp"
awk -v a="$om" -v b="$km" 'BEGIN { printf "added to each ssh connection: %.1f ms at the median\n", a + b }'
