/*
 * File helpers for root-run programs that edit system configuration.
 */
#ifndef LK_FSUTIL_H
#define LK_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads the regular file at path (not following a final symlink) into a
 * new NUL-terminated buffer of at most max bytes. Returns 0,
 * LK_ERR_NOT_FOUND, LK_ERR_TOO_LONG, LK_ERR_UNSAFE (not a regular file),
 * LK_ERR_SYSTEM or LK_ERR_ALLOC.
 */
int	lk_fs_read(const char *path, size_t max, char **bufp, size_t *lenp);

/*
 * Replaces path atomically with len bytes of data: a temporary file in the
 * same directory, fsync, fchown to uid:gid, fchmod to mode, rename, fsync
 * of the directory. On error the old file is untouched.
 */
int	lk_fs_write_atomic(const char *path, const void *data, size_t len,
	    mode_t mode, uid_t uid, gid_t gid);

/* Copies the file at src to dst atomically with lk_fs_write_atomic(). */
int	lk_fs_copy(const char *src, const char *dst, size_t max, mode_t mode,
	    uid_t uid, gid_t gid);

/* mkdir -p with mode for the directories it creates. */
int	lk_fs_mkdirs(const char *path, mode_t mode);

#endif
