#!/usr/bin/env bash
# Tags from the user's side (issue 18, item 3): latchkey tag and latchkey
# instances --tag against the real latchkeyd (--debug, so that its log
# shows every API call) with two registered instances and one command.
#
# The cases: add, replace, list (table and --json), remove one key, --all;
# instances --tag filtering (all tags must match) and the TAGS column;
# tags of a command; a key limited with --instances tag:env=prod sees only
# the tagged instance and is refused tagging the other one and changing
# the guarded key; malformed arguments exit 2 with no call made (the log
# shows none); the server's refusals exit 4 with its Code shown.
. "$(dirname "$0")/lib.sh"

lk_setup
LK=$T/bin/latchkey
lk_need_built "$LK" "$T/bin/latchkeyd" "$T/bin/latchkey-agent"

finish() { lk_keep_logs; echo "1..$LK_N"; exit "$([ "$LK_FAILED" -eq 0 ] && echo 0 || echo 1)"; }

# lk ARG...: latchkey as the access key AK (no config file, no HOME).
lk() {
	HOME=$T/home LATCHKEY_CONFIG=$T/none.json LATCHKEY_ENDPOINT=$LKD_URL \
	    ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID \
	    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET \
	    ALIBABA_CLOUD_REGION_ID=cn-hangzhou "$LK" "$@"
}
# out_is STATUS ERE CMD...: CMD exits STATUS with ERE on stdout or stderr.
out_is() {
	local want=$1 pat=$2 rc; shift 2
	"$@" >"$T/out.txt" 2>&1; rc=$?
	[ "$rc" -eq "$want" ] && grep -Eq -- "$pat" "$T/out.txt" && return 0
	echo "exit $rc, wanted $want: $(head -c 600 "$T/out.txt")" >&2
	return 1
}
# tags_of ID: the instance's tags as the API has them, "k=v" sorted, spaced.
tags_of() {
	lk_api ListTagResources ResourceType=instance "ResourceId.1=$1" |
	    jq -r '[.TagResources.TagResource[] | "\(.TagKey)=\(.TagValue)"] | sort | join(" ")'
}
# api_calls: how many API calls latchkeyd has logged so far.
# (msg="REQUEST-ID api ok" action=X, or api error; --debug logs reads too)
api_calls() { grep -Ec ' api (ok|error)" action=' "$LKD_LOG"; }
# no_call CMD...: CMD exits 2 (usage) and latchkeyd logs no call meanwhile.
no_call() {
	local n0 rc
	n0=$(api_calls)
	"$@" >"$T/out.txt" 2>&1; rc=$?
	[ "$rc" -eq 2 ] && [ "$(api_calls)" -eq "$n0" ] && return 0
	echo "exit $rc (wanted 2), calls $n0 -> $(api_calls): $(head -c 300 "$T/out.txt")" >&2
	return 1
}

lk_new_db tags || { tap_fail "a database"; finish; }
check "latchkeyd accesskey create (admin)" lk_accesskey AK --description tags-admin
check "latchkeyd activation create" lk_activation ACT --count 3
check "latchkeyd listens (--debug)" lk_lkd_start latchkeyd --debug
LATCHKEY_ROOT=/nonexistent lk_agent_register web && A=$AGENT_IID
LATCHKEY_ROOT=/nonexistent lk_agent_register db && B=$AGENT_IID
check "two instances registered ($A, $B)" test -n "${A:-}" -a -n "${B:-}"
check "instance A is named web" out_has "renamed $A to web" lk instances --rename "$A" web
check "instance B is named db" out_has "renamed $B to db" lk instances --rename "$B" db

# ---------------------------------------------------------------------
# Add, replace, list, remove.
check "tag A by name: env=prod team=sre" out_has "^tagged $A: env=prod team=sre$" \
    lk tag web env=prod team=sre
is "the API has A's tags" "$(tags_of "$A")" "env=prod team=sre"
check "tag B by id: env=dev, an empty value (note=)" out_has "^tagged $B: env=dev note=$" \
    lk tag "$B" env=dev note=
