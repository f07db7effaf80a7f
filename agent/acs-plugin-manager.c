/*
 * acs-plugin-manager: runs, lists and removes latchkey plug-ins, with the
 * command line of Alibaba Cloud's manager of the same name, so that the
 * seed procedure's literal command works unchanged:
 *
 *	acs-plugin-manager -e -P config_ecs_instance_connect --params --install
 *
 * A plug-in is a package directory <plugindir>/<name>/ holding a program
 * <name> and a one-line VERSION file. The manager runs that program as
 * root with fork/execve (no shell), a minimal environment and the
 * arguments given by --params, passes its exit status on, remembers which
 * plug-ins are installed in <root>/var/lib/latchkey/plugins/installed and
 * logs one line per action in <root>/var/log/latchkey/acs-plugin-manager.log.
 *
 * Plug-in names come from the command line and end up in a path that root
 * executes, so they are checked against [a-z0-9_]{1,64} and the program,
 * its package and every ancestor directory must be owned by root and not
 * writable by group or others. See acs-plugin-manager(8), docs/plugins.md.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fsutil.h"
#include "log.h"
/* LK_PLUGINDIR: $(PREFIX)/lib/latchkey/plugins, from the Makefile. */
#include "lk_paths.h"

#define APM_PROGNAME		"acs-plugin-manager"
#define APM_VERSION		"1.0.0"
#define APM_NAME_MAX		64	/* longest plug-in name */
#define APM_VERSION_MAX		32	/* longest VERSION line */
#define APM_PARAMS_MAX		4096	/* longest --params value */
#define APM_ARGS_MAX		32	/* arguments split from --params */
#define APM_ENTRIES_MAX		256	/* installed plug-ins remembered */
#define APM_INSTALLED_MAX	(64 * 1024)	/* size of the record */
#define APM_ENV_PATH		"/usr/sbin:/usr/bin:/sbin:/bin"
#define APM_DEFAULT_SSHD	"/usr/sbin/sshd"
#define APM_INSTALLED_DIR	"/var/lib/latchkey/plugins"
#define APM_INSTALLED_FILE	"/var/lib/latchkey/plugins/installed"
#define APM_LOG_DIR		"/var/log/latchkey"
#define APM_LOG_FILE		"/var/log/latchkey/acs-plugin-manager.log"

/* Exit statuses; 1-63 are a plug-in's own, passed on unchanged. */
#define APM_EXIT_OK		0
#define APM_EXIT_USAGE		64	/* bad command line */
#define APM_EXIT_BADNAME	65	/* plug-in name not [a-z0-9_]{1,64} */
#define APM_EXIT_UNKNOWN	66	/* no such plug-in package */
#define APM_EXIT_PLUGIN		70	/* plug-in not run, killed or >63 */
#define APM_EXIT_IO		74	/* own state or log not written */
#define APM_EXIT_NOTROOT	77	/* needs root */
#define APM_EXIT_CONFIG		78	/* bad LATCHKEY_* or unsafe package */

enum apm_action {
	APM_NONE,
	APM_EXEC,
	APM_REMOVE,
	APM_LIST,
	APM_STATUS,
	APM_HELP,
	APM_SHOW_VERSION,
};

struct apm_opts {
	enum apm_action	 action;
	const char	*plugin;	/* NULL when not given */
	const char	*params;	/* NULL when not given */
	int		 local;
};

/* The environment every action works in, read once from LATCHKEY_*. */
struct apm_env {
	char	 root[PATH_MAX];	/* prefix, "" for "/" */
	char	 rootarg[PATH_MAX];	/* LATCHKEY_ROOT as passed on */
	char	 plugindir[PATH_MAX];
	char	 sshd[PATH_MAX];
	char	 pidfile[PATH_MAX];	/* "" when unset */
};

struct apm_entry {
	char	 name[APM_NAME_MAX + 1];
	char	 version[APM_VERSION_MAX + 1];
	char	 when[32];
};

struct apm_installed {
	struct apm_entry e[APM_ENTRIES_MAX];
	size_t		 n;
};

/* A plug-in package that passed the checks, ready to run. */
struct apm_pkg {
	char	 name[APM_NAME_MAX + 1];
	char	 prog[PATH_MAX];
	char	 version[APM_VERSION_MAX + 1];
};

