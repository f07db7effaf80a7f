/*
 * latchkeyd: the latchkey control plane.
 *
 *	latchkeyd --db PATH --listen ADDR:PORT [--tls-cert F --tls-key F]
 *	latchkeyd --db PATH accesskey create|list|disable ...
 *	latchkeyd --db PATH activation create|list|disable|delete ...
 *	latchkeyd --db PATH instance list|rename|remove ...
 *	latchkeyd --db PATH operator create|list|disable ...
 *	latchkeyd --db PATH|URI migrate | backup DEST
 *	latchkeyd --db PATH|URI audit verify [--file F] | export --file F
 *
 * See latchkeyd(8).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agentd.h"
#include "api.h"
#include "audit.h"
#include "cast.h"
#include "fleet_admin.h"
#include "conn.h"
#include "conf.h"
#include "console.h"
#include "err.h"
#include "http.h"
#include "relay.h"
#include "store.h"
#include "hostca.h"
#include "latchkeyd.h"
#include "log.h"
#include "metrics.h"
#include "recording.h"
#include "work.h"

static struct lkd_env lkd_env_store;
/* --db as it may be logged: without a password. */
static char lkd_dbname[1024];
struct lkd_env *lkd = &lkd_env_store;

struct lkd_opts {
	const char	*db;
	const char	*listen;
	const char	*cert;
	const char	*key;
	const char	*master;
	const char	*metrics;	/* --metrics-listen, NULL: default */
	const char	*config;	/* --config FILE */
	const char	*config_read;	/* the file read, if one was */
	int		 check;		/* --check-config */
	int		 json;
	int		 plain_ok;	/* --allow-plain-http */
	int		 logflags;
	int		 logfmt;	/* --log-format, when serving */
	long long	 workers;
	long long	 io_threads;
	long long	 max_conns;	/* 0: from the descriptor limit */
	/* admin */
	const char	*actions;
	const char	*instances;
	const char	*users;
	const char	*description;
	long long	 count;
	long long	 ttl;
	const char	*instance_name;	/* activation create */
	const char	*ip_range;
	/* the audit trail (docs/audit.md) */
	const char	*file;		/* audit verify/export --file */
	const char	*audit_file;	/* --audit-file: the file sink */
	const char	*audit_syslog;	/* --audit-syslog[-socket]: its socket */
	const char	*audit_webhook;	/* --audit-webhook URL */
};

/*
 * Event loops: one per core, at most 4. libmicrohttpd 0.9.75 walks all of
 * a loop's suspended connections (every parked poll) whenever one is
 * resumed, so sharing them between loops shortens each walk.
 */
static long long
lkd_io_threads_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 4 ? 4 : n;
}

