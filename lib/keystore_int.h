/*
 * Internal to lib/keystore*.c: the store handle and the checked primitives
 * that the reader (keystore.c) and the writer (keystore_write.c) share.
 */
#ifndef LK_STORE_INT_H
#define LK_STORE_INT_H

#include <sys/types.h>

#include "record.h"

#define LK__STORE_DIR_MODE	0750
#define LK__STORE_FILE_MODE	0640
#define LK__STORE_TMP_PREFIX	".tmp."

struct lk_store {
	int	 dirfd;
	int	 flags;
	gid_t	 gid;		/* group that may read: the helper's */
};

int	lk__store_is_hex_name(const char *name);
int	lk__store_check_dir(int fd, int allow_sticky);
int	lk__store_open_dir(int parent, const char *name);
int	lk__store_open_err(void);
int	lk__store_fix_dir(int fd, gid_t gid, mode_t mode);
/*
 * Reads the record called name in dirfd: a regular root-owned file, not
 * writable by others, of bounded size, parsed, for user. The key is
 * checked for shape only; writers also compare its digest with name.
 */
int	lk__store_read_record(int dirfd, const char *name, const char *user,
	    struct lk_record **recp);
void	lk__store_log_skip(const char *user, const char *name, int r);
int	lk__store_user_dir(struct lk_store *store, const char *user,
	    int create, int *fdp);

#endif