static void	apm_usage(FILE *);
static int	apm_parse_args(int, char **, struct apm_opts *);
static int	apm_env_init(struct apm_env *);
static int	apm_name_valid(const char *);
static int	apm_path(char *, size_t, const char *, const char *);
static int	apm_path_safe(const char *, int, char *);
static int	apm_pkg_open(const struct apm_env *, const char *,
		    struct apm_pkg *);
static void	apm_read_version(const char *, char *, size_t);
static int	apm_run(const struct apm_env *, const struct apm_pkg *,
		    char **, size_t);
static int	apm_inst_load(const struct apm_env *, struct apm_installed *);
static int	apm_inst_save(const struct apm_env *,
		    const struct apm_installed *);
static void	apm_log(const struct apm_env *, const char *, const char *,
		    const char *, int);
static int	apm_exec(const struct apm_env *, const struct apm_opts *);
static int	apm_remove(const struct apm_env *, const struct apm_opts *);
static int	apm_list(const struct apm_env *, const struct apm_opts *);
static int	apm_status(const struct apm_env *, const struct apm_opts *);

static void
apm_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s -e -P NAME [--params ARG[,ARG...]]\n"
	    "       %s -r -P NAME\n"
	    "       %s -l [--local] [-P NAME]\n"
	    "       %s --status [-P NAME]\n"
	    "       %s -h | -V\n"
	    "\n"
	    "  -e, --exec          run plug-in NAME with the arguments of --params\n"
	    "  -P, --plugin NAME   the plug-in ([a-z0-9_]+)\n"
	    "  -p, --params ARGS   comma-separated arguments for the plug-in; the\n"
	    "                      next word is taken as is, even if it starts with -\n"
	    "  -r, --remove        run the plug-in with --uninstall, then forget it\n"
	    "  -l, --list          list the plug-ins in the plug-in directory\n"
	    "      --local         with -l: only the installed ones\n"
	    "      --status        run each installed plug-in with --status\n"
	    "  -h, --help          this help\n"
	    "  -V, --version       print the version\n",
	    APM_PROGNAME, APM_PROGNAME, APM_PROGNAME, APM_PROGNAME,
	    APM_PROGNAME);
}

/*
 * Matches argv[*ip] against an option that takes a value, in the forms
 * "-P NAME", "-PNAME", "--plugin NAME" and "--plugin=NAME". The separate
 * value is taken as is even when it starts with '-': that is how
 * "--params --install" passes "--install" to the plug-in. Returns 1 and
 * sets *valp when it matched, 0 when it did not, -1 when the value is
 * missing.
 */
static int
apm_optval(int argc, char **argv, int *ip, const char *sopt,
    const char *lopt, const char **valp)
{
	const char *a = argv[*ip];
	size_t llen = strlen(lopt);

	if (strcmp(a, lopt) == 0 || (sopt != NULL && strcmp(a, sopt) == 0)) {
		if (*ip + 1 >= argc)
			return -1;
		*valp = argv[++*ip];
		return 1;
	}
	if (strncmp(a, lopt, llen) == 0 && a[llen] == '=') {
		*valp = a + llen + 1;
		return 1;
	}
	if (sopt != NULL && strncmp(a, sopt, 2) == 0 && a[2] != '\0') {
		*valp = a + 2;
		return 1;
	}
	return 0;
}

static int
apm_set_action(struct apm_opts *o, enum apm_action act, const char *opt)
{
	if (o->action != APM_NONE && o->action != act) {
		log_warnx("option %s cannot be combined with another action "
		    "(see --help)", opt);
		return -1;
	}
	o->action = act;
	return 0;
}

/* Maps a flag without a value to its action; returns APM_NONE if none. */
static enum apm_action
apm_flag_action(const char *a)
{
	static const struct {
		const char	*s, *l;
		enum apm_action	 act;
	} flags[] = {
		{ "-e", "--exec", APM_EXEC },
		{ "-r", "--remove", APM_REMOVE },
		{ "-l", "--list", APM_LIST },
		{ NULL, "--status", APM_STATUS },
		{ "-h", "--help", APM_HELP },
		{ "-V", "--version", APM_SHOW_VERSION },
	};
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if ((flags[i].s != NULL && strcmp(a, flags[i].s) == 0) ||
		    strcmp(a, flags[i].l) == 0)
			return flags[i].act;
	return APM_NONE;
}

