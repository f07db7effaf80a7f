/*
 * run (RunCommand on a fleet, results as they arrive), invocations and
 * commands.
 *
 * run sends one RunCommand per 100 instances (the API's limit), then polls
 * DescribeInvocationResults of each invocation every 200 ms (every second
 * after the first ten), printing each instance's result once it is final.
 * Instances whose agent is known to be offline are not sent anything and
 * count as failed. A signal stops the invocations (StopInvocation).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "cli.h"
#include "err.h"
#include "util.h"

#define RUN_TIMEOUT_DEFAULT	60
#define RUN_TIMEOUT_MAX		86400
#define RUN_GRACE		60	/* seconds past Timeout we wait */
#define RUN_SLOW_AFTER_MS	10000	/* then poll once a second */
#define RUN_SCRIPT_MAX		(16 * 1024)	/* bytes, before Base64 */
#define RUN_PAGES_MAX		200
#define INV_LIST_DEFAULT	20

struct run_target {
	struct cli_inst	 inst;
	size_t		 batch;		/* index into invoke ids */
	int		 done;
	int		 ok;
	json_t		*result;	/* the final InvocationResult */
	char		 status[16];	/* the last one seen, not final */
	const char	*agent;		/* "online", "offline" or NULL */
};

struct run {
	struct run_target	*t;
	size_t			 n;
	char			(*invoke_ids)[80];
	size_t			 nbatches;
	size_t			 ndone;
	size_t			 nok;
	int			 tty;		/* stderr is a terminal */
	char			 last_progress[128];
	long			 next_check;	/* ms: agents' state next */
};

/* ------------------------------------------------------------------ */
/* Printing one result                                                 */

/* The decoded Output (plain text when the server sent no Base64). */
static char *
run_output(json_t *res, size_t *lenp)
{
	char *out = NULL;

	if (cli_b64_text(cli_jstr(res, "Output"), &out, lenp) != 0) {
		/* Not Base64: the server sent plain text. */
		const char *s = cli_jstr(res, "Output");

		out = strdup(s != NULL ? s : "");
		*lenp = out != NULL ? strlen(out) : 0;
	}
	return out;
}

/*
 * The server's ErrorInfo for the codes that blame the agent is Alibaba's
 * ("the aliyun service in the instance does not response"): say it in
 * our words instead. The code stays as the API gives it.
 */
static const char *
run_agent_words(const char *ec)
{
	if (strcmp(ec, "ClientNotRunning") == 0)
		return "the agent was offline; the task never started";
	if (strcmp(ec, "DeliveryTimeout") == 0)
		return "the agent did not take the task in time";
	if (strcmp(ec, "ClientNotResponse") == 0)
		return "the agent stopped answering while the task ran";
	return NULL;
}

/* "Success, exit code 0" or "Failed (ErrorCode: ErrorInfo)". */
static void
run_describe(json_t *res, char *buf, size_t size)
{
	const char *st = cli_jstr(res, "InvocationStatus"),
	    *ec = cli_jstr(res, "ErrorCode"), *ei = cli_jstr(res, "ErrorInfo");
	json_t *code = json_object_get(res, "ExitCode");
	char tmp[512];

	/* Skipped ones carry latchkey's own words already. */
	if (ec != NULL && run_agent_words(ec) != NULL &&
	    (st == NULL || strcmp(st, "Skipped") != 0))
		ei = run_agent_words(ec);

	if (ec != NULL && *ec != '\0' && strcmp(ec, "ExitCodeNonzero") != 0)
		snprintf(tmp, sizeof(tmp), "%s (%s%s%s)", st ? st : "?", ec,
		    ei && *ei ? ": " : "", ei ? ei : "");
	else if (json_is_integer(code))
		snprintf(tmp, sizeof(tmp), "%s, exit code %lld", st ? st : "?",
		    (long long)json_integer_value(code));
	else
		snprintf(tmp, sizeof(tmp), "%s", st ? st : "?");
	cli_safe(buf, size, tmp);
}

/*
 * Text: a header line per instance, then its output; alone (single), the
 * output is written as it is and only a failure is said, on stderr.
 */
