#!/usr/bin/env bash
# The on-server key path end to end: send_ssh_public_key stores a key,
# a real sshd asks latchkey-authorized-keys, the real ssh client logs in,
# and the key stops working after its TTL, also when sshd only sees the
# printed expiry-time. Hostile inputs each get a clear error and leave the
# store unchanged.
. "$(dirname "$0")/lib.sh"
lk_setup

SEND="$T/bin/send_ssh_public_key"
HELPER="$T/bin/latchkey-authorized-keys"
STORE="$T/store"

send() { "$SEND" --store "$STORE" "$@"; }
# A digest of everything in the store: names, modes, owners, contents.
store_state() {
	[ -e "$STORE" ] || { echo none; return; }
	(cd "$STORE" && find . -printf '%p %y %m %U %G %l\n' | sort &&
	    find . -type f -print0 | sort -z | xargs -0r cat) | sha256sum
}

lk_keygen alice
lk_keygen bob
lk_keygen rsa1024 rsa 1024
lk_keygen rsa3072 rsa 3072
lk_keygen ecdsa ecdsa 384
K="$T/keys"
ALICE_PUB=$(cat "$K/alice.pub")

lk_sshd_start main "$(lk_helper_config)" || { tap_fail "sshd starts"; exit 1; }
tap_ok "sshd starts on 127.0.0.1:$SSHD_PORT"

check_exit "no login before the key is pushed" 255 \
    lk_ssh "$LK_ALICE" "$K/alice" -- true

check "push alice's key with a 3 s TTL" \
    send --username "$LK_ALICE" --ssh-public-key "$ALICE_PUB" --ttl 3
grep -q "^stored ssh-ed25519 key SHA256:" "$T/last.out" &&
    tap_ok "push prints what it did" || tap_fail "push output: $(cat "$T/last.out")"

is "alice logs in with the pushed key" \
    "$(lk_ssh "$LK_ALICE" "$K/alice" -- id -un 2>&1)" "$LK_ALICE"
check_exit "alice's key does not open bob" 255 \
    lk_ssh "$LK_BOB" "$K/alice" -- true

# sshd runs the helper as latchkey-authkeys: it prints the key with its expiry.
out=$(setpriv --reuid="$LK_HELPER_USER" --regid="$LK_HELPER_USER" \
    --clear-groups --reset-env "$HELPER" --store "$STORE" "$LK_ALICE")
case "$out" in
expiry-time=\"20[0-9][0-9][01][0-9][0-3][0-9][0-2][0-9][0-5][0-9][0-5][0-9]Z\"\ ssh-ed25519\ AAAA*)
	tap_ok "helper as its own user prints expiry-time and the key" ;;
*) tap_fail "helper output: $out" ;;
esac
is "helper prints one line, no comment" "$(echo "$out" | wc -l) $(echo "$out" | wc -w)" "1 3"
fp=$(ssh-keygen -lf "$K/alice.pub" | awk '{print $2}')
is "helper with sshd's %f prints the same line" \
    "$("$HELPER" --store "$STORE" "$LK_ALICE" "$fp")" "$out"
fpbob=$(ssh-keygen -lf "$K/bob.pub" | awk '{print $2}')
is "helper with another key's fingerprint prints nothing" \
    "$("$HELPER" --store "$STORE" "$LK_ALICE" "$fpbob")" ""
check_exit "another user cannot read the store" 1 \
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$HELPER" --store "$STORE" "$LK_ALICE"
[ -z "$(cat "$T/last.out")" ] && tap_ok "and prints no key" ||
    tap_fail "nobody got: $(cat "$T/last.out")"

# sshd alone enforces the printed expiry-time: a second sshd that reads
# the helper's output from a plain file, with no helper involved.
mkdir -p "$T/static"
echo "$out" >"$T/static/$LK_ALICE"
chmod 0644 "$T/static/$LK_ALICE"
MAINPORT=$SSHD_PORT
lk_sshd_start static "AuthorizedKeysFile $T/static/%u" ||
    tap_fail "static sshd starts"
