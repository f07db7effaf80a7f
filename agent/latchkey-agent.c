/*
 * latchkey-agent: the agent of a managed server (see latchkey-agent(8),
 * docs/agent.md and docs/agent-protocol.md).
 *
 *	latchkey-agent register --server URL [--server URL ...]
 *	    --activation-id ID --activation-code CODE [--state FILE]
 *	    [--cacert FILE]
 *	latchkey-agent run [--state FILE] [--log FILE] [--foreground]
 *	latchkey-agent status [--state FILE]
 *	latchkey-agent exec-local [--user U] [--timeout S] [--dir D] -- SCRIPT
 *
 * This file holds the command line and the short commands; the daemon is
 * agent_run.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "err.h"
#include "fsutil.h"
#include "log.h"
#include "nethint.h"
#include "util.h"

#include "agent.h"

#define AGENT_ACTIVATION_MAX	256	/* activation id or code */
#define AGENT_REGISTER_MS	30000L

struct agent_opts {
	const char	*servers[AGENT_SERVERS_MAX];
	size_t		 nservers;
	int		 too_many_servers;
	const char	*act_id;
	const char	*act_code;
	const char	*state;
	const char	*cacert;
	const char	*log;
	const char	*user;
	const char	*dir;
	const char	*type;
	const char	*timeout;
	const char	*stop_after;
	const char	*session_ports;
	const char	*hostkey_check;
	const char	*script;
	int		 foreground;
	int		 debug;
	int		 help;
	const char	*machine_id;	/* register: ID, "none" or "auto" */
};

/* Which options a command takes. */
#define O_SERVER	0x0001
#define O_ACT		0x0002
#define O_STATE		0x0004
#define O_CACERT	0x0008
#define O_LOG		0x0010
#define O_FG		0x0020
#define O_EXEC		0x0040
#define O_SESS		0x0080

static void
agent_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s register --server URL [--server URL ...]\n"
	    "           --activation-id ID --activation-code CODE\n"
	    "           [--state FILE] [--cacert FILE] [--machine-id ID|none|auto]\n"
	    "       %s run [--state FILE] [--log FILE] [--foreground] "
	    "[--debug]\n"
	    "           [--session-ports LIST|none] [--hostkey-check SECONDS]\n"
	    "       %s status [--state FILE]\n"
	    "       %s -h | --help | -V | --version\n"
	    "\n"
	    "  register   register this server with latchkeyd and store its\n"
	    "             identity in the state file (default %s); up to %d\n"
	    "             --server URLs, used in turn when one fails; the\n"
	    "             machine id (default auto: /etc/machine-id) makes a\n"
	    "             registration again replace this machine's instance\n"
	    "  run        the daemon: long-poll for tasks, run them, report\n"
	    "             their results; logs to --log (default %s);\n"
	    "             sessions may reach the local ports of\n"
	    "             --session-ports (comma-separated, default 22);\n"
	    "             sshd's host keys are checked every --hostkey-check\n"
	    "             seconds (default %d)\n"
	    "  status     print the instance id and server of the state file\n"
	    "\n"
	    "Diagnostics: %s exec-local [--user U] [--timeout S] [--dir D]\n"
	    "           [--type T] [--stop-after MS] [--] SCRIPT\n"
	    "  runs SCRIPT here as a task would run and prints its report.\n",
	    AGENT_PROGNAME, AGENT_PROGNAME, AGENT_PROGNAME, AGENT_PROGNAME,
	    AGENT_STATE_FILE, AGENT_SERVERS_MAX, AGENT_LOG_FILE,
	    AGENT_HOSTKEY_CHECK, AGENT_PROGNAME);
}

/*
 * Matches argv[*ip] against the option name, as "--name VALUE" or
 * "--name=VALUE". Returns 1 and sets *valp, 0 when it is another option,
 * -1 when the value is missing.
 */
static int
agent_optval(int argc, char **argv, int *ip, const char *name,
    const char **valp)
{
	const char *a = argv[*ip];
	size_t len = strlen(name);

	if (strcmp(a, name) == 0) {
		if (*ip + 1 >= argc)
			return -1;
		*valp = argv[++*ip];
		return 1;
	}
	if (strncmp(a, name, len) == 0 && a[len] == '=') {
		*valp = a + len + 1;
		return 1;
	}
	return 0;
}

