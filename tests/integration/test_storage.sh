#!/usr/bin/env bash
# latchkeyd's storage, end to end with the real programs:
#
#  - a database made by the code on main before storage moved behind
#    store.h (tests/fixtures/latchkeyd-main-v5.sql) opens, migrates and
#    serves: its keys, operator, instance and invocations are all there;
#  - "backup" takes a consistent copy while latchkeyd serves, never
#    overwrites, and is refused (with the pg_dump advice) on PostgreSQL;
#  - "migrate" on both backends; a PostgreSQL --db without a master key, an
#    unreachable server and a URI's password are handled and never logged;
#  - PostgreSQL stopped while latchkeyd serves: API calls fail with 503
#    ServiceUnavailable and change nothing, and once it is back latchkeyd
#    serves again by itself, without a restart.
#
# This test starts a PostgreSQL cluster of its own (it stops it on purpose),
# whatever LK_TEST_PG_DIR says.
. "$(dirname "$0")/lib.sh"

lk_setup
LK=$T/bin/latchkey
LKD=$T/bin/latchkeyd
PGC=$LK_SRC/tests/tools/pg-cluster
lk_need_built "$LK" "$LKD"
unset LK_TEST_PG_DIR LATCHKEYD_MASTER_KEY

# api AK_ID AK_SECRET ARGS...: the latchkey command against $ENDPOINT.
api() {
	local id=$1 secret=$2; shift 2
	LATCHKEY_CONFIG=$T/nocfg LATCHKEY_ENDPOINT=$ENDPOINT \
	    ALIBABA_CLOUD_ACCESS_KEY_ID=$id \
	    ALIBABA_CLOUD_ACCESS_KEY_SECRET=$secret \
	    ALIBABA_CLOUD_REGION_ID=cn-hangzhou "$LK" "$@"
}
fails_grep() { ! grep -q -- "$1" "$2"; }
# newkey DB DESCRIPTION: a new access key in KEY_ID, KEY_SECRET.
newkey() {
	DB=$1 lk_accesskey KEY --description "$2"
}

# ---------------------------------------------------------------------
# A database from main opens, migrates and serves.
OLD=$T/old.db
check "the fixture loads into an SQLite file" python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript(open(sys.argv[2]).read())
c.close()' "$OLD" "$LK_SRC/tests/fixtures/latchkeyd-main-v5.sql"
out=$("$LKD" --db "$OLD" migrate 2>"$T/migrate.err")
is "migrate reports the current schema" "$out" \
    "sqlite database $OLD: schema version 16 (current)"
check "its access keys are listed" out_has \
    'LTAIRI8rsWQNY61rJRad3pOv +active +.*agent-test' \
    "$LKD" --db "$OLD" accesskey list
check "its operator is listed" out_has 'fixture-op' \
    "$LKD" --db "$OLD" operator list
check "its session manager is still enabled" out_has 'enabled' \
    "$LKD" --db "$OLD" session-manager status
check "a new key on the old database" newkey "$OLD" storage-test
# The old keys' secrets are sealed with a master key the fixture does not
# keep: their invocations are handed to the new key to be read back.
check "the old invocations change hands" python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE invocations SET owner = ?", (sys.argv[2],))
c.commit()' "$OLD" "$KEY_ID"
DB=$OLD
check "latchkeyd serves the old database" lk_lkd_start old
ENDPOINT=$LKD_URL
check "its instance is listed" out_has 'i-a99290cc8194aec6f465' \
    api "$KEY_ID" "$KEY_SECRET" instances
n=$(api "$KEY_ID" "$KEY_SECRET" invocations --output json 2>"$T/inv.err" |
    grep -o '"InvokeId": *"t-[^"]*"' | sort -u | wc -l)
is "its twelve invocations are listed" "$n" 12
inv=$(python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT invoke_id FROM tasks WHERE status = \"Success\"").fetchone()[0])' "$OLD")
check "an old invocation's results read back (Success)" out_has \
    '"InvocationStatus": *"Success"|Success' \
    api "$KEY_ID" "$KEY_SECRET" invocations "$inv" --output json

# ---------------------------------------------------------------------
# backup while serving.
check "backup while latchkeyd serves" out_has "written to $T/copy.db" \
    "$LKD" --db "$OLD" backup "$T/copy.db"
is "the copy is mode 0600" "$(stat -c %a "$T/copy.db")" 600
check "the copy holds the same keys" out_has "$KEY_ID" \
    "$LKD" --db "$T/copy.db" --master-key "$OLD.key" accesskey list
check "the copy holds the instance" python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
assert c.execute("SELECT count(*) FROM instances").fetchone()[0] == 1
assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"' "$T/copy.db"
before=$(sha256sum "$T/copy.db")
check "backup never overwrites" err_is 1 'already exists' \
    "$LKD" --db "$OLD" backup "$T/copy.db"
is "the existing file is untouched" "$(sha256sum "$T/copy.db")" "$before"
check "backup without DEST is a usage error" err_is 2 'usage: backup DEST' \
    "$LKD" --db "$OLD" backup
lk_lkd_stop old