static void
lkd_usage(FILE *f)
{
	fprintf(f,
"usage: latchkeyd --db PATH --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]\n"
"                 [--region ID] [--master-key FILE] [--public-url URL]\n"
"                 [--session-idle-timeout S] [--session-token-ttl S]\n"
"                 [--session-resume-wait S] [--session-buffer BYTES]\n"
"                 [--max-connections N] [--max-conns-per-ip N] [--workers N]\n"
"                 [--io-threads N]\n"
"                 [--header-timeout S] [--body-timeout S] [--idle-timeout S]\n"
"                 [--conn-memory KIB] [--sessions-per-key N]\n"
"                 [--recording-max BYTES]\n"
"                 [--replica-id ID] [--advertise-url URL]\n"
"                 [--audit-file FILE] [--audit-syslog]\n"
"                 [--audit-syslog-socket PATH] [--audit-webhook URL]\n"
"                 [--no-audit]\n"
"                 [--allow-plain-http] [--debug] [--log-format text|json]\n"
"                 [--metrics-listen ADDR:PORT|off] [--config FILE]\n"
"       latchkeyd [--config FILE] [options] --check-config\n"
"       latchkeyd --db PATH accesskey create [--actions LIST] [--instances LIST]\n"
"                 [--users LIST] [--description TEXT] [--json]\n"
"       latchkeyd --db PATH accesskey list [--json]\n"
"       latchkeyd --db PATH accesskey disable ACCESS_KEY_ID\n"
"       latchkeyd --db PATH activation create [--count N] [--ttl SECONDS]\n"
"                 [--instance-name PREFIX] [--ip-range CIDR]\n"
"                 [--description TEXT] [--json]\n"
"       latchkeyd --db PATH activation list [--json] | disable ID | delete ID\n"
"       latchkeyd --db PATH instance list [--json] | rename ID NAME | remove ID\n"
"       latchkeyd --db PATH operator create NAME     (password on stdin)\n"
"       latchkeyd --db PATH operator list [--json]\n"
"       latchkeyd --db PATH operator disable NAME\n"
"       latchkeyd --db PATH session-manager enable|disable|status\n"
"       latchkeyd --db PATH migrate\n"
"       latchkeyd --db PATH backup DEST\n"
"       latchkeyd --db PATH audit verify [--file FILE]\n"
"       latchkeyd --db PATH audit export --file FILE\n"
"       latchkeyd --db PATH audit status\n"
"\n"
"The latchkey control plane: the ECS OpenAPI (2014-05-26) Cloud Assistant\n"
"actions for the official Alibaba Cloud SDKs, the agents' endpoints, and the\n"
"web console at /console/ (sign in with an access key or an operator).\n"
"\n"
"  --config FILE        read options from FILE first (default %s,\n"
"                       if it exists): \"key = value\" lines, the keys\n"
"                       being the long options; the command line wins\n"
"  --check-config       check the file and the options, exit 0 or 1\n"
"  --log-format text|json  the log on stderr while serving: key=value\n"
"                       lines (default) or JSON objects, one event a line,\n"
"                       stamped in RFC 3339 unless stderr is the journal\n"
"  --debug              log debug events too (every API read, migrations)\n"
"  --metrics-listen ADDR:PORT|off  where /metrics (Prometheus) and /healthz\n"
"                       are served, apart from the API (default %s;\n"
"                       when that default is taken, a warning and none)\n"
"  --db PATH            SQLite database (created and migrated on start);\n"
"                       also sqlite:PATH\n"
"  --db postgresql://USER@HOST[:PORT]/DB[?host=/SOCKET/DIR]\n"
"                       a PostgreSQL database (libpq URI; the password from\n"
"                       PGPASSFILE or ~/.pgpass; needs --master-key)\n"
"  --listen ADDR:PORT   address to serve on, e.g. 127.0.0.1:8080, [::1]:8443\n"
"  --tls-cert, --tls-key  PEM files: serve HTTPS (required off loopback)\n"
"  --allow-plain-http   serve plain HTTP on a non-loopback address (behind a\n"
"                       TLS-terminating proxy only: secrets cross in clear)\n"
"  --region ID          the RegionId this control plane answers (default %s)\n"
"  --master-key FILE    encrypts access-key secrets (default: the variable\n"
"                       LATCHKEYD_MASTER_KEY, else PATH.key; made with mode\n"
"                       0600 on first use; required for PostgreSQL)\n"
"  --actions, --instances, --users  comma-separated policy lists (default *):\n"
"                       API actions; instance ids, name patterns or\n"
"                       tag:KEY=VALUE (the instances with that tag); login\n"
"                       users the key may send SSH keys for, and the users\n"
"                       its other commands may run as\n"
"  --count N, --ttl S   activation: registrations allowed (default 10) and\n"
"                       lifetime in seconds (default 86400; 60 to a year)\n"
"  --instance-name P, --ip-range R  activation: its instances are named\n"
"                       P-1, P-2 ... (else by hostname); only agents\n"
"                       connecting from R (an address or CIDR) may use it\n"
"  --public-url URL     the URL clients reach latchkeyd at, for the session\n"
"                       WebSocketUrl (default: the request's Host header)\n"
"  --replica-id ID      this latchkeyd among replicas on one PostgreSQL\n"
"                       (default <hostname>-<port>; A-Z a-z 0-9 _ -)\n"
"  --advertise-url URL  this replica's own URL, reachable by agents and the\n"
"                       other replicas (default http(s)://<--listen>)\n"
"  --session-idle-timeout S  a session's side that sends nothing at all (no\n"
"                       data, no keep-alive) for S seconds is lost; it is\n"
"                       pinged after S/3 (default %d)\n"
"  --session-token-ttl S  how long a WebSocketUrl stays usable (default %d)\n"
"  --recording-max BYTES  the largest shell session recording an agent may\n"
"                       upload (default 16 MiB; latchkey-agent's own cap,\n"
"                       record-max, should not be larger)\n"
"  --session-resume-wait S  how long a session whose connection was lost\n"
"                       waits to be resumed (default %d; 0: never resume)\n"
"  --session-buffer BYTES  each agent's replay buffer and flow-control\n"
"                       window per session (default %d)\n"
"  --max-connections N  connections held at once (default: what the file\n"
"                       descriptor limit allows, at most %d); near it, new\n"
"                       ones get 503 Throttling\n"
"  --max-conns-per-ip N connections from one address (default %d, 0: no\n"
"                       limit); past it, 503 Throttling\n"
"  --workers N          threads that run requests (default %zu here)\n"
"  --io-threads N       event loops holding the connections (default %lld)\n"
"  --header-timeout S   a request's head must arrive within S (default %d)\n"
"  --body-timeout S     and its body within S more (default %d)\n"
"  --idle-timeout S     close keep-alive connections idle for S (default %d)\n"
"  --conn-memory KIB    memory of each connection for a request's head and\n"
"                       buffers (default %d: heads up to about %d KB; an\n"
"                       idle agent costs about this much plus 2.5 KiB, so\n"
"                       large fleets may lower it, e.g. to 12)\n"
"  --sessions-per-key N  sessions one access key may hold open on an\n"
"                       instance, 1 to %d (default %d)\n"
"  session-manager      the account switch for sessions (off until enabled;\n"
"                       also ModifyCloudAssistantSettings)\n"
"  migrate              create or migrate the schema, print its version\n"
"  hostca show          the host CA's public key line (made on first need)\n"
"  --host-ca            sign the host keys agents report as OpenSSH host\n"
"                       certificates and hand them to the agents\n"
"  --hostca-validity S  their lifetime, 3600 to 31622400 seconds (default\n"
"                       2592000: 30 days); renewed past half of it\n"
"  backup DEST          a consistent copy of an SQLite database while it\n"
"                       serves (PostgreSQL: pg_dump)\n"
"  --audit-file FILE    append every audit event to FILE as JSON lines,\n"
"                       exactly once, following rotation (docs/audit.md)\n"
"  --audit-syslog       send every audit event to syslog (/dev/log) as an\n"
"                       RFC 5424 message with structured data\n"
"  --audit-syslog-socket PATH  the same, to the datagram socket PATH\n"
"  --audit-webhook URL  POST every audit event in JSON batches to URL\n"
"                       (https://, or http:// on loopback), retried\n"
"  --no-audit           record no audit events (for benchmarks only)\n"
"  audit verify [--file FILE]  check the audit chain of the database (or\n"
"                       of an exported FILE); exit 1 names the first\n"
"                       altered, missing or reordered event\n"
"  audit export --file FILE  append the events not yet exported to FILE\n"
"  audit status         the last event and each sink's cursor and backlog\n",
	    LKD_CONF_FILE, METRICS_LISTEN_DEFAULT, LKD_REGION_DEFAULT,
	    RELAY_IDLE_DEFAULT, RELAY_TOKEN_TTL_DEFAULT,
	    RELAY_RESUME_WAIT_DEFAULT, RELAY_BUFFER_DEFAULT,
	    CONN_MAX_DEFAULT, CONN_PER_IP_DEFAULT, work_default_threads(),
	    lkd_io_threads_default(),
	    CONN_HEADER_TIMEOUT, CONN_BODY_TIMEOUT, CONN_IDLE_TIMEOUT,
	    CONN_MEMORY_DEFAULT, CONN_MEMORY_DEFAULT - 1, RELAY_PER_INSTANCE,
	    RELAY_PER_KEY_DEFAULT);
}