static void
run_print_result(struct run_target *t, int single)
{
	char desc[512], *out;
	size_t len;
	json_int_t dropped = cli_jint(t->result, "Dropped", 0);

	run_describe(t->result, desc, sizeof(desc));
	out = run_output(t->result, &len);
	if (!single)
		printf("=== %s%s%s%s: %s\n", t->inst.id, *t->inst.name ? " (" :
		    "", t->inst.name, *t->inst.name ? ")" : "", desc);
	fflush(stdout);
	if (out != NULL && len > 0) {
		cli_write_all(STDOUT_FILENO, out, len);
		if (!single && out[len - 1] != '\n')
			cli_write_all(STDOUT_FILENO, "\n", 1);
	}
	if (dropped > 0)
		fprintf(single ? stderr : stdout, "%s[%lld more bytes of output "
		    "were dropped]\n", single ? "latchkey: " : "",
		    (long long)dropped);
	if (single && !t->ok)
		cli_warn("%s: %s", t->inst.id, desc);
	fflush(stdout);
	free(out);
}

/* A JSON object of one result, Output decoded. */
static json_t *
run_result_json(struct run_target *t)
{
	json_t *o, *res = t->result;
	char *out;
	size_t len;
	const char *ec = cli_jstr(res, "ErrorCode");

	o = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:I}",
	    "InstanceId", t->inst.id, "InstanceName", t->inst.name,
	    "InvocationStatus", cli_jstr(res, "InvocationStatus") ?
	    cli_jstr(res, "InvocationStatus") : "",
	    "ExitCode", json_object_get(res, "ExitCode") ?
	    json_object_get(res, "ExitCode") : json_null(),
	    "ErrorCode", ec ? ec : "",
	    "ErrorInfo", cli_jstr(res, "ErrorInfo") ?
	    cli_jstr(res, "ErrorInfo") : "",
	    "Dropped", cli_jint(res, "Dropped", 0));
	if (o == NULL)
		return NULL;
	if ((out = run_output(res, &len)) != NULL) {
		json_t *s = json_stringn(out, len);

		/* Output that is not UTF-8 text stays Base64. */
		if (s != NULL)
			json_object_set_new(o, "Output", s);
		else
			json_object_set_new(o, "OutputBase64",
			    json_string(cli_jstr(res, "Output")));
		free(out);
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* run                                                                 */

static void
run_progress(struct run *rn, int final)
{
	char line[128];

	if (rn->n < 2)
		return;
	snprintf(line, sizeof(line), "%zu/%zu done, %zu succeeded, %zu "
	    "failed, %zu running", rn->ndone, rn->n, rn->nok,
	    rn->ndone - rn->nok, rn->n - rn->ndone);
	if (rn->tty) {
		fprintf(stderr, "\r\033[Klatchkey: %s%s", line, final ? "\n" :
		    "");
	} else if (strcmp(line, rn->last_progress) != 0)
		fprintf(stderr, "latchkey: %s\n", line);
	snprintf(rn->last_progress, sizeof(rn->last_progress), "%s", line);
}

/* Clears the progress line before printing on a terminal. */
static void
run_progress_clear(struct run *rn)
{
	if (rn->tty && rn->n >= 2 && rn->last_progress[0] != '\0')
		fputs("\r\033[K", stderr);
}

static void
run_finish_target(struct cli *c, struct run *rn, struct run_target *t,
    json_t *res)
{
	const char *st = cli_jstr(res, "InvocationStatus");

	cli_waiting_end();
	t->done = 1;
	t->ok = st != NULL && strcmp(st, "Success") == 0;
	t->result = json_incref(res);
	rn->ndone++;
	rn->nok += t->ok;
	if (c->output == CLI_OUT_TEXT) {
		run_progress_clear(rn);
		run_print_result(t, rn->n == 1);
	}
}

/* One poll of every invocation's results; finishes what is final. */
static int
run_poll(struct cli *c, struct run *rn)
{
	struct cli_req q;
	json_t *resp = NULL, *list, *res;
	const char *id;
	size_t b, i, k;
	int page, r;

	for (b = 0; b < rn->nbatches; b++) {
		for (page = 1; page <= RUN_PAGES_MAX; page++) {
			cli_req_init(&q);
			cli_req_add(&q, "InvokeId", rn->invoke_ids[b]);
			cli_req_add(&q, "ContentEncoding", "Base64");
			cli_req_addf(&q, "PageNumber", "%d", page);
			cli_req_addf(&q, "PageSize", "%d", CLI_PAGE_SIZE);
			r = cli_api_do(c, "DescribeInvocationResults", &q,
			    &resp);
			cli_req_free(&q);
			if (r != 0)
				return r;
			list = cli_jlist(json_object_get(resp, "Invocation"),
			    "InvocationResults", "InvocationResult");
			json_array_foreach(list, i, res) {
				if ((id = cli_jstr(res, "InstanceId")) == NULL)
					continue;
				for (k = 0; k < rn->n; k++) {
					struct run_target *t = &rn->t[k];

					if (t->done || t->batch != b ||
					    strcmp(t->inst.id, id) != 0)
						continue;
					if (cli_status_final(cli_jstr(res,
					    "InvocationStatus")))
						run_finish_target(c, rn, t,
						    res);
					else
						cli_safe(t->status,
						    sizeof(t->status),
						    cli_jstr(res,
						    "InvocationStatus") ?
						    cli_jstr(res,
						    "InvocationStatus") : "");
				}
			}
			json_decref(resp);
			resp = NULL;
			if (json_array_size(list) < CLI_PAGE_SIZE)
				break;
		}
	}
	return 0;
}

/* RunCommand for targets [from, to) as batch b. */
static int
run_send(struct cli *c, struct run *rn, size_t b, size_t from, size_t to,
    const char *b64, long long timeout, const char *user, const char *wd,
    const char *name)
{
	struct cli_req q;
	json_t *resp = NULL;
	char pname[32];
	size_t i;
	int r;

	cli_req_init(&q);
	cli_req_add(&q, "Type", "RunShellScript");
	cli_req_add(&q, "ContentEncoding", "Base64");
	cli_req_add(&q, "CommandContent", b64);
	cli_req_addf(&q, "Timeout", "%lld", timeout);
	if (user != NULL)
		cli_req_add(&q, "Username", user);
	if (wd != NULL)
		cli_req_add(&q, "WorkingDir", wd);
	if (name != NULL)
		cli_req_add(&q, "Name", name);
	for (i = from; i < to; i++) {
		snprintf(pname, sizeof(pname), "InstanceId.%zu", i - from + 1);
		cli_req_add(&q, pname, rn->t[i].inst.id);
		rn->t[i].batch = b;
	}
	r = cli_api_do(c, "RunCommand", &q, &resp);
	cli_req_free(&q);
	if (r != 0)
		return r;
	snprintf(rn->invoke_ids[b], sizeof(rn->invoke_ids[b]), "%s",
	    cli_jstr(resp, "InvokeId") ? cli_jstr(resp, "InvokeId") : "");
	json_decref(resp);
	cli_info(c, "invocation %s on %zu instance%s", rn->invoke_ids[b],
	    to - from, to - from == 1 ? "" : "s");
	return 0;
}

/* "instance is offline: <why>; <what>" for a Skipped result's ErrorInfo. */
static void
run_offline_info(const char *seen, const char *what, char *buf,
    size_t size)
{
	char why[160];

	cli_offline_why(seen, why, sizeof(why));
	snprintf(buf, size, "instance is offline: %s; %s (start latchkey-agent "
	    "on it)", why, what);
}

/* Marks a target failed without sending it anything. */
static void
run_skip(struct cli *c, struct run *rn, struct run_target *t, const char *code,
    const char *info)
{
	json_t *res = json_pack("{s:s, s:s, s:s, s:s}", "InstanceId",
	    t->inst.id, "InvocationStatus", "Skipped", "ErrorCode", code,
	    "ErrorInfo", info);

	run_finish_target(c, rn, t, res);
	json_decref(res);
}

/* The script: the words after the options, or "-": standard input. */
static int
run_script(int argc, char **argv, char **b64p)
{
	char *buf = NULL;
	size_t len = 0, n;
	int i;

	*b64p = NULL;
	if ((buf = malloc(RUN_SCRIPT_MAX + 1)) == NULL)
		return CLI_EX_LOCAL;
	if (argc == 1 && strcmp(argv[0], "-") == 0) {
		while ((n = fread(buf + len, 1, RUN_SCRIPT_MAX + 1 - len,
		    stdin)) > 0)
			if ((len += n) > RUN_SCRIPT_MAX)
				break;
	} else
		for (i = 0; i < argc && len <= RUN_SCRIPT_MAX; i++)
			len += (size_t)snprintf(buf + len, RUN_SCRIPT_MAX + 1 -
			    len, "%s%s", i > 0 ? " " : "", argv[i]);
	if (len > RUN_SCRIPT_MAX || len == 0) {
		cli_warn(len == 0 ? "the script is empty" : "the script is "
		    "over %d bytes", RUN_SCRIPT_MAX);
		free(buf);
		return CLI_EX_USAGE;
	}
	*b64p = lk_b64_encode((unsigned char *)buf, len, 1);
	free(buf);
	return *b64p != NULL ? 0 : CLI_EX_LOCAL;
}

/* The targets: --instance ones resolved, or every online one (--all). */
static int
run_targets(struct cli *c, struct run *rn, char **names, size_t nnames,
    int all)
{
	json_t *list = NULL, *v;
	size_t i;
	int r;

	if (all) {
		if ((r = cli_inst_list(c, NULL, "Running", &list)) != 0)
			return r;
		nnames = json_array_size(list);
		if (nnames == 0) {
			cli_warn("no instance has an online agent");
			json_decref(list);
			return CLI_EX_FAIL;
		}
	}
	if ((rn->t = calloc(nnames, sizeof(*rn->t))) == NULL) {
		json_decref(list);
		return CLI_EX_LOCAL;
	}
	for (i = 0; i < nnames; i++) {
		if (all) {
			v = json_array_get(list, i);
			r = cli_inst_from(v, NULL, &rn->t[i].inst);
		} else
			r = cli_inst_resolve(c, names[i], &rn->t[i].inst);
		if (r != 0) {
			json_decref(list);
			return r;
		}
		rn->n++;
	}
	json_decref(list);
	return 0;
}

static void
run_free(struct run *rn)
{
	size_t i;

	for (i = 0; i < rn->n; i++) {
		cli_inst_free(&rn->t[i].inst);
		json_decref(rn->t[i].result);
	}
	free(rn->t);
	free(rn->invoke_ids);
}

/* Sends every batch of online targets; offline ones are skipped. */
static int
run_start(struct cli *c, struct run *rn, const char *b64, long long timeout,
    const char *user, const char *wd, const char *name)
{
	size_t i, from, b = 0;
	int r;

	if ((rn->invoke_ids = calloc(rn->n / CLI_INSTANCES_MAX + 1,
	    sizeof(*rn->invoke_ids))) == NULL)
		return CLI_EX_LOCAL;
	/* Offline agents would only make the invocation wait. */
	for (i = 0; i < rn->n; i++)
		if (strcmp(rn->t[i].inst.status, "Stopped") == 0) {
			char seen[64], info[320];
			int online;

			if ((r = cli_inst_online(c, rn->t[i].inst.id, &online,
			    seen, sizeof(seen))) != 0)
				return r;
			run_offline_info(seen, "nothing was sent", info,
			    sizeof(info));
			run_skip(c, rn, &rn->t[i], "ClientNotRunning", info);
		}
	for (from = 0; from < rn->n; ) {
		size_t to, k;

		while (from < rn->n && rn->t[from].done)
			from++;
		if (from >= rn->n)
			break;
		/* Up to 100 not-done targets, contiguous runs only. */
		for (to = from, k = 0; to < rn->n && !rn->t[to].done &&
		    k < CLI_INSTANCES_MAX; to++, k++)
			;
		if ((r = run_send(c, rn, b, from, to, b64, timeout, user, wd,
		    name)) != 0)
			return r;
		rn->nbatches = ++b;
		from = to;
	}
	return 0;
}

/*
 * The agents' state (DescribeCloudAssistantStatus, up to 100 at a time)
 * for the targets still waiting; a task still Pending on an instance
 * whose agent is offline will not start: it is stopped and counted
 * failed at once, said in latchkey's words, instead of waiting for the
 * server to give up on it after the command's timeout.
 */
static int
run_check_agents(struct cli *c, struct run *rn)
{
	struct cli_req q;
	json_t *resp = NULL, *st;
	const char *id, *v;
	char seen[64], info[320], pname[32];
	size_t i, k, from = 0, n;
	int r;

	while (from < rn->n) {
		cli_req_init(&q);
		for (i = from, n = 0; i < rn->n && n < CLI_INSTANCES_MAX; i++)
			if (!rn->t[i].done) {
				snprintf(pname, sizeof(pname), "InstanceId.%zu",
				    ++n);
				cli_req_add(&q, pname, rn->t[i].inst.id);
			}
		from = i;
		r = n > 0 ? cli_api_do(c, "DescribeCloudAssistantStatus", &q,
		    &resp) : 0;
		cli_req_free(&q);
		if (r != 0)
			return r;
		json_array_foreach(cli_jlist(resp,
		    "InstanceCloudAssistantStatusSet",
		    "InstanceCloudAssistantStatus"), i, st) {
			if ((id = cli_jstr(st, "InstanceId")) == NULL ||
			    (v = cli_jstr(st, "CloudAssistantStatus")) == NULL)
				continue;
			for (k = 0; k < rn->n; k++) {
				struct run_target *t = &rn->t[k];

				if (t->done || strcmp(t->inst.id, id) != 0)
					continue;
				t->agent = strcmp(v, "true") == 0 ? "online" :
				    "offline";
				if (strcmp(t->agent, "offline") != 0 ||
				    strcmp(t->status, "Running") == 0 ||
				    strcmp(t->status, "Stopping") == 0)
					continue;
				cli_safe(seen, sizeof(seen), cli_jstr(st,
				    "LastHeartbeatTime") ? cli_jstr(st,
				    "LastHeartbeatTime") : "");
				cli_invoke_stop(c, rn->invoke_ids[t->batch], id);
				run_offline_info(seen, "the task was stopped "
				    "before it started", info, sizeof(info));
				run_skip(c, rn, t, "ClientNotRunning", info);
			}
		}
		json_decref(resp);
		resp = NULL;
	}
	return 0;
}

/* Polls until every target is done, the deadline, or a signal. */
static int
run_wait(struct cli *c, struct run *rn, long long timeout)
{
	struct timespec t0, t;
	long ms;
	size_t i, b;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((r = run_poll(c, rn)) != 0)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (long)((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms >= rn->next_check && rn->ndone < rn->n) {
			rn->next_check = ms + CLI_ONLINE_CHECK_MS;
			if ((r = run_check_agents(c, rn)) != 0)
				return r;
		}
		run_progress(rn, rn->ndone == rn->n);
		if (rn->ndone == rn->n)
			return 0;
		if (rn->n == 1)
			cli_waiting(c, "waiting for %s (%s%s%s)", rn->t[0].inst.id,
			    rn->t[0].status[0] ? rn->t[0].status :
			    "not listed yet", rn->t[0].agent ? ", agent " : "",
			    rn->t[0].agent ? rn->t[0].agent : "");
		if (ms > (timeout + RUN_GRACE) * 1000 || cli_sleep_ms(ms >
		    RUN_SLOW_AFTER_MS ? 1000 : CLI_POLL_MS) != 0)
			break;
	}
	cli_waiting_end();
	run_progress_clear(rn);
	for (b = 0; b < rn->nbatches; b++)
		cli_invoke_stop(c, rn->invoke_ids[b], NULL);
	for (i = 0; i < rn->n; i++)
		if (!rn->t[i].done)
			run_skip(c, rn, &rn->t[i], cli_interrupted ?
			    "Interrupted" : "Timeout", cli_interrupted ?
			    "interrupted; the invocation was stopped" :
			    "no result in time; the invocation was stopped");
	run_progress(rn, 1);
	return cli_interrupted ? 128 + (int)cli_interrupted : 0;
}

static void
run_print_json(struct run *rn)
{
	json_t *o = json_object(), *ids = json_array(), *res = json_array();
	size_t i;

	for (i = 0; i < rn->nbatches; i++)
		json_array_append_new(ids, json_string(rn->invoke_ids[i]));
	for (i = 0; i < rn->n; i++)
		json_array_append_new(res, run_result_json(&rn->t[i]));
	json_object_set_new(o, "InvokeIds", ids);
	json_object_set_new(o, "Succeeded", json_integer((json_int_t)rn->nok));
	json_object_set_new(o, "Failed",
	    json_integer((json_int_t)(rn->n - rn->nok)));
	json_object_set_new(o, "Results", res);
	cli_json_print(o);
	json_decref(o);
}

int
cli_run_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "user", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct run rn;
	char **names = NULL, *b64 = NULL;
	const char *user = NULL, *wd = NULL, *name = NULL;
	size_t nnames = 0;
	long long timeout = RUN_TIMEOUT_DEFAULT;
	int ch, k, r, all = 0;

	memset(&rn, 0, sizeof(rn));
	if ((names = calloc((size_t)argc, sizeof(char *))) == NULL)
		return CLI_EX_LOCAL;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhi:al:t:w:n:", opts,
	    NULL)) != -1) {
		if ((k = cli_common_opt(c, "run", ch, &r)) < 0)
			goto out;
		if (k > 0)
			continue;
		switch (ch) {
		case 'i': names[nnames++] = optarg; break;
		case 'a': all = 1; break;
		case 'l': user = optarg; break;
		case 'w': wd = optarg; break;
		case 'n': name = optarg; break;
		case 't':
			if (lk_parse_ll(optarg, 10, RUN_TIMEOUT_MAX,
			    &timeout) != 0) {
				cli_warn("--timeout: 10 to %d seconds",
				    RUN_TIMEOUT_MAX);
				r = CLI_EX_USAGE;
				goto out;
			}
			break;
		}
	}
	r = CLI_EX_USAGE;
	if (optind >= argc || (all == 0) == (nnames == 0)) {
		if (optind < argc)
			cli_warn("give --instance (one or more) or --all");
		cli_usage_of("run", 1);
		goto out;
	}
	if ((r = run_script(argc - optind, argv + optind, &b64)) != 0 ||
	    (r = cli_config_load(c)) != 0 ||
	    (r = run_targets(c, &rn, names, nnames, all)) != 0)
		goto out;
	rn.tty = isatty(STDERR_FILENO);
	rn.next_check = CLI_ONLINE_CHECK_MS / 2;
	if ((r = run_start(c, &rn, b64, timeout, user, wd, name)) != 0 ||
	    (r = run_wait(c, &rn, timeout)) != 0)
		goto out;
	if (c->output == CLI_OUT_JSON)
		run_print_json(&rn);
	r = rn.nok == rn.n ? CLI_EX_OK : CLI_EX_FAIL;
 out:
	if (r != 0 && r != CLI_EX_FAIL && c->output == CLI_OUT_JSON &&
	    rn.ndone > 0)
		run_print_json(&rn);
	run_free(&rn);
	free(names);
	free(b64);
	return r;
}

