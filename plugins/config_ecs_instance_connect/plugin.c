/*
 * config_ecs_instance_connect: the plug-in that turns on latchkey's
 * Instance Connect on a server, run by acs-plugin-manager(8) as root:
 *
 *	--install	create the helper's system user, install
 *			send_ssh_public_key and latchkey-authorized-keys,
 *			point sshd's AuthorizedKeysCommand at the helper,
 *			check the result with sshd -t, reload sshd
 *	--uninstall	remove exactly what --install added
 *	--status	report whether it is installed and consistent
 *
 * The sshd configuration goes into a drop-in file when sshd_config
 * includes one at that path, and otherwise into a marked block at the top
 * of sshd_config (sshd keeps the first value of a keyword, and text at the
 * end could fall inside a Match block). No new configuration goes live
 * before sshd -t has accepted it; a rejected one leaves the old files
 * exactly as they were. Every system path is under $LATCHKEY_ROOT so the
 * tests can work in a scratch root. See config_ecs_instance_connect(8) and
 * docs/plugins.md.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fsutil.h"
#include "log.h"
#include "keystore.h"
#include "util.h"

#define PLUGIN_NAME		"config_ecs_instance_connect"
#define PLUGIN_DEFAULT_VERSION	"1.0.0"	/* when the package has no VERSION */
#define PLUGIN_VERSION_MAX	32
#define PLUGIN_CONFIG_MAX	(1024 * 1024)	/* an sshd configuration file */
#define PLUGIN_BIN_MAX		(64 * 1024 * 1024)	/* a program we install */
#define PLUGIN_STATE_MAX	4096
#define PLUGIN_OUT_MAX		4096	/* captured output of a child */
#define PLUGIN_LINE_MAX		4096	/* longer config lines are skipped */
#define PLUGIN_WORDS_MAX	64
#define PLUGIN_ARGV_MAX		16
#define PLUGIN_TREE_DEPTH	3	/* store/<user>/<record> */
#define PLUGIN_DEFAULT_SSHD	"/usr/sbin/sshd"
#define PLUGIN_ENV_PATH		"PATH=/usr/sbin:/usr/bin:/sbin:/bin"

#define PLUGIN_BEGIN		"# BEGIN latchkey config_ecs_instance_connect"
#define PLUGIN_END		"# END latchkey config_ecs_instance_connect"
#define PLUGIN_COMMENT		"# Added by config_ecs_instance_connect " \
				"(latchkey); removed by its --uninstall.\n"

/* System paths, each under the root ($LATCHKEY_ROOT). */
#define P_SSHD_CONFIG		"/etc/ssh/sshd_config"
#define P_SSHD_DIR		"/etc/ssh"
#define P_DROPIN_DIR		"/etc/ssh/sshd_config.d"
#define P_DROPIN		P_DROPIN_DIR "/10-latchkey-instance-connect.conf"
#define P_CHECKCOPY		"/etc/ssh/sshd_config.latchkey-new"
#define P_SEND_DIR		"/usr/local/sbin"
#define P_SEND			P_SEND_DIR "/send_ssh_public_key"
#define P_HELPER_DIR		"/usr/local/libexec/latchkey"
#define P_HELPER		P_HELPER_DIR "/latchkey-authorized-keys"
#define P_STORE_PARENT		"/run/latchkey"
#define P_STORE			P_STORE_PARENT "/keys"
#define P_STATE_DIR		"/var/lib/latchkey/plugins"
#define P_STATE			P_STATE_DIR "/" PLUGIN_NAME ".state"
#define P_LOG_DIR		"/var/log/latchkey"
#define P_LOG			P_LOG_DIR "/acs-plugin-manager.log"
#define P_SYSTEMD		"/run/systemd/system"
#define P_SSHD_PID		"/run/sshd.pid"

/* Exit statuses, documented in config_ecs_instance_connect(8). */
#define PLUGIN_EXIT_OK		0
#define PLUGIN_EXIT_ERROR	1
#define PLUGIN_EXIT_USAGE	2
#define PLUGIN_EXIT_NOTROOT	3
#define PLUGIN_EXIT_CHECK	4	/* sshd -t refused; nothing changed */
#define PLUGIN_EXIT_NOTINST	5	/* --status: not installed */
#define PLUGIN_EXIT_INCONS	6	/* --status: installed, inconsistent */
#define PLUGIN_EXIT_UNSAFE	7	/* ownership or permissions */

/* This program's errors beyond lib's LK_ERR_* codes. */
#define PLUGIN_ERR_CHECK	-100	/* sshd -t refused the configuration */
#define PLUGIN_ERR_NOTROOT	-101

enum plugin_mode { MODE_NONE, MODE_DROPIN, MODE_BLOCK };
enum plugin_level { MSG_NOTE, MSG_WARN, MSG_ERR };

struct plugin_ctx {
	const char	*action;	/* "install", ... for the log */
	int		 log_file;	/* append messages to the log */
	char		 root[PATH_MAX];	/* prefix, "" for "/" */
	char		 sshd[PATH_MAX];
	char		 pidfile[PATH_MAX];	/* "" when unset */
	char		 pkgdir[PATH_MAX];	/* where this program lives */
	char		 version[PLUGIN_VERSION_MAX + 1];
	char		 sshd_config[PATH_MAX];
	char		 sshd_dir[PATH_MAX];
	char		 dropin_dir[PATH_MAX];
	char		 dropin[PATH_MAX];
	char		 checkcopy[PATH_MAX];
	char		 send_dir[PATH_MAX];
	char		 send[PATH_MAX];
	char		 helper_dir[PATH_MAX];
	char		 helper[PATH_MAX];
	char		 store_parent[PATH_MAX];
	char		 store[PATH_MAX];
	char		 state_dir[PATH_MAX];
	char		 state[PATH_MAX];
	char		 log_dir[PATH_MAX];
	char		 log[PATH_MAX];
	char		 systemd[PATH_MAX];
	char		 sshd_pid[PATH_MAX];
	char		 lines[3 * PATH_MAX];	/* our two sshd lines */
	char		 dropin_text[4 * PATH_MAX];
	char		 block_text[4 * PATH_MAX];
};

struct plugin_state {
	int		 present;
	char		 version[PLUGIN_VERSION_MAX + 1];
	enum plugin_mode mode;
	int		 created_user;
};

/* What this run of --install created, to take back if sshd -t refuses. */
struct plugin_undo {
	int	 user;
	int	 send;
	int	 helper;
};

/* What a scan of the sshd configuration found. */
struct plugin_scan {
	int	 covers;	/* an Include before any Match names the drop-in */
	int	 other_akc;	/* AuthorizedKeysCommand lines that are not ours */
};

