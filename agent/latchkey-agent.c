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

#include "conf.h"
#include "err.h"
#include "fsutil.h"
#include "log.h"
#include "nethint.h"
#include "util.h"

#include "agent.h"
#include "cast.h"

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
	const char	*shell_users;
	const char	*record_max;
	int		 record_shells;
	int		 host_certs;	/* --host-certificates */
	const char	*hostkey_check;
	const char	*log_format;
	const char	*sshd_log;
	const char	*script;
	const char	*config;	/* --config FILE */
	const char	*config_read;	/* the file read, if one was */
	int		 servers_from_file;
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
#define O_CONF		0x0100

static void
agent_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s register --server URL [--server URL ...]\n"
	    "           --activation-id ID --activation-code CODE\n"
	    "           [--state FILE] [--cacert FILE] [--machine-id ID|none|auto]\n"
	    "       %s run [--state FILE] [--log FILE] [--foreground] "
	    "[--debug]\n"
	    "           [--log-format text|json]\n"
	    "           [--session-ports LIST|none] [--shell-users LIST|none]\n"
	    "           [--record-shells] [--record-max BYTES]\n"
	    "           [--hostkey-check SECONDS] [--host-certificates]\n"
	    "           [--sshd-log auto|journal|none|FILE]\n"
	    "       %s status [--state FILE]\n"
	    "       %s check-config [--config FILE] [options]\n"
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
	    "             shell sessions may run as the users of\n"
	    "             --shell-users (comma-separated, default none);\n"
	    "             with --record-shells, shell sessions are recorded\n"
	    "             (asciicast v2, at most --record-max bytes, default\n"
	    "             16 MiB) and sent to latchkeyd when they end;\n"
	    "             sshd's host keys are checked every --hostkey-check\n"
	    "             seconds (default %d); with --host-certificates,\n"
	    "             the host certificates latchkeyd's host CA signs\n"
	    "             are installed for sshd (HostCertificate);\n"
	    "             logins with pushed keys are\n"
	    "             read from --sshd-log (default auto) and reported;\n"
	    "             in the foreground, events go to stderr too, as\n"
	    "             key=value lines (--log-format text) or JSON\n"
	    "             objects (json)\n"
	    "  status     print the instance id and server of the state file\n"
	    "  check-config  check the configuration file (default %s)\n"
	    "             and the options given; exit 0 when all are good\n"
	    "\n"
	    "register, run and status read their options first from\n"
	    "--config FILE (default %s, if it exists): one \"key = value\"\n"
	    "a line, the keys being the long options without \"--\"; the\n"
	    "command line wins (see latchkeyd.conf(5)).\n"
	    "\n"
	    "Diagnostics: %s exec-local [--user U] [--timeout S] [--dir D]\n"
	    "           [--type T] [--stop-after MS] [--] SCRIPT\n"
	    "  runs SCRIPT here as a task would run and prints its report.\n",
	    AGENT_PROGNAME, AGENT_PROGNAME, AGENT_PROGNAME, AGENT_PROGNAME,
	    AGENT_PROGNAME, AGENT_STATE_FILE, AGENT_SERVERS_MAX,
	    AGENT_LOG_FILE, AGENT_HOSTKEY_CHECK, AGENT_CONF_FILE,
	    AGENT_CONF_FILE, AGENT_PROGNAME);
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

/* What an option holds: a string, a yes/no flag, or one more server. */
#define AO_VAL		0
#define AO_FLAG		1
#define AO_SERVER	2

/*
 * Every long option: the commands that take it, its kind and its place
 * in struct agent_opts. The configuration file's keys are these names
 * without "--" (agent_conf_set), so this table is the one list of both.
 */
