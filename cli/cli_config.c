/*
 * Profiles: ~/.latchkey/config.json (or $LATCHKEY_CONFIG), the
 * environment's overrides, and "latchkey configure".
 *
 * The file holds access key secrets, so it is written atomically with mode
 * 0600 in a 0700 directory, and refused when it is not ours or when group
 * or others may read or write it (or write its directory). Its shape:
 *
 *	{ "current": "default",
 *	  "profiles": { "default": { "endpoint": "https://...",
 *	      "access_key_id": "...", "access_key_secret": "...",
 *	      "region_id": "cn-hangzhou" } } }
 *
 * Which profile: --profile, else LATCHKEY_PROFILE, else "current", else
 * "default". Then LATCHKEY_ENDPOINT, ALIBABA_CLOUD_ACCESS_KEY_ID,
 * ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_REGION_ID win over it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "err.h"
#include "fsutil.h"
#include "nethint.h"

#define CONFIG_DIR		".latchkey"
#define CONFIG_FILE		"config.json"
#define CONFIG_MAX		(1024 * 1024)	/* bytes of config file */
#define CONFIG_VALUE_MAX	1024		/* bytes of one setting */
#define CONFIG_PROFILE_MAX	64		/* bytes of a profile name */

enum config_field { CF_ENDPOINT, CF_ID, CF_SECRET, CF_REGION, CF_N };

static const struct {
	const char	*key;		/* in the file */
	const char	*label;		/* in prompts */
	const char	*option;	/* configure's option */
	const char	*env;		/* the override */
} config_fields[CF_N] = {
	{ "endpoint", "Endpoint (URL of latchkeyd)", "--endpoint",
	  "LATCHKEY_ENDPOINT" },
	{ "access_key_id", "Access key id", "--access-key-id",
	  "ALIBABA_CLOUD_ACCESS_KEY_ID" },
	{ "access_key_secret", "Access key secret", "--access-key-secret",
	  "ALIBABA_CLOUD_ACCESS_KEY_SECRET" },
	{ "region_id", "Region id", "--region", "ALIBABA_CLOUD_REGION_ID" },
};