static void	plugin_msg(struct plugin_ctx *, enum plugin_level,
		    const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
plugin_usage(FILE *fp)
{
	fprintf(fp, "usage: %s --install | --uninstall | --status | --help "
	    "| --version\n"
	    "\n"
	    "  --install     set up sshd's AuthorizedKeysCommand for latchkey\n"
	    "  --uninstall   remove everything --install added\n"
	    "  --status      report whether it is installed and consistent\n"
	    "  --help        this help\n"
	    "  --version     the package's version (its VERSION file)\n",
	    PLUGIN_NAME);
}

static const char *
plugin_mode_name(enum plugin_mode m)
{
	return m == MODE_DROPIN ? "drop-in" : m == MODE_BLOCK ? "block" : "-";
}

/*
 * Appends "<time> <pid> config_ecs_instance_connect <action> <level> msg"
 * to the manager's log, with control characters replaced so that a value
 * cannot forge a line. Failure to log is not an error.
 */
static void
plugin_log_line(struct plugin_ctx *ctx, const char *level, const char *msg)
{
	char line[8192], when[32];
	struct tm tm;
	time_t now = time(NULL);
	size_t i;
	int fd, n;

	if (!ctx->log_file)
		return;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %ld %s %s %s %s", when,
	    (long)getpid(), PLUGIN_NAME, ctx->action, level, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	if (lk_fs_mkdirs(ctx->log_dir, 0755) != 0 ||
	    (fd = open(ctx->log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0640)) == -1)
		return;
	if (write(fd, line, (size_t)n) != n)
		n = -1;	/* only the log's copy of what we printed is lost */
	close(fd);
}

/* Says what happened: notes on stdout, warnings and errors on stderr. */
static void
plugin_msg(struct plugin_ctx *ctx, enum plugin_level level,
    const char *fmt, ...)
{
	static const char *names[] = { "note", "warning", "error" };
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == MSG_NOTE)
		printf("%s: %s\n", PLUGIN_NAME, msg);
	else if (level == MSG_WARN)
		fprintf(stderr, "%s: warning: %s\n", PLUGIN_NAME, msg);
	else
		fprintf(stderr, "%s: %s\n", PLUGIN_NAME, msg);
	fflush(stdout);
	plugin_log_line(ctx, names[level], msg);
}

/*
 * The root goes into sshd's AuthorizedKeysCommand line, which sshd splits
 * at blanks and expands at '%', so only plain path characters pass.
 */
static int
plugin_root_valid(const char *s)
{
	size_t i;

	if (s[0] != '/' || strlen(s) >= PATH_MAX / 4 ||
	    strstr(s, "/../") != NULL || strstr(s, "/./") != NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr("/._+-", s[i])))
			return 0;
	return i < 3 || (strcmp(s + i - 3, "/..") != 0 &&
	    strcmp(s + i - 2, "/.") != 0);
}

static int
plugin_abs_valid(const char *s)
{
	size_t i;

	if (s[0] != '/' || strlen(s) >= PATH_MAX / 2)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Reads LATCHKEY_ROOT, LATCHKEY_SSHD and LATCHKEY_SSHD_PIDFILE. */
static int
plugin_env_init(struct plugin_ctx *ctx)
{
	const char *root = getenv("LATCHKEY_ROOT");
	const char *sshd = getenv("LATCHKEY_SSHD");
	const char *pidfile = getenv("LATCHKEY_SSHD_PIDFILE");
	size_t n;

	if (root == NULL || *root == '\0')
		root = "/";
	if (!plugin_root_valid(root)) {
		fprintf(stderr, "%s: LATCHKEY_ROOT must be an absolute path "
		    "of letters, digits and \"/._+-\"\n", PLUGIN_NAME);
		return -1;
	}
	snprintf(ctx->root, sizeof(ctx->root), "%s", root);
	n = strlen(ctx->root);
	while (n > 0 && ctx->root[n - 1] == '/')
		ctx->root[--n] = '\0';
	if (sshd == NULL || *sshd == '\0')
		sshd = PLUGIN_DEFAULT_SSHD;
	if (pidfile == NULL)
		pidfile = "";
	if (!plugin_abs_valid(sshd) ||
	    (*pidfile != '\0' && !plugin_abs_valid(pidfile))) {
		fprintf(stderr, "%s: LATCHKEY_SSHD and LATCHKEY_SSHD_PIDFILE "
		    "must be absolute paths without blanks\n", PLUGIN_NAME);
		return -1;
	}
	snprintf(ctx->sshd, sizeof(ctx->sshd), "%s", sshd);
	snprintf(ctx->pidfile, sizeof(ctx->pidfile), "%s", pidfile);
	return 0;
}

/* The package directory is where this program is; VERSION is there. */
static int
plugin_pkg_init(struct plugin_ctx *ctx)
{
	char vfile[PATH_MAX + 16], *buf = NULL, *slash;
	ssize_t n;
	size_t len, i;

	if ((n = readlink("/proc/self/exe", ctx->pkgdir,
	    sizeof(ctx->pkgdir) - 1)) == -1) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", PLUGIN_NAME,
		    strerror(errno));
		return -1;
	}
	ctx->pkgdir[n] = '\0';
	if ((slash = strrchr(ctx->pkgdir, '/')) == NULL)
		return -1;
	*slash = '\0';
	snprintf(ctx->version, sizeof(ctx->version), "%s",
	    PLUGIN_DEFAULT_VERSION);
	snprintf(vfile, sizeof(vfile), "%s/VERSION", ctx->pkgdir);
	if (lk_fs_read(vfile, PLUGIN_STATE_MAX, &buf, &len) != 0)
		return 0;
	for (i = 0; i < len && i <= PLUGIN_VERSION_MAX; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		    (buf[i] >= 'a' && buf[i] <= 'z') ||
		    (buf[i] >= 'A' && buf[i] <= 'Z') ||
		    strchr(".+~-_", buf[i]) != NULL))
			break;
	if (i > 0 && i <= PLUGIN_VERSION_MAX && (i == len || buf[i] == '\n'))
		snprintf(ctx->version, sizeof(ctx->version), "%.*s", (int)i,
		    buf);
	free(buf);
	return 0;
}

/* Builds every path under the root and the text we add to sshd. */
static int
plugin_paths_init(struct plugin_ctx *ctx)
{
	const struct { char *buf; const char *rel; } t[] = {
		{ ctx->sshd_config, P_SSHD_CONFIG },
		{ ctx->sshd_dir, P_SSHD_DIR },
		{ ctx->dropin_dir, P_DROPIN_DIR },
		{ ctx->dropin, P_DROPIN },
		{ ctx->checkcopy, P_CHECKCOPY },
		{ ctx->send_dir, P_SEND_DIR },
		{ ctx->send, P_SEND },
		{ ctx->helper_dir, P_HELPER_DIR },
		{ ctx->helper, P_HELPER },
		{ ctx->store_parent, P_STORE_PARENT },
		{ ctx->store, P_STORE },
		{ ctx->state_dir, P_STATE_DIR },
		{ ctx->state, P_STATE },
		{ ctx->log_dir, P_LOG_DIR },
		{ ctx->log, P_LOG },
		{ ctx->systemd, P_SYSTEMD },
		{ ctx->sshd_pid, P_SSHD_PID },
	};
	char store_opt[PATH_MAX + 16] = "";
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		snprintf(t[i].buf, PATH_MAX, "%s%s", ctx->root, t[i].rel);
	/* The helper's default store is /run/latchkey/keys; say otherwise. */
	if (ctx->root[0] != '\0')
		snprintf(store_opt, sizeof(store_opt), " --store %s",
		    ctx->store);
	snprintf(ctx->lines, sizeof(ctx->lines),
	    "AuthorizedKeysCommand %s%s %%u %%f\n"
	    "AuthorizedKeysCommandUser %s\n", ctx->helper, store_opt,
	    LK_HELPER_USER);
	snprintf(ctx->dropin_text, sizeof(ctx->dropin_text), "%s%s",
	    PLUGIN_COMMENT, ctx->lines);
	snprintf(ctx->block_text, sizeof(ctx->block_text),
	    "%s\n%s# Kept at the top: sshd uses the first value it reads.\n"
	    "%s%s\n", PLUGIN_BEGIN, PLUGIN_COMMENT, ctx->lines, PLUGIN_END);
	return 0;
}