static int
apm_parse_args(int argc, char **argv, struct apm_opts *o)
{
	enum apm_action act;
	const char *v;
	int i, m;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if ((act = apm_flag_action(argv[i])) != APM_NONE) {
			if (apm_set_action(o, act, argv[i]) != 0)
				return -1;
		} else if (strcmp(argv[i], "--local") == 0)
			o->local = 1;
		else if ((m = apm_optval(argc, argv, &i, "-P", "--plugin",
		    &v)) != 0) {
			if (m == -1)
				goto missing;
			o->plugin = v;
		} else if ((m = apm_optval(argc, argv, &i, "-p", "--params",
		    &v)) != 0) {
			if (m == -1)
				goto missing;
			o->params = v;
		} else {
			log_warnx("unknown option or argument \"%.64s\" "
			    "(see --help)", argv[i]);
			return -1;
		}
	}
	if (o->action == APM_NONE) {
		log_warnx("no action given: use -e, -r, -l or --status "
		    "(see --help)");
		return -1;
	}
	if ((o->action == APM_EXEC || o->action == APM_REMOVE) &&
	    o->plugin == NULL) {
		log_warnx("option -P NAME is required with %s (see --help)",
		    o->action == APM_EXEC ? "-e" : "-r");
		return -1;
	}
	if (o->local && o->action != APM_LIST) {
		log_warnx("option --local goes with -l (see --help)");
		return -1;
	}
	if (o->params != NULL && o->action != APM_EXEC) {
		log_warnx("option --params goes with -e (see --help)");
		return -1;
	}
	return 0;
 missing:
	log_warnx("option %s needs a value (see --help)", argv[i]);
	return -1;
}

/* A path we pass on or build on: absolute, printable, no blanks, no "..". */
static int
apm_env_value_valid(const char *s)
{
	size_t i;

	if (s[0] != '/' || strlen(s) >= PATH_MAX / 2)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return strstr(s, "/../") == NULL &&
	    (i < 3 || strcmp(s + i - 3, "/..") != 0);
}

static int
apm_env_get(const char *var, const char *def, char *buf, size_t len)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		v = def;
	if (v == NULL) {
		buf[0] = '\0';
		return 0;
	}
	if (!apm_env_value_valid(v)) {
		log_warnx("%s must be an absolute path without blanks, "
		    "control characters or \"..\"", var);
		return -1;
	}
	if ((size_t)snprintf(buf, len, "%s", v) >= len)
		return -1;
	return 0;
}

static int
apm_env_init(struct apm_env *env)
{
	size_t n;

	memset(env, 0, sizeof(*env));
	if (apm_env_get("LATCHKEY_ROOT", "/", env->rootarg,
	    sizeof(env->rootarg)) != 0 ||
	    apm_env_get("LATCHKEY_PLUGIN_DIR", LK_PLUGINDIR, env->plugindir,
	    sizeof(env->plugindir)) != 0 ||
	    apm_env_get("LATCHKEY_SSHD", APM_DEFAULT_SSHD, env->sshd,
	    sizeof(env->sshd)) != 0 ||
	    apm_env_get("LATCHKEY_SSHD_PIDFILE", NULL, env->pidfile,
	    sizeof(env->pidfile)) != 0)
		return -1;
	/* The root is a prefix: "/" becomes "", "/a/b/" becomes "/a/b". */
	memcpy(env->root, env->rootarg, sizeof(env->root));
	n = strlen(env->root);
	while (n > 0 && env->root[n - 1] == '/')
		env->root[--n] = '\0';
	return 0;
}

static int
apm_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return 0;
	return i > 0 && i <= APM_NAME_MAX;
}

/* Joins prefix and rest into buf; returns 0 or LK_ERR_TOO_LONG. */
static int
apm_path(char *buf, size_t len, const char *prefix, const char *rest)
{
	if ((size_t)snprintf(buf, len, "%s%s", prefix, rest) >= len)
		return LK_ERR_TOO_LONG;
	return 0;
}

/*
 * Checks path after resolving symbolic links: it and every ancestor must
 * be owned by root and not writable by group or others (the rule sshd
 * applies to an AuthorizedKeysCommand, for the same reason: root runs it).
 * With want_file the path itself must be a regular file, else a directory.
 * The resolved path goes to resolved (PATH_MAX bytes): that, and not path,
 * is what the caller may use, since a link outside root's directories
 * could change after the check. Returns 0, LK_ERR_NOT_FOUND or
 * LK_ERR_UNSAFE (after saying why).
 */