static const struct {
	const char	*name;
	int		 allowed;
	size_t		 off;
} agent_valopts[] = {
	{ "--activation-id", O_ACT, offsetof(struct agent_opts, act_id) },
	{ "--activation-code", O_ACT, offsetof(struct agent_opts, act_code) },
	{ "--machine-id", O_ACT, offsetof(struct agent_opts, machine_id) },
	{ "--state", O_STATE, offsetof(struct agent_opts, state) },
	{ "--cacert", O_CACERT, offsetof(struct agent_opts, cacert) },
	{ "--log", O_LOG, offsetof(struct agent_opts, log) },
	{ "--user", O_EXEC, offsetof(struct agent_opts, user) },
	{ "--dir", O_EXEC, offsetof(struct agent_opts, dir) },
	{ "--type", O_EXEC, offsetof(struct agent_opts, type) },
	{ "--timeout", O_EXEC, offsetof(struct agent_opts, timeout) },
	{ "--stop-after", O_EXEC, offsetof(struct agent_opts, stop_after) },
	{ "--session-ports", O_SESS, offsetof(struct agent_opts,
	    session_ports) },
	{ "--hostkey-check", O_SESS, offsetof(struct agent_opts,
	    hostkey_check) },
};

/* One option (or the script of exec-local); returns 0 or -1. */
static int
agent_parse_one(int argc, char **argv, int *ip, int allowed,
    struct agent_opts *o)
{
	const char *a = argv[*ip], *v;
	size_t i;
	int m;

	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		o->help = 1;
		return 0;
	}
	if ((allowed & O_FG) && (strcmp(a, "--foreground") == 0 ||
	    strcmp(a, "-f") == 0)) {
		o->foreground = 1;
		return 0;
	}
	if ((allowed & O_FG) && (strcmp(a, "--debug") == 0 ||
	    strcmp(a, "-d") == 0)) {
		o->debug = 1;
		return 0;
	}
	if ((allowed & O_SERVER) && (m = agent_optval(argc, argv, ip,
	    "--server", &v)) != 0) {
		if (m == -1)
			goto missing;
		if (o->nservers == AGENT_SERVERS_MAX)
			o->too_many_servers = 1;
		else
			o->servers[o->nservers++] = v;
		return 0;
	}
	if ((allowed & O_EXEC) && o->script == NULL &&
	    (strcmp(a, "--") == 0 || a[0] != '-')) {
		if (strcmp(a, "--") == 0 && ++*ip >= argc)
			goto missing;
		o->script = argv[*ip];
		return 0;
	}
	for (i = 0; i < sizeof(agent_valopts) / sizeof(agent_valopts[0]);
	    i++) {
		if (!(allowed & agent_valopts[i].allowed))
			continue;
		if ((m = agent_optval(argc, argv, ip, agent_valopts[i].name,
		    &v)) == -1)
			goto missing;
		if (m == 1) {
			*(const char **)(void *)((char *)o +
			    agent_valopts[i].off) = v;
			return 0;
		}
	}
	log_warnx("unknown option or argument \"%.64s\" (see --help)", a);
	return -1;
 missing:
	log_warnx("option %s needs a value (see --help)", a);
	return -1;
}

static int
agent_parse(int argc, char **argv, int allowed, struct agent_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->state = AGENT_STATE_FILE;
	o->log = AGENT_LOG_FILE;
	for (i = 2; i < argc; i++)
		if (agent_parse_one(argc, argv, &i, allowed, o) != 0)
			return -1;
	return 0;
}

/* Activation ids and codes: printable ASCII, no blanks. */
static int
agent_token_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f ||
		    i >= AGENT_ACTIVATION_MAX)
			return 0;
	return i > 0;
}

/*
 * The state file's directory must be writable before the activation is
 * used up on the server.
 */