static int
lkd_open(const struct lkd_opts *o)
{
	const char *env;
	char master[4096];
	int r;

	if (o->db == NULL) {
		log_warnx("--db PATH is required (see --help)");
		return 2;
	}
	store_describe(o->db, lkd_dbname, sizeof(lkd_dbname));
	if (o->master != NULL)
		snprintf(master, sizeof(master), "%s", o->master);
	else if ((env = getenv("LATCHKEYD_MASTER_KEY")) != NULL && *env != '\0')
		snprintf(master, sizeof(master), "%s", env);
	else if (strstr(o->db, "://") == NULL)
		snprintf(master, sizeof(master), "%s.key", strncmp(o->db,
		    "sqlite:", 7) == 0 ? o->db + 7 : o->db);
	else {
		log_warnx("with a PostgreSQL --db, give --master-key FILE or "
		    "LATCHKEYD_MASTER_KEY (every latchkeyd on the database "
		    "needs the same key)");
		return 2;
	}
	if ((r = store_open(o->db)) != 0) {
		log_warnx("cannot open database %s: %s", lkd_dbname, lk_err(r));
		return 1;
	}
	if ((r = keys_master_load(master, 1)) != 0) {
		log_warnx("master key %s: %s", master, lk_err(r));
		return 1;
	}
	if ((r = api_cmd_seed_public()) != 0) {
		log_warnx("cannot install the public commands: %s", lk_err(r));
		return 1;
	}
	return 0;
}

/* An admin subcommand's event: actor the Unix user, source "local". */
static void
lkd_audit_admin(const char *kind, json_t *detail)
{
	struct passwd *pw = getpwuid(getuid());
	struct audit_ev ev;
	char uid[32];

	snprintf(uid, sizeof(uid), "uid %ld", (long)getuid());
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.actor_type = AUDIT_ACTOR_ADMIN;
	ev.actor = pw != NULL ? pw->pw_name : uid;
	ev.detail = detail;
	audit_set_source("local");
	(void)audit_emit(&ev);
}

static void
lkd_print(json_t *v, int json, const char *text)
{
	char *s;

	if (json) {
		s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	} else
		printf("%s", text);
	json_decref(v);
}

/*
 * --instances: each entry an id or name pattern, or "tag:KEY=VALUE" with
 * a tag key and value as TagResources takes them.
 */
static int
lkd_instances_valid(const char *list)
{
	char entry[512];
	const char *p, *comma;
	size_t n;

	if (list == NULL || strcmp(list, "*") == 0)
		return 1;
	for (p = list; ; p = comma + 1) {
		if ((comma = strchr(p, ',')) == NULL)
			comma = p + strlen(p);
		n = (size_t)(comma - p);
		if (n > 0) {
			if (n >= sizeof(entry))
				n = sizeof(entry) - 1;
			memcpy(entry, p, n);
			entry[n] = '\0';
			if (!keys_policy_entry_valid(entry)) {
				log_warnx("accesskey create: --instances: "
				    "\"%s\" is not an instance id, a name "
				    "pattern or tag:KEY=VALUE (a key of 1 to "
				    "128 characters, not aliyun... or acs:..., "
				    "a value of 0 to 128)", entry);
				return 0;
			}
		}
		if (*comma == '\0')
			return 1;
	}
}

static int
lkd_accesskey(const struct lkd_opts *o, int argc, char **argv)
{
	char *id = NULL, *secret = NULL, text[512];
	json_t *list;
	int r;

	if (argc >= 1 && strcmp(argv[0], "create") == 0 && argc == 1) {
		if (!lkd_instances_valid(o->instances))
			return 1;
		if ((r = keys_create(o->description, o->actions, o->instances,
		    o->users, &id, &secret)) != 0) {
			log_warnx("accesskey create: %s", lk_err(r));
			return 1;
		}
		lkd_audit_admin("accesskey.create", json_pack("{s:s, s:s, "
		    "s:s, s:s}", "access_key_id", id, "actions", o->actions ?
		    o->actions : "*", "instances", o->instances ? o->instances :
		    "*", "users", o->users ? o->users : "*"));
		snprintf(text, sizeof(text), "AccessKeyId:     %s\n"
		    "AccessKeySecret: %s\n(the secret is shown only now)\n",
		    id, secret);
		lkd_print(json_pack("{s:s, s:s}", "AccessKeyId", id,
		    "AccessKeySecret", secret), o->json, text);
		OPENSSL_cleanse(secret, strlen(secret));
		OPENSSL_cleanse(text, sizeof(text));
		free(id);
		free(secret);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if ((r = keys_list(&list)) != 0)
			return 1;
		if (o->json)
			lkd_print(list, 1, NULL);
		else {
			size_t i;
			json_t *k;

			printf("%-26s %-9s %-20s %s\n", "AccessKeyId", "State",
			    "Created", "Description");
			json_array_foreach(list, i, k)
				printf("%-26s %-9s %-20s %s\n",
				    json_string_value(json_object_get(k,
				    "AccessKeyId")), json_is_true(
				    json_object_get(k, "Disabled")) ?
				    "disabled" : "active",
				    json_string_value(json_object_get(k,
				    "CreationTime")), json_string_value(
				    json_object_get(k, "Description")));
			json_decref(list);
		}
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "disable") == 0) {
		if ((r = keys_disable(argv[1])) != 0) {
			log_warnx("accesskey disable %s: %s", argv[1],
			    r == LK_ERR_NOT_FOUND ? "no such access key" :
			    lk_err(r));
			return 1;
		}
		lkd_audit_admin("accesskey.disable", json_pack("{s:s}",
		    "access_key_id", argv[1]));
		printf("disabled %s\n", argv[1]);
		return 0;
	}
	log_warnx("usage: accesskey create|list|disable ID (see --help)");
	return 2;
}

/* The lifecycle's subcommands: fleet_admin.c. */
static void
lkd_fleet_opts(const struct lkd_opts *o, struct fleet_admin_opts *f)
{
	memset(f, 0, sizeof(*f));
	f->json = o->json;
	f->count = o->count;
	f->ttl = o->ttl;
	f->name = o->instance_name;
	f->ip_range = o->ip_range;
	f->description = o->description;
}

