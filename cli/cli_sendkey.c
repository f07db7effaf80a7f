/*
 * send-key: the seed procedure of ECS Instance Connect, as the official
 * plug-in runs it, but polling every 200 ms instead of every 3 s:
 *
 *	DescribeCloudAssistantStatus	is the agent online?
 *	[RunCommand acs-plugin-manager ...	with --install-plugin]
 *	DescribeCommands Provider=AlibabaCloud
 *	    Name=ACS-ECS-SendSshPublicKey-linux.sh, the Latest one
 *	InvokeCommand CommandId InstanceId.1 Parameters={username,sshPublicKey}
 *	DescribeInvocationResults InvokeId InstanceId	until it is final
 *
 * and then a plain-words reading of how it ended: the exit statuses of
 * send_ssh_public_key(8), the command's own exit 3 when the plug-in is
 * missing, and the agent's error codes.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "cli.h"
#include "err.h"
#include "fsutil.h"
#include "sshkey.h"
#include "util.h"

#define SK_TIMEOUT_DEFAULT	30	/* seconds to wait for the result */
#define SK_TIMEOUT_MAX		3600
#define SK_PLUGIN_TIMEOUT	60	/* RunCommand Timeout (>= 10) */
#define SK_LINE_MAX		512	/* of a line quoted from Output */

/* send_ssh_public_key(8)'s exit statuses. */
#define SSPK_EX_USER_INVALID	3	/* also: the plug-in is missing */
#define SSPK_EX_NO_USER		4
#define SSPK_EX_BAD_KEY		5
#define SSPK_EX_TTL		6
#define SSPK_EX_NOT_ROOT	7
#define SSPK_EX_STORE		8

/* Pending and Running are not final; neither are Stopping, Scheduled. */
int
cli_status_final(const char *status)
{
	return status != NULL && strcmp(status, "Pending") != 0 &&
	    strcmp(status, "Running") != 0 && strcmp(status, "Stopping") != 0 &&
	    strcmp(status, "Scheduled") != 0 && *status != '\0';
}

/* Asks the server to stop the invocation on the instance; errors shown. */
int
cli_invoke_stop(struct cli *c, const char *invoke_id, const char *instance)
{
	struct cli_req q;
	int r;

	cli_req_init(&q);
	cli_req_add(&q, "InvokeId", invoke_id);
	if (instance != NULL)
		cli_req_add(&q, "InstanceId.1", instance);
	r = cli_api_do(c, "StopInvocation", &q, NULL);
	cli_req_free(&q);
	if (r == 0)
		cli_info(c, "stopped invocation %s", invoke_id);
	return r;
}

static long
sk_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)((t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* The invocation's status on the instance, or "not listed yet". */
static const char *
sk_status(json_t *res)
{
	const char *st = cli_jstr(res, "InvocationStatus");

	return st != NULL && *st != '\0' ? st : "not listed yet";
}

/*
 * Polls DescribeInvocationResults for one instance (after 5 ms, doubling
 * to every 200 ms: a key push usually ends within milliseconds) until the
 * result is final, the deadline passes, the agent is found offline while
 * the task is still Pending, or a signal arrives (*whyp says which). The
 * agent's state is asked every CLI_ONLINE_CHECK_MS, and what is awaited
 * is shown (cli_waiting). *resultp is the last InvocationResult seen
 * (NULL if none), Output still Base64. Returns 0, or an API error's
 * status after reporting it.
 */
int
cli_invoke_wait(struct cli *c, const char *invoke_id, const char *instance,
    int timeout, json_t **resultp, enum cli_wait *whyp)
{
	struct cli_req q;
	struct timespec t0;
	json_t *resp = NULL, *res;
	long next_check = CLI_ONLINE_CHECK_MS / 2, delay = CLI_POLL_FIRST_MS;
	const char *agent = NULL;
	char seen[64];
	int r, online;

	*resultp = NULL;
	*whyp = CLI_WAIT_TIMEOUT;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		cli_req_init(&q);
		cli_req_add(&q, "InvokeId", invoke_id);
		cli_req_add(&q, "InstanceId", instance);
		cli_req_add(&q, "ContentEncoding", "Base64");
		r = cli_api_do(c, "DescribeInvocationResults", &q, &resp);
		cli_req_free(&q);
		if (r != 0)
			break;
		res = json_array_get(cli_jlist(json_object_get(resp,
		    "Invocation"), "InvocationResults", "InvocationResult"), 0);
		json_decref(*resultp);
		*resultp = json_incref(res);
		json_decref(resp);
		if (cli_status_final(cli_jstr(res, "InvocationStatus"))) {
			*whyp = CLI_WAIT_DONE;
			break;
		}
		if (sk_ms_since(&t0) >= (long)timeout * 1000)
			break;
		/* Is its agent still there? A Pending task waits for it. */
		if (sk_ms_since(&t0) >= next_check) {
			next_check += CLI_ONLINE_CHECK_MS;
			if ((r = cli_inst_online(c, instance, &online, seen,
			    sizeof(seen))) != 0)
				break;
			agent = online ? "online" : "offline";
			if (!online && strcmp(sk_status(res), "Running") != 0) {
				*whyp = CLI_WAIT_OFFLINE;
				break;
			}
		}
		cli_waiting(c, "waiting for %s (%s%s%s)", instance,
		    sk_status(res), agent ? ", agent " : "", agent ? agent : "");
		if (cli_sleep_ms(delay) != 0) {
			*whyp = CLI_WAIT_INTERRUPTED;
			break;
		}
		if ((delay *= 2) > CLI_POLL_MS)
			delay = CLI_POLL_MS;
	}
	cli_waiting_end();
	return r;
}

/* The last non-empty line of text into buf, made safe to print. */
static void
sk_last_line(const char *text, char *buf, size_t size)
{
	const char *end = text + strlen(text), *start;
	char tmp[SK_LINE_MAX];

	while (end > text && (end[-1] == '\n' || end[-1] == '\r' ||
	    end[-1] == ' '))
		end--;
	for (start = end; start > text && start[-1] != '\n'; start--)
		;
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(end - start), start);
	cli_safe(buf, size, tmp);
}