static int
agent_register_writable(const char *state)
{
	char buf[PATH_MAX];
	const char *dir;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", state) >= sizeof(buf)) {
		log_warnx("--state path too long");
		return -1;
	}
	dir = dirname(buf);
	if (lk_fs_mkdirs(dir, 0755) != 0 || access(dir, W_OK | X_OK) == -1) {
		log_warn("cannot write the state file's directory %s", dir);
		return -1;
	}
	return 0;
}

/* The --server URLs into st, checked and normalized; 0 or an exit status. */
static int
agent_register_servers(const struct agent_opts *o, struct agent_state *st)
{
	char why[512], url[AGENT_URL_MAX];
	size_t i, j;

	if (o->too_many_servers) {
		log_warnx("at most %d --server URLs", AGENT_SERVERS_MAX);
		return AGENT_EXIT_USAGE;
	}
	for (i = 0; i < o->nservers; i++) {
		/* The one rule for URLs a user types (latchkey configure's). */
		if (lk_url_check(o->servers[i], url, sizeof(url), why,
		    sizeof(why)) != 0) {
			log_warnx("--server: %s", why);
			return AGENT_EXIT_USAGE;
		}
		if (agent_url_normalize(o->servers[i], st->servers[i],
		    sizeof(st->servers[i]), why, sizeof(why)) != 0) {
			log_warnx("bad --server URL \"%.200s\": %s",
			    o->servers[i], why);
			return AGENT_EXIT_USAGE;
		}
		for (j = 0; j < i; j++)
			if (strcmp(st->servers[i], st->servers[j]) == 0) {
				log_warnx("--server %.200s is given twice",
				    st->servers[i]);
				return AGENT_EXIT_USAGE;
			}
	}
	st->nservers = o->nservers;
	memcpy(st->server, st->servers[0], sizeof(st->server));
	return 0;
}