static int
lkd_activation(const struct lkd_opts *o, int argc, char **argv)
{
	struct fleet_admin_opts f;

	lkd_fleet_opts(o, &f);
	return fleet_admin_activation(&f, argc, argv);
}

static int
lkd_instance(const struct lkd_opts *o, int argc, char **argv)
{
	struct fleet_admin_opts f;

	lkd_fleet_opts(o, &f);
	return fleet_admin_instance(&f, argc, argv);
}

/*
 * Reads a password: a prompt with echo off, twice, on a terminal;
 * otherwise the first line of stdin. Never from argv, where ps shows it.
 */
static int
lkd_read_password(char *buf, size_t size)
{
	struct termios old, quiet;
	char again[CONSOLE_SECRET_MAX + 2];
	int tty = isatty(STDIN_FILENO), ok = 1, pass;
	size_t n;

	for (pass = 0; pass < (tty ? 2 : 1); pass++) {
		char *dst = pass == 0 ? buf : again;
		size_t dsize = pass == 0 ? size : sizeof(again);

		if (tty) {
			fprintf(stderr, pass == 0 ? "Password: " :
			    "Password again: ");
			tcgetattr(STDIN_FILENO, &old);
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
		if (fgets(dst, (int)dsize, stdin) == NULL)
			ok = 0;
		if (tty) {
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
			fputc('\n', stderr);
		}
		if (!ok)
			break;
		n = strcspn(dst, "\r\n");
		if (dst[n] == '\0' && n == dsize - 1)
			ok = 0;			/* longer than the buffer */
		dst[n] = '\0';
	}
	if (ok && tty && strcmp(buf, again) != 0) {
		log_warnx("the passwords differ");
		ok = 0;
	}
	OPENSSL_cleanse(again, sizeof(again));
	return ok ? 0 : -1;
}

static int
lkd_operator(const struct lkd_opts *o, int argc, char **argv)
{
	char pw[CONSOLE_SECRET_MAX + 2];
	json_t *list, *op;
	size_t i;
	int r;

	if (argc == 2 && strcmp(argv[0], "create") == 0) {
		if (!console_operator_name_ok(argv[1])) {
			log_warnx("operator names are 1 to 64 of A-Z a-z 0-9 "
			    ". _ -, not starting with -");
			return 2;
		}
		if (lkd_read_password(pw, sizeof(pw)) != 0) {
			log_warnx("operator create: no password read (one "
			    "line on stdin, at most %d bytes)",
			    CONSOLE_SECRET_MAX);
			return 1;
		}
		r = console_operator_create(argv[1], pw);
		OPENSSL_cleanse(pw, sizeof(pw));
		if (r != 0) {
			log_warnx("operator create %s: %s", argv[1],
			    r == LK_ERR_RANGE ? "the password needs at least "
			    "8 characters" : r == LK_ERR_INVALID_FORMAT ?
			    "the name is taken" : lk_err(r));
			return 1;
		}
		lkd_audit_admin("operator.create", json_pack("{s:s}", "name",
		    argv[1]));
		printf("created operator %s\n", argv[1]);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if (console_operator_list(&list) != 0)
			return 1;
		if (o->json) {
			lkd_print(list, 1, NULL);
			return 0;
		}
		printf("%-24s %-9s %-20s %s\n", "Name", "State", "Created",
		    "LastSignIn");
		json_array_foreach(list, i, op)
			printf("%-24s %-9s %-20s %s\n", json_string_value(
			    json_object_get(op, "Name")), json_is_true(
			    json_object_get(op, "Disabled")) ? "disabled" :
			    "active", json_string_value(json_object_get(op,
			    "CreationTime")), json_string_value(
			    json_object_get(op, "LastSignInTime")));
		json_decref(list);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "disable") == 0) {
		if ((r = console_operator_disable(argv[1])) != 0) {
			log_warnx("operator disable: %s", r == LK_ERR_NOT_FOUND
			    ? "no such operator" : lk_err(r));
			return 1;
		}
		lkd_audit_admin("operator.disable", json_pack("{s:s}", "name",
		    argv[1]));
		printf("disabled %s (and ended its console sessions)\n",
		    argv[1]);
		return 0;
	}
	log_warnx("usage: operator create NAME | list | disable NAME");
	return 2;
}

static int
lkd_session_manager(const struct lkd_opts *o, int argc, char **argv)
{
	int on;

	(void)o;
	if (argc != 1 || (strcmp(argv[0], "enable") != 0 &&
	    strcmp(argv[0], "disable") != 0 && strcmp(argv[0], "status") != 0)) {
		log_warnx("usage: session-manager enable|disable|status");
		return 2;
	}
	if (strcmp(argv[0], "status") != 0 &&
	    store_sess_manager_set(lkd->db, strcmp(argv[0], "enable") == 0) !=
	    0) {
		log_warnx("cannot change the setting");
		return 1;
	}
	if (strcmp(argv[0], "status") != 0)
		lkd_audit_admin("settings.session_manager", json_pack("{s:b}",
		    "enabled", strcmp(argv[0], "enable") == 0));
	if (store_sess_manager(lkd->db, &on) != 0) {
		log_warnx("cannot read the setting");
		return 1;
	}
	printf("session manager: %s\n", on ? "enabled" : "disabled");
	return 0;
}