STATICPORT=$SSHD_PORT
SSHD_PORT=$MAINPORT
is "sshd with only the printed line accepts the key in time" \
    "$(lk_ssh "$LK_ALICE" "$K/alice" "$STATICPORT" -- id -un 2>&1)" "$LK_ALICE"

# Wait until the expiry-time has passed (3 s TTL, second resolution).
sleep 4.2
check_exit "after its TTL the key is refused through the helper" 255 \
    lk_ssh "$LK_ALICE" "$K/alice" -- true
check_exit "after its TTL sshd refuses the printed line by itself" 255 \
    lk_ssh "$LK_ALICE" "$K/alice" "$STATICPORT" -- true
grep -q "Refused by key options" "$T/sshd/static.log" &&
    tap_ok "sshd logs the refusal by key options (expiry-time)" ||
    tap_fail "no refusal in sshd log"
is "helper prints nothing for an expired key" \
    "$("$HELPER" --store "$STORE" "$LK_ALICE")" ""

check "push again" send -u "$LK_ALICE" -k "$ALICE_PUB" --ttl 60
check "pushing the same key again renews it" \
    send -u "$LK_ALICE" -k "$ALICE_PUB" --ttl 60
grep -q "^renewed" "$T/last.out" && tap_ok "renewal is reported" ||
    tap_fail "renew output: $(cat "$T/last.out")"
is "one record per (user, key)" "$(ls "$STORE/$LK_ALICE" | wc -l)" 1
is "store directory is root:latchkey-authkeys 0750" \
    "$(stat -c '%U:%G %a' "$STORE" "$STORE/$LK_ALICE" | sort -u)" \
    "root:$LK_HELPER_USER 750"
is "record is root:latchkey-authkeys 0640" \
    "$(stat -c '%U:%G %a' "$STORE/$LK_ALICE"/*)" "root:$LK_HELPER_USER 640"

check "an RSA 3072 key is accepted" \
    send -u "$LK_ALICE" -k "$(cat "$K/rsa3072.pub")"
check "an ECDSA P-384 key is accepted" \
    send -u "$LK_ALICE" -k "$(cat "$K/ecdsa.pub")"
is "RSA key logs in" "$(lk_ssh "$LK_ALICE" "$K/rsa3072" -- id -un 2>&1)" "$LK_ALICE"
is "ECDSA key logs in" "$(lk_ssh "$LK_ALICE" "$K/ecdsa" -- id -un 2>&1)" "$LK_ALICE"