check "a value with '=' and spaces is kept whole" lk tag db 'owner=a=b c'
is "the API has B's tags" "$(tags_of "$B")" "env=dev note= owner=a=b c"
check "replace A's team" lk tag web team=ops
is "team replaced, env kept" "$(tags_of "$A")" "env=prod team=ops"
check "tag --list: a table" out_has "^INSTANCE ID +KEY +VALUE" lk tag --list
grep -Eq "^$A +env +prod$" "$T/out.txt" && grep -Eq "^$B +owner +a=b c$" "$T/out.txt" &&
    [ "$(grep -c '^i-' "$T/out.txt")" = 5 ] && tap_ok "the table has every tag (5 rows)" ||
    tap_fail "the table has every tag ($(cat "$T/out.txt"))"
check "tag --list web --json" lk tag --list web --json
is "--json: ListTagResources' rows of A only" \
    "$(jq -r '[.TagResources.TagResource[] | "\(.ResourceId) \(.ResourceType) \(.TagKey)=\(.TagValue)"] | join(",")' "$T/last.out")" \
    "$A instance env=prod,$A instance team=ops"
check "tag --remove one key" out_has "^untagged $B: note$" lk tag --remove db note
is "note removed, the others kept" "$(tags_of "$B")" "env=dev owner=a=b c"
check "tag --remove a key it does not have: no error" lk tag --remove db nosuch
check "tag --remove --all" out_has "^removed every tag of $B$" lk tag --remove --all db
is "B has no tags" "$(tags_of "$B")" ""
check "tag B env=dev again" lk tag db env=dev role=db

# ---------------------------------------------------------------------
# instances --tag and the TAGS column.
ids() { awk 'NR > 1 { print $1 }' "$T/last.out" | sort | paste -sd ' '; }
check "instances --tag env=prod" lk instances --tag env=prod
is "only A" "$(ids)" "$A"
check "instances --tag env (any value)" lk instances --tag env
is "A and B" "$(ids)" "$(printf '%s\n' "$A" "$B" | sort | paste -sd ' ')"
check "instances --tag env=dev --tag role=db (both must match)" lk instances --tag env=dev --tag role=db
is "only B" "$(ids)" "$B"
check "instances --tag env=dev --tag role=web" lk instances --tag env=dev --tag role=web
is "none (the header alone)" "$(wc -l <"$T/last.out")" 1
check "instances --tags: a TAGS column" out_has "^$A +web +[A-Za-z]+ +[^ ]+ +env=prod,team=ops " \
    lk instances --tags
check "instances --json carries Tags" lk instances --json --tag role=db
is "--json: B's Tags" "$(jq -r '.Instances[0].Tags.Tag | map("\(.TagKey)=\(.TagValue)") | sort | join(" ")' "$T/last.out")" \
    "env=dev role=db"

# ---------------------------------------------------------------------
# Commands.
CMD=$(lk_api CreateCommand Name=tagged Type=RunShellScript \
    CommandContent="$(printf 'true' | base64)" | json_str CommandId)
check "a command ($CMD)" test -n "$CMD"
check "tag --command" out_has "^tagged $CMD: purpose=backup$" lk tag --command "$CMD" purpose=backup
check "tag --list --command: a table" out_has "^$CMD +purpose +backup$" lk tag --list --command
check "tag --list --command ID --json" lk tag --list --command "$CMD" --json
is "--json: ResourceType command" "$(jq -r '.TagResources.TagResource[0].ResourceType' "$T/last.out")" command
check "tag --remove --command" lk tag --remove --command "$CMD" purpose
is "the command has no tags" "$(lk_api ListTagResources ResourceType=command "ResourceId.1=$CMD" |
    jq -r '.TagResources.TagResource | length')" 0
check "tag --command of an unknown command: exit 4, InvalidResourceId.NotFound" \
    err_is 4 'server said: InvalidResourceId.NotFound' lk tag --command c-nosuch x=1

# ---------------------------------------------------------------------
# A key limited to tag:env=prod.
check "latchkeyd accesskey create --instances tag:env=prod" \
    lk_accesskey PK --instances tag:env=prod --description prod-only
