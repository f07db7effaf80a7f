#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fsutil.h"

int
lk_fs_read(const char *path, size_t max, char **bufp, size_t *lenp)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	*bufp = NULL;
	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? LK_ERR_NOT_FOUND :
		    errno == ELOOP ? LK_ERR_UNSAFE : LK_ERR_SYSTEM;
	if (fstat(fd, &st) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = LK_ERR_UNSAFE;
		goto out;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	while ((n = read(fd, buf + len, max + 1 - len)) > 0)
		if ((len += (size_t)n) > max)
			break;
	if (n == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (len > max) {
		r = LK_ERR_TOO_LONG;
		goto out;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
 out:
	free(buf);
	close(fd);
	return r;
}

int
lk_fs_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, uid_t uid, gid_t gid)
{
	char *dcopy = NULL, tmp[4096];
	const char *p = data;
	size_t off = 0;
	ssize_t n;
	int fd = -1, dfd = -1, r;

	if (snprintf(tmp, sizeof(tmp), "%s.lk-tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp))
		return LK_ERR_TOO_LONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return LK_ERR_SYSTEM;
	while (off < len) {
		if ((n = write(fd, p + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			r = LK_ERR_SYSTEM;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchown(fd, uid, gid) == -1 || fchmod(fd, mode) == -1 ||
	    fsync(fd) == -1) {
		r = LK_ERR_SYSTEM;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r == -1) {
		r = LK_ERR_SYSTEM;
		goto fail;
	}
	if (rename(tmp, path) == -1) {
		r = LK_ERR_SYSTEM;
		goto fail;
	}
	if ((dcopy = strdup(path)) != NULL &&
	    (dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	free(dcopy);
	return 0;
 fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return r;
}

int
lk_fs_copy(const char *src, const char *dst, size_t max, mode_t mode,
    uid_t uid, gid_t gid)
{
	char *buf;
	size_t len;
	int r;

	if ((r = lk_fs_read(src, max, &buf, &len)) != 0)
		return r;
	r = lk_fs_write_atomic(dst, buf, len, mode, uid, gid);
	free(buf);
	return r;
}

/* mkdir that accepts an existing directory, and only a directory. */
static int
fs_mkdir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return LK_ERR_SYSTEM;
	if (stat(path, &st) == -1)
		return LK_ERR_SYSTEM;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return LK_ERR_SYSTEM;
	}
	return 0;
}

int
lk_fs_mkdirs(const char *path, mode_t mode)
{
	char buf[4096], *p;
	int r;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return LK_ERR_TOO_LONG;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if ((r = fs_mkdir(buf, mode)) != 0)
			return r;
		*p = '/';
	}
	return fs_mkdir(buf, mode);
}