/* ------------------------------------------------------------------ */
/* invocations                                                         */

/* Every InvocationResult of one invocation (paged), into *listp. */
static int
inv_results(struct cli *c, const char *id, json_t **listp)
{
	struct cli_req q;
	json_t *resp = NULL, *list = json_array(), *page, *v;
	size_t i;
	int pg, r = 0;

	for (pg = 1; list != NULL && pg <= RUN_PAGES_MAX; pg++) {
		cli_req_init(&q);
		cli_req_add(&q, "InvokeId", id);
		cli_req_add(&q, "ContentEncoding", "Base64");
		cli_req_addf(&q, "PageNumber", "%d", pg);
		cli_req_addf(&q, "PageSize", "%d", CLI_PAGE_SIZE);
		r = cli_api_do(c, "DescribeInvocationResults", &q, &resp);
		cli_req_free(&q);
		if (r != 0)
			break;
		page = cli_jlist(json_object_get(resp, "Invocation"),
		    "InvocationResults", "InvocationResult");
		json_array_foreach(page, i, v)
			json_array_append(list, v);
		json_decref(resp);
		if (json_array_size(page) < CLI_PAGE_SIZE)
			break;
	}
	if (r != 0 || list == NULL) {
		json_decref(list);
		return r != 0 ? r : CLI_EX_LOCAL;
	}
	*listp = list;
	return 0;
}

