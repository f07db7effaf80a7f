#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "keystore.h"
#include "util.h"
#include "keystore_int.h"

#define STORE_PARENT_MODE	0755

int
lk__store_is_hex_name(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return i == 2 * LK_SSHKEY_DIGEST_LEN;
}

/* A directory is safe when root owns it and nobody else can write it. */
int
lk__store_check_dir(int fd, int allow_sticky)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return LK_ERR_SYSTEM;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0)
		return LK_ERR_UNSAFE;
	if ((st.st_mode & 022) != 0 &&
	    !(allow_sticky && (st.st_mode & S_ISVTX)))
		return LK_ERR_UNSAFE;
	return 0;
}

int
lk__store_open_dir(int parent, const char *name)
{
	return openat(parent, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Maps an open failure to an error: a symlink or non-directory is unsafe. */
int
lk__store_open_err(void)
{
	if (errno == ELOOP || errno == ENOTDIR)
		return LK_ERR_UNSAFE;
	if (errno == ENOENT)
		return LK_ERR_NOT_FOUND;
	return LK_ERR_SYSTEM;
}

/* Makes a directory root:gid with mode, as the writer wants it. */
int
lk__store_fix_dir(int fd, gid_t gid, mode_t mode)
{
	if (fchown(fd, 0, gid) == -1 || fchmod(fd, mode) == -1)
		return LK_ERR_SYSTEM;
	return 0;
}

int
lk_store_open(const char *path, int flags, struct lk_store **storep)
{
	struct lk_store *store = NULL;
	struct group *gr;
	char *copy = NULL, *comp, *next;
	int fd = -1, nfd, r;

	*storep = NULL;
	if (path[0] != '/' || strlen(path) >= 4096)
		return LK_ERR_INVALID_FORMAT;
	if ((copy = strdup(path)) == NULL)
		return LK_ERR_ALLOC;
	if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	for (comp = copy + 1; comp != NULL && *comp != '\0'; comp = next) {
		if ((next = strchr(comp, '/')) != NULL) {
			*next++ = '\0';
			while (*next == '/')
				next++;
		}
		if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
			r = LK_ERR_INVALID_FORMAT;
			goto out;
		}
		/* Ancestors may be sticky (like /tmp); the store may not. */
		if ((r = lk__store_check_dir(fd, 1)) != 0)
			goto out;
		if ((nfd = lk__store_open_dir(fd, comp)) == -1 && errno == ENOENT &&
		    (flags & LK_STORE_CREATE)) {
			int last = next == NULL || *next == '\0';

			if (mkdirat(fd, comp, last ? 0700 : STORE_PARENT_MODE)
			    == -1 && errno != EEXIST) {
				r = LK_ERR_SYSTEM;
				goto out;
			}
			nfd = lk__store_open_dir(fd, comp);
		}
		if (nfd == -1) {
			r = lk__store_open_err();
			goto out;
		}
		close(fd);
		fd = nfd;
	}
	if ((r = lk__store_check_dir(fd, 0)) != 0)
		goto out;
	if ((store = calloc(1, sizeof(*store))) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	store->flags = flags;
	store->gid = 0;
	if ((flags & LK_STORE_WRITE) && (gr = getgrnam(LK_HELPER_USER)) != NULL)
		store->gid = gr->gr_gid;
	if ((flags & LK_STORE_WRITE) &&
	    (r = lk__store_fix_dir(fd, store->gid, LK__STORE_DIR_MODE)) != 0)
		goto out;
	store->dirfd = fd;
	fd = -1;
	*storep = store;
	store = NULL;
	r = 0;
 out:
	if (fd != -1)
		close(fd);
	free(store);
	free(copy);
	return r;
}

void
lk_store_close(struct lk_store *store)
{
	if (store == NULL)
		return;
	close(store->dirfd);
	free(store);
}

/*
 * Reads and validates the record called name in dirfd: a regular file
 * owned by root, not writable by others, of bounded size, for user. Its
 * key is checked for shape only; writers also check that it hashes to
 * name (store_write.c).
 */
int
lk__store_read_record(int dirfd, const char *name, const char *user,
    struct lk_record **recp)
{
	struct lk_record *rec = NULL;
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	*recp = NULL;
	fd = openat(dirfd, name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return lk__store_open_err();
	if (fstat(fd, &st) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		r = LK_ERR_UNSAFE;
		goto out;
	}
	if (st.st_size > LK_RECORD_MAX) {
		r = LK_ERR_RECORD;
		goto out;
	}
	if ((buf = malloc(LK_RECORD_MAX + 1)) == NULL) {
		r = LK_ERR_ALLOC;
		goto out;
	}
	/* Read to EOF, but never past the limit (the file may grow). */
	while ((n = read(fd, buf + len, LK_RECORD_MAX + 1 - len)) > 0)
		if ((len += (size_t)n) > LK_RECORD_MAX)
			break;
	if (n == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (len > LK_RECORD_MAX) {
		r = LK_ERR_RECORD;
		goto out;
	}
	if ((r = lk_record_parse(buf, len, &rec)) != 0)
		goto out;
	if (strcmp(rec->user, user) != 0) {
		r = LK_ERR_RECORD;
		goto out;
	}
	*recp = rec;
	rec = NULL;
	r = 0;
 out:
	close(fd);
	free(buf);
	lk_record_free(rec);
	return r;
}

void
lk__store_log_skip(const char *user, const char *name, int r)
{
	char vname[256];

	lk_vis(vname, sizeof(vname), name, strlen(name));
	log_warnx("store skip user=%s record=%s error=\"%s\"", user, vname,
	    lk_err(r));
}

/* Opens (and with create, makes) the user's directory and checks it. */
int
lk__store_user_dir(struct lk_store *store, const char *user, int create,
    int *fdp)
{
	int fd, r;

	*fdp = -1;
	if ((r = lk_user_valid(user)) != 0)
		return r;
	if ((fd = lk__store_open_dir(store->dirfd, user)) == -1 &&
	    errno == ENOENT && create) {
		if (mkdirat(store->dirfd, user, 0700) == -1 &&
		    errno != EEXIST)
			return LK_ERR_SYSTEM;
		fd = lk__store_open_dir(store->dirfd, user);
	}
	if (fd == -1)
		return lk__store_open_err();
	if ((r = lk__store_check_dir(fd, 0)) != 0 ||
	    (create && (r = lk__store_fix_dir(fd, store->gid,
	    LK__STORE_DIR_MODE)) != 0)) {
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

static int
store_list_one(int dirfd, const char *user, const char *name, int64_t now,
    lk_store_cb cb, void *arg)
{
	struct lk_record *rec = NULL;
	int r;

	if ((r = lk__store_read_record(dirfd, name, user, &rec)) != 0) {
		if (r == LK_ERR_NOT_FOUND)
			return 0;
		if (r == LK_ERR_ALLOC)
			return r;
		lk__store_log_skip(user, name, r);
		return 0;
	}
	if (rec->not_after > now)
		r = cb(rec, arg);
	lk_record_free(rec);
	return r;
}

int
lk_store_list(struct lk_store *store, const char *user,
    const unsigned char *dig, int64_t now, lk_store_cb cb, void *arg)
{
	char hex[LK_SSHKEY_HEX_SIZE];
	struct dirent *de;
	DIR *d;
	int dirfd, r;

	if ((r = lk__store_user_dir(store, user, 0, &dirfd)) != 0)
		return r == LK_ERR_NOT_FOUND ? 0 : r;
	if (dig != NULL) {
		lk_sshkey_hex(dig, hex);
		r = store_list_one(dirfd, user, hex, now, cb, arg);
		close(dirfd);
		return r;
	}
	if ((d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return LK_ERR_SYSTEM;
	}
	while ((de = readdir(d)) != NULL) {
		if (!lk__store_is_hex_name(de->d_name))
			continue;
		if ((r = store_list_one(dirfd, user, de->d_name, now, cb,
		    arg)) != 0)
			break;
	}
	closedir(d);
	return r;
}


int
lk_store_skew_read(const char *storepath, int64_t *skewp)
{
	char path[PATH_MAX], buf[LK_CLOCK_FILE_MAX + 1], num[24];
	const char *slash = strrchr(storepath, '/');
	long long v;
	ssize_t n;
	size_t len;
	int fd;

	*skewp = 0;
	if (slash == NULL || (size_t)snprintf(path, sizeof(path), "%.*s/%s",
	    (int)(slash - storepath), storepath, LK_CLOCK_FILE) >= sizeof(path))
		return LK_ERR_NOT_FOUND;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return LK_ERR_NOT_FOUND;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 8 || memcmp(buf, "skew_ms=", 8) != 0)
		return LK_ERR_INVALID_FORMAT;
	buf[n] = '\0';
	len = strcspn(buf + 8, "\n");
	if (len == 0 || len >= sizeof(num) || buf[8 + len] != '\n')
		return LK_ERR_INVALID_FORMAT;
	memcpy(num, buf + 8, len);
	num[len] = '\0';
	if (lk_parse_ll(num, -INT64_MAX / 2, INT64_MAX / 2, &v) != 0)
		return LK_ERR_INVALID_FORMAT;
	*skewp = (int64_t)v;
	return 0;
}