static void
sk_say_plugin_missing(struct cli *c, const char *id)
{
	cli_warn("the config_ecs_instance_connect plug-in is not installed on "
	    "%s.", id);
	cli_warn("install it on the server, as root, with:");
	cli_warn("    " CLI_PLUGIN_INSTALL);
	cli_warn("or run this command again with --install-plugin.");
	cli_json_error(c, "PluginNotInstalled", "config_ecs_instance_connect "
	    "is not installed on %s; install it with: " CLI_PLUGIN_INSTALL
	    " (or use --install-plugin)", id);
}

/*
 * The server gave up on the task because of its agent (ClientNotRunning,
 * DeliveryTimeout, ClientNotResponse): said in latchkey's words, not the
 * API's ErrorInfo, with the agent's state now.
 */
static void
sk_agent_gone(struct cli *c, const char *id, const char *ec)
{
	char seen[64];
	int online = 0;

	if (cli_inst_online(c, id, &online, seen, sizeof(seen)) == 0 &&
	    !online) {
		cli_say_offline(c, id, seen);
		return;
	}
	cli_warn("the agent on %s %s (%s); it is online now: try again", id,
	    strcmp(ec, "ClientNotResponse") == 0 ? "stopped answering while "
	    "it stored the key" : "did not take the task in time", ec);
	cli_json_error(c, ec, "the agent on %s did not finish the task", id);
}

/* Reads "... until <ISO time> (...)" of a successful run. */
static void
sk_parse_success(struct cli_sendkey *sk, const char *out)
{
	const char *p = strstr(out, " until "), *fp = strstr(out, "SHA256:");
	char when[32];
	int64_t t;
	size_t n;

	if (p != NULL && (n = strcspn(p + 7, " \n")) < sizeof(when)) {
		memcpy(when, p + 7, n);
		when[n] = '\0';
		if (lk_time_parse(when, &t) == 0)
			lk_time_iso(t, sk->expires, sizeof(sk->expires));
	}
	if (sk->fingerprint[0] == '\0' && fp != NULL &&
	    (n = strcspn(fp, " \n")) < sizeof(sk->fingerprint)) {
		memcpy(sk->fingerprint, fp, n);
		sk->fingerprint[n] = '\0';
	}
}

/*
 * Explains a final result that is not Success; out is the decoded
 * Output. Returns the exit status.
 */
