/*
 * The writing half of the key store (root only): put with renewal,
 * expiry and the per-user cap, and purge. See store.h and
 * docs/keystore.md. Records read here must also be named by their key's
 * digest, or they are treated as corrupt.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "keystore.h"
#include "keystore_int.h"

/* One live record found while scanning a user's directory. */
#define LK__STORE_NAME_MAX	128
#define STORE_LIVE		0
#define STORE_EXPIRED		1
#define STORE_TMP		2

struct store_entry {
	char	 name[LK__STORE_NAME_MAX];
	int	 kind;		/* STORE_LIVE, STORE_EXPIRED, STORE_TMP */
	int64_t	 created;
	struct timespec	 mtime;	/* orders pushes within one second */
};

/* Reads a record and checks that its key hashes to its name. */
static int
store_write_read(int dirfd, const char *name, const char *user,
    struct lk_record **recp)
{
	unsigned char dig[LK_SSHKEY_DIGEST_LEN];
	char hex[LK_SSHKEY_HEX_SIZE];
	int r;

	if ((r = lk__store_read_record(dirfd, name, user, recp)) != 0)
		return r;
	if ((r = lk_sshkey_digest((*recp)->key, dig)) != 0)
		goto fail;
	lk_sshkey_hex(dig, hex);
	if (strcmp(hex, name) == 0)
		return 0;
	r = LK_ERR_RECORD;
 fail:
	lk_record_free(*recp);
	*recp = NULL;
	return r;
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
	snprintf(tmpname, tmpsize, "%s%s.%ld", LK__STORE_TMP_PREFIX, hex,
	    (long)getpid());
	fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	if (fchown(fd, 0, store->gid) == -1 ||
	    fchmod(fd, LK__STORE_FILE_MODE) == -1) {
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

/* Appends a name to the scan's list; the caller frees the list. */
static int
store_add(struct store_entry **entriesp, size_t *countp, size_t *capp,
    const char *name, int kind, int64_t created, const struct stat *st)
{
	struct store_entry *tmp;

	if (*countp == *capp) {
		*capp = *capp ? *capp * 2 : 16;
		if ((tmp = reallocarray(*entriesp, *capp,
		    sizeof(**entriesp))) == NULL)
			return LK_ERR_ALLOC;
		*entriesp = tmp;
	}
	snprintf((*entriesp)[*countp].name, sizeof((*entriesp)[0].name), "%s",
	    name);
	(*entriesp)[*countp].kind = kind;
	(*entriesp)[*countp].created = created;
	(*entriesp)[(*countp)++].mtime = st->st_mtim;
	return 0;
}

/*
 * Scans a locked user directory without changing it: collects leftover
 * temporary files, expired records and the other live records (not
 * target: it is only flagged renewed or expired), and refuses when target names something that is not a regular
 * file (a planted symlink).
 */
static int
store_scan(int dirfd, const char *user, const char *target, int64_t now,
    struct store_entry **entriesp, size_t *countp, int *renewedp,
    int *expiredp)
{
	struct lk_record *rec;
	struct dirent *de;
	struct stat st;
	size_t cap = 0;
	DIR *d;
	int fd, r = 0, kind;

	*entriesp = NULL;
	*countp = 0;
	if ((fd = dup(dirfd)) == -1)
		return LK_ERR_SYSTEM;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return LK_ERR_SYSTEM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		int is_tmp = strncmp(de->d_name, LK__STORE_TMP_PREFIX,
		    strlen(LK__STORE_TMP_PREFIX)) == 0;

		if ((!is_tmp && !lk__store_is_hex_name(de->d_name)) ||
		    strlen(de->d_name) >= LK__STORE_NAME_MAX)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode)) {
			if (strcmp(de->d_name, target) == 0)
				r = LK_ERR_UNSAFE;
			else
				lk__store_log_skip(user, de->d_name,
				    LK_ERR_UNSAFE);
			continue;
		}
		if (is_tmp) {
			/* We hold the lock: no writer is using it. */
			r = store_add(entriesp, countp, &cap, de->d_name,
			    STORE_TMP, 0, &st);
			continue;
		}
		if ((r = store_write_read(dirfd, de->d_name, user,
		    &rec)) != 0) {
			if (r != LK_ERR_ALLOC) {
				lk__store_log_skip(user, de->d_name, r);
				r = 0;
			}
			continue;
		}
		kind = rec->not_after <= now ? STORE_EXPIRED : STORE_LIVE;
		/* The target is replaced by the rename, never unlinked. */
		if (strcmp(de->d_name, target) == 0)
			*(kind == STORE_LIVE ? renewedp : expiredp) = 1;
		else
			r = store_add(entriesp, countp, &cap, de->d_name, kind,
			    rec->created, &st);
		lk_record_free(rec);
	}
	closedir(d);
	if (r != 0) {
		free(*entriesp);
		*entriesp = NULL;
		*countp = 0;
	}
	return r;
}