static int
inv_show(struct cli *c, const char *id)
{
	struct run_target t;
	json_t *list = NULL, *res, *out;
	size_t i;
	int r, ok = 1;

	if ((r = inv_results(c, id, &list)) != 0)
		return r;
	if (json_array_size(list) == 0) {
		cli_warn("invocation %s has no results", id);
		json_decref(list);
		return CLI_EX_API;
	}
	out = json_array();
	json_array_foreach(list, i, res) {
		memset(&t, 0, sizeof(t));
		t.inst.id = (char *)(uintptr_t)(cli_jstr(res, "InstanceId") ?
		    cli_jstr(res, "InstanceId") : "?");
		t.inst.name = (char *)(uintptr_t)"";
		t.result = res;
		t.ok = cli_jstr(res, "InvocationStatus") != NULL &&
		    strcmp(cli_jstr(res, "InvocationStatus"), "Success") == 0;
		ok &= t.ok;
		if (c->output == CLI_OUT_JSON)
			json_array_append_new(out, run_result_json(&t));
		else
			run_print_result(&t, 0);
	}
	if (c->output == CLI_OUT_JSON) {
		res = json_pack("{s:s, s:o}", "InvokeId", id, "Results", out);
		cli_json_print(res);
		json_decref(res);
	} else
		json_decref(out);
	json_decref(list);
	return 0;
}