static int
lkd_audit(const struct lkd_opts *o, int argc, char **argv)
{
	int64_t n = 0;
	int r;

	if (argc == 1 && strcmp(argv[0], "verify") == 0)
		return o->file != NULL ? audit_verify_file(o->file) :
		    audit_verify_db();
	if (argc == 1 && strcmp(argv[0], "export") == 0 && o->file != NULL) {
		if ((r = audit_export_file(o->file, &n)) != 0) {
			log_warnx("audit export %s: %s", o->file, lk_err(r));
			return 1;
		}
		printf("audit: %lld events exported to %s\n", (long long)n,
		    o->file);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return audit_status();
	log_warnx("usage: audit verify [--file FILE] | export --file FILE | "
	    "status");
	return 2;
}

/*
 * hostca show: the host CA's public line (made now if there is none yet,
 * whether or not --host-ca is on), for "@cert-authority" lines.
 */
static int
lkd_hostca(const struct lkd_opts *o, int argc, char **argv)
{
	char *line = NULL;
	int r;

	(void)o;
	if (argc != 1 || strcmp(argv[0], "show") != 0) {
		log_warnx("usage: hostca show");
		return 2;
	}
	if ((r = hostca_public(&line)) != 0) {
		log_warnx("hostca: %s", lk_err(r));
		return 1;
	}
	printf("%s\n", line);
	free(line);
	return 0;
}

/* Opening the database migrated it: say where it stands. */
static int
lkd_migrate(const struct lkd_opts *o, int argc, char **argv)
{
	int v, want;

	(void)o;
	(void)argv;
	if (argc != 0) {
		log_warnx("usage: migrate");
		return 2;
	}
	if (store_schema_version(&v, &want) != 0) {
		log_warnx("cannot read the schema version");
		return 1;
	}
	printf("%s database %s: schema version %d (current)\n",
	    store_kind(), lkd_dbname, v);
	return v == want ? 0 : 1;
}

static int
lkd_backup(const struct lkd_opts *o, int argc, char **argv)
{
	int r;

	(void)o;
	if (argc != 1) {
		log_warnx("usage: backup DEST");
		return 2;
	}
	if (strcmp(store_kind(), "sqlite") != 0) {
		log_warnx("backup copies SQLite databases; for PostgreSQL use "
		    "pg_dump (see latchkeyd(8), BACKUP)");
		return 2;
	}
	if ((r = store_backup(argv[0])) != 0) {
		log_warnx("backup %s: %s", argv[0], r == LK_ERR_SYSTEM &&
		    errno == EEXIST ? "already exists (a backup never "
		    "overwrites)" : lk_err(r));
		return 1;
	}
	printf("backup of %s written to %s\n", lkd_dbname, argv[0]);
	return 0;
}

/*
 * The connections latchkeyd can hold: the descriptor limit raised to its
 * hard maximum, less a reserve, or --max-connections if lower.
 */
static int
lkd_limits(const struct lkd_opts *o)
{
	long nofile = conn_raise_nofile(), cap = conn_capacity(nofile);

	if (o->max_conns > cap) {
		log_warnx("--max-connections %lld: the descriptor limit (%ld) "
		    "allows at most %ld", o->max_conns, nofile, cap);
		return -1;
	}
	if (o->max_conns > 0)
		cap = (long)o->max_conns;
	else if (cap > CONN_MAX_DEFAULT)
		cap = CONN_MAX_DEFAULT;
	conn_conf.max = (unsigned int)cap;
	log_info("latchkeyd limits connections=%u per_ip=%u fd_limit=%ld "
	    "workers=%lld io_threads=%lld header_timeout=%ld body_timeout=%ld "
	    "idle_timeout=%ld conn_memory=%uKiB", conn_conf.max,
	    conn_conf.per_ip, nofile, o->workers, o->io_threads,
	    conn_conf.header_timeout,
	    conn_conf.body_timeout, conn_conf.idle_timeout,
	    conn_conf.memory_kib);
	return 0;
}

static int
lkd_replica_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return -1;
	return 0;
}

/*
 * The replica's defaults, from --listen: "<hostname>-<port>" and
 * "http(s)://<listen>".
 */
static void
lkd_replica_defaults(const char *listen)
{
	const char *port = strrchr(listen, ':');
	char host[64];
	size_t i;

	if (lkd->replica_id[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "latchkeyd");
		host[sizeof(host) - 1] = '\0';
		for (i = 0; host[i] != '\0'; i++)
			if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			    "qrstuvwxyz0123456789_-", host[i]) == NULL)
				host[i] = '-';
		snprintf(lkd->replica_id, sizeof(lkd->replica_id), "%.40s-%s",
		    host, port != NULL ? port + 1 : "0");
	}
	if (lkd->advertise_url[0] == '\0')
		snprintf(lkd->advertise_url, sizeof(lkd->advertise_url),
		    "%s://%s", lkd->tls ? "https" : "http", listen);
}

static int
lkd_serve(const struct lkd_opts *o)
{
	sigset_t set;
	int sig, r;

	if (o->cert == NULL && !o->plain_ok &&
	    http_listen_is_loopback(o->listen) == 0) {
		log_warnx("refusing to serve plain HTTP on %s: access-key "
		    "secrets, console passwords and agent credentials would "
		    "cross the network in clear; give --tls-cert and "
		    "--tls-key, or --allow-plain-http behind a TLS-terminating "
		    "proxy", o->listen);
		return 2;
	}
	if (lkd_limits(o) != 0)
		return 2;
	/* A few threads only: no need for more arenas than that. */
	mallopt(M_ARENA_MAX, 4);
	/*
	 * The relay's input buffers (256 KiB) are taken while a session
	 * moves bytes and given back when it goes quiet: from and back to
	 * the kernel, so that idle sessions cost no memory.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* threads inherit it */
	signal(SIGPIPE, SIG_IGN);
	lkd->tls = o->cert != NULL;
	lkd_replica_defaults(o->listen);
	if (audit_off)
		log_warnx("--no-audit: no audit events are recorded");
	if ((o->audit_file != NULL &&
	    (r = audit_sink_start(o->audit_file)) != 0) ||
	    (o->audit_syslog != NULL &&
	    (r = audit_syslog_start(o->audit_syslog)) != 0) ||
	    (o->audit_webhook != NULL &&
	    (r = audit_webhook_start(o->audit_webhook)) != 0))
		return 1;
	if ((r = relay_start()) != 0 || (r = agentd_start()) != 0 ||
	    (r = http_start(o->listen, o->cert, o->key,
	    (size_t)o->workers, (size_t)o->io_threads)) != 0 ||
	    (r = metrics_start(o->metrics != NULL ? o->metrics :
	    METRICS_LISTEN_DEFAULT, o->metrics == NULL)) != 0)
		return 1;
	log_info("latchkeyd %s serving listen=%s region=%s db=%s replica=%s "
	    "advertise=%s", LKD_VERSION, o->listen, lkd->region, lkd_dbname,
	    lkd->replica_id, lkd->advertise_url);
	/* SIGHUP: the audit file is reopened (after a rotation). */
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		audit_sink_reopen();
	log_info("latchkeyd stopping signal=%d", sig);
	metrics_stop();
	relay_stop();
	http_stop();
	agentd_stop();		/* after the last poll: flushes heartbeats */
	audit_sink_stop();	/* after the last event */
	audit_syslog_stop();
	audit_webhook_stop();
	return 0;
}