# Hostile inputs: the exit status names the class, stderr has one line,
# and the store is byte-for-byte unchanged.
hostile() {
	local name=$1 want=$2 before after lines
	shift 2
	before=$(store_state)
	"$SEND" --store "$STORE" "$@" >"$T/last.out" 2>"$T/last.err"
	local rc=$?
	after=$(store_state)
	lines=$(wc -l <"$T/last.err")
	if [ "$rc" -eq "$want" ] && [ "$before" = "$after" ] &&
	    [ "$lines" -eq 1 ] && [ ! -s "$T/last.out" ]; then
		tap_ok "$name: exit $rc, $(cat "$T/last.err")"
	else
		tap_fail "$name: exit $rc (wanted $want), stderr lines $lines, store changed: $([ "$before" = "$after" ] && echo no || echo yes)"
	fi
}
B64=$(echo "$ALICE_PUB" | awk '{print $2}')
hostile "newline inside the key" 5 -u "$LK_ALICE" -k "$ALICE_PUB"$'\n'"$(cat "$K/bob.pub")"
hostile "carriage return inside the key" 5 -u "$LK_ALICE" -k "ssh-ed25519 $B64"$'\r'" x"
hostile "control character inside the key" 5 -u "$LK_ALICE" -k "ssh-ed25519 ${B64:0:10}"$'\x01'"${B64:10}"
hostile "command=\"...\" option prefixed" 5 -u "$LK_ALICE" -k "command=\"/bin/sh\" $ALICE_PUB"
hostile "no-pty option prefixed" 5 -u "$LK_ALICE" -k "no-pty $ALICE_PUB"
hostile "several options prefixed" 5 -u "$LK_ALICE" -k "restrict,pty,from=\"*\" $ALICE_PUB"
hostile "type says ssh-rsa, blob is ed25519" 5 -u "$LK_ALICE" -k "ssh-rsa $B64"
hostile "1024-bit RSA key" 5 -u "$LK_ALICE" -k "$(cat "$K/rsa1024.pub")"
big=$(head -c 60000 /dev/zero | tr '\0' A)
hostile "a 120 kB key (one argv string holds at most 128 kB; 1 MB is a unit test)" 5 -u "$LK_ALICE" -k "ssh-ed25519 $big$big"
hostile "base64 with trailing garbage" 5 -u "$LK_ALICE" -k "ssh-ed25519 ${B64}AAAA"
hostile "base64 with a stray character" 5 -u "$LK_ALICE" -k "ssh-ed25519 ${B64%?}*"
junk=$( (echo "$B64" | base64 -d; printf 'JUNK') | base64 -w0)
hostile "blob with trailing bytes" 5 -u "$LK_ALICE" -k "ssh-ed25519 $junk"
hostile "certificate type" 5 -u "$LK_ALICE" -k "ssh-ed25519-cert-v01@openssh.com $B64"
hostile "empty key" 5 -u "$LK_ALICE" -k ""
hostile "user name ../root" 3 -u "../root" -k "$ALICE_PUB"
hostile "user name -oProxyCommand" 3 -u "-oProxyCommand" -k "$ALICE_PUB"
hostile 'user name a`b' 3 -u 'a`b' -k "$ALICE_PUB"
hostile "user name with a newline" 3 -u "$LK_ALICE"$'\n'"root" -k "$ALICE_PUB"
hostile "unknown user" 4 -u lk-nosuchuser -k "$ALICE_PUB"
hostile "TTL 0" 6 -u "$LK_ALICE" -k "$ALICE_PUB" --ttl 0
hostile "TTL over an hour" 6 -u "$LK_ALICE" -k "$ALICE_PUB" --ttl 3601
hostile "TTL not a number" 6 -u "$LK_ALICE" -k "$ALICE_PUB" --ttl 10s
hostile "missing --ssh-public-key" 2 -u "$LK_ALICE"
hostile "unknown option" 2 -u "$LK_ALICE" -k "$ALICE_PUB" --force
hostile "stray argument" 2 -u "$LK_ALICE" -k "$ALICE_PUB" extra
before=$(store_state)
setpriv --reuid=nobody --regid=nogroup --clear-groups "$SEND" --store "$STORE" \
    -u "$LK_ALICE" -k "$ALICE_PUB" >/dev/null 2>"$T/last.err"
rc=$?
[ "$rc" -eq 7 ] && [ "$before" = "$(store_state)" ] &&
    tap_ok "non-root caller: exit 7, $(cat "$T/last.err")" ||
    tap_fail "non-root caller: exit $rc"

# A symlink planted in the store: as the user's directory ...
ln -s /etc "$STORE/$LK_BOB"
hostile "symlink planted as a user's directory" 8 -u "$LK_BOB" -k "$(cat "$K/bob.pub")"
[ "$(readlink "$STORE/$LK_BOB")" = /etc ] && ! ls /etc | grep -qE '^[0-9a-f]{64}$' &&
    tap_ok "nothing was written through the symlink" ||
    tap_fail "the symlink or /etc changed"
rm "$STORE/$LK_BOB"
# ... and as the record's name.
check "bob's first key" send -u "$LK_BOB" -k "$(cat "$K/alice.pub")"
bobhex=$(echo "$B64" | base64 -d | sha256sum | awk '{print $1}')
lk_keygen bob2
bob2hex=$(awk '{print $2}' "$K/bob2.pub" | base64 -d | sha256sum | awk '{print $1}')
ln -s /etc/passwd "$STORE/$LK_BOB/$bob2hex"
sum=$(sha256sum </etc/passwd)
hostile "symlink planted as the record's name" 8 -u "$LK_BOB" -k "$(cat "$K/bob2.pub")"
is "the symlink's target is unchanged" "$(sha256sum </etc/passwd)" "$sum"
is "helper skips the symlinked record" \
    "$("$HELPER" --store "$STORE" "$LK_BOB" | wc -l)" 1