static void
inv_print_list(json_t *list)
{
	json_t *v;
	size_t i;
	char id[48], st[16], name[40], created[24];

	printf("%-36s %-14s %-34s %-20s %s\n", "INVOKE ID", "STATUS",
	    "COMMAND", "CREATED", "INSTANCES");
	json_array_foreach(list, i, v) {
		json_t *insts = cli_jlist(v, "InvokeInstances", "InvokeInstance");
		const char *s;

		cli_safe(id, sizeof(id), (s = cli_jstr(v, "InvokeId")) ? s : "-");
		cli_safe(st, sizeof(st), (s = cli_jstr(v, "InvocationStatus")) ?
		    s : (s = cli_jstr(v, "InvokeStatus")) ? s : "-");
		cli_safe(name, sizeof(name), (s = cli_jstr(v, "CommandName")) ?
		    s : "-");
		cli_safe(created, sizeof(created),
		    (s = cli_jstr(v, "CreationTime")) ? s : "-");
		if (json_array_size(insts) == 1)
			printf("%-36s %-14s %-34s %-20s %s\n", id, st, name,
			    created, cli_jstr(json_array_get(insts, 0),
			    "InstanceId") ? cli_jstr(json_array_get(insts, 0),
			    "InstanceId") : "-");
		else
			printf("%-36s %-14s %-34s %-20s %zu\n", id, st, name,
			    created, json_array_size(insts));
	}
}