/* The admin subcommands; without one, latchkeyd serves. */
static const struct lkd_cmd {
	const char	*name;
	int		(*fn)(const struct lkd_opts *, int, char **);
} lkd_cmds[] = {
	{ "accesskey", lkd_accesskey },
	{ "activation", lkd_activation },
	{ "instance", lkd_instance },
	{ "operator", lkd_operator },
	{ "session-manager", lkd_session_manager },
	{ "migrate", lkd_migrate },
	{ "hostca", lkd_hostca },
	{ "backup", lkd_backup },
	{ "audit", lkd_audit },
};

/* Long options without a short letter (any value over 255). */
#define LKD_OPT_FILE		0x2001	/* audit verify/export --file */
#define LKD_OPT_AUDIT_FILE	0x2002
#define LKD_OPT_AUDIT_SYSLOG_SOCKET 0x2003
#define LKD_OPT_RECORDING_MAX	0x2004
#define LKD_OPT_HOST_CA		0x2005
#define LKD_OPT_HOSTCA_VALIDITY	0x2006

static const struct option lkd_longopts[] = {
	{ "db", required_argument, NULL, 'd' },
	{ "listen", required_argument, NULL, 'l' },
	{ "tls-cert", required_argument, NULL, 'c' },
	{ "tls-key", required_argument, NULL, 'k' },
	{ "region", required_argument, NULL, 'r' },
	{ "master-key", required_argument, NULL, 'm' },
	{ "json", no_argument, NULL, 'j' },
	{ "actions", required_argument, NULL, 'A' },
	{ "instances", required_argument, NULL, 'I' },
	{ "users", required_argument, NULL, 'U' },
	{ "description", required_argument, NULL, 'D' },
	{ "count", required_argument, NULL, 'n' },
	{ "ttl", required_argument, NULL, 't' },
	{ "instance-name", required_argument, NULL, 'Y' },
	{ "ip-range", required_argument, NULL, 'Z' },
	{ "debug", no_argument, NULL, 'g' },
	{ "public-url", required_argument, NULL, 'P' },
	{ "replica-id", required_argument, NULL, 'R' },
	{ "advertise-url", required_argument, NULL, 'a' },
	{ "session-idle-timeout", required_argument, NULL, 'S' },
	{ "session-token-ttl", required_argument, NULL, 'T' },
	{ "session-resume-wait", required_argument, NULL, 'e' },
	{ "session-buffer", required_argument, NULL, 'f' },
	{ "allow-plain-http", no_argument, NULL, 'X' },
	{ "max-connections", required_argument, NULL, 'C' },
	{ "max-conns-per-ip", required_argument, NULL, 'p' },
	{ "workers", required_argument, NULL, 'W' },
	{ "header-timeout", required_argument, NULL, 'H' },
	{ "body-timeout", required_argument, NULL, 'B' },
	{ "idle-timeout", required_argument, NULL, 'i' },
	{ "sessions-per-key", required_argument, NULL, 'Q' },
	{ "conn-memory", required_argument, NULL, 'M' },
	{ "io-threads", required_argument, NULL, 'O' },
	{ "recording-max", required_argument, NULL, LKD_OPT_RECORDING_MAX },
	{ "host-ca", no_argument, NULL, LKD_OPT_HOST_CA },
	{ "hostca-validity", required_argument, NULL, LKD_OPT_HOSTCA_VALIDITY },
	/* the audit trail */
	{ "file", required_argument, NULL, LKD_OPT_FILE },
	{ "audit-file", required_argument, NULL, LKD_OPT_AUDIT_FILE },
	{ "audit-syslog", no_argument, NULL, 'y' },
	{ "audit-syslog-socket", required_argument, NULL,
	    LKD_OPT_AUDIT_SYSLOG_SOCKET },
	{ "audit-webhook", required_argument, NULL, 'w' },
	{ "no-audit", no_argument, NULL, 'N' },
	{ "log-format", required_argument, NULL, 'L' },
	{ "metrics-listen", required_argument, NULL, 'G' },
	{ "config", required_argument, NULL, 'F' },
	{ "check-config", no_argument, NULL, 'K' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The long name of option ch, for messages. */
static const char *
lkd_optname(int ch)
{
	const struct option *opt;

	for (opt = lkd_longopts; opt->name != NULL; opt++)
		if (opt->val == ch)
			return opt->name;
	return "?";
}

/* The numeric options: their ranges, and what a bad value is told. */
static const struct lkd_num {
	int		 ch;
	long long	 min, max;
	const char	*range;
} lkd_nums[] = {
	{ 'n', 1, 1000000, "1 to 1000000" },
	{ 't', 60, 365LL * 86400, "60 seconds to a year" },
	{ 'S', 1, 86400, "1 to 86400 seconds" },
	{ 'T', 1, 86400, "1 to 86400 seconds" },
	{ 'e', 0, 3600, "0 (never) to 3600 seconds" },
	{ 'f', 65536, 268435456, "65536 to 268435456 "
	    "bytes" },
	{ 'C', 16, 1 << 24, "16 to 16777216" },
	{ 'p', 0, 1 << 24, "0 (no limit) to 16777216" },
	{ 'W', 1, 64, "1 to 64" },
	{ 'H', 1, 3600, "1 to 3600 seconds" },
	{ 'B', 1, 3600, "1 to 3600 seconds" },
	{ 'i', 1, 3600, "1 to 3600 seconds" },
	{ 'Q', 1, RELAY_PER_INSTANCE, "1 to 20" },
	{ 'M', 8, 256, "8 to 256 KiB" },
	{ 'O', 1, 16, "1 to 16" },
	{ LKD_OPT_RECORDING_MAX, LK_CAST_MAX_MIN, LK_CAST_MAX_MAX,
	    "65536 to 1073741824 bytes" },
	{ LKD_OPT_HOSTCA_VALIDITY, HOSTCA_VALIDITY_MIN, HOSTCA_VALIDITY_MAX,
	    "3600 to 31622400 seconds" },
};

static int
lkd_option_num(int ch, long long v, struct lkd_opts *o)
{
	switch (ch) {
	case 'n': o->count = v; break;
	case 't': o->ttl = v; break;
	case 'S': relay_conf.idle = (long)v; break;
	case 'T': relay_conf.token_ttl = (long)v; break;
	case 'e': relay_conf.resume_wait = (long)v; break;
	case 'f': relay_conf.buffer = (long)v; break;
	case 'C': o->max_conns = v; break;
	case 'p': conn_conf.per_ip = (unsigned int)v; break;
	case 'W': o->workers = v; break;
	case 'H': conn_conf.header_timeout = (long)v; break;
	case 'B': conn_conf.body_timeout = (long)v; break;
	case 'i': conn_conf.idle_timeout = (long)v; break;
	case 'Q': relay_conf.per_key = (long)v; break;
	case 'M': conn_conf.memory_kib = (unsigned int)v; break;
	case 'O': o->io_threads = v; break;
	case LKD_OPT_RECORDING_MAX: recording_max = (uint64_t)v; break;
	case LKD_OPT_HOSTCA_VALIDITY: hostca_conf.validity = (long)v; break;
	default: return 2;
	}
	return 0;
}

/*
 * One option, from the command line or the configuration file; 0 to go
 * on, or the exit status (256: done, for --help and --version) with the
 * reason of a bad value in why.
 */
static int
lkd_option(int ch, const char *arg, struct lkd_opts *o, char *why,
    size_t whylen)
{
	long long v;
	size_t i;

	for (i = 0; i < sizeof(lkd_nums) / sizeof(lkd_nums[0]); i++) {
		if (lkd_nums[i].ch != ch)
			continue;
		if (lk_parse_ll(arg, lkd_nums[i].min, lkd_nums[i].max,
		    &v) != 0) {
			snprintf(why, whylen, "%s", lkd_nums[i].range);
			return 2;
		}
		return lkd_option_num(ch, v, o);
	}
	switch (ch) {
	case 'd': o->db = arg; break;
	case 'l': o->listen = arg; break;
	case 'c': o->cert = arg; break;
	case 'k': o->key = arg; break;
	case 'm': o->master = arg; break;
	case 'j': o->json = 1; break;
	case 'A': o->actions = arg; break;
	case 'I': o->instances = arg; break;
	case 'U': o->users = arg; break;
	case 'D': o->description = arg; break;
	case 'Y': o->instance_name = arg; break;
	case 'Z': o->ip_range = arg; break;
	case 'g': o->logflags |= LK_LOG_DEBUG; break;
	case 'X': o->plain_ok = 1; break;
	case LKD_OPT_HOST_CA: hostca_conf.on = 1; break;
	case LKD_OPT_FILE: o->file = arg; break;
	case LKD_OPT_AUDIT_FILE: o->audit_file = arg; break;
	case 'N': audit_off = 1; break;
	case 'y': o->audit_syslog = AUDIT_SYSLOG_SOCKET; break;
	case LKD_OPT_AUDIT_SYSLOG_SOCKET: o->audit_syslog = arg; break;
	case 'w':
		if (audit_webhook_url_ok(arg, why, whylen) != 0)
			return 2;
		o->audit_webhook = arg;
		break;
	case 'r':
		if (strlen(arg) == 0 || strlen(arg) >= sizeof(lkd->region)) {
			snprintf(why, whylen, "1 to %zu characters",
			    sizeof(lkd->region) - 1);
			return 2;
		}
		snprintf(lkd->region, sizeof(lkd->region), "%s", arg);
		break;
	case 'P':
		if ((strncmp(arg, "http://", 7) != 0 &&
		    strncmp(arg, "https://", 8) != 0) ||
		    strlen(arg) >= sizeof(lkd->public_url) ||
		    strpbrk(arg, " \t\r\n?#") != NULL) {
			snprintf(why, whylen, "an http:// or https:// URL");
			return 2;
		}
		snprintf(lkd->public_url, sizeof(lkd->public_url), "%s", arg);
		break;
	case 'R':
		if (lkd_replica_id_ok(arg) != 0) {
			snprintf(why, whylen, "1 to 63 of A-Z a-z 0-9 _ -");
			return 2;
		}
		snprintf(lkd->replica_id, sizeof(lkd->replica_id), "%s", arg);
		break;
	case 'a':
		if ((strncmp(arg, "http://", 7) != 0 &&
		    strncmp(arg, "https://", 8) != 0) ||
		    strlen(arg) >= sizeof(lkd->advertise_url) ||
		    strpbrk(arg, " \t\r\n?#") != NULL) {
			snprintf(why, whylen, "an http:// or https:// URL");
			return 2;
		}
		snprintf(lkd->advertise_url, sizeof(lkd->advertise_url), "%s",
		    arg);
		break;
	case 'L':
		if (log_format_parse(arg, &o->logfmt) != 0) {
			snprintf(why, whylen, "text or json");
			return 2;
		}
		break;
	case 'G':
		if (strcmp(arg, "off") != 0 &&
		    http_listen_is_loopback(arg) == -1) {
			snprintf(why, whylen, "ADDRESS:PORT or off");
			return 2;
		}
		o->metrics = arg;
		break;
	case 'F': o->config = arg; break;
	case 'K': o->check = 1; break;
	case 'h': lkd_usage(stdout); return 256;
	case 'V': printf("latchkeyd %s\n", LKD_VERSION); return 256;
	default: lkd_usage(stderr); return 2;
	}
	return 0;
}

/* The configuration file's buffer: its values are used until exit. */
static char *lkd_conf_buf;

/*
 * A setting of the configuration file: its key is a long option's name
 * (lkd_longopts is the one list of both), its value the option's
 * argument, or yes/no for an option without one.
 */
static int
lkd_conf_set(void *arg, const char *key, const char *val, size_t dup,
    char *why, size_t whylen)
{
	const struct option *opt;
	int b;

	for (opt = lkd_longopts; opt->name != NULL; opt++)
		if (strcmp(opt->name, key) == 0)
			break;
	if (opt->name == NULL) {
		snprintf(why, whylen, "unknown key \"%s\" (the keys are "
		    "latchkeyd's long options, see latchkeyd.conf(5))", key);
		return -1;
	}
	if ((opt->val < 128 && strchr("FKhV", opt->val) != NULL) ||
	    opt->val == LKD_OPT_FILE) {
		snprintf(why, whylen, "%s: only on the command line", key);
		return -1;
	}
	if (dup != 0) {
		snprintf(why, whylen, "%s: set twice (first on line %zu)", key,
		    dup);
		return -1;
	}
	if (opt->has_arg == no_argument) {
		if ((b = lk_conf_bool(val)) == -1) {
			snprintf(why, whylen, "%s: yes or no", key);
			return -1;
		}
		if (b == 0)
			return 0;
		val = NULL;
	}
	if (lkd_option(opt->val, val, arg, why, whylen) != 0) {
		if (why[0] == '\0')
			snprintf(why, whylen, "%s: bad value", key);
		else {
			char tmp[LK_CONF_ERR_SIZE];

			snprintf(tmp, sizeof(tmp), "%s", why);
			snprintf(why, whylen, "%s: %s", key, tmp);
		}
		return -1;
	}
	return 0;
}

/*
 * Reads --config FILE, or the default file if it exists, into o before
 * the command line is applied over it. Returns 0 or an exit status.
 */
static int
lkd_conf_read(struct lkd_opts *o)
{
	const char *path = o->config != NULL ? o->config : LKD_CONF_FILE;
	char err[LK_CONF_ERR_SIZE];
	int r;

	r = lk_conf_load(path, &lkd_conf_buf, lkd_conf_set, o, err,
	    sizeof(err));
	if (r == LK_ERR_NOT_FOUND && o->config == NULL)
		return 0;
	if (r != 0) {
		fprintf(stderr, "latchkeyd: %s\n", err);
		return o->check ? 1 : 2;
	}
	o->config_read = path;
	return 0;
}

/*
 * The command line, in two passes: the first finds --config,
 * --check-config, --help and --version, then the file is read, then the
 * second pass applies every option over the file's settings. Returns 0
 * or the exit status (256: exit 0).
 */
static int
lkd_options(int argc, char **argv, struct lkd_opts *o)
{
	char why[LK_CONF_ERR_SIZE];
	int ch, r, early = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "hV", lkd_longopts, NULL)) != -1)
		if (strchr("FKhV", ch) != NULL && ch != '?') {
			if (ch == 'h' || ch == 'V')
				early = ch;
			else
				(void)lkd_option(ch, optarg, o, why,
				    sizeof(why));
		}
	opterr = 1;
	optind = 0;		/* glibc: start over */
	if (early != 0)
		return lkd_option(early, NULL, o, why, sizeof(why));
	if ((r = lkd_conf_read(o)) != 0)
		return r;
	while ((ch = getopt_long(argc, argv, "hV", lkd_longopts, NULL)) != -1) {
		why[0] = '\0';
		if ((r = lkd_option(ch, optarg, o, why, sizeof(why))) != 0) {
			if (why[0] != '\0')
				fprintf(stderr, "latchkeyd: --%s: %s\n",
				    lkd_optname(ch), why);
			return r;
		}
	}
	return 0;
}

