#!/bin/bash
# storm_bench.sh BUILD_DIR: key pushes through a hostile-load storm (issue
# 10), the longer version of tests/integration/test_load.sh.
#
# Runs that test with a 60 s storm (LK_BENCH_STORM_SECONDS): latchkeyd on
# 127.0.0.1 with --max-conns-per-ip 200 --header-timeout 3, a real
# latchkey-agent with the config_ecs_instance_connect plug-in in a scratch
# root with its own sshd, and at once 2,000 slow connections from
# 127.0.0.2..20, a flood of refused requests (200 a second), waves of 100
# wrong operator sign-ins every 10 s and a session-slot hog
# (tests/tools/storm.py storm), while a key is pushed every 200 ms from
# 127.0.0.1 (storm.py push: InvokeCommand of
# ACS-ECS-SendSshPublicKey-linux.sh, timed until DescribeInvocationResults
# says Success). Prints the push p50/p99/max, latchkeyd's peak VmRSS and
# threads, and the test's own lines.
#
# Aim (from the issue): push p99 <= 100 ms during the storm. A missed aim
# is printed ("aim missed"); it is not an error.
#
# Exit status: 0 when the storm ran and every check of the test passed, 1
# otherwise (a push that failed or took over 1 s, memory over its bound,
# a sanitizer report, ...). Needs root and python3; writes only under
# /run/latchkey-test.XXXXXX (removed at the end); talks only to
# 127.0.0.0/8; stops only the processes it started.
set -u
export LC_ALL=C

BUILD=${1:?usage: storm_bench.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 1
SECS=${LK_BENCH_STORM_SECONDS:-60}
AIM_P99_MS=100
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp /tmp/storm_bench.XXXXXX) || exit 1
trap 'rm -f "$OUT"' EXIT

echo "storm_bench: ${SECS} s storm, load average $(cut -d' ' -f1-3 /proc/loadavg)"
LK_BUILD=$BUILD LK_LOGDIR=${LK_LOGDIR:-/tmp} LK_STORM_SECONDS=$SECS \
    timeout --kill-after=10 $((SECS + 300)) \
    bash "$HERE/../tests/integration/test_load.sh" >"$OUT" 2>&1
rc=$?
sed -n 's/^# //p' "$OUT" | grep -v '^storm: ' 
line=$(grep '^# pushes during the storm' "$OUT")
p99=$(sed -nE 's/.* p99 ([0-9.]+) .*/\1/p' <<<"$line")
if [ -n "$p99" ]; then
	printf 'push p99 during the storm: %s ms (aim <= %s ms): %s\n' "$p99" \
	    "$AIM_P99_MS" "$(awk -v v="$p99" -v l="$AIM_P99_MS" \
	    'BEGIN { print (v + 0 <= l + 0) ? "aim met" : "aim missed" }')"
fi
fails=$(grep -c '^not ok' "$OUT")
echo "checks: $(grep -c '^ok' "$OUT") passed, $fails failed"
grep '^not ok' "$OUT"
if [ "$rc" -ne 0 ] || [ "$fails" -ne 0 ] || [ -z "$p99" ]; then
	echo "storm_bench: FAILED (exit $rc; the test's logs are in" \
	    "${LK_LOGDIR:-/tmp})" >&2
	exit 1
fi
exit 0