/* lk_fs_read() where a missing file is not an error (*bufp NULL). */
static int
plugin_read_opt(const char *path, size_t max, char **bufp, size_t *lenp)
{
	int r = lk_fs_read(path, max, bufp, lenp);

	if (r == LK_ERR_NOT_FOUND) {
		*bufp = NULL;
		*lenp = 0;
		return 0;
	}
	return r;
}

/*
 * Whether path is a regular root:root file with exactly this mode and
 * content, so that writing it again would change nothing.
 */
static int
plugin_file_same(const char *path, const void *data, size_t len,
    mode_t mode)
{
	struct stat st;
	char *buf = NULL;
	size_t blen;
	int same;

	if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != 0 || st.st_gid != 0 ||
	    (st.st_mode & 07777) != mode || (size_t)st.st_size != len)
		return 0;
	if (lk_fs_read(path, len, &buf, &blen) != 0)
		return 0;
	same = blen == len && memcmp(buf, data, len) == 0;
	free(buf);
	return same;
}

/* Replaces path unless it already holds exactly data; sets *changedp. */
static int
plugin_write_if_changed(struct plugin_ctx *ctx, const char *path,
    const void *data, size_t len, mode_t mode, int *changedp)
{
	int r;

	*changedp = 0;
	if (plugin_file_same(path, data, len, mode))
		return 0;
	if ((r = lk_fs_write_atomic(path, data, len, mode, 0, 0)) != 0) {
		plugin_msg(ctx, MSG_ERR, "cannot write %s: %s", path,
		    lk_err(r));
		return r;
	}
	*changedp = 1;
	return 0;
}

/* Child side of plugin_run(): never returns. */
static void __attribute__((noreturn))
plugin_child(char **argv, int outfd)
{
	char envpath[] = PLUGIN_ENV_PATH, *envp[] = { envpath, NULL };
	int fd;

	if ((fd = open("/dev/null", O_RDONLY)) != -1 && fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	if (outfd != -1) {
		dup2(outfd, STDOUT_FILENO);
		dup2(outfd, STDERR_FILENO);
	}
	execve(argv[0], argv, envp);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Reads the child's output into out (NUL-terminated), draining the rest. */
static void
plugin_collect(int fd, char *out, size_t outlen)
{
	char discard[512];
	size_t off = 0;
	ssize_t n;

	out[0] = '\0';
	for (;;) {
		if (off + 1 < outlen)
			n = read(fd, out + off, outlen - 1 - off);
		else
			n = read(fd, discard, sizeof(discard));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (off + 1 < outlen)
			off += (size_t)n;
	}
	out[off] = '\0';
	while (off > 0 && (out[off - 1] == '\n' || out[off - 1] == ' '))
		out[--off] = '\0';
}

/*
 * Runs args[0] (an absolute path) with fork/execve, no shell, stdin on
 * /dev/null and only PATH in the environment. With out, its stdout and
 * stderr are captured there (at most outlen - 1 bytes); otherwise they
 * are ours. *statusp is its exit status, or 128 + the signal.
 */
static int
plugin_run(const char *const *args, char *out, size_t outlen, int *statusp)
{
	char *argv[PLUGIN_ARGV_MAX + 1];
	int pfd[2] = { -1, -1 }, status, r;
	size_t i;
	pid_t pid;

	memset(argv, 0, sizeof(argv));
	for (i = 0; args[i] != NULL && i < PLUGIN_ARGV_MAX; i++)
		if ((argv[i] = strdup(args[i])) == NULL)
			fatal("strdup");
	if (out != NULL && pipe2(pfd, O_CLOEXEC) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (pid == 0)
		plugin_child(argv, pfd[1]);
	if (pfd[1] != -1) {
		close(pfd[1]);
		pfd[1] = -1;
		plugin_collect(pfd[0], out, outlen);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			r = LK_ERR_SYSTEM;
			goto out;
		}
	*statusp = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	r = 0;
 out:
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	for (i = 0; i < PLUGIN_ARGV_MAX; i++)
		free(argv[i]);
	return r;
}

/* --- state ------------------------------------------------------------ */

static int
plugin_state_read(struct plugin_ctx *ctx, struct plugin_state *st)
{
	char *buf = NULL, *line, *next;
	size_t len;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = plugin_read_opt(ctx->state, PLUGIN_STATE_MAX, &buf,
	    &len)) != 0) {
		plugin_msg(ctx, MSG_ERR, "%s: %s", ctx->state, lk_err(r));
		return r;
	}
	if (buf == NULL)
		return 0;
	st->present = 1;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, "version ", 8) == 0)
			snprintf(st->version, sizeof(st->version), "%s",
			    line + 8);
		else if (strcmp(line, "mode drop-in") == 0)
			st->mode = MODE_DROPIN;
		else if (strcmp(line, "mode block") == 0)
			st->mode = MODE_BLOCK;
		else if (strcmp(line, "created-user yes") == 0)
			st->created_user = 1;
	}
	free(buf);
	return 0;
}

static int
plugin_state_write(struct plugin_ctx *ctx, const struct plugin_state *st)
{
	char buf[PLUGIN_STATE_MAX];
	int n, r, changed;

	if ((r = lk_fs_mkdirs(ctx->state_dir, 0755)) != 0) {
		plugin_msg(ctx, MSG_ERR, "%s: %s", ctx->state_dir, lk_err(r));
		return r;
	}
	n = snprintf(buf, sizeof(buf),
	    "# %s state, written by the plug-in; do not edit\n"
	    "version %s\nmode %s\ncreated-user %s\n", PLUGIN_NAME,
	    st->version, plugin_mode_name(st->mode),
	    st->created_user ? "yes" : "no");
	return plugin_write_if_changed(ctx, ctx->state, buf, (size_t)n, 0644,
	    &changed);
}

/* --- the helper's system user ---------------------------------------- */