static const struct agent_optdef {
	const char	*name;
	int		 allowed;
	int		 kind;
	size_t		 off;
} agent_optdefs[] = {
	{ "--server", O_SERVER, AO_SERVER, 0 },
	{ "--activation-id", O_ACT, AO_VAL,
	    offsetof(struct agent_opts, act_id) },
	{ "--activation-code", O_ACT, AO_VAL,
	    offsetof(struct agent_opts, act_code) },
	{ "--machine-id", O_ACT, AO_VAL,
	    offsetof(struct agent_opts, machine_id) },
	{ "--state", O_STATE, AO_VAL, offsetof(struct agent_opts, state) },
	{ "--cacert", O_CACERT, AO_VAL, offsetof(struct agent_opts, cacert) },
	{ "--log", O_LOG, AO_VAL, offsetof(struct agent_opts, log) },
	{ "--foreground", O_FG, AO_FLAG,
	    offsetof(struct agent_opts, foreground) },
	{ "--debug", O_FG, AO_FLAG, offsetof(struct agent_opts, debug) },
	{ "--log-format", O_FG, AO_VAL, offsetof(struct agent_opts,
	    log_format) },
	{ "--session-ports", O_SESS, AO_VAL, offsetof(struct agent_opts,
	    session_ports) },
	{ "--shell-users", O_SESS, AO_VAL, offsetof(struct agent_opts,
	    shell_users) },
	{ "--record-shells", O_SESS, AO_FLAG, offsetof(struct agent_opts,
	    record_shells) },
	{ "--record-max", O_SESS, AO_VAL, offsetof(struct agent_opts,
	    record_max) },
	{ "--hostkey-check", O_SESS, AO_VAL, offsetof(struct agent_opts,
	    hostkey_check) },
	{ "--host-certificates", O_SESS, AO_FLAG, offsetof(struct agent_opts,
	    host_certs) },
	{ "--sshd-log", O_SESS, AO_VAL, offsetof(struct agent_opts,
	    sshd_log) },
	{ "--config", O_CONF, AO_VAL, offsetof(struct agent_opts, config) },
	{ "--user", O_EXEC, AO_VAL, offsetof(struct agent_opts, user) },
	{ "--dir", O_EXEC, AO_VAL, offsetof(struct agent_opts, dir) },
	{ "--type", O_EXEC, AO_VAL, offsetof(struct agent_opts, type) },
	{ "--timeout", O_EXEC, AO_VAL, offsetof(struct agent_opts, timeout) },
	{ "--stop-after", O_EXEC, AO_VAL, offsetof(struct agent_opts,
	    stop_after) },
};

static void
agent_opt_set(struct agent_opts *o, const struct agent_optdef *d,
    const char *v)
{
	if (d->kind == AO_SERVER) {
		if (o->nservers == AGENT_SERVERS_MAX)
			o->too_many_servers = 1;
		else
			o->servers[o->nservers++] = v;
	} else if (d->kind == AO_FLAG)
		*(int *)(void *)((char *)o + d->off) = 1;
	else
		*(const char **)(void *)((char *)o + d->off) = v;
}

/* One option (or the script of exec-local); returns 0 or -1. */
static int
agent_parse_one(int argc, char **argv, int *ip, int allowed,
    struct agent_opts *o)
{
	const struct agent_optdef *d;
	const char *a = argv[*ip], *v;
	size_t i;
	int m;

	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		o->help = 1;
		return 0;
	}
	if ((allowed & O_FG) && (strcmp(a, "-f") == 0 || strcmp(a, "-d") ==
	    0)) {
		*(a[1] == 'f' ? &o->foreground : &o->debug) = 1;
		return 0;
	}
	if ((allowed & O_EXEC) && o->script == NULL &&
	    (strcmp(a, "--") == 0 || a[0] != '-')) {
		if (strcmp(a, "--") == 0 && ++*ip >= argc)
			goto missing;
		o->script = argv[*ip];
		return 0;
	}
	for (i = 0; i < sizeof(agent_optdefs) / sizeof(agent_optdefs[0]);
	    i++) {
		d = &agent_optdefs[i];
		if (!(allowed & d->allowed))
			continue;
		if (d->kind == AO_FLAG) {
			if (strcmp(a, d->name) != 0)
				continue;
			agent_opt_set(o, d, NULL);
			return 0;
		}
		if ((m = agent_optval(argc, argv, ip, d->name, &v)) == -1)
			goto missing;
		if (m == 0)
			continue;
		/* The command line's servers replace the file's. */
		if (d->kind == AO_SERVER && o->servers_from_file) {
			o->servers_from_file = 0;
			o->nservers = 0;
			o->too_many_servers = 0;
		}
		agent_opt_set(o, d, v);
		return 0;
	}
	log_warnx("unknown option or argument \"%.64s\" (see --help)", a);
	return -1;
 missing:
	log_warnx("option %s needs a value (see --help)", a);
	return -1;
}

/* The configuration file's buffer: its values are used until exit. */
static char *agent_conf_buf;

struct agent_conf_ctx {
	struct agent_opts	*o;
	int			 allowed;	/* the command's options */
};

static int agent_token_valid(const char *);