static int
apm_path_safe(const char *path, int want_file, char *resolved)
{
	char real[PATH_MAX], *slash;
	struct stat st;
	int first = 1;

	if (realpath(path, real) == NULL)
		return errno == ENOENT || errno == ENOTDIR ?
		    LK_ERR_NOT_FOUND : LK_ERR_SYSTEM;
	memcpy(resolved, real, PATH_MAX);
	for (;;) {
		if (stat(real, &st) == -1)
			return LK_ERR_SYSTEM;
		if (first && (want_file ? !S_ISREG(st.st_mode) :
		    !S_ISDIR(st.st_mode))) {
			log_warnx("%s: not a %s", real,
			    want_file ? "regular file" : "directory");
			return LK_ERR_UNSAFE;
		}
		if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
			log_warnx("%s: must be owned by root and not writable "
			    "by group or others", real);
			return LK_ERR_UNSAFE;
		}
		if (strcmp(real, "/") == 0)
			return 0;
		if ((slash = strrchr(real, '/')) == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		first = 0;
	}
}

/* Reads the first line of a package's VERSION, or "unknown". */
static void
apm_read_version(const char *file, char *out, size_t outlen)
{
	char *buf = NULL;
	size_t len, i;

	snprintf(out, outlen, "unknown");
	if (lk_fs_read(file, 4096, &buf, &len) != 0)
		return;
	for (i = 0; i < len && buf[i] != '\n'; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		    (buf[i] >= 'a' && buf[i] <= 'z') ||
		    (buf[i] >= 'A' && buf[i] <= 'Z') ||
		    strchr(".+~-_", buf[i]) != NULL))
			break;
	if (i > 0 && i <= APM_VERSION_MAX && i < outlen &&
	    (i == len || buf[i] == '\n')) {
		memcpy(out, buf, i);
		out[i] = '\0';
	}
	free(buf);
}

/*
 * Finds the package of plug-in name and checks it is safe to run as
 * root. Returns 0, or an exit status after printing why not.
 */
static int
apm_pkg_open(const struct apm_env *env, const char *name, struct apm_pkg *pkg)
{
	char dir[PATH_MAX], file[PATH_MAX], path[PATH_MAX];
	int r;

	memset(pkg, 0, sizeof(*pkg));
	if (!apm_name_valid(name)) {
		log_warnx("invalid plug-in name \"%.64s\": use 1 to %d of "
		    "a-z, 0-9 and _", name, APM_NAME_MAX);
		return APM_EXIT_BADNAME;
	}
	if (snprintf(dir, sizeof(dir), "%s/%s", env->plugindir, name) >=
	    (int)sizeof(dir) || snprintf(pkg->prog, sizeof(pkg->prog),
	    "%s/%s", dir, name) >= (int)sizeof(pkg->prog) ||
	    snprintf(file, sizeof(file), "%s/VERSION", dir) >=
	    (int)sizeof(file)) {
		log_warnx("plug-in directory path too long");
		return APM_EXIT_CONFIG;
	}
	memcpy(path, pkg->prog, sizeof(path));
	if ((r = apm_path_safe(path, 1, pkg->prog)) == LK_ERR_NOT_FOUND) {
		log_warnx("unknown plug-in \"%s\": no %s in %s", name, name,
		    env->plugindir);
		return APM_EXIT_UNKNOWN;
	}
	if (r != 0) {
		if (r != LK_ERR_UNSAFE)
			log_warnx("%s: %s", pkg->prog, lk_err(r));
		log_warnx("refusing to run plug-in \"%s\"", name);
		return APM_EXIT_CONFIG;
	}
	if (access(pkg->prog, X_OK) != 0) {
		log_warnx("%s: not executable", pkg->prog);
		return APM_EXIT_CONFIG;
	}
	snprintf(pkg->name, sizeof(pkg->name), "%s", name);
	apm_read_version(file, pkg->version, sizeof(pkg->version));
	return 0;
}

/* Builds "VAR=value" in buf; value is never empty here. */
static char *
apm_envvar(char *buf, size_t len, const char *var, const char *value)
{
	snprintf(buf, len, "%s=%s", var, value);
	return buf;
}

/*
 * Runs the plug-in with args (nargs of them), stdin on /dev/null and the
 * minimal environment, and waits for it. Returns the manager's exit
 * status: 0, the plug-in's own status 1-63, or APM_EXIT_PLUGIN.
 */