static int
agent_register_check(const struct agent_opts *o, struct agent_state *st)
{
	int ex;

	if (o->nservers == 0 || o->act_id == NULL || o->act_code == NULL) {
		log_warnx("register needs --server, --activation-id and "
		    "--activation-code (see --help)");
		return AGENT_EXIT_USAGE;
	}
	if ((ex = agent_register_servers(o, st)) != 0)
		return ex;
	if (!agent_token_valid(o->act_id) || !agent_token_valid(o->act_code)) {
		log_warnx("the activation id and code must be 1-%d printable "
		    "characters without blanks", AGENT_ACTIVATION_MAX);
		return AGENT_EXIT_USAGE;
	}
	if (o->machine_id != NULL && strcmp(o->machine_id, "none") != 0 &&
	    strcmp(o->machine_id, "auto") != 0 &&
	    (strlen(o->machine_id) > AGENT_MACHINE_ID_MAX ||
	    strspn(o->machine_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789._:-") != strlen(o->machine_id) ||
	    *o->machine_id == '\0')) {
		log_warnx("--machine-id: 1-%d of A-Z a-z 0-9 . _ : -, or none "
		    "or auto", AGENT_MACHINE_ID_MAX);
		return AGENT_EXIT_USAGE;
	}
	if (agent_register_writable(o->state) != 0)
		return AGENT_EXIT_IO;
	if (o->cacert != NULL && ((size_t)snprintf(st->cacert,
	    sizeof(st->cacert), "%s", o->cacert) >= sizeof(st->cacert) ||
	    access(o->cacert, R_OK) == -1)) {
		log_warn("--cacert %.200s", o->cacert);
		return AGENT_EXIT_USAGE;
	}
	return 0;
}

/*
 * The machine id to register with: --machine-id ID as given, none with
 * "none", else (auto, the default) agent_machine_id()'s.
 */
static const char *
agent_register_mid(const struct agent_opts *o, char *buf, size_t len)
{
	const char *m = o->machine_id;

	buf[0] = '\0';
	if (m == NULL || strcmp(m, "auto") == 0)
		return agent_machine_id(buf, len);
	if (strcmp(m, "none") != 0)
		snprintf(buf, len, "%s", m);
	return buf;
}

/* Reads instance_id and credential from the register answer into st. */
static int
agent_register_answer(const struct agent_resp *resp, struct agent_state *st)
{
	json_t *o;
	const char *id, *cred;
	int ok;

	if ((o = agent_resp_json(resp)) == NULL)
		return -1;
	id = json_string_value(json_object_get(o, "instance_id"));
	cred = json_string_value(json_object_get(o, "credential"));
	ok = id != NULL && cred != NULL && agent_id_valid(id, AGENT_ID_MAX) &&
	    agent_cred_valid(cred);
	if (ok) {
		snprintf(st->instance_id, sizeof(st->instance_id), "%s", id);
		snprintf(st->credential, sizeof(st->credential), "%s", cred);
	}
	json_decref(o);
	return ok ? 0 : -1;
}

/*
 * An activation refused: what the server's "reason" means, in words that
 * say what to do (latchkey-agent(8), "Registration"). A server before
 * reasons sent none: the old advice.
 */
static void
agent_register_refused(const struct agent_resp *resp)
{
	static const struct {
		const char	*reason, *advice;
	} tab[] = {
		{ "wrong-id-or-code", "no activation has this id and code: "
		    "check --activation-id and --activation-code (copy them "
		    "again from latchkeyd activation create or "
		    "CreateActivation)" },
		{ "disabled", "the activation was disabled: ask for a new one "
		    "(latchkeyd activation create)" },
		{ "expired", "the activation has expired: ask for a new one "
		    "(latchkeyd activation create, or a longer --ttl)" },
		{ "used-up", "the activation has no registrations left (its "
		    "InstanceCount are used): ask for a new one, or deregister "
		    "unused instances first" },
		{ "address-not-allowed", "this host's address is outside the "
		    "activation's IpAddressRange: register from an allowed "
		    "address, or ask for an activation that allows it" },
	};
	const char *reason = NULL, *addr = NULL;
	char vis[64];
	json_t *o = agent_resp_json(resp);
	size_t i;

	if (o != NULL) {
		reason = json_string_value(json_object_get(o, "reason"));
		addr = json_string_value(json_object_get(o, "address"));
	}
	for (i = 0; reason != NULL && i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(tab[i].reason, reason) == 0)
			break;
	if (reason == NULL || i == sizeof(tab) / sizeof(tab[0]))
		log_warnx("activation refused by the server: check the "
		    "activation id and code, and that the activation has not "
		    "expired and has uses left");
	else if (addr != NULL && *addr != '\0')
		log_warnx("activation refused (%s; the server sees this host "
		    "as %s)", tab[i].advice, agent_vis_text(vis, sizeof(vis),
		    addr, strlen(addr)));
	else
		log_warnx("activation refused (%s)", tab[i].advice);
	json_decref(o);
}

/* Says why the server did not register us; returns the exit status. */
static int
agent_register_failed(int r, const struct agent_resp *resp,
    const char *server)
{
	char why[256];

	agent_resp_error(resp, why, sizeof(why));
	if (r != 0) {
		log_warnx("cannot reach the server %s: %s", server, why);
		return AGENT_EXIT_UNAVAILABLE;
	}
	if (resp->status == 403) {
		agent_register_refused(resp);
		return AGENT_EXIT_REFUSED;
	}
	log_warnx("registration failed: the server answered HTTP %ld: %s",
	    resp->status, why);
	return resp->status >= 500 ? AGENT_EXIT_UNAVAILABLE :
	    AGENT_EXIT_PROTOCOL;
}

/*
 * POST /agent/v1/register to the first URL that answers without a 5xx,
 * in the order given. Returns agent_http_post()'s value for the last one
 * tried, resp its answer.
 */
static int
agent_register_post(struct agent_http *h, const json_t *body,
    struct agent_resp *resp)
{
	char why[256];
	size_t i;
	int r;

	for (i = 0;; i++) {
		r = agent_http_post(h, "/agent/v1/register", body,
		    AGENT_REGISTER_MS, NULL, resp);
		if (!agent_resp_failover(r, resp) ||
		    i + 1 >= agent_http_nurls(h))
			return r;
		log_warnx("%s: %s%s; trying the next --server",
		    agent_http_url(h), r != 0 ? "" : "HTTP error: ",
		    agent_resp_error(resp, why, sizeof(why)));
		agent_resp_free(resp);
		(void)agent_http_failover(h);
	}
}

static int
agent_cmd_register(const struct agent_opts *o)
{
	struct agent_state st, old;
	struct agent_http *h = NULL;
	struct agent_resp resp = { 0 };
	json_t *body = NULL;
	char mid[AGENT_MACHINE_ID_MAX + 1];
	int ex, r;

	memset(&st, 0, sizeof(st));
	if ((ex = agent_register_check(o, &st)) != 0)
		return ex;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (body = agent_facts(NULL)) == NULL ||
	    json_object_set_new(body, "activation_id",
	    json_string(o->act_id)) != 0 ||
	    json_object_set_new(body, "activation_code",
	    json_string(o->act_code)) != 0 ||
	    (*agent_register_mid(o, mid, sizeof(mid)) != '\0' &&
	    json_object_set_new(body, "machine_id", json_string(mid)) != 0) ||
	    agent_http_new(&st, 0, &h) != 0)
		fatalx("out of memory");
	r = agent_register_post(h, body, &resp);
	if (r != 0 || resp.status != 200) {
		ex = agent_register_failed(r, &resp, agent_http_url(h));
		goto out;
	}
	if (agent_register_answer(&resp, &st) != 0) {
		log_warnx("the server's answer to register is not understood "
		    "(is %s a latchkeyd?)", agent_http_url(h));
		ex = AGENT_EXIT_PROTOCOL;
		goto out;
	}
	if (agent_state_load(o->state, &old) == 0)
		log_warnx("replacing the registration of instance %s in %s",
		    old.instance_id, o->state);
	explicit_bzero(&old, sizeof(old));
	if ((r = agent_state_save(o->state, &st)) != 0) {
		log_warnx("registered as %s, but cannot write the state file "
		    "%s: %s: %s", st.instance_id, o->state, lk_err(r),
		    strerror(errno));
		ex = AGENT_EXIT_IO;
		goto out;
	}
	printf("%s\n", st.instance_id);
	ex = AGENT_EXIT_OK;
 out:
	agent_resp_free(&resp);
	agent_http_free(h);
	json_decref(body);
	explicit_bzero(&st, sizeof(st));
	curl_global_cleanup();
	return ex;
}