/* A value of the file checked as the command line's would be later. */
static int
agent_conf_check(const struct agent_optdef *d, const char *val, char *why,
    size_t whylen)
{
	char url[AGENT_URL_MAX], uwhy[512];
	long long v;
	int fmt;

	if (d->kind == AO_SERVER && lk_url_check(val, url, sizeof(url),
	    uwhy, sizeof(uwhy)) != 0)
		snprintf(why, whylen, "%s", uwhy);
	else if (d->allowed == O_ACT && !agent_token_valid(val))
		snprintf(why, whylen, "1-%d printable characters without "
		    "blanks", AGENT_ACTIVATION_MAX);
	else if (strcmp(d->name, "--log-format") == 0 &&
	    log_format_parse(val, &fmt) != 0)
		snprintf(why, whylen, "text or json");
	else if (strcmp(d->name, "--hostkey-check") == 0 &&
	    lk_parse_ll(val, 1, 86400, &v) != 0)
		snprintf(why, whylen, "1 to 86400 seconds");
	else if (strcmp(d->name, "--record-max") == 0 &&
	    lk_parse_ll(val, LK_CAST_MAX_MIN, LK_CAST_MAX_MAX, &v) != 0)
		snprintf(why, whylen, "%d to %d bytes", LK_CAST_MAX_MIN,
		    LK_CAST_MAX_MAX);
	else if (strcmp(d->name, "--session-ports") == 0 &&
	    agent_sess_config(val) != 0)
		snprintf(why, whylen, "a comma-separated list of up to 64 "
		    "ports (1-65535), or none");
	else if (strcmp(d->name, "--shell-users") == 0 &&
	    agent_sess_shell_users(val) != 0)
		snprintf(why, whylen, "user names, comma-separated, or none");
	else if (strcmp(d->name, "--sshd-log") == 0 &&
	    agent_login_config(val) != 0)
		snprintf(why, whylen, "auto, journal, none or an absolute path");
	else
		return 0;
	return -1;
}

/*
 * A setting of agent.conf: its key is a long option's name without
 * "--". Settings for another command than this one are checked and
 * ignored, so that one file serves register, run and status.
 */
static int
agent_conf_set(void *arg, const char *key, const char *val, size_t dup,
    char *why, size_t whylen)
{
	struct agent_conf_ctx *c = arg;
	const struct agent_optdef *d = NULL;
	size_t i;
	int b = 1;

	for (i = 0; i < sizeof(agent_optdefs) / sizeof(agent_optdefs[0]); i++)
		if (strcmp(agent_optdefs[i].name + 2, key) == 0)
			d = &agent_optdefs[i];
	if (d == NULL) {
		snprintf(why, whylen, "unknown key \"%s\" (the keys are "
		    "latchkey-agent's long options, see latchkeyd.conf(5))",
		    key);
		return -1;
	}
	if (d->allowed == O_CONF || d->allowed == O_EXEC) {
		snprintf(why, whylen, "%s: only on the command line", key);
		return -1;
	}
	if (dup != 0 && d->kind != AO_SERVER) {
		snprintf(why, whylen, "%s: set twice (first on line %zu)", key,
		    dup);
		return -1;
	}
	if (d->kind == AO_FLAG && (b = lk_conf_bool(val)) == -1) {
		snprintf(why, whylen, "%s: yes or no", key);
		return -1;
	}
	if (d->kind != AO_FLAG && agent_conf_check(d, val, why, whylen) != 0) {
		char tmp[LK_CONF_ERR_SIZE];

		snprintf(tmp, sizeof(tmp), "%s", why);
		snprintf(why, whylen, "%s: %s", key, tmp);
		return -1;
	}
	if (!(c->allowed & d->allowed) || b == 0)
		return 0;
	if (d->kind == AO_SERVER)
		c->o->servers_from_file = 1;
	agent_opt_set(c->o, d, val);
	return 0;
}

/*
 * Reads --config FILE (found on the command line first), or the default
 * file if it exists, into o. Returns 0 or -1 (said).
 */