/* --check-config: the settings parsed; now what serving would refuse. */
static int
lkd_check_config(const struct lkd_opts *o)
{
	if ((o->cert == NULL) != (o->key == NULL)) {
		log_warnx("tls-cert and tls-key go together");
		return 1;
	}
	if (o->listen != NULL && o->cert == NULL && !o->plain_ok &&
	    http_listen_is_loopback(o->listen) == 0) {
		log_warnx("listen %s is not loopback: give tls-cert and "
		    "tls-key, or allow-plain-http", o->listen);
		return 1;
	}
	if (o->config_read != NULL)
		printf("%s: ok\n", o->config_read);
	else
		printf("%s: absent (the defaults and the command line are "
		    "ok)\n", LKD_CONF_FILE);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct lkd_cmd *cmd = NULL;
	struct lkd_opts o;
	size_t i;
	int r;

	memset(&o, 0, sizeof(o));
	o.count = 10;
	o.ttl = 86400;
	o.workers = (long long)work_default_threads();
	o.io_threads = lkd_io_threads_default();
	o.logflags = LK_LOG_STDERR;
	o.logfmt = LK_LOG_FMT_TEXT;
	snprintf(lkd->region, sizeof(lkd->region), "%s", LKD_REGION_DEFAULT);
	if ((r = lkd_options(argc, argv, &o)) != 0)
		return r == 256 ? 0 : o.check ? 1 : r;	/* 256: --help... */
	log_init("latchkeyd", o.logflags, LOG_DAEMON);
	if (o.check)
		return lkd_check_config(&o);
	argc -= optind;
	argv += optind;
	if (argc == 0 && o.listen == NULL) {
		lkd_usage(stderr);
		return 2;
	}
	for (i = 0; argc > 0 && i < sizeof(lkd_cmds) / sizeof(lkd_cmds[0]);
	    i++)
		if (strcmp(argv[0], lkd_cmds[i].name) == 0)
			cmd = &lkd_cmds[i];
	if (argc > 0 && cmd == NULL) {
		log_warnx("unknown command \"%s\" (see --help)", argv[0]);
		return 2;
	}
	/* Serving: events in the stable format (docs/operations.md). */
	if (cmd == NULL)
		log_format(o.logfmt);
	if ((r = lkd_open(&o)) != 0)
		return r;
	r = cmd != NULL ? cmd->fn(&o, argc - 1, argv + 1) : lkd_serve(&o);
	store_close();
	OPENSSL_cleanse(lkd->master, sizeof(lkd->master));
	return r;
}
