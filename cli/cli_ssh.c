/*
 * ssh, scp and sftp with an ephemeral key.
 *
 * The key pair is made by ssh-keygen in a fresh mkdtemp(3) directory
 * (mode 0700) and the private half never leaves it. The directory is
 * removed whatever happens: after the tool ends, at exit(3), and from the
 * handlers of INT, TERM and HUP before the tool starts. While the tool
 * runs, latchkey waits for it as system(3) does (INT and QUIT ignored,
 * since the terminal sends them to the tool too; TERM and HUP passed on),
 * then removes the key and exits with the tool's status.
 *
 * Argument handling keeps OpenSSH's: latchkey's own long options and the
 * tool's short options (with their arguments, per the tool's getopt
 * string) may come before the destination; ssh's arguments after the
 * destination are passed unchanged.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "fsutil.h"
#include "sshkey.h"
#include "util.h"

#define SSH_TIMEOUT_DEFAULT	30
#define SSH_ARGS_MAX		4096	/* arguments to the tool */
#define SSH_PUB_MAX		4096	/* bytes of id.pub */

struct ssh_tool {
	const char	*name;		/* ssh, scp, sftp */
	const char	*env;		/* names another program */
	const char	*argopts;	/* short options taking an argument */
	int		 port_flag;	/* 'p' or 'P' */
};

/* From OpenSSH 9.2's getopt strings. */
static const struct ssh_tool ssh_tools[] = {
	{ "ssh", "LATCHKEY_SSH", "bceilmopBDEFIJLOPQRSwW", 'p' },
	{ "scp", "LATCHKEY_SCP", "cDFiJloPSX", 'P' },
	{ "sftp", "LATCHKEY_SFTP", "cDilosSbBFJPRX", 'P' },
};

struct ssh_job {
	const struct ssh_tool	*tool;
	const char		*user;		/* --user / ssh's -l */
	const char		*address;	/* --address */
	const char		*port;		/* --port / ssh's -p */
	int			 timeout;
	int			 install_plugin;
	int			 tunnel;	/* --tunnel */
	char			**pass;		/* the tool's options */
	size_t			 npass;
	char			**operands;	/* in order; for ssh, [0] only */
	size_t			 noperands;
	char			**tail;		/* ssh: after the destination */
	size_t			 ntail;
};

/*
 * The key directory, for the cleanup paths, which may run in a signal
 * handler: fixed buffers, and only unlink(2), rmdir(2) and friends.
 */
static char ssh_dir[PATH_MAX];
static char ssh_key[PATH_MAX + 16];
static char ssh_pub[PATH_MAX + 16];
static char ssh_stamp[PATH_MAX + 16];	/* made when ssh checks the host */
static volatile sig_atomic_t ssh_dir_made;
static volatile pid_t ssh_child;

static void
ssh_keydir_remove(void)
{
	if (!ssh_dir_made)
		return;
	unlink(ssh_key);
	unlink(ssh_pub);
	unlink(ssh_stamp);
	rmdir(ssh_dir);
	ssh_dir_made = 0;
}

/* Before the tool runs: remove the key, then die of the signal. */
static void
ssh_on_signal_early(int sig)
{
	ssh_keydir_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* While the tool runs: pass TERM and HUP on; it will end, we follow. */
static void
ssh_on_signal_child(int sig)
{
	cli_interrupted = sig;
	if (ssh_child > 0)
		kill(ssh_child, sig);
}

static void
ssh_signals(void (*fn)(int), int ignore_int)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = fn;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (ignore_int)
		sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
}

