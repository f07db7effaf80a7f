/*
 * One SendFile task: a file written where the task says, as its owner,
 * atomically and never through a symbolic link (docs/agent.md, "Files").
 *
 * The parent (the task's thread) reads the task (lib/filespec.c checks the
 * name, the mode, the group and the content again: the server did, but the
 * agent trusts no input), looks up the owner and the group, and forks. The
 * child, with async-signal-safe calls only (the agent has other threads),
 * takes the owner's groups, gid and uid, so that the directories it may
 * write and the groups it may give the file are the owner's own, as if the
 * owner had copied it there; then:
 *
 *  1. walks TargetDir from "/" one component at a time with
 *     openat(O_DIRECTORY | O_NOFOLLOW): a component that is a symbolic link
 *     (or not a directory) ends the task with FilePathInvalid, and one that
 *     is missing is made (mkdirat, 0755) and opened the same way. Nothing
 *     is ever resolved by a path of more than one component, so no link
 *     planted on the way, before or during the walk, is followed;
 *  2. without Overwrite, refuses a name that exists as anything, a link
 *     included (FileAlreadyExists), and renames with RENAME_NOREPLACE, so
 *     that one made meanwhile is not replaced either;
 *  3. creates a temporary file in that directory (O_CREAT | O_EXCL |
 *     O_NOFOLLOW, 0600), writes the bytes, fchown()s it to the owner and
 *     the group, fchmod()s the mode (after the chown, which clears set-id
 *     bits), fsync()s it and renames it onto the name in the same
 *     directory, then fsync()s the directory. A link at the name is
 *     replaced, never written through; its target is left as it was.
 *
 * A failure is written as {stage, errno, offset} to a close-on-exec pipe and
 * the temporary file is removed; the parent turns it into the task's
 * ErrorCode and a message. The timeout and a stop kill the child.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "filespec.h"
#include "util.h"

#include "agent.h"

#define AGENT_FILE_DIR_MODE	0755
#define AGENT_FILE_GRBUF_MAX	(1024 * 1024)

enum agent_file_stage {
	AF_OK = 0,
	AF_CREDS,	/* setgroups, setgid, setuid */
	AF_ROOT,	/* open("/") */
	AF_LINK,	/* a component is a link or not a directory */
	AF_MKDIR,
	AF_OPENDIR,
	AF_EXISTS,	/* the name exists and Overwrite is false */
	AF_CREATE,
	AF_WRITE,
	AF_CHOWN,
	AF_CHMOD,
	AF_SYNC,
	AF_RENAME,
};

struct agent_file_err {
	int	stage;
	int	err;
	int	off;		/* end of the path component it concerns */
};

/* What the child needs, made before fork. */
struct agent_file_prep {
	struct lk_filespec	 f;
	uid_t			 uid;
	gid_t			 gid;		/* the file's group */
	gid_t			 pgid;		/* the owner's primary group */
	gid_t			*groups;
	int			 ngroups;
	int			 switch_user;
	char			 dir[LK_FILE_DIR_MAX + 1];
	char			 tmp[40];
	char			 group[64];	/* its name, for messages */
};

static void
agent_file_prep_free(struct agent_file_prep *p)
{
	lk_filespec_free(&p->f);
	free(p->groups);
	memset(p, 0, sizeof(*p));
}

/* A Failed result with code and the message (printf-like). */
static void __attribute__((format(printf, 3, 4)))
agent_file_fail(struct agent_result *res, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	agent_result_error(res, "Failed", code, msg);
}

/* The group gid of name ("" for the owner's primary group). */
static int
agent_file_group(const char *name, gid_t def, gid_t *gidp)
{
	struct group gr, *res = NULL;
	size_t len = 16384;
	char *buf = NULL, *nb;
	int e;

	if (*name == '\0') {
		*gidp = def;
		return 0;
	}
	for (;;) {
		if ((nb = realloc(buf, len)) == NULL) {
			free(buf);
			return LK_ERR_ALLOC;
		}
		buf = nb;
		if ((e = getgrnam_r(name, &gr, buf, len, &res)) != ERANGE ||
		    len >= AGENT_FILE_GRBUF_MAX)
			break;
		len *= 2;
	}
	if (e == 0 && res != NULL)
		*gidp = gr.gr_gid;
	free(buf);
	return e == 0 && res != NULL ? 0 : LK_ERR_USER_UNKNOWN;
}