int
cli_invocations_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, 'i' },
		{ "status", required_argument, NULL, 's' },
		{ "max", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_req q;
	struct cli_inst inst;
	const char *instance = NULL, *status = NULL;
	json_t *resp = NULL, *list, *o;
	long long max = INV_LIST_DEFAULT;
	int ch, k, r;

	memset(&inst, 0, sizeof(inst));
	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhi:s:m:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "invocations", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'i': instance = optarg; break;
		case 's': status = optarg; break;
		case 'm':
			if (lk_parse_ll(optarg, 1, CLI_PAGE_SIZE, &max) != 0) {
				cli_warn("--max: 1 to %d", CLI_PAGE_SIZE);
				return CLI_EX_USAGE;
			}
			break;
		}
	}
	if (argc - optind > 1) {
		cli_usage_of("invocations", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0)
		return r;
	if (optind < argc)
		return inv_show(c, argv[optind]);
	if (instance != NULL && (r = cli_inst_resolve(c, instance, &inst)) != 0)
		return r;
	cli_req_init(&q);
	cli_req_addf(&q, "PageSize", "%lld", max);
	if (inst.id != NULL)
		cli_req_add(&q, "InstanceId", inst.id);
	if (status != NULL)
		cli_req_add(&q, "InvokeStatus", status);
	r = cli_api_do(c, "DescribeInvocations", &q, &resp);
	cli_req_free(&q);
	cli_inst_free(&inst);
	if (r != 0)
		return r;
	list = cli_jlist(resp, "Invocations", "Invocation");
	if (c->output == CLI_OUT_JSON) {
		o = json_pack("{s:I, s:O}", "TotalCount", cli_jint(resp,
		    "TotalCount", 0), "Invocations", list ? list : json_array());
		cli_json_print(o);
		json_decref(o);
	} else
		inv_print_list(list);
	json_decref(resp);
	return 0;
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

/* Every command of one provider (NULL: our own), appended to all. */
static int
cmd_collect(struct cli *c, const char *provider, const char *name,
    json_t *all)
{
	struct cli_req q;
	json_t *resp = NULL, *page, *v;
	size_t i;
	int pg, r = 0;

	for (pg = 1; pg <= RUN_PAGES_MAX; pg++) {
		cli_req_init(&q);
		if (provider != NULL)
			cli_req_add(&q, "Provider", provider);
		if (name != NULL)
			cli_req_add(&q, "Name", name);
		cli_req_add(&q, "ContentEncoding", "PlainText");
		cli_req_addf(&q, "PageNumber", "%d", pg);
		cli_req_addf(&q, "PageSize", "%d", CLI_PAGE_SIZE);
		r = cli_api_do(c, "DescribeCommands", &q, &resp);
		cli_req_free(&q);
		if (r != 0)
			return r;
		page = cli_jlist(resp, "Commands", "Command");
		json_array_foreach(page, i, v)
			json_array_append(all, v);
		json_decref(resp);
		if (json_array_size(page) < CLI_PAGE_SIZE)
			break;
	}
	return 0;
}

static void
cmd_print(json_t *list)
{
	json_t *v;
	size_t i;
	char id[48], name[40], type[20], prov[16], desc[60];

	printf("%-40s %-36s %-16s %-13s %s\n", "COMMAND ID", "NAME", "TYPE",
	    "PROVIDER", "DESCRIPTION");
	json_array_foreach(list, i, v) {
		const char *s;

		cli_safe(id, sizeof(id), (s = cli_jstr(v, "CommandId")) ? s : "-");
		cli_safe(name, sizeof(name), (s = cli_jstr(v, "Name")) ? s : "-");
		cli_safe(type, sizeof(type), (s = cli_jstr(v, "Type")) ? s : "-");
		cli_safe(prov, sizeof(prov), (s = cli_jstr(v, "Provider")) &&
		    *s ? s : "-");
		cli_safe(desc, sizeof(desc), (s = cli_jstr(v, "Description")) ?
		    s : "");
		printf("%-40s %-36s %-16s %-13s %s\n", id, name, type, prov,
		    desc);
	}
}

int
cli_commands_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "public", no_argument, NULL, 'P' },
		{ "private", no_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	const char *name = NULL;
	json_t *all, *o;
	int ch, k, r, pub = 1, priv = 1;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "vhn:", opts, NULL)) != -1) {
		if ((k = cli_common_opt(c, "commands", ch, &r)) < 0)
			return r;
		if (k > 0)
			continue;
		switch (ch) {
		case 'P': priv = 0; break;
		case 'p': pub = 0; break;
		case 'n': name = optarg; break;
		}
	}
	if (optind != argc || (!pub && !priv)) {
		cli_usage_of("commands", 1);
		return CLI_EX_USAGE;
	}
	if ((r = cli_config_load(c)) != 0)
		return r;
	if ((all = json_array()) == NULL)
		return CLI_EX_LOCAL;
	if ((priv && (r = cmd_collect(c, NULL, name, all)) != 0) ||
	    (pub && (r = cmd_collect(c, "AlibabaCloud", name, all)) != 0)) {
		json_decref(all);
		return r;
	}
	if (c->output == CLI_OUT_JSON) {
		o = json_pack("{s:I, s:O}", "TotalCount",
		    (json_int_t)json_array_size(all), "Commands", all);
		cli_json_print(o);
		json_decref(o);
	} else
		cmd_print(all);
	json_decref(all);
	return 0;
}
