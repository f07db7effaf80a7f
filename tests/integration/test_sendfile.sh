#!/usr/bin/env bash
# SendFile with a real agent: a latchkeyd on a loopback port with a fresh
# database, one agent registered and running as root, files sent with the
# public API (signature 1.0, POST, signed here) into directories of the
# scratch root $T. Checks that the bytes arrive identical (text and binary
# through Base64), with the owner, group and mode asked for; that a
# symbolic link planted at the target name or at a directory component is
# never followed (its target stays as it was); that Overwrite=false refuses
# an existing name; that hostile names and directories are refused by
# latchkeyd (400) or, past it, by the agent (per instance); that the
# owner's own rights apply (a user cannot write where it may not); and
# latchkey send-file.
. "$(dirname "$0")/lib.sh"

lk_setup
lk_need_built "$T/bin/latchkey-agent" "$T/bin/latchkeyd" "$T/bin/latchkey"
lk_new_db lkd || { echo "not ok - a database"; exit 1; }
F=$T/files			# every target lives below it
mkdir -p "$F" && chmod 0755 "$F"
ALICE_GROUP=$(id -gn "$LK_ALICE")

check "latchkeyd accesskey create" lk_accesskey AK --description sendfile
check "an access key limited to user $LK_ALICE" lk_accesskey AL \
    --users "$LK_ALICE" --description sendfile-alice
check "latchkeyd activation create" lk_activation ACT --count 1
check "latchkeyd starts" lk_lkd_start latchkeyd
check "the agent registers and runs" lk_agent_start agent
IID=$AGENT_IID

# api_post ACTION [NAME=VALUE...]: lk_api's call as a POST form (the
# content does not fit a comfortable URL).
api_post() {
	local url q sig
	url=$(lk_signed_url "$@")
	q=${url#*\?}
	q=${q%&Signature=*}
	sig=$(printf 'POST&%%2F&%s' "$(lk_enc "$q")" |
	    openssl dgst -sha1 -hmac "$AK_SECRET&" -binary | base64)
	curl -s --max-time 10 -H 'Content-Type: application/x-www-form-urlencoded' \
	    --data-binary "$q&Signature=$(lk_enc "$sig")" "$LKD_URL/"
}

# send NAME=VALUE...: SendFile to the agent's instance; INV its InvokeId,
# the answer in $T/send.json.
send() {
	api_post SendFile "InstanceId.1=$IID" "$@" >"$T/send.json"
	INV=$(json_str InvokeId <"$T/send.json")
	[ -n "$INV" ] || { echo "SendFile: $(head -c 400 "$T/send.json")" >&2; return 1; }
}

# done_status: waits up to 30 s for INV to end; sets STATUS, CODE and INFO of
# its one instance (DescribeSendFileResults in $T/res.json).
done_status() {
	local i
	for i in $(seq 1 150); do
		api_post DescribeSendFileResults "InvokeId=$INV" >"$T/res.json"
		STATUS=$(grep -o '"InvokeInstances".*' "$T/res.json" |
		    json_str InvocationStatus)
		case "$STATUS" in Pending|Running|"") sleep 0.2 ;; *) break ;; esac
	done
	CODE=$(grep -o '"InvokeInstances".*' "$T/res.json" | json_str ErrorCode)
	INFO=$(grep -o '"InvokeInstances".*' "$T/res.json" | json_str ErrorInfo)
}

# sent WANT NAME=VALUE...: sends, waits, and checks "STATUS CODE".
sent() {
	local want=$1 got; shift
	send "$@" || return 1
	done_status
	got="$STATUS $CODE"
	[ "$got" = "$want" ] && return 0
	echo "wanted '$want', got '$got' ($INFO)" >&2
	return 1
}

# ---------------------------------------------------------------------
# Plain text, default owner and mode.
check "a text file arrives (Success)" sent "Success " \
    "TargetDir=$F/a" Name=hello.txt "Content=$(printf 'hello\nworld')"
is "its bytes are the content" "$(cat "$F/a/hello.txt")" "$(printf 'hello\nworld')"
is "owner root:root, mode 0644 by default" \
    "$(stat -c '%U:%G %a' "$F/a/hello.txt")" "root:root 644"