/* Runs argv (stdin /dev/null) and waits; its exit status, or -1. */
static int
ssh_run_quiet(char *const argv[])
{
	pid_t pid;
	int status, fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "latchkey: cannot run %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Makes the key pair in a new private directory; *linep gets the public
 * key's line and fp its fingerprint.
 */
static int
ssh_keygen(struct cli *c, char **linep, char fp[LK_SSHKEY_FP_SIZE])
{
	const char *tmp = getenv("TMPDIR"), *keygen = getenv(
	    "LATCHKEY_SSH_KEYGEN");
	char *argv[12], *buf = NULL;
	struct lk_sshkey *key = NULL;
	sigset_t all, old;
	size_t len;
	int r;

	*linep = NULL;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (keygen == NULL || *keygen == '\0')
		keygen = "ssh-keygen";
	if ((size_t)snprintf(ssh_dir, sizeof(ssh_dir), "%s/latchkey-XXXXXX",
	    tmp) >= sizeof(ssh_dir) - 16) {
		cli_warn("TMPDIR is too long");
		return CLI_EX_LOCAL;
	}
	/* No signal between making the directory and knowing we did. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (mkdtemp(ssh_dir) != NULL)
		ssh_dir_made = 1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (!ssh_dir_made) {
		cli_warn("cannot make a directory in %s: %s", tmp,
		    strerror(errno));
		return CLI_EX_LOCAL;
	}
	snprintf(ssh_key, sizeof(ssh_key), "%s/id", ssh_dir);
	snprintf(ssh_pub, sizeof(ssh_pub), "%s/id.pub", ssh_dir);
	snprintf(ssh_stamp, sizeof(ssh_stamp), "%s/hostkey", ssh_dir);
	cli_info(c, "ephemeral key directory %s", ssh_dir);
	argv[0] = (char *)(uintptr_t)keygen;
	argv[1] = (char *)(uintptr_t)"-q";
	argv[2] = (char *)(uintptr_t)"-t";
	argv[3] = (char *)(uintptr_t)"ed25519";
	argv[4] = (char *)(uintptr_t)"-N";
	argv[5] = (char *)(uintptr_t)"";
	argv[6] = (char *)(uintptr_t)"-C";
	argv[7] = (char *)(uintptr_t)"latchkey-ephemeral";
	argv[8] = (char *)(uintptr_t)"-f";
	argv[9] = ssh_key;
	argv[10] = NULL;
	if ((r = ssh_run_quiet(argv)) != 0) {
		cli_warn("%s failed (%s %d)", keygen, r < 0 ? "status" : "exit",
		    r);
		return CLI_EX_LOCAL;
	}
	if ((r = lk_fs_read(ssh_pub, SSH_PUB_MAX, &buf, &len)) != 0 ||
	    (r = lk_sshkey_parse_line(buf, strcspn(buf, "\n"), &key)) != 0 ||
	    (r = lk_sshkey_to_line(key, 1, linep)) != 0 ||
	    (r = lk_sshkey_fingerprint(key, fp)) != 0) {
		cli_warn("%s: %s", ssh_pub, lk_err(r));
		r = CLI_EX_LOCAL;
	}
	free(buf);
	lk_sshkey_free(key);
	return r;
}

static int
ssh_push_arg(char **argv, size_t *np, const char *s)
{
	if (*np + 1 >= SSH_ARGS_MAX) {
		cli_warn("too many arguments");
		return -1;
	}
	argv[(*np)++] = (char *)(uintptr_t)s;
	argv[*np] = NULL;
	return 0;
}

/* Which long option arg is (--name or --name=value), and its value. */
static int
ssh_long_opt(const char *arg, const char *name, int has_value,
    int *idxp, int argc, char **argv, const char **valp)
{
	size_t n = strlen(name);

	if (strncmp(arg + 2, name, n) != 0 ||
	    (arg[2 + n] != '\0' && arg[2 + n] != '='))
		return 0;
	if (!has_value)
		return arg[2 + n] == '\0' ? 1 : -1;
	if (arg[2 + n] == '=') {
		*valp = arg + 3 + n;
		return 1;
	}
	if (*idxp + 1 >= argc) {
		cli_warn("--%s needs a value", name);
		return -1;
	}
	*valp = argv[++*idxp];
	return 1;
}

/* latchkey's own long options; 1 handled, 0 not ours, -1 error/stop. */
static int
ssh_own_opt(struct cli *c, struct ssh_job *j, int *ip, int argc,
    char **argv, int *exitp)
{
	const char *a = argv[*ip], *v = NULL;
	long long t;
	int k;

	*exitp = CLI_EX_USAGE;
	if ((k = ssh_long_opt(a, "user", 1, ip, argc, argv, &v)) != 0)
		j->user = v;
	else if ((k = ssh_long_opt(a, "address", 1, ip, argc, argv, &v)) != 0)
		j->address = v;
	else if ((k = ssh_long_opt(a, "port", 1, ip, argc, argv, &v)) != 0)
		j->port = v;
	else if ((k = ssh_long_opt(a, "install-plugin", 0, ip, argc, argv,
	    &v)) != 0)
		j->install_plugin = 1;
	else if ((k = ssh_long_opt(a, "tunnel", 0, ip, argc, argv, &v)) != 0)
		j->tunnel = 1;
	else if ((k = ssh_long_opt(a, "profile", 1, ip, argc, argv, &v)) != 0)
		c->profile_opt = v;
	else if ((k = ssh_long_opt(a, "output", 1, ip, argc, argv, &v)) != 0) {
		if (k > 0 && strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
			cli_warn("--output: text or json, not \"%s\"", v);
			return -1;
		}
		c->output = k > 0 && strcmp(v, "json") == 0 ? CLI_OUT_JSON :
		    CLI_OUT_TEXT;
	}
	else if ((k = ssh_long_opt(a, "verbose", 0, ip, argc, argv, &v)) != 0)
		c->verbose = 1;
	else if ((k = ssh_long_opt(a, "help", 0, ip, argc, argv, &v)) != 0) {
		cli_usage_of(j->tool->name, 0);
		*exitp = CLI_EX_OK;
		return -1;
	} else if ((k = ssh_long_opt(a, "timeout", 1, ip, argc, argv,
	    &v)) != 0) {
		if (k > 0 && lk_parse_ll(v, 1, 3600, &t) != 0) {
			cli_warn("--timeout: 1 to 3600 seconds");
			return -1;
		}
		j->timeout = (int)t;
	} else {
		cli_warn("unknown option %s", a);
		cli_usage_of(j->tool->name, 1);
		return -1;
	}
	if (k < 0)
		cli_usage_of(j->tool->name, 1);
	return k;
}

/*
 * A cluster of the tool's short options ("-vL" "8080:x:80") is passed on
 * as it is, with the next word when its last option takes an argument.
 * ssh's -l USER and -p PORT are latchkey's --user and --port.
 */
static int
ssh_short_opts(struct ssh_job *j, int *ip, int argc, char **argv)
{
	const char *a = argv[*ip], *v;
	size_t k;

	if (j->tool->port_flag == 'p' && (a[1] == 'l' || a[1] == 'p')) {
		if ((v = a[2] != '\0' ? a + 2 : NULL) == NULL) {
			if (*ip + 1 >= argc)
				goto noarg;
			v = argv[++*ip];
		}
		if (a[1] == 'l')
			j->user = v;
		else
			j->port = v;
		return 0;
	}
	j->pass[j->npass++] = argv[*ip];
	for (k = 1; a[k] != '\0'; k++) {
		if (strchr(j->tool->argopts, a[k]) == NULL)
			continue;
		/* The rest of the cluster, or the next word, is its value. */
		if (a[k + 1] == '\0') {
			if (*ip + 1 >= argc)
				goto noarg;
			j->pass[j->npass++] = argv[++*ip];
		}
		break;
	}
	return 0;
 noarg:
	cli_warn("option %s needs a value", a);
	cli_usage_of(j->tool->name, 1);
	return -1;
}

/*
 * Splits argv into the tool's options, latchkey's, the operands and (ssh)
 * the command. Options may come before or after ssh's destination (ssh
 * reads both); the command starts at "--" or at the first word after the
 * destination that is not an option, and is passed on unchanged.
 */
static int
ssh_parse(struct cli *c, struct ssh_job *j, int argc, char **argv, int *exitp)
{
	int i, is_ssh = strcmp(j->tool->name, "ssh") == 0, dashdash = 0;
	const char *a;

	*exitp = CLI_EX_USAGE;
	if ((j->pass = calloc((size_t)argc + 1, sizeof(char *))) == NULL ||
	    (j->operands = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		return -1;
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (is_ssh && j->noperands == 1 && (dashdash || a[0] != '-' ||
		    strcmp(a, "--") == 0 || a[1] == '\0')) {
			j->tail = argv + i;
			j->ntail = (size_t)(argc - i);
			break;
		}
		if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && strncmp(a, "--", 2) == 0) {
			if (ssh_own_opt(c, j, &i, argc, argv, exitp) < 0)
				return -1;
			continue;
		}
		if (!dashdash && a[0] == '-' && a[1] != '\0') {
			if (ssh_short_opts(j, &i, argc, argv) != 0)
				return -1;
			continue;
		}
		j->operands[j->noperands++] = argv[i];
	}
	if (j->noperands == 0 || (strcmp(j->tool->name, "sftp") == 0 &&
	    j->noperands != 1) || (strcmp(j->tool->name, "scp") == 0 &&
	    j->noperands < 2)) {
		cli_usage_of(j->tool->name, 1);
		return -1;
	}
	return 0;
}

/*
 * Splits "[user@]host[:path]" (colon only for scp and sftp). *hostp and
 * *pathp (NULL without ':') are new strings; *userp points into s.
 */
static int
ssh_split_dest(const char *s, int colon, char **userp, char **hostp,
    const char **pathp)
{
	const char *at = NULL, *h = s, *p = NULL, *q;

	*userp = NULL;
	*hostp = NULL;
	*pathp = NULL;
	if ((q = strchr(s, '@')) != NULL &&
	    (!colon || strchr(s, ':') == NULL || q < strchr(s, ':'))) {
		at = q;
		h = q + 1;
	}
	if (colon && (q = strchr(h, ':')) != NULL)
		p = q;
	if ((*hostp = strndup(h, p != NULL ? (size_t)(p - h) : strlen(h))) ==
	    NULL || (at != NULL && (*userp = strndup(s, (size_t)(at - s))) ==
	    NULL)) {
		free(*hostp);
		*hostp = NULL;
		return -1;
	}
	*pathp = p;		/* ":path" or NULL */
	return 0;
}

/* scp's rule: a colon before any slash makes an operand remote. */
static int
ssh_scp_remote(const char *s)
{
	const char *colon = strchr(s, ':'), *slash = strchr(s, '/');

	return colon != NULL && colon != s && (slash == NULL || colon < slash);
}

/* "user@address" (address in brackets when it has a colon) + suffix. */
static char *
ssh_dest(const char *user, const char *address, const char *suffix,
    int brackets)
{
	char *s;
	int b = brackets && strchr(address, ':') != NULL;

	if (asprintf(&s, "%s@%s%s%s%s", user, b ? "[" : "", address,
	    b ? "]" : "", suffix != NULL ? suffix : "") == -1)
		return NULL;
	return s;
}

/* Runs the tool and waits; its exit status (128 + signal if killed). */
static int
ssh_exec(struct cli *c, char **argv)
{
	pid_t pid;
	int status;
	size_t i;

	if (c->verbose) {
		fputs("latchkey: running", stderr);
		for (i = 0; argv[i] != NULL; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
	}
	fflush(stdout);
	fflush(stderr);
	ssh_signals(ssh_on_signal_child, 1);
	if ((pid = fork()) == -1) {
		cli_warn("fork: %s", strerror(errno));
		return CLI_EX_LOCAL;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "latchkey: cannot run %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	ssh_child = pid;
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			status = 255 << 8;
			break;
		}
	ssh_child = 0;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The instance named by the operands, their rewritten forms. */
struct ssh_target {
	char		*what;		/* INSTANCE as given */
	char		*user;		/* USER@ as given, or NULL */
	char		*proxy;		/* "ProxyCommand=..." for --tunnel */
	char		*known;		/* "KnownHostsCommand=..." */
	char		*algs;		/* "HostKeyAlgorithms=...", or NULL */
	struct cli_inst	 inst;
};

/* Finds the one instance the operands name (scp: possibly several). */
static int
ssh_target(struct ssh_job *j, struct ssh_target *t)
{
	int scp = strcmp(j->tool->name, "scp") == 0;
	const char *path;
	char *user, *host;
	size_t i;

	for (i = 0; i < j->noperands; i++) {
		if (scp && !ssh_scp_remote(j->operands[i]))
			continue;
		if (ssh_split_dest(j->operands[i], scp ||
		    strcmp(j->tool->name, "sftp") == 0, &user, &host,
		    &path) != 0)
			return CLI_EX_LOCAL;
		if (t->what != NULL && strcmp(t->what, host) != 0) {
			cli_warn("scp: name one instance only (%s and %s)",
			    t->what, host);
			free(user);
			free(host);
			return CLI_EX_USAGE;
		}
		if (t->what == NULL) {
			t->what = host;
			t->user = user;
		} else {
			free(host);
			free(user);
		}
		if (!scp)
			break;
	}
	if (t->what == NULL) {
		cli_warn("scp: name the instance as [USER@]INSTANCE:PATH");
		return CLI_EX_USAGE;
	}
	return 0;
}

/* The tool's argv: its options, ours, then the operands rewritten. */
static int
ssh_argv(struct ssh_job *j, struct ssh_target *t, const char *user,
    const char *address, char **argv, char **owned, size_t *nownedp)
{
	const char *prog = getenv(j->tool->env), *path;
	int colon = strcmp(j->tool->name, "ssh") != 0;
	const char *pflag = j->tool->port_flag == 'p' ? "-p" : "-P";
	char *u, *h, *d;
	static char alias[128];
	size_t n = 0, i;

	ssh_push_arg(argv, &n, prog != NULL && *prog ? prog : j->tool->name);
	for (i = 0; i < j->npass; i++)
		ssh_push_arg(argv, &n, j->pass[i]);
	snprintf(alias, sizeof(alias), "HostKeyAlias=%s", t->inst.id);
	ssh_push_arg(argv, &n, "-i");
	ssh_push_arg(argv, &n, ssh_key);
	ssh_push_arg(argv, &n, "-o");
	ssh_push_arg(argv, &n, "IdentitiesOnly=yes");
	ssh_push_arg(argv, &n, "-o");
	ssh_push_arg(argv, &n, alias);
	if (j->port != NULL) {
		ssh_push_arg(argv, &n, pflag);
		ssh_push_arg(argv, &n, j->port);
	}
	if (t->proxy != NULL) {
		ssh_push_arg(argv, &n, "-o");
		ssh_push_arg(argv, &n, t->proxy);
	}
	/* After the user's own -o: theirs win, as ssh takes the first. */
	ssh_push_arg(argv, &n, "-o");
	ssh_push_arg(argv, &n, t->known);
	if (t->algs != NULL) {
		ssh_push_arg(argv, &n, "-o");
		ssh_push_arg(argv, &n, t->algs);
	}
	ssh_push_arg(argv, &n, "-o");
	ssh_push_arg(argv, &n, "StrictHostKeyChecking=yes");
	if (colon && strcmp(j->tool->name, "scp") == 0)
		ssh_push_arg(argv, &n, "--");
	for (i = 0; i < j->noperands; i++) {
		if (colon && strcmp(j->tool->name, "scp") == 0 &&
		    !ssh_scp_remote(j->operands[i])) {
			ssh_push_arg(argv, &n, j->operands[i]);
			continue;
		}
		if (ssh_split_dest(j->operands[i], colon, &u, &h, &path) != 0)
			return -1;
		free(u);
		free(h);
		if ((d = ssh_dest(user, address, path, colon)) == NULL)
			return -1;
		owned[(*nownedp)++] = d;
		if (ssh_push_arg(argv, &n, d) != 0)
			return -1;
	}
	for (i = 0; i < j->ntail; i++)
		if (ssh_push_arg(argv, &n, j->tail[i]) != 0)
			return -1;
	return 0;
}

/* Single-quotes s for the shell ssh runs ProxyCommand with. */
static int
ssh_shquote(char *out, size_t size, const char *s)
{
	size_t n = 0;

	if (n + 1 >= size)
		return -1;
	out[n++] = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			if (n + 4 >= size)
				return -1;
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			if (n + 1 >= size)
				return -1;
			out[n++] = *s;
		}
	}
	if (n + 2 > size)
		return -1;
	out[n++] = '\'';
	out[n] = '\0';
	return 0;
}

/*
 * HostKeyAlgorithms=^TYPES: the key types the instance's agent reported
 * (DescribeInstanceHostKeys, one call on the connection already open),
 * in ssh's order of preference, put at the head of ssh's default list,
 * which stays whole. Unless the list is given so (or whole), ssh runs
 * KnownHostsCommand once more per connection only to order it, which
 * costs some 20 ms (a process of ssh's, and ours); so it runs it once,
 * for the key the server presents. No keys, or no answer (a key without
 * that action: KnownHostsCommand will say so), leave ssh's default.
 */
static void
ssh_hostkey_algs(struct cli *c, struct ssh_target *t)
{
	static const struct { const char *type, *algs; } pref[] = {
		{ "ssh-ed25519", "ssh-ed25519" },
		{ "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256" },
		{ "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384" },
		{ "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521" },
		{ "ssh-rsa", "rsa-sha2-512,rsa-sha2-256" },
	};
	struct cli_apierr e;
	struct cli_req q;
	json_t *resp = NULL, *v;
	const char *type;
	char list[256];
	size_t i, k, n = 0;
	int have[sizeof(pref) / sizeof(pref[0])] = { 0 };

	cli_req_init(&q);
	cli_req_add(&q, "InstanceId", t->inst.id);
	if (cli_api_call(c, "DescribeInstanceHostKeys", &q, &resp, &e) != 0) {
		cli_req_free(&q);
		cli_info(c, "host key types not known: %s", e.code);
		return;
	}
	cli_req_free(&q);
	json_array_foreach(cli_jlist(resp, "HostKeys", "HostKey"), i, v)
		if ((type = cli_jstr(v, "KeyType")) != NULL)
			for (k = 0; k < sizeof(pref) / sizeof(pref[0]); k++)
				if (strcmp(type, pref[k].type) == 0)
					have[k] = 1;
	json_decref(resp);
	list[0] = '\0';
	for (k = 0; k < sizeof(pref) / sizeof(pref[0]); k++)
		if (have[k])
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
			    n > 0 ? "," : "", pref[k].algs);
	if (n == 0 || asprintf(&t->algs, "HostKeyAlgorithms=^%s", list) < 0)
		t->algs = NULL;
}

/*
 * The -o options that run this program again from ssh: ProxyCommand
 * (--tunnel, t->proxy) and KnownHostsCommand (always, t->known). ssh
 * expands % and runs them with the shell, so the path and the profile
 * are quoted and the instance id (checked: "i-" and safe bytes) is not.
 */
static int
ssh_self_options(struct cli *c, struct ssh_target *t, int tunnel)
{
	char self[PATH_MAX], qself[2 * PATH_MAX], qprof[512], qstamp[
	    2 * sizeof(ssh_stamp)];
	const char *p;
	ssize_t n;

	for (p = t->inst.id; *p != '\0'; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *p) == NULL) {
			cli_warn("the control plane gave an instance id with "
			    "unexpected characters");
			return CLI_EX_API;
		}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
		cli_warn("cannot find this program's path for ssh's "
		    "KnownHostsCommand");
		return CLI_EX_LOCAL;
	}
	self[n] = '\0';
	qprof[0] = '\0';
	if (ssh_shquote(qself, sizeof(qself), self) != 0 ||
	    strchr(self, '%') != NULL || strchr(ssh_stamp, '%') != NULL ||
	    ssh_shquote(qstamp, sizeof(qstamp), ssh_stamp) != 0 ||
	    (c->profile_opt != NULL && (strlen(c->profile_opt) > 200 ||
	    strchr(c->profile_opt, '%') != NULL ||
	    ssh_shquote(qprof, sizeof(qprof), c->profile_opt) != 0))) {
		cli_warn("this program's path, TMPDIR or the profile's name "
		    "cannot be passed to ssh (a %% or too long)");
		return CLI_EX_USAGE;
	}
	if (tunnel && asprintf(&t->proxy, "ProxyCommand=%s%s%s proxy %s %%p",
	    qself, *qprof ? " --profile " : "", qprof, t->inst.id) < 0) {
		t->proxy = NULL;
		return CLI_EX_LOCAL;
	}
	if (asprintf(&t->known, "KnownHostsCommand=%s%s%s known-hosts "
	    "--instance %s --stamp %s %%H %%f", qself, *qprof ?
	    " --profile " : "", qprof, t->inst.id, qstamp) < 0) {
		t->known = NULL;
		return CLI_EX_LOCAL;
	}
	return 0;
}