static int
sk_explain(struct cli *c, struct cli_sendkey *sk, json_t *res,
    const char *out)
{
	const char *st = cli_jstr(res, "InvocationStatus"),
	    *ec = cli_jstr(res, "ErrorCode"), *ei = cli_jstr(res, "ErrorInfo");
	json_int_t code = cli_jint(res, "ExitCode", -1);
	char line[SK_LINE_MAX], info[256];
	const char *id = sk->instance;

	sk_last_line(out, line, sizeof(line));
	cli_safe(info, sizeof(info), ei ? ei : "");
	if (ec == NULL)
		ec = "";
	if (strcmp(ec, "ClientNotRunning") == 0 ||
	    strcmp(ec, "DeliveryTimeout") == 0 ||
	    strcmp(ec, "ClientNotResponse") == 0) {
		sk_agent_gone(c, id, ec);
		return CLI_EX_FAIL;
	}
	if (st != NULL && strcmp(st, "Failed") == 0 &&
	    (*ec == '\0' || strcmp(ec, "ExitCodeNonzero") == 0)) {
		switch (code) {
		case SSPK_EX_USER_INVALID:
			if (strstr(out, "acs-plugin-manager") != NULL) {
				sk_say_plugin_missing(c, id);
				return CLI_EX_FAIL;
			}
			cli_warn("%s refused the user name \"%s\": %s", id,
			    sk->user, line);
			break;
		case SSPK_EX_NO_USER:
			cli_warn("there is no user \"%s\" on %s: %s", sk->user,
			    id, line);
			break;
		case SSPK_EX_BAD_KEY:
			cli_warn("%s refused the public key: %s", id, line);
			break;
		case SSPK_EX_NOT_ROOT:
			cli_warn("send_ssh_public_key did not run as root on "
			    "%s: %s", id, line);
			break;
		case SSPK_EX_STORE:
			cli_warn("%s could not store the key (its key store is "
			    "unsafe or unwritable): %s", id, line);
			break;
		case 127:
			cli_warn("%s: a program of the plug-in was not found: %s",
			    id, line);
			break;
		default:
			cli_warn("storing the key on %s failed (exit code %lld):"
			    " %s", id, (long long)code, line);
			break;
		}
		cli_json_error(c, "SendKeyFailed", "exit code %lld: %s",
		    (long long)code, line);
		return CLI_EX_FAIL;
	}
	cli_warn("storing the key on %s ended %s%s%s%s%s", id, st ? st : "?",
	    *ec ? " (" : "", ec, *ec ? ")" : "", *info ? ": " : "");
	if (*info)
		cli_warn("  %s", info);
	if (*line)
		cli_warn("  output: %s", line);
	cli_json_error(c, *ec ? ec : "SendKeyFailed", "the invocation ended %s",
	    st ? st : "?");
	return CLI_EX_FAIL;
}

/* Says why waiting ended without a final result; stops the invocation. */
static int
sk_not_final(struct cli *c, const char *what, const char *invoke_id,
    const char *id, json_t *res, enum cli_wait why, int timeout)
{
	const char *st = cli_jstr(res, "InvocationStatus");
	char seen[64] = "unknown";
	int online = 1;

	cli_invoke_stop(c, invoke_id, id);
	if (why == CLI_WAIT_INTERRUPTED) {
		cli_warn("interrupted; stopped %s", invoke_id);
		return 128 + (int)cli_interrupted;
	}
	if (why == CLI_WAIT_OFFLINE ||
	    (cli_inst_online(c, id, &online, seen, sizeof(seen)) == 0 &&
	    !online)) {
		cli_say_offline(c, id, seen);
		return CLI_EX_FAIL;
	}
	cli_warn("%s on %s did not finish within %d s (still %s); the agent "
	    "may be offline or busy (last heartbeat %s). Stopped %s.", what,
	    id, timeout, st ? st : "Pending", seen, invoke_id);
	cli_json_error(c, "Timeout", "%s on %s did not finish within %d s",
	    what, id, timeout);
	return CLI_EX_FAIL;
}