# ---------------------------------------------------------------------
# PostgreSQL: options, migrate, secrets never logged.
check "a PostgreSQL cluster of this test's own starts" "$PGC" start "$T/pg"
URI=$("$PGC" createdb "$T/pg" lk_storage) || URI=none
check "a PostgreSQL --db without a master key is refused" err_is 2 \
    'give --master-key FILE or LATCHKEYD_MASTER_KEY' "$LKD" --db "$URI" migrate
export LATCHKEYD_MASTER_KEY=$T/pg.master.key
out=$("$LKD" --db "$URI" migrate 2>"$T/pgmig.err")
is "migrate on PostgreSQL" "$out" \
    "postgresql database $URI: schema version 12 (current)"
out=$("$LKD" --db "$URI" migrate 2>&1)
is "migrate again: nothing to do, nothing said" "$out" \
    "postgresql database $URI: schema version 12 (current)"
check "backup is refused on PostgreSQL, with the pg_dump advice" err_is 2 \
    'for PostgreSQL use pg_dump' "$LKD" --db "$URI" backup "$T/pg.copy"
SECRET_URI="postgresql://latchkey:Pw-never-logged-42@/lk_storage?host=$T/pg"
check "a password in the URI works (trust here) and is not printed" \
    out_has 'postgresql://latchkey@/lk_storage' \
    "$LKD" --db "$SECRET_URI" migrate
check "no password in its output" fails_grep Pw-never-logged-42 "$T/out.txt"
check "an unreachable server: a clear error, exit 1" err_is 1 \
    'cannot open database postgresql://latchkey@/nodb' \
    "$LKD" --db "postgresql://latchkey@/nodb?host=$T/nowhere" migrate
check "an empty --db is refused" err_is 1 'cannot open database' \
    "$LKD" --db "" migrate

# ---------------------------------------------------------------------
# PostgreSQL stopped under latchkeyd, then started again.
# pop ACTION [NAME=VALUE...]: one signed call with the official pop-core
# SDK; prints "ok <RequestId>" or "error <Code> <HTTP status>".
pop() {
	(cd "$LK_SRC/tests/sdk" && node -e '
const RPCClient = require("@alicloud/pop-core").RPCClient;
const [action, ...kv] = process.argv.slice(1);
const params = { RegionId: "cn-hangzhou" };
for (const a of kv) { const i = a.indexOf("="); params[a.slice(0, i)] = a.slice(i + 1); }
const c = new RPCClient({ accessKeyId: process.env.KEY_ID,
  accessKeySecret: process.env.KEY_SECRET, endpoint: process.env.ENDPOINT,
  apiVersion: "2014-05-26" });
c.request(action, params, { method: "POST", timeout: 20000 }).then(
  (r) => console.log("ok " + JSON.stringify(r)),
  (e) => console.log("error " + e.code + " " + (e.entry && e.entry.response.statusCode)));
' "$@")
}
check "a key on PostgreSQL" newkey "$URI" pg-test
export KEY_ID KEY_SECRET
DB=$SECRET_URI
check "latchkeyd serves on PostgreSQL (a password in its URI)" \
    lk_lkd_start pg
export ENDPOINT=$LKD_URL
check "latchkeyd's log names the database without the password" \
    grep -Eq "db=\"?postgresql://latchkey@/lk_storage" "$T/pg.log"
check "the password is nowhere in its log" fails_grep Pw-never-logged-42 \
    "$T/pg.log"
check "CreateCommand works" out_has '^ok ' pop CreateCommand Name=before \
    Type=RunShellScript CommandContent=ZWNobyBoaQ==
check "PostgreSQL stops" "$PGC" stop "$T/pg"
check "CreateCommand with the database gone: 503 ServiceUnavailable" \
    out_has '^error ServiceUnavailable 503' pop CreateCommand Name=during \
    Type=RunShellScript CommandContent=ZWNobyBoaQ==
check "DescribeCommands too" out_has '^error ServiceUnavailable 503' \
    pop DescribeCommands
check "latchkeyd is still running" kill -0 "$(cat "$T/pg.pid")"
check "PostgreSQL starts again" "$PGC" start "$T/pg"
ok=0
for i in $(seq 1 50); do
	pop DescribeCommands Name=before >"$T/again.out" 2>&1
	grep -q '"TotalCount":1' "$T/again.out" && { ok=1; break; }
	sleep 0.2
done
is "latchkeyd serves again by itself (no restart)" "$ok" 1
check "the command made during the outage does not exist" out_has \
    '"TotalCount":0' pop DescribeCommands Name=during
check "CreateCommand works again" out_has '^ok ' pop CreateCommand \
    Name=after Type=RunShellScript CommandContent=ZWNobyBoaQ==
check "latchkeyd said the database was unavailable, and nothing worse" \
    grep -q 'db .*state=' "$T/pg.log"
no_crash() { ! grep -Eq 'AddressSanitizer|runtime error|fatal' "$1"; }
check "no sanitizer report or fatal error in latchkeyd's log" no_crash \
    "$T/pg.log"
lk_lkd_stop pg
"$PGC" stop "$T/pg"

lk_keep_logs
echo "1..$LK_N"