lkp() { AK_ID=$PK_ID AK_SECRET=$PK_SECRET lk "$@"; }
check "the limited key: latchkey instances" lkp instances
is "it sees only A" "$(ids)" "$A"
check "tag --list: only A's rows" lkp tag --list
is "no row of B" "$(grep -c "^$B" "$T/last.out")" 0
check "tagging B by id: exit 4, Forbidden.RAM (403)" \
    err_is 4 'server said: Forbidden\.RAM: .*HTTP 403' lkp tag "$B" env=prod
check "tagging B by name: exit 4, it cannot see it" \
    err_is 4 'unknown instance "db"' lkp tag db env=prod
check "changing A's env (a guarded key): exit 4, Forbidden.TagPolicy" \
    err_is 4 'server said: Forbidden\.TagPolicy: .*HTTP 403' lkp tag web env=dev
check "tag --remove --all on A: exit 4, Forbidden.TagPolicy" \
    err_is 4 'Forbidden\.TagPolicy' lkp tag --remove --all web
check "another key on A is allowed (team=web)" lkp tag web team=web
is "nothing else changed on A" "$(tags_of "$A")" "env=prod team=web"
is "nothing changed on B" "$(tags_of "$B")" "env=dev role=db"
check_exit "--json: the refusal exits 4" 4 lkp tag "$B" env=prod --json
is "--json: the error's Code on stdout" "$(jq -r '.Error.Code' "$T/last.out" 2>/dev/null)" Forbidden.RAM

# ---------------------------------------------------------------------
# Malformed arguments: usage errors, nothing sent.
LONG=$(printf 'k%.0s' $(seq 1 129))
check "latchkeyd's log counts the calls (DescribeInstances too, --debug)" \
    test "$(grep -c ' api ok" action=DescribeInstances ' "$LKD_LOG")" -gt 5
check "KEY without =: exit 2, no call" no_call lk tag web env
check "an empty key (=v): exit 2, no call" no_call lk tag web =v
check "a key of 129 characters: exit 2, no call" no_call lk tag web "$LONG=v"
check "a value of 129 characters: exit 2, no call" no_call lk tag web "k=$LONG"
check "a reserved key (aliyun...): exit 2, no call" no_call lk tag web aliyun:env=1
check "a reserved key (acs:...): exit 2, no call" no_call lk tag web acs:env=1
check "a value with https://: exit 2, no call" no_call lk tag web url=https://x
check "a control character: exit 2, no call" no_call lk tag web "$(printf 'k=a\tb')"
check "a key given twice: exit 2, no call" no_call lk tag web a=1 a=2
check "21 tags: exit 2, no call" no_call lk tag web $(for i in $(seq 1 21); do printf 'k%d=v ' "$i"; done)
check "no tag: exit 2, no call" no_call lk tag web
check "--remove KEY=VALUE: exit 2, no call" no_call lk tag --remove web env=prod
check "--remove --all with keys: exit 2, no call" no_call lk tag --remove --all web env
check "--all without --remove: exit 2, no call" no_call lk tag --all web
check "--list and --remove: exit 2, no call" no_call lk tag --list --remove web
check "instances --tag k=https://x: exit 2, no call" no_call lk instances --tag k=https://x
check "instances --tag with --remove: exit 2, no call" no_call lk instances --tag a=1 --remove web
out_is 2 '"env" is not KEY=VALUE' lk tag web env && tap_ok "KEY alone is explained" ||
    tap_fail "KEY alone is explained"

# ---------------------------------------------------------------------
# A resource's limit of 20 tags: the server's InvalidTagCount, exit 4.
check "A gets 18 more tags (20 in all)" lk tag web $(for i in $(seq 1 18); do printf 'x%d=v ' "$i"; done)
check "a 21st: exit 4, InvalidTagCount" err_is 4 'server said: InvalidTagCount' lk tag web one=more
check "tag --help shows the policy hint" out_has 'tagged env=prod' lk tag --help

check "latchkeyd stops on SIGTERM" lk_lkd_stop latchkeyd
check "no sanitizer report in latchkeyd's log" \
    bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$LKD_LOG'"
finish