is "the missing directory was made, 0755" "$(stat -c '%U %a' "$F/a")" "root 755"
is "no temporary file is left" "$(ls -A "$F/a" | tr '\n' ' ')" "hello.txt "
grep -q '"Name": *"hello.txt"' "$T/res.json" &&
    grep -q '"FileMode": *"0644"' "$T/res.json" &&
    grep -q '"Overwrite": *"false"' "$T/res.json" &&
    grep -q '"InvocationStatus": *"Success"' "$T/res.json" &&
    tap_ok "DescribeSendFileResults names the file, mode, overwrite and status" ||
    tap_fail "DescribeSendFileResults fields ($(head -c 600 "$T/res.json"))"

# Binary through Base64, with an owner, group and an exact mode.
head -c 20000 /dev/urandom >"$T/blob"
mkdir -p "$F/b" && chown "$LK_ALICE" "$F/b"	# hers: she writes as herself
check "a binary file through Base64 as $LK_ALICE:$ALICE_GROUP 0640" sent "Success " \
    "TargetDir=$F/b" Name=blob.bin ContentType=Base64 \
    "Content=$(base64 -w0 "$T/blob")" "FileOwner=$LK_ALICE" \
    "FileGroup=$ALICE_GROUP" FileMode=0640
check "its bytes are identical" cmp "$T/blob" "$F/b/blob.bin"
is "owner, group and mode are exact" "$(stat -c '%U:%G %a' "$F/b/blob.bin")" \
    "$LK_ALICE:$ALICE_GROUP 640"
check "mode 4750 as root: applied exactly (after the chown)" sent "Success " \
    "TargetDir=$F/b" Name=suid FileMode=4750 Content=x
is "the set-uid bit is kept" "$(stat -c '%a' "$F/b/suid")" 4750

# Overwrite.
check "Overwrite=false refuses an existing file" sent "Failed FileAlreadyExists" \
    "TargetDir=$F/a" Name=hello.txt Content=new
is "the existing file is unchanged" "$(cat "$F/a/hello.txt")" "$(printf 'hello\nworld')"
check "Overwrite=true replaces it" sent "Success " "TargetDir=$F/a" \
    Name=hello.txt Content=new Overwrite=true
is "the new content is there" "$(cat "$F/a/hello.txt")" new

# Symbolic links: at the name, and at a directory component.
mkdir -p "$F/c" "$F/secret"
echo precious >"$F/secret/target"
ln -s "$F/secret/target" "$F/c/link"
check "a link at the name with Overwrite=false: FileAlreadyExists" \
    sent "Failed FileAlreadyExists" "TargetDir=$F/c" Name=link Content=evil
check "a link at the name with Overwrite=true: replaced, not followed" \
    sent "Success " "TargetDir=$F/c" Name=link Content=evil Overwrite=true
is "the link's target is unchanged" "$(cat "$F/secret/target")" precious
is "the name is now a regular file with the content" \
    "$(stat -c '%F' "$F/c/link"):$(cat "$F/c/link")" "regular file:evil"
ln -s "$F/secret" "$F/dirlink"
check "a link as a directory component: FilePathInvalid" \
    sent "Failed FilePathInvalid" "TargetDir=$F/dirlink" Name=target \
    Content=evil Overwrite=true
is "nothing was written through it" "$(cat "$F/secret/target")" precious
case "$INFO" in *"symbolic link"*) tap_ok "ErrorInfo says it is a symbolic link" ;;
	*) tap_fail "ErrorInfo says it is a symbolic link ($INFO)" ;; esac
ln -s /etc "$F/etclink"
check "a link deeper in the path: FilePathInvalid" sent "Failed FilePathInvalid" \
    "TargetDir=$F/etclink/cron.d" Name=evil Content=x
[ ! -e /etc/cron.d/evil ] && tap_ok "nothing appeared at the link's target" ||
    { rm -f /etc/cron.d/evil; tap_fail "nothing appeared at the link's target"; }
: >"$F/plainfile"
check "a regular file as a directory component: FilePathInvalid" \
    sent "Failed FilePathInvalid" "TargetDir=$F/plainfile/x" Name=y Content=x

# The owner's rights: alice cannot write into a root-only directory.
mkdir -p "$F/rootonly" && chmod 0755 "$F/rootonly"
check "as $LK_ALICE into a root-owned 0755 directory: refused" \
    sent "Failed FileWriteFailed" "TargetDir=$F/rootonly" Name=x Content=x \
    "FileOwner=$LK_ALICE"