/* RunCommand of the seed's install command, and its result. */
static int
sk_install_plugin(struct cli *c, struct cli_sendkey *sk)
{
	struct cli_req q;
	json_t *resp = NULL, *res = NULL;
	char *b64 = NULL, *out = NULL, line[SK_LINE_MAX], inv[80];
	const char *st;
	enum cli_wait why;
	size_t outlen;
	int r;

	if ((b64 = lk_b64_encode((const unsigned char *)CLI_PLUGIN_INSTALL,
	    strlen(CLI_PLUGIN_INSTALL), 1)) == NULL)
		return CLI_EX_LOCAL;
	cli_info(c, "installing config_ecs_instance_connect on %s",
	    sk->instance);
	cli_req_init(&q);
	cli_req_add(&q, "Type", "RunShellScript");
	cli_req_add(&q, "ContentEncoding", "Base64");
	cli_req_add(&q, "CommandContent", b64);
	cli_req_addf(&q, "Timeout", "%d", SK_PLUGIN_TIMEOUT);
	cli_req_add(&q, "InstanceId.1", sk->instance);
	free(b64);
	r = cli_api_do(c, "RunCommand", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	snprintf(inv, sizeof(inv), "%s", cli_jstr(resp, "InvokeId") ?
	    cli_jstr(resp, "InvokeId") : "");
	json_decref(resp);
	if ((r = cli_invoke_wait(c, inv, sk->instance, SK_PLUGIN_TIMEOUT +
	    sk->timeout, &res, &why)) != 0)
		goto out;
	if (why != CLI_WAIT_DONE) {
		r = sk_not_final(c, "installing the plug-in", inv, sk->instance,
		    res, why, SK_PLUGIN_TIMEOUT + sk->timeout);
		goto out;
	}
	st = cli_jstr(res, "InvocationStatus");
	if (cli_b64_text(cli_jstr(res, "Output"), &out, &outlen) != 0)
		out = NULL;
	sk_last_line(out ? out : "", line, sizeof(line));
	if (st != NULL && strcmp(st, "Success") == 0) {
		cli_info(c, "plug-in installed: %s", line);
		r = 0;
		goto out;
	}
	if (cli_jint(res, "ExitCode", -1) == 127)
		cli_warn("acs-plugin-manager is not installed on %s (%s): "
		    "install the latchkey agent's package there", sk->instance,
		    line);
	else
		cli_warn("installing the plug-in on %s failed (%s, exit code "
		    "%lld): %s", sk->instance, st ? st : "?",
		    (long long)cli_jint(res, "ExitCode", -1), line);
	cli_json_error(c, "PluginInstallFailed", "installing the plug-in "
	    "failed: %s", line);
	r = CLI_EX_FAIL;
 out:
	free(out);
	json_decref(res);
	return r;
}

/* The CommandId of the latest public ACS-ECS-SendSshPublicKey-linux.sh. */
static int
sk_command_id(struct cli *c, char *id, size_t size)
{
	struct cli_req q;
	json_t *resp = NULL, *v, *best = NULL;
	size_t i;
	int r;

	cli_req_init(&q);
	cli_req_add(&q, "Provider", "AlibabaCloud");
	cli_req_add(&q, "Name", CLI_SENDKEY_COMMAND);
	cli_req_add(&q, "Latest", "true");
	cli_req_addf(&q, "PageSize", "%d", CLI_PAGE_SIZE);
	r = cli_api_do(c, "DescribeCommands", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	json_array_foreach(cli_jlist(resp, "Commands", "Command"), i, v) {
		const char *n = cli_jstr(v, "Name");

		if (n == NULL || strcmp(n, CLI_SENDKEY_COMMAND) != 0 ||
		    cli_jstr(v, "CommandId") == NULL)
			continue;
		if (json_is_true(json_object_get(v, "Latest"))) {
			best = v;
			break;
		}
		if (best == NULL || cli_jint(v, "Version", 0) >
		    cli_jint(best, "Version", 0))
			best = v;
	}
	/* InvokeCommand takes a public command's name, too. */
	snprintf(id, size, "%s", best != NULL ? cli_jstr(best, "CommandId") :
	    CLI_SENDKEY_COMMAND);
	cli_info(c, "command %s is %s", CLI_SENDKEY_COMMAND, id);
	json_decref(resp);
	return 0;
}

/*
 * latchkeyd's warnings about the push (a latchkey extension of the
 * answer): printed; a clock skew of the instance is kept for ssh.
 */
static void
sk_warnings(struct cli_sendkey *sk, const json_t *resp)
{
	const json_t *v, *w = json_object_get(resp, "Warnings");
	char text[320];
	const char *s;
	size_t i, j;

	json_array_foreach(w, i, v)
		if ((s = json_string_value(v)) != NULL) {
			/* Printable ASCII only: the server's words, not its bytes. */
			snprintf(text, sizeof(text), "%s", s);
			for (j = 0; text[j] != '\0'; j++)
				if (text[j] < 0x20 || text[j] > 0x7e)
					text[j] = '?';
			cli_warn("warning: %s", text);
		}
	json_array_foreach(json_object_get(resp, "ClockSkew"), i, v)
		if (json_is_integer(json_object_get(v, "SkewSeconds")) &&
		    (s = json_string_value(json_object_get(v, "InstanceId"))) !=
		    NULL && strcmp(s, sk->instance) == 0) {
			sk->skew_known = 1;
			sk->skew_s = (long long)json_integer_value(
			    json_object_get(v, "SkewSeconds"));
		}
}

/* InvokeCommand of the send-key command with its two parameters. */
static int
sk_invoke(struct cli *c, struct cli_sendkey *sk, const char *cmd_id)
{
	struct cli_req q;
	json_t *params, *resp = NULL;
	char *text;
	int r;

	if ((params = json_pack("{s:s, s:s}", "username", sk->user,
	    "sshPublicKey", sk->key_line)) == NULL ||
	    (text = json_dumps(params, JSON_COMPACT)) == NULL) {
		json_decref(params);
		return CLI_EX_LOCAL;
	}
	json_decref(params);
	cli_req_init(&q);
	cli_req_add(&q, "CommandId", cmd_id);
	cli_req_add(&q, "InstanceId.1", sk->instance);
	cli_req_add(&q, "Parameters", text);
	free(text);
	r = cli_api_do(c, "InvokeCommand", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	snprintf(sk->invoke_id, sizeof(sk->invoke_id), "%s",
	    cli_jstr(resp, "InvokeId") ? cli_jstr(resp, "InvokeId") : "");
	sk_warnings(sk, resp);
	json_decref(resp);
	if (sk->invoke_id[0] == '\0') {
		cli_warn("InvokeCommand: the answer has no InvokeId");
		return CLI_EX_API;
	}
	cli_info(c, "invocation %s sends the key for %s to %s", sk->invoke_id,
	    sk->user, sk->instance);
	return 0;
}

/*
 * Pushes sk->key_line for sk->user to sk->instance and waits until it is
 * stored; fills invoke_id, expires and (from the output) fingerprint.
 * Every failure is explained before it returns non-zero.
 */
int
cli_sendkey_push(struct cli *c, struct cli_sendkey *sk)
{
	json_t *res = NULL;
	char cmd_id[128], seen[64], *out = NULL;
	enum cli_wait why;
	size_t outlen;
	int r, online;

	if ((r = cli_inst_online(c, sk->instance, &online, seen,
	    sizeof(seen))) != 0)
		return r;
	if (!online) {
		cli_say_offline(c, sk->instance, seen);
		return CLI_EX_FAIL;
	}
	if ((sk->install_plugin && (r = sk_install_plugin(c, sk)) != 0) ||
	    (r = sk_command_id(c, cmd_id, sizeof(cmd_id))) != 0 ||
	    (r = sk_invoke(c, sk, cmd_id)) != 0 ||
	    (r = cli_invoke_wait(c, sk->invoke_id, sk->instance, sk->timeout,
	    &res, &why)) != 0)
		goto out;
	if (why != CLI_WAIT_DONE) {
		r = sk_not_final(c, "storing the key", sk->invoke_id,
		    sk->instance, res, why, sk->timeout);
		goto out;
	}
	if (cli_b64_text(cli_jstr(res, "Output"), &out, &outlen) != 0)
		out = NULL;
	if (strcmp(cli_jstr(res, "InvocationStatus"), "Success") != 0) {
		r = sk_explain(c, sk, res, out ? out : "");
		goto out;
	}
	lk_time_iso((int64_t)time(NULL) + CLI_KEY_TTL, sk->expires,
	    sizeof(sk->expires));
	sk_parse_success(sk, out ? out : "");
	r = 0;
 out:
	free(out);
	json_decref(res);
	return r;
}

/* The default public key: the first of ~/.ssh/id_{ed25519,ecdsa,rsa}.pub. */
static int
sk_default_key(char *buf, size_t size)
{
	static const char *const names[] = { "id_ed25519.pub", "id_ecdsa.pub",
	    "id_rsa.pub" };
	const char *home = getenv("HOME");
	size_t i;

	for (i = 0; home != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(buf, size, "%s/.ssh/%s", home, names[i]);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	cli_warn("no public key given and none in ~/.ssh (id_ed25519.pub, "
	    "id_ecdsa.pub, id_rsa.pub): use --key FILE.pub");
	return CLI_EX_USAGE;
}

/*
 * Reads the public key file's first line. Checked (unless check is 0),
 * it becomes the key's canonical line; unchecked, it is sent as it is.
 */
static int
sk_read_key(const char *path, int check, char **linep, char *fp,
    size_t fpsize)
{
	struct lk_sshkey *key = NULL;
	char *buf = NULL, keyfp[LK_SSHKEY_FP_SIZE];
	size_t len, n;
	int r;

	*linep = NULL;
	if ((r = lk_fs_read(path, LK_SSHKEY_MAX_LINE, &buf, &len)) != 0) {
		cli_warn("%s: %s", path, r == LK_ERR_SYSTEM ? strerror(errno) :
		    lk_err(r));
		return CLI_EX_USAGE;
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (strncmp(buf, "-----BEGIN", 10) == 0) {
		cli_warn("%s is a private key; give the public one (%s.pub)",
		    path, path);
		r = CLI_EX_USAGE;
		goto out;
	}
	if (!check) {
		*linep = buf;
		buf = NULL;
		r = 0;
		goto out;
	}
	if ((r = lk_sshkey_parse_line(buf, n, &key)) != 0) {
		cli_warn("%s is not a valid OpenSSH public key: %s", path,
		    lk_sshkey_why(buf, r));
		r = CLI_EX_USAGE;
		goto out;
	}
	if ((r = lk_sshkey_to_line(key, 1, linep)) != 0 ||
	    (r = lk_sshkey_fingerprint(key, keyfp)) != 0) {
		r = CLI_EX_LOCAL;
		goto out;
	}
	snprintf(fp, fpsize, "%s", keyfp);
	r = 0;
 out:
	lk_sshkey_free(key);
	free(buf);
	return r;
}

static void
sk_print(struct cli *c, const struct cli_sendkey *sk, const char *name)
{
	json_t *o;

	if (c->output == CLI_OUT_JSON) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "InstanceId",
		    sk->instance, "InstanceName", name, "Username", sk->user,
		    "InvokeId", sk->invoke_id, "Fingerprint", sk->fingerprint,
		    "ExpiresAt", sk->expires);
		cli_json_print(o);
		json_decref(o);
		return;
	}
	printf("sent key %s to %s%s%s%s for user %s; it expires at %s\n",
	    sk->fingerprint[0] ? sk->fingerprint : "", sk->instance,
	    *name ? " (" : "", name, *name ? ")" : "", sk->user, sk->expires);
}

int
cli_sendkey_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "user", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "install-plugin", no_argument, NULL, 'I' },
		{ "no-key-check", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_sendkey sk;
	struct cli_inst inst;
	const char *keyfile = NULL;
	char keybuf[PATH_MAX], *line = NULL;
	long long t;
	int ch, k, r, check = 1;

	memset(&sk, 0, sizeof(sk));
	memset(&inst, 0, sizeof(inst));
	sk.user = "root";
	sk.timeout = SK_TIMEOUT_DEFAULT;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhl:k:t:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "send-key", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'l': sk.user = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'I': sk.install_plugin = 1; break;
		case 'N': check = 0; break;
		case 't':
			if (lk_parse_ll(optarg, 1, SK_TIMEOUT_MAX, &t) != 0) {
				cli_warn("--timeout: 1 to %d seconds",
				    SK_TIMEOUT_MAX);
				return CLI_EX_USAGE;
			}
			sk.timeout = (int)t;
			break;
		}
	}
	if (optind + 1 != argc) {
		cli_usage_of("send-key", 1);
		return CLI_EX_USAGE;
	}
	if (lk_user_valid(sk.user) != 0) {
		cli_warn("\"%s\" is not a valid login user name", sk.user);
		return CLI_EX_USAGE;
	}
	if (keyfile == NULL && (r = sk_default_key(keybuf, sizeof(keybuf))) != 0)
		return r;
	if ((r = sk_read_key(keyfile ? keyfile : keybuf, check, &line,
	    sk.fingerprint, sizeof(sk.fingerprint))) != 0)
		return r;
	sk.key_line = line;
	if ((r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_resolve(c, argv[optind], &inst)) != 0)
		goto out;
	sk.instance = inst.id;
	if ((r = cli_sendkey_push(c, &sk)) != 0)
		goto out;
	sk_print(c, &sk, inst.name);
 out:
	cli_inst_free(&inst);
	free(line);
	return r;
}
