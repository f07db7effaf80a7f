/*
 * One error type for all of latchkey: 0 is success, every failure is a
 * negative LK_ERR_* code, and lk_err() turns a code into a short text.
 * Library functions return these; only programs decide to exit.
 */
#ifndef LK_ERR_H
#define LK_ERR_H

#define LK_ERR_SUCCESS		0
#define LK_ERR_INTERNAL		-1	/* broken invariant */
#define LK_ERR_ALLOC		-2	/* out of memory */
#define LK_ERR_SYSTEM		-3	/* a system call failed; see errno */
#define LK_ERR_INVALID_FORMAT	-4	/* malformed input */
#define LK_ERR_TOO_LONG		-5	/* input over its named limit */
#define LK_ERR_BAD_CHAR		-6	/* control character, NUL or newline */
#define LK_ERR_KEY_OPTIONS	-7	/* authorized_keys options given */
#define LK_ERR_KEY_TYPE		-8	/* unknown or unsupported key type */
#define LK_ERR_KEY_MISMATCH	-9	/* blob's inner type differs */
#define LK_ERR_KEY_BASE64	-10	/* blob is not canonical base64 */
#define LK_ERR_KEY_TRAILING	-11	/* bytes after the key in the blob */
#define LK_ERR_KEY_BLOB		-12	/* blob fields malformed */
#define LK_ERR_KEY_SMALL	-13	/* RSA modulus too small */
#define LK_ERR_KEY_LARGE	-14	/* RSA modulus too large */
#define LK_ERR_KEY_POINT	-15	/* EC point not on its curve */
#define LK_ERR_USER_INVALID	-16	/* not a portable POSIX user name */
#define LK_ERR_USER_UNKNOWN	-17	/* no such account */
#define LK_ERR_RANGE		-18	/* number out of range */
#define LK_ERR_UNSAFE		-19	/* wrong owner, mode, type or a symlink */
#define LK_ERR_NOT_FOUND	-20	/* no such record */
#define LK_ERR_RECORD		-21	/* corrupt store record */
#define LK_ERR_BUSY		-22	/* at a limit: try again later */
#define LK_ERR_UNAVAILABLE	-23	/* the database cannot be reached */
#define LK_ERR_STATE		-24	/* not allowed in this state */

const char *lk_err(int r);

#endif