/*
 * ssh failed (255): if it reached the server's host key check only
 * after the pushed key had expired, that is why the login was refused.
 */
static void
ssh_explain_late(const char *user, const char *id, time_t expires)
{
	struct stat st;
	char at[32], was[32];

	if (stat(ssh_stamp, &st) != 0 || st.st_mtime <= expires)
		return;
	lk_time_iso(expires, was, sizeof(was));
	lk_time_iso(st.st_mtime, at, sizeof(at));
	cli_warn("ssh reached %s at %s, after the key pushed for %s had "
	    "expired (%s; a pushed key is accepted for %d seconds): run "
	    "the command again", id, at, user, was, CLI_KEY_TTL);
}

/* Resolves, makes and pushes the key, runs the tool; its status. */
static int
ssh_go(struct cli *c, struct ssh_job *j, struct ssh_target *t)
{
	struct cli_sendkey sk;
	char **argv = NULL, **owned = NULL, *line = NULL, fp[LK_SSHKEY_FP_SIZE];
	const char *user, *address;
	size_t nowned = 0, i;
	time_t expires;
	int r, tunnel = 0;

	if ((r = ssh_target(j, t)) != 0 || (r = cli_config_load(c)) != 0 ||
	    (r = cli_inst_resolve(c, t->what, &t->inst)) != 0)
		return r;
	user = j->user != NULL ? j->user : t->user != NULL ? t->user : "root";
	if (j->tunnel || (j->address == NULL && t->inst.address == NULL)) {
		/* Through the session relay: ssh runs latchkey proxy. */
		tunnel = 1;
		address = t->inst.id;
		cli_info(c, "connecting through the session tunnel");
	} else if ((address = j->address) == NULL)
		address = t->inst.address;
	if (lk_user_valid(user) != 0) {
		cli_warn("\"%s\" is not a valid login user name", user);
		return CLI_EX_USAGE;
	}
	ssh_signals(ssh_on_signal_early, 0);
	atexit(ssh_keydir_remove);
	if ((r = ssh_keygen(c, &line, fp)) != 0 ||
	    (r = ssh_self_options(c, t, tunnel)) != 0)
		goto out;
	cli_info(c, "ephemeral key %s", fp);
	memset(&sk, 0, sizeof(sk));
	sk.instance = t->inst.id;
	sk.user = user;
	sk.key_line = line;
	sk.timeout = j->timeout;
	sk.install_plugin = j->install_plugin;
	if ((r = cli_sendkey_push(c, &sk)) != 0)
		goto out;
	ssh_hostkey_algs(c, t);
	/* Stored before its result came; so it expires no later than this. */
	expires = time(NULL) + CLI_KEY_TTL;
	cli_info(c, "key %s for %s on %s until %s", fp, user, t->inst.id,
	    sk.expires);
	if ((argv = calloc(SSH_ARGS_MAX, sizeof(char *))) == NULL ||
	    (owned = calloc(j->noperands + 1, sizeof(char *))) == NULL ||
	    ssh_argv(j, t, user, address, argv, owned, &nowned) != 0) {
		r = CLI_EX_LOCAL;
		goto out;
	}
	r = ssh_exec(c, argv);
	if (r == 255 && sk.skew_known)
		cli_warn("if the login was refused: the clock of %s is %lld s "
		    "%s latchkeyd's, the likely cause (its key store and sshd "
		    "judge the key's %d seconds by that clock); set the "
		    "server's time (NTP) and run the command again",
		    t->inst.id, sk.skew_s < 0 ? -sk.skew_s : sk.skew_s,
		    sk.skew_s > 0 ? "ahead of" : "behind", CLI_KEY_TTL);
	else if (r == 255)
		ssh_explain_late(user, t->inst.id, expires);
 out:
	ssh_keydir_remove();
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(argv);
	free(line);
	return r;
}

int
cli_ssh_main(struct cli *c, const char *prog, int argc, char **argv)
{
	struct ssh_job j;
	struct ssh_target t;
	size_t i;
	int r;

	memset(&j, 0, sizeof(j));
	memset(&t, 0, sizeof(t));
	j.timeout = SSH_TIMEOUT_DEFAULT;
	for (i = 0; i < sizeof(ssh_tools) / sizeof(ssh_tools[0]); i++)
		if (strcmp(ssh_tools[i].name, prog) == 0)
			j.tool = &ssh_tools[i];
	if (j.tool == NULL)
		return CLI_EX_USAGE;
	if (ssh_parse(c, &j, argc, argv, &r) != 0)
		goto out;
	r = ssh_go(c, &j, &t);
 out:
	free(t.what);
	free(t.user);
	free(t.proxy);
	free(t.known);
	free(t.algs);
	cli_inst_free(&t.inst);
	free(j.pass);
	free(j.operands);
	return r;
}