static int
agent_cmd_status(const struct agent_opts *o)
{
	struct agent_state st;
	char spool[PATH_MAX];
	size_t n = 0, i;
	int ex;

	if ((ex = agent_state_open(o->state, &st)) != 0)
		return ex;
	if (agent_state_spooldir(o->state, spool, sizeof(spool)) == 0)
		agent_report_spool_count(spool, &n);
	printf("instance_id: %s\n", st.instance_id);
	for (i = 0; i < st.nservers; i++)
		printf("server: %s\n", st.servers[i]);
	printf("state_file: %s\n", o->state);
	printf("pending_reports: %zu\n", n);
	explicit_bzero(&st, sizeof(st));
	return AGENT_EXIT_OK;
}

struct agent_stopper {
	struct agent_ctl	*ctl;
	long			 ms;
};

static void *
agent_stopper_main(void *arg)
{
	struct agent_stopper *s = arg;
	struct timespec ts;

	ts.tv_sec = s->ms / 1000;
	ts.tv_nsec = (s->ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	agent_ctl_stop(s->ctl, AGENT_STOP_REQUEST);
	return NULL;
}

static int
agent_exec_opts(const struct agent_opts *o, struct agent_spec *spec,
    long long *stop_ms)
{
	long long v = 60;

	memset(spec, 0, sizeof(*spec));
	*stop_ms = 0;
	if (o->script == NULL) {
		log_warnx("exec-local needs a script (see --help)");
		return -1;
	}
	if ((o->timeout != NULL && lk_parse_ll(o->timeout, 1, 86400, &v) !=
	    0) || (o->stop_after != NULL && lk_parse_ll(o->stop_after, 0,
	    86400000, stop_ms) != 0)) {
		log_warnx("--timeout must be 1-86400 s, --stop-after 0-86400000 "
		    "ms");
		return -1;
	}
	snprintf(spec->task_id, sizeof(spec->task_id), "local");
	spec->timeout = (long)v;
	if ((spec->type = strdup(o->type != NULL ? o->type :
	    "RunShellScript")) == NULL ||
	    (spec->content = strdup(o->script)) == NULL ||
	    (spec->username = strdup(o->user != NULL ? o->user : "root")) ==
	    NULL ||
	    (spec->working_dir = strdup(o->dir != NULL ? o->dir : "")) == NULL)
		fatalx("out of memory");
	return 0;
}

/*
 * exec-local: runs one task here, exactly as the daemon would, and prints
 * its report (indented JSON, one key a line). A diagnostic and a test
 * hook; --stop-after MS asks for a stop after MS milliseconds.
 */
static int
agent_cmd_exec_local(const struct agent_opts *o)
{
	struct agent_spec spec;
	struct agent_ctl ctl;
	struct agent_result res;
	struct agent_stopper stopper;
	pthread_t th;
	long long stop_ms;
	char *text;

	if (agent_exec_opts(o, &spec, &stop_ms) != 0)
		return AGENT_EXIT_USAGE;
	if (agent_ctl_init(&ctl) != 0)
		fatal("eventfd");
	stopper.ctl = &ctl;
	stopper.ms = (long)stop_ms;
	if (o->stop_after != NULL &&
	    (pthread_create(&th, NULL, agent_stopper_main, &stopper) != 0 ||
	    pthread_detach(th) != 0))
		fatalx("cannot start a thread");
	agent_exec_run(&spec, &ctl, &res);
	if ((text = agent_result_json(&res, JSON_INDENT(2))) == NULL)
		fatalx("out of memory");
	printf("%s\n", text);
	free(text);
	agent_result_free(&res);
	agent_spec_free(&spec);
	/* ctl stays open: the stopper thread may still write to it. */
	return AGENT_EXIT_OK;
}

/* Makes sure descriptors 0-2 are open, so no pipe or socket gets them. */
static void
agent_sanitise_stdfd(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char	*name;
		int		 allowed;
		int		 (*fn)(const struct agent_opts *);
	} cmds[] = {
		{ "register", O_SERVER | O_ACT | O_STATE | O_CACERT,
		    agent_cmd_register },
		{ "status", O_STATE, agent_cmd_status },
		{ "exec-local", O_EXEC, agent_cmd_exec_local },
		{ "run", O_STATE | O_LOG | O_FG | O_SESS, NULL },
	};
	struct agent_opts o;
	long long check = AGENT_HOSTKEY_CHECK;
	size_t i;

	agent_sanitise_stdfd();
	log_init(AGENT_PROGNAME, LK_LOG_STDERR, LOG_DAEMON);
	if (argc < 2) {
		agent_usage(stderr);
		return AGENT_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		agent_usage(stdout);
		return AGENT_EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", AGENT_PROGNAME, AGENT_VERSION);
		return AGENT_EXIT_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (agent_parse(argc, argv, cmds[i].allowed, &o) != 0)
			return AGENT_EXIT_USAGE;
		if (o.help) {
			agent_usage(stdout);
			return AGENT_EXIT_OK;
		}
		if (cmds[i].fn != NULL)
			return cmds[i].fn(&o);
		if (o.session_ports != NULL &&
		    agent_sess_config(o.session_ports) != 0) {
			log_warnx("--session-ports: a comma-separated list of "
			    "up to 64 ports (1-65535), or none");
			return AGENT_EXIT_USAGE;
		}
		if (o.hostkey_check != NULL && lk_parse_ll(o.hostkey_check, 1,
		    86400, &check) != 0) {
			log_warnx("--hostkey-check: 1 to 86400 seconds");
			return AGENT_EXIT_USAGE;
		}
		return agent_run(o.state, o.log, o.foreground, o.debug,
		    (long)check);
	}
	log_warnx("unknown command \"%.64s\" (see --help)", argv[1]);
	return AGENT_EXIT_USAGE;
}