static int
plugin_user_ensure(struct plugin_ctx *ctx, int *createdp)
{
	const char *args[] = { "/usr/sbin/useradd", "--system",
	    "--no-create-home", "--home-dir", "/nonexistent", "--shell",
	    "/usr/sbin/nologin", LK_HELPER_USER, NULL };
	char out[PLUGIN_OUT_MAX];
	int r, status;

	*createdp = 0;
	if (getpwnam(LK_HELPER_USER) != NULL) {
		plugin_msg(ctx, MSG_NOTE, "system user %s exists",
		    LK_HELPER_USER);
		return 0;
	}
	if ((r = plugin_run(args, out, sizeof(out), &status)) != 0 ||
	    status != 0) {
		plugin_msg(ctx, MSG_ERR, "cannot create system user %s: %s",
		    LK_HELPER_USER, r != 0 ? lk_err(r) : out);
		return r != 0 ? r : LK_ERR_SYSTEM;
	}
	*createdp = 1;
	plugin_msg(ctx, MSG_NOTE, "created system user %s", LK_HELPER_USER);
	return 0;
}

static void
plugin_user_remove(struct plugin_ctx *ctx)
{
	const char *args[] = { "/usr/sbin/userdel", LK_HELPER_USER, NULL };
	char out[PLUGIN_OUT_MAX];
	int r, status;

	if (getpwnam(LK_HELPER_USER) == NULL)
		return;
	if ((r = plugin_run(args, out, sizeof(out), &status)) != 0 ||
	    status != 0)
		plugin_msg(ctx, MSG_WARN, "cannot remove system user %s: %s",
		    LK_HELPER_USER, r != 0 ? lk_err(r) : out);
	else
		plugin_msg(ctx, MSG_NOTE, "removed system user %s",
		    LK_HELPER_USER);
}

/* --- installed programs ----------------------------------------------- */

/*
 * sshd runs an AuthorizedKeysCommand only when every directory above it
 * is owned by root and not writable by group or others (after resolving
 * links); refuse early and say so rather than install a helper sshd
 * will ignore. Only the part of dir that exists is checked, so nothing
 * is created under an unsafe directory; what we create ourselves is
 * root's and 0755.
 */
static int
plugin_secure_dir(struct plugin_ctx *ctx, const char *dir)
{
	char have[PATH_MAX], real[PATH_MAX], *slash;
	struct stat st;

	snprintf(have, sizeof(have), "%s", dir);
	while (lstat(have, &st) == -1 && errno == ENOENT &&
	    (slash = strrchr(have, '/')) != NULL && slash != have)
		*slash = '\0';
	if (realpath(have, real) == NULL) {
		plugin_msg(ctx, MSG_ERR, "%s: %s", have, strerror(errno));
		return LK_ERR_SYSTEM;
	}
	for (;;) {
		if (stat(real, &st) == -1) {
			plugin_msg(ctx, MSG_ERR, "%s: %s", real,
			    strerror(errno));
			return LK_ERR_SYSTEM;
		}
		if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
			plugin_msg(ctx, MSG_ERR, "%s is %s; sshd refuses an "
			    "AuthorizedKeysCommand unless every parent "
			    "directory is owned by root and not writable by "
			    "group or others", real, st.st_uid != 0 ?
			    "not owned by root" : "group or world writable");
			return LK_ERR_UNSAFE;
		}
		if (strcmp(real, "/") == 0)
			return 0;
		if ((slash = strrchr(real, '/')) == real)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

/* Installs name from the package as dst, root:root 0755, atomically. */
static int
plugin_bin_install(struct plugin_ctx *ctx, const char *name,
    const char *dst, int *newp)
{
	char src[PATH_MAX + 64], *buf = NULL;
	size_t len;
	int r, changed;

	*newp = access(dst, F_OK) != 0;
	snprintf(src, sizeof(src), "%s/%s", ctx->pkgdir, name);
	if ((r = lk_fs_read(src, PLUGIN_BIN_MAX, &buf, &len)) != 0) {
		plugin_msg(ctx, MSG_ERR, "%s: %s (is the package complete?)",
		    src, lk_err(r));
		*newp = 0;
		return r;
	}
	if ((r = plugin_write_if_changed(ctx, dst, buf, len, 0755,
	    &changed)) != 0)
		*newp = 0;
	else
		plugin_msg(ctx, MSG_NOTE, changed ? "installed %s" :
		    "%s is up to date", dst);
	free(buf);
	return r;
}

static int
plugin_bins_install(struct plugin_ctx *ctx, struct plugin_undo *undo)
{
	int r;

	if ((r = lk_fs_mkdirs(ctx->send_dir, 0755)) != 0) {
		plugin_msg(ctx, MSG_ERR, "%s: %s", ctx->send_dir, lk_err(r));
		return r;
	}
	if ((r = plugin_bin_install(ctx, "send_ssh_public_key", ctx->send,
	    &undo->send)) != 0)
		return r;
	return plugin_bin_install(ctx, "latchkey-authorized-keys",
	    ctx->helper, &undo->helper);
}

static void
plugin_unlink(struct plugin_ctx *ctx, const char *path)
{
	if (unlink(path) == 0)
		plugin_msg(ctx, MSG_NOTE, "removed %s", path);
	else if (errno != ENOENT)
		plugin_msg(ctx, MSG_WARN, "cannot remove %s: %s", path,
		    strerror(errno));
}

static void
plugin_bins_remove(struct plugin_ctx *ctx)
{
	char parent[PATH_MAX], *slash;

	plugin_unlink(ctx, ctx->send);
	plugin_unlink(ctx, ctx->helper);
	if (rmdir(ctx->helper_dir) != 0)
		return;
	plugin_msg(ctx, MSG_NOTE, "removed %s", ctx->helper_dir);
	/*
	 * /usr/local/libexec is not in Debian's /usr/local skeleton (hier(7)):
	 * when it is empty now, the install made it for the helper, so it
	 * goes too (a package purge must leave the file list as it was).
	 */
	snprintf(parent, sizeof(parent), "%s", ctx->helper_dir);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		if (rmdir(parent) == 0)
			plugin_msg(ctx, MSG_NOTE, "removed %s", parent);
	}
}

/* --- the key store ---------------------------------------------------- */

static int
plugin_store_create(struct plugin_ctx *ctx)
{
	struct lk_store *store = NULL;
	int r, existed = access(ctx->store, F_OK) == 0;

	if ((r = lk_store_open(ctx->store, LK_STORE_WRITE | LK_STORE_CREATE,
	    &store)) != 0) {
		plugin_msg(ctx, MSG_ERR, "key store %s: %s", ctx->store,
		    lk_err(r));
		return r;
	}
	lk_store_close(store);
	if (!existed)
		plugin_msg(ctx, MSG_NOTE, "created key store %s", ctx->store);
	return 0;
}

/*
 * Removes name in parent and, for a directory, everything under it, never
 * following a symbolic link and going at most depth levels down (the
 * store is <store>/<user>/<record>).
 */
static int
plugin_rm_tree(int parent, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EISDIR && errno != EPERM) || depth == 0)
		return LK_ERR_SYSTEM;
	if ((fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return LK_ERR_SYSTEM;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return LK_ERR_SYSTEM;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    plugin_rm_tree(dirfd(d), de->d_name, depth - 1) != 0)
			r = LK_ERR_SYSTEM;
	closedir(d);
	if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) == -1)
		r = LK_ERR_SYSTEM;
	return r;
}