static int
apm_run(const struct apm_env *env, const struct apm_pkg *pkg, char **args,
    size_t nargs)
{
	char path[64], root[PATH_MAX + 16], pdir[PATH_MAX + 24];
	char sshd[PATH_MAX + 16], pidf[PATH_MAX + 24];
	char arg0[APM_NAME_MAX + 1], *argv[APM_ARGS_MAX + 2], *envp[6];
	size_t i, ne = 0;
	pid_t pid;
	int status, fd;

	snprintf(arg0, sizeof(arg0), "%s", pkg->name);
	argv[0] = arg0;
	for (i = 0; i < nargs && i < APM_ARGS_MAX; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	envp[ne++] = apm_envvar(path, sizeof(path), "PATH", APM_ENV_PATH);
	envp[ne++] = apm_envvar(root, sizeof(root), "LATCHKEY_ROOT",
	    env->rootarg);
	envp[ne++] = apm_envvar(pdir, sizeof(pdir), "LATCHKEY_PLUGIN_DIR",
	    env->plugindir);
	envp[ne++] = apm_envvar(sshd, sizeof(sshd), "LATCHKEY_SSHD",
	    env->sshd);
	if (env->pidfile[0] != '\0')
		envp[ne++] = apm_envvar(pidf, sizeof(pidf),
		    "LATCHKEY_SSHD_PIDFILE", env->pidfile);
	envp[ne] = NULL;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return APM_EXIT_PLUGIN;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDONLY)) != -1 &&
		    fd != STDIN_FILENO) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		execve(pkg->prog, argv, envp);
		fprintf(stderr, "%s: cannot run %s: %s\n", APM_PROGNAME,
		    pkg->prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			log_warn("waitpid");
			return APM_EXIT_PLUGIN;
		}
	if (WIFSIGNALED(status)) {
		log_warnx("plug-in %s killed by signal %d", pkg->name,
		    WTERMSIG(status));
		return APM_EXIT_PLUGIN;
	}
	status = WEXITSTATUS(status);
	if (status != 0)
		log_warnx("plug-in %s failed with exit status %d", pkg->name,
		    status);
	return status < APM_EXIT_USAGE ? status : APM_EXIT_PLUGIN;
}

/* One record line: "name version when", validated field by field. */
static int
apm_inst_parse_line(char *line, struct apm_entry *e)
{
	char *f[3], *p = line;
	int i;

	for (i = 0; i < 3; i++) {
		if (p == NULL)
			return -1;
		f[i] = p;
		if ((p = strchr(p, ' ')) != NULL)
			*p++ = '\0';
	}
	if (p != NULL || !apm_name_valid(f[0]) || *f[1] == '\0' ||
	    strlen(f[1]) > APM_VERSION_MAX || *f[2] == '\0' ||
	    strlen(f[2]) >= sizeof(e->when))
		return -1;
	snprintf(e->name, sizeof(e->name), "%s", f[0]);
	snprintf(e->version, sizeof(e->version), "%s", f[1]);
	snprintf(e->when, sizeof(e->when), "%s", f[2]);
	return 0;
}

/* Loads the installed record; a missing record is an empty one. */
static int
apm_inst_load(const struct apm_env *env, struct apm_installed *inst)
{
	char path[PATH_MAX], *buf = NULL, *line, *next;
	size_t len, lineno = 0;
	int r;

	inst->n = 0;
	if ((r = apm_path(path, sizeof(path), env->root,
	    APM_INSTALLED_FILE)) != 0)
		return r;
	if ((r = lk_fs_read(path, APM_INSTALLED_MAX, &buf, &len)) != 0) {
		if (r == LK_ERR_NOT_FOUND)
			return 0;
		log_warnx("%s: %s", path, lk_err(r));
		return r;
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		if (inst->n == APM_ENTRIES_MAX ||
		    apm_inst_parse_line(line, &inst->e[inst->n]) != 0) {
			log_warnx("%s:%zu: ignoring malformed line", path,
			    lineno);
			continue;
		}
		inst->n++;
	}
	free(buf);
	return 0;
}