[ ! -e "$F/rootonly/x" ] && tap_ok "nothing was written there" ||
    tap_fail "nothing was written there"
check "as $LK_ALICE with group root (not hers): refused" \
    sent "Failed UserGroupNotExists" "TargetDir=$F/b" Name=g Content=x \
    "FileOwner=$LK_ALICE" FileGroup=root
[ ! -e "$F/b/g" ] && [ -z "$(ls -A "$F/b" | grep latchkey)" ] &&
    tap_ok "neither the file nor its temporary file is left" ||
    tap_fail "neither the file nor its temporary file is left ($(ls -A "$F/b"))"
check "an unknown owner: AccountNotExists (per instance)" \
    sent "Failed AccountNotExists" "TargetDir=$F/a" Name=u Content=x \
    FileOwner=nosuchuser42
check "an unknown group: UserGroupNotExists (per instance)" \
    sent "Failed UserGroupNotExists" "TargetDir=$F/a" Name=u Content=x \
    FileGroup=nosuchgroup42

# Hostile parameters, refused by latchkeyd before anything is stored.
refused() {	# refused CODE NAME=VALUE...
	local code=$1; shift
	api_post SendFile "InstanceId.1=${INST:-$IID}" "$@" >"$T/bad.json"
	grep -q "\"Code\": *\"$code\"" "$T/bad.json" && return 0
	echo "wanted $code: $(head -c 300 "$T/bad.json")" >&2
	return 1
}
check "Name ../x: 400 InvalidParameter.Name" refused InvalidParameter.Name \
    "TargetDir=$F/a" "Name=../x" Content=x
check "Name ..: 400" refused InvalidParameter.Name "TargetDir=$F/a" Name=.. Content=x
check "Name with a newline: 400" refused InvalidParameter.Name "TargetDir=$F/a" \
    "Name=$(printf 'a\nb')" Content=x
check "Name with a slash: 400" refused InvalidParameter.Name "TargetDir=$F/a" \
    Name=a/b Content=x
api_post SendFile "InstanceId.1=$IID" "TargetDir=$F/a" Content=x >"$T/bad.json"
q=$(lk_signed_url SendFile "InstanceId.1=$IID" "TargetDir=$F/a" Name=a Content=x)
curl -s "${q/Name=a/Name=a%00b}" >"$T/nul.json"
grep -q '"Code"' "$T/nul.json" && ! grep -q InvokeId "$T/nul.json" &&
    tap_ok "Name with a NUL (%00) is refused" ||
    tap_fail "Name with a NUL (%00) is refused ($(head -c 300 "$T/nul.json"))"
check "a relative TargetDir: 400 InvalidParameter.TargetDir" refused \
    InvalidParameter.TargetDir TargetDir=tmp/x Name=a Content=x
check "a TargetDir with ..: 400" refused InvalidParameter.TargetDir \
    "TargetDir=$F/a/../../etc" Name=a Content=x
check "FileMode 0999: 400 InvalidParameter.FileMode" refused \
    InvalidParameter.FileMode "TargetDir=$F/a" Name=a Content=x FileMode=0999
check "FileMode 17777: 400" refused InvalidParameter.FileMode \
    "TargetDir=$F/a" Name=a Content=x FileMode=17777
check "FileOwner 'root;id': 400 InvalidParameter.FileOwner" refused \
    InvalidParameter.FileOwner "TargetDir=$F/a" Name=a Content=x "FileOwner=root;id"
check "bad Base64: 400 InvalidParameter.Content" refused \
    InvalidParameter.Content "TargetDir=$F/a" Name=a ContentType=Base64 Content=@@@
check "content over 32 KiB in Base64: 403" refused InvalidParam.Content.ExceedLimit \
    "TargetDir=$F/a" Name=a ContentType=Base64 \
    "Content=$(head -c 24600 /dev/zero | base64 -w0)"
INST=i-00000000000000000000 check "an unknown instance: 404" refused \
    InvalidInstance.NotFound "TargetDir=$F/a" Name=a Content=x
AK_ID=$AL_ID AK_SECRET=$AL_SECRET check "a key limited to $LK_ALICE may not write as root: 403" \
    refused Forbidden.RAM "TargetDir=$F/a" Name=a Content=x