static int
agent_conf_read(int argc, char **argv, int allowed, struct agent_opts *o)
{
	struct agent_conf_ctx c = { o, allowed };
	const char *path = NULL;
	char err[LK_CONF_ERR_SIZE];
	int i, r;

	for (i = 2; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			break;
		else if (agent_optval(argc, argv, &i, "--config", &path) == -1)
			break;
	o->config = path;
	r = lk_conf_load(path != NULL ? path : AGENT_CONF_FILE,
	    &agent_conf_buf, agent_conf_set, &c, err, sizeof(err));
	if (r == LK_ERR_NOT_FOUND && path == NULL)
		return 0;
	if (r != 0) {
		log_warnx("%s", err);
		return -1;
	}
	o->config_read = path != NULL ? path : AGENT_CONF_FILE;
	return 0;
}

static int
agent_parse(int argc, char **argv, int allowed, struct agent_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->state = AGENT_STATE_FILE;
	o->log = AGENT_LOG_FILE;
	if ((allowed & O_CONF) && agent_conf_read(argc, argv, allowed, o) != 0)
		return -1;
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

/*
 * check-config: the file (checked as it was read) and the command line's
 * values as run and register would check them.
 */
static int
agent_cmd_check_config(const struct agent_opts *o)
{
	char url[AGENT_URL_MAX], why[128];
	long long v;
	size_t i;
	int fmt;

	for (i = 0; i < o->nservers; i++)
		if (agent_url_normalize(o->servers[i], url, sizeof(url), why,
		    sizeof(why)) != 0) {
			log_warnx("server %.200s: %s", o->servers[i], why);
			return AGENT_EXIT_USAGE;
		}
	if (o->too_many_servers) {
		log_warnx("at most %d servers", AGENT_SERVERS_MAX);
		return AGENT_EXIT_USAGE;
	}
	if ((o->session_ports != NULL &&
	    agent_sess_config(o->session_ports) != 0) ||
	    (o->log_format != NULL && log_format_parse(o->log_format,
	    &fmt) != 0) ||
	    (o->hostkey_check != NULL && lk_parse_ll(o->hostkey_check, 1,
	    86400, &v) != 0)) {
		log_warnx("bad --session-ports, --hostkey-check or --log-format "
		    "(see --help)");
		return AGENT_EXIT_USAGE;
	}
	if (o->shell_users != NULL &&
	    agent_sess_shell_users(o->shell_users) != 0) {
		log_warnx("--shell-users: user names, comma-separated, or none");
		return AGENT_EXIT_USAGE;
	}
	if (agent_login_config(o->sshd_log) != 0) {
		log_warnx("--sshd-log: auto, journal, none or an absolute path");
		return AGENT_EXIT_USAGE;
	}
	if (o->config_read != NULL)
		printf("%s: ok\n", o->config_read);
	else
		printf("%s: absent (the defaults and the command line are "
		    "ok)\n", AGENT_CONF_FILE);
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
		{ "register", O_SERVER | O_ACT | O_STATE | O_CACERT | O_CONF,
		    agent_cmd_register },
		{ "status", O_STATE | O_CONF, agent_cmd_status },
		{ "exec-local", O_EXEC, agent_cmd_exec_local },
		{ "run", O_STATE | O_LOG | O_FG | O_SESS | O_CONF, NULL },
		{ "check-config", O_SERVER | O_ACT | O_STATE | O_CACERT |
		    O_LOG | O_FG | O_SESS | O_CONF, agent_cmd_check_config },
	};
	struct agent_opts o;
	long long check = AGENT_HOSTKEY_CHECK;
	size_t i;
	int fmt = LK_LOG_FMT_TEXT;

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
		if (o.shell_users != NULL &&
		    agent_sess_shell_users(o.shell_users) != 0) {
			log_warnx("--shell-users: a comma-separated list of "
			    "up to 64 user names, or none");
			return AGENT_EXIT_USAGE;
		}
		if (agent_rec_config(o.record_shells, o.record_max) != 0) {
			log_warnx("--record-max: %d to %d bytes",
			    LK_CAST_MAX_MIN, LK_CAST_MAX_MAX);
			return AGENT_EXIT_USAGE;
		}
		if (o.hostkey_check != NULL && lk_parse_ll(o.hostkey_check, 1,
		    86400, &check) != 0) {
			log_warnx("--hostkey-check: 1 to 86400 seconds");
			return AGENT_EXIT_USAGE;
		}
		if (o.log_format != NULL &&
		    log_format_parse(o.log_format, &fmt) != 0) {
			log_warnx("--log-format: text or json");
			return AGENT_EXIT_USAGE;
		}
		log_format(fmt);	/* stderr, in the foreground */
		if (agent_login_config(o.sshd_log) != 0) {
			log_warnx("--sshd-log: auto, journal, none or an "
			    "absolute path");
			return AGENT_EXIT_USAGE;
		}
		agent_hostcerts_enable(o.host_certs);
		return agent_run(o.state, o.log, o.foreground, o.debug,
		    (long)check);
	}
	log_warnx("unknown command \"%.64s\" (see --help)", argv[1]);
	return AGENT_EXIT_USAGE;
}