static int
apm_inst_save(const struct apm_env *env, const struct apm_installed *inst)
{
	char path[PATH_MAX], dir[PATH_MAX], *buf;
	size_t i, off, cap = 128 + inst->n * (sizeof(struct apm_entry) + 4);
	int r, n;

	if ((r = apm_path(path, sizeof(path), env->root,
	    APM_INSTALLED_FILE)) != 0 ||
	    (r = apm_path(dir, sizeof(dir), env->root,
	    APM_INSTALLED_DIR)) != 0)
		return r;
	if ((r = lk_fs_mkdirs(dir, 0755)) != 0) {
		log_warnx("%s: %s", dir, lk_err(r));
		return r;
	}
	if ((buf = malloc(cap)) == NULL)
		return LK_ERR_ALLOC;
	off = (size_t)snprintf(buf, cap, "# installed plug-ins, written "
	    "by acs-plugin-manager: name version installed-at\n");
	for (i = 0; i < inst->n; i++) {
		n = snprintf(buf + off, cap - off, "%s %s %s\n",
		    inst->e[i].name, inst->e[i].version, inst->e[i].when);
		off += (size_t)n;
	}
	if ((r = lk_fs_write_atomic(path, buf, off, 0644, 0, 0)) != 0)
		log_warnx("%s: %s", path, lk_err(r));
	free(buf);
	return r;
}

static struct apm_entry *
apm_inst_find(struct apm_installed *inst, const char *name)
{
	size_t i;

	for (i = 0; i < inst->n; i++)
		if (strcmp(inst->e[i].name, name) == 0)
			return &inst->e[i];
	return NULL;
}