/*
 * After the new record is in place: removes leftover temporary files and
 * expired records, and the oldest live ones beyond the per-user cap.
 */
static void
store_tidy(int dirfd, struct store_entry *entries, size_t count,
    struct lk_store_put_result *res)
{
	size_t i, live = 0;

	if (count == 0)
		return;
	qsort(entries, count, sizeof(*entries), store_entry_cmp);
	for (i = 0; i < count; i++) {
		if (entries[i].kind == STORE_LIVE) {
			live++;
			continue;
		}
		if (unlinkat(dirfd, entries[i].name, 0) == 0 &&
		    entries[i].kind == STORE_EXPIRED)
			res->expired++;
	}
	/* The new record counts too: keep LK_STORE_MAX_PER_USER in all. */
	for (i = 0; i < count && live >= LK_STORE_MAX_PER_USER; i++) {
		if (entries[i].kind != STORE_LIVE)
			continue;
		if (unlinkat(dirfd, entries[i].name, 0) == 0)
			res->evicted++;
		live--;
	}
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
	size_t count = 0;
	int dirfd = -1, have_tmp = 0, target_expired = 0, r;

	memset(res, 0, sizeof(*res));
	if (!(store->flags & LK_STORE_WRITE) || ttl <= 0)
		return LK_ERR_INTERNAL;
	if (now < 0 || ttl > LK_RECORD_TIME_MAX - now)
		return LK_ERR_RANGE;
	if ((r = lk_user_valid(user)) != 0 ||
	    (r = lk_sshkey_digest(key, dig)) != 0)
		return r;
	lk_sshkey_hex(dig, hex);
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.user, sizeof(rec.user), "%s", user);
	rec.created = now;
	rec.not_after = now + ttl;
	rec.key = (struct lk_sshkey *)(uintptr_t)key;	/* read only */
	if ((r = lk__store_user_dir(store, user, 1, &dirfd)) != 0)
		return r;
	if (flock(dirfd, LOCK_EX) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	/* Nothing changes until the new record is renamed into place. */
	if ((r = store_scan(dirfd, user, hex, now, &entries, &count,
	    &res->renewed, &target_expired)) != 0 ||
	    (r = store_write_tmp(store, dirfd, hex, &rec, tmpname,
	    sizeof(tmpname))) != 0)
		goto out;
	have_tmp = 1;
	if (renameat(dirfd, tmpname, dirfd, hex) == -1) {
		r = LK_ERR_SYSTEM;
		goto out;
	}
	have_tmp = 0;
	store_tidy(dirfd, entries, count, res);
	res->expired += (size_t)target_expired;
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

/* Removes the expired and corrupt records of one user's directory. */
static int
store_purge_user(struct lk_store *store, const char *user, int64_t now,
    size_t *removedp)
{
	struct lk_record *rec;
	struct dirent *de;
	DIR *d;
	int dirfd, fd, r;

	if ((r = lk__store_user_dir(store, user, 0, &dirfd)) != 0)
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
		if (!lk__store_is_hex_name(de->d_name))
			continue;
		r = store_write_read(dirfd, de->d_name, user, &rec);
		if (r == LK_ERR_ALLOC || r == LK_ERR_UNSAFE)
			continue;	/* not ours to delete */
		if (r != 0 || rec->not_after <= now) {
			if (r != 0)
				lk__store_log_skip(user, de->d_name, r);
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
