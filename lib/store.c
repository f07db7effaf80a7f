#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "store.h"

#define STORE_DIR_MODE		0750
#define STORE_FILE_MODE		0640
#define STORE_PARENT_MODE	0755
#define STORE_TMP_PREFIX	".tmp."

struct lk_store {
	int	 dirfd;
	int	 flags;
	gid_t	 gid;		/* group that may read: the helper's */
};

/* One live record found while scanning a user's directory. */
struct store_entry {
	char	 name[LK_SSHKEY_HEX_SIZE];
	int64_t	 created;
	struct timespec	 mtime;	/* orders pushes within one second */
};

static int
store_is_hex_name(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return i == 2 * LK_SSHKEY_DIGEST_LEN;
}

/* A directory is safe when root owns it and nobody else can write it. */
static int
store_check_dir(int fd, int allow_sticky)
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

static int
store_open_dir(int parent, const char *name)
{
	return openat(parent, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Maps an open failure to an error: a symlink or non-directory is unsafe. */
static int
store_open_err(void)
{
	if (errno == ELOOP || errno == ENOTDIR)
		return LK_ERR_UNSAFE;
	if (errno == ENOENT)
		return LK_ERR_NOT_FOUND;
	return LK_ERR_SYSTEM;
}

/* Makes a directory root:gid with mode, as the writer wants it. */
static int
store_fix_dir(int fd, gid_t gid, mode_t mode)
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
		if ((r = store_check_dir(fd, 1)) != 0)
			goto out;
		if ((nfd = store_open_dir(fd, comp)) == -1 && errno == ENOENT &&
		    (flags & LK_STORE_CREATE)) {
			int last = next == NULL || *next == '\0';

			if (mkdirat(fd, comp, last ? 0700 : STORE_PARENT_MODE)
			    == -1 && errno != EEXIST) {
				r = LK_ERR_SYSTEM;
				goto out;
			}
			nfd = store_open_dir(fd, comp);
		}
		if (nfd == -1) {
			r = store_open_err();
			goto out;
		}
		close(fd);
		fd = nfd;
	}
	if ((r = store_check_dir(fd, 0)) != 0)
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
	    (r = store_fix_dir(fd, store->gid, STORE_DIR_MODE)) != 0)
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
 * owned by root, not writable by others, of bounded size, for user, whose
 * key hashes to its name.
 */