static void
config_freezero(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* The config file's path into buf; 0, or -1 when there is no home. */
static int
config_path(char *buf, size_t size)
{
	const char *env = getenv("LATCHKEY_CONFIG"), *home = getenv("HOME");
	struct passwd *pw;

	if (env != NULL && *env != '\0') {
		snprintf(buf, size, "%s", env);
		return 0;
	}
	if ((home == NULL || *home == '\0') &&
	    (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (home == NULL || *home == '\0') {
		cli_warn("cannot find the home directory (set HOME or "
		    "LATCHKEY_CONFIG)");
		return -1;
	}
	if ((size_t)snprintf(buf, size, "%s/%s/%s", home, CONFIG_DIR,
	    CONFIG_FILE) >= size) {
		cli_warn("the home directory's path is too long");
		return -1;
	}
	return 0;
}

/* The directory part of path into buf. */
static void
config_dirname(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(buf, size, ".");
	else if (slash == path)
		snprintf(buf, size, "/");
	else
		snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/*
 * Checks who may read the open file fd at path (and write its
 * directory). strict refuses; otherwise it only warns (configure, which
 * rewrites it with mode 0600).
 */
static int
config_check_mode(int fd, const char *path, int strict)
{
	struct stat st, dst;
	char dir[PATH_MAX];

	if (fstat(fd, &st) == -1) {
		cli_warn("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_warn("%s: not a regular file", path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		cli_warn("%s is owned by uid %u, not by you (uid %u); it holds "
		    "access key secrets, so latchkey will not use it", path,
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		if (!strict) {
			cli_warn("%s was readable by group or others (mode "
			    "%04o); it is rewritten with mode 0600; consider "
			    "replacing the access key", path,
			    (unsigned)(st.st_mode & 07777));
			return 0;
		}
		cli_warn("%s is readable or writable by group or others (mode "
		    "%04o); it holds access key secrets, so latchkey will not "
		    "use it. Fix it with: chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	config_dirname(path, dir, sizeof(dir));
	if (strict && stat(dir, &dst) == 0 && (dst.st_mode & 022) != 0 &&
	    !(dst.st_mode & S_ISVTX)) {
		cli_warn("%s is writable by group or others (mode %04o), so "
		    "others could replace %s. Fix it with: chmod 700 %s", dir,
		    (unsigned)(dst.st_mode & 07777), path, dir);
		return -1;
	}
	return 0;
}

/*
 * Reads the config file into *rootp (an empty object when there is none;
 * *existsp says which). Returns 0 or CLI_EX_CONFIG after saying why.
 */
static int
config_read(const char *path, int strict, json_t **rootp, int *existsp)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	json_error_t jerr;
	int fd, r = CLI_EX_CONFIG;

	*rootp = NULL;
	*existsp = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			*rootp = json_object();
			return *rootp != NULL ? 0 : CLI_EX_CONFIG;
		}
		cli_warn("%s: %s", path, errno == ELOOP ? "is a symbolic link; "
		    "latchkey does not follow it" : strerror(errno));
		return CLI_EX_CONFIG;
	}
	*existsp = 1;
	if (config_check_mode(fd, path, strict) != 0)
		goto out;
	if ((buf = malloc(CONFIG_MAX + 1)) == NULL)
		goto out;
	while ((n = read(fd, buf + len, CONFIG_MAX + 1 - len)) > 0)
		if ((len += (size_t)n) > CONFIG_MAX)
			break;
	if (n == -1 || len > CONFIG_MAX) {
		cli_warn("%s: %s", path, n == -1 ? strerror(errno) :
		    "too large");
		goto out;
	}
	if ((*rootp = json_loadb(buf, len, 0, &jerr)) == NULL ||
	    !json_is_object(*rootp)) {
		cli_warn("%s:%d: %s", path, jerr.line, *rootp == NULL ?
		    jerr.text : "not a JSON object");
		json_decref(*rootp);
		*rootp = NULL;
		goto out;
	}
	r = 0;
 out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len < CONFIG_MAX ? len : CONFIG_MAX);
		free(buf);
	}
	close(fd);
	return r;
}

/* The profile name to use: --profile, LATCHKEY_PROFILE, current, default. */
static const char *
config_profile_name(struct cli *c, json_t *root, int *explicitp)
{
	const char *env = getenv("LATCHKEY_PROFILE"), *cur;

	*explicitp = 1;
	if (c->profile_opt != NULL)
		return c->profile_opt;
	if (env != NULL && *env != '\0')
		return env;
	*explicitp = 0;
	if ((cur = cli_jstr(root, "current")) != NULL && *cur != '\0')
		return cur;
	return "default";
}

static int
config_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= CONFIG_PROFILE_MAX && strspn(name,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "._-") == len;
}

/* No control characters or blanks, and not too long. */
static int
config_value_valid(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			return 0;
	return i > 0 && i <= CONFIG_VALUE_MAX;
}

/*
 * "http(s)://host[:port]" from what the user typed, by the one rule for
 * server URLs (lk_url_check): a scheme is required (a bare host:port is
 * refused with both URLs it may have meant), one trailing "/" is dropped,
 * and any other path, query or fragment is refused (the API is at "/").
 */
static int
config_endpoint(const char *in, char **outp)
{
	char url[1100], why[512];

	*outp = NULL;
	if (lk_url_check(in, url, sizeof(url), why, sizeof(why)) != 0) {
		cli_warn("the endpoint: %s", why);
		return -1;
	}
	if ((*outp = strdup(url)) == NULL)
		return -1;
	return 0;
}

/* Fills c->prof from the file's profile and the environment. */
int
cli_config_load(struct cli *c)
{
	char path[PATH_MAX];
	const char *name, *v;
	json_t *root = NULL, *prof;
	char *vals[CF_N] = { NULL };
	int explicit, exists, r = CLI_EX_CONFIG, i;

	if (c->loaded)
		return 0;
	if (config_path(path, sizeof(path)) != 0 ||
	    config_read(path, 1, &root, &exists) != 0)
		goto out;
	name = config_profile_name(c, root, &explicit);
	prof = json_object_get(json_object_get(root, "profiles"), name);
	if (prof == NULL && explicit) {
		cli_warn("no profile \"%s\" in %s (make it with: latchkey "
		    "--profile %s configure)", name, path, name);
		goto out;
	}
	for (i = 0; i < CF_N; i++) {
		if ((v = getenv(config_fields[i].env)) == NULL || *v == '\0')
			v = cli_jstr(prof, config_fields[i].key);
		if (i == CF_REGION && (v == NULL || *v == '\0'))
			v = CLI_REGION_DEFAULT;
		if (v == NULL || *v == '\0') {
			cli_warn("no %s configured for profile \"%s\": run "
			    "'latchkey configure' or set %s", i == CF_ENDPOINT ?
			    "endpoint" : i == CF_ID ? "access key id" :
			    "access key secret", name, config_fields[i].env);
			goto out;
		}
		if (i == CF_ENDPOINT ? config_endpoint(v, &vals[i]) != 0 :
		    !config_value_valid(v) || (vals[i] = strdup(v)) == NULL) {
			if (i != CF_ENDPOINT)
				cli_warn("the %s of profile \"%s\" is not valid",
				    config_fields[i].key, name);
			goto out;
		}
	}
	if ((v = getenv("LATCHKEY_CACERT")) == NULL || *v == '\0')
		v = cli_jstr(prof, "cacert");
	if ((v != NULL && *v != '\0' && (c->prof.cacert = strdup(v)) == NULL) ||
	    (c->prof.name = strdup(name)) == NULL)
		goto out;
	c->prof.endpoint = vals[CF_ENDPOINT];
	c->prof.access_key_id = vals[CF_ID];
	c->prof.access_key_secret = vals[CF_SECRET];
	c->prof.region_id = vals[CF_REGION];
	memset(vals, 0, sizeof(vals));
	c->loaded = 1;
	cli_info(c, "profile %s: endpoint %s, access key %s, region %s",
	    c->prof.name, c->prof.endpoint, c->prof.access_key_id,
	    c->prof.region_id);
	r = 0;
 out:
	for (i = 0; i < CF_N; i++)
		config_freezero(vals[i]);
	json_decref(root);
	return r;
}

void
cli_config_free(struct cli *c)
{
	free(c->prof.name);
	free(c->prof.endpoint);
	free(c->prof.access_key_id);
	config_freezero(c->prof.access_key_secret);
	free(c->prof.region_id);
	free(c->prof.cacert);
	memset(&c->prof, 0, sizeof(c->prof));
	c->loaded = 0;
}

/* ------------------------------------------------------------------ */
/* latchkey configure                                                  */

/* One line from f without its newline; NULL at EOF or on error. */
static char *
config_getline(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if ((n = getline(&line, &cap, f)) <= 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/*
 * Asks for one field on the terminal; an empty answer keeps cur. A secret
 * is read without echo and never shown.
 */
static char *
config_ask(FILE *tty, enum config_field f, const char *cur)
{
	struct termios old, noecho;
	int fd = fileno(tty), echo_off = 0;
	char *line;

	if (f == CF_SECRET)
		fprintf(tty, "%s%s: ", config_fields[f].label,
		    cur != NULL ? " [keep the current one]" : "");
	else
		fprintf(tty, "%s%s%s%s: ", config_fields[f].label,
		    cur != NULL ? " [" : "", cur != NULL ? cur : "",
		    cur != NULL ? "]" : "");
	fflush(tty);
	if (f == CF_SECRET && tcgetattr(fd, &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL;
		echo_off = tcsetattr(fd, TCSANOW, &noecho) == 0;
	}
	line = config_getline(tty);
	if (echo_off)
		tcsetattr(fd, TCSANOW, &old);
	if (line != NULL && *line == '\0' && cur != NULL) {
		free(line);
		line = strdup(cur);
	}
	return line;
}

/* The secret from standard input ("--access-key-secret -"). */
static char *
config_secret_stdin(void)
{
	char *s = config_getline(stdin);

	if (s == NULL)
		cli_warn("--access-key-secret -: nothing on standard input");
	return s;
}

static void
config_list(json_t *root, const char *path)
{
	const char *name, *cur = cli_jstr(root, "current");
	json_t *p, *profiles = json_object_get(root, "profiles");

	if (json_object_size(profiles) == 0) {
		printf("no profiles in %s (make one with: latchkey configure)\n",
		    path);
		return;
	}
	printf("%-2s%-16s %-36s %-24s %s\n", "", "PROFILE", "ENDPOINT",
	    "ACCESS KEY ID", "REGION");
	json_object_foreach(profiles, name, p) {
		const char *e = cli_jstr(p, "endpoint"),
		    *id = cli_jstr(p, "access_key_id"),
		    *rg = cli_jstr(p, "region_id");

		printf("%-2s%-16s %-36s %-24s %s\n", cur != NULL &&
		    strcmp(cur, name) == 0 ? "*" : "", name, e ? e : "-",
		    id ? id : "-", rg ? rg : CLI_REGION_DEFAULT);
	}
}

/* Writes root to path: directory 0700, file 0600, atomically. */
static int
config_write(json_t *root, const char *path)
{
	char dir[PATH_MAX], *text, *nl;
	struct stat st;
	size_t len = 0;
	int r;

	config_dirname(path, dir, sizeof(dir));
	if ((r = lk_fs_mkdirs(dir, 0700)) != 0) {
		cli_warn("cannot make %s: %s", dir, lk_err(r));
		return CLI_EX_CONFIG;
	}
	if (stat(dir, &st) == 0 && st.st_uid == geteuid() &&
	    (st.st_mode & 077) != 0 && strcmp(dir + strlen(dir) -
	    strlen(CONFIG_DIR), CONFIG_DIR) == 0)
		chmod(dir, 0700);
	if ((text = json_dumps(root, JSON_INDENT(2))) == NULL ||
	    (len = strlen(text)) == 0 || (nl = realloc(text, len + 2)) == NULL) {
		free(text);
		cli_warn("out of memory");
		return CLI_EX_CONFIG;
	}
	text = nl;
	text[len++] = '\n';
	text[len] = '\0';
	r = lk_fs_write_atomic(path, text, len, 0600, geteuid(), getegid());
	OPENSSL_cleanse(text, len);
	free(text);
	if (r != 0) {
		cli_warn("cannot write %s: %s", path, lk_err(r));
		return CLI_EX_CONFIG;
	}
	return 0;
}

/* Fills vals: options first, then the terminal for what is missing. */
static int
config_fill(char *vals[CF_N], json_t *prof, int any_option)
{
	FILE *tty = NULL;
	const char *cur;
	char *v;
	int i, r = CLI_EX_CONFIG;

	for (i = 0; i < CF_N; i++) {
		cur = cli_jstr(prof, config_fields[i].key);
		if (vals[i] != NULL)
			continue;
		/* With options given, only what is still missing is asked. */
		if (any_option && i == CF_REGION && (cur == NULL || *cur == '\0'))
			cur = CLI_REGION_DEFAULT;
		if (any_option && cur != NULL && *cur != '\0') {
			if ((vals[i] = strdup(cur)) == NULL)
				goto out;
			continue;
		}
		if (tty == NULL && (tty = fopen("/dev/tty", "r+e")) == NULL) {
			cli_warn("%s is missing and there is no terminal to ask "
			    "on: give %s", config_fields[i].label,
			    config_fields[i].option);
			goto out;
		}
		if (i == CF_REGION && (cur == NULL || *cur == '\0'))
			cur = CLI_REGION_DEFAULT;
		if ((v = config_ask(tty, (enum config_field)i, cur)) == NULL ||
		    *v == '\0') {
			free(v);
			cli_warn("%s: %s", config_fields[i].label,
			    cli_interrupted ? "interrupted" : "no answer");
			goto out;
		}
		vals[i] = v;
	}
	r = 0;
 out:
	if (tty != NULL)
		fclose(tty);
	return r;
}

/*
 * One call with the saved profile (DescribeInstances, one item), so that
 * a wrong endpoint, secret or region shows now rather than at the next
 * command. The profile stays saved either way; the exit status says.
 */
static int
config_check(struct cli *c, const char *name)
{
	struct cli_apierr e;
	struct cli_req q;
	json_t *resp = NULL;
	int r;

	c->profile_opt = name;
	c->loaded = 0;
	if ((r = cli_config_load(c)) != 0)
		return r;
	cli_req_init(&q);
	cli_req_add(&q, "PageSize", "1");
	r = cli_api_call(c, "DescribeInstances", &q, &resp, &e);
	cli_req_free(&q);
	if (r == 0) {
		fprintf(stderr, "latchkey: checked: %s answered; this access "
		    "key sees %lld instance%s\n", c->prof.endpoint,
		    (long long)cli_jint(resp, "TotalCount", 0),
		    cli_jint(resp, "TotalCount", 0) == 1 ? "" : "s");
		json_decref(resp);
		return 0;
	}
	if (r == CLI_EX_API && strcmp(e.code, "Forbidden.RAM") == 0) {
		fprintf(stderr, "latchkey: checked: %s accepts the access key "
		    "(its policy does not allow DescribeInstances)\n",
		    c->prof.endpoint);
		return 0;
	}
	r = cli_api_fail(c, "the check", &e);
	fprintf(stderr, "latchkey: the profile is saved as given; correct it "
	    "with latchkey configure, or --no-check to save without "
	    "checking\n");
	return r;
}

/* Checks vals and stores them as the profile's object in root. */
static int
config_store(json_t *root, const char *name, char *vals[CF_N],
    const char *cacert)
{
	json_t *profiles, *p;
	char *ep = NULL;
	int i;

	for (i = 0; i < CF_N; i++)
		if (!config_value_valid(vals[i])) {
			cli_warn("%s: must be non-empty, at most %d characters, "
			    "without blanks or control characters",
			    config_fields[i].label, CONFIG_VALUE_MAX);
			return CLI_EX_USAGE;
		}
	if (config_endpoint(vals[CF_ENDPOINT], &ep) != 0)
		return CLI_EX_USAGE;
	free(vals[CF_ENDPOINT]);
	vals[CF_ENDPOINT] = ep;
	if (strspn(vals[CF_REGION], "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(vals[CF_REGION])) {
		cli_warn("region: lower-case letters, digits and '-' only");
		return CLI_EX_USAGE;
	}
	if ((profiles = json_object_get(root, "profiles")) == NULL ||
	    !json_is_object(profiles)) {
		profiles = json_object();
		json_object_set_new(root, "profiles", profiles);
	}
	/* An option given as "" removes the CA file; none keeps it. */
	if (cacert == NULL)
		cacert = cli_jstr(json_object_get(profiles, name), "cacert");
	if (cacert != NULL && *cacert != '\0' && *cacert != '/') {
		cli_warn("--cacert: an absolute path");
		return CLI_EX_USAGE;
	}
	if ((p = json_object()) == NULL)
		return CLI_EX_CONFIG;
	for (i = 0; i < CF_N; i++)
		json_object_set_new(p, config_fields[i].key,
		    json_string(vals[i]));
	if (cacert != NULL && *cacert != '\0')
		json_object_set_new(p, "cacert", json_string(cacert));
	json_object_set_new(profiles, name, p);
	if (cli_jstr(root, "current") == NULL ||
	    json_object_get(profiles, cli_jstr(root, "current")) == NULL)
		json_object_set_new(root, "current", json_string(name));
	return 0;
}

int
cli_configure_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "access-key-id", required_argument, NULL, 'i' },
		{ "access-key-secret", required_argument, NULL, 's' },
		{ "region", required_argument, NULL, 'r' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "profile", required_argument, NULL, 'P' },
		{ "output", required_argument, NULL, 'O' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "no-check", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	char path[PATH_MAX], *vals[CF_N] = { NULL };
	int check = 1;
	const char *name, *cacert = NULL;
	json_t *root = NULL;
	int ch, i, exists, explicit, any = 0, r = CLI_EX_USAGE;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		i = ch == 'e' ? CF_ENDPOINT : ch == 'i' ? CF_ID : ch == 's' ?
		    CF_SECRET : ch == 'r' ? CF_REGION : -1;
		if (i >= 0) {
			config_freezero(vals[i]);
			vals[i] = i == CF_SECRET && strcmp(optarg, "-") == 0 ?
			    config_secret_stdin() : strdup(optarg);
			if (vals[i] == NULL)
				goto out;
			any = 1;
			continue;
		}
		switch (ch) {
		case 'C': cacert = optarg; any = 1; break;
		case 'N': check = 0; break;
		case 'P': c->profile_opt = optarg; break;
		case 'O': break;	/* nothing to print in JSON */
		case 'v': c->verbose = 1; break;
		case 'h': cli_usage_of("configure", 0); r = 0; goto out;
		default: cli_usage_of("configure", 1); goto out;
		}
	}
	if (optind < argc && strcmp(argv[optind], "list") == 0 &&
	    optind + 1 == argc) {
		r = CLI_EX_CONFIG;
		if (config_path(path, sizeof(path)) != 0 ||
		    config_read(path, 1, &root, &exists) != 0)
			goto out;
		config_list(root, path);
		r = 0;
		goto out;
	}
	if (optind < argc) {
		cli_usage_of("configure", 1);
		goto out;
	}
	r = CLI_EX_CONFIG;
	if (config_path(path, sizeof(path)) != 0 ||
	    config_read(path, 0, &root, &exists) != 0)
		goto out;
	name = config_profile_name(c, root, &explicit);
	if (!config_name_valid(name)) {
		cli_warn("profile names are letters, digits, '.', '_' and '-' "
		    "(at most %d)", CONFIG_PROFILE_MAX);
		r = CLI_EX_USAGE;
		goto out;
	}
	if ((r = config_fill(vals, json_object_get(json_object_get(root,
	    "profiles"), name), any)) != 0 ||
	    (r = config_store(root, name, vals, cacert)) != 0 ||
	    (r = config_write(root, path)) != 0)
		goto out;
	fprintf(stderr, "latchkey: saved profile \"%s\" in %s: endpoint %s, "
	    "access key %s, region %s%s%s\n", name, path, vals[CF_ENDPOINT],
	    vals[CF_ID], vals[CF_REGION], cacert != NULL && *cacert ?
	    ", CA file " : "", cacert != NULL && *cacert ? cacert : "");
	r = check ? config_check(c, name) : 0;
 out:
	for (i = 0; i < CF_N; i++)
		config_freezero(vals[i]);
	json_decref(root);
	return r;
}
