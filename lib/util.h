/*
 * Small checked helpers shared by every program: user names and numbers.
 */
#ifndef LK_UTIL_H
#define LK_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#define LK_USER_MAX	32	/* longest user name accepted */

/*
 * A portable POSIX user name (IEEE 1003.1 3.437 and 3.282): letters,
 * digits, '.', '_' and '-', not starting with '-', not "." or "..", at
 * most LK_USER_MAX bytes. Returns 0 or LK_ERR_USER_INVALID.
 */
int	lk_user_valid(const char *name);

/*
 * lk_user_valid() and an existing account. On success, fills uid/gid
 * when they are not NULL. Returns 0, LK_ERR_USER_INVALID or
 * LK_ERR_USER_UNKNOWN.
 */
int	lk_user_lookup(const char *name, uid_t *uidp, gid_t *gidp);

/*
 * Parses a whole string as a decimal integer in [min, max]: no sign other
 * than a leading '-', no blanks, no suffix. Returns 0, LK_ERR_INVALID_FORMAT
 * or LK_ERR_RANGE.
 */
int	lk_parse_ll(const char *s, long long min, long long max,
	    long long *outp);

/*
 * UTC times as the API writes them, "YYYY-MM-DDThh:mm:ssZ". lk_time_iso
 * writes "" for t <= 0 (unset) or a time it cannot format.
 */
void	lk_time_iso(int64_t t, char *buf, size_t size);

/*
 * A wake-up written to, or read from, an eventfd or a pipe. A full pipe
 * or counter already wakes its reader and an empty one has nothing to
 * take, so these retry only on EINTR and ignore other failures on purpose.
 */
void	lk_fd_wake(int fd, const void *buf, size_t len);
void	lk_fd_drain(int fd, void *buf, size_t len);
/* Parses exactly that form. Returns 0 or LK_ERR_INVALID_FORMAT. */
int	lk_time_parse(const char *s, int64_t *tp);

/*
 * For tests only: seconds to add to the wall clock where latchkey-agent
 * reports its time and latchkey-authorized-keys checks expiry, from
 * LATCHKEY_TEST_CLOCK_OFFSET (-86400..86400; 0 when unset or invalid),
 * so that a test can fake a skewed server clock. Not for production.
 */
int64_t	lk_test_clock_offset(void);

/* Milliseconds of CLOCK_MONOTONIC, for deadlines and idle times. */
long long lk_now_ms(void);

#endif