static int
store_read_record(int dirfd, const char *name, const char *user,
    struct lk_record **recp)
{
	struct lk_record *rec = NULL;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char hex[LK_SSHKEY_HEX_SIZE], *buf = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	*recp = NULL;
	fd = openat(dirfd, name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return store_open_err();
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
	if (strcmp(rec->user, user) != 0 ||
	    (r = lk_sshkey_digest(rec->key, dig)) != 0) {
		r = LK_ERR_RECORD;
		goto out;
	}
	lk_sshkey_hex(dig, hex);
	if (strcmp(hex, name) != 0) {
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

static void
store_log_skip(const char *user, const char *name, int r)
{
	char vname[256];

	lk_vis(vname, sizeof(vname), name, strlen(name));
	log_warnx("store skip user=%s record=%s error=\"%s\"", user, vname,
	    lk_err(r));
}

/* Opens (and with create, makes) the user's directory and checks it. */
static int
store_user_dir(struct lk_store *store, const char *user, int create, int *fdp)
{
	int fd, r;

	*fdp = -1;
	if ((r = lk_user_valid(user)) != 0)
		return r;
	if ((fd = store_open_dir(store->dirfd, user)) == -1 &&
	    errno == ENOENT && create) {
		if (mkdirat(store->dirfd, user, 0700) == -1 &&
		    errno != EEXIST)
			return LK_ERR_SYSTEM;
		fd = store_open_dir(store->dirfd, user);
	}
	if (fd == -1)
		return store_open_err();
	if ((r = store_check_dir(fd, 0)) != 0 ||
	    (create && (r = store_fix_dir(fd, store->gid,
	    STORE_DIR_MODE)) != 0)) {
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

static int
store_entry_cmp(const void *a, const void *b)
{
	const struct store_entry *ea = a, *eb = b;

	if (ea->created != eb->created)
		return ea->created < eb->created ? -1 : 1;
	if (ea->mtime.tv_sec != eb->mtime.tv_sec)
		return ea->mtime.tv_sec < eb->mtime.tv_sec ? -1 : 1;
	if (ea->mtime.tv_nsec != eb->mtime.tv_nsec)
		return ea->mtime.tv_nsec < eb->mtime.tv_nsec ? -1 : 1;
	return strcmp(ea->name, eb->name);
}

/*
 * Writes the record to a new temporary file in dirfd and syncs it; the
 * caller renames it into place. *tmpname receives its name.
 */
static int
store_write_tmp(struct lk_store *store, int dirfd, const char *hex,
    const struct lk_record *rec, char *tmpname, size_t tmpsize)
{
	char *buf = NULL;
	size_t len, off = 0;
	ssize_t n;
	int fd = -1, r;

	if ((r = lk_record_format(rec, &buf, &len)) != 0)
		return r;
	snprintf(tmpname, tmpsize, "%s%s.%ld", STORE_TMP_PREFIX, hex,
	    (long)getpid());
	fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (fchown(fd, 0, store->gid) == -1 ||
	    fchmod(fd, STORE_FILE_MODE) == -1) {
		r = LK_ERR_SYSTEM;
		goto fail;
	}
	while (off < len) {
		if ((n = write(fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			r = LK_ERR_SYSTEM;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1) {
		r = LK_ERR_SYSTEM;
		goto fail;
	}
	r = 0;
	goto out;
 fail:
	unlinkat(dirfd, tmpname, 0);
 out:
	if (fd != -1)
		close(fd);
	free(buf);
	return r;
}

/*
 * Scans a locked user directory: removes leftover temporary files and
 * expired records, refuses when target names something that is not a
 * regular file, and collects the other live records in *entriesp.
 */
static int
store_scan(int dirfd, const char *user, const char *target, int64_t now,
    struct store_entry **entriesp, size_t *countp, size_t *expiredp,
    int *renewedp)
{
	struct store_entry *entries = NULL, *tmp;
	struct lk_record *rec;
	struct dirent *de;
	struct stat st;
	size_t count = 0, cap = 0;
	DIR *d;
	int fd, r = 0;

	*entriesp = NULL;
	*countp = 0;
	if ((fd = dup(dirfd)) == -1)
		return LK_ERR_SYSTEM;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return LK_ERR_SYSTEM;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STORE_TMP_PREFIX,
		    strlen(STORE_TMP_PREFIX)) == 0) {
			/* We hold the lock: no writer is using it. */
			unlinkat(dirfd, de->d_name, 0);
			continue;
		}
		if (!store_is_hex_name(de->d_name))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode)) {
			if (strcmp(de->d_name, target) == 0) {
				r = LK_ERR_UNSAFE;
				goto out;
			}
			store_log_skip(user, de->d_name, LK_ERR_UNSAFE);
			continue;
		}
		if ((r = store_read_record(dirfd, de->d_name, user,
		    &rec)) != 0) {
			if (r == LK_ERR_ALLOC)
				goto out;
			store_log_skip(user, de->d_name, r);
			r = 0;
			continue;
		}
		if (rec->not_after <= now) {
			if (unlinkat(dirfd, de->d_name, 0) == 0)
				(*expiredp)++;
		} else if (strcmp(de->d_name, target) == 0) {
			*renewedp = 1;
		} else {
			if (count == cap) {
				cap = cap ? cap * 2 : 16;
				if ((tmp = reallocarray(entries, cap,
				    sizeof(*entries))) == NULL) {
					lk_record_free(rec);
					r = LK_ERR_ALLOC;
					goto out;
				}
				entries = tmp;
			}
			memcpy(entries[count].name, de->d_name,
			    LK_SSHKEY_HEX_SIZE);
			entries[count].mtime = st.st_mtim;
			entries[count++].created = rec->created;
		}
		lk_record_free(rec);
	}
	*entriesp = entries;
	entries = NULL;
	*countp = count;
 out:
	closedir(d);
	free(entries);
	return r;
}

int
lk_store_put(struct lk_store *store, const char *user,
    const struct lk_sshkey *key, int64_t now, int64_t ttl,
    struct lk_store_put_result *res)
{
	struct lk_record rec;
	struct store_entry *entries = NULL;
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char hex[LK_SSHKEY_HEX_SIZE], tmpname[128];
	size_t count = 0, i;
	int dirfd = -1, have_tmp = 0, r;

	memset(res, 0, sizeof(*res));
	if (!(store->flags & LK_STORE_WRITE) || ttl <= 0)
		return LK_ERR_INTERNAL;
	if ((r = lk_sshkey_digest(key, dig)) != 0)
		return r;
	lk_sshkey_hex(dig, hex);
	memset(&rec, 0, sizeof(rec));
	if ((r = lk_user_valid(user)) != 0)
		return r;
	snprintf(rec.user, sizeof(rec.user), "%s", user);
	rec.created = now;
	rec.not_after = now + ttl;
	rec.key = (struct lk_sshkey *)(uintptr_t)key;	/* read only */
	if ((r = store_user_dir(store, user, 1, &dirfd)) != 0)
		return r;
	if (flock(dirfd, LOCK_EX) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	/* Scan first: it may refuse, and then nothing has changed. */
	if ((r = store_scan(dirfd, user, hex, now, &entries, &count,
	    &res->expired, &res->renewed)) != 0)
		goto out;
	if ((r = store_write_tmp(store, dirfd, hex, &rec, tmpname,
	    sizeof(tmpname))) != 0)
		goto out;
	have_tmp = 1;
	/* Keep at most LK_STORE_MAX_PER_USER live keys: oldest go first. */
	if (count >= LK_STORE_MAX_PER_USER) {
		qsort(entries, count, sizeof(*entries), store_entry_cmp);
		for (i = 0; i + LK_STORE_MAX_PER_USER - 1 < count; i++)
			if (unlinkat(dirfd, entries[i].name, 0) == 0)
				res->evicted++;
	}
	if (renameat(dirfd, tmpname, dirfd, hex) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	have_tmp = 0;
	if (fsync(dirfd) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	res->not_after = rec.not_after;
	r = 0;
 out:
	if (have_tmp)
		unlinkat(dirfd, tmpname, 0);
	if (dirfd != -1)
		close(dirfd);	/* releases the lock */
	free(entries);
	return r;
}

static int
store_list_one(int dirfd, const char *user, const char *name, int64_t now,
    lk_store_cb cb, void *arg)
{
	struct lk_record *rec = NULL;
	int r;

	if ((r = store_read_record(dirfd, name, user, &rec)) != 0) {
		if (r == LK_ERR_NOT_FOUND)
			return 0;
		if (r == LK_ERR_ALLOC)
			return r;
		store_log_skip(user, name, r);
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

	if ((r = store_user_dir(store, user, 0, &dirfd)) != 0)
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
		if (!store_is_hex_name(de->d_name))
			continue;
		if ((r = store_list_one(dirfd, user, de->d_name, now, cb,
		    arg)) != 0)
			break;
	}
	closedir(d);
	return r;
}

/* Removes the expired and corrupt records of one user's directory. */
static int
store_purge_user(struct lk_store *store, const char *user, int64_t now,
    size_t *removedp)
{
	struct lk_record *rec;
	struct dirent *de;
	DIR *d;
	int dirfd, fd, r;

	if ((r = store_user_dir(store, user, 0, &dirfd)) != 0)
		return r;
	if (flock(dirfd, LOCK_EX) == -1 || (fd = dup(dirfd)) == -1) {
		close(dirfd);
		return LK_ERR_SYSTEM;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		close(dirfd);
		return LK_ERR_SYSTEM;
	}
	while ((de = readdir(d)) != NULL) {
		if (!store_is_hex_name(de->d_name))
			continue;
		r = store_read_record(dirfd, de->d_name, user, &rec);
		if (r == LK_ERR_ALLOC || r == LK_ERR_UNSAFE)
			continue;	/* not ours to delete */
		if (r != 0 || rec->not_after <= now) {
			if (r != 0)
				store_log_skip(user, de->d_name, r);
			if (unlinkat(dirfd, de->d_name, 0) == 0)
				(*removedp)++;
		}
		lk_record_free(rec);
	}
	closedir(d);
	close(dirfd);
	return 0;
}

int
lk_store_purge(struct lk_store *store, int64_t now, size_t *removedp)
{
	struct dirent *de;
	size_t users = 0;
	DIR *d;
	int fd, r = 0;

	*removedp = 0;
	if (!(store->flags & LK_STORE_WRITE))
		return LK_ERR_INTERNAL;
	if ((fd = dup(store->dirfd)) == -1)
		return LK_ERR_SYSTEM;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return LK_ERR_SYSTEM;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL && users++ < LK_STORE_MAX_USERS) {
		if (lk_user_valid(de->d_name) != 0)
			continue;
		if ((r = store_purge_user(store, de->d_name, now,
		    removedp)) != 0 && r != LK_ERR_UNSAFE &&
		    r != LK_ERR_NOT_FOUND)
			break;
		r = 0;
	}
	closedir(d);
	return r;
}