AK_ID=$AL_ID AK_SECRET=$AL_SECRET check "it may write as $LK_ALICE where she may" \
    sent "Success " "TargetDir=$F/b/sub" Name=ok Content=x \
    "FileOwner=$LK_ALICE" FileGroup=
is "the file and the directory made are hers, in her primary group" \
    "$(stat -c '%U:%G' "$F/b/sub/ok" "$F/b/sub" | tr '\n' ' ')" \
    "$LK_ALICE:$ALICE_GROUP $LK_ALICE:$ALICE_GROUP "
AK_ID=$AL_ID AK_SECRET=$AL_SECRET check "but not make a directory in a root-owned one" \
    sent "Failed FileWriteFailed" "TargetDir=$F/alice" Name=ok Content=x \
    "FileOwner=$LK_ALICE"
case "$INFO" in *"cannot make directory $F/alice: Permission denied"*)
	tap_ok "ErrorInfo names the directory and the reason" ;;
	*) tap_fail "ErrorInfo names the directory and the reason ($INFO)" ;; esac
[ ! -e "$F/a/../../etc/a" ] && [ ! -e "$F/a/a" ] &&
    tap_ok "no refused send wrote anything" || tap_fail "no refused send wrote anything"

# The two kinds of invocations stay apart.
lk_api DescribeInvocations >"$T/inv.json"
! grep -q '"InvokeId": *"f-' "$T/inv.json" &&
    tap_ok "DescribeInvocations lists no SendFile" ||
    tap_fail "DescribeInvocations lists no SendFile"
api_post DescribeSendFileResults Name=hello.txt >"$T/byname.json"
is "DescribeSendFileResults by Name: the three sends of hello.txt" \
    "$(grep -o '"TotalCount": *[0-9]*' "$T/byname.json" | grep -o '[0-9]*$')" 3

# The audit trail has the send.
lk_api DescribeAuditEvents >"$T/audit.json"
grep -q 'SendFile' "$T/audit.json" && grep -q 'sha256' "$T/audit.json" &&
    tap_ok "SendFile is in the audit trail, with the content's SHA-256" ||
    tap_fail "SendFile is in the audit trail ($(head -c 300 "$T/audit.json"))"

# latchkey send-file.
export HOME=$T/home
mkdir -p "$HOME"
unset LATCHKEY_ENDPOINT LATCHKEY_PROFILE LATCHKEY_CONFIG \
    ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET \
    ALIBABA_CLOUD_REGION_ID
check "latchkey configure" "$T/bin/latchkey" configure --endpoint "$LKD_URL" \
    --access-key-id "$AK_ID" --access-key-secret "$AK_SECRET" \
    --region cn-hangzhou
printf 'cli\x00bytes\xff' >"$T/local.bin"
mkdir -p "$F/cli" && chown "$LK_ALICE" "$F/cli"
check "latchkey send-file LOCAL DIR/NAME --mode 0600 --owner $LK_ALICE" \
    out_has "$IID.*Success" "$T/bin/latchkey" send-file --instance "$IID" \
    --mode 0600 --owner "$LK_ALICE" "$T/local.bin" "$F/cli/renamed.bin"
check "its bytes are identical" cmp "$T/local.bin" "$F/cli/renamed.bin"
is "its owner and mode" "$(stat -c '%U %a' "$F/cli/renamed.bin")" "$LK_ALICE 600"
check "latchkey send-file LOCAL DIR/ keeps the local name" \
    out_has "$IID.*Success" "$T/bin/latchkey" send-file --instance "$IID" \
    "$T/local.bin" "$F/cli/"
check "the file is DIR/local.bin" cmp "$T/local.bin" "$F/cli/local.bin"
check_exit "again without --overwrite: exit 1, FileAlreadyExists" 1 \
    "$T/bin/latchkey" send-file --instance "$IID" "$T/local.bin" "$F/cli/"
is "it says FileAlreadyExists for the instance" \
    "$(grep -c "$IID  Failed  FileAlreadyExists" "$T/last.out")" 1
check "with --overwrite: Success" out_has "Success" "$T/bin/latchkey" \
    send-file --instance "$IID" --overwrite "$T/local.bin" "$F/cli/"
check_exit "a relative target: usage error (2)" 2 "$T/bin/latchkey" \
    send-file --instance "$IID" "$T/local.bin" relative/dir
check "send-file --help" out_has "send-file" "$T/bin/latchkey" send-file --help

echo "1..$LK_N"