static void
plugin_store_remove(struct plugin_ctx *ctx)
{
	int fd;

	if ((fd = open(ctx->store_parent, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if (faccessat(fd, "keys", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		if (plugin_rm_tree(fd, "keys", PLUGIN_TREE_DEPTH) == 0)
			plugin_msg(ctx, MSG_NOTE, "removed key store %s",
			    ctx->store);
		else
			plugin_msg(ctx, MSG_WARN, "cannot remove key store "
			    "%s: %s", ctx->store, strerror(errno));
	}
	close(fd);
	rmdir(ctx->store_parent);
}

/* --- reading sshd's configuration ------------------------------------ */

/*
 * Splits one configuration line into words the way sshd does: blanks
 * separate words, a '=' may follow the keyword, double quotes group, and
 * a word that starts with '#' starts a comment. Words point into buf.
 * Returns the number of words, or -1 for a line too long or a quote left
 * open.
 */
static int
plugin_cfg_split(const char *line, size_t len, char *buf, size_t buflen,
    char **words, int maxwords)
{
	char *p = buf, *q;
	int n = 0;

	if (len >= buflen)
		return -1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	while (n < maxwords) {
		p += strspn(p, " \t\r");
		if (n == 1 && *p == '=')
			p += 1 + strspn(p + 1, " \t\r");
		if (*p == '\0' || *p == '#')
			break;
		if (*p == '"') {
			words[n++] = ++p;
			if ((q = strchr(p, '"')) == NULL)
				return -1;
		} else {
			words[n++] = p;
			q = p + strcspn(p, n == 1 ? " \t\r=" : " \t\r");
		}
		if (*q == '\0')
			break;
		*q = '\0';	/* a keyword's '=' is consumed here */
		p = q + 1;
	}
	return n;
}

/* Iterates the lines of buf: *offp advances; returns 0 at the end. */
static int
plugin_next_line(const char *buf, size_t len, size_t *offp,
    const char **linep, size_t *llenp)
{
	const char *nl;

	if (*offp >= len)
		return 0;
	*linep = buf + *offp;
	nl = memchr(*linep, '\n', len - *offp);
	*llenp = nl != NULL ? (size_t)(nl - *linep) : len - *offp;
	*offp += *llenp + (nl != NULL);
	return 1;
}

static int
plugin_line_is(const char *line, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(line, want, len) == 0;
}

/*
 * Finds our block: *startp is the offset of its BEGIN line, *endp the
 * offset just past its END line. Returns 1 when found, 0 when absent,
 * LK_ERR_INVALID_FORMAT for a BEGIN without an END.
 */
static int
plugin_block_find(const char *buf, size_t len, size_t *startp, size_t *endp)
{
	const char *line;
	size_t off = 0, llen, start = 0;
	int in = 0;

	while (plugin_next_line(buf, len, &off, &line, &llen)) {
		if (!in && plugin_line_is(line, llen, PLUGIN_BEGIN)) {
			start = (size_t)(line - buf);
			in = 1;
		} else if (in && plugin_line_is(line, llen, PLUGIN_END)) {
			*startp = start;
			*endp = off;
			return 1;
		}
	}
	return in ? LK_ERR_INVALID_FORMAT : 0;
}

static void	plugin_cfg_scan(struct plugin_ctx *, const char *,
		    const char *, size_t, int, struct plugin_scan *);

/* Whether two paths name the same existing file. */
static int
plugin_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * One Include directive of sshd_config: does a pattern cover our drop-in,
 * and do the files it includes set AuthorizedKeysCommand themselves?
 * sshd reads a relative pattern relative to /etc/ssh, here root/etc/ssh.
 */
static void
plugin_cfg_include(struct plugin_ctx *ctx, char **pats, int npats,
    struct plugin_scan *sc)
{
	char pat[PATH_MAX], *buf;
	glob_t g;
	size_t i, len;
	int k, rel;

	for (k = 0; k < npats; k++) {
		rel = pats[k][0] != '/';
		if ((size_t)snprintf(pat, sizeof(pat), "%s%s%s", rel ?
		    ctx->sshd_dir : "", rel ? "/" : "", pats[k]) >= sizeof(pat))
			continue;
		if (fnmatch(pat, ctx->dropin, FNM_PATHNAME) == 0)
			sc->covers = 1;
		if (glob(pat, GLOB_NOSORT, NULL, &g) != 0)
			continue;
		for (i = 0; i < g.gl_pathc && i < 256; i++) {
			if (plugin_same_file(g.gl_pathv[i], ctx->dropin) ||
			    lk_fs_read(g.gl_pathv[i], PLUGIN_CONFIG_MAX, &buf,
			    &len) != 0)
				continue;
			plugin_cfg_scan(ctx, g.gl_pathv[i], buf, len, 0, sc);
			free(buf);
		}
		globfree(&g);
	}
}

/*
 * Scans a configuration file (top: sshd_config itself, whose Include
 * lines before the first Match are followed one level down) for what
 * install needs to know, and warns about AuthorizedKeysCommand lines
 * that are not ours: sshd uses the first one it reads.
 */
static void
plugin_cfg_scan(struct plugin_ctx *ctx, const char *path, const char *buf,
    size_t len, int top, struct plugin_scan *sc)
{
	char copy[PLUGIN_LINE_MAX], *w[PLUGIN_WORDS_MAX];
	const char *line;
	size_t off = 0, llen, lineno = 0;
	int n, ours = 0, in_match = 0;

	while (plugin_next_line(buf, len, &off, &line, &llen)) {
		lineno++;
		if (top && plugin_line_is(line, llen, PLUGIN_BEGIN))
			ours = 1;
		else if (top && plugin_line_is(line, llen, PLUGIN_END))
			ours = 0;
		if (ours || (n = plugin_cfg_split(line, llen, copy,
		    sizeof(copy), w, PLUGIN_WORDS_MAX)) <= 0)
			continue;
		if (strcasecmp(w[0], "match") == 0)
			in_match = 1;
		else if (top && !in_match && strcasecmp(w[0], "include") == 0)
			plugin_cfg_include(ctx, w + 1, n - 1, sc);
		else if (strcasecmp(w[0], "authorizedkeyscommand") == 0) {
			sc->other_akc++;
			plugin_msg(ctx, MSG_WARN, "%s:%zu already sets "
			    "AuthorizedKeysCommand%s; sshd uses the first "
			    "value it reads, which may not be latchkey's", path,
			    lineno, in_match ? " (in a Match block)" : "");
		}
	}
}

/* --- checking and reloading sshd ------------------------------------- */

/*
 * Runs "sshd -t -f config". Returns 0 when sshd accepts it, or
 * PLUGIN_ERR_CHECK after printing sshd's own message.
 */
static int
plugin_sshd_check(struct plugin_ctx *ctx, const char *config)
{
	const char *args[] = { ctx->sshd, "-t", "-f", config, NULL };
	char out[PLUGIN_OUT_MAX];
	int r, status;

	if ((r = plugin_run(args, out, sizeof(out), &status)) != 0) {
		plugin_msg(ctx, MSG_ERR, "cannot run %s: %s", ctx->sshd,
		    lk_err(r));
		return PLUGIN_ERR_CHECK;
	}
	if (status == 0) {
		plugin_msg(ctx, MSG_NOTE, "%s -t accepted the new "
		    "configuration", ctx->sshd);
		return 0;
	}
	plugin_msg(ctx, MSG_ERR, "%s -t -f %s refused the new configuration "
	    "(exit %d), so the previous one is left in place: %s", ctx->sshd,
	    config, status, out[0] != '\0' ? out : "(no message)");
	return PLUGIN_ERR_CHECK;
}

/* Sends SIGHUP to the sshd whose pid is in pidfile; 1 if it was sent. */
static int
plugin_hup_pidfile(struct plugin_ctx *ctx, const char *pidfile)
{
	char *buf = NULL, comm[64], *nl, *cbuf = NULL;
	long long pid;
	size_t len;
	int sent = 0;

	if (lk_fs_read(pidfile, 64, &buf, &len) != 0)
		return 0;
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	if (lk_parse_ll(buf, 2, INT_MAX, &pid) != 0)
		goto out;
	/* A stale pid file must not make us signal some other program. */
	snprintf(comm, sizeof(comm), "/proc/%lld/comm", pid);
	if (lk_fs_read(comm, 64, &cbuf, &len) != 0 ||
	    strncmp(cbuf, "sshd", 4) != 0)
		goto out;
	if (kill((pid_t)pid, SIGHUP) == 0) {
		plugin_msg(ctx, MSG_NOTE, "reloaded sshd (SIGHUP to pid %lld)",
		    pid);
		sent = 1;
	}
 out:
	free(buf);
	free(cbuf);
	return sent;
}

/*
 * Makes sshd read its configuration again: SIGHUP to the pid in
 * LATCHKEY_SSHD_PIDFILE when set; else systemctl when systemd runs;
 * else SIGHUP to the pid in /run/sshd.pid. An sshd that is not running
 * is not an error: it reads the new configuration when it starts.
 */
static void
plugin_sshd_reload(struct plugin_ctx *ctx)
{
	const char *args[] = { "/usr/bin/systemctl", "reload",
	    "ssh.service", NULL };
	char out[PLUGIN_OUT_MAX];
	struct stat st;
	int status;

	if (ctx->pidfile[0] != '\0') {
		if (!plugin_hup_pidfile(ctx, ctx->pidfile))
			plugin_msg(ctx, MSG_NOTE, "sshd was not running "
			    "(no live sshd pid in %s)", ctx->pidfile);
		return;
	}
	if (stat(ctx->systemd, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (plugin_run(args, out, sizeof(out), &status) == 0 &&
		    status == 0)
			plugin_msg(ctx, MSG_NOTE, "reloaded sshd "
			    "(systemctl reload ssh.service)");
		else
			plugin_msg(ctx, MSG_NOTE, "sshd was not reloaded "
			    "(systemctl reload ssh.service: %s); it reads the "
			    "configuration when it starts", out);
		return;
	}
	if (!plugin_hup_pidfile(ctx, ctx->sshd_pid))
		plugin_msg(ctx, MSG_NOTE, "sshd was not running (no live sshd "
		    "pid in %s)", ctx->sshd_pid);
}

/* --- changing sshd's configuration ----------------------------------- */

/*
 * Replaces bytes [start, end) of cfg, sshd_config's len bytes, with ilen
 * bytes of ins. The result goes live only after sshd -t has accepted it
 * in a copy beside sshd_config, renamed over it; on refusal the copy goes
 * and sshd_config stays as it was. Owner and mode of sshd_config are kept.
 */
static int
plugin_cfg_splice(struct plugin_ctx *ctx, const char *cfg, size_t len,
    size_t start, size_t end, const char *ins, size_t ilen)
{
	size_t nlen = len - (end - start) + ilen;
	struct stat st;
	char *data;
	int r;

	if (lstat(ctx->sshd_config, &st) == -1) {
		plugin_msg(ctx, MSG_ERR, "%s: %s", ctx->sshd_config,
		    strerror(errno));
		return LK_ERR_SYSTEM;
	}
	if ((data = malloc(nlen + 1)) == NULL)
		fatal("malloc");
	memcpy(data, cfg, start);
	memcpy(data + start, ins, ilen);
	memcpy(data + start + ilen, cfg + end, len - end);
	if ((r = lk_fs_write_atomic(ctx->checkcopy, data, nlen,
	    st.st_mode & 07777, st.st_uid, st.st_gid)) != 0) {
		plugin_msg(ctx, MSG_ERR, "cannot write %s: %s", ctx->checkcopy,
		    lk_err(r));
		goto out;
	}
	if ((r = plugin_sshd_check(ctx, ctx->checkcopy)) != 0)
		unlink(ctx->checkcopy);
	else if (rename(ctx->checkcopy, ctx->sshd_config) == -1) {
		plugin_msg(ctx, MSG_ERR, "cannot rename %s to %s: %s",
		    ctx->checkcopy, ctx->sshd_config, strerror(errno));
		unlink(ctx->checkcopy);
		r = LK_ERR_SYSTEM;
	}
 out:
	free(data);
	return r;
}

/* Puts our block at the top of sshd_config, or refreshes it in place. */
static int
plugin_block_install(struct plugin_ctx *ctx, const char *cfg, size_t len,
    int *changedp)
{
	size_t start = 0, end = 0, blen = strlen(ctx->block_text);
	int r, found;

	*changedp = 0;
	if ((found = plugin_block_find(cfg, len, &start, &end)) == 1 &&
	    end - start == blen && memcmp(cfg + start, ctx->block_text,
	    blen) == 0) {
		plugin_msg(ctx, MSG_NOTE, "%s already has the latchkey block",
		    ctx->sshd_config);
		return 0;
	}
	if (found != 1)
		start = end = 0;
	if ((r = plugin_cfg_splice(ctx, cfg, len, start, end,
	    ctx->block_text, blen)) != 0)
		return r;
	*changedp = 1;
	plugin_msg(ctx, MSG_NOTE, "added the latchkey block at the top of %s",
	    ctx->sshd_config);
	return 0;
}

/* Cuts our block out of sshd_config, leaving every other byte as it is. */
static int
plugin_block_remove(struct plugin_ctx *ctx, const char *cfg, size_t len,
    int *changedp)
{
	size_t start, end;
	int r;

	*changedp = 0;
	if ((r = plugin_block_find(cfg, len, &start, &end)) != 1)
		return r;
	if ((r = plugin_cfg_splice(ctx, cfg, len, start, end, "", 0)) != 0)
		return r;
	*changedp = 1;
	plugin_msg(ctx, MSG_NOTE, "removed the latchkey block from %s",
	    ctx->sshd_config);
	return 0;
}

/*
 * Puts back what the drop-in held before (old, or no file when old is
 * NULL) after sshd -t refused the new one.
 */
static void
plugin_dropin_restore(struct plugin_ctx *ctx, const char *old, size_t len,
    const struct stat *st)
{
	int r;

	if (old == NULL) {
		unlink(ctx->dropin);
		return;
	}
	if ((r = lk_fs_write_atomic(ctx->dropin, old, len, st->st_mode & 07777,
	    st->st_uid, st->st_gid)) != 0)
		plugin_msg(ctx, MSG_ERR, "cannot restore %s: %s", ctx->dropin,
		    lk_err(r));
}

static int
plugin_dropin_install(struct plugin_ctx *ctx, int *changedp)
{
	size_t len = 0, tlen = strlen(ctx->dropin_text);
	struct stat st;
	char *old = NULL;
	int r;

	*changedp = 0;
	memset(&st, 0, sizeof(st));
	if (plugin_file_same(ctx->dropin, ctx->dropin_text, tlen, 0644)) {
		plugin_msg(ctx, MSG_NOTE, "%s is up to date", ctx->dropin);
		return 0;
	}
	if ((r = plugin_read_opt(ctx->dropin, PLUGIN_CONFIG_MAX, &old,
	    &len)) != 0 || (old != NULL && lstat(ctx->dropin, &st) == -1) ||
	    (r = lk_fs_mkdirs(ctx->dropin_dir, 0755)) != 0 ||
	    (r = lk_fs_write_atomic(ctx->dropin, ctx->dropin_text, tlen, 0644,
	    0, 0)) != 0) {
		plugin_msg(ctx, MSG_ERR, "cannot write %s: %s", ctx->dropin,
		    lk_err(r != 0 ? r : LK_ERR_SYSTEM));
		free(old);
		return r != 0 ? r : LK_ERR_SYSTEM;
	}
	if ((r = plugin_sshd_check(ctx, ctx->sshd_config)) != 0)
		plugin_dropin_restore(ctx, old, len, &st);
	else {
		*changedp = 1;
		plugin_msg(ctx, MSG_NOTE, "wrote %s", ctx->dropin);
	}
	free(old);
	return r;
}

static int
plugin_dropin_remove(struct plugin_ctx *ctx, int *changedp)
{
	struct stat st;
	char *old = NULL;
	size_t len;
	int r;

	*changedp = 0;
	if ((r = plugin_read_opt(ctx->dropin, PLUGIN_CONFIG_MAX, &old,
	    &len)) != 0 || old == NULL)
		return r;
	if (lstat(ctx->dropin, &st) == -1 || unlink(ctx->dropin) == -1) {
		plugin_msg(ctx, MSG_ERR, "cannot remove %s: %s", ctx->dropin,
		    strerror(errno));
		free(old);
		return LK_ERR_SYSTEM;
	}
	if ((r = plugin_sshd_check(ctx, ctx->sshd_config)) != 0)
		plugin_dropin_restore(ctx, old, len, &st);
	else {
		*changedp = 1;
		plugin_msg(ctx, MSG_NOTE, "removed %s", ctx->dropin);
	}
	free(old);
	return r;
}

static int
plugin_cfg_read(struct plugin_ctx *ctx, char **cfgp, size_t *lenp)
{
	int r;

	if ((r = lk_fs_read(ctx->sshd_config, PLUGIN_CONFIG_MAX, cfgp,
	    lenp)) != 0)
		plugin_msg(ctx, MSG_ERR, "%s: %s%s", ctx->sshd_config,
		    lk_err(r), r == LK_ERR_NOT_FOUND ?
		    " (is openssh-server installed?)" : "");
	return r;
}

/* --- actions ---------------------------------------------------------- */

static int
plugin_require_root(struct plugin_ctx *ctx)
{
	if (geteuid() == 0)
		return 0;
	plugin_msg(ctx, MSG_ERR, "must be run as root");
	return PLUGIN_ERR_NOTROOT;
}

/* Takes back what this --install created before sshd -t refused. */
static void
plugin_undo(struct plugin_ctx *ctx, const struct plugin_undo *undo)
{
	if (undo->send)
		plugin_unlink(ctx, ctx->send);
	if (undo->helper)
		plugin_unlink(ctx, ctx->helper);
	if (undo->user)
		plugin_user_remove(ctx);
}

/* Chooses drop-in or block, checks the helper's directory is usable. */
static int
plugin_install_prepare(struct plugin_ctx *ctx, const char *cfg, size_t len,
    enum plugin_mode *modep)
{
	struct plugin_scan sc = { 0, 0 };
	size_t s, e;
	int r;

	if ((r = plugin_block_find(cfg, len, &s, &e)) < 0) {
		plugin_msg(ctx, MSG_ERR, "%s has \"%s\" without \"%s\"; fix "
		    "it by hand", ctx->sshd_config, PLUGIN_BEGIN, PLUGIN_END);
		return r;
	}
	plugin_cfg_scan(ctx, ctx->sshd_config, cfg, len, 1, &sc);
	*modep = r == 1 || !sc.covers ? MODE_BLOCK : MODE_DROPIN;
	if ((r = plugin_secure_dir(ctx, ctx->helper_dir)) != 0)
		return r;
	if ((r = lk_fs_mkdirs(ctx->helper_dir, 0755)) != 0)
		plugin_msg(ctx, MSG_ERR, "%s: %s", ctx->helper_dir, lk_err(r));
	return r;
}

static int
plugin_install(struct plugin_ctx *ctx)
{
	struct plugin_state old, st;
	struct plugin_undo undo = { 0, 0, 0 };
	enum plugin_mode mode = MODE_NONE;
	char *cfg = NULL;
	size_t len;
	int r, changed = 0;

	if ((r = plugin_require_root(ctx)) != 0 ||
	    (r = plugin_state_read(ctx, &old)) != 0 ||
	    (r = plugin_cfg_read(ctx, &cfg, &len)) != 0 ||
	    (r = plugin_install_prepare(ctx, cfg, len, &mode)) != 0 ||
	    (r = plugin_user_ensure(ctx, &undo.user)) != 0)
		goto out;
	if ((r = plugin_bins_install(ctx, &undo)) != 0)
		goto undo;
	if (mode == MODE_DROPIN)
		r = plugin_dropin_install(ctx, &changed);
	else
		r = plugin_block_install(ctx, cfg, len, &changed);
	if (r != 0)
		goto undo;
	if ((r = plugin_store_create(ctx)) != 0)
		goto out;
	if (changed)
		plugin_sshd_reload(ctx);
	memset(&st, 0, sizeof(st));
	snprintf(st.version, sizeof(st.version), "%s", ctx->version);
	st.mode = mode;
	st.created_user = undo.user || (old.present && old.created_user);
	if ((r = plugin_state_write(ctx, &st)) != 0)
		goto out;
	plugin_msg(ctx, MSG_NOTE, "%s %s is installed (%s mode)", PLUGIN_NAME,
	    ctx->version, plugin_mode_name(mode));
	goto out;
 undo:
	plugin_undo(ctx, &undo);
 out:
	free(cfg);
	return r;
}

static int
plugin_uninstall(struct plugin_ctx *ctx)
{
	struct plugin_state st;
	char *cfg = NULL;
	size_t len = 0;
	int r, c1 = 0, c2 = 0, had;

	if ((r = plugin_require_root(ctx)) != 0 ||
	    (r = plugin_state_read(ctx, &st)) != 0)
		goto out;
	if ((r = plugin_read_opt(ctx->sshd_config, PLUGIN_CONFIG_MAX, &cfg,
	    &len)) != 0) {
		plugin_msg(ctx, MSG_ERR, "%s: %s", ctx->sshd_config,
		    lk_err(r));
		goto out;
	}
	had = st.present || access(ctx->dropin, F_OK) == 0 ||
	    access(ctx->send, F_OK) == 0 || access(ctx->helper, F_OK) == 0;
	if (cfg != NULL && (r = plugin_block_remove(ctx, cfg, len, &c1)) != 0)
		goto out;
	if ((r = plugin_dropin_remove(ctx, &c2)) != 0)
		goto out;
	if (c1 || c2)
		plugin_sshd_reload(ctx);
	plugin_bins_remove(ctx);
	plugin_store_remove(ctx);
	if (st.present && st.created_user)
		plugin_user_remove(ctx);
	if (st.present)
		plugin_unlink(ctx, ctx->state);
	if (!had && !c1 && !c2)
		plugin_msg(ctx, MSG_NOTE, "%s is not installed; nothing to do",
		    PLUGIN_NAME);
	else
		plugin_msg(ctx, MSG_NOTE, "%s is uninstalled", PLUGIN_NAME);
 out:
	if (r == LK_ERR_INVALID_FORMAT)
		plugin_msg(ctx, MSG_ERR, "%s has \"%s\" without \"%s\"; fix "
		    "it by hand", ctx->sshd_config, PLUGIN_BEGIN, PLUGIN_END);
	free(cfg);
	return r;
}

/* Whether sshd's configuration holds our lines in mode m, exactly. */
static int
plugin_status_config(struct plugin_ctx *ctx, enum plugin_mode m)
{
	struct plugin_scan sc = { 0, 0 };
	char *cfg = NULL;
	size_t len, s, e, blen = strlen(ctx->block_text);
	int ok = 0;

	if (lk_fs_read(ctx->sshd_config, PLUGIN_CONFIG_MAX, &cfg, &len) != 0)
		return 0;
	if (m == MODE_BLOCK)
		ok = plugin_block_find(cfg, len, &s, &e) == 1 &&
		    e - s == blen && memcmp(cfg + s, ctx->block_text, blen) == 0;
	else if (m == MODE_DROPIN) {
		plugin_cfg_scan(ctx, ctx->sshd_config, cfg, len, 1, &sc);
		ok = sc.covers && plugin_file_same(ctx->dropin,
		    ctx->dropin_text, strlen(ctx->dropin_text), 0644);
	}
	free(cfg);
	return ok;
}

static const char *
plugin_yesno(int b)
{
	return b ? "yes" : "no";
}

static int
plugin_status(struct plugin_ctx *ctx)
{
	struct plugin_state st;
	struct stat sb;
	int cfg_ok, send_ok, helper_ok, store_ok, user_ok;

	if (plugin_state_read(ctx, &st) != 0)
		return LK_ERR_SYSTEM;
	cfg_ok = plugin_status_config(ctx, st.mode);
	send_ok = stat(ctx->send, &sb) == 0 && S_ISREG(sb.st_mode);
	helper_ok = stat(ctx->helper, &sb) == 0 && S_ISREG(sb.st_mode);
	store_ok = stat(ctx->store, &sb) == 0 && S_ISDIR(sb.st_mode);
	user_ok = getpwnam(LK_HELPER_USER) != NULL;
	printf("installed: %s\n", plugin_yesno(st.present));
	printf("version: %s\n", st.present ? st.version : "-");
	printf("package version: %s\n", ctx->version);
	printf("mode: %s (%s)\n", plugin_mode_name(st.mode),
	    st.mode == MODE_DROPIN ? ctx->dropin : ctx->sshd_config);
	printf("sshd configuration has our lines: %s\n", plugin_yesno(cfg_ok));
	printf("send_ssh_public_key: %s\n", plugin_yesno(send_ok));
	printf("latchkey-authorized-keys: %s\n", plugin_yesno(helper_ok));
	printf("key store: %s\n", plugin_yesno(store_ok));
	printf("user %s: %s\n", LK_HELPER_USER, plugin_yesno(user_ok));
	if (!st.present) {
		printf("status: not installed\n");
		return PLUGIN_EXIT_NOTINST;
	}
	if (!cfg_ok || !send_ok || !helper_ok || !store_ok || !user_ok) {
		printf("status: inconsistent; run --install again\n");
		return PLUGIN_EXIT_INCONS;
	}
	printf("status: ok\n");
	return PLUGIN_EXIT_OK;
}

static int
plugin_exit_status(int r)
{
	return r == 0 ? PLUGIN_EXIT_OK :
	    r == PLUGIN_ERR_NOTROOT ? PLUGIN_EXIT_NOTROOT :
	    r == PLUGIN_ERR_CHECK ? PLUGIN_EXIT_CHECK :
	    r == LK_ERR_UNSAFE ? PLUGIN_EXIT_UNSAFE : PLUGIN_EXIT_ERROR;
}

int
main(int argc, char **argv)
{
	struct plugin_ctx *ctx;
	int ex;

	umask(022);
	log_init(PLUGIN_NAME, LK_LOG_STDERR, 0);
	if (argc != 2) {
		plugin_usage(stderr);
		return PLUGIN_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		plugin_usage(stdout);
		return PLUGIN_EXIT_OK;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		fatal("calloc");
	if (strcmp(argv[1], "--version") == 0) {
		ex = plugin_pkg_init(ctx) == 0 ? PLUGIN_EXIT_OK :
		    PLUGIN_EXIT_ERROR;
		if (ex == PLUGIN_EXIT_OK)
			printf("%s %s\n", PLUGIN_NAME, ctx->version);
		free(ctx);
		return ex;
	}
	if (plugin_env_init(ctx) != 0 || plugin_pkg_init(ctx) != 0 ||
	    plugin_paths_init(ctx) != 0) {
		free(ctx);
		return PLUGIN_EXIT_ERROR;
	}
	ctx->action = argv[1] + 2;
	ctx->log_file = geteuid() == 0;
	if (strcmp(argv[1], "--install") == 0)
		ex = plugin_exit_status(plugin_install(ctx));
	else if (strcmp(argv[1], "--uninstall") == 0)
		ex = plugin_exit_status(plugin_uninstall(ctx));
	else if (strcmp(argv[1], "--status") == 0) {
		ctx->log_file = 0;
		ex = plugin_status(ctx);
		if (ex < 0)
			ex = PLUGIN_EXIT_ERROR;
	} else {
		fprintf(stderr, "%s: unknown option \"%.64s\"\n", PLUGIN_NAME,
		    argv[1]);
		plugin_usage(stderr);
		ex = PLUGIN_EXIT_USAGE;
	}
	free(ctx);
	return ex;
}