/* Reads and checks the task, looks up the accounts; fills res on error. */
static int
agent_file_prepare(const struct agent_spec *spec, struct agent_file_prep *p,
    struct agent_result *res)
{
	static const char hex[] = "0123456789abcdef";
	struct passwd pw;
	unsigned char rnd[8];
	const char *why = NULL, *user;
	char *pwbuf = NULL;
	size_t i;
	int r;

	memset(p, 0, sizeof(*p));
	user = spec->username[0] != '\0' ? spec->username : "root";
	if ((r = lk_filespec_parse(spec->content, strlen(spec->content), &p->f,
	    &why)) != 0) {
		if (r == LK_ERR_ALLOC)
			agent_result_error(res, "Error", "ExecutionException",
			    "out of memory");
		else if (strcmp(why, "name") == 0)
			agent_file_fail(res, "FileNameInvalid", "the file name "
			    "is not one path component (no '/', '.', '..' or "
			    "control characters, at most %d bytes)",
			    LK_FILE_NAME_MAX);
		else if (strcmp(why, "mode") == 0)
			agent_file_fail(res, "FileAuthorityInvalid", "the file "
			    "mode is not octal up to 07777");
		else if (strcmp(why, "group") == 0)
			agent_file_fail(res, "UserGroupNotExists", "the group "
			    "name is not valid");
		else
			agent_file_fail(res, "ExecutionException", "malformed "
			    "file task (%s)", why);
		return -1;
	}
	if (!lk_file_dir_valid(spec->working_dir)) {
		agent_file_fail(res, "FilePathInvalid", "the target directory "
		    "is not an absolute path without \".\" or \"..\"");
		return -1;
	}
	snprintf(p->dir, sizeof(p->dir), "%s", spec->working_dir);
	snprintf(p->group, sizeof(p->group), "%s", p->f.group);
	if ((r = lk_user_valid(user)) == 0)
		r = agent_exec_getpw(user, &pw, &pwbuf);
	if (r == LK_ERR_USER_INVALID || r == LK_ERR_USER_UNKNOWN) {
		free(pwbuf);
		agent_file_fail(res, "AccountNotExists", "no such user: %s",
		    user);
		return -1;
	}
	if (r != 0)
		goto fail;
	p->uid = pw.pw_uid;
	p->pgid = pw.pw_gid;
	p->switch_user = pw.pw_uid != geteuid() || pw.pw_gid != getegid();
	if (p->switch_user && (r = agent_exec_getgroups(&pw, &p->groups,
	    &p->ngroups)) != 0)
		goto fail;
	free(pwbuf);
	pwbuf = NULL;
	if ((r = agent_file_group(p->f.group, p->pgid, &p->gid)) != 0) {
		if (r != LK_ERR_USER_UNKNOWN)
			goto fail;
		agent_file_fail(res, "UserGroupNotExists", "no such group: %s",
		    p->f.group);
		return -1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		goto fail;
	memcpy(p->tmp, ".latchkey-", 10);
	for (i = 0; i < sizeof(rnd); i++) {
		p->tmp[10 + 2 * i] = hex[rnd[i] >> 4];
		p->tmp[11 + 2 * i] = hex[rnd[i] & 15];
	}
	memcpy(p->tmp + 10 + 2 * sizeof(rnd), ".tmp", 5);
	return 0;
 fail:
	free(pwbuf);
	agent_result_error(res, "Error", "ExecutionException",
	    "cannot prepare the file's process");
	return -1;
}

/* In the child: reports the failure and exits. */
static void __attribute__((noreturn))
agent_file_die(int errw, int stage, int err, int off)
{
	struct agent_file_err e = { stage, err, off };
	ssize_t ign;

	ign = write(errw, &e, sizeof(e));
	(void)ign;
	_exit(1);
}

/*
 * In the child: opens p->dir one component at a time, never following a
 * link, making what is missing. Returns the directory's descriptor.
 */
static int
agent_file_walk(struct agent_file_prep *p, int errw)
{
	char *c = p->dir, *e;
	int dfd, fd, off;

	if ((dfd = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC)) == -1)
		agent_file_die(errw, AF_ROOT, errno, 0);
	for (;;) {
		while (*c == '/')
			c++;
		if (*c == '\0')
			return dfd;
		for (e = c; *e != '\0' && *e != '/'; e++)
			;
		off = (int)(e - p->dir);
		if (*e == '/')
			*e++ = '\0';
		fd = openat(dfd, c, O_DIRECTORY | O_NOFOLLOW | O_RDONLY |
		    O_CLOEXEC);
		if (fd == -1 && errno == ENOENT) {
			if (mkdirat(dfd, c, AGENT_FILE_DIR_MODE) == -1 &&
			    errno != EEXIST)
				agent_file_die(errw, AF_MKDIR, errno, off);
			fd = openat(dfd, c, O_DIRECTORY | O_NOFOLLOW |
			    O_RDONLY | O_CLOEXEC);
		}
		if (fd == -1)
			agent_file_die(errw, errno == ELOOP ||
			    errno == ENOTDIR ? AF_LINK : AF_OPENDIR, errno,
			    off);
		close(dfd);
		dfd = fd;
		c = e;
	}
}