/* Sets (install) or removes (version NULL) name's entry, and saves. */
static int
apm_inst_update(const struct apm_env *env, const char *name,
    const char *version)
{
	struct apm_installed *inst;
	struct apm_entry *e;
	struct tm tm;
	time_t now = time(NULL);
	int r;

	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		return LK_ERR_ALLOC;
	if ((r = apm_inst_load(env, inst)) != 0)
		goto out;
	e = apm_inst_find(inst, name);
	if (version == NULL) {
		if (e == NULL)
			goto out;
		memmove(e, e + 1, (size_t)(&inst->e[inst->n] - (e + 1)) *
		    sizeof(*e));
		inst->n--;
	} else {
		if (e == NULL) {
			if (inst->n == APM_ENTRIES_MAX) {
				r = LK_ERR_TOO_LONG;
				goto out;
			}
			e = &inst->e[inst->n++];
		}
		snprintf(e->name, sizeof(e->name), "%s", name);
		snprintf(e->version, sizeof(e->version), "%s", version);
		gmtime_r(&now, &tm);
		strftime(e->when, sizeof(e->when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	r = apm_inst_save(env, inst);
 out:
	free(inst);
	return r;
}

/*
 * Appends one line to the action log:
 *	<time> <pid> acs-plugin-manager <event> plugin=<name> params=<p> status=<n>
 * Values pass through lk_vis() so they cannot forge lines. A log that
 * cannot be written is reported but does not fail the action.
 */
static void
apm_log(const struct apm_env *env, const char *event, const char *name,
    const char *params, int status)
{
	char path[PATH_MAX], dir[PATH_MAX], line[8192], vname[4 * 80];
	char vparams[4 * 1024 + 4], when[32];
	struct tm tm;
	time_t now = time(NULL);
	int fd, n;

	if (apm_path(path, sizeof(path), env->root, APM_LOG_FILE) != 0 ||
	    apm_path(dir, sizeof(dir), env->root, APM_LOG_DIR) != 0)
		return;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	lk_vis(vname, sizeof(vname), name, strlen(name));
	lk_vis(vparams, sizeof(vparams), params, strlen(params));
	n = snprintf(line, sizeof(line), "%s %ld %s %s plugin=%s params=%s "
	    "result=%s status=%d\n", when, (long)getpid(), APM_PROGNAME,
	    event, vname, vparams[0] != '\0' ? vparams : "-",
	    status == 0 ? "ok" : "failed", status);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	if (lk_fs_mkdirs(dir, 0755) != 0 ||
	    (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0640)) == -1) {
		log_warn("cannot write %s", path);
		return;
	}
	if (write(fd, line, (size_t)n) != n)
		log_warn("%s", path);
	close(fd);
}

/*
 * Splits params at commas into args (pointers into the writable copy
 * *copyp, which the caller frees). Empty elements are dropped.
 */
static int
apm_split_params(const char *params, char **copyp, char **args,
    size_t *nargsp)
{
	char *copy, *p, *comma;
	size_t i, n = 0;

	*copyp = NULL;
	*nargsp = 0;
	if (params == NULL)
		return 0;
	if (strlen(params) > APM_PARAMS_MAX) {
		log_warnx("--params longer than %d bytes", APM_PARAMS_MAX);
		return -1;
	}
	for (i = 0; params[i] != '\0'; i++)
		if ((unsigned char)params[i] < 0x20 || params[i] == 0x7f) {
			log_warnx("--params contains a control character");
			return -1;
		}
	if ((copy = strdup(params)) == NULL)
		fatal("strdup");
	for (p = copy; p != NULL; p = comma) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma++ = '\0';
		if (*p == '\0')
			continue;
		if (n == APM_ARGS_MAX) {
			log_warnx("--params has more than %d arguments",
			    APM_ARGS_MAX);
			free(copy);
			return -1;
		}
		args[n++] = p;
	}
	*copyp = copy;
	*nargsp = n;
	return 0;
}

static int
apm_has_arg(char **args, size_t nargs, const char *want)
{
	size_t i;

	for (i = 0; i < nargs; i++)
		if (strcmp(args[i], want) == 0)
			return 1;
	return 0;
}

static int
apm_require_root(void)
{
	if (geteuid() == 0)
		return 0;
	log_warnx("must be run as root");
	return APM_EXIT_NOTROOT;
}

/* -e: runs the plug-in; --install/--uninstall that succeed are recorded. */
static int
apm_exec(const struct apm_env *env, const struct apm_opts *o)
{
	struct apm_pkg pkg;
	char *copy = NULL, *args[APM_ARGS_MAX];
	size_t nargs;
	int ex, r;

	if (!apm_name_valid(o->plugin))
		return apm_pkg_open(env, o->plugin, &pkg);
	if ((ex = apm_require_root()) != 0)
		return ex;
	if (apm_split_params(o->params, &copy, args, &nargs) != 0)
		return APM_EXIT_USAGE;
	if ((ex = apm_pkg_open(env, o->plugin, &pkg)) != 0) {
		apm_log(env, "exec", o->plugin, o->params ? o->params : "",
		    ex);
		goto out;
	}
	ex = apm_run(env, &pkg, args, nargs);
	apm_log(env, "exec", pkg.name, o->params ? o->params : "", ex);
	if (ex != 0)
		goto out;
	r = 0;
	if (apm_has_arg(args, nargs, "--install"))
		r = apm_inst_update(env, pkg.name, pkg.version);
	else if (apm_has_arg(args, nargs, "--uninstall"))
		r = apm_inst_update(env, pkg.name, NULL);
	if (r != 0) {
		log_warnx("plug-in %s succeeded but the installed record "
		    "was not updated: %s", pkg.name, lk_err(r));
		ex = APM_EXIT_IO;
	}
 out:
	free(copy);
	return ex;
}

/* -r: runs the plug-in with --uninstall, then forgets it. */
static int
apm_remove(const struct apm_env *env, const struct apm_opts *o)
{
	struct apm_pkg pkg;
	char arg[] = "--uninstall", *args[1] = { arg };
	int ex, r;

	if (!apm_name_valid(o->plugin))
		return apm_pkg_open(env, o->plugin, &pkg);
	if ((ex = apm_require_root()) != 0)
		return ex;
	if ((ex = apm_pkg_open(env, o->plugin, &pkg)) != 0) {
		apm_log(env, "remove", o->plugin, arg, ex);
		return ex;
	}
	ex = apm_run(env, &pkg, args, 1);
	apm_log(env, "remove", pkg.name, arg, ex);
	if (ex != 0)
		return ex;
	if ((r = apm_inst_update(env, pkg.name, NULL)) != 0) {
		log_warnx("plug-in %s was removed but the installed record "
		    "was not updated: %s", pkg.name, lk_err(r));
		return APM_EXIT_IO;
	}
	printf("%s: removed plug-in %s\n", APM_PROGNAME, pkg.name);
	return 0;
}

static void
apm_list_row(const char *name, const char *version, const char *arch,
    const char *installed)
{
	printf("%-32s %-10s %-10s %-7s %-8s ", name, version, "latchkey",
	    "linux", arch);
	if (installed != NULL)
		printf("%-10s %s\n", "Once", installed);
	else
		printf("%s\n", "Once");
}

static int
apm_list_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* -l: every package in the plug-in directory, with an Installed column. */
static int
apm_list_dir(const struct apm_env *env, const struct apm_opts *o,
    struct apm_installed *inst, const char *arch)
{
	struct dirent **names = NULL;
	struct apm_entry *e;
	struct stat st;
	char prog[PATH_MAX], vfile[PATH_MAX], version[APM_VERSION_MAX + 1];
	int i, n;

	if ((n = scandir(env->plugindir, &names, NULL, apm_list_cmp)) == -1) {
		log_warn("%s", env->plugindir);
		return APM_EXIT_CONFIG;
	}
	printf("%-32s %-10s %-10s %-7s %-8s %-10s %s\n", "Name", "Version",
	    "Publisher", "OsType", "Arch", "PluginType", "Installed");
	for (i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;

		if (!apm_name_valid(nm) ||
		    (o->plugin != NULL && strcmp(o->plugin, nm) != 0) ||
		    snprintf(prog, sizeof(prog), "%s/%s/%s", env->plugindir,
		    nm, nm) >= (int)sizeof(prog) ||
		    snprintf(vfile, sizeof(vfile), "%s/%s/VERSION",
		    env->plugindir, nm) >= (int)sizeof(vfile) ||
		    lstat(prog, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		apm_read_version(vfile, version, sizeof(version));
		e = apm_inst_find(inst, nm);
		apm_list_row(nm, version, arch, e != NULL ? "yes" : "no");
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

static int
apm_list(const struct apm_env *env, const struct apm_opts *o)
{
	struct apm_installed *inst;
	struct utsname un;
	const char *arch = "all";
	size_t i;
	int ex = 0;

	if (o->plugin != NULL && !apm_name_valid(o->plugin)) {
		struct apm_pkg pkg;

		return apm_pkg_open(env, o->plugin, &pkg);
	}
	if (uname(&un) == 0)
		arch = un.machine;
	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		fatal("calloc");
	if (apm_inst_load(env, inst) != 0) {
		ex = APM_EXIT_IO;
		goto out;
	}
	if (!o->local) {
		ex = apm_list_dir(env, o, inst, arch);
		goto out;
	}
	printf("%-32s %-10s %-10s %-7s %-8s %s\n", "Name", "Version",
	    "Publisher", "OsType", "Arch", "PluginType");
	for (i = 0; i < inst->n; i++)
		if (o->plugin == NULL || strcmp(o->plugin, inst->e[i].name) == 0)
			apm_list_row(inst->e[i].name, inst->e[i].version, arch,
			    NULL);
 out:
	free(inst);
	return ex;
}

/* Runs one plug-in with --status; returns its exit status. */
static int
apm_status_one(const struct apm_env *env, const char *name)
{
	struct apm_pkg pkg;
	char arg[] = "--status", *args[1] = { arg };
	int ex;

	if ((ex = apm_pkg_open(env, name, &pkg)) != 0)
		return ex;
	printf("[%s]\n", pkg.name);
	ex = apm_run(env, &pkg, args, 1);
	apm_log(env, "status", pkg.name, arg, ex);
	return ex;
}

/* --status: each installed plug-in's (or only -P's) own status report. */
static int
apm_status(const struct apm_env *env, const struct apm_opts *o)
{
	struct apm_installed *inst;
	size_t i;
	int ex, worst = 0;

	if (o->plugin != NULL && !apm_name_valid(o->plugin))
		return apm_status_one(env, o->plugin);
	if ((ex = apm_require_root()) != 0)
		return ex;
	if (o->plugin != NULL)
		return apm_status_one(env, o->plugin);
	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		fatal("calloc");
	if (apm_inst_load(env, inst) != 0) {
		free(inst);
		return APM_EXIT_IO;
	}
	if (inst->n == 0)
		printf("%s: no plug-ins installed\n", APM_PROGNAME);
	for (i = 0; i < inst->n; i++)
		if ((ex = apm_status_one(env, inst->e[i].name)) != 0 &&
		    worst == 0)
			worst = ex;
	free(inst);
	return worst;
}

int
main(int argc, char **argv)
{
	struct apm_opts opts;
	struct apm_env env;

	umask(022);
	log_init(APM_PROGNAME, LK_LOG_STDERR, 0);
	if (apm_parse_args(argc, argv, &opts) != 0)
		return APM_EXIT_USAGE;
	switch (opts.action) {
	case APM_HELP:
		apm_usage(stdout);
		return APM_EXIT_OK;
	case APM_SHOW_VERSION:
		printf("%s %s\n", APM_PROGNAME, APM_VERSION);
		return APM_EXIT_OK;
	default:
		break;
	}
	if (apm_env_init(&env) != 0)
		return APM_EXIT_CONFIG;
	switch (opts.action) {
	case APM_EXEC:
		return apm_exec(&env, &opts);
	case APM_REMOVE:
		return apm_remove(&env, &opts);
	case APM_LIST:
		return apm_list(&env, &opts);
	case APM_STATUS:
		return apm_status(&env, &opts);
	default:
		return APM_EXIT_USAGE;
	}
}
