/*
 * The key store: a root-owned directory with one subdirectory per user
 * and one record file per key, named by the lower-case hex SHA-256 of the
 * key blob:
 *
 *	<store>/<user>/<64 hex digits>
 *
 * Directories are mode 0750 and records 0640, owned by root with the
 * helper's group, so only root writes and only root and the sshd helper
 * read. Every path is opened with O_NOFOLLOW relative to a checked
 * directory descriptor; records are written to a temporary file and
 * renamed into place under an exclusive lock on the user's directory.
 * See docs/keystore.md.
 */
#ifndef LK_KEYSTORE_H
#define LK_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record.h"
#include "sshkey.h"

#ifndef LK_STORE_DEFAULT
#define LK_STORE_DEFAULT	"/run/latchkey/keys"
#endif
#define LK_HELPER_USER		"latchkey-authkeys"
#define LK_STORE_MAX_PER_USER	32	/* live keys kept per user */
#define LK_STORE_MAX_USERS	100000	/* directories scanned by a purge */
/*
 * Beside the store (in its parent directory): the server's clock against
 * latchkeyd's as the agent last heard it, "skew_ms=N\nmeasured=T\n",
 * root-owned, 0644 (docs/audit.md, "Clock skew").
 */
#define LK_CLOCK_FILE		"clock-skew"
#define LK_CLOCK_FILE_MAX	256

#define LK_STORE_WRITE		0x01	/* open for writing (root) */
#define LK_STORE_CREATE		0x02	/* create missing directories */

struct lk_store;

struct lk_store_put_result {
	int	 renewed;	/* the same key was live and is renewed */
	size_t	 expired;	/* expired records removed */
	size_t	 evicted;	/* live records removed to keep the cap */
	int64_t	 not_after;
};

/*
 * Opens the store at path (absolute). Every ancestor must be a directory
 * owned by root and not writable by group or others unless sticky; the
 * store itself must be a root-owned directory, not a symlink, not
 * writable by group or others. With LK_STORE_WRITE the store's group and
 * mode are set to the helper's group and 0750. Returns 0, LK_ERR_UNSAFE,
 * LK_ERR_NOT_FOUND, LK_ERR_SYSTEM or LK_ERR_ALLOC.
 */
int	lk_store_open(const char *path, int flags, struct lk_store **storep);
void	lk_store_close(struct lk_store *store);

/*
 * Stores key for user until now + ttl, replacing the same key's record,
 * removing the user's expired records and, when the user would have more
 * than LK_STORE_MAX_PER_USER live keys, the oldest ones. On any error the
 * store is unchanged.
 */
int	lk_store_put(struct lk_store *store, const char *user,
	    const struct lk_sshkey *key, int64_t now, int64_t ttl,
	    struct lk_store_put_result *res);

typedef int (*lk_store_cb)(const struct lk_record *rec, void *arg);

/*
 * Calls cb for each of user's records whose not-after is later than now;
 * with dig only for that key. Corrupt, foreign or unsafe records are
 * skipped and logged. A user without records is not an error. Reads only.
 */
int	lk_store_list(struct lk_store *store, const char *user,
	    const unsigned char *dig, int64_t now, lk_store_cb cb, void *arg);

/*
 * The skew the agent wrote beside the store at storepath (LK_CLOCK_FILE):
 * 0 and *skewp (ms, positive: this clock is ahead), or LK_ERR_NOT_FOUND
 * when there is none, LK_ERR_INVALID_FORMAT when it is not that form.
 */
int	lk_store_skew_read(const char *storepath, int64_t *skewp);

/* Removes expired and corrupt records of every user; counts them. */
int	lk_store_purge(struct lk_store *store, int64_t now, size_t *removedp);

#endif