/* In the child: the rename, without replacing unless overwrite. */
static int
agent_file_rename(int dfd, const char *tmp, const char *name, int overwrite)
{
	if (overwrite)
		return renameat(dfd, tmp, dfd, name);
	if (renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: link(2) never replaces. */
	if (linkat(dfd, tmp, dfd, name, 0) == -1)
		return -1;
	(void)unlinkat(dfd, tmp, 0);
	return 0;
}

static void __attribute__((noreturn))
agent_file_child(struct agent_file_prep *p, int errw)
{
	const unsigned char *d = p->f.data;
	size_t left = p->f.len;
	struct stat st;
	ssize_t w;
	int dfd, fd, stage = AF_OK, err = 0;

	if (p->switch_user && (setgroups((size_t)p->ngroups, p->groups) == -1 ||
	    setgid(p->pgid) == -1 || setuid(p->uid) == -1))
		agent_file_die(errw, AF_CREDS, errno, 0);
	umask(022);
	dfd = agent_file_walk(p, errw);
	if (!p->f.overwrite && fstatat(dfd, p->f.name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0)
		agent_file_die(errw, AF_EXISTS, EEXIST, 0);
	if ((fd = openat(dfd, p->tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		agent_file_die(errw, AF_CREATE, errno, 0);
	while (left > 0 && stage == AF_OK) {
		if ((w = write(fd, d, left)) == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			stage = AF_WRITE;
			err = w == 0 ? EIO : errno;
			break;
		}
		d += w;
		left -= (size_t)w;
	}
	if (stage == AF_OK && fchown(fd, p->uid, p->gid) == -1)
		stage = AF_CHOWN, err = errno;
	if (stage == AF_OK && fchmod(fd, (mode_t)p->f.mode) == -1)
		stage = AF_CHMOD, err = errno;
	if (stage == AF_OK && fsync(fd) == -1)
		stage = AF_SYNC, err = errno;
	if (close(fd) == -1 && stage == AF_OK)
		stage = AF_SYNC, err = errno;
	if (stage == AF_OK && agent_file_rename(dfd, p->tmp, p->f.name,
	    p->f.overwrite) == -1)
		stage = errno == EEXIST ? AF_EXISTS : AF_RENAME, err = errno;
	if (stage != AF_OK) {
		(void)unlinkat(dfd, p->tmp, 0);
		agent_file_die(errw, stage, err, 0);
	}
	(void)fsync(dfd);
	_exit(0);
}

/* The child's failure as the task's ErrorCode and message. */
static void
agent_file_explain(const struct agent_file_prep *p,
    const struct agent_file_err *e, struct agent_result *res)
{
	char buf[128], comp[LK_FILE_DIR_MAX + 1];
	const char *why = strerror_r(e->err, buf, sizeof(buf));	/* GNU */
	int off = e->off > 0 && e->off <= (int)LK_FILE_DIR_MAX ? e->off : 0;

	snprintf(comp, sizeof(comp), "%.*s", off, p->dir);
	switch (e->stage) {
	case AF_LINK:
		agent_file_fail(res, "FilePathInvalid", "%s is a symbolic link "
		    "or not a directory; it is not followed", comp);
		break;
	case AF_EXISTS:
		agent_file_fail(res, "FileAlreadyExists", "%s/%s exists and "
		    "Overwrite is false", p->dir, p->f.name);
		break;
	case AF_MKDIR:
		agent_file_fail(res, "FileWriteFailed", "cannot make directory "
		    "%s: %s", comp, why);
		break;
	case AF_OPENDIR:
		agent_file_fail(res, "FileWriteFailed", "cannot open directory "
		    "%s: %s", comp, why);
		break;
	case AF_CHOWN:
		agent_file_fail(res, "UserGroupNotExists", "cannot give the "
		    "file the group %s: %s", *p->group ? p->group :
		    "(the owner's)", why);
		break;
	case AF_CHMOD:
		agent_file_fail(res, "FileAuthorityInvalid", "cannot set mode "
		    "%04o: %s", p->f.mode, why);
		break;
	case AF_CREDS:
		agent_file_fail(res, "AccountNotExists", "cannot become the "
		    "owner: %s", why);
		break;
	default:
		agent_file_fail(res, "FileWriteFailed", "cannot write %s/%s: %s",
		    p->dir, p->f.name, why);
		break;
	}
}

/*
 * Waits for the child's report (EOF: it exited without one) until the
 * timeout or a stop; 0 when it ended by itself, else the reason.
 */
static int
agent_file_wait(pid_t pid, int errr, long timeout, struct agent_ctl *ctl,
    struct agent_file_err *e, int *gotp)
{
	long long end = lk_now_ms() + timeout * 1000LL, left;
	struct pollfd pfd[2];
	ssize_t n;
	int how;

	*gotp = 0;
	pfd[0].fd = errr;
	pfd[0].events = POLLIN;
	pfd[1].fd = ctl->wakefd;
	pfd[1].events = POLLIN;
	for (;;) {
		if ((how = atomic_load(&ctl->stop)) != AGENT_STOP_NONE)
			break;
		if ((left = end - lk_now_ms()) <= 0) {
			how = -1;
			break;
		}
		if (poll(pfd, 2, left > 1000 ? 1000 : (int)left) == -1 &&
		    errno != EINTR)
			continue;
		if (pfd[0].revents == 0)
			continue;
		while ((n = read(errr, e, sizeof(*e))) == -1 && errno == EINTR)
			;
		*gotp = n == (ssize_t)sizeof(*e);
		return 0;
	}
	kill(pid, SIGKILL);
	return how;
}

void
agent_file_run(const struct agent_spec *spec, struct agent_ctl *ctl,
    struct agent_result *res)
{
	struct agent_file_prep p;
	struct agent_file_err e;
	int pfd[2] = { -1, -1 }, status = 0, got = 0, how;
	pid_t pid;

	if (agent_file_prepare(spec, &p, res) != 0)
		goto out;
	if (pipe2(pfd, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		agent_result_error(res, "Error", "ExecutionException",
		    "cannot start the file's process");
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		agent_file_child(&p, pfd[1]);
	}
	close(pfd[1]);
	pfd[1] = -1;
	how = agent_file_wait(pid, pfd[0], spec->timeout, ctl, &e, &got);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (how == -1)
		agent_file_fail(res, "ExecutionTimeout", "the file was not "
		    "written within %ld s", spec->timeout);
	else if (how == AGENT_STOP_REQUEST) {
		agent_result_error(res, "Stopped", "", "stopped");
	} else if (how == AGENT_STOP_SHUTDOWN)
		agent_result_error(res, "Failed", "ExecutionInterrupted",
		    "the agent stopped");
	else if (got)
		agent_file_explain(&p, &e, res);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		agent_file_fail(res, "FileWriteFailed", "the file's process "
		    "ended abnormally");
	else {
		agent_result_error(res, "Success", "", "");
		res->outlen = (size_t)snprintf((char *)res->output,
		    res->output != NULL ? AGENT_OUTPUT_MAX : 0, "wrote %s/%s: "
		    "%zu bytes, mode %04o\n", p.dir, p.f.name, p.f.len, p.f.mode);
		if (res->outlen >= AGENT_OUTPUT_MAX)
			res->outlen = res->output != NULL ? AGENT_OUTPUT_MAX - 1 :
			    0;
		res->exit_code = 0;
	}
	if (how == -1)
		res->status = "Timeout";
 out:
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	agent_file_prep_free(&p);
}