rm "$STORE/$LK_BOB/$bob2hex"

# A corrupt record is skipped by the helper; the other keys still print.
printf 'latchkey-key-record 1\nuser %s\ncreated 1\nnot-after 99999999999\nkey ssh-ed25519 AAAA\n' \
    "$LK_BOB" >"$STORE/$LK_BOB/$bob2hex"
chmod 0640 "$STORE/$LK_BOB/$bob2hex"
out=$("$HELPER" --store "$STORE" "$LK_BOB"); rc=$?
is "corrupt record: helper exits 0" "$rc" 0
is "corrupt record: helper prints only the good key" \
    "$(echo "$out" | wc -l) $(echo "$out" | grep -c '^expiry-time="[0-9]*Z" ssh-ed25519 ')" "1 1"
head -c 100 "$STORE/$LK_BOB/$bobhex" >"$T/trunc" && cat "$T/trunc" >"$STORE/$LK_BOB/$bobhex"
is "truncated record: helper prints nothing and exits 0" \
    "$("$HELPER" --store "$STORE" "$LK_BOB"; echo "rc=$?")" "rc=0"
printf 'latchkey-key-record 1\nuser %s\ncreated 1\nnot-after 99999999999\nkey %s\n' \
    "$LK_ALICE" "$(cat "$K/bob2.pub")" >"$STORE/$LK_BOB/$bob2hex"
is "record naming another user: skipped" "$("$HELPER" --store "$STORE" "$LK_BOB")" ""
check_exit "bob cannot log in with any of those" 255 lk_ssh "$LK_BOB" "$K/bob2" -- true
check_exit "helper refuses a hostile user name" 1 "$HELPER" --store "$STORE" "../$LK_ALICE"
is "helper for a user without keys prints nothing" \
    "$("$HELPER" --store "$STORE" lk-nosuchuser; echo "rc=$?")" "rc=0"
check_exit "helper refuses a group-writable store" 1 \
    bash -c "chmod g+w '$STORE' && '$HELPER' --store '$STORE' '$LK_ALICE'; rc=\$?; chmod g-w '$STORE'; exit \$rc"
grep -q . "$T/last.out" && tap_fail "unsafe store printed keys" || tap_ok "and prints no key"

# At most 32 live keys per user: the oldest goes first.
rm -rf "${STORE:?}/$LK_BOB"
ok=1
for i in $(seq 1 33); do
	ssh-keygen -q -t ed25519 -N '' -f "$K/cap$i" || ok=0
	send -u "$LK_BOB" -k "$(cat "$K/cap$i.pub")" >/dev/null || ok=0
done
is "33 pushes succeed" "$ok" 1
is "32 keys kept" "$(ls "$STORE/$LK_BOB" | wc -l)" 32
is "the oldest key was removed" "$("$HELPER" --store "$STORE" "$LK_BOB" \
    "$(ssh-keygen -lf "$K/cap1.pub" | awk '{print $2}')")" ""
is "the newest key is kept" "$("$HELPER" --store "$STORE" "$LK_BOB" \
    "$(ssh-keygen -lf "$K/cap33.pub" | awk '{print $2}')" | wc -l)" 1

# --purge-expired removes expired and corrupt records only.
send -u "$LK_ALICE" -k "$(cat "$K/bob.pub")" --ttl 1 >/dev/null
sleep 2.1
check "purge-expired succeeds" "$SEND" --store "$STORE" --purge-expired
grep -q "^removed [1-9]" "$T/last.out" && tap_ok "purge reports what it removed" ||
    tap_fail "purge output: $(cat "$T/last.out")"
is "bob keeps 32 live keys after the purge" "$(ls "$STORE/$LK_BOB" | wc -l)" 32

check "send_ssh_public_key --help" "$SEND" --help
grep -q -- "--ssh-public-key" "$T/last.out" && tap_ok "help lists the options" ||
    tap_fail "help text"
check "latchkey-authorized-keys --help" "$HELPER" --help
